#!/usr/bin/env bash
# perf/compare.sh: tollgate versus nginx (and HAProxy) as reverse proxy, in front of the same
# fixed upstream, driven by the same load generator (`tollgate load` by default, or wrk or
# oha; h2load for the h2 scenario), in alternating rounds. Prints, per scenario, the median
# requests/s, p50, p99 and proxy CPU time per request, and the ratios; every table names the
# load generator and the peers that produced it.
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
# needs h2load (apt-get install nghttp2-client, or `make test-deps`); wrk, oha and HAProxy
# come from `make bench-deps` (wrk and haproxy from Debian, oha into target/tools/bin). A
# tool that is asked for and missing stops the script with exit 2 before anything starts.
#
# Environment knobs:
#   ROUNDS=5          measured rounds per scenario (the order rotates: T N H, N H T, ...)
#   DURATION=5        seconds per measured run (a number of seconds, or 5s / 500ms; wrk
#                     takes whole seconds only)
#   WARMUP=2          seconds of unmeasured load on each proxy before a scenario's rounds
#   WORKERS=1         tollgate --workers, nginx worker_processes, HAProxy nbthread
#   PLACEMENT=shared  shared: upstream, proxies and load generator all on CPU 0, CPU 1 idle
#                     (the stable placement on these 2-vCPU machines, see
#                     ../shared/BENCHMARKING.md); split: the load generator on CPU 1;
#                     unpinned: no taskset at all (the kernel places everything; with
#                     WORKERS=2 this is "2 workers on 2 cores, unpinned")
#   LOADGEN=tollgate  the HTTP/1.1 load generator: tollgate (`tollgate load`), wrk (Debian's
#                     wrk 4.1) or oha (target/tools/bin/oha, `make bench-deps`). Same
#                     connections and paths for all three; newconn sends `Connection: close`
#                     (wrk: -H, oha: --disable-keepalive); wrk does not verify the
#                     certificate (tollgate load and oha: --cacert). wrk and oha resume
#                     TLS sessions on new connections, so with them the handshake
#                     scenario is skipped (it needs tollgate load --no-resume).
#   RATE              fixed offered rate (requests/s in total, open loop) instead of closed
#                     loop, for p99 at a given load: tollgate load --rate (wrk2-style,
#                     latency from the intended send time) or oha -q RATE
#                     --latency-correction. wrk has no such mode (wrk2 is not in Debian):
#                     RATE with LOADGEN=wrk is refused; h2 is skipped under RATE.
#   PEERS=nginx       the proxies compared with tollgate, in one run: nginx, haproxy or
#                     "nginx haproxy" (HAProxy 2.6, perf/haproxy.cfg.in). PEER=haproxy is
#                     the same as PEERS=haproxy.
#   PEER=nginx        tollgate: A/B against another build (PEER_BIN)
#   PEER_BIN          the other tollgate build for PEER=tollgate
#   STAGE_EXTRA       YAML added to the `$default` stage of tollgate's config (the new side
#                     only; the A/B peer keeps the plain stage), one flow mapping per key,
#                     @WORK@ being the scratch directory. Same binary, feature on vs off:
#                     PEER_BIN=target/release/tollgate STAGE_EXTRA='access_log:
#                     {destination: @WORK@/access.log, format: json}' perf/compare.sh
#   SCENARIOS="small newconn 1m tls handshake h2"
#                     small:     GET /small, 64 keep-alive connections
#                     16k:       GET /16k.bin (16 KiB), 64 keep-alive connections (not in
#                                the default list)
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
#                     All proxies serve HTTPS with the same certificate (certs/gen.sh into
#                     the scratch directory): nginx on NGINX_TLS_PORT (`ssl http2`),
#                     HAProxy on HAPROXY_TLS_PORT (alpn h2,http/1.1), tollgate on
#                     TOLLGATE_TLS_PORT (custom domain, ALPN h2, http/1.1).
#   H2_CONNECTIONS=16 H2_STREAMS=32
#                     h2load -c and -m for the h2 scenario
#   PROXY_CPUS        CPUs for the proxies (default 0, or 0-(WORKERS-1) with more workers)
#   UPSTREAM_CPUS=0   CPUs for the upstream nginx
#   LOAD_CPUS         CPUs for the load generator (default from PLACEMENT)
#   LOAD_THREADS=1    load generator threads (tollgate load --threads, wrk -t,
#                     oha --worker-threads, h2load -t)
#   TOLLGATE          the binary (default target/release/tollgate)
#   UPSTREAM_PORT=18081 NGINX_PORT=18082 TOLLGATE_PORT=18083
#   NGINX_TLS_PORT=18084 TOLLGATE_TLS_PORT=18085 HAPROXY_PORT=18088 HAPROXY_TLS_PORT=18089
#                     ports (the defaults are those in perf/*.conf.in, perf/haproxy.cfg.in
#                     and perf/tollgate-bench.yaml; other values are substituted into copies)
#   PEER_PORT=18086 PEER_TLS_PORT=18087
#                     the old build's ports in A/B mode
set -euo pipefail
# Never stop silently: name the line that failed.
trap 'echo "perf/compare.sh: line $LINENO: a command failed (exit $?)" >&2' ERR

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${TOLLGATE:-$ROOT/target/release/tollgate}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2}
WORKERS=${WORKERS:-1}
PLACEMENT=${PLACEMENT:-shared}
SCENARIOS=${SCENARIOS:-small newconn 1m tls handshake h2}
SCENARIOS=${SCENARIOS//,/ }
LOADGEN=${LOADGEN:-tollgate}
RATE=${RATE:-}
PEER_BIN=${PEER_BIN:-}
if [[ -n $PEER_BIN ]]; then PEER=${PEER:-tollgate}; else PEER=${PEER:-}; fi
if [[ $PEER == tollgate ]]; then
  PEERS=old
else
  PEERS=${PEERS:-${PEER:-nginx}}
fi
PEERS=${PEERS//,/ }
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
HAPROXY_PORT=${HAPROXY_PORT:-18088}
HAPROXY_TLS_PORT=${HAPROXY_TLS_PORT:-18089}
case $PLACEMENT in
  shared)
    UPSTREAM_CPUS=${UPSTREAM_CPUS:-0}
    LOAD_CPUS=${LOAD_CPUS:-0}
    ;;
  split)
    UPSTREAM_CPUS=${UPSTREAM_CPUS:-0}
    LOAD_CPUS=${LOAD_CPUS:-1}
    ;;
  unpinned)
    UPSTREAM_CPUS=${UPSTREAM_CPUS:-}
    LOAD_CPUS=${LOAD_CPUS:-}
    PROXY_CPUS=${PROXY_CPUS:-}
    ;;
  *) echo "PLACEMENT must be shared, split or unpinned, got '$PLACEMENT'" >&2; exit 2 ;;
