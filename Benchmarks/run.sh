#!/usr/bin/env bash
# ShadowBell benchmarks: generates simulator traces on the fly (never kept), then measures, on
# the same file in the same run, ShadowBell's full analysis and the baselines.
#
#   Benchmarks/run.sh [--sizes "100M 1G"] [--formats "ftrace qemulog pcap simple"] [--runs 5]
#                     [--baseline PATH/TO/OTHER/shadowbell] [--results FILE.jsonl]
#                     [--realpath "1G" | --no-realpath]
#
# Per format and size it reports medians (hyperfine) of: `shadowbell analyze FILE` (default:
# text decoded on all cores, binary read ahead on a second thread), the same with
# `--decode-threads 1`, `cat FILE | shadowbell analyze -`, `cat FILE | pipe-drain` (the fastest a
# pipe delivers the file: 1 MiB reads, newlines counted), `wc -l FILE`, and
# `awk '/nvme_setup_cmd/{n++} END{print n}' FILE` (text) or `pcap-loop FILE` (pcap: a bare
# pcap_next_ex loop touching every byte; also `pcap-loop --tuned FILE`, the same loop with the
# stdio buffer and locking ShadowBell's reader gives libpcap); peak RSS (/usr/bin/time); time to first finding
# (sbbench); heap allocations (libMallocCount.so); and whether the JSON report is identical
# with 1 and N decoding threads (and to --baseline's, when given).
#
# Then, in the same invocation, the post-mortem path (Benchmarks/realpath.sh): a generated
# two-clock run of each --realpath size (guest ftrace + QEMU log, plain and .zst) and the real
# runs in ../shared/traces/real (guest + QEMU + console) — `analyze` against awk over the same
# files, against the inputs analysed alone and against `zstd -dc`, and report / explain /
# timeline / convert --to perfetto-json against `analyze`. `--realpath ""`: the real runs only;
# `--no-realpath`: the single inputs only.
#
# Needs: swift, hyperfine, python3, /usr/bin/time (apt-get install hyperfine time).
# Scratch space: $SHADOWBELL_BENCH_DIR or a fresh /tmp directory, removed at the end.
set -euo pipefail

SIZES="100M 1G"
FORMATS="ftrace qemulog pcap simple"
RUNS=5
BASELINE=""
KEEP=""
REALPATH_SIZES="1G"
REALPATH=yes
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) SIZES="$2"; shift 2 ;;
        --formats) FORMATS="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --baseline) BASELINE="$2"; shift 2 ;;
        --results) KEEP="$2"; shift 2 ;;
        --realpath) REALPATH_SIZES="$2"; shift 2 ;;
        --no-realpath) REALPATH=""; shift ;;
        *) echo "usage: $0 [--sizes \"100M 1G\"] [--formats \"ftrace qemulog pcap simple\"] [--runs N] [--baseline BIN] [--results FILE.jsonl] [--realpath \"1G\" | --no-realpath]" >&2; exit 64 ;;
    esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${SHADOWBELL_BENCH_DIR:-/tmp}/shadowbell-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

swift build -c release --package-path "$ROOT" >&2
# The tools are built from scratch: an incremental build of a package that depends on ours by
# path can keep objects compiled against an older layout of our types.
swift package --package-path "$ROOT/Benchmarks" clean >&2
swift build -c release --package-path "$ROOT/Benchmarks" >&2
SB="$ROOT/.build/release/shadowbell"
BB="$ROOT/Benchmarks/.build/release"

# Simulated microseconds per requested byte, per format (racing profile, hangs included).
bytes() { numfmt --from=iec "$1"; }
duration_us() { # FORMAT SIZE → simulated duration giving about SIZE bytes of that format
    local per_us
    case "$1" in
        ftrace) per_us=393 ;;   # lab-mode ftrace text
        qemulog) per_us=123 ;;  # field-mode QEMU log
        pcap) per_us=153 ;;     # pcap converted from lab-mode ftrace
        simple) per_us=89 ;;    # simple trace converted from the field-mode QEMU log
    esac
    echo $(( $(bytes "$2") / per_us ))
}

