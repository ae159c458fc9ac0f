#!/usr/bin/env bash
# make bench: the CPU kernels' Go benchmarks (vector vs plain Go, same data),
# then the end-to-end profile of a 2 GiB float32 file (1,048,576 x 512, made
# with `actprof synth`) beside the baselines of ../shared/bench measured in
# this same run on the same file: NumPy's chunked count and the mmap sweep
# (the limit for streaming a file). Figures are reported as ratios.
#   BENCH_ROWS=...  rows of the file (default 1048576)
#   BENCH_REPS=...  timed repetitions, best kept (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
shared=${SHARED_BENCH:-$root/../shared/bench}
rows=${BENCH_ROWS:-1048576}
reps=${BENCH_REPS:-3}
data=$root/.bench/data-$rows
file=$data/acts.npy

echo "== kernel benchmarks (4 MiB blocks in cache; MB/s, vector vs plain Go)"
go test -run XXX -bench Count -benchtime 30x ./cpu/ | grep -E '^Benchmark' | awk '{printf "  %-55s %10s MB/s\n", $1, $(NF-1)}'

echo "== end-to-end on $file"
if [ ! -f "$data/synth.json" ]; then
  bin/actprof synth -o "$data" --layer acts:512 --rows "$rows"
fi
bytes=$(stat -c %s "$file")
cat "$file" > /dev/null; cat "$file" > /dev/null   # warm the page cache

now() { date +%s.%N; }
best() { sort -g | head -1; }
rate() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.2f", b / s / 1e9 }'; }

# actprof, whole process: open, count, report
t_act=$(for i in $(seq "$reps"); do
  s=$(now); bin/actprof profile --quiet -o /dev/null "$file" > /dev/null; e=$(now)
  awk -v s="$s" -v e="$e" 'BEGIN { print e - s }'
done | best)
t_gen=$(s=$(now); bin/actprof profile --quiet --generic -o /dev/null "$file" > /dev/null; e=$(now); awk -v s="$s" -v e="$e" 'BEGIN { print e - s }')

numpy=NA; mmap=NA
if /usr/bin/python3 -c 'import numpy' 2>/dev/null && [ -f "$shared/numpy_count.py" ]; then
  numpy=$(for i in $(seq "$reps"); do /usr/bin/python3 "$shared/numpy_count.py" "$file"; done | awk '{print $5}' | sort -g | tail -1)
else
  echo "  (NumPy baseline skipped: /usr/bin/python3 with numpy or $shared/numpy_count.py missing)"
fi
if [ -d "$shared/membw" ]; then
  membw_out=$(cd "$shared/membw" && go run . "$file")
  mmap=$(echo "$membw_out" | awk '/^mmap/ {v=$4} END {print v}')
  mem=$(echo "$membw_out" | awk '/^memory/ {v=$4} END {print v}')
else
  echo "  (membw baseline skipped: $shared/membw missing)"
fi
act=$(rate "$t_act"); gen=$(rate "$t_gen")
printf "  %-34s %8s GB/s\n" "actprof profile (AVX2, best of $reps)" "$act" "actprof profile --generic" "$gen" \
  "numpy_count.py (best of $reps)" "$numpy" "membw mmap sweep, all cores" "$mmap" "membw in-memory sweep" "${mem:-NA}"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == "NA" || b == 0) print "NA"; else printf "%.2fx", a / b }'; }
echo "  ratios: actprof/numpy $(ratio "$act" "$numpy") (target >= 2x)   actprof/mmap-sweep $(ratio "$act" "$mmap") (target >= 0.8x)   generic/numpy $(ratio "$gen" "$numpy")"

echo "== pattern store (--patterns)"
go build -o bin/patterncmp ./bench/patterncmp
raw_bits=$(( bytes / 4 / 8 ))   # one bit per float32 element
for lv in fastest default; do
  t_pat=$(for i in $(seq "$reps"); do
    s=$(now); bin/actprof profile --quiet --patterns "$root/.bench/acts.actbits" --patterns-level $lv -o /dev/null "$file" > /dev/null; e=$(now)
    awk -v s="$s" -v e="$e" 'BEGIN { print e - s }'
  done | best)
  awk -v a="$t_act" -v p="$t_pat" -v rb="$raw_bits" -v lv="$lv" -v sz="$(stat -c %s "$root/.bench/acts.actbits")" 'BEGIN {
    printf "  %-8s profile %.3f s -> %.3f s with --patterns: slowdown %.0f%% (target <= 25%%); patterns %.0f MB/s of raw bits; %.3f bits per unit-observation\n",
      lv, a, p, 100 * (p / a - 1), rb / (p - a) / 1e6, sz * 8 / (rb * 8) }'
done
echo "  random access on the $(du -h "$root/.bench/acts.actbits" | cut -f1) store of the 2 GiB file:"
bin/patterncmp "$root/.bench/acts.actbits" | sed 's/^/    /'

real=$root/.bench/real
if [ ! -f "$real/mlp_fc1.npy" ]; then
  if /usr/bin/python3 -c 'import torch, sklearn' 2>/dev/null; then
    /usr/bin/python3 bench/realistic/make.py "$real" 20 | sed 's/^/  /'
  else
    echo "  (realistic dataset skipped: needs Debian's python3-torch and python3-sklearn)"
  fi
fi
if [ -f "$real/mlp_fc1.npy" ]; then
  echo "  ReLU networks trained on digits (bench/realistic/make.py), bits per unit-observation:"
  bin/actprof profile --quiet --patterns "$root/.bench/real.actbits" -o /dev/null "$real" > /dev/null
  bin/patterncmp "$root/.bench/real.actbits" | sed 's/^/    /'
fi

echo "  a multi-GB store (bench/bigstore: random patterns written through store.Writer), single-observation queries:"
go build -o bin/bigstore ./bench/bigstore
bin/bigstore -gib 2 "$root/.bench/big.actbits" | sed 's/^/    /'
rm -f "$root/.bench/big.actbits"