esac
if [[ $PLACEMENT != unpinned && -z ${PROXY_CPUS:-} ]]; then
  if ((WORKERS > 1)); then PROXY_CPUS="0-$((WORKERS - 1))"; else PROXY_CPUS=0; fi
fi
[[ $DURATION =~ ^[0-9.]+$ ]] && DURATION="${DURATION}s"
[[ $WARMUP =~ ^[0-9.]+$ ]] && WARMUP="${WARMUP}s"

# The command prefix that pins to CPUS (nothing when CPUS is empty: unpinned).
pin() { [[ -n $1 ]] && echo "taskset -c $1" || true; }
cpus_label() { [[ -n $1 ]] && echo "CPU $1" || echo unpinned; }

if ! command -v nginx >/dev/null 2>&1; then
  echo "nginx is not installed: apt-get install nginx (or make bench-deps)" >&2
  exit 2
fi
for tool in taskset python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is required" >&2; exit 2; }
done
if [[ ! -x $BIN ]]; then
  echo "$BIN not found: run 'make build' first (or 'make perf')" >&2
  exit 2
fi

# The load generator: found on PATH or in target/tools/bin (make bench-deps), never skipped.
find_tool() {
  if [[ -x $ROOT/target/tools/bin/$1 ]]; then
    echo "$ROOT/target/tools/bin/$1"
  elif command -v "$1" >/dev/null 2>&1; then
    command -v "$1"
  else
    return 1
  fi
}
case $LOADGEN in
  tollgate) LOADGEN_LABEL="tollgate load (this build)" ;;
  wrk)
    WRK=$(find_tool wrk) || { echo "LOADGEN=wrk: wrk is not installed: make bench-deps (apt-get install wrk)" >&2; exit 2; }
    LOADGEN_LABEL="wrk $({ "$WRK" -v 2>&1 || true; } | head -1 | awk '{print $2}')"
    if [[ ! $DURATION =~ ^[0-9]+s$ || ! $WARMUP =~ ^[0-9]+s$ ]]; then
      echo "LOADGEN=wrk takes whole seconds: DURATION=$DURATION WARMUP=$WARMUP" >&2
      exit 2
    fi
    if [[ -n $RATE ]]; then
      echo "LOADGEN=wrk has no fixed-rate mode (wrk2 is not in Debian): use RATE with LOADGEN=oha or LOADGEN=tollgate" >&2
      exit 2
    fi
    ;;
  oha)
    OHA=$(find_tool oha) || { echo "LOADGEN=oha: oha is not installed: make bench-deps (cargo install --locked oha --root target/tools)" >&2; exit 2; }
    LOADGEN_LABEL=$({ "$OHA" --version 2>&1 || true; } | head -1)
    ;;
  *) echo "LOADGEN must be tollgate, wrk or oha, got '$LOADGEN'" >&2; exit 2 ;;