generate() { # FORMAT SIZE FILE
    local d; d=$(duration_us "$1" "$2")
    local sim=("$SB" simulate --seed 3 --profile racing --driver-barrier off --duration-us "$d" --truth "$3.truth.json")
    case "$1" in
        ftrace) "${sim[@]}" --output "$3" >&2 ;;
        qemulog) "${sim[@]}" --output "$WORK/guest.tmp" --qemu-log "$3" >&2; rm -f "$WORK/guest.tmp" ;;
        pcap) "${sim[@]}" --output "$WORK/lab.tmp" >&2
              "$SB" convert "$WORK/lab.tmp" --output "$3" >&2; rm -f "$WORK/lab.tmp" ;;
        simple) "${sim[@]}" --output "$WORK/guest.tmp" --qemu-log "$WORK/log.tmp" >&2; rm -f "$WORK/guest.tmp"
                "$BB/log2simple" "$WORK/log.tmp" "$3" >&2; rm -f "$WORK/log.tmp" ;;
    esac
}

median_of() { # N COMMAND... → median of the first JSON field named $KEY over N runs
    local n=$1; shift
    for _ in $(seq "$n"); do "$@"; done | python3 -c '
import json, statistics, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
out = {k: statistics.median([r[k] for r in rows if r[k] is not None]) if any(r[k] is not None for r in rows) else None for k in rows[0]}
print(json.dumps(out))'
}

# (analyze exits 1 when it reports an error finding: not a failure here)
peak_rss_kb() { { /usr/bin/time -f %M "$@" 2>&1 >/dev/null || true; } | tail -1; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GB RAM" >&2
RESULTS="$WORK/results.jsonl"
for size in $SIZES; do
    for format in $FORMATS; do
        f="$WORK/$format-$size"
        echo "== $format $size: generating" >&2
        generate "$format" "$size" "$f"
        sync
        cat "$f" > /dev/null  # page cache: every tool reads it from memory
        cmds=(-n analyze "$SB analyze $f --quiet"
              -n analyze-1-thread "$SB analyze $f --quiet --decode-threads 1"
              -n analyze-stdin "cat $f | $SB analyze - --quiet"
              -n pipe-drain "cat $f | $BB/pipe-drain"
              -n wc-l "wc -l $f")
        case "$format" in
            ftrace|qemulog) cmds+=(-n awk "awk '/nvme_setup_cmd/{n++} END{print n}' $f") ;;
            pcap) cmds+=(-n pcap-loop "$BB/pcap-loop $f" -n pcap-loop-tuned "$BB/pcap-loop --tuned $f") ;;
        esac
        echo "== $format $size: timing" >&2
        hyperfine -i --warmup 1 --runs "$RUNS" --export-json "$WORK/h.json" "${cmds[@]}" >&2
        rss=$(peak_rss_kb "$SB" analyze "$f" --quiet)
        rss1=$(peak_rss_kb "$SB" analyze "$f" --quiet --decode-threads 1)
        rss_stdin=$({ /usr/bin/time -f %M sh -c "cat $f | $SB analyze - --quiet >/dev/null" 2>&1 || true; } | tail -1)
        first=$(median_of 3 "$BB/sbbench" first-finding "$f")
        allocs=$({ LD_PRELOAD="$BB/libMallocCount.so" "$SB" analyze "$f" --quiet 2>&1 >/dev/null || true; } | sed -n 's/^malloc-count: \([0-9]*\) allocations.*/\1/p')
        "$SB" analyze "$f" --format json --quiet > "$WORK/n.json" || true
        "$SB" analyze "$f" --format json --quiet --decode-threads 1 > "$WORK/1.json" || true
        identical=$(cmp -s "$WORK/n.json" "$WORK/1.json" && echo yes || echo NO)
        baseline_identical=null
        if [ -n "$BASELINE" ]; then
            "$BASELINE" analyze "$f" --format json > "$WORK/b.json" || true
            baseline_identical=$(cmp -s "$WORK/n.json" "$WORK/b.json" && echo '"yes"' || echo '"NO"')
        fi
        # Lab-mode inputs hold both sides: every mutual-wait window must equal the truth.
        truth_cmp=null
        case "$format" in
            ftrace|pcap)
                "$SB" analyze "$f" --format json --quiet --min-wait 0 --max-hangs-per-queue 0 > "$WORK/t.json" || true
                truth_cmp=$(python3 "$ROOT/Benchmarks/compare-truth.py" "$WORK/t.json" "$f.truth.json" || true) ;;
        esac
        python3 - "$WORK/h.json" "$f" "$format" "$size" "$rss" "$rss1" "$rss_stdin" "$first" "${allocs:-0}" \
            "$identical" "$baseline_identical" "$WORK/n.json" "$f.truth.json" "$truth_cmp" >> "$RESULTS" <<'EOF'
