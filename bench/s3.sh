#!/usr/bin/env bash
# make bench, object storage: the profile of one float32 file (BENCH_S3_ROWS
# x 512, default 262144 rows: 512 MiB, made with `actprof synth`) read from
# a loopback S3 server (bench/s3serve: gofakes3, in memory) against the same
# file read locally from the page cache, the two runs alternating
# (bench/ab.sh, BENCH_S3_ROUNDS rounds, default 7). Reports each one's rate
# and the median of the rounds' S3/local time ratios. The server shares the
# machine's cores with actprof, so the figure is a floor for the client's
# own cost of HTTP, not a network's speed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rows=${BENCH_S3_ROWS:-262144}
rounds=${BENCH_S3_ROUNDS:-7}
data=$root/.bench/s3-$rows
file=$data/acts.npy
[ -x bin/actprof ] || go build -o bin/actprof ./cmd/actprof
go build -o bin/s3serve ./bench/s3serve
if [ ! -f "$data/synth.json" ]; then
  bin/actprof synth -o "$data" --layer acts:512 --rows "$rows" > /dev/null
fi
bytes=$(stat -c %s "$file")
work=$(mktemp -d "${TMPDIR:-/tmp}/actprof-s3.XXXXXX")
mkfifo "$work/stdin"
bin/s3serve -bucket bench "$file=acts/acts.npy" < "$work/stdin" > "$work/url" &
server=$!
exec 3> "$work/stdin"
trap 'exec 3>&-; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for i in $(seq 600); do [ -s "$work/url" ] && break; sleep 0.1; done
url=$(cat "$work/url")
[ -n "$url" ] || { echo "s3serve did not start" >&2; exit 1; }
export AWS_ENDPOINT_URL=$url AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PROFILE= AWS_ENDPOINT_URL_S3=
# the same counts both ways, before timing
cmp <(bin/actprof profile --device cpu --quiet --json "$file" | grep -v '"source"') \
    <(bin/actprof profile --device cpu --quiet --json s3://bench/acts/acts.npy | grep -v '"source"') ||
  { echo "profiles from S3 and from the local file differ" >&2; exit 1; }
cat "$file" > /dev/null
echo "== object storage: $(( bytes >> 20 )) MiB float32 file, loopback S3 server (gofakes3) against the local file, $rounds alternating rounds"
bash bench/ab.sh "$rounds" local "bin/actprof profile --device cpu --quiet -o /dev/null $file" \
  s3 "bin/actprof profile --device cpu --quiet -o /dev/null s3://bench/acts/acts.npy" |
  awk -v b="$bytes" '/^local/ {l = $3} /^s3 / {s = $3} /per round/ {m = $5; q = $7}
    END { sub(",", "", m); printf "  local %.3f s (%.2f GB/s), S3 %.3f s (%.2f GB/s) medians; S3/local time %.2fx (median of the rounds'"'"' ratios, quartiles %s): S3 reads at %.0f%% of the local rate\n",
      l / 1000, b / (l / 1000) / 1e9, s / 1000, b / (s / 1000) / 1e9, m, q, 100 / m }'