esac
if [[ -n $RATE && ! $RATE =~ ^[0-9]+$ ]]; then
  echo "RATE is requests/s in total, a whole number: got '$RATE'" >&2
  exit 2
fi

# The targets: T (the build under test) and the peers, with their report names.
T_NAME=tollgate
for p in $PEERS; do
  case $p in
    nginx) ;;
    haproxy)
      command -v haproxy >/dev/null 2>&1 || { echo "PEERS=haproxy: haproxy is not installed: make bench-deps (apt-get install haproxy)" >&2; exit 2; }
      ;;
    old)
      T_NAME=new
      if [[ -z $PEER_BIN || ! -x $PEER_BIN ]]; then
        echo "PEER=tollgate needs PEER_BIN, an executable tollgate build (got '$PEER_BIN')" >&2
        exit 2
      fi
      ;;
    *) echo "PEERS must name nginx and/or haproxy (or PEER=tollgate with PEER_BIN), got '$p'" >&2; exit 2 ;;
  esac
done
TARGETS=(T $PEERS)
if [[ " $SCENARIOS " == *" h2 "* ]] && [[ -z $RATE ]] && ! command -v h2load >/dev/null 2>&1; then
  echo "the h2 scenario needs h2load: apt-get install nghttp2-client (or make test-deps)," \
    "or leave h2 out of SCENARIOS" >&2
  exit 2
fi

# shellcheck source=perf/lib.sh
source "$ROOT/perf/lib.sh"
ports_free "$UPSTREAM_PORT" "$TOLLGATE_PORT" "$TOLLGATE_TLS_PORT"
for p in $PEERS; do
  case $p in
    nginx) ports_free "$NGINX_PORT" "$NGINX_TLS_PORT" ;;
    haproxy) ports_free "$HAPROXY_PORT" "$HAPROXY_TLS_PORT" ;;
    old) ports_free "$PEER_PORT" "$PEER_TLS_PORT" ;;
  esac
