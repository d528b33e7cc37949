#!/usr/bin/env bash
# perf/compare.sh: tollgate versus nginx as reverse proxy, in front of the same fixed upstream,
# driven by the same load generator (`tollgate load`; h2load for the h2 scenario), in
# alternating rounds. Prints, per scenario, the median requests/s, p50, p99 and proxy CPU
# time per request, and the ratios.
#
# A/B mode: PEER=tollgate PEER_BIN=/path/to/old/tollgate perf/compare.sh runs that other
# tollgate build in nginx's place (its own ports, PEER_PORT and PEER_TLS_PORT, the same
# config), same scenarios, same rounds; the report then says "new" (TOLLGATE) and "old"
# (PEER_BIN) and gives the ratios new/old. Setting PEER_BIN alone implies PEER=tollgate.
# In A/B mode the h2 scenario prints "skipped: peer has no HTTP/2" when the old build does
# not negotiate h2.
#
# Builds nothing: it expects target/release/tollgate (`make perf` runs `make build` first).
# Needs nginx (the upstream, and the default peer), taskset and python3; the h2 scenario
# needs h2load (apt-get install nghttp2-client, or `make test-deps`).
#
# Environment knobs:
#   ROUNDS=5          measured rounds per scenario (order alternates: T N, N T, ...)
#   DURATION=5        seconds per measured run (a number of seconds, or 5s / 500ms)
#   WARMUP=2          seconds of unmeasured load on each proxy before a scenario's rounds
#   WORKERS=1         tollgate --workers and nginx worker_processes
#   PLACEMENT=shared  shared: upstream, proxy and load generator all on CPU 0, CPU 1 idle
#                     (the stable placement on these 2-vCPU machines, see
#                     ../shared/BENCHMARKING.md); split: the load generator on CPU 1
#   PEER=nginx        the proxy compared with: nginx (default), or tollgate (A/B: PEER_BIN)
#   PEER_BIN          the other tollgate build for PEER=tollgate
#   SCENARIOS="small newconn 1m tls handshake h2"
#                     small:     GET /small, 64 keep-alive connections
#                     newconn:   GET /small, a new connection per request, 16 connections
#                     1m:        GET /1m.bin (1 MiB), 16 keep-alive connections
#                     tls:       HTTPS GET /small, 64 keep-alive connections
#                     handshake: HTTPS GET /small, a new connection and a full TLS handshake
#                                (no resumption) per request, 16 connections: handshakes/s
#                     h2:        HTTP/2 over TLS (ALPN h2), GET /small, driven by h2load
#                                with 16 connections and 32 concurrent streams each
#                                (-c 16 -m 32 -D DURATION); p50/p99 become h2load's mean
#                                and max; any failed, errored, timed-out or non-2xx request
#                                fails the run (exit 1)
#                     Both proxies serve HTTPS with the same certificate (certs/gen.sh into
#                     the scratch directory): nginx on NGINX_TLS_PORT (`ssl http2`),
#                     tollgate on TOLLGATE_TLS_PORT (custom domain, ALPN h2, http/1.1).
#   H2_CONNECTIONS=16 H2_STREAMS=32
#                     h2load -c and -m for the h2 scenario
#   PROXY_CPUS        CPUs for the proxies (default 0, or 0-(WORKERS-1) with more workers)
#   UPSTREAM_CPUS=0   CPUs for the upstream nginx
#   LOAD_CPUS         CPUs for the load generator (default from PLACEMENT)
#   LOAD_THREADS=1    tollgate load --threads
#   TOLLGATE          the binary (default target/release/tollgate)
#   UPSTREAM_PORT=18081 NGINX_PORT=18082 TOLLGATE_PORT=18083
#   NGINX_TLS_PORT=18084 TOLLGATE_TLS_PORT=18085
#                     ports (the defaults are those in perf/*.conf.in and
#                     perf/tollgate-bench.yaml; other values are substituted into copies)
#   PEER_PORT=18086 PEER_TLS_PORT=18087
#                     the old build's ports in A/B mode
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${TOLLGATE:-$ROOT/target/release/tollgate}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2}
WORKERS=${WORKERS:-1}
PLACEMENT=${PLACEMENT:-shared}
SCENARIOS=${SCENARIOS:-small newconn 1m tls handshake h2}
PEER_BIN=${PEER_BIN:-}
if [[ -n $PEER_BIN ]]; then PEER=${PEER:-tollgate}; else PEER=${PEER:-nginx}; fi
H2_CONNECTIONS=${H2_CONNECTIONS:-16}
H2_STREAMS=${H2_STREAMS:-32}
LOAD_THREADS=${LOAD_THREADS:-1}
UPSTREAM_PORT=${UPSTREAM_PORT:-18081}
NGINX_PORT=${NGINX_PORT:-18082}
TOLLGATE_PORT=${TOLLGATE_PORT:-18083}
NGINX_TLS_PORT=${NGINX_TLS_PORT:-18084}
TOLLGATE_TLS_PORT=${TOLLGATE_TLS_PORT:-18085}
PEER_PORT=${PEER_PORT:-18086}
PEER_TLS_PORT=${PEER_TLS_PORT:-18087}
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
# The two targets: T (the build under test) and P (the peer), with their report names.
case $PEER in
  nginx) T_NAME=tollgate P_NAME=nginx ;;
  tollgate)
    T_NAME=new P_NAME=old
    if [[ -z $PEER_BIN || ! -x $PEER_BIN ]]; then
      echo "PEER=tollgate needs PEER_BIN, an executable tollgate build (got '$PEER_BIN')" >&2
      exit 2
    fi
    ;;
  *) echo "PEER must be nginx or tollgate, got '$PEER'" >&2; exit 2 ;;
