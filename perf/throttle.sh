#!/usr/bin/env bash
# perf/throttle.sh: what throttling costs and how exactly it limits, on a MOCK route (no
# upstream), with `tollgate load`, everything pinned to CPU 0 (see ../shared/BENCHMARKING.md).
#   1. requests/s with throttling "off" (only the account bucket, lifted out of reach) vs
#      "on" (four levels: usage-plan method, usage plan, stage, account, all above the
#      achievable rate), alternating rounds, 64 keep-alive connections;
#   2. admitted requests/s against a limit below the achievable rate (stage 2000 rps, burst
#      1000), with 1 and with 64 connections, 1 and 2 workers.
# Knobs: ROUNDS=3 DURATION=4 (seconds). Builds nothing: expects target/release/tollgate.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${TOLLGATE:-$ROOT/target/release/tollgate}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4}
PORT=${PORT:-18090}
[[ -x $BIN ]] || { echo "$BIN not found: run 'make build' first" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-throttle.XXXXXX")
PID=
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

config() { # $1 = extra stage keys, $2 = usage plan block, $3 = api_key_required
  cat <<YAML
server:
  account_throttle: {rate: 1.0e9, burst: 1.0e9}
  state_file: $WORK/state
listeners:
  - name: l
    bind: 127.0.0.1:$PORT
    default_api: a
apis:
  - id: a
    routes:
      - route: GET /x
        api_key_required: $3
        integration: {type: MOCK, body: ok}
    stages:
      - name: prod
$1
api_keys:
  - {id: k, value: throttle-bench-key-0123}
usage_plans:
$2
YAML
}
PLAN_HIGH='  - name: p
    throttle: {rate: 1.0e8, burst: 1.0e8}
    method_throttle: [{route: GET /x, rate: 1.0e8, burst: 1.0e8}]
    api_stages: [{api: a, stage: prod}]
    keys: [k]'
PLAN_NONE='  - name: p
    api_stages: [{api: a, stage: prod}]
    keys: [k]'
config "" "$PLAN_NONE" false >"$WORK/off.yaml"
config "        throttle: {rate: 1.0e8, burst: 1.0e8}
        method_throttle: [{route: GET /x, rate: 1.0e8, burst: 1.0e8}]" "$PLAN_HIGH" true >"$WORK/on.yaml"
config "        throttle: {rate: 2000, burst: 1000}" "$PLAN_NONE" false >"$WORK/limited.yaml"

start() { # config workers
  taskset -c 0 "$BIN" run --config "$1" --workers "$2" >"$WORK/gw.out" 2>&1 &
  PID=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0; sleep 0.05; done
  echo "gateway did not start" >&2; cat "$WORK/gw.out" >&2; exit 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }
load() { # connections -> "req/s 2xx/s"
  taskset -c 0 "$BIN" load "http://127.0.0.1:$PORT/prod/x" --connections "$1" --duration "${DURATION}s" \
    --warmup 1s --header 'x-api-key: throttle-bench-key-0123' --json --quiet |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print(round(r["requests_per_sec"]), r["status"]["2xx"], r["requests"])'
}

echo "1. throttling off vs on (4 levels above the achievable rate), 1 worker, 64 connections"
for ((r = 1; r <= ROUNDS; r++)); do
  for mode in off on; do
    start "$WORK/$mode.yaml" 1; read -r rps ok total <<<"$(load 64)"; stop
    echo "  round $r $mode: $rps req/s ($ok of $total 2xx)"
  done
done
echo "2. admitted rate against stage limit 2000 rps, burst 1000 (${DURATION}s runs, warm-up excluded)"
for workers in 1 2; do
  for conns in 1 64; do
    start "$WORK/limited.yaml" "$workers"; read -r rps ok total <<<"$(load "$conns")"; stop
    echo "  $workers worker(s), $conns connection(s): $((ok / DURATION)) admitted/s of $rps attempted/s (limit 2000/s; the burst is spent in the warm-up)"
  done
done
