# tollgate — the two commands: `make run` and `make test`.
CARGO        ?= cargo
CONFIG       ?= examples/quickstart.yaml
DEMO_UPSTREAM ?= 127.0.0.1:9090
BIN          := target/release/tollgate

PROBES := probe_framing probe_request probe_response probe_tls probe_config probe_behaviour probe_lifecycle

.PHONY: all build run test test-deps bench-deps probes check lint fmt bench perf perf-cache perf-instructions certs clean

all: build

build:
	$(CARGO) build --release

# Build, validate $(CONFIG), start the demo upstream on $(DEMO_UPSTREAM) and the gateway
# in the foreground. Ctrl-C stops both.
run: build
	@certs/gen.sh >/dev/null
	$(BIN) check $(CONFIG)
	@$(BIN) demo-upstream --bind $(DEMO_UPSTREAM) & up=$$!; \
	trap 'kill $$up 2>/dev/null' EXIT; trap '' INT; \
	$(BIN) run --config $(CONFIG); rc=$$?; \
	kill $$up 2>/dev/null; wait $$up 2>/dev/null; exit $$rc

# The whole suite: unit tests, integration tests against the real binary, doc tests.
test: test-deps
	$(CARGO) test --all-targets
	$(CARGO) test --doc

# The CLI tools the tests run (certificates, interop checks, HTTP/2 load), as tool:package;
# a missing one fails its tests, so install them when absent (Debian/Ubuntu, as root or with
# sudo).
TEST_TOOLS := openssl:openssl curl:curl h2load:nghttp2-client
# moto's server mode (AWS service integrations' tests, tests/common/moto.rs): pinned, in a
# virtual environment under target/ (python3 is all it needs; Debian's python3-venv is
# installed when python3 cannot make one).
MOTO_VERSION := 5.2.5
MOTO_VENV    := target/moto-venv
test-deps:
	@missing=; for tp in $(TEST_TOOLS); do t=$${tp%%:*}; p=$${tp#*:}; command -v $$t >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing test tools:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo apt-get update && $$sudo apt-get install -y --no-install-recommends $$missing; \
	fi
	@if [ ! -x $(MOTO_VENV)/bin/moto_server ] || \
	   ! $(MOTO_VENV)/bin/python -c 'import sys, moto; sys.exit(moto.__version__ != "$(MOTO_VERSION)")' 2>/dev/null; then \
	  echo "installing moto[server] $(MOTO_VERSION) into $(MOTO_VENV)"; \
	  rm -rf $(MOTO_VENV); \
	  if ! python3 -m venv $(MOTO_VENV) 2>/dev/null; then \
	    rm -rf $(MOTO_VENV); \
	    if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	    $$sudo apt-get update && $$sudo apt-get install -y --no-install-recommends python3-venv && \
	    python3 -m venv $(MOTO_VENV) || exit 1; \
	  fi; \
	  $(MOTO_VENV)/bin/pip install --quiet --disable-pip-version-check 'moto[server]==$(MOTO_VERSION)' || \
	    { rm -rf $(MOTO_VENV); exit 1; }; \
	fi

# The load generators and peers the perf/ scripts can use (never needed by `make test`):
# wrk, HAProxy, nginx and valgrind from Debian when missing, and oha built from crates.io
# into target/tools/bin (pinned, --locked) when missing. perf/compare.sh and
# perf/instructions.sh look there, and exit 2 naming this target when a tool is absent.
BENCH_TOOLS := wrk:wrk haproxy:haproxy nginx:nginx valgrind:valgrind callgrind_control:valgrind taskset:util-linux
OHA_VERSION := 1.16.0
TOOLS_ROOT  := target/tools
bench-deps:
	@missing=; for tp in $(BENCH_TOOLS); do t=$${tp%%:*}; p=$${tp#*:}; command -v $$t >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing bench tools:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo apt-get update && $$sudo apt-get install -y --no-install-recommends $$missing; \
	fi
	@if ! $(TOOLS_ROOT)/bin/oha --version 2>/dev/null | grep -q ' $(OHA_VERSION)$$'; then \
	  echo "installing oha $(OHA_VERSION) into $(TOOLS_ROOT)/bin"; \
	  $(CARGO) install --locked oha --version $(OHA_VERSION) --root $(TOOLS_ROOT); \
	fi
	@$(TOOLS_ROOT)/bin/oha --version; wrk -v 2>&1 | head -1 || true; haproxy -v | head -1; nginx -v 2>&1

# Only the probe regression suite (docs/BEHAVIOUR.md, "Probe regression suite").
probes: test-deps
	$(CARGO) test $(addprefix --test ,$(PROBES))

# Development CA, server and partner client certificates for the TLS examples (git-ignored).
certs:
	certs/gen.sh

# Validate every example configuration.
check: build
	@for f in examples/*.yaml; do $(BIN) check $$f || exit 1; done

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench:
	$(CARGO) bench

# Load comparison with nginx (perf/compare.sh; needs nginx: apt-get install nginx, and h2load:
# make test-deps). A/B against an older build: make perf PEER_BIN=/path/to/old/tollgate.
# wrk/oha as load (LOADGEN=wrk|oha) and HAProxy as a peer (PEERS="nginx haproxy"): make bench-deps.
perf: build
	perf/compare.sh

# Stage cache hits vs proxied requests, and vs nginx proxy_cache (perf/cache.sh).
perf-cache: build
	perf/cache.sh

# User-space instructions per request under callgrind, tollgate and nginx, one table
# (perf/instructions.sh; SCENARIOS=keepalive NGINX=0 for the single figure).
perf-instructions: build
	perf/instructions.sh

clean:
	$(CARGO) clean
