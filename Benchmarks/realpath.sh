#!/usr/bin/env bash
# The post-mortem path: a guest trace and the controller's trace on two clocks (and, for the
# real captures, the guest console), analysed together, side by side with the same work done
# by other tools in the same run.
#
#   Benchmarks/realpath.sh [--sizes "1G"] [--runs 5] [--real DIR] [--results FILE.jsonl]
#
# For each size, the simulator writes a field-mode run (`--qemu-log`: the guest's ftrace on the
# guest clock, QEMU's log on the host clock) whose QEMU log is about that size (the guest trace
# is 1.4 times larger), plus zstd copies of both. Measured with hyperfine (medians):
#   - `analyze guest qemu` (two clocks, aligned) against `awk '/nvme/{n++}'` over both files,
#     and against the sum of `analyze guest` and `analyze qemu` alone;
#   - the floors of any design that reads each input once on these cores: `analyze guest` and
#     `analyze qemu` run at the same time (two processes, no alignment, no merge), and decoding
#     alone (`sbbench decode`, no analysis) of both at the same time;
#   - `analyze guest.zst qemu.zst` against `zstd -dc guest.zst qemu.zst > /dev/null`;
#   - `report`, `explain --finding 1`, `timeline --format svg` and `convert --to perfetto-json`
#     against `analyze` of the same inputs (convert only up to 1 GB: its JSON takes about 225
#     bytes per event);
#   - peak RSS (/usr/bin/time) of the two-clock analysis, plain and compressed, and of report,
#     explain and timeline (whose second passes quote and draw);
#   - whether the findings are the same plain and compressed.
# With --real DIR (default: ../shared/traces/real beside the package, when there), each run
# folder holding a guest trace, a QEMU log and a console is analysed as those three files
# (decompressed first when kept as .zst) against awk over the guest trace and the QEMU log.
#
# Needs: swift, hyperfine, zstd, python3, /usr/bin/time. Scratch space: $SHADOWBELL_BENCH_DIR or
# a fresh /tmp directory (about 3.5 times the sizes asked for), removed at the end.
set -euo pipefail

SIZES="1G"
RUNS=5
KEEP=""
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REAL="$ROOT/../shared/traces/real"
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) SIZES="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --real) REAL="$2"; shift 2 ;;
        --results) KEEP="$2"; shift 2 ;;
        *) echo "usage: $0 [--sizes \"1G 4G\"] [--runs N] [--real DIR] [--results FILE.jsonl]" >&2; exit 64 ;;
    esac
done

