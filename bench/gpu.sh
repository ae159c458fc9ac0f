#!/usr/bin/env bash
# bench/gpu.sh BUNDLE [OUT]: the GPU checks, on a machine with an NVIDIA GPU
# and no Go. BUNDLE is the tarball `make gpu-bundle` builds here (cuda.test,
# actprof, actprof-cuda); OUT gets the logs. Python with NumPy (and PyTorch
# for the bfloat16 file) must be there. It runs:
#   1. the backend conformance suite on every GPU, and on all at once
#      through profiler.Multi where there are several (cuda.test -test.v);
#   2. the same suite under compute-sanitizer memcheck, when installed;
#   3. make bench-cuda's benchmarks (kernel vs device copy, end-to-end vs
#      pinned host-to-device copy);
#   4. actprof end to end, --device cuda against --device cpu on the same
#      files (float32, float16, bfloat16 safetensors, conv and token layers):
#      the profiles' counts and the pattern stores must be identical;
#   5. a 4 GiB float32 file timed on the GPU and on all CPU cores, and on
#      1, 2, 4, 8 cores against the GPU (the --device auto rule);
#   6. pattern writing on the CPU backend at GOMAXPROCS 2..all cores (the
#      2 GiB file of make bench, the store on /dev/shm and on disk), beside
#      the same runs without patterns: how the writer scales;
#   7. the Python package's live path on CUDA memory (gpu_live.py): device
#      arrays counted in place equal NumPy's and the CPU path's counts; with
#      a CUDA PyTorch, ap.profile on cuda equals the CPU path over the same
#      outputs, and the overhead
#      and counting rate against a device-to-device copy.
# Exit status: non-zero when any check fails.
#   GPU_STEPS="3 5" runs only those steps (default: all); GPU_BENCH=REGEXP
#   only those benchmarks in step 3.
set -uo pipefail
steps=" ${GPU_STEPS:-1 2 3 4 5 6 7} "
want() { [[ $steps == *" $1 "* ]]; }
bundle=$1
out=${2:-/tmp/actprof-gpu-out}
mkdir -p "$out"
work=$(mktemp -d)
tar -xzf "$bundle" -C "$work" || { echo "gpu.sh: $bundle: cannot unpack"; exit 1; }
b=$work
d=$work/data
fail=0
step() { echo; echo "== $*"; }
check() { if "$@"; then echo "ok: $*"; else echo "FAIL: $*"; fail=1; fi; }

same_profile() {
  python3 - "$1" "$2" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
keys = ["name", "units", "observations", "counts", "nan_counts", "dead", "rare", "always_on"]
bad = [(la["name"], k) for la, lb in zip(a["layers"], b["layers"]) for k in keys if la.get(k) != lb.get(k)]
if len(a["layers"]) != len(b["layers"]) or bad:
    print("profiles differ:", bad); sys.exit(1)
print(len(a["layers"]), "layers identical,", sum(l["observations"] * l["units"] for l in a["layers"]), "unit-observations")
EOF
}

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
nproc; date -u

if want 1; then
step "1. conformance suite on every GPU (and on all of them at once where there are several)"
timeout 300 "$b/cuda.test" -test.v -test.count=1 -test.run . > "$out/conformance.log" 2>&1
rc=$?
grep -E '^\s*(--- |PASS|FAIL|ok)' "$out/conformance.log"
if grep -q -- '--- SKIP' "$out/conformance.log"; then rc=skipped; fi
if [ $rc = 0 ]; then echo "ok: conformance"; else echo "FAIL: conformance (exit $rc)"; tail -30 "$out/conformance.log"; fail=1; fi

fi
if want 2; then
step "2. conformance under compute-sanitizer memcheck"
if command -v compute-sanitizer >/dev/null; then
  check timeout 400 compute-sanitizer --tool memcheck --error-exitcode 3 "$b/cuda.test" -test.count=1 -test.run 'Conformance/cuda:0/(Empty|Shapes|Chunks|Patterns)' > "$out/memcheck.log" 2>&1
  tail -5 "$out/memcheck.log"
