#!/usr/bin/env bash
# make bench, sharded runs: on FILE (the 2 GiB file of bench/run.sh), one
# process with every core, then the same cores as one shard process
# (--shard 0/1) and as two concurrent shard processes of one core each
# (--workers 1) followed by their merge; then bench/mergeparts, the merge of
# BENCH_MERGE_PARTS (default 1000) parts of a 1M-unit layer against decoding
# the whole profile once; then bench/mergestores, the merge of the pattern
# stores of 16 shards, BENCH_STORE_GIB (default 2) GiB in all, against
# copying them into one file as cat does. Times are best of BENCH_REPS
# (default 3) and reported as ratios to the one process (to the copy for
# the stores).
set -euo pipefail
cd "$(dirname "$0")/.."
file=$1
reps=${BENCH_REPS:-3}
parts=${BENCH_MERGE_PARTS:-1000}
work=$(mktemp -d "${TMPDIR:-/tmp}/actprof-shards.XXXXXX")
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
best() { sort -g | head -1; }
cores=$(nproc)
cat "$file" > /dev/null
one=$(for i in $(seq "$reps"); do s=$(now); bin/actprof profile --device cpu --quiet -o "$work/one.json" "$file" > /dev/null; e=$(now); awk -v s="$s" -v e="$e" 'BEGIN { print e - s }'; done | best)
solo=$(for i in $(seq "$reps"); do s=$(now); bin/actprof profile --device cpu --quiet --shard 0/1 -o "$work/solo.json" "$file" > /dev/null; e=$(now); awk -v s="$s" -v e="$e" 'BEGIN { print e - s }'; done | best)
two=$(for i in $(seq "$reps"); do
  s=$(now)
  bin/actprof profile --device cpu --quiet --workers $(( (cores + 1) / 2 )) --shard 0/2 -o "$work/p0.json" "$file" > /dev/null &
  bin/actprof profile --device cpu --quiet --workers $(( (cores + 1) / 2 )) --shard 1/2 -o "$work/p1.json" "$file" > /dev/null
  wait
  m=$(now)
  bin/actprof merge -o "$work/merged.json" "$work/p0.json" "$work/p1.json"
  e=$(now)
  awk -v s="$s" -v m="$m" -v e="$e" 'BEGIN { print e - s, m - s }'
done | sort -g | head -1)
cmp -s "$work/merged.json" "$work/one.json" || { echo "shards.sh: the merge of two shards differs from one run" >&2; exit 1; }
awk -v o="$one" -v s="$solo" -v t="$two" -v c="$cores" 'BEGIN { split(t, a, " ");
  printf "  one process, %d cores: %.3f s; --shard 0/1: %.3f s (%.2fx); two shard processes of %d core(s) at once: %.3f s, %.3f s with their merge (%.2fx one process; the merge equals one run byte for byte)\n",
    c, o, s, s / o, (c + 1) / 2, a[2], a[1], a[1] / o }'
go run ./bench/mergeparts -parts "$parts" | sed 's/^/  /'
go run ./bench/mergestores -gib "${BENCH_STORE_GIB:-2}" -parts 16 -reps "$reps" "$work" | sed 's/^/  /'
