# actprof: see README.md. `make demo` profiles the built-in example, `make test` runs every check.
GO ?= go
BIN := bin

.PHONY: all build demo test vet fmt-check fuzz bench clean

all: build

build:
	$(GO) build -o $(BIN)/actprof ./cmd/actprof

# The main job on a built-in example: a synthetic dataset with planted dead,
# rare and always-on units, profiled, the table printed.
demo: build
	@test -f demo-data/synth.json || $(BIN)/actprof synth -o demo-data
	$(BIN)/actprof profile -o demo-data/profile.json demo-data

test: fmt-check vet
	$(GO) test -count=1 ./...

vet:
	$(GO) vet ./...

fmt-check:
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$bad" ]; then echo "gofmt needed: $$bad"; exit 1; fi

# Short runs of every fuzz target (seeds live in testdata/fuzz).
fuzz:
	$(GO) test -run XXX -fuzz FuzzNpyHeader -fuzztime 20s ./input/
	$(GO) test -run XXX -fuzz FuzzSafetensorsHeader -fuzztime 20s ./input/

# Kernel benchmarks, then the end-to-end run on a 2 GiB file against NumPy
# and the memory-sweep limit (../shared/bench), as ratios.
bench: build
	bash bench/run.sh

clean:
	rm -rf $(BIN) demo-data .bench