esac
if [[ " ${SCENARIOS//,/ } " == *" h2 "* ]] && ! command -v h2load >/dev/null 2>&1; then
  echo "the h2 scenario needs h2load: apt-get install nghttp2-client (or make test-deps)," \
    "or leave h2 out of SCENARIOS" >&2
  exit 2
fi

# shellcheck source=perf/lib.sh
source "$ROOT/perf/lib.sh"
if [[ $PEER == nginx ]]; then
  ports_free "$UPSTREAM_PORT" "$NGINX_PORT" "$TOLLGATE_PORT" "$NGINX_TLS_PORT" "$TOLLGATE_TLS_PORT"
else
  ports_free "$UPSTREAM_PORT" "$TOLLGATE_PORT" "$TOLLGATE_TLS_PORT" "$PEER_PORT" "$PEER_TLS_PORT"
fi
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
# A/B: the same config on the peer's own ports.
sed -e "s|127\.0\.0\.1:$TOLLGATE_PORT|127.0.0.1:$PEER_PORT|" \
  -e "s|127\.0\.0\.1:$TOLLGATE_TLS_PORT|127.0.0.1:$PEER_TLS_PORT|" \
  "$WORK/tollgate.yaml" >"$WORK/peer.yaml"

start upstream taskset -c "$UPSTREAM_CPUS" nginx -p "$WORK" -e "$WORK/up.err" -c "$WORK/upstream.conf"
UP_PID=$LAST_PID
wait_port "$UPSTREAM_PORT" "$UP_PID" upstream
if [[ $PEER == nginx ]]; then
  start nginx taskset -c "$PROXY_CPUS" nginx -p "$WORK" -e "$WORK/proxy.err" -c "$WORK/proxy.conf"
  NGINX_PID=$LAST_PID
  wait_port "$NGINX_PORT" "$NGINX_PID" nginx
  wait_port "$NGINX_TLS_PORT" "$NGINX_PID" nginx
  P_PORT=$NGINX_PORT P_TLS_PORT=$NGINX_TLS_PORT
else
  start peer taskset -c "$PROXY_CPUS" "$PEER_BIN" run --config "$WORK/peer.yaml" --workers "$WORKERS"
  PEER_PID=$LAST_PID
  wait_port "$PEER_PORT" "$PEER_PID" peer
  wait_port "$PEER_TLS_PORT" "$PEER_PID" peer
  P_PORT=$PEER_PORT P_TLS_PORT=$PEER_TLS_PORT
fi
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
if [[ $PEER == nginx ]]; then
  NGINX_WORKERS=$(nginx_workers)
  P_PIDS=$NGINX_WORKERS
else
  P_PIDS=$PEER_PID
fi

