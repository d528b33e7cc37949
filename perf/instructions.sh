#!/usr/bin/env bash
# User-space instructions per proxied request, counted by valgrind's callgrind (exact and
# repeatable: they do not depend on how busy the machine is). tollgate (1 worker) proxies an
# HTTP API `$default` route to the built-in demo upstream; after a warm-up the counters are
# zeroed, N keep-alive GETs of `/` are sent by `tollgate load` on one connection, and the
# counters are dumped. Only the gateway process runs under valgrind.
#   usage: perf/instructions.sh [BIN]      (default target/release/tollgate; N=20000;
#          CG_OUT=FILE keeps the profile for callgrind_annotate)
# io_uring work done in the kernel is not counted (see ../shared/BENCHMARKING.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
BIN=${1:-target/release/tollgate}
N=${N:-20000}
UP=${UP_PORT:-18191}
GW=${GW_PORT:-18193}
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null \
  || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
[ -x "$BIN" ] || { echo "no $BIN: make build first" >&2; exit 2; }
ports_free "$UP" "$GW"
scratch instructions
cat > "$WORK/gateway.yaml" <<YAML
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
        integration: {type: HTTP_PROXY, uri: "http://127.0.0.1:$UP"}
    stages:
      - name: \$default
YAML
start upstream "$BIN" demo-upstream --bind "127.0.0.1:$UP"
start gateway valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.%p" \
  "$BIN" run --config "$WORK/gateway.yaml" --workers 1
gw=$LAST_PID
for _ in $(seq 1 600); do port_open "$GW" && break; sleep 0.1; done
port_open "$GW" || { echo "the gateway did not start:" >&2; cat "$WORK/gateway.out" >&2; exit 1; }
"$BIN" load "http://127.0.0.1:$GW/" --connections 1 --requests 2000 --warmup 0s --quiet >/dev/null
callgrind_control -z "$gw" >/dev/null 2>&1
"$BIN" load "http://127.0.0.1:$GW/" --connections 1 --requests "$N" --warmup 0s --quiet \
  --json >"$WORK/load.json"
callgrind_control -d "$gw" >/dev/null 2>&1
for _ in $(seq 1 100); do ls "$WORK"/cg."$gw".* >/dev/null 2>&1 && break; sleep 0.1; done
total=$(grep -hE '^(summary|totals):' "$WORK"/cg."$gw".* | head -1 | awk '{print $2}')
ok=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r.get("ok", r.get("requests", "?")))' "$WORK/load.json" 2>/dev/null || echo "?")
# CG_OUT=FILE keeps the callgrind profile for callgrind_annotate.
[ -n "${CG_OUT:-}" ] && cp "$(ls "$WORK"/cg."$gw".* | head -1)" "$CG_OUT"
echo "instructions per request: $((total / N))  ($total over $N requests; load report ok=$ok; $BIN)"
