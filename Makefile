# actprof: see README.md. `make demo` profiles the built-in example, `make test` runs every check (`make test-big` the GB-sized ones too).
GO ?= go
BIN := bin

.PHONY: all build python demo deps test test-slurm test-big vet fmt-check fuzz bench clean kernels cuda cuda-check bench-cuda gpu-bundle probe

# Machine code for these GPUs, plus PTX for compute_90 that newer GPUs JIT.
CUDA_ARCHS := 70 75 80 86 89 90
NVCC_FLAGS := -O3 --fatbin $(foreach a,$(CUDA_ARCHS),-gencode arch=compute_$(a),code=sm_$(a)) -gencode arch=compute_90,code=compute_90

all: build

build:
	$(GO) build -o $(BIN)/actprof ./cmd/actprof

# The Python package's library (python/actprof/_libactprof.so, a cgo
# c-shared build of python/capi): with PYTHONPATH=python, `import
# actprof.torch` profiles a running PyTorch model.
python:
	$(GO) build -buildmode=c-shared -o python/actprof/_libactprof.so ./python/capi

# The main job on a built-in example: a synthetic dataset with planted dead,
# rare, always-on, dormant, constant and saturated units, profiled with value
# statistics (the saturated units sit at 6, a ReLU6 cap).
demo: build
	@test -f demo-data/synth.json || $(BIN)/actprof synth -o demo-data
	$(BIN)/actprof profile --stats --saturate=-1:6 -o demo-data/profile.json demo-data

# What the tests need besides Go (.ci/deps.sh, which .ci/run calls too):
# Debian's python3-numpy, python3-torch, chromium, slurm-wlm and munge (as
# root) and the CUDA toolkit, installed where missing (apt-get, through sudo
# when not root); nothing to do when all are there.
# ACTPROF_DEPS_CUDA=0 leaves the CUDA toolkit out.
deps:
	@bash .ci/deps.sh

# Every check, in a few minutes. With CI set (.ci/run sets it) a test whose
# outside reference (NumPy, the CUDA headers) is missing fails instead of
# skipping. The cases that write GB-sized files run in make test-big.
test: deps fmt-check vet
	$(GO) test -count=1 ./...
	$(GO) vet -tags purego ./...
	$(GO) test -count=1 -tags purego ./store/
	$(GO) test -count=1 -race -short ./profiler/... ./store/ ./input/ ./internal/...
	$(MAKE) --no-print-directory probe
	$(MAKE) --no-print-directory test-slurm
	cd examples/k8s/check && ACTPROF=$(CURDIR)/$(BIN)/actprof $(GO) test -count=1 ./
	@if command -v nvcc >/dev/null 2>&1 && [ -f /usr/include/cuda.h ]; then $(MAKE) --no-print-directory cuda-check; \
	else echo "make test: CUDA toolkit not installed: skipped cuda-check (kernels compile, cuda-tagged vet and test build)"; fi

# The Slurm examples on a real one-node cluster (examples/slurm/test.sh):
# needs root and Debian's slurm-wlm and munge; skipped without them, except
# under CI, where it fails.
test-slurm: build
	@if [ "$$(id -u)" -eq 0 ] && [ -x /usr/sbin/slurmctld ] && command -v sbatch >/dev/null 2>&1; then bash examples/slurm/test.sh; \
	elif [ -n "$${CI:-}" ] && [ "$${CI}" != 0 ] && [ "$${CI}" != false ]; then echo "make test-slurm: needs root, slurm-wlm and munge" >&2; exit 1; \
	else echo "make test-slurm: not root or Slurm not installed: skipped the Slurm examples' test"; fi

# The whole suite with the big cases too (ACTPROF_BIG_TESTS=1): a 768 MiB
# profile's peak RSS, a file of ACTPROF_BIG_GIB GiB (4 unless set) read
# window by window. Needs a few GB of disk under $TMPDIR (or ACTPROF_BIG_DIR).
test-big: deps
	ACTPROF_BIG_TESTS=1 $(GO) test -count=1 -timeout 60m ./...

# The adversarial probe (bench/probe.py): damaged inputs and stores,
# output-path mistakes, signals, extreme flags, merge mistakes, each
# checked against the contract (a clean one-line failure or the right
# answer; nothing left behind). Needs NumPy.
probe: build
	/usr/bin/python3 bench/probe.py $(BIN)/actprof

