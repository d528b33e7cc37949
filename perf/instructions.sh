#!/usr/bin/env bash
# User-space instructions per request, counted by valgrind's callgrind (exact and repeatable:
# they do not depend on how busy the machine is), for tollgate and for nginx in the same run.
#
# tollgate (1 worker) runs under `valgrind --tool=callgrind`: an HTTP API whose `$default`
# route proxies to the built-in demo upstream, and a REST API (stage `prod`) with a cached
# proxy route and a MOCK route. nginx (1 worker, `master_process off` so the one process under
# valgrind is the one serving) runs under callgrind the same way, with the fair reverse-proxy
# settings of perf/nginx-proxy.conf.in (upstream keepalive, HTTP/1.1, access_log off),
# `proxy_cache` for the cache hit and `return 200` for the MOCK route. The upstream is the
# same demo upstream, not under valgrind. For each workload: a warm-up (which also fills the
# caches), then `callgrind_control -z` (zero), N requests from the fixed client (`tollgate
# load`, one connection), `callgrind_control -d` (dump) and the dump's total divided by N.
# Counts are never taken at exit (under valgrind a SIGTERM reaches the process much later).
# Every response must be a 2xx and exactly N must arrive, or the script fails.
#
# Workloads (SCENARIOS, default all five):
#   keepalive  GET / through the HTTP API `$default` route, keep-alive (the headline figure)
#   newconn    the same, a new connection per request (Connection: close)
#   16k        GET / with `x-echo-size: 16384`: a 16 KiB response body, keep-alive
#   cache      GET /prod/cached/x, a stage cache hit (nginx: a proxy_cache hit)
#   mock       GET /prod/mock, a MOCK integration (nginx: `return 200` with the same body)
#
#   usage: perf/instructions.sh [BIN]      (default target/release/tollgate)
# Knobs:
#   SCENARIOS="keepalive newconn 16k cache mock"
#   NGINX=1         0: tollgate only (no nginx column)
#   N=20000         requests for the keep-alive small GET (the headline figure)
#   N_OTHER=5000    requests for 16k, cache and mock;  N_NEWCONN=2000 for newconn
#   WARMUP_N=2000   warm-up requests before each workload (they also fill the caches)
#   UP_PORT=18191 NGINX_PORT=18192 GW_PORT=18193 REST_PORT=18194
#   CG_OUT=FILE     keep the tollgate keep-alive profile (for callgrind_annotate)
#   CG_DIR=DIR      keep every profile as DIR/{tollgate,nginx}-WORKLOAD.cg
#   ACCESS_LOG=FMT  tollgate's stages write an access log in format FMT (e.g. json) to a file
# Single-figure mode (the old behaviour, about a minute): SCENARIOS=keepalive NGINX=0. Every run
# ends with the line "instructions per request: N (...)" for tollgate's keep-alive GET when
# that workload ran. A full run takes about 2 minutes (under 5 on a busy machine).
# io_uring work done in the kernel is not counted (see ../shared/BENCHMARKING.md).
set -euo pipefail
trap 'echo "perf/instructions.sh: line $LINENO: a command failed (exit $?)" >&2' ERR
cd "$(dirname "$0")/.."
. perf/lib.sh
BIN=${1:-target/release/tollgate}
SCENARIOS=${SCENARIOS:-keepalive newconn 16k cache mock}
NGINX=${NGINX:-1}
N=${N:-20000}
N_OTHER=${N_OTHER:-5000}
N_NEWCONN=${N_NEWCONN:-2000}
WARMUP_N=${WARMUP_N:-2000}
UP=${UP_PORT:-18191}
NG=${NGINX_PORT:-18192}
GW=${GW_PORT:-18193}
RS=${REST_PORT:-18194}
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null \
  || { echo "valgrind is needed: apt-get install valgrind (or make bench-deps)" >&2; exit 2; }
[ -x "$BIN" ] || { echo "no $BIN: make build first" >&2; exit 2; }
if [ "$NGINX" = 1 ] && ! command -v nginx >/dev/null; then
  echo "nginx is needed for the nginx column: apt-get install nginx (or make bench-deps)," \
    "or NGINX=0 for tollgate alone" >&2
  exit 2
fi
for s in $SCENARIOS; do
  case $s in keepalive | newconn | 16k | cache | mock) ;;
    *) echo "unknown workload '$s' (keepalive newconn 16k cache mock)" >&2; exit 2 ;;
  esac
done
ports_free "$UP" "$GW" "$RS"
[ "$NGINX" = 1 ] && ports_free "$NG"
scratch instructions
MOCK_BODY='{"message":"hello from tollgate"}'
AL=""
if [ -n "${ACCESS_LOG:-}" ]; then
  AL="        access_log: {destination: $WORK/access.log, format: $ACCESS_LOG}"
