#!/usr/bin/env bash
# perf/ctxswitch.sh: context switches and proxy CPU per 1 MiB request, both body directions:
# GET /1m.bin (the response body spliced upstream -> client) and POST /sink with a 1 MiB
# body (the request body spliced client -> upstream). tollgate (1 worker), its nginx
# upstream and `tollgate load` (16 keep-alive connections) all on CPU 0. Context switches
# are the voluntary + involuntary deltas of every thread of tollgate (/proc/PID/task/*/status),
# CPU the schedstat delta (perf/lib.sh cpu_ns), both over one measured run; the thread names
# seen afterwards show whether kernel worker threads (iou-wrk-*) ran.
#
# Builds nothing: it expects target/release/tollgate (or TOLLGATE=/path/to/binary).
# Environment knobs: DURATION=5s, UPSTREAM_PORT=18091, TOLLGATE_PORT=18093, CPU=0.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${TOLLGATE:-$ROOT/target/release/tollgate}
DURATION=${DURATION:-5s}
[[ $DURATION =~ ^[0-9.]+$ ]] && DURATION="${DURATION}s"
UP=${UPSTREAM_PORT:-18091}
GW=${TOLLGATE_PORT:-18093}
CPU=${CPU:-0}
for tool in nginx taskset python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is required" >&2; exit 2; }
done
if [[ ! -x $BIN ]]; then
  echo "$BIN not found: run 'make build' first" >&2
  exit 2
fi

# shellcheck source=perf/lib.sh
source "$ROOT/perf/lib.sh"
ports_free "$UP" "$GW"
scratch ctxswitch
mkdir -p "$WORK/www"
head -c 1048576 /dev/urandom >"$WORK/www/1m.bin"
head -c 1048576 /dev/urandom >"$WORK/body.bin"
chmod 755 "$WORK" "$WORK/www"
chmod 644 "$WORK/www/1m.bin"
cat >"$WORK/upstream.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/up.pid;
error_log $WORK/up.err;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_max_body_size 4m;
  server {
    listen 127.0.0.1:$UP;
    location = /sink { return 200 "ok\n"; }
    location / { root $WORK/www; }
  }
}
CONF
cat >"$WORK/tollgate.yaml" <<CONF
server:
  account_throttle: {rate: 1.0e9, burst: 1.0e9}
listeners:
  - name: bench
    bind: 127.0.0.1:$GW
    default_api: bench
apis:
  - id: bench
    type: HTTP
    routes:
      - route: \$default
        integration:
          type: HTTP_PROXY
          uri: http://127.0.0.1:$UP
    stages:
      - name: \$default
CONF

start upstream taskset -c "$CPU" nginx -p "$WORK" -e "$WORK/up.err" -c "$WORK/upstream.conf"
wait_port "$UP" "$LAST_PID" upstream
start tollgate taskset -c "$CPU" "$BIN" run --config "$WORK/tollgate.yaml" --workers 1
TG=$LAST_PID
wait_port "$GW" "$TG" tollgate

switches() {
  awk '/^voluntary_ctxt/ {v += $2} /^nonvoluntary_ctxt/ {n += $2} END {print v, n}' \
    /proc/"$TG"/task/*/status
}

measure() {
  local name=$1 v0 n0 v1 n1 c0 c1 json
  shift
  # Warm the connections and pipes, uncounted.
  taskset -c "$CPU" "$BIN" load "$@" --connections 16 --duration 1s --warmup 0 --quiet --json >/dev/null
  read -r v0 n0 <<<"$(switches)"
  c0=$(cpu_ns "$TG")
  json=$(taskset -c "$CPU" "$BIN" load "$@" --connections 16 --duration "$DURATION" --warmup 0 --quiet --json)
  read -r v1 n1 <<<"$(switches)"
  c1=$(cpu_ns "$TG")
  python3 - "$name" "$v0" "$n0" "$v1" "$n1" "$c0" "$c1" "$json" <<'PY'
import json, sys
name, v0, n0, v1, n1, c0, c1, text = sys.argv[1:9]
r = json.loads(text)
n = r["requests"]
failed = r["errors"]["total"] + (n - r["status"]["2xx"])
vol, inv = (int(v1) - int(v0)) / n, (int(n1) - int(n0)) / n
print(f"{name:9s} {n:6d} requests {r['requests_per_sec']:7.0f} req/s  failed {failed}  "
      f"context switches/request {vol + inv:.2f} ({vol:.2f} voluntary, {inv:.2f} involuntary)  "
      f"CPU {(int(c1) - int(c0)) / 1000 / n:.1f} µs/request")
PY
  echo "          threads: $(sort /proc/"$TG"/task/*/comm | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}')"
}

echo "tollgate ctxswitch: $BIN, DURATION=$DURATION, all on CPU $CPU, 16 connections"
measure "GET 1MiB" "http://127.0.0.1:$GW/1m.bin"
measure "POST 1MiB" "http://127.0.0.1:$GW/sink" --method POST --body-file "$WORK/body.bin"
