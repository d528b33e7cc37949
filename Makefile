# tollgate — the two commands: `make run` and `make test`.
CARGO        ?= cargo
CONFIG       ?= examples/quickstart.yaml
DEMO_UPSTREAM ?= 127.0.0.1:9090
BIN          := target/release/tollgate

.PHONY: all build run test check lint fmt bench perf perf-cache certs clean

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
test:
	$(CARGO) test --all-targets
	$(CARGO) test --doc

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

# Load comparison with nginx (perf/compare.sh; needs nginx: apt-get install nginx).
perf: build
	perf/compare.sh

# Stage cache hits vs proxied requests, and vs nginx proxy_cache (perf/cache.sh).
perf-cache: build
	perf/cache.sh

clean:
	$(CARGO) clean
