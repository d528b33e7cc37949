#!/usr/bin/env bash
# An authorizer on vs off in one run, alternating rounds: two gateways (1 worker each, pinned
# to GW_CPU) serving the same HTTP_PROXY route to the demo upstream, one with the route open
# (authorization_type NONE), one behind the authorizer MODE; the demo upstream (also the JWT
# issuer and the Lambda-style authorizer endpoint) and the load generator on LOAD_CPU. For
# each round and each gateway: requests/s and the gateway's CPU time per request (all its
# threads, from /proc/PID/task/*/schedstat), first closed loop, then open loop at RATE.
#
#   MODE=jwt     HTTP API, JWT authorizer (RS256 token from `tollgate jwt sign`, keys from the
#                demo upstream's OIDC discovery): every request carries the same token, so
#                the verified-token cache answers after the first.
#   MODE=lambda  REST API, REQUEST authorizer on the demo upstream's /authorizer, result TTL
#                300 s: one call per worker, then cache hits.
#   MODE=iam     REST API, AWS_IAM with one principal; the client signs every request
#                (`tollgate load --sigv4`), the "off" side gets the same load unsigned.
#
#   usage: MODE=jwt perf/authorizers.sh [BIN]      (default target/release/tollgate)
# Knobs: ROUNDS=3 DURATION=5s RATE=10000 CONNECTIONS=64 GW_CPU=1 LOAD_CPU=0
#        UP_PORT=28381 OFF_PORT=28383 ON_PORT=28384
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/tollgate}
MODE=${MODE:-jwt}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
RATE=${RATE:-10000}
CONNECTIONS=${CONNECTIONS:-64}
GW_CPU=${GW_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
UP=${UP_PORT:-28381}
OFF=${OFF_PORT:-28383}
ON=${ON_PORT:-28384}
[ -x "$BIN" ] || { echo "no $BIN: make build first" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-authorizers.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

KEY_ID=AKIDBENCHEXAMPLE
SECRET=bench-secret-key-0123456789abcdef
printf '%s' "$SECRET" > "$WORK/secret"

# config PORT ON(0|1)
config() {
  local port=$1 on=$2 type=HTTP path=/ stage='$default' auth='' routeauth='' iam=''
  case $MODE in
    jwt)
      auth="    authorizers:
      - name: idp
        type: JWT
        jwt: {issuer: 'http://127.0.0.1:$UP', audience: [bench]}"
      routeauth="        authorization_type: JWT
        authorizer: idp" ;;
    lambda)
      type=REST stage=prod path=/prod/r
      auth="    authorizers:
      - name: lam
        type: REQUEST
        identity_source: [method.request.header.Authorization]
        lambda: {uri: 'http://127.0.0.1:$UP/authorizer', result_ttl: 300s}"
      routeauth="        authorization_type: CUSTOM
        authorizer: lam" ;;
    iam)
      type=REST stage=prod path=/prod/r
      iam="iam:
  principals:
    - {access_key_id: $KEY_ID, secret_access_key_file: $WORK/secret, arn: 'arn:aws:iam::123456789012:user/bench',
       policies: [{Version: '2012-10-17', Statement: [{Effect: Allow, Action: 'execute-api:Invoke', Resource: '*'}]}]}"
      routeauth="        authorization_type: AWS_IAM" ;;
    *) echo "MODE must be jwt, lambda or iam" >&2; exit 2 ;;
  esac
  [ "$on" = 1 ] || { auth=''; routeauth=''; }
  local route='$default'
  [ "$type" = REST ] && route='ANY /r'
  cat <<YAML
server:
  account_throttle: {rate: 1.0e9, burst: 1.0e9}
$iam
listeners:
  - name: bench
    bind: 127.0.0.1:$port
    default_api: bench
apis:
  - id: bench
    type: $type
$auth
    routes:
      - route: '$route'
$routeauth
        integration: {type: HTTP_PROXY, uri: "http://127.0.0.1:$UP/"}
    stages:
      - name: '$stage'
YAML
  echo "$path" > "$WORK/path"
}
config "$OFF" 0 > "$WORK/off.yaml"
config "$ON" 1 > "$WORK/on.yaml"
PATH_=$(cat "$WORK/path")
"$BIN" check "$WORK/on.yaml" > /dev/null
taskset -c "$LOAD_CPU" "$BIN" demo-upstream --bind "127.0.0.1:$UP" > "$WORK/up.out" 2>&1 &
PIDS+=($!)
sleep 0.3
taskset -c "$GW_CPU" "$BIN" run --config "$WORK/off.yaml" --workers 1 > "$WORK/off.out" 2>&1 &
PIDS+=($!); OFF_PID=$!
taskset -c "$GW_CPU" "$BIN" run --config "$WORK/on.yaml" --workers 1 > "$WORK/on.out" 2>&1 &
PIDS+=($!); ON_PID=$!
sleep 1.5
ON_ARGS=()
case $MODE in
  jwt) ON_ARGS=(--header "authorization: Bearer $("$BIN" jwt sign --iss "http://127.0.0.1:$UP" --aud bench --ttl 1h)") ;;
  lambda) ON_ARGS=(--header "authorization: allow") ;;
  iam) ON_ARGS=(--sigv4 "$KEY_ID:$SECRET:us-east-1") ;;
esac
OFF_ARGS=()
[ "$MODE" = lambda ] && OFF_ARGS=(--header "authorization: allow")
cpu() { awk '{s+=$1} END {printf "%.0f", s}' /proc/"$1"/task/*/schedstat; }
load() { "$BIN" load --connections "$CONNECTIONS" --cpus "$LOAD_CPU" --quiet "$@"; }
# Warm-up, and a check that both answer 2xx.
for side in off on; do
  if [ $side = off ]; then port=$OFF; args=("${OFF_ARGS[@]}"); else port=$ON; args=("${ON_ARGS[@]}"); fi
  out=$(load --duration 2s --warmup 0s --json "${args[@]}" "http://127.0.0.1:$port$PATH_")
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
for mode in closed "rate $RATE"; do
  extra=()
  [ "$mode" = closed ] || extra=(--rate "$RATE")
  for r in $(seq "$ROUNDS"); do
    for v in off on; do
      if [ $v = off ]; then pid=$OFF_PID port=$OFF; args=("${OFF_ARGS[@]}"); else pid=$ON_PID port=$ON; args=("${ON_ARGS[@]}"); fi
      s0=$(cpu "$pid")
      out=$(load --duration "$DURATION" --warmup 0s --json "${extra[@]}" "${args[@]}" "http://127.0.0.1:$port$PATH_")
      s1=$(cpu "$pid")
      python3 - "$MODE" "$mode" "$r" "$v" "$s0" "$s1" "$out" <<'PY'
import json, sys
auth, mode, r, v, s0, s1, out = sys.argv[1:]
d = json.loads(out)
n = d["requests"]
st = d["status"]
bad = {k: st[k] for k in ("1xx", "3xx", "4xx", "5xx", "other") if st[k]}
print(f"{auth:6s} {mode:12s} round {r} authorizer {v:3s} req/s={d['requests_per_sec']:8.0f} "
      f"gateway cpu_us/req={(int(s1) - int(s0)) / 1000 / n:6.2f}" + (f" NON-2XX {bad}" if bad else ""))
PY
    done
  done
done