else
  echo "compute-sanitizer not installed: skipped"
fi

fi
if want 3; then
step "3. benchmarks (make bench-cuda)"
timeout 400 "$b/cuda.test" -test.run XXX -test.bench "${GPU_BENCH:-.}" -test.benchtime 5x 2>&1 | tee "$out/bench.log"

fi
if want 4; then
step "4. end to end: --device cuda against --device cpu"
"$b/actprof-cuda" devices
"$b/actprof" synth -o "$d/f32" --rows 50000 --layer fc1:512 --layer fc2:100 --layer conv:32x6x6 --layer tok:16x77 > /dev/null
"$b/actprof" synth -o "$d/f16" --rows 50000 --dtype float16 --layer fc1:300 --layer conv:16x5x7 > /dev/null
python3 - "$d/bf16" <<'EOF'
import sys, os, torch
from safetensors.torch import save_file
os.makedirs(sys.argv[1], exist_ok=True)
g = torch.Generator().manual_seed(7)
t = {"fc": torch.relu(torch.randn(40000, 257, generator=g) - 0.3).to(torch.bfloat16),
     "conv": torch.relu(torch.randn(3000, 24, 9, 9, generator=g)).to(torch.bfloat16)}
t["fc"][:, 5] = 0
t["fc"][123, 7] = float("nan")
save_file(t, os.path.join(sys.argv[1], "acts.safetensors"))
EOF
for ds in f32 f16 bf16; do
  for dev in cpu cuda; do
    "$b/actprof" profile --device $dev --quiet --patterns "$d/$ds.$dev.actbits" -o "$d/$ds.$dev.json" "$d/$ds" > /dev/null || { echo "FAIL: profile $ds on $dev"; fail=1; }
  done
  grep -o '"backend": "[^"]*"' "$d/$ds.cuda.json"
  check same_profile "$d/$ds.cpu.json" "$d/$ds.cuda.json"
  check cmp "$d/$ds.cpu.actbits" "$d/$ds.cuda.actbits"
  check "$b/actprof" patterns verify "$d/$ds.cuda.actbits" "$d/$ds.cpu.json"
done
# With several GPUs, one run spread over all of them gives the same
# profile and store.
if [ "$(nvidia-smi -L | wc -l)" -gt 1 ]; then
  "$b/actprof" profile --device cuda:all --quiet --patterns "$d/f32.all.actbits" -o "$d/f32.all.json" "$d/f32" > /dev/null || { echo "FAIL: profile on cuda:all"; fail=1; }
  check same_profile "$d/f32.cpu.json" "$d/f32.all.json"
  check cmp "$d/f32.cpu.actbits" "$d/f32.all.actbits"
fi
# --device auto: a small input counts on the CPU by the rule (saying so), a
# large one on one worker re-executes into actprof-cuda.
"$b/actprof" profile -o "$d/auto.json" "$d/f32" 2> "$d/auto.err" > /dev/null
check grep -q '"backend": "cpu' "$d/auto.json"
check grep -q 'device auto: counting on the CPU' "$d/auto.err"

fi
if want 5; then
step "5. 4 GiB float32 file (262144 x 4096), page-cached: GPU vs all CPU cores"
"$b/actprof" synth -o "$d/big" --rows 262144 --layer acts:4096 > /dev/null
cat "$d/big/acts.npy" > /dev/null
for dev in cpu cuda cpu cuda; do
  s=$(date +%s.%N)
  "$b/actprof" profile --device $dev --quiet -o "$d/big.$dev.json" "$d/big" > /dev/null
  e=$(date +%s.%N)
  awk -v s="$s" -v e="$e" -v d=$dev 'BEGIN { printf "%s: %.3f s, %.2f GB/s\n", d, e - s, 4294967424 / (e - s) / 1e9 }'
