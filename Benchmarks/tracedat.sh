#!/usr/bin/env bash
# trace.dat against the same events as ftrace text: the simulator's field-mode QEMU events are
# written one by one into the trace_marker of a private tracefs instance with a large buffer;
# the instance's `trace` file is saved as text (`tracing_mark_write:` lines), then
# `trace-cmd extract -B` saves the same ring buffer as a trace.dat (v7, zstd, as trace-cmd
# writes it by default) and `trace-cmd convert --compression none` an uncompressed copy.
# `shadowbell analyze` runs on each, interleaved, with wall and CPU time, peak RSS and the
# decoded event counts (which must be equal).
#
#   Benchmarks/tracedat.sh [--size 300M] [--runs 5]
#   Benchmarks/tracedat.sh --measure DIR [--runs 5]   # again, on the files a run kept in DIR
#                                                     # (SHADOWBELL_BENCH_KEEP=1 keeps them)
#
# Needs root, tracefs, trace-cmd, python3, /usr/bin/time. `trace-cmd record` is not
# used. Scratch space: $SHADOWBELL_BENCH_DIR or a fresh /tmp directory, removed at the end.
set -euo pipefail

SIZE=300M
RUNS=5
MEASURE=
while [ $# -gt 0 ]; do
    case "$1" in
        --size) SIZE="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --measure) MEASURE="$2"; shift 2 ;;
        *) echo "usage: $0 [--size 300M] [--runs N] [--measure DIR]" >&2; exit 64 ;;
    esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${MEASURE:-}" ]; then
    swift build -c release --package-path "$ROOT" >&2
    SB="$ROOT/.build/release/shadowbell"
    WORK=$(cd "$MEASURE" && pwd)
else
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
fi

# Interleaved runs (text, zstd, uncompressed, text, ...) so that the load of a shared machine
# falls on all three alike; wall time and CPU time (user + sys, all threads) per run, medians.
python3 - "$SB" "$WORK" "$RUNS" <<'PY'
import json, statistics, subprocess, sys, os
sb, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = ["markers.txt", "trace.dat", "trace-uncompressed.dat"]
labels = {"markers.txt": "ftrace text of the markers", "trace.dat": "trace.dat, zstd v7 (trace-cmd's default)",
          "trace-uncompressed.dat": "trace.dat, uncompressed v7"}
def run(path):
    out = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", sb, "analyze", path, "--quiet"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall, user, sys_, rss = out.stderr.strip().splitlines()[-1].split()
    return float(wall), float(user) + float(sys_), int(rss)
counts = {}
for n in names:
    out = subprocess.run([sb, "analyze", os.path.join(work, n), "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    counts[n] = json.loads(out.stdout)["inputs"][0]["events"]
    run(os.path.join(work, n))  # warm-up
samples = {n: [] for n in names}
for _ in range(runs):
    for n in names:
        samples[n].append(run(os.path.join(work, n)))
print(f"load average (1 min) after the runs: {os.getloadavg()[0]:.1f}; events equal: {len(set(counts.values())) == 1}")
print("| input | size | events | wall (median) | CPU user+sys (median) | vs text, wall | vs text, CPU | peak RSS (max) |")
print("|---|---|---|---|---|---|---|---|")
text_wall = text_cpu = None
for n in names:
    wall = statistics.median(s[0] for s in samples[n])
    cpu = statistics.median(s[1] for s in samples[n])
    rss = max(s[2] for s in samples[n])
    rate_wall, rate_cpu = counts[n] / wall, counts[n] / cpu
    if text_wall is None:
        text_wall, text_cpu = rate_wall, rate_cpu
        vs_wall = vs_cpu = "—"
    else:
        vs_wall, vs_cpu = f"{rate_wall / text_wall * 100:.0f} %", f"{rate_cpu / text_cpu * 100:.0f} %"
    size = os.path.getsize(os.path.join(work, n))
    print(f"| {labels[n]} | {size / 1e6:,.0f} MB | {counts[n]:,} | {wall:.3f} s | {cpu:.3f} s | {vs_wall} | {vs_cpu} | {rss / 1024:.0f} MB |")
PY
