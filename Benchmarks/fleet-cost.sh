#!/usr/bin/env bash
# Cost of `shadowbell analyze` per run and per GB on one core, on the real runs in
# ../shared/traces/real (Docs/Fleet.md): each run's guest ftrace, QEMU log and console log are
# decompressed into a scratch folder and analysed one run at a time (`--jobs 1
# --decode-threads 1 --format jsonl`) by the release build, REPEAT times; the lowest CPU time
# (user + system, /usr/bin/time) and wall time of each run are kept.
#
#   Benchmarks/fleet-cost.sh [REPEAT]        (default 3; needs zstd, /usr/bin/time, swift)
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=${1:-3}
real=../shared/traces/real
bin=.build/release/shadowbell
[ -x "$bin" ] || swift build -c release --product shadowbell >/dev/null
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

printf '%-18s %10s %8s %9s %9s\n' run MB events cpu_s wall_s
total_bytes=0 total_cpu=0 runs=0
for dir in "$real"/*/; do
    name=$(basename "$dir")
    [ -e "$dir/qemu-trace.log.zst" ] || [ -e "$dir/qemu-trace.log" ] || continue
    mkdir -p "$scratch/$name"
    for f in guest-ftrace.txt qemu-trace.log console.log; do
        if [ -e "$dir/$f" ]; then cp "$dir/$f" "$scratch/$name/$f"; else zstd -q -d -f "$dir/$f.zst" -o "$scratch/$name/$f"; fi
    done
    bytes=$(cat "$scratch/$name"/* | wc -c)
    best_cpu="" best_wall=""
    for _ in $(seq "$repeat"); do
        /usr/bin/time -f '%U %S %e' -o "$scratch/time" "$bin" analyze "$scratch/$name" --jobs 1 --decode-threads 1 \
            --quiet --fail-on never --format jsonl -o "$scratch/$name.jsonl"
        read -r user sys wall < "$scratch/time"
        cpu=$(echo "$user + $sys" | bc -l)
        if [ -z "$best_cpu" ] || [ "$(echo "$cpu < $best_cpu" | bc -l)" = 1 ]; then best_cpu=$cpu; fi
        if [ -z "$best_wall" ] || [ "$(echo "$wall < $best_wall" | bc -l)" = 1 ]; then best_wall=$wall; fi
    done
    events=$(python3 -c "import json,sys; print(sum(i['events'] for i in json.load(open(sys.argv[1]))['inputs']))" "$scratch/$name.jsonl")
    printf '%-18s %10.1f %8s %9.2f %9.2f\n' "$name" "$(echo "$bytes / 1000000" | bc -l)" "$events" "$best_cpu" "$best_wall"
    total_bytes=$((total_bytes + bytes)); total_cpu=$(echo "$total_cpu + $best_cpu" | bc -l); runs=$((runs + 1))
done
printf 'total: %d runs, %.1f MB, %.2f CPU s; %.2f CPU s per run, %.1f CPU s per GB\n' "$runs" \
    "$(echo "$total_bytes / 1000000" | bc -l)" "$total_cpu" "$(echo "$total_cpu / $runs" | bc -l)" \
    "$(echo "$total_cpu * 1000000000 / $total_bytes" | bc -l)"
