#!/usr/bin/env bash
# Access log off vs on in one run, alternating rounds: two gateways (1 worker each, pinned to
# GW_CPU) that differ only in the `$default` stage's `access_log` (FORMAT to a file), the demo
# upstream and the load generator on LOAD_CPU. For each round and each gateway: requests/s
# and the gateway's CPU time per request (all its threads, from /proc/PID/task/*/schedstat),
# first closed loop, then open loop at RATE (the fair CPU comparison: the same work per second).
#   usage: perf/access-log.sh [BIN]        (default target/release/tollgate)
# Knobs: ROUNDS=3 DURATION=5s RATE=15000 FORMAT=json CONNECTIONS=64 GW_CPU=1 LOAD_CPU=0
#        UP_PORT=28281 OFF_PORT=28283 ON_PORT=28284
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/tollgate}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
RATE=${RATE:-15000}
FORMAT=${FORMAT:-json}
CONNECTIONS=${CONNECTIONS:-64}
GW_CPU=${GW_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
UP=${UP_PORT:-28281}
OFF=${OFF_PORT:-28283}
ON=${ON_PORT:-28284}
[ -x "$BIN" ] || { echo "no $BIN: make build first" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-access-log.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
config() { # PORT ACCESS_LOG_LINE
  cat <<YAML
server:
  account_throttle: {rate: 1.0e9, burst: 1.0e9}
listeners:
  - name: bench
    bind: 127.0.0.1:$1
    default_api: bench
apis:
  - id: bench
    type: HTTP
    routes:
      - route: \$default
        integration: {type: HTTP_PROXY, uri: "http://127.0.0.1:$UP"}
    stages:
      - name: \$default
$2
YAML
}
config "$OFF" "" > "$WORK/off.yaml"
config "$ON" "        access_log: {destination: $WORK/access.log, format: '$FORMAT'}" > "$WORK/on.yaml"
taskset -c "$LOAD_CPU" "$BIN" demo-upstream --bind "127.0.0.1:$UP" > "$WORK/up.out" 2>&1 &
PIDS+=($!)
taskset -c "$GW_CPU" "$BIN" run --config "$WORK/off.yaml" --workers 1 > "$WORK/off.out" 2>&1 &
PIDS+=($!); OFF_PID=$!
taskset -c "$GW_CPU" "$BIN" run --config "$WORK/on.yaml" --workers 1 > "$WORK/on.out" 2>&1 &
PIDS+=($!); ON_PID=$!
sleep 1
cpu() { awk '{s+=$1} END {printf "%.0f", s}' /proc/"$1"/task/*/schedstat; }
load() { "$BIN" load --connections "$CONNECTIONS" --cpus "$LOAD_CPU" --quiet "$@"; }
load --duration 2s "http://127.0.0.1:$OFF/" > /dev/null
load --duration 2s "http://127.0.0.1:$ON/" > /dev/null
for mode in closed "rate $RATE"; do
  extra=()
  [ "$mode" = closed ] || extra=(--rate "$RATE")
  for r in $(seq "$ROUNDS"); do
    for v in off on; do
      if [ $v = off ]; then pid=$OFF_PID port=$OFF; else pid=$ON_PID port=$ON; fi
      s0=$(cpu "$pid")
      out=$(load --duration "$DURATION" --warmup 0s --json "${extra[@]}" "http://127.0.0.1:$port/")
      s1=$(cpu "$pid")
      python3 - "$mode" "$r" "$v" "$s0" "$s1" "$out" <<'PY'
import json, sys
mode, r, v, s0, s1, out = sys.argv[1:]
d = json.loads(out)
n = d["requests"]
print(f"{mode:12s} round {r} access log {v:3s} req/s={d['requests_per_sec']:8.0f} "
      f"gateway cpu_us/req={(int(s1) - int(s0)) / 1000 / n:6.2f}")
PY
    done
  done
done
echo "access log lines written: $(wc -l < "$WORK/access.log")"
