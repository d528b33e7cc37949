#!/usr/bin/env bash
# One wrk run against URL, reporting requests/s, latency and the CPU time the process PID
# (all its threads) spent per request, from /proc/PID/task/*/schedstat.
# usage: perf/cpu-per-request.sh NAME PID URL [wrk args...]   (wrk runs pinned to CPU 0)
set -euo pipefail
name=$1; pid=$2; url=$3; shift 3
cpu() { awk '{s+=$1} END {printf "%.0f", s}' /proc/"$pid"/task/*/schedstat; }
out=$(mktemp)
s0=$(cpu); taskset -c 0 wrk "$@" "$url" > "$out"; s1=$(cpu)
python3 - "$name" "$s0" "$s1" "$out" <<'PY'
import re, sys
name, s0, s1, f = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
t = open(f).read()
req = int(re.search(r'(\d+) requests in', t).group(1))
rps = float(re.search(r'Requests/sec:\s+([\d.]+)', t).group(1))
mean = re.search(r'Latency\s+(\S+)', t).group(1)
p99 = re.search(r'99%\s+(\S+)', t)
non2xx = re.search(r'Non-2xx[^:]*:\s*(\d+)', t)
print(f"{name:10s} rps={rps:9.0f} cpu_us/req={(s1 - s0) / 1000 / req:7.2f} mean={mean} "
      f"p99={p99.group(1) if p99 else '-'} non2xx={non2xx.group(1) if non2xx else 0}")
PY
rm -f "$out"