done
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
cat "$CERTS/server.pem" "$CERTS/server.key" >"$CERTS/haproxy.pem"
chmod 755 "$CERTS"
chmod 644 "$CERTS"/*.pem "$CERTS"/*.key
ports=(-e "s|127\.0\.0\.1:18084|127.0.0.1:$NGINX_TLS_PORT|g"
  -e "s|127\.0\.0\.1:18085|127.0.0.1:$TOLLGATE_TLS_PORT|g"
  -e "s|@CERTS@|$CERTS|g" -e "s|\.\./certs/|$CERTS/|g"
  -e "s|127\.0\.0\.1:18081|127.0.0.1:$UPSTREAM_PORT|g"
  -e "s|127\.0\.0\.1:18082|127.0.0.1:$NGINX_PORT|g"
  -e "s|127\.0\.0\.1:18083|127.0.0.1:$TOLLGATE_PORT|g"
  -e "s|127\.0\.0\.1:18088|127.0.0.1:$HAPROXY_PORT|g"
  -e "s|127\.0\.0\.1:18089|127.0.0.1:$HAPROXY_TLS_PORT|g")
sed -e "s|@WORK@|$WORK|g" "${ports[@]}" "$ROOT/perf/nginx-upstream.conf.in" >"$WORK/upstream.conf"
sed -e "s|@WORK@|$WORK|g" -e "s|^worker_processes .*;|worker_processes $WORKERS;|" "${ports[@]}" \
  "$ROOT/perf/nginx-proxy.conf.in" >"$WORK/proxy.conf"
sed -e "s|@NBTHREAD@|$WORKERS|g" "${ports[@]}" "$ROOT/perf/haproxy.cfg.in" >"$WORK/haproxy.cfg"
sed "${ports[@]}" "$ROOT/perf/tollgate-bench.yaml" >"$WORK/tollgate.yaml"
# A/B: the same config on the peer's own ports (before STAGE_EXTRA: the peer keeps the
# plain stage).
sed -e "s|127\.0\.0\.1:$TOLLGATE_PORT|127.0.0.1:$PEER_PORT|" \
  -e "s|127\.0\.0\.1:$TOLLGATE_TLS_PORT|127.0.0.1:$PEER_TLS_PORT|" \
  "$WORK/tollgate.yaml" >"$WORK/peer.yaml"
if [[ -n ${STAGE_EXTRA:-} ]]; then
  printf '        %s\n' "${STAGE_EXTRA//@WORK@/$WORK}" >>"$WORK/tollgate.yaml"
  "$BIN" check "$WORK/tollgate.yaml" >/dev/null \
    || { echo "STAGE_EXTRA: tollgate check refused the stage it made" >&2; exit 2; }
fi

# shellcheck disable=SC2046
start upstream $(pin "$UPSTREAM_CPUS") nginx -p "$WORK" -e "$WORK/up.err" -c "$WORK/upstream.conf"
UP_PID=$LAST_PID
wait_port "$UPSTREAM_PORT" "$UP_PID" upstream

# The nginx proxy's worker processes (its master only supervises them).
nginx_workers() {
  local kids i
  for ((i = 0; i < 100; i++)); do
    kids=$(cat /proc/"$1"/task/*/children 2>/dev/null || true)
    if (($(wc -w <<<"$kids") >= WORKERS)); then
      echo $kids
      return 0
    fi
    sleep 0.05
  done
  echo "nginx started no workers" >&2
  exit 1
}
declare -A PORT TLS_PORT PIDS_OF NAME
PEER_LABELS=()
for p in $PEERS; do
  case $p in
    nginx)
      # shellcheck disable=SC2046
      start nginx $(pin "$PROXY_CPUS") nginx -p "$WORK" -e "$WORK/proxy.err" -c "$WORK/proxy.conf"
      wait_port "$NGINX_PORT" "$LAST_PID" nginx
      wait_port "$NGINX_TLS_PORT" "$LAST_PID" nginx
      PORT[nginx]=$NGINX_PORT TLS_PORT[nginx]=$NGINX_TLS_PORT NAME[nginx]=nginx
      PIDS_OF[nginx]=$(nginx_workers "$LAST_PID")
      PEER_LABELS+=("$(nginx -v 2>&1 | sed 's/.*version: //')")
      ;;
    haproxy)
      haproxy -c -q -f "$WORK/haproxy.cfg" || { echo "perf/haproxy.cfg.in: haproxy -c refused it" >&2; exit 1; }
      # shellcheck disable=SC2046
      start haproxy $(pin "$PROXY_CPUS") haproxy -db -f "$WORK/haproxy.cfg"
      wait_port "$HAPROXY_PORT" "$LAST_PID" haproxy
      wait_port "$HAPROXY_TLS_PORT" "$LAST_PID" haproxy
      PORT[haproxy]=$HAPROXY_PORT TLS_PORT[haproxy]=$HAPROXY_TLS_PORT NAME[haproxy]=haproxy
      PIDS_OF[haproxy]=$LAST_PID
      PEER_LABELS+=("HAProxy $(haproxy -v | head -1 | awk '{print $3}')")
      ;;
    old)
      # shellcheck disable=SC2046
      start peer $(pin "$PROXY_CPUS") "$PEER_BIN" run --config "$WORK/peer.yaml" --workers "$WORKERS"
      wait_port "$PEER_PORT" "$LAST_PID" peer
      wait_port "$PEER_TLS_PORT" "$LAST_PID" peer
      PORT[old]=$PEER_PORT TLS_PORT[old]=$PEER_TLS_PORT NAME[old]=old PIDS_OF[old]=$LAST_PID
      PEER_LABELS+=("old = $PEER_BIN (pid $LAST_PID)")
      ;;
  esac