# The embedded kernel image (committed: building actprof-cuda needs the CUDA
# headers and driver, not nvcc).
kernels: cuda/kernels.fatbin
cuda/kernels.fatbin: kernels/count.cu
	nvcc $(NVCC_FLAGS) -o $@ $<

# actprof-cuda: the same command with the CUDA backend linked in.
cuda: build
	$(GO) build -tags cuda -o $(BIN)/actprof-cuda ./cmd/actprof

# On a GPU machine: kernel GB/s on device-resident data vs a device-to-device
# copy, and end-to-end GB/s from a page-cached file vs the pinned
# host-to-device copy, as ratios. Without Go there: copy bin/cuda.test over
# and run it with the same flags.
bench-cuda:
	$(GO) test -c -tags cuda -o $(BIN)/cuda.test ./cuda
	$(BIN)/cuda.test -test.run XXX -test.bench . -test.benchtime 5x

# For a GPU machine without Go: .gpu/bundle.tar.gz holds the cuda-tagged
# test binary, actprof and actprof-cuda; there, `bash bench/gpu.sh
# .gpu/bundle.tar.gz OUTDIR` runs the conformance suite, the benchmarks and
# actprof end to end on cuda against cpu (docs/gpu.md).
gpu-bundle:
	mkdir -p .gpu
	$(GO) test -c -tags cuda -ldflags=-s -o .gpu/cuda.test ./cuda
	$(GO) build -ldflags=-s -o .gpu/actprof ./cmd/actprof
	$(GO) build -tags cuda -ldflags=-s -o .gpu/actprof-cuda ./cmd/actprof
	mkdir -p .gpu/python/actprof
	cp python/actprof/*.py .gpu/python/actprof/
	$(GO) build -buildmode=c-shared -ldflags=-s -o .gpu/python/actprof/_libactprof.so ./python/capi
	rm -f .gpu/python/actprof/_libactprof.h
	cp bench/gpu_live.py .gpu/
	tar -czf .gpu/bundle.tar.gz -C .gpu cuda.test actprof actprof-cuda python gpu_live.py

# What can be checked of the GPU path without a GPU: the kernels compile,
# the cuda-tagged code vets and every package's test binary builds.
cuda-check:
	nvcc $(NVCC_FLAGS) -o /tmp/actprof-kernels-check.fatbin kernels/count.cu
	$(GO) vet -tags cuda ./...
	@for p in $$($(GO) list -tags cuda ./...); do $(GO) test -c -tags cuda -o /tmp/actprof-cuda-check.test $$p || exit 1; done; echo "cuda-tagged test binaries build"
	$(GO) build -tags cuda -o $(BIN)/actprof-cuda ./cmd/actprof

vet:
	$(GO) vet ./...

fmt-check:
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$bad" ]; then echo "gofmt needed: $$bad"; exit 1; fi

# Short runs of every fuzz target (seeds live in testdata/fuzz). FuzzOpen's
# inputs are whole stores (40-130 KB), FuzzParquet's whole files: minimising
# each new one would take the run's whole time, hence -fuzzminimizetime.
fuzz:
	$(GO) test -run XXX -fuzz FuzzCountMatchesOracle -fuzztime 20s ./cpu/
	$(GO) test -run XXX -fuzz FuzzNpyHeader -fuzztime 20s ./input/
	$(GO) test -run XXX -fuzz FuzzSafetensorsHeader -fuzztime 20s ./input/
	$(GO) test -run XXX -fuzz FuzzUnpickle -fuzztime 20s ./input/
	$(GO) test -run XXX -fuzz FuzzArrowMetadata -fuzztime 20s ./input/
	$(GO) test -run XXX -fuzz FuzzParquet -fuzztime 30s -fuzzminimizetime 2s ./input/
	$(GO) test -run XXX -fuzz FuzzDecoders -fuzztime 20s ./store/
	$(GO) test -run XXX -fuzz FuzzOpen -fuzztime 30s -fuzzminimizetime 2s ./store/

# Kernel benchmarks, then the end-to-end run on a 2 GiB file against NumPy
# and the memory-sweep limit (../shared/bench), as ratios; object storage
# (bench/s3.sh) against the local file.
bench: build
	bash bench/run.sh

clean:
	rm -rf $(BIN) demo-data .bench