WORK=$(mktemp -d "${SHADOWBELL_BENCH_DIR:-/tmp}/shadowbell-realpath.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# As the README builds it: the Swift runtime linked in (a process starts in 9 ms instead of 17).
swift build -c release --static-swift-stdlib --package-path "$ROOT" >&2
SB="$ROOT/.build/release/shadowbell"
swift build -c release --package-path "$ROOT/Benchmarks" --product sbbench >&2
SBBENCH="$ROOT/Benchmarks/.build/release/sbbench"
RESULTS="$WORK/results.jsonl"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2

peak_rss_kb() { { /usr/bin/time -f %M "$@" 2>&1 >/dev/null || true; } | tail -1; }
findings() { "$SB" analyze "$@" --format json --quiet 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
print(json.dumps([[f["kind"], f["queue"], f.get("cause"), f["start_ns"], f.get("end_ns")] for f in r["findings"]]))' || true; }

record() { # NAME KIND BYTES FILE-OF-HYPERFINE-JSON EXTRA-JSON
    python3 - "$@" >> "$RESULTS" <<'EOF'
import json, sys
name, kind, size, h, extra = sys.argv[1:]
t = {r["command"]: r["median"] for r in json.load(open(h))["results"]}
print(json.dumps({"name": name, "kind": kind, "bytes": int(size), "times": t, **json.loads(extra)}))
EOF
}

for size in $SIZES; do
    d="$WORK/$size"
    mkdir -p "$d"
    # Field mode writes about 114 bytes of QEMU log per simulated microsecond.
    us=$(( $(numfmt --from=iec "$size") / 114 ))
    echo "== two clocks, $size QEMU log: generating ($us simulated µs)" >&2
    "$SB" simulate --seed 3 --profile racing --driver-barrier off --duration-us "$us" \
        --output "$d/guest.txt" --qemu-log "$d/qemu.log" >&2
    zstd -q -3 -T2 "$d/guest.txt" "$d/qemu.log"
    bytes=$(( $(stat -c %s "$d/guest.txt") + $(stat -c %s "$d/qemu.log") ))
    cat "$d"/* > /dev/null
    cmds=(-n analyze "$SB analyze $d/guest.txt $d/qemu.log --quiet"
          -n analyze-guest "$SB analyze $d/guest.txt --quiet"
          -n analyze-qemu "$SB analyze $d/qemu.log --quiet"
          -n alone-at-once "bash -c '$SB analyze $d/guest.txt --quiet & $SB analyze $d/qemu.log --quiet & wait'"
          -n decode-at-once "bash -c '$SBBENCH decode $d/guest.txt --decode-threads 1 & $SBBENCH decode $d/qemu.log --decode-threads 1 & wait'"
          -n awk "awk '/nvme/{n++} END{print n}' $d/guest.txt $d/qemu.log"
          -n analyze-zst "$SB analyze $d/guest.txt.zst $d/qemu.log.zst --quiet"
          -n zstd-dc "zstd -dc $d/guest.txt.zst $d/qemu.log.zst > /dev/null"
          -n report "$SB report $d/guest.txt $d/qemu.log --quiet -o $d/r.html"
          -n explain "$SB explain --finding 1 $d/guest.txt $d/qemu.log --quiet"
          -n timeline "$SB timeline --format svg $d/guest.txt $d/qemu.log --quiet -o $d/t.svg")
    if [ "$(numfmt --from=iec "$size")" -le $((1 << 30)) ]; then
        cmds+=(-n convert-perfetto "$SB convert $d/guest.txt $d/qemu.log --to perfetto-json -o /dev/null")
    fi
    echo "== two clocks, $size: timing" >&2
    hyperfine -i --warmup 1 --runs "$RUNS" --export-json "$d/h.json" "${cmds[@]}" >&2
    rss=$(peak_rss_kb "$SB" analyze "$d/guest.txt" "$d/qemu.log" --quiet)
    rss_zst=$(peak_rss_kb "$SB" analyze "$d/guest.txt.zst" "$d/qemu.log.zst" --quiet)
    rss_report=$(peak_rss_kb "$SB" report "$d/guest.txt" "$d/qemu.log" --quiet -o "$d/r.html")
    rss_explain=$(peak_rss_kb "$SB" explain --finding 1 "$d/guest.txt" "$d/qemu.log" --quiet)
    rss_timeline=$(peak_rss_kb "$SB" timeline --format svg "$d/guest.txt" "$d/qemu.log" --quiet -o "$d/t.svg")
    same=$([ "$(findings "$d/guest.txt" "$d/qemu.log")" = "$(findings "$d/guest.txt.zst" "$d/qemu.log.zst")" ] && echo true || echo false)
    record "generated $size" generated "$bytes" "$d/h.json" \
        "{\"rss_kb\": $rss, \"rss_zst_kb\": $rss_zst, \"rss_report_kb\": $rss_report, \"rss_explain_kb\": $rss_explain, \"rss_timeline_kb\": $rss_timeline, \"same_findings_zst\": $same}"
    rm -rf "$d"
done

if [ -d "$REAL" ]; then
    for run in "$REAL"/*/; do
        name=$(basename "$run")
        d="$WORK/real-$name"
        mkdir -p "$d"
        for f in guest-ftrace.txt qemu-trace.log console.log; do
            if [ -f "$run/$f" ]; then cp "$run/$f" "$d/$f"; elif [ -f "$run/$f.zst" ]; then zstd -q -dc "$run/$f.zst" > "$d/$f"; fi
        done
        if [ ! -f "$d/guest-ftrace.txt" ] || [ ! -f "$d/qemu-trace.log" ] || [ ! -f "$d/console.log" ]; then rm -rf "$d"; continue; fi
        bytes=$(( $(stat -c %s "$d/guest-ftrace.txt") + $(stat -c %s "$d/qemu-trace.log") ))
        echo "== real $name: timing" >&2
        hyperfine -i --warmup 2 --runs "$((RUNS * 4))" --export-json "$d/h.json" \
            -n analyze "$SB analyze $d/guest-ftrace.txt $d/qemu-trace.log $d/console.log --quiet" \
            -n analyze-guest "$SB analyze $d/guest-ftrace.txt --quiet" \
            -n analyze-qemu "$SB analyze $d/qemu-trace.log --quiet" \
            -n alone-at-once "bash -c '$SB analyze $d/guest-ftrace.txt --quiet & $SB analyze $d/qemu-trace.log --quiet & wait'" \
            -n decode-at-once "bash -c '$SBBENCH decode $d/guest-ftrace.txt --decode-threads 1 & $SBBENCH decode $d/qemu-trace.log --decode-threads 1 & wait'" \
            -n awk "awk '/nvme/{n++} END{print n}' $d/guest-ftrace.txt $d/qemu-trace.log" \
            -n report "$SB report $d/guest-ftrace.txt $d/qemu-trace.log $d/console.log --quiet -o $d/r.html" \
            -n explain "$SB explain --finding 1 $d/guest-ftrace.txt $d/qemu-trace.log $d/console.log --quiet" \
            -n convert-perfetto "$SB convert $d/guest-ftrace.txt $d/qemu-trace.log $d/console.log --to perfetto-json -o /dev/null" >&2
        rss=$(peak_rss_kb "$SB" analyze "$d/guest-ftrace.txt" "$d/qemu-trace.log" "$d/console.log" --quiet)
        record "real $name" real "$bytes" "$d/h.json" "{\"rss_kb\": $rss}"
        rm -rf "$d"
    done
fi

python3 - "$RESULTS" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def r(a, b): return f"{a / b:.2f}" if a and b else "—"
print("| run | MB (guest + QEMU) | analyze | awk | vs awk | guest + QEMU alone | vs alone | floors: alone at once / decoding at once (vs awk) | .zst | zstd -dc | .zst vs zstd -dc | report / explain / timeline / convert ÷ analyze | peak RSS (plain / .zst / report / explain / timeline) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for x in rows:
    t = x["times"]
    a = t["analyze"]
    alone = t["analyze-guest"] + t["analyze-qemu"]
    zst, dc = t.get("analyze-zst"), t.get("zstd-dc")
    floors = " / ".join(f"{t[k]:.3f} s ({t['awk'] / t[k]:.2f})" if t.get(k) else "—" for k in ("alone-at-once", "decode-at-once"))
    ratios = " / ".join(r(t.get(k), a) for k in ("report", "explain", "timeline", "convert-perfetto"))
    rss = " / ".join(f"{x[k] / 1024:.0f} MB" for k in ("rss_kb", "rss_zst_kb", "rss_report_kb", "rss_explain_kb", "rss_timeline_kb") if k in x)
    print(f"| {x['name']} | {x['bytes'] / 1e6:,.0f} | {a:.3f} s | {t['awk']:.3f} s | **{t['awk'] / a:.2f}** | {alone:.3f} s | {r(alone, a)} | {floors} | "
          f"{f'{zst:.3f} s' if zst else '—'} | {f'{dc:.3f} s' if dc else '—'} | {('**' + r(dc, zst) + '**') if zst else '—'} | {ratios} | {rss} |")
same = [x["name"] for x in rows if x.get("same_findings_zst") is False]
print()
print("findings the same plain and compressed: " + ("yes" if not same else "NO: " + ", ".join(same)))
EOF
if [ -n "$KEEP" ]; then cp "$RESULTS" "$KEEP"; fi