fi
cat > "$WORK/gateway.yaml" <<YAML
server:
  account_throttle: {rate: 1.0e9, burst: 1.0e9}
listeners:
  - name: bench
    bind: 127.0.0.1:$GW
    default_api: bench
  - name: rest
    bind: 127.0.0.1:$RS
    default_api: rest
apis:
  - id: bench
    type: HTTP
    routes:
      - route: \$default
        integration: {type: HTTP_PROXY, uri: "http://127.0.0.1:$UP"}
    stages:
      - name: \$default
$AL
  - id: rest
    type: REST
    routes:
      - route: GET /cached/{p+}
        integration: {type: HTTP_PROXY, uri: "http://127.0.0.1:$UP/{p}"}
        cache_key_parameters: [method.request.path.p]
      - route: GET /mock
        integration:
          type: MOCK
          status: 200
          headers: {content-type: application/json}
          body: '$MOCK_BODY'
    stages:
      - name: prod
$AL
        cache:
          ttl: 3600s
          method_settings:
            - {route: "GET /mock", enabled: false}
YAML
mkdir -p "$WORK/nginx-cache"
chmod -R a+rwX "$WORK"
cat > "$WORK/nginx.conf" <<NGINX
# perf/nginx-proxy.conf.in's settings; master_process off: one process serves (under valgrind).
worker_processes 1;
master_process off;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream up { server 127.0.0.1:$UP; keepalive 1024; keepalive_requests 1000000; }
  proxy_cache_path $WORK/nginx-cache keys_zone=stage:16m max_size=512m inactive=10m;
  server {
    listen 127.0.0.1:$NG;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_max_temp_file_size 0;
    location / { proxy_pass http://up; }
    location /prod/cached/ {
      proxy_pass http://up/;
      proxy_cache stage;
      proxy_cache_valid 200 3600s;
      proxy_cache_key "\$request_method \$uri";
    }
    location = /prod/mock { default_type application/json; return 200 '$MOCK_BODY'; }
  }
}
NGINX

start upstream "$BIN" demo-upstream --bind "127.0.0.1:$UP"
wait_port "$UP" "$LAST_PID" upstream
# vgdb's FIFOs (callgrind_control talks through them) go into the scratch directory.
VGDB=--vgdb-prefix=$WORK/vgdb
start tollgate valgrind --tool=callgrind $VGDB --callgrind-out-file="$WORK/cg.%p" \
  "$BIN" run --config "$WORK/gateway.yaml" --workers 1
TG_PID=$LAST_PID
NG_PID=
if [ "$NGINX" = 1 ]; then
  start nginx valgrind --tool=callgrind $VGDB --callgrind-out-file="$WORK/cg.%p" \
    nginx -p "$WORK" -e "$WORK/nginx.err" -c "$WORK/nginx.conf"
  NG_PID=$LAST_PID
fi
# Under valgrind start-up takes seconds: up to 60 s each.
wait_slow() { # port pid name
  local i
  for i in $(seq 1 600); do
    port_open "$1" && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "$3 did not start on :$1:" >&2
  cat "$WORK/$3.out" >&2
  [ "$3" = nginx ] && cat "$WORK/nginx.err" >&2
  exit 1
}
wait_slow "$GW" "$TG_PID" tollgate
wait_slow "$RS" "$TG_PID" tollgate
[ -n "$NG_PID" ] && wait_slow "$NG" "$NG_PID" nginx

# The URL path, the load options and the request count of a workload.
url_path() {
  case $1 in
    keepalive | newconn | 16k) echo / ;;
    cache) echo /prod/cached/x ;;
    mock) echo /prod/mock ;;
  esac
}
load_args() { # into the array ARGS
  case $1 in
    newconn) ARGS=(--new-connection) ;;
    16k) ARGS=(--header "x-echo-size: 16384") ;;
    *) ARGS=() ;;
  esac
}
count() { case $1 in keepalive) echo "$N" ;; newconn) echo "$N_NEWCONN" ;; *) echo "$N_OTHER" ;; esac; }
port_of() { # workload target
  if [ "$2" = nginx ]; then echo "$NG"; else case $1 in cache | mock) echo "$RS" ;; *) echo "$GW" ;; esac; fi
}

# How many dumps callgrind wrote for PID so far.
dumps() { local f=("$WORK"/cg."$1".*); [ -e "${f[0]}" ] && echo "${#f[@]}" || echo 0; }

