#!/bin/sh
# Makes the small trace.dat fixtures with `trace-cmd extract` (trace-cmd 3.1.6), as root on a
# Linux machine: QEMU log-backend payloads and a driver probe payload written to trace_marker
# on two CPUs, in the top-level buffer and in an instance. The event formats and kallsyms that
# trace-cmd stores are cut down (bind mounts in a private mount namespace) to keep the files
# small; the buffers are the kernel's own.
set -eu
out=$(cd "$(dirname "$0")" && pwd)
T=/sys/kernel/tracing
mountpoint -q $T || mount -t tracefs nodev $T
work=$(mktemp -d)
trap 'rm -rf "$work"; rmdir $T/instances/sbfix 2>/dev/null || true' EXIT
echo "ffffffff81000000 T _stext" > "$work/kallsyms"
mkdir -p "$work/events"
cp $T/events/header_page $T/events/header_event "$work/events/"
for e in $T/events/ftrace/*/; do
    mkdir -p "$work/events/ftrace/$(basename "$e")"
    cp "$e/format" "$e/id" "$work/events/ftrace/$(basename "$e")/" 2>/dev/null || true
done
extract() { # output, trace-cmd extract options...
    o=$1; shift
    unshare -m sh -c "mount --bind '$work/kallsyms' /proc/kallsyms && mount --bind '$work/events' $T/events \
        && trace-cmd extract $* -o '$work/x.dat'" >/dev/null 2>&1
    mv "$work/x.dat" "$o"
}
mark() { # cpu, buffer dir, text
    taskset -c "$1" sh -c "printf '%s\n' '$3' > $2/trace_marker"
}

# Two buffers, two CPUs.
I=$T/instances/sbfix
mkdir -p $I
echo 1 > $T/tracing_on
echo 1 > $I/tracing_on
: > $T/trace
mark 0 $T "pci_nvme_mmio_doorbell_sq sqid 1 new_tail 1"
mark 1 $I "pci_nvme_shadow_doorbell_sq sqid 1 new_shadow_doorbell 1"
mark 1 $T "nvme_dbbuf_sq: nvme0: qid=1, old=0, new=1, eventidx=0, mmio=1"
mark 0 $I "=== GUEST: fio start"
mark 0 $T "pci_nvme_io_cmd cid 7 nsid 0x1 sqid 1 opc 0x2 opname 'NVME_NVM_CMD_READ'"
mark 1 $T "pci_nvme_eventidx_sq sqid 1 new_eventidx 1"
mark 1 $I "pci_nvme_enqueue_req_completion cid 7 cqid 1 dw0 0x0 dw1 0x0 status 0x0"
mark 0 $T "pci_nvme_shadow_doorbell_cq cqid 1 new_shadow_doorbell 1"
extract "$work/two.dat" -t -B sbfix
trace-cmd convert --file-version 6 -i "$work/two.dat" -o "$out/two-buffers-v6.dat" >/dev/null 2>&1
trace-cmd convert --compression none -i "$work/two.dat" -o "$out/two-buffers-v7.dat" >/dev/null 2>&1
mv "$work/two.dat" "$out/two-buffers-v7-zstd.dat"
trace-cmd report "$out/two-buffers-v7-zstd.dat" > "$out/two-buffers.report.txt"

# Lost events: far more markers than a small ring holds.
mkdir -p $I
echo 4 > $I/buffer_size_kb

taskset -c 0 sh -c "i=0; while [ \$i -lt 400 ]; do echo \"pci_nvme_mmio_doorbell_sq sqid 1 new_tail \$((i % 1024))\"; i=\$((i + 1)); done > $I/trace_marker"
extract "$out/lost-v7-zstd.dat" -B sbfix
trace-cmd report "$out/lost-v7-zstd.dat" > "$out/lost.report.txt"
