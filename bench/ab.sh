#!/usr/bin/env bash
# ab.sh: alternate commands N times and report each one's median wall time,
# and each later command's median ratio to the first over the pairs of the
# same round (robust to a shared machine's slow phases, which best-of-3
# figures are not). Before each run: no store at $AB_STORE (default
# .bench/ab.actbits) and nothing dirty in the page cache (sync), so each run
# pays for writing its own store only.
#   bash bench/ab.sh 21 nopat "bin/actprof profile --device cpu --quiet -o /dev/null F" \
#        pat "bin/actprof profile --device cpu --quiet --patterns .bench/ab.actbits -o /dev/null F"
set -euo pipefail
n=$1; shift
store=${AB_STORE:-.bench/ab.actbits}
labels=(); cmds=()
while [ $# -ge 2 ]; do labels+=("$1"); cmds+=("$2"); shift 2; done
for i in $(seq "$n"); do
  for k in "${!labels[@]}"; do
    rm -f "$store"; sync
    s=$(date +%s%N); bash -c "${cmds[$k]}" > /dev/null 2>&1; e=$(date +%s%N)
    echo "${labels[$k]} $(( (e - s) / 1000 ))"
  done
done | /usr/bin/python3 -c '
import collections, statistics, sys
d = collections.defaultdict(list)
for line in sys.stdin:
    k, v = line.split()
    d[k].append(int(v) / 1000)
ks = list(d)
for k in ks:
    v = d[k]
    print("%-10s median %.1f ms, min %.1f, max %.1f (n=%d)" % (k, statistics.median(v), min(v), max(v), len(v)))
for k in ks[1:]:
    r = [b / a for a, b in zip(d[ks[0]], d[k])]
    q = statistics.quantiles(r, n=4)
    print("%s/%s per round: median %.3f, quartiles %.3f-%.3f" % (k, ks[0], statistics.median(r), q[0], q[2]))
'
