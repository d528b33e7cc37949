#!/usr/bin/env bash
# perf/compare.sh: tollgate versus nginx as reverse proxy, in front of the same fixed upstream,
# driven by the same load generator (`tollgate load`), in alternating rounds. Prints, per
# scenario, the median requests/s, p50, p99 and proxy CPU time per request, and the ratios.
#
# Builds nothing: it expects target/release/tollgate (`make perf` runs `make build` first).
# Needs nginx, taskset and python3.
#
# Environment knobs:
#   ROUNDS=5          measured rounds per scenario (order alternates: T N, N T, ...)
#   DURATION=5        seconds per measured run (a number of seconds, or 5s / 500ms)
#   WARMUP=2          seconds of unmeasured load on each proxy before a scenario's rounds
#   WORKERS=1         tollgate --workers and nginx worker_processes
#   PLACEMENT=shared  shared: upstream, proxy and load generator all on CPU 0, CPU 1 idle
#                     (the stable placement on these 2-vCPU machines, see
#                     ../shared/BENCHMARKING.md); split: the load generator on CPU 1
#   SCENARIOS="small newconn 1m tls handshake"
#                     small:     GET /small, 64 keep-alive connections
#                     newconn:   GET /small, a new connection per request, 16 connections
#                     1m:        GET /1m.bin (1 MiB), 16 keep-alive connections
#                     tls:       HTTPS GET /small, 64 keep-alive connections
#                     handshake: HTTPS GET /small, a new connection and a full TLS handshake
#                                (no resumption) per request, 16 connections: handshakes/s
#                     Both proxies serve HTTPS with the same certificate (certs/gen.sh into
#                     the scratch directory): nginx on NGINX_TLS_PORT, tollgate on
#                     TOLLGATE_TLS_PORT.
#   PROXY_CPUS        CPUs for the proxies (default 0, or 0-(WORKERS-1) with more workers)
#   UPSTREAM_CPUS=0   CPUs for the upstream nginx
#   LOAD_CPUS         CPUs for the load generator (default from PLACEMENT)
#   LOAD_THREADS=1    tollgate load --threads
#   TOLLGATE          the binary (default target/release/tollgate)
#   UPSTREAM_PORT=18081 NGINX_PORT=18082 TOLLGATE_PORT=18083
#                     ports (the defaults are those in perf/*.conf.in and
#                     perf/tollgate-bench.yaml; other values are substituted into copies)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${TOLLGATE:-$ROOT/target/release/tollgate}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2}
WORKERS=${WORKERS:-1}
PLACEMENT=${PLACEMENT:-shared}
SCENARIOS=${SCENARIOS:-small newconn 1m tls handshake}
LOAD_THREADS=${LOAD_THREADS:-1}
UPSTREAM_PORT=${UPSTREAM_PORT:-18081}
NGINX_PORT=${NGINX_PORT:-18082}
TOLLGATE_PORT=${TOLLGATE_PORT:-18083}
NGINX_TLS_PORT=${NGINX_TLS_PORT:-18084}
TOLLGATE_TLS_PORT=${TOLLGATE_TLS_PORT:-18085}
UPSTREAM_CPUS=${UPSTREAM_CPUS:-0}
if [[ -z ${PROXY_CPUS:-} ]]; then
  if ((WORKERS > 1)); then PROXY_CPUS="0-$((WORKERS - 1))"; else PROXY_CPUS=0; fi
fi
case $PLACEMENT in
  shared) LOAD_CPUS=${LOAD_CPUS:-0} ;;
  split) LOAD_CPUS=${LOAD_CPUS:-1} ;;
  *) echo "PLACEMENT must be shared or split, got '$PLACEMENT'" >&2; exit 2 ;;
esac
[[ $DURATION =~ ^[0-9.]+$ ]] && DURATION="${DURATION}s"
[[ $WARMUP =~ ^[0-9.]+$ ]] && WARMUP="${WARMUP}s"

if ! command -v nginx >/dev/null 2>&1; then
  echo "nginx is not installed: apt-get install nginx"
  exit 2
fi
for tool in taskset python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is required" >&2; exit 2; }
done
if [[ ! -x $BIN ]]; then
  echo "$BIN not found: run 'make build' first (or 'make perf')" >&2
  exit 2
fi

# shellcheck source=perf/lib.sh
source "$ROOT/perf/lib.sh"
ports_free "$UPSTREAM_PORT" "$NGINX_PORT" "$TOLLGATE_PORT" "$NGINX_TLS_PORT" "$TOLLGATE_TLS_PORT"
scratch compare

