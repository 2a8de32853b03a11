# keyward: `make test` is what CI runs (.ci/run); `make bench` prints benchmark numbers.
GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHTIME   ?= 1s
BENCHFLAGS  ?=

.PHONY: test check fmt-check vet staticcheck unit bench build run

# make test = check + unit, against the PostgreSQL and Redis that scripts/test-services.sh finds
# or starts (KEYWARD_TEST_POSTGRES_URL, KEYWARD_TEST_REDIS_URL), with the real clients
# (openssl, curl, kubectl, nginx) that scripts/test-tools.sh installs when missing.
test:
	@bash scripts/test-tools.sh
	@eval "$$(bash scripts/test-services.sh)" && $(MAKE) --no-print-directory check unit

check: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

# Under -race the escalation matrix runs a sample of its cells (escalationtest.Matrix.Stride);
# the escalation step runs all of them without it.
unit:
	$(GO) test -race -count=1 -timeout 12m ./...
	$(GO) test -count=1 -timeout 5m -run 'TestEscalationMatrix' ./httpapi/ ./cmd/keyward/

# Benchmarks never fail on timing; they print ns/op, allocs/op, requests/s and latencies.
# keyward-bench drives the real server with wrk (scripts/bench-tools.sh installs it) and with its
# own constant-rate generator, on SQLite and on the PostgreSQL scripts/test-services.sh finds;
# BENCHFLAGS passes it flags (go run ./cmd/keyward-bench -h), e.g. BENCHFLAGS='-duration 3s'.
bench:
	@bash scripts/bench-tools.sh
	@eval "$$(bash scripts/test-services.sh)" && \
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -timeout 60m ./token/ ./authority/ ./httpapi/ ./ratelimit/ && \
	$(GO) run ./cmd/keyward-bench -wrk "$$(command -v wrk)" $(BENCHFLAGS)

# -buildvcs=auto stamps the commit into the binary (keyward version) even where GOFLAGS turns it off.
build:
	$(GO) build -buildvcs=auto -o bin/keyward ./cmd/keyward

run:
	$(GO) run -buildvcs=auto ./cmd/keyward serve
