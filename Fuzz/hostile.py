#!/usr/bin/env python3
"""Writes the hostile inputs of Docs/Reliability.md's memory and time table into DIR.

    Fuzz/hostile.py DIR

domains-N.pcap: N records, each of a new original input (clock domain).
queues-N.pcap: N records, each on a new (controller, qid) pair.
commands-N.pcap: N guest submissions of distinct commands (cmdid 0...65535 on qid 1, 2, ...),
never fetched nor completed.
qsize.txt, lost.txt: one queue creation with qsize 2^32-1; lost-event markers beyond 2^32.
The 2 GB line and the blank lines are made on the fly by the measuring commands (a pipe).
"""
import os
import struct
import sys


def pcap(path, records):
    with open(path, "wb") as f:
        # Classic pcap, nanosecond timestamps, LINKTYPE_USER0 (147).
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 0xFFFF, 147))
        for i, payload in enumerate(records):
            t = 1_000_000_000 + i * 1000
            f.write(struct.pack("<IIII", t // 1_000_000_000, t % 1_000_000_000, len(payload), len(payload)))
            f.write(payload)


def record(kind, side, controller, qid, qtype, a=0, source=0):
    # Version 1 ShadowBell record (RecordCodec.swift): 48 bytes.
    return (b"SBEV" + bytes([1, 48, side, kind, 0, qtype, 0, 0])
            + struct.pack("<HHIIIHHQQ", controller, qid, a, 0, 0, source, 0, 0, 0))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    mmio, controller_side = 12, 1
    for n in (2_000, 19_000):
        pcap(f"{out}/domains-{n}.pcap",
             (record(mmio, controller_side, 0, 1, 0, a=1, source=i % 65536) for i in range(n)))
    n = 1_000_000
    pcap(f"{out}/queues-{n}.pcap",
         (record(mmio, controller_side, i >> 16, i & 0xFFFF, 0, a=1) for i in range(n)))
    submit, driver_side = 2, 0
    pcap(f"{out}/commands-{n}.pcap",
         (record(submit, driver_side, 0, 1 + (i >> 16), 0, a=i & 0xFFFF) for i in range(n)))
    header = "# tracer: nop\n#\n"
    with open(f"{out}/qsize.txt", "w") as f:
        f.write(header + " qemu-system-x86-4711 [001] .....   100.000110: tracing_mark_write: "
                "pci_nvme_create_sq create submission queue, addr=0x10a000, sqid=1, cqid=1, "
                "qsize=4294967295, qflags=1\n")
    with open(f"{out}/lost.txt", "w") as f:
        f.write(header + "CPU:0 [LOST 18446744073709551615 EVENTS]\nCPU:1 [LOST 5 EVENTS]\n"
                "             fio-2201 [000] .....   100.001002: nvme_dbbuf_sq: nvme0: qid=1, "
                "old=0, new=1, eventidx=0, mmio=1\n")


main()