# The fixed upstream: nginx, 1 worker, /small and static files (readable by nginx's
# unprivileged workers).
mkdir -p "$WORK/www"
head -c 16384 /dev/urandom >"$WORK/www/16k.bin"
head -c 1048576 /dev/urandom >"$WORK/www/1m.bin"
chmod 755 "$WORK" "$WORK/www"
chmod 644 "$WORK/www/16k.bin" "$WORK/www/1m.bin"
CERTS=$WORK/certs
"$ROOT/certs/gen.sh" "$CERTS" >/dev/null
chmod 755 "$CERTS"
chmod 644 "$CERTS"/*.pem "$CERTS"/*.key
ports=(-e "s|127\.0\.0\.1:18084|127.0.0.1:$NGINX_TLS_PORT|g"
  -e "s|127\.0\.0\.1:18085|127.0.0.1:$TOLLGATE_TLS_PORT|g"
  -e "s|@CERTS@|$CERTS|g" -e "s|\.\./certs/|$CERTS/|g"
  -e "s|127\.0\.0\.1:18081|127.0.0.1:$UPSTREAM_PORT|g"
  -e "s|127\.0\.0\.1:18082|127.0.0.1:$NGINX_PORT|g"
  -e "s|127\.0\.0\.1:18083|127.0.0.1:$TOLLGATE_PORT|g")
sed -e "s|@WORK@|$WORK|g" "${ports[@]}" "$ROOT/perf/nginx-upstream.conf.in" >"$WORK/upstream.conf"
sed -e "s|@WORK@|$WORK|g" -e "s|^worker_processes .*;|worker_processes $WORKERS;|" "${ports[@]}" \
  "$ROOT/perf/nginx-proxy.conf.in" >"$WORK/proxy.conf"
sed "${ports[@]}" "$ROOT/perf/tollgate-bench.yaml" >"$WORK/tollgate.yaml"

start upstream taskset -c "$UPSTREAM_CPUS" nginx -p "$WORK" -e "$WORK/up.err" -c "$WORK/upstream.conf"
UP_PID=$LAST_PID
wait_port "$UPSTREAM_PORT" "$UP_PID" upstream
start nginx taskset -c "$PROXY_CPUS" nginx -p "$WORK" -e "$WORK/proxy.err" -c "$WORK/proxy.conf"
NGINX_PID=$LAST_PID
wait_port "$NGINX_PORT" "$NGINX_PID" nginx
wait_port "$NGINX_TLS_PORT" "$NGINX_PID" nginx
start tollgate taskset -c "$PROXY_CPUS" "$BIN" run --config "$WORK/tollgate.yaml" --workers "$WORKERS"
TOLLGATE_PID=$LAST_PID
wait_port "$TOLLGATE_PORT" "$TOLLGATE_PID" tollgate
wait_port "$TOLLGATE_TLS_PORT" "$TOLLGATE_PID" tollgate

# The nginx proxy's worker processes (its master only supervises them).
nginx_workers() {
  local kids i
  for ((i = 0; i < 100; i++)); do
    kids=$(cat /proc/"$NGINX_PID"/task/*/children 2>/dev/null || true)
    if (($(wc -w <<<"$kids") >= WORKERS)); then
      echo $kids
      return 0
    fi
    sleep 0.05
  done
  echo "nginx started no workers" >&2
  exit 1
}
NGINX_WORKERS=$(nginx_workers)

scenario_args() {
  case $1 in
    small) echo "/small --connections 64" ;;
    newconn) echo "/small --connections 16 --new-connection" ;;
    1m) echo "/1m.bin --connections 16" ;;
    tls) echo "/small --connections 64" ;;
    handshake) echo "/small --connections 16 --new-connection --no-resume" ;;
    *) echo "unknown scenario '$1' (small, newconn, 1m, tls, handshake)" >&2; exit 2 ;;
  esac
}
scenario_title() {
  case $1 in
    small) echo "small GET /small, 64 keep-alive connections" ;;
    newconn) echo "GET /small, new connection per request, 16 connections" ;;
    1m) echo "1 MiB GET /1m.bin, 16 keep-alive connections" ;;
    tls) echo "HTTPS GET /small, 64 keep-alive connections" ;;
    handshake) echo "HTTPS GET /small, new connection + full TLS handshake per request, 16 connections" ;;
  esac
}

