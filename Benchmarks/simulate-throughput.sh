#!/usr/bin/env bash
# Generation speed of `shadowbell simulate` (release build), in MB/s of trace text.
# Usage: Benchmarks/simulate-throughput.sh [duration-us] [extra simulate flags...]
# The trace goes to a temporary file that is removed afterwards; nothing is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-100000}
shift || true
swift build -c release --product shadowbell >/dev/null
out=$(mktemp /tmp/shadowbell-bench.XXXXXX)
trap 'rm -f "$out"' EXIT
start=$(date +%s%N)
.build/release/shadowbell simulate --seed 1 --duration-us "$duration" --output "$out" "$@" >/dev/null
end=$(date +%s%N)
bytes=$(stat -c %s "$out")
ns=$((end - start))
echo "$bytes bytes in $((ns / 1000000)) ms: $((bytes * 1000 / ns)) MB/s"