scenario_args() {
  case $1 in
    small) echo "/small --connections 64" ;;
    newconn) echo "/small --connections 16 --new-connection" ;;
    1m) echo "/1m.bin --connections 16" ;;
    tls) echo "/small --connections 64" ;;
    handshake) echo "/small --connections 16 --new-connection --no-resume" ;;
    h2) echo "/small -c $H2_CONNECTIONS -m $H2_STREAMS" ;;
    *) echo "unknown scenario '$1' (small, newconn, 1m, tls, handshake, h2)" >&2; exit 2 ;;
  esac
}
scenario_title() {
  case $1 in
    small) echo "small GET /small, 64 keep-alive connections" ;;
    newconn) echo "GET /small, new connection per request, 16 connections" ;;
    1m) echo "1 MiB GET /1m.bin, 16 keep-alive connections" ;;
    tls) echo "HTTPS GET /small, 64 keep-alive connections" ;;
    handshake) echo "HTTPS GET /small, new connection + full TLS handshake per request, 16 connections" ;;
    h2) echo "HTTP/2 over TLS GET /small (h2load -c $H2_CONNECTIONS -m $H2_STREAMS)" ;;
  esac
}

# The URL base for a scenario and target (T: the build under test, P: the peer).
target_base() {
  case $1 in
    tls | handshake | h2)
      [[ $2 == T ]] && echo "https://127.0.0.1:$TOLLGATE_TLS_PORT" || echo "https://127.0.0.1:$P_TLS_PORT" ;;
    *) [[ $2 == T ]] && echo "http://127.0.0.1:$TOLLGATE_PORT" || echo "http://127.0.0.1:$P_PORT" ;;
  esac
}
tls_args() { case $1 in tls | handshake) echo "--cacert $CERTS/ca.pem" ;; esac; }
target_pids() { [[ $1 == T ]] && echo "$TOLLGATE_PID" || echo "$P_PIDS"; }
target_name() { [[ $1 == T ]] && echo "$T_NAME" || echo "$P_NAME"; }

# Whether a target negotiates HTTP/2 over TLS (ALPN h2): one h2load request.
speaks_h2() {
  local out
  out=$(h2load -n 1 -c 1 "$(target_base h2 "$1")/small" 2>&1 || true)
  grep -q '^Application protocol: h2$' <<<"$out" && grep -q ' 1 succeeded' <<<"$out"
}

# One h2load run: the same row as run_one (p50/p99 are h2load's mean and max time for
# request). Exits the script when h2load fails, or any request failed or was not 2xx.
run_h2() {
  local target=$1 round=$2 duration=$3 path rest before after out pids
  read -r path rest <<<"$(scenario_args h2)"
  pids=$(target_pids "$target")
  # shellcheck disable=SC2086
  before=$(cpu_ns $pids)
  # shellcheck disable=SC2086
  if ! out=$(taskset -c "$LOAD_CPUS" h2load $rest -t "$LOAD_THREADS" -D "$duration" \
    "$(target_base h2 "$target")$path" 2>&1); then
    printf 'h2 %s round %s: h2load failed:\n%s\n' "$(target_name "$target")" "$round" "$out" >&2
    exit 1
  fi
  # shellcheck disable=SC2086
  after=$(cpu_ns $pids)
  if ! python3 - "$(target_name "$target")" "$round" "$before" "$after" "$out" >>"$WORK/results" <<'PY'; then
import re, sys
target, rnd, before, after, text = sys.argv[1:6]
def need(pattern):
    m = re.search(pattern, text, re.M)
    if not m:
        sys.exit(f"h2 {target} round {rnd}: h2load output has no match for {pattern!r}:\n{text}")
    return m
def us(v, unit):
    return float(v) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]
if not re.search(r"^Application protocol: h2$", text, re.M):
    sys.exit(f"h2 {target} round {rnd}: HTTP/2 was not negotiated:\n{text}")
rps = float(need(r"^finished in [0-9.]+m?s, ([0-9.]+) req/s")[1])
req = need(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
           r"(\d+) failed, (\d+) errored, (\d+) timeout")