# The URL base for a scenario and target.
target_base() {
  case $1 in
    tls | handshake)
      [[ $2 == tollgate ]] && echo "https://127.0.0.1:$TOLLGATE_TLS_PORT" || echo "https://127.0.0.1:$NGINX_TLS_PORT" ;;
    *) [[ $2 == tollgate ]] && echo "http://127.0.0.1:$TOLLGATE_PORT" || echo "http://127.0.0.1:$NGINX_PORT" ;;
  esac
}
tls_args() { case $1 in tls | handshake) echo "--cacert $CERTS/ca.pem" ;; esac; }
target_pids() { [[ $1 == tollgate ]] && echo "$TOLLGATE_PID" || echo "$NGINX_WORKERS"; }

# One load run against a target; appends "scenario target round rps p50 p99 cpu failed"
# to the results (round "warmup" is not reported). "failed": errors plus non-2xx answers.
run_one() {
  local scenario=$1 target=$2 round=$3 duration=$4 path rest before after json
  read -r path rest <<<"$(scenario_args "$scenario")"
  local pids
  pids=$(target_pids "$target")
  # shellcheck disable=SC2086
  before=$(cpu_ns $pids)
  # shellcheck disable=SC2086
  json=$(taskset -c "$LOAD_CPUS" "$BIN" load "$(target_base "$scenario" "$target")$path" \
    $rest $(tls_args "$scenario") --threads "$LOAD_THREADS" --duration "$duration" --warmup 0 --json --quiet)
  # shellcheck disable=SC2086
  after=$(cpu_ns $pids)
  python3 - "$scenario" "$target" "$round" "$before" "$after" "$json" >>"$WORK/results" <<'PY'
import json, sys
scenario, target, rnd, before, after, text = sys.argv[1:7]
r = json.loads(text)
n = r["requests"]
cpu = (int(after) - int(before)) / 1000 / n if n else float("nan")
errors = r["errors"]["total"] + (n - r["status"]["2xx"])
print(scenario, target, rnd, f'{r["requests_per_sec"]:.1f}', r["latency_us"]["p50"],
      r["latency_us"]["p99"], f"{cpu:.3f}", errors)
PY
}

report() {
  python3 - "$1" "$2" "$WORK/results" <<'PY'
import statistics, sys
scenario, title, path = sys.argv[1:4]
rows = [l.split() for l in open(path)]
rows = [r for r in rows if r[0] == scenario and r[2] != "warmup"]
def med(target, i):
    return statistics.median(float(r[i]) for r in rows if r[1] == target)
def us(v):
    return f"{v:.0f} µs" if v < 1000 else f"{v / 1000:.2f} ms"
print(f"\n{title} ({len(rows) // 2} rounds)")
print(f"{'':10s} {'req/s':>10s} {'p50':>10s} {'p99':>10s} {'CPU µs/req':>11s} {'failed':>7s}")
m = {}
for t in ("tollgate", "nginx"):
    m[t] = [med(t, 3), med(t, 4), med(t, 5), med(t, 6)]
    errs = sum(int(r[7]) for r in rows if r[1] == t)
    print(f"{t:10s} {m[t][0]:10.0f} {us(m[t][1]):>10s} {us(m[t][2]):>10s} {m[t][3]:11.2f} {errs:7d}")
print(f"tollgate/nginx: req/s {m['tollgate'][0] / m['nginx'][0]:.2f}x, "
      f"CPU per request {m['tollgate'][3] / m['nginx'][3]:.2f}x")
raw = ", ".join(f"{r[1][0].upper()} {float(r[3]):.0f}" for r in rows)
print(f"rounds (req/s): {raw}")
PY
}

echo "tollgate compare: ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP WORKERS=$WORKERS" \
  "PLACEMENT=$PLACEMENT (upstream CPU $UPSTREAM_CPUS, proxies CPU $PROXY_CPUS, load CPU $LOAD_CPUS)"
echo "nginx proxy workers: $NGINX_WORKERS; tollgate pid $TOLLGATE_PID; $(nginx -v 2>&1)"

for scenario in ${SCENARIOS//,/ }; do
  scenario_args "$scenario" >/dev/null
  for target in tollgate nginx; do
    run_one "$scenario" "$target" warmup "$WARMUP"
  done
  for ((round = 1; round <= ROUNDS; round++)); do
    if ((round % 2)); then order="tollgate nginx"; else order="nginx tollgate"; fi
    for target in $order; do
      run_one "$scenario" "$target" "$round" "$DURATION"
    done
  done
  report "$scenario" "$(scenario_title "$scenario")"
done
