#!/usr/bin/env bash
# perf/cache.sh: what the stage cache buys. The same fixed nginx upstream behind tollgate and
# behind nginx; each proxy serves a cached route and an uncached (proxied) route to it:
#   tollgate: stage cache (REST API, GET /prod/cached/{p+} cached, /prod/proxied/{p+} not)
#   nginx:    proxy_cache on /prod/cached/, plain proxy_pass on /prod/proxied/
# Per body size, alternating rounds of: tollgate hit, tollgate proxied, nginx hit, nginx
# proxied, driven by `tollgate load` (64 keep-alive connections, one URL, so every request
# after the first is a hit). Prints medians of req/s and proxy CPU per request, and the
# ratios hits/proxied (target >= 2x) and tollgate hits / nginx hits.
# Everything pinned to CPU 0 (see ../shared/BENCHMARKING.md). Builds nothing: expects
# target/release/tollgate. Knobs: ROUNDS=5 DURATION=4 WARMUP=1 SIZES="small 16k"
# CONNECTIONS=64 CPUS=0.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${TOLLGATE:-$ROOT/target/release/tollgate}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-4}
WARMUP=${WARMUP:-1}
SIZES=${SIZES:-small 16k}
CONNECTIONS=${CONNECTIONS:-64}
CPUS=${CPUS:-0}
UP_PORT=18181 NGINX_PORT=18182 TG_PORT=18183
[[ $DURATION =~ ^[0-9]+$ ]] && DURATION="${DURATION}s"
[[ $WARMUP =~ ^[0-9]+$ ]] && WARMUP="${WARMUP}s"
command -v nginx >/dev/null || { echo "nginx is not installed: apt-get install nginx" >&2; exit 2; }
[[ -x $BIN ]] || { echo "$BIN not found: run 'make build' first" >&2; exit 2; }
# shellcheck source=perf/lib.sh
source "$ROOT/perf/lib.sh"
ports_free $UP_PORT $NGINX_PORT $TG_PORT
scratch cache

mkdir -p "$WORK/www" "$WORK/nginx-cache"
head -c 16384 /dev/urandom >"$WORK/www/16k"
printf 'hello from the upstream\n' >"$WORK/www/small"
chmod -R a+rwX "$WORK"

cat >"$WORK/upstream.conf" <<NGINX
worker_processes 1;
daemon off;
pid $WORK/up.pid;
error_log $WORK/up.err;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  server { listen 127.0.0.1:$UP_PORT; location / { root $WORK/www; } }
}
NGINX
cat >"$WORK/proxy.conf" <<NGINX
worker_processes 1;
daemon off;
pid $WORK/proxy.pid;
error_log $WORK/proxy.err;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream up { server 127.0.0.1:$UP_PORT; keepalive 256; keepalive_requests 1000000; }
  proxy_cache_path $WORK/nginx-cache keys_zone=stage:16m max_size=512m inactive=10m;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    location /prod/cached/ {
      proxy_pass http://up/;
      proxy_cache stage;
      proxy_cache_valid 200 300s;
      proxy_cache_lock on;
      proxy_cache_key "\$request_method \$uri";
    }
    location /prod/proxied/ { proxy_pass http://up/; }
  }
}
NGINX
cat >"$WORK/tollgate.yaml" <<YAML
server:
  account_throttle: {rate: 1.0e9, burst: 1.0e9}
  state_file: $WORK/state
listeners:
  - {name: bench, bind: 127.0.0.1:$TG_PORT, default_api: bench}
apis:
  - id: bench
    routes:
      - route: GET /cached/{p+}
        integration: {type: HTTP_PROXY, uri: "http://127.0.0.1:$UP_PORT/{p}"}
        cache_key_parameters: [method.request.path.p]
      - route: GET /proxied/{p+}
        integration: {type: HTTP_PROXY, uri: "http://127.0.0.1:$UP_PORT/{p}"}
    stages:
      - name: prod
        cache:
          ttl: 3600s
          method_settings:
            - {route: "GET /proxied/{p+}", enabled: false}
YAML

