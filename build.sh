#!/usr/bin/env bash
# Builds the actprof command into bin/. Needs only Go (1.26+).
set -euo pipefail
cd "$(dirname "$0")"
go build -o bin/actprof ./cmd/actprof
echo "built bin/actprof"