done
check same_profile "$d/big.cpu.json" "$d/big.cuda.json"
timed() { local s e; s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f s", e - s }'; }
echo "actprof-cuda devices (CUDA start-up alone): $(timed "$b/actprof-cuda" devices)"
for c in 2MiB 4MiB 8MiB 32MiB; do
  echo "actprof-cuda --device cuda --chunk-size $c (no probe): $(timed "$b/actprof-cuda" profile --device cuda --quiet --chunk-size $c -o /dev/null "$d/big")"
done
for w in 8 32; do
  echo "actprof-cuda --device cuda --workers $w: $(timed "$b/actprof-cuda" profile --device cuda --quiet --workers $w -o /dev/null "$d/big")"
done
for dev in cpu cuda; do
  s=$(date +%s.%N)
  "$b/actprof" profile --device $dev --quiet --patterns "$d/big.$dev.actbits" -o /dev/null "$d/big" > /dev/null
  e=$(date +%s.%N)
  awk -v s="$s" -v e="$e" -v d=$dev 'BEGIN { printf "%s with --patterns: %.3f s\n", d, e - s }'
done
check cmp "$d/big.cpu.actbits" "$d/big.cuda.actbits"
# The --device auto rule's break-even: whole processes on the 4 GiB file on
# 1, 2, 4 and 8 cores (GOMAXPROCS), CPU against GPU, and what auto chose.
for p in 1 2 4 8; do
  line="GOMAXPROCS=$p: cpu $(GOMAXPROCS=$p timed "$b/actprof" profile --device cpu --quiet -o /dev/null "$d/big")"
  line="$line, cuda $(GOMAXPROCS=$p timed "$b/actprof" profile --device cuda --quiet -o /dev/null "$d/big")"
  GOMAXPROCS=$p "$b/actprof" profile -o /dev/null "$d/big" 2> "$d/auto.err" > /dev/null
  echo "$line; auto: $(grep -o 'counting on the [A-Z]*' "$d/auto.err" | head -1)"
done
GOMAXPROCS=1 "$b/actprof" profile -o "$d/auto1.json" "$d/big" 2> /dev/null > /dev/null
check grep -q '"backend": "cuda:0"' "$d/auto1.json"

fi
if want 6; then
step "6. pattern writing over cores (CPU backend, 2 GiB float32, 1,048,576 x 512, page-cached)"
"$b/actprof" synth -o "$d/scale" --rows 1048576 --layer acts:512 > /dev/null
f=$d/scale/acts.npy
cat "$f" > /dev/null
secs() { local s e; s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }'; }
for p in 2 4 8 $(nproc); do
  line="GOMAXPROCS=$p  no patterns:"
  for i in 1 2 3; do line="$line $(GOMAXPROCS=$p secs "$b/actprof" profile --device cpu --quiet -o /dev/null "$f")"; done
  line="$line  patterns to disk:"
  for i in 1 2 3; do line="$line $(GOMAXPROCS=$p secs "$b/actprof" profile --device cpu --quiet --patterns "$d/scale.actbits" -o /dev/null "$f")"; done
  line="$line  to /dev/shm:"
  for i in 1 2 3; do rm -f /dev/shm/actprof-scale.actbits; line="$line $(GOMAXPROCS=$p secs "$b/actprof" profile --device cpu --quiet --patterns /dev/shm/actprof-scale.actbits -o /dev/null "$f")"; done
  echo "$line"
done
rm -f /dev/shm/actprof-scale.actbits
fi
if want 7; then
step "7. the live path (python/actprof) on CUDA memory"
PYTHONPATH="$b/python" python3 "$b/gpu_live.py" || fail=1
fi
rm -rf "$work"
echo
if [ $fail = 0 ]; then echo "gpu.sh: all checks passed"; else echo "gpu.sh: some checks FAILED"; fi
exit $fail
