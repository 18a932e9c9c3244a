#!/usr/bin/env bash
# Runs libFuzzer targets of ShadowBell (Docs/Reliability.md).
#   Fuzz/run.sh TARGET|all SECONDS [libFuzzer flags…]
# Builds Fuzz/ (SwiftPM's debug configuration, optimised with -O: its release configuration
# comes without coverage instrumentation, which leaves libFuzzer blind) with --sanitize=fuzzer
# --sanitize=address, makes the seed corpora (Fuzz/seed.sh) and runs each target for SECONDS, keeping what
# it finds in .build/fuzz/corpus/<target>. A crash, a leak, a timeout (10 s per input) or
# memory beyond 2 GB stops the target and leaves the input in .build/fuzz/artifacts/<target>/;
# the script then exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: Fuzz/run.sh TARGET|all SECONDS [libFuzzer flags]" >&2; exit 64; }
which=$1 seconds=$2
shift 2
all=(ftrace qemu-log console qemu-simple pcap tracedat detect analyzer)
if [ "$which" = all ]; then targets=("${all[@]}"); else targets=("$which"); fi

# swiftc keeps only the last `-sanitize=` it is given: SwiftPM passes `--sanitize` flags one by
# one, so the fuzzer's coverage counters would be lost to the address sanitizer's flag. Both
# go in one `-sanitize=fuzzer,address`, after SwiftPM's own (`--sanitize` still links the runtimes).
# -O after SwiftPM's -Onone: two to three times the executions a second of an unoptimised build.
flags=(--package-path Fuzz --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address -Xswiftc -O)
swift build "${flags[@]}" >&2
binary="$(swift build "${flags[@]}" --show-bin-path)/shadowbell-fuzz"
# A build without coverage counters leaves libFuzzer blind (it then mutates one byte at random):
# refuse to run it.
if ! nm "$binary" 2>/dev/null | grep __start___sancov_cntrs > /dev/null; then
    echo "Fuzz/run.sh: $binary has no coverage counters (was it built with -sanitize=fuzzer?)" >&2
    exit 2
fi

corpus=.build/fuzz/corpus
Fuzz/seed.sh "$corpus" >&2
status=0
for t in "${targets[@]}"; do
    mkdir -p ".build/fuzz/artifacts/$t" "$corpus/$t"
    echo "== $t: ${seconds}s" >&2
    if ! SHADOWBELL_FUZZ_TARGET=$t ASAN_OPTIONS=detect_leaks=0 "$binary" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
        -artifact_prefix=".build/fuzz/artifacts/$t/" -print_final_stats=1 "$@" "$corpus/$t" \
        >".build/fuzz/$t.log" 2>&1; then
        echo "== $t: FAILED (see .build/fuzz/$t.log and .build/fuzz/artifacts/$t/)" >&2
        tail -40 ".build/fuzz/$t.log" >&2
        status=1
    fi
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|Done [0-9]+ runs" ".build/fuzz/$t.log" >&2 || true
done
exit $status
