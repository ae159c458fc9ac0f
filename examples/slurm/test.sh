#!/usr/bin/env bash
# The Slurm examples, run on a real one-node cluster (local-cluster.sh):
# profile.sbatch as an array job of 3 tasks over a dataset made by actprof
# synth, merge.sbatch after it (--dependency=afterok), and the merged profile
# compared with one run over the whole dataset: every count, list and exact
# statistic equal. Run by make test as root where Slurm is installed (CI
# installs it); ACTPROF=path/to/actprof (default bin/actprof).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
actprof=$(realpath "${ACTPROF:-$here/../../bin/actprof}")
work=$(mktemp -d "${TMPDIR:-/tmp}/actprof-slurm.XXXXXX")
cluster=$work/cluster
cleanup() {
  bash "$here/local-cluster.sh" stop "$cluster" || true
  rm -rf "$work"
}
trap cleanup EXIT
bash "$here/local-cluster.sh" start "$cluster"
export SLURM_CONF=$cluster/slurm.conf
mkdir -p "$work/bin"
ln -s "$actprof" "$work/bin/actprof"
export PATH=$work/bin:$PATH
cd "$work"
# layers that do not split evenly into 3 shards, one with fewer rows than
# tasks in a later run
actprof synth -o acts --rows 10007 --layer fc1:96 --layer conv:8x3x3 >/dev/null
actprof profile --quiet --stats --patterns single.actbits -o single.json acts >/dev/null

export ACTS=acts ACTPROF_FLAGS=--stats PATTERNS=1
jid=$(sbatch --parsable --array=0-2 "$here/profile.sbatch")
mid=$(sbatch --parsable --dependency=afterok:"$jid" "$here/merge.sbatch")
for _ in $(seq 240); do
  info=$(scontrol show job "$mid" 2>/dev/null || true)
  state=$(echo "$info" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
  if echo "$info" | grep -q 'Reason=DependencyNeverSatisfied'; then
    state=FAILED # an array task failed
  fi
  case $state in
  COMPLETED) break ;;
  FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY)
    echo "slurm test: the merge job ended $state" >&2
    cat actprof-*.log >&2 || true
    exit 1
    ;;
  esac
  sleep 0.5
done
if [ "$state" != COMPLETED ]; then
  echo "slurm test: the merge job did not finish in 2 minutes (state ${state:-unknown})" >&2
  squeue >&2 || true
  cat actprof-*.log >&2 || true
  exit 1
fi
ls parts/part-*.json | wc -l | grep -qx 3 || { echo "slurm test: want 3 parts, got: $(ls parts)" >&2; exit 1; }
/usr/bin/python3 - single.json profile.json <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
exact = ["name", "dtype", "shape", "unit_axis", "units", "observations", "counts", "nan_counts", "nan_total", "dead", "rare", "always_on"]
stats_exact = ["min", "max", "pos_inf_counts", "neg_inf_counts", "first_fired", "last_fired", "value_hist", "l0_bin_width", "l0_hist", "constant", "dormant"]
assert [l["name"] for l in a["layers"]] == [l["name"] for l in b["layers"]], "layers differ"
for la, lb in zip(a["layers"], b["layers"]):
    for k in exact:
        assert la[k] == lb[k], "layer %s: %s differs" % (la["name"], k)
    for k in stats_exact:
        assert la["stats"][k] == lb["stats"][k], "layer %s: stats.%s differs" % (la["name"], k)
    for k in ["sum", "sum_abs"]:
        for u, (x, y) in enumerate(zip(la["stats"][k], lb["stats"][k])):
            assert x == y or abs(x - y) <= 1e-12 * max(abs(x), 1), "layer %s unit %d: %s %r vs %r" % (la["name"], u, k, x, y)
print("slurm test: 3 array tasks merged equal one run (%d layers)" % len(a["layers"]))
PY
# the merged store answers as the single run's: every layer's fired units
# of every sample, exported
for layer in fc1 conv; do
  actprof patterns export acts.actbits --layer "$layer" -o "merged.$layer.npy" >/dev/null
  actprof patterns export single.actbits --layer "$layer" -o "single.$layer.npy" >/dev/null
  cmp "merged.$layer.npy" "single.$layer.npy" || { echo "slurm test: layer $layer: the merged store's patterns differ from one run's" >&2; exit 1; }
done
echo "slurm test: the tasks' pattern stores merged answer as one run's"