import json, os, sys
h, path, fmt, size, rss, rss1, rss_stdin, first, allocs, identical, base, report, truth, truth_cmp = sys.argv[1:]
t = {r["command"]: r["median"] for r in json.load(open(h))["results"]}
rep = json.load(open(report))
tr = json.load(open(truth))
waits = [w for w in tr.get("mutual_waits", []) if (w.get("duration_ns") or 0) >= 1_000_000]
print(json.dumps({
    "format": fmt, "size": size, "bytes": os.path.getsize(path), "times": t,
    "events": json.loads(first)["events"], "first_finding_s": json.loads(first)["first_finding_seconds"],
    "rss_kb": int(rss), "rss_1_thread_kb": int(rss1), "rss_stdin_kb": int(rss_stdin), "allocations": int(allocs),
    "parallel_identical": identical, "baseline_identical": json.loads(base),
    "findings": len(rep.get("findings", [])),
    "mutual_wait_findings": sum(1 for f in rep.get("findings", []) if f.get("kind") == "mutual-wait"),
    "truth_mutual_waits_1ms": len(waits),
    "truth_comparison": json.loads(truth_cmp),
}))
EOF
        rm -f "$f" "$f.truth.json"
    done
done

python3 - "$RESULTS" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| input | size | analyze (2 threads) | 1 thread | stdin | pipe-drain | wc -l | awk / pcap-loop | ratios | events/s | peak RSS (N / 1 / stdin) | first finding | allocations | same report |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    t, mb = r["times"], r["bytes"] / 1e6
    sb, one, stdin, wc = t["analyze"], t["analyze-1-thread"], t["analyze-stdin"], t["wc-l"]
    base = t.get("awk") or t.get("pcap-loop")
    basename = "awk" if "awk" in t else ("pcap-loop" if "pcap-loop" in t else None)
    def cell(s): return f"{s:.3f} s ({mb / s:,.0f} MB/s)"
    drain = t.get("pipe-drain")
    ratios = [f"vs 1 thread ×{one / sb:.2f}", f"stdin {sb / stdin * 100:.0f}% of file", f"vs wc -l {wc / sb * 100:.0f}%"]
    if base: ratios.insert(0, f"vs {basename} {base / sb * 100:.0f}%")
    if "pcap-loop-tuned" in t: ratios.insert(1, f"vs pcap-loop --tuned {t['pcap-loop-tuned'] / sb * 100:.0f}%")
    ff = "—" if r["first_finding_s"] is None else f"{r['first_finding_s']:.3f} s"
    same = r["parallel_identical"] + ("" if r["baseline_identical"] is None else f", baseline {r['baseline_identical']}")
    print(f"| {r['format']} | {mb:,.0f} MB | {cell(sb)} | {cell(one)} | {cell(stdin)} | {cell(drain) if drain else '—'} | {cell(wc)} | "
          f"{cell(base) if base else '—'} | {'; '.join(ratios)} | {r['events'] / sb / 1e6:.1f} M | "
          f"{r['rss_kb'] / 1024:.0f} / {r['rss_1_thread_kb'] / 1024:.0f} / {r['rss_stdin_kb'] / 1024:.0f} MB | {ff} | "
          f"{r['allocations']:,} | {same} |")
print()
print("findings (mutual-wait findings / truth windows ≥ 1 ms): " + ", ".join(
    f"{r['format']} {r['size']}: {r['findings']} ({r['mutual_wait_findings']}/{r['truth_mutual_waits_1ms']})" for r in rows))
print("mutual-wait windows equal to the truth (--min-wait 0; start, end, resolution, cause, stuck commands): " + ", ".join(
    f"{r['format']} {r['size']}: {c['exact']}/{c['truth']} ({c['found']} found{', MISMATCH' if c['mismatches'] else ''})"
    for r in rows if (c := r.get("truth_comparison"))))
EOF
if [ -n "$KEEP" ]; then cp "$RESULTS" "$KEEP"; fi

if [ -n "$REALPATH" ]; then
    echo >&2
    echo "== the post-mortem path (Benchmarks/realpath.sh --sizes \"$REALPATH_SIZES\")" >&2
    echo
    realpath_args=(--sizes "$REALPATH_SIZES" --runs "$RUNS")
    if [ -n "$KEEP" ]; then realpath_args+=(--results "${KEEP%.jsonl}-realpath.jsonl"); fi
    "$ROOT/Benchmarks/realpath.sh" "${realpath_args[@]}"
fi