done
# shellcheck disable=SC2046
start tollgate $(pin "$PROXY_CPUS") "$BIN" run --config "$WORK/tollgate.yaml" --workers "$WORKERS"
TOLLGATE_PID=$LAST_PID
wait_port "$TOLLGATE_PORT" "$TOLLGATE_PID" tollgate
wait_port "$TOLLGATE_TLS_PORT" "$TOLLGATE_PID" tollgate
PORT[T]=$TOLLGATE_PORT TLS_PORT[T]=$TOLLGATE_TLS_PORT NAME[T]=$T_NAME PIDS_OF[T]=$TOLLGATE_PID

scenario_path() {
  case $1 in
    small | newconn | tls | handshake | h2) echo /small ;;
    16k) echo /16k.bin ;;
    1m) echo /1m.bin ;;
    *) echo "unknown scenario '$1' (small, 16k, newconn, 1m, tls, handshake, h2)" >&2; exit 2 ;;
  esac
}
scenario_conns() { case $1 in small | 16k | tls) echo 64 ;; h2) echo "$H2_CONNECTIONS" ;; *) echo 16 ;; esac; }
scenario_title() {
  case $1 in
    small) echo "small GET /small, 64 keep-alive connections" ;;
    16k) echo "16 KiB GET /16k.bin, 64 keep-alive connections" ;;
    newconn) echo "GET /small, new connection per request, 16 connections" ;;
    1m) echo "1 MiB GET /1m.bin, 16 keep-alive connections" ;;
    tls) echo "HTTPS GET /small, 64 keep-alive connections" ;;
    handshake) echo "HTTPS GET /small, new connection + full TLS handshake per request, 16 connections" ;;
    h2) echo "HTTP/2 over TLS GET /small (h2load -c $H2_CONNECTIONS -m $H2_STREAMS)" ;;
  esac
}
is_tls() { case $1 in tls | handshake | h2) return 0 ;; *) return 1 ;; esac; }
is_newconn() { case $1 in newconn | handshake) return 0 ;; *) return 1 ;; esac; }

