# perf/lib.sh: what the load scripts share (sourced, not run). The sourcing script sets
# nothing beforehand; call `scratch NAME` once to get $WORK and the clean-up traps.

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Refuse to start when any of the given ports is taken.
ports_free() {
  local port
  for port in "$@"; do
    if port_open "$port"; then
      echo "port $port is already in use; stop whatever listens there first" >&2
      exit 2
    fi
  done
}

# A scratch directory $WORK, removed at exit with every process `start` started.
PIDS=()
scratch() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-$1.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}

# Start a long-running process in the background (output in $WORK/LOG.out); its PID is
# remembered for the clean-up and left in LAST_PID.
start() {
  local log=$1; shift
  "$@" >"$WORK/$log.out" 2>&1 &
  PIDS+=("$!")
  LAST_PID=$!
}

# Wait until PORT listens; fail with NAME's output if PID exits first or 10 s pass.
wait_port() {
  local port=$1 pid=$2 name=$3 i
  for ((i = 0; i < 200; i++)); do
    port_open "$port" && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited during start-up:" >&2
      cat "$WORK/$name.out" "$WORK"/*.err 2>/dev/null >&2 || true
      exit 1
    fi
    sleep 0.05
  done
  echo "$name did not listen on :$port within 10 s" >&2
  exit 1
}

# Nanoseconds on CPU of every thread of the given processes.
cpu_ns() {
  local pid files=()
  for pid in "$@"; do files+=(/proc/"$pid"/task/*/schedstat); done
  awk '{s += $1} END {printf "%.0f", s}' "${files[@]}"
}
