#!/usr/bin/env bash
# Writes the seed corpora of the fuzz targets into DIR/<target>/ (default .build/fuzz/corpus):
# small cuts of SampleTraces and, when ../shared/traces/real is beside the package, of the real
# captures. Nothing here is committed: the corpora are made again from the traces.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-.build/fuzz/corpus}"
real="../shared/traces/real"
targets=(ftrace qemu-log console qemu-simple pcap tracedat detect analyzer)
for t in "${targets[@]}"; do mkdir -p "$out/$t"; done

# cut NAME FILE TARGET... : the first 4 KiB, and 4 KiB from the middle (from a line start).
cut_text() {
    local name=$1 file=$2; shift 2
    [ -s "$file" ] || return 0
    local size
    size=$(wc -c <"$file")
    for t in "$@"; do
        head -c 4096 "$file" >"$out/$t/$name-head"
        if [ "$size" -gt 16384 ]; then
            (tail -c +$((size / 2)) "$file" | sed -n '2,$p' | head -c 4096 >"$out/$t/$name-middle") || true
        fi
    done
}
# Plain text from a zstd file without reading all of it.
cut_zst() {
    local name=$1 file=$2; shift 2
    [ -s "$file" ] && command -v zstd >/dev/null || return 0
    local tmp
    tmp=$(mktemp)
    (zstd -dc "$file" 2>/dev/null | head -c 65536 >"$tmp") || true
    cut_text "$name" "$tmp" "$@"
    rm -f "$tmp"
}

for f in SampleTraces/lab/*.txt SampleTraces/real-single/guest-ftrace.txt; do
    cut_text "$(basename "$f" .txt)" "$f" ftrace detect
done
cut_text qemu-trace SampleTraces/real-single/qemu-trace.log qemu-log detect
cut_text console-single "$real/single/console.log" console detect
if [ -s "$real/sysrq-hang/console.log.zst" ] && command -v zstd >/dev/null; then
    # The ftrace dump a sysrq-z wrote into the console.
    (zstd -dc "$real/sysrq-hang/console.log.zst" | sed -n '/Dumping ftrace buffer/,$p' | head -c 8192 \
        >"$out/console/sysrq-dump") || true
    cp "$out/console/sysrq-dump" "$out/detect/sysrq-dump"
fi
cut_zst trace-cmd-report "$real/dat-hang-sq2/guest-trace-cmd-report.txt.zst" ftrace detect
cut_zst guest-ftrace-mq2 "$real/mq2/guest-ftrace.txt.zst" ftrace
cut_zst qemu-trace-hang "$real/hang-sq2/qemu-trace.log.zst" qemu-log

cp SampleTraces/binary/trace-4711 "$out/qemu-simple/trace-4711"
# trace.dat: the test fixtures (v6, v7, zstd v7, lost events); beyond -max_len only their
# first 16 KiB are read.
cp Tests/ShadowBellFormatsTests/Fixtures/tracedat/*.dat "$out/tracedat/"
cp SampleTraces/binary/trace-4711 "$out/detect/trace-4711"
head -c 8192 SampleTraces/binary/qemu-single-excerpt.pcap >"$out/pcap/excerpt.pcap"
head -c 8192 SampleTraces/binary/qemu-single-excerpt-first600.pcapng >"$out/pcap/excerpt.pcapng"
cp "$out/pcap/excerpt.pcap" "$out/detect/excerpt.pcap"
# The analyzer takes 24-byte event descriptions: any bytes will do as a start.
head -c 4800 SampleTraces/binary/qemu-single-excerpt.pcap >"$out/analyzer/pcap-bytes"
head -c 2400 SampleTraces/binary/trace-4711 >"$out/analyzer/simple-bytes"
echo "seed corpora in $out: $(find "$out" -type f | wc -l) files"