# The URL base for a scenario and target.
target_base() {
  if is_tls "$1"; then echo "https://127.0.0.1:${TLS_PORT[$2]}"; else echo "http://127.0.0.1:${PORT[$2]}"; fi
}

# Whether a target negotiates HTTP/2 over TLS (ALPN h2): one h2load request.
speaks_h2() {
  local out
  out=$(h2load -n 1 -c 1 "$(target_base h2 "$1")/small" 2>&1 || true)
  grep -q '^Application protocol: h2$' <<<"$out" && grep -q ' 1 succeeded' <<<"$out"
}

# One h2load run: the same row as run_one (p50/p99 are h2load's mean and max time for
# request). Exits the script when h2load fails, or any request failed or was not 2xx.
run_h2() {
  local target=$1 round=$2 duration=$3 before after out
  # shellcheck disable=SC2086
  before=$(cpu_ns ${PIDS_OF[$target]})
  # shellcheck disable=SC2046
  if ! out=$($(pin "$LOAD_CPUS") h2load -c "$H2_CONNECTIONS" -m "$H2_STREAMS" -t "$LOAD_THREADS" \
    -D "$duration" "$(target_base h2 "$target")/small" 2>&1); then
    printf 'h2 %s round %s: h2load failed:\n%s\n' "${NAME[$target]}" "$round" "$out" >&2
    exit 1
  fi
  # shellcheck disable=SC2086
  after=$(cpu_ns ${PIDS_OF[$target]})
  if ! python3 - "${NAME[$target]}" "$round" "$before" "$after" "$out" >>"$WORK/results" <<'PY'; then
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

# The load generator's command line for a scenario and target, into the array CMD.
load_cmd() {
  local scenario=$1 target=$2 duration=$3 url conns
  url="$(target_base "$scenario" "$target")$(scenario_path "$scenario")"
  conns=$(scenario_conns "$scenario")
  # shellcheck disable=SC2207
  CMD=($(pin "$LOAD_CPUS"))
  case $LOADGEN in
    tollgate)
      CMD+=("$BIN" load "$url" --connections "$conns" --threads "$LOAD_THREADS"
        --duration "$duration" --warmup 0 --json --quiet)
      is_newconn "$scenario" && CMD+=(--new-connection)
      [[ $scenario == handshake ]] && CMD+=(--no-resume)
      is_tls "$scenario" && CMD+=(--cacert "$CERTS/ca.pem")
      [[ -n $RATE ]] && CMD+=(--rate "$RATE")
      ;;
    wrk)
      CMD+=("$WRK" -t "$LOAD_THREADS" -c "$conns" -d "$duration" --latency)
      is_newconn "$scenario" && CMD+=(-H "Connection: close")
      CMD+=("$url")
      ;;
    oha)
      CMD+=("$OHA" -z "$duration" -c "$conns" --worker-threads "$LOAD_THREADS" --no-tui
        --output-format json)
      is_newconn "$scenario" && CMD+=(--disable-keepalive)
      is_tls "$scenario" && CMD+=(--cacert "$CERTS/ca.pem")
      [[ -n $RATE ]] && CMD+=(-q "$RATE" --latency-correction)
      CMD+=("$url")
      ;;
  esac
  return 0
}