# Drive one workload against one target under callgrind; appends
# "workload target requests instructions bytes_per_response" to $WORK/results.
measure() { # workload target pid
  local w=$1 t=$2 pid=$3 n port url before total file
  n=$(count "$w")
  port=$(port_of "$w" "$t")
  url="http://127.0.0.1:$port$(url_path "$w" "$t")"
  load_args "$w"
  "$BIN" load "$url" "${ARGS[@]}" --connections 1 --requests "$WARMUP_N" --warmup 0s --quiet \
    --json >"$WORK/warmup.json" || { echo "$t $w: the warm-up failed" >&2; cat "$WORK/warmup.json" >&2; exit 1; }
  before=$(dumps "$pid")
  callgrind_control $VGDB -z "$pid" >/dev/null 2>&1 || { echo "callgrind_control -z $pid failed" >&2; exit 1; }
  "$BIN" load "$url" "${ARGS[@]}" --connections 1 --requests "$n" --warmup 0s --quiet \
    --json >"$WORK/load.json" || true
  callgrind_control $VGDB -d "$pid" >/dev/null 2>&1 || { echo "callgrind_control -d $pid failed" >&2; exit 1; }
  file=
  for _ in $(seq 1 200); do
    if [ "$(dumps "$pid")" -gt "$before" ]; then
      file=$(ls -t "$WORK"/cg."$pid".* | head -1)
      grep -qE '^(summary|totals):' "$file" && break
    fi
    sleep 0.1
  done
  [ -n "$file" ] || { echo "$t $w: callgrind wrote no dump" >&2; exit 1; }
  total=$(grep -hE '^(summary|totals):' "$file" | head -1 | awk '{print $2}')
  [ -n "${CG_DIR:-}" ] && mkdir -p "$CG_DIR" && cp "$file" "$CG_DIR/$t-$w.cg"
  [ "$t/$w" = tollgate/keepalive ] && [ -n "${CG_OUT:-}" ] && cp "$file" "$CG_OUT"
  python3 - "$w" "$t" "$n" "$total" "$WORK/load.json" >>"$WORK/results" <<'PY'
import json, sys
w, t, n, total, path = sys.argv[1:6]
n = int(n)
try:
    r = json.load(open(path))
except ValueError:
    sys.exit(f"{t} {w}: the load generator printed no report:\n{open(path).read()}")
ok = r["status"]["2xx"]
if r["requests"] != n or ok != n or r["errors"]["total"]:
    sys.exit(f"{t} {w}: {r['requests']} requests, {ok} 2xx, {r['errors']['total']} errors "
             f"(expected {n} 2xx): {json.dumps(r['errors'])} {json.dumps(r['status'])}")
print(w, t, n, total, round(r["bytes"] / n) if "bytes" in r else "?")
PY
}

for w in $SCENARIOS; do
  measure "$w" tollgate "$TG_PID"
  [ -n "$NG_PID" ] && measure "$w" nginx "$NG_PID"
done

python3 - "$WORK/results" "$BIN" "$(nginx -v 2>&1 | sed 's/.*version: //')" <<'PY'
import sys
path, binary, ngv = sys.argv[1:4]
rows = {}
for line in open(path):
    w, t, n, total, size = line.split()
    rows[w, t] = (int(n), int(total), size)
titles = {
    "keepalive": "small GET, keep-alive",
    "newconn": "small GET, new connection per request",
    "16k": "16 KiB response body, keep-alive",
    "cache": "cache hit (stage cache / proxy_cache)",
    "mock": "MOCK route (nginx: return 200)",
}
order = [w for w in titles if (w, "tollgate") in rows]
nginx = any(t == "nginx" for _, t in rows)
if len(order) == 1 and not nginx:
    pass  # single-figure mode: only the closing line
else:
    print(f"user-space instructions per request (callgrind; 1 worker; {binary}"
          + (f"; {ngv}" if nginx else "") + ")")
    head = f"{'workload':40s} {'requests':>8s} {'tollgate':>10s}"
    if nginx:
        head += f" {'nginx':>10s} {'tollgate/nginx':>15s}"
    head += "  bytes/response" + (" (tollgate, nginx)" if nginx else "")
    print(head)
    for w in order:
        n, total, size = rows[w, "tollgate"]
        line = f"{titles[w]:40s} {n:8d} {total // n:10,d}"
        if (w, "nginx") in rows:
            nn, nt, nsize = rows[w, "nginx"]
            line += f" {nt // nn:10,d} {(total / n) / (nt / nn):14.2f}x  {size}, {nsize}"
        else:
            line += f"  {size}"
        print(line)
if ("keepalive", "tollgate") in rows:
    n, total, size = rows["keepalive", "tollgate"]
    print(f"instructions per request: {total // n}  ({total} over {n} requests; load report "
          f"ok={n}; {binary})")
PY
