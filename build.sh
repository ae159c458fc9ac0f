#!/usr/bin/env bash
# Builds the actprof command into bin/. Needs only Go (1.26+).
# ./build.sh cuda also builds bin/actprof-cuda, the GPU-enabled variant.
set -euo pipefail
cd "$(dirname "$0")"
go build -o bin/actprof ./cmd/actprof
echo "built bin/actprof"
if [ "${1:-}" = cuda ]; then
  # Needs the CUDA headers and driver library (Debian: nvidia-cuda-toolkit
  # from non-free); nvcc only to rebuild kernels/count.cu (make kernels).
  if command -v nvcc >/dev/null 2>&1; then make kernels; fi
  go build -tags cuda -o bin/actprof-cuda ./cmd/actprof
  echo "built bin/actprof-cuda"
fi