total, started, done, ok, failed, errored, timeout = map(int, req.groups())
st = need(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")
non2xx = sum(int(x) for x in st.groups()[1:])
lat = need(r"^time for request:\s+([0-9.]+)(us|ms|s)\s+([0-9.]+)(us|ms|s)\s+([0-9.]+)(us|ms|s)")
if failed or errored or timeout or non2xx or ok == 0:
    sys.exit(f"h2 {target} round {rnd}: {failed} failed, {errored} errored, {timeout} timeout, "
             f"{non2xx} non-2xx, {ok} succeeded:\n{text}")
cpu = (int(after) - int(before)) / 1000 / ok
print("h2", target, rnd, f"{rps:.1f}", f"{us(lat[5], lat[6]):.0f}", f"{us(lat[3], lat[4]):.0f}",
      f"{cpu:.3f}", 0)
PY
    exit 1
  fi
}

# One load run against a target; appends "scenario target round rps p50 p99 cpu failed"
# to the results (round "warmup" is not reported). "failed": errors plus non-2xx answers.
run_one() {
  local scenario=$1 target=$2 round=$3 duration=$4 path rest before after json
  if [[ $scenario == h2 ]]; then
    run_h2 "$target" "$round" "$duration"
    return
  fi
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
  python3 - "$scenario" "$(target_name "$target")" "$round" "$before" "$after" "$json" >>"$WORK/results" <<'PY'
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
  python3 - "$1" "$2" "$WORK/results" "$T_NAME" "$P_NAME" <<'PY'
import statistics, sys
scenario, title, path, tn, pn = sys.argv[1:6]
rows = [l.split() for l in open(path)]
rows = [r for r in rows if r[0] == scenario and r[2] != "warmup"]
def med(target, i):
    return statistics.median(float(r[i]) for r in rows if r[1] == target)
def us(v):
    return f"{v:.0f} µs" if v < 1000 else f"{v / 1000:.2f} ms"
print(f"\n{title} ({len(rows) // 2} rounds)")
lat = ("mean", "max") if scenario == "h2" else ("p50", "p99")
print(f"{'':10s} {'req/s':>10s} {lat[0]:>10s} {lat[1]:>10s} {'CPU µs/req':>11s} {'failed':>7s}")
m = {}
for t in (tn, pn):
    m[t] = [med(t, 3), med(t, 4), med(t, 5), med(t, 6)]
    errs = sum(int(r[7]) for r in rows if r[1] == t)
    print(f"{t:10s} {m[t][0]:10.0f} {us(m[t][1]):>10s} {us(m[t][2]):>10s} {m[t][3]:11.2f} {errs:7d}")
print(f"{tn}/{pn}: req/s {m[tn][0] / m[pn][0]:.3f}x, "
      f"CPU per request {m[tn][3] / m[pn][3]:.3f}x")
raw = ", ".join(f"{r[1][0].upper()} {float(r[3]):.0f}" for r in rows)
print(f"rounds (req/s): {raw}")
PY
}

echo "tollgate compare: ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP WORKERS=$WORKERS" \
  "PLACEMENT=$PLACEMENT (upstream CPU $UPSTREAM_CPUS, proxies CPU $PROXY_CPUS, load CPU $LOAD_CPUS)"
if [[ $PEER == nginx ]]; then
  echo "nginx proxy workers: $NGINX_WORKERS; tollgate pid $TOLLGATE_PID; $(nginx -v 2>&1)"
else
  echo "A/B: new = $BIN (pid $TOLLGATE_PID), old = $PEER_BIN (pid $PEER_PID)"
fi

for scenario in ${SCENARIOS//,/ }; do
  scenario_args "$scenario" >/dev/null
  if [[ $scenario == h2 ]]; then
    if ! speaks_h2 T; then
      echo "tollgate ($BIN) did not answer over HTTP/2 on :$TOLLGATE_TLS_PORT" >&2
      exit 1
    fi
    if ! speaks_h2 P; then
      if [[ $PEER == tollgate ]]; then
        printf '\n%s\nskipped: peer has no HTTP/2 (%s did not negotiate h2)\n' \
          "$(scenario_title h2)" "$PEER_BIN"
        continue
      fi
      echo "nginx did not answer over HTTP/2 on :$NGINX_TLS_PORT" >&2
      exit 1
    fi
  fi
  for target in T P; do
    run_one "$scenario" "$target" warmup "$WARMUP"
  done
  for ((round = 1; round <= ROUNDS; round++)); do
    if ((round % 2)); then order="T P"; else order="P T"; fi
    for target in $order; do
      run_one "$scenario" "$target" "$round" "$DURATION"
    done
  done
  report "$scenario" "$(scenario_title "$scenario")"
done
