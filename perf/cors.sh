#!/usr/bin/env bash
# CORS preflights per second: two gateways (1 worker each, pinned to GW_CPU), alternating
# rounds, the load generator on LOAD_CPU. No upstream: nothing here leaves the gateway.
#
#   "cors"   an HTTP API with `cors:` (listed origins, credentials, methods, headers,
#            max-age): preflights answered by the gateway itself, before routing;
#   "route"  the REST-style way on an API without `cors:`: an OPTIONS MOCK route whose
#            static headers answer the preflight (routing, then the MOCK integration).
#
# MODE=preflight (default): `OPTIONS /items` with Origin, Access-Control-Request-Method and
# Access-Control-Request-Headers to both. MODE=actual: `GET /items` (a MOCK route) with an
# Origin, decorated with the CORS headers on "cors", plain on "route": the decoration's cost.
# For each round and gateway: requests/s and the gateway's CPU time per request (all its
# threads, from /proc/PID/task/*/schedstat), closed loop.
#
#   usage: perf/cors.sh [BIN]      (default target/release/tollgate)
# Knobs: MODE=preflight ROUNDS=3 DURATION=5s CONNECTIONS=64 GW_CPU=1 LOAD_CPU=0
#        CORS_PORT=28391 ROUTE_PORT=28392
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/tollgate}
MODE=${MODE:-preflight}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-64}
GW_CPU=${GW_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
CORS=${CORS_PORT:-28391}
ROUTE=${ROUTE_PORT:-28392}
[ -x "$BIN" ] || { echo "no $BIN: make build first" >&2; exit 2; }
case $MODE in preflight|actual) ;; *) echo "MODE must be preflight or actual" >&2; exit 2 ;; esac
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-cors.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

cat > "$WORK/cors.yaml" <<YAML
server:
  account_throttle: {rate: 1.0e9, burst: 1.0e9}
listeners:
  - {name: bench, bind: 127.0.0.1:$CORS, default_api: bench}
apis:
  - id: bench
    type: HTTP
    cors:
      allow_origins: ['https://www.example.com', 'https://app.example.com', 'http://localhost:3000']
      allow_methods: [GET, POST, PUT, DELETE]
      allow_headers: [content-type, authorization, x-api-key]
      expose_headers: [x-request-id]
      max_age: 600
      allow_credentials: true
    routes:
      - route: GET /items
        integration: {type: MOCK, status: 200, body: '{"items":[]}', headers: {content-type: application/json}}
    stages: [{name: \$default}]
YAML
cat > "$WORK/route.yaml" <<YAML
server:
  account_throttle: {rate: 1.0e9, burst: 1.0e9}
listeners:
  - {name: bench, bind: 127.0.0.1:$ROUTE, default_api: bench}
apis:
  - id: bench
    type: HTTP
    routes:
      - route: OPTIONS /items
        integration:
          type: MOCK
          status: 204
          headers:
            access-control-allow-origin: https://app.example.com
            access-control-allow-credentials: 'true'
            access-control-allow-methods: GET,POST,PUT,DELETE
            access-control-allow-headers: content-type,authorization,x-api-key
            access-control-max-age: '600'
            vary: Origin
      - route: GET /items
        integration: {type: MOCK, status: 200, body: '{"items":[]}', headers: {content-type: application/json}}
    stages: [{name: \$default}]
YAML
"$BIN" check "$WORK/cors.yaml" > /dev/null
"$BIN" check "$WORK/route.yaml" > /dev/null
taskset -c "$GW_CPU" "$BIN" run --config "$WORK/cors.yaml" --workers 1 > "$WORK/cors.out" 2>&1 &
PIDS+=($!); CORS_PID=$!
taskset -c "$GW_CPU" "$BIN" run --config "$WORK/route.yaml" --workers 1 > "$WORK/route.out" 2>&1 &
PIDS+=($!); ROUTE_PID=$!
sleep 1.5

ARGS=(--header "Origin: https://app.example.com")
if [ "$MODE" = preflight ]; then
  ARGS+=(--method OPTIONS --header "Access-Control-Request-Method: PUT"
         --header "Access-Control-Request-Headers: content-type, x-api-key")
fi
cpu() { awk '{s+=$1} END {printf "%.0f", s}' /proc/"$1"/task/*/schedstat; }
load() { "$BIN" load --connections "$CONNECTIONS" --cpus "$LOAD_CPU" --quiet "${ARGS[@]}" "$@"; }
# Warm-up, and a check that both answer 2xx with the CORS headers' effect (a preflight's
# answer is 204 on "cors", whatever the MOCK route says on "route").
for side in cors route; do
  if [ $side = cors ]; then port=$CORS; else port=$ROUTE; fi
  out=$(load --duration 2s --warmup 0s --json "http://127.0.0.1:$port/items")
  python3 - "$side" "$out" <<'PY'
import json, sys
side, out = sys.argv[1:]
d = json.loads(out)
st = d["status"]
bad = {k: st[k] for k in ("1xx", "3xx", "4xx", "5xx", "other") if st[k]}
if bad or d["errors"]["total"]:
    sys.exit(f"{side}: non-2xx answers or errors in the warm-up: {out}")
PY
done
for r in $(seq "$ROUNDS"); do
  for v in cors route; do
    if [ $v = cors ]; then pid=$CORS_PID port=$CORS; else pid=$ROUTE_PID port=$ROUTE; fi
    s0=$(cpu "$pid")
    out=$(load --duration "$DURATION" --warmup 0s --json "http://127.0.0.1:$port/items")
    s1=$(cpu "$pid")
    python3 - "$MODE" "$r" "$v" "$s0" "$s1" "$out" <<'PY'
import json, sys
mode, r, v, s0, s1, out = sys.argv[1:]
d = json.loads(out)
n = d["requests"]
st = d["status"]
bad = {k: st[k] for k in ("1xx", "3xx", "4xx", "5xx", "other") if st[k]}
print(f"{mode:9s} round {r} {v:5s} req/s={d['requests_per_sec']:8.0f} "
      f"gateway cpu_us/req={(int(s1) - int(s0)) / 1000 / max(n, 1):6.2f}" + (f" NON-2XX {bad}" if bad else ""))
PY
  done
done
