#!/usr/bin/env bash
# Installs the Arrow and Parquet reader tests' independent writers, npm's
# apache-arrow and parquet-wasm (versions pinned by .ci/node/package-lock.json),
# into .cache/node/node_modules (ignored by git) with Node.js's npm, and
# prints that folder. Quick, and quiet, when they are there already.
# Exits non-zero, saying why on stderr, when node or npm is missing or the
# install fails. Called by .ci/deps.sh (make deps) and by the tests that
# need them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.cache/node"
mods="$dest/node_modules"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node-deps: node and npm are needed (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi
if [ -f "$mods/.actprof-lock" ] && cmp -s "$root/.ci/node/package-lock.json" "$mods/.actprof-lock"; then
  echo "$mods"
  exit 0
fi
mkdir -p "$dest"
cp "$root/.ci/node/package.json" "$root/.ci/node/package-lock.json" "$dest/"
log=$(mktemp "${TMPDIR:-/tmp}/actprof-npm.XXXXXX")
trap 'rm -f "$log"' EXIT
for try in 1 2 3; do
  if (cd "$dest" && npm ci --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
    cp "$root/.ci/node/package-lock.json" "$mods/.actprof-lock"
    echo "$mods"
    exit 0
  fi
  echo "node-deps: npm ci failed (try $try of 3)" >&2
  [ "$try" -eq 3 ] || sleep $((5 * try))
done
tail -n 20 "$log" >&2
exit 1