# One load run against a target; appends "scenario target round rps p50 p99 cpu failed"
# to the results (round "warmup" is not reported). "failed": errors plus non-2xx answers.
run_one() {
  local scenario=$1 target=$2 round=$3 duration=$4 before after out
  if [[ $scenario == h2 ]]; then
    run_h2 "$target" "$round" "$duration"
    return
  fi
  load_cmd "$scenario" "$target" "$duration"
  # shellcheck disable=SC2086
  before=$(cpu_ns ${PIDS_OF[$target]})
  if ! out=$("${CMD[@]}" 2>&1); then
    printf '%s %s round %s: %s failed:\n%s\n' "$scenario" "${NAME[$target]}" "$round" \
      "${CMD[*]}" "$out" >&2
    exit 1
  fi
  # shellcheck disable=SC2086
  after=$(cpu_ns ${PIDS_OF[$target]})
  python3 - "$LOADGEN" "$scenario" "${NAME[$target]}" "$round" "$before" "$after" "$out" \
    >>"$WORK/results" <<'PY'
import json, re, sys
gen, scenario, target, rnd, before, after, text = sys.argv[1:8]
where = f"{scenario} {target} round {rnd} ({gen})"
def us(v, unit):
    return float(v) * {"us": 1, "ms": 1e3, "s": 1e6, "m": 6e7}[unit]
if gen == "tollgate":
    r = json.loads(text)
    n = r["requests"]
    rps, p50, p99 = r["requests_per_sec"], r["latency_us"]["p50"], r["latency_us"]["p99"]
    failed = r["errors"]["total"] + (n - r["status"]["2xx"])
elif gen == "wrk":
    def need(pattern):
        m = re.search(pattern, text, re.M)
        if not m:
            sys.exit(f"{where}: wrk output has no match for {pattern!r}:\n{text}")
        return m
    n = int(need(r"^\s*(\d+) requests in ")[1])
    rps = float(need(r"^Requests/sec:\s+([0-9.]+)")[1])
    p50 = us(*need(r"^\s+50%\s+([0-9.]+)(us|ms|s|m)\s*$").groups())
    p99 = us(*need(r"^\s+99%\s+([0-9.]+)(us|ms|s|m)\s*$").groups())
    m = re.search(r"^\s*Non-2xx or 3xx responses: (\d+)", text, re.M)
    failed = int(m[1]) if m else 0
    m = re.search(r"^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text, re.M)
    failed += sum(map(int, m.groups())) if m else 0
else:  # oha
    start = text.find("{")
    try:
        r = json.loads(text[start:])
    except ValueError:
        sys.exit(f"{where}: oha printed no JSON report:\n{text}")
    codes = {int(k): v for k, v in r["statusCodeDistribution"].items()}
    n = sum(codes.values())
    # Requests still in flight at the deadline are abandoned, not failed.
    errs = {k: v for k, v in r["errorDistribution"].items() if "deadline" not in k}
    failed = sum(errs.values()) + sum(v for k, v in codes.items() if not 200 <= k < 300)
    if errs:
        print(f"{where}: oha errors: {errs}", file=sys.stderr)
    rps = n / r["summary"]["total"] if r["summary"]["total"] else 0.0
    lp = r["latencyPercentiles"]
    p50, p99 = (lp["p50"] or 0) * 1e6, (lp["p99"] or 0) * 1e6
if n == 0:
    sys.exit(f"{where}: no responses:\n{text}")
cpu = (int(after) - int(before)) / 1000 / n
print(scenario, target, rnd, f"{rps:.1f}", f"{p50:.0f}", f"{p99:.0f}", f"{cpu:.3f}", failed)
PY
}

report() {
  local names=() t
  for t in "${TARGETS[@]}"; do names+=("${NAME[$t]}"); done
  python3 - "$1" "$2" "$WORK/results" "$3" "${names[@]}" <<'PY'
import statistics, sys
scenario, title, path, source, *names = sys.argv[1:]
rows = [l.split() for l in open(path)]
rows = [r for r in rows if r[0] == scenario and r[2] != "warmup"]
def med(target, i):
    return statistics.median(float(r[i]) for r in rows if r[1] == target)
def us(v):
    return f"{v:.0f} µs" if v < 1000 else f"{v / 1000:.2f} ms"
print(f"\n{title} ({len(rows) // len(names)} rounds; {source})")
lat = ("mean", "max") if scenario == "h2" else ("p50", "p99")
print(f"{'':10s} {'req/s':>10s} {lat[0]:>10s} {lat[1]:>10s} {'CPU µs/req':>11s} {'failed':>7s}")
m = {}
for t in names:
    m[t] = [med(t, 3), med(t, 4), med(t, 5), med(t, 6)]
    errs = sum(int(r[7]) for r in rows if r[1] == t)
    print(f"{t:10s} {m[t][0]:10.0f} {us(m[t][1]):>10s} {us(m[t][2]):>10s} {m[t][3]:11.2f} {errs:7d}")
tn = names[0]
for pn in names[1:]:
    print(f"{tn}/{pn}: req/s {m[tn][0] / m[pn][0]:.3f}x, "
          f"CPU per request {m[tn][3] / m[pn][3]:.3f}x, "
          f"{lat[1]} {m[tn][2] / m[pn][2]:.3f}x")
raw = ", ".join(f"{r[1][0].upper()} {float(r[3]):.0f}" for r in rows)
print(f"rounds (req/s): {raw}")
PY
}

if [[ -n $RATE ]]; then MODE="fixed offered rate $RATE req/s (open loop)"; else MODE="closed loop"; fi
echo "tollgate compare: ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP WORKERS=$WORKERS" \
  "PLACEMENT=$PLACEMENT (upstream $(cpus_label "$UPSTREAM_CPUS"), proxies $(cpus_label "$PROXY_CPUS")," \
  "load $(cpus_label "$LOAD_CPUS"))"
PEERS_LABEL=$(IFS=,; echo "${PEER_LABELS[*]}" | sed 's/,/, /g')
echo "load generator: $LOADGEN_LABEL, $MODE; peers: $PEERS_LABEL; tollgate pid $TOLLGATE_PID ($BIN)"

for scenario in $SCENARIOS; do
  scenario_path "$scenario" >/dev/null
  source_label="load: $LOADGEN_LABEL, $MODE; peers: $PEERS_LABEL"
  if [[ $scenario == h2 ]]; then
    source_label="load: $({ h2load --version 2>&1 || true; } | head -1) (whatever LOADGEN); peers: $PEERS_LABEL"
    if [[ -n $RATE ]]; then
      printf '\n%s\nskipped: no fixed-rate mode with h2load (RATE=%s)\n' "$(scenario_title h2)" "$RATE"
      continue
    fi
    if ! speaks_h2 T; then
      echo "tollgate ($BIN) did not answer over HTTP/2 on :$TOLLGATE_TLS_PORT" >&2
      exit 1
    fi
    missing=
    for p in $PEERS; do speaks_h2 "$p" || missing="$missing $p"; done
    if [[ -n $missing ]]; then
      if [[ $PEERS == old ]]; then
        printf '\n%s\nskipped: peer has no HTTP/2 (%s did not negotiate h2)\n' \
          "$(scenario_title h2)" "$PEER_BIN"
        continue
      fi
      echo "$missing did not answer over HTTP/2 on its TLS port" >&2
      exit 1
    fi
  fi
  if [[ $scenario == handshake && $LOADGEN != tollgate ]]; then
    printf '\n%s\nskipped: %s resumes TLS sessions, so it measures no full handshakes: use LOADGEN=tollgate (--no-resume)\n' \
      "$(scenario_title handshake)" "$LOADGEN"
    continue
  fi
  for target in "${TARGETS[@]}"; do
    run_one "$scenario" "$target" warmup "$WARMUP"
  done
  for ((round = 1; round <= ROUNDS; round++)); do
    # Rotate the order: T N H, N H T, H T N, ... (with two targets: T P, P T, ...).
    k=${#TARGETS[@]}
    for ((i = 0; i < k; i++)); do
      run_one "$scenario" "${TARGETS[$(((round - 1 + i) % k))]}" "$round" "$DURATION"
    done
  done
  report "$scenario" "$(scenario_title "$scenario")" "$source_label"
done
