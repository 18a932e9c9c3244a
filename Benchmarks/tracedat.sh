#!/usr/bin/env bash
# trace.dat against the same events as ftrace text: the simulator's field-mode QEMU events are
# written one by one into the trace_marker of a private tracefs instance with a large buffer;
# the instance's `trace` file is saved as text (`tracing_mark_write:` lines), then
# `trace-cmd extract -B` saves the same ring buffer as a trace.dat (v7, zstd, as trace-cmd
# writes it by default) and `trace-cmd convert --compression none` an uncompressed copy.
# `shadowbell analyze` runs on each (hyperfine medians), with peak RSS and the decoded event
# counts (which must be equal).
#
#   Benchmarks/tracedat.sh [--size 300M] [--runs 5]
#
# Needs root, tracefs, trace-cmd, hyperfine, python3, /usr/bin/time. `trace-cmd record` is not
# used. Scratch space: $SHADOWBELL_BENCH_DIR or a fresh /tmp directory, removed at the end.
set -euo pipefail

SIZE=300M
RUNS=5
while [ $# -gt 0 ]; do
    case "$1" in
        --size) SIZE="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        *) echo "usage: $0 [--size 300M] [--runs N]" >&2; exit 64 ;;
    esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${SHADOWBELL_BENCH_DIR:-/tmp}/shadowbell-tracedat.XXXXXX")
T=/sys/kernel/tracing
INSTANCE=shadowbell-bench-$$
I=$T/instances/$INSTANCE
cleanup() { rmdir "$I" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
[ -n "${SHADOWBELL_BENCH_KEEP:-}" ] && trap 'rmdir "$I" 2>/dev/null || true' EXIT

swift build -c release --package-path "$ROOT" >&2
SB="$ROOT/.build/release/shadowbell"
mountpoint -q $T || mount -t tracefs nodev $T

# The trace.dat record of a marker is about 70 bytes: SIZE bytes of trace.dat.
events=$(( $(numfmt --from=iec "$SIZE") / 70 ))
# A field-mode QEMU log line is about 75 bytes; the simulator writes ~123 bytes of it per µs.
duration=$(( events * 75 / 123 ))
"$SB" simulate --seed 3 --profile racing --driver-barrier off --duration-us "$duration" \
    --output "$WORK/guest.tmp" --qemu-log "$WORK/qemu.log" >&2
rm -f "$WORK/guest.tmp"

mkdir "$I"
echo global > "$I/trace_clock"
echo $(( events * 80 / 1024 + 4096 )) > "$I/buffer_size_kb"
# One write per event, as a recorder writing markers would, all on CPU 0.
taskset -c 0 python3 - "$WORK/qemu.log" "$I/trace_marker" "$events" <<'PY'
import os, sys
log, marker, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
fd = os.open(marker, os.O_WRONLY)
n = 0
with open(log, 'rb') as f:
    for line in f:
        # `TID@sec.usec:payload` or `payload`
        colon = line.find(b':')
        at = line.find(b'@')
        payload = line[colon + 1:] if 0 <= at < colon else line
        os.write(fd, payload)
        n += 1
        if n >= limit:
            break
os.close(fd)
print(f"wrote {n} markers", file=sys.stderr)
PY
rm -f "$WORK/qemu.log"
echo 0 > "$I/tracing_on"
cat "$I/trace" > "$WORK/markers.txt"
( cd "$WORK" && trace-cmd extract -B "$INSTANCE" -o "$WORK/trace.dat" >/dev/null 2>&1 )
trace-cmd convert --compression none -i "$WORK/trace.dat" -o "$WORK/trace-uncompressed.dat" >/dev/null 2>&1

printf '| input | size | analyze (median) | MB/s | events | events/s | vs text (events/s) | peak RSS |\n|---|---|---|---|---|---|---|---|\n'
text_rate=""
for f in markers.txt trace.dat trace-uncompressed.dat; do
    path="$WORK/$f"
    hyperfine --style none --warmup 1 --runs "$RUNS" --export-json "$WORK/h.json" "$SB analyze $path --quiet" >/dev/null 2>&1 || true
    median=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$WORK/h.json")
    count=$("$SB" analyze "$path" --format json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["inputs"][0]["events"])' || true)
    /usr/bin/time -f %M -o "$WORK/rss" "$SB" analyze "$path" --quiet >/dev/null 2>&1 || true
    rss=$(tail -1 "$WORK/rss")
    size=$(stat -c %s "$path")
    python3 - "$f" "$size" "$median" "$count" "$rss" "${text_rate:-0}" <<'PY'
import sys
name, size, median, count, rss, text_rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
rate = count / median
vs = f"{rate / text_rate * 100:.0f} %" if text_rate else "—"
print(f"| {name} | {size / 1e6:,.0f} MB | {median:.3f} s | {size / 1e6 / median:,.0f} | {count:,} | {rate / 1e6:.1f} M | {vs} | {rss / 1024:.0f} MB |")
PY
    if [ -z "$text_rate" ]; then
        text_rate=$(python3 -c 'import sys; print(int(sys.argv[1]) / float(sys.argv[2]))' "$count" "$median")
    fi
done
