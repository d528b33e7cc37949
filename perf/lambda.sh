#!/usr/bin/env bash
# A Lambda proxy route vs an HTTP_PROXY route to the same server, in one run, alternating
# rounds: one gateway (1 worker, pinned to GW_CPU) with two routes of one HTTP API,
#   /proxy   HTTP_PROXY to the demo upstream, which answers SIZE bytes (`x-echo-size`);
#   /lambda  AWS_PROXY to the demo upstream's Lambda Invoke API, function `sized`, which
#            answers a proxy result whose body is the same SIZE bytes (payload PAYLOAD);
# the demo upstream and the load generator on LOAD_CPU. For each round and each route:
# requests/s and the CPU time per request of the gateway (all its threads, from
# /proc/PID/task/*/schedstat) and of the demo upstream, first closed loop, then open loop
# at RATE. The gateway's CPU per request is the comparison that matters (event encoding,
# the Invoke call, result parsing vs streaming the answer through); requests/s also carry
# the demo function's own JSON work, which a real function would do too.
#
#   usage: perf/lambda.sh [BIN]      (default target/release/tollgate)
# Knobs: ROUNDS=3 DURATION=5s RATE=5000 CONNECTIONS=64 SIZE=1024 PAYLOAD=2.0
#        GW_CPU=1 LOAD_CPU=0 UP_PORT=28391 GW_PORT=28393
# A quick check that it works (not a measurement): DURATION=2s ROUNDS=1 perf/lambda.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
BIN=${1:-target/release/tollgate}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
RATE=${RATE:-5000}
CONNECTIONS=${CONNECTIONS:-64}
SIZE=${SIZE:-1024}
PAYLOAD=${PAYLOAD:-2.0}
GW_CPU=${GW_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
UP=${UP_PORT:-28391}
GW=${GW_PORT:-28393}
[ -x "$BIN" ] || { echo "no $BIN: make build first" >&2; exit 2; }
case $DURATION in *[0-9]) DURATION=${DURATION}s ;; esac
ports_free "$UP" "$GW"
scratch lambda

cat >"$WORK/gw.yaml" <<YAML
server:
  account_throttle: {rate: 1.0e9, burst: 1.0e9}
  state_file: $WORK/state
aws:
  credentials: {from: none}
  endpoints: {lambda: 'http://127.0.0.1:$UP'}
listeners:
  - name: bench
    bind: 127.0.0.1:$GW
    default_api: bench
apis:
  - id: bench
    type: HTTP
    routes:
      - route: 'ANY /proxy'
        integration: {type: HTTP_PROXY, uri: 'http://127.0.0.1:$UP/'}
      - route: 'ANY /lambda'
        integration: {type: AWS_PROXY, uri: sized, payload_format_version: '$PAYLOAD'}
    stages:
      - name: '\$default'
YAML
"$BIN" check "$WORK/gw.yaml" >/dev/null

start up taskset -c "$LOAD_CPU" "$BIN" demo-upstream --bind "127.0.0.1:$UP"
UP_PID=$LAST_PID
wait_port "$UP" "$UP_PID" up
start gw taskset -c "$GW_CPU" "$BIN" run --config "$WORK/gw.yaml" --workers 1
GW_PID=$LAST_PID
wait_port "$GW" "$GW_PID" gw

load() {
  "$BIN" load --connections "$CONNECTIONS" --cpus "$LOAD_CPU" --quiet \
    --header "x-echo-size: $SIZE" "$@"
}

# Warm-up, and a check that both routes answer 2xx with SIZE bytes.
for route in proxy lambda; do
  got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -H "x-echo-size: $SIZE" \
    "http://127.0.0.1:$GW/$route")
  [ "$got" = "200 $SIZE" ] || { echo "/$route answered '$got', expected '200 $SIZE'" >&2; exit 1; }
  out=$(load --duration 2s --warmup 0s --json "http://127.0.0.1:$GW/$route")
  python3 - "$route" "$out" <<'PY'
import json, sys
route, out = sys.argv[1:]
d = json.loads(out)
st = d["status"]
bad = {k: st[k] for k in ("1xx", "3xx", "4xx", "5xx", "other") if st[k]}
if bad or d["errors"]["total"]:
    sys.exit(f"/{route}: non-2xx answers or errors in the warm-up: {out}")
PY
done

echo "# SIZE=$SIZE PAYLOAD=$PAYLOAD CONNECTIONS=$CONNECTIONS DURATION=$DURATION"
for mode in closed "rate $RATE"; do
  extra=()
  [ "$mode" = closed ] || extra=(--rate "$RATE")
  for r in $(seq "$ROUNDS"); do
    for route in proxy lambda; do
      g0=$(cpu_ns "$GW_PID"); u0=$(cpu_ns "$UP_PID")
      out=$(load --duration "$DURATION" --warmup 0s --json "${extra[@]}" "http://127.0.0.1:$GW/$route")
      g1=$(cpu_ns "$GW_PID"); u1=$(cpu_ns "$UP_PID")
      python3 - "$mode" "$r" "$route" "$g0" "$g1" "$u0" "$u1" "$out" <<'PY'
import json, sys
mode, r, route, g0, g1, u0, u1, out = sys.argv[1:]
d = json.loads(out)
n = max(d["requests"], 1)
st = d["status"]
bad = {k: st[k] for k in ("1xx", "3xx", "4xx", "5xx", "other") if st[k]}
print(f"{mode:10s} round {r} {route:6s} req/s={d['requests_per_sec']:8.0f} "
      f"gateway cpu_us/req={(int(g1) - int(g0)) / 1000 / n:6.2f} "
      f"upstream cpu_us/req={(int(u1) - int(u0)) / 1000 / n:6.2f}"
      + (f" NON-2XX {bad}" if bad else ""))
PY
    done
  done
done