start upstream taskset -c "$CPUS" nginx -p "$WORK" -e "$WORK/up.err" -c "$WORK/upstream.conf"
wait_port $UP_PORT "$LAST_PID" upstream
start nginx taskset -c "$CPUS" nginx -p "$WORK" -e "$WORK/proxy.err" -c "$WORK/proxy.conf"
NGINX_PID=$LAST_PID
wait_port $NGINX_PORT "$NGINX_PID" nginx
start tollgate taskset -c "$CPUS" "$BIN" run --config "$WORK/tollgate.yaml" --workers 1
TG_PID=$LAST_PID
wait_port $TG_PORT "$TG_PID" tollgate
sleep 0.2
# nginx's worker and cache manager processes (its master only supervises; the cache loader
# exits after its first pass and is not counted).
NGINX_WORKERS=
for kid in $(cat /proc/"$NGINX_PID"/task/*/children); do
  case $(tr '\0' ' ' </proc/"$kid"/cmdline 2>/dev/null) in
    *"worker process"* | *"cache manager"*) NGINX_WORKERS="$NGINX_WORKERS $kid" ;;
  esac
done
[[ -n $NGINX_WORKERS ]] || { echo "nginx started no workers" >&2; exit 1; }

run_one() { # size target kind round duration
  local size=$1 target=$2 kind=$3 round=$4 duration=$5 port pids before after json
  if [[ $target == tollgate ]]; then port=$TG_PORT pids=$TG_PID; else port=$NGINX_PORT pids=$NGINX_WORKERS; fi
  # shellcheck disable=SC2086
  before=$(cpu_ns $pids)
  json=$(taskset -c "$CPUS" "$BIN" load "http://127.0.0.1:$port/prod/$kind/$size" \
    --connections "$CONNECTIONS" --duration "$duration" --warmup 0 --json --quiet)
  # shellcheck disable=SC2086
  after=$(cpu_ns $pids)
  python3 - "$size" "$target" "$kind" "$round" "$before" "$after" "$json" >>"$WORK/results" <<'PY'
import json, sys
size, target, kind, rnd, before, after, text = sys.argv[1:8]
r = json.loads(text)
n = r["requests"]
cpu = (int(after) - int(before)) / 1000 / n if n else float("nan")
failed = r["errors"]["total"] + (n - r["status"]["2xx"])
print(size, target, kind, rnd, f'{r["requests_per_sec"]:.1f}', f"{cpu:.3f}", failed)
PY
}

echo "tollgate cache: ROUNDS=$ROUNDS DURATION=$DURATION CONNECTIONS=$CONNECTIONS, all on CPU $CPUS; $(nginx -v 2>&1)"
for size in $SIZES; do
  for t in tollgate nginx; do for k in cached proxied; do run_one "$size" $t $k warmup "$WARMUP"; done; done
  for ((round = 1; round <= ROUNDS; round++)); do
    if ((round % 2)); then order="tollgate nginx"; else order="nginx tollgate"; fi
    for t in $order; do for k in cached proxied; do run_one "$size" "$t" $k "$round" "$DURATION"; done; done
  done
  python3 - "$size" "$WORK/results" <<'PY'
import statistics, sys
size, path = sys.argv[1:3]
rows = [l.split() for l in open(path)]
rows = [r for r in rows if r[0] == size and r[3] != "warmup"]
def med(t, k, i):
    return statistics.median(float(r[i]) for r in rows if r[1] == t and r[2] == k)
print(f"\nGET /prod/{{cached,proxied}}/{size}: medians of {len(rows) // 4} rounds")
print(f"{'':22s} {'req/s':>10s} {'CPU µs/req':>11s} {'failed':>7s}")
m = {}
for t in ("tollgate", "nginx"):
    for k in ("cached", "proxied"):
        m[t, k] = (med(t, k, 4), med(t, k, 5))
        failed = sum(int(r[6]) for r in rows if r[1] == t and r[2] == k)
        label = f"{t} {'hit' if k == 'cached' else 'proxied'}"
        print(f"{label:22s} {m[t, k][0]:10.0f} {m[t, k][1]:11.2f} {failed:7d}")
for t in ("tollgate", "nginx"):
    print(f"{t} hits / proxied: req/s {m[t, 'cached'][0] / m[t, 'proxied'][0]:.2f}x, "
          f"CPU per request {m[t, 'cached'][1] / m[t, 'proxied'][1]:.2f}x")
print(f"tollgate hits / nginx proxy_cache hits: req/s {m['tollgate', 'cached'][0] / m['nginx', 'cached'][0]:.2f}x, "
      f"CPU per request {m['tollgate', 'cached'][1] / m['nginx', 'cached'][1]:.2f}x")
PY
done
