import Foundation
import Testing
import ShadowBellCore
@testable import ShadowBellFormats

private func detected(_ bytes: [UInt8]) throws(InputError) -> DetectedFormat {
    let path = TempFile.write(bytes)
    defer { TempFile.remove(path) }
    return try detectFormat(path: path)
}

private func openError(_ bytes: [UInt8]) -> InputError? {
    let path = TempFile.write(bytes)
    defer { TempFile.remove(path) }
    do {
        _ = try openEventSource(path: path, index: 0)
        return nil
    } catch {
        return error
    }
}

private func u64LE(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

@Suite struct FormatDetectionTests {
    @Test func ftraceWithHeader() throws {
        #expect(try detected(Array("# tracer: nop\n#\n".utf8)) == .ftraceText)
    }

    @Test func ftraceWithoutHeader() throws {
        let line = "          <idle>-0       [000] d.H1.     9.378744: irq_handler_entry: irq=24 name=nvme0q0\n"
        #expect(try detected(Array(("\n" + line).utf8)) == .ftraceText)
    }

    @Test func traceCmdReport() throws {
        let text = "cpus=2\n             fio-1234  [003]  5123.456789: block_rq_issue:       259,0 R 8192 () 1 + 16 [fio]\n"
        #expect(try detected(Array(text.utf8)) == .ftraceText)
        #expect(try detected(Array("CPU:0 [LOST EVENTS]\n".utf8)) == .ftraceText)
        #expect(try detected(Array("CPU:7 [204600 EVENTS DROPPED]\n".utf8)) == .ftraceText)
    }

    @Test func qemuLogShapes() throws {
        #expect(try detected(Array("4711@1690000000.123456:pci_nvme_mmio_read addr 0x8 size 4\n".utf8)) == .qemuLog)
        #expect(try detected(Array("pci_nvme_mmio_doorbell_sq sqid 1 new_tail 17\n".utf8)) == .qemuLog)
        #expect(
            try detected(Array("2025-07-21T18:43:28.089797Z pci_nvme_mmio_doorbell_sq sqid 1 new_tail 17".utf8))
                == .qemuLog)
        // Only other QEMU events: still a QEMU log (that holds no NVMe event).
        let others = "virtio_blk_req_complete vdev 0x1 req 0x2 status 0\nvirtio_notify vdev 0x1 vq 0x2\n"
        #expect(try detected(Array(others.utf8)) == .qemuLog)
    }

    @Test func binaryMagics() throws {
        let simpleLE = u64LE(.max) + u64LE(0xf2b1_77cb_0aa4_29b4) + u64LE(4)
        let simpleBE = u64LE(.max) + u64LE(0xf2b1_77cb_0aa4_29b4).reversed() + u64LE(4).reversed()
        #expect(try detected(simpleLE) == .binary(.qemuSimple(littleEndian: true)))
        #expect(try detected(simpleBE) == .binary(.qemuSimple(littleEndian: false)))
        let tail = [UInt8](repeating: 0, count: 20)
        #expect(try detected([0xD4, 0xC3, 0xB2, 0xA1] + tail) == .binary(.pcap(littleEndian: true, nanosecond: false)))
        #expect(try detected([0xA1, 0xB2, 0xC3, 0xD4] + tail) == .binary(.pcap(littleEndian: false, nanosecond: false)))
        #expect(try detected([0x4D, 0x3C, 0xB2, 0xA1] + tail) == .binary(.pcap(littleEndian: true, nanosecond: true)))
        #expect(try detected([0xA1, 0xB2, 0x3C, 0x4D] + tail) == .binary(.pcap(littleEndian: false, nanosecond: true)))
        #expect(try detected([0x0A, 0x0D, 0x0D, 0x0A] + tail) == .binary(.pcapng))
    }

    @Test func binaryFormatsGoToTheBinaryReaders() {
        // A bare QEMU simple header opens (and holds no event yet).
        #expect(openError(u64LE(.max) + u64LE(0xf2b1_77cb_0aa4_29b4) + u64LE(4)) == nil)
        // Capture headers with nonsense fields reach libpcap, whose verdict is reported.
        let captures: [[UInt8]] = [
            [0x4D, 0x3C, 0xB2, 0xA1] + [UInt8](repeating: 0, count: 20),
            [0x0A, 0x0D, 0x0D, 0x0A] + [UInt8](repeating: 0, count: 20),
        ]
        for bytes in captures {
            guard case .unsupported(_, let reason)? = openError(bytes) else {
                Issue.record("expected .unsupported for \(bytes.prefix(4))")
                continue
            }
            #expect(reason.contains("libpcap cannot read it"))
        }
    }

    @Test func garbageBytes() {
        var state: UInt32 = 12345
        let garbage = (0..<4096).map { _ -> UInt8 in
            state = state &* 1_103_515_245 &+ 12345
            return UInt8(truncatingIfNeeded: state >> 16)
        }
        guard case .unknownFormat(_, let detail)? = openError(garbage) else {
            Issue.record("garbage was not rejected")
            return
        }
        #expect(detail == "first bytes are binary, no known magic")
    }

    /// Kernel logs without the printk stamp, and saved ftrace buffers whose event lines have
    /// other columns, are refused saying what they are and what to give instead (they were "no
    /// line looks like a console log" and "notes, not an ftrace trace").
    @Test func formsWithoutTheColumnsSayWhatTheyAre() throws {
        let unstamped = "[Wed Dec  2 03:57:01 2026] nvme nvme0: I/O 960 (I/O Cmd) QID 1 timeout, aborting\n"
            + "Dec 02 03:57:01 vm kernel: nvme nvme0: Abort status: 0x0\n"
        guard case .unknown(let detail) = try detected(Array(unstamped.utf8)) else {
            Issue.record("an unstamped kernel log was taken")
            return
        }
        #expect(detail.contains("without the printk [seconds.micro] stamp") && detail.contains("short-monotonic"))
        // A note quoting a few of those messages among its own text is a note, not a kernel log
        // to print again with stamps (a capture's TRUTH.md was told to give `dmesg`).
        let note = "# What happened\n\n- the SQ2 EventIdx was poked at 6 s\n- the console then said:\n\n```\n"
            + "nvme nvme0: I/O tag 0 (2000) opcode 0x1 (I/O Cmd) QID 2 timeout, aborting\n```\n\n| queue | stall |\n|---|---|\n| SQ2 | 18.047 s |\n"
        guard case .unknown(let noteDetail) = try detected(Array(note.utf8)) else {
            Issue.record("a note was taken")
            return
        }
        #expect(noteDetail.contains("notes, not a kernel log") && !noteDetail.contains("short-monotonic"), "\(noteDetail)")
        // `dmesg -t` of a console whose ftrace dump fills the first lines: the dump's event
        // lines are ftrace's latency format, read as a guest trace (it was refused).
        let dump = "Linux version 6.1.0-56-amd64\nsysrq: Dump ftrace buffer\nDumping ftrace buffer:\n---------------------------------\n"
            + String(repeating: "     fio-157       0d..1. 233126us : block_rq_issue: 259,0 R 4096 () 0 + 8 [fio]\n", count: 2500)
            + "nvme nvme0: I/O 960 (I/O Cmd) QID 1 timeout, aborting\n"
        #expect(try detected(Array(dump.utf8)) == .ftraceText)
        let graph = "# tracer: function_graph\n#\n# CPU  DURATION                  FUNCTION CALLS\n#  |     |   |                     |   |   |   |\n"
            + " 1)               |  /* nvme_setup_cmd: nvme0: qid=1, cmdid=5, nsid=1 */\n 1)   0.731 us    |  blk_mq_start_request();\n"
        let path = TempFile.write(Array(graph.utf8))
        defer { TempFile.remove(path) }
        let (format, skip) = try classifyRunFile(path: path)
        #expect(format == .ftraceText)
        #expect(skip?.hasPrefix(NotesCheck.unreadFtraceForm) == true, "\(skip ?? "nil")")
    }

    /// A serial console captured from power-on often starts with NUL bytes, and keeps a few
    /// where its line was reopened: still a console log. Text with a NUL every other byte
    /// (UTF-16) and a file of NULs are not text.
    @Test func nulBytesInAConsoleLog() throws {
        let console = Array("[    1.000000] nvme nvme0: pci function 0000:00:04.0\n[    2.000000] nvme nvme0: 2/0/0 default/read/poll queues\n".utf8)
        #expect(try detected([UInt8](repeating: 0, count: 300) + console) == .consoleLog)
        #expect(try detected(Array(console[0..<20]) + [0, 0, 0] + Array(console[20...])) == .consoleLog)
        let utf16 = Array(console.map { [$0, 0] }.joined())
        let binary = DetectedFormat.unknown(detail: "first bytes are binary, no known magic")
        #expect(try detected(utf16) == binary)
        #expect(try detected([UInt8](repeating: 0, count: 8192)) == binary)
    }

    /// gzip, zstd and xz are recognised by their magic and decompressed: a stream cut short
    /// after its header is a located read failure, not an unknown format.
    @Test func compressedInputIsDecompressed() {
        let samples: [([UInt8], String)] = [
            ([0x28, 0xB5, 0x2F, 0xFD, 0x24, 0x00], "zstd"), ([0x1F, 0x8B, 0x08, 0x00], "gzip"),
            ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, 0x00], "xz"),
        ]
        for (bytes, name) in samples {
            guard case .readFailed(_, let offset, let reason)? = openError(bytes) else {
                Issue.record("\(name) data cut short was not a read failure")
                continue
            }
            #expect(reason.hasPrefix("the \(name) data ends inside"), "\(reason)")
            #expect(offset <= UInt64(bytes.count))
        }
    }

    @Test func bzip2SaysSo() {
        guard case .unknownFormat(_, let detail)? = openError(Array("BZh91AY&SY".utf8) + [0x00, 0x01]) else {
            Issue.record("bzip2 data was not rejected")
            return
        }
        #expect(detail.hasPrefix("bzip2-compressed data; decompress it first"))
    }

    /// A console whose lines end in a carriage return alone was one line: the reader took one
    /// message of it and told a story without the rest. Refused, with the conversion.
    @Test func linesEndingInACarriageReturnAloneSaySo() {
        let console = (0..<20).map { "[   \(30 + $0).156309] nvme nvme0: I/O \($0) QID 2 timeout, aborting\r" }.joined()
        guard case .unknownFormat(_, let detail)? = openError(Array(console.utf8)) else {
            Issue.record("CR-only lines were not refused")
            return
        }
        #expect(detail.contains("carriage return alone") && detail.contains("tr '\\r' '\\n'"), "\(detail)")
        // CR LF, and a carriage return inside lines (fio's progress), are lines as ever.
        #expect(openError(Array(console.replacingOccurrences(of: "\r", with: "\r\n").utf8)) == nil)
    }

    /// A first line longer than the detection window hid the trace after it (Reliability.md's
    /// "one 2 GB line, then a valid trace" held only with lines before it): a file is looked at
    /// past it; bytes that end inside it say so instead of "no line looks like a trace".
    @Test func aTraceAfterAnOverlongFirstLineIsRecognised() throws {
        let trace = try [UInt8](Data(contentsOf: packageRoot.appendingPathComponent("SampleTraces/lab/sq-hang.txt")))
        let long = [UInt8](repeating: UInt8(ascii: "a"), count: 1_100_000) + [0x0A] + trace
        #expect(openError(long) == nil)
        let head = Array(long.prefix(FormatDetector.prefixLength))
        guard case .unknown(let detail) = head.withUnsafeBytes({ FormatDetector.detect($0) }) else {
            Issue.record("a window inside one line was recognised")
            return
        }
        #expect(detail.contains("its first line is longer than the 256 KiB"), "\(detail)")
    }

    /// A whole syslog (QEMU's lines after thousands of others) was "no line looks like a trace":
    /// text whose window shows no format is looked at further for the lines of a trace that
    /// name nvme, and taken as one when they fill a window. A kernel message deep inside (the
    /// host's own nvme messages) is not taken for the guest's console, and a few quoted lines
    /// after long prose are no trace.
    @Test func aTraceAfterThousandsOfOtherLinesIsRecognised() throws {
        func format(_ text: String) throws -> DetectedFormat {
            let path = TempFile.write(Array(text.utf8))
            defer { TempFile.remove(path) }
            return try detectFormat(path: path)
        }
        let noise = (0..<4000).map { "Dec  5 20:17:\($0 % 60) host systemd[1]: Started session-\($0).scope - Session \($0) of User root.\n" }
            .joined()
        let qemu = (0..<300).map { "Dec  5 20:18:00 host qemu-system-x86_64[4711]: 4711@1764965865.\(100000 + $0):pci_nvme_mmio_doorbell_sq sqid 1 new_tail \($0 % 64)\n" }
            .joined()
        #expect(try format(noise + qemu) == .qemuLog)
        let console = "Dec  5 20:17:40 host kernel: [   30.156309] nvme nvme0: I/O 768 QID 2 timeout, aborting\n"
        #expect(try format(noise + console).traceFormat == nil)
        #expect(try format(noise + console + noise + qemu) == .qemuLog)
        // The host's own nvme messages without printk stamps first ("give the log as dmesg
        // prints it" sent the user to the wrong file).
        let unstamped = (0..<3000).map { "Dec  5 20:17:40 host kernel: nvme nvme0: pci function 0000:00:04.0 \($0)\n" }.joined()
        #expect(try format(unstamped + qemu) == .qemuLog)
        // A few quoted lines, a trace-shaped line that names no nvme, text alone: no trace.
        let quoted = qemu.split(separator: "\n").prefix(40).joined(separator: "\n") + "\n"
        #expect(try format(noise + quoted).traceFormat == nil)
        let other = "          <idle>-0     [001] d.h1.  1234.567890: irq_handler_entry: irq=24 name=virtio0\n"
        #expect(try format(noise + other).traceFormat == nil)
        #expect(try format(noise).traceFormat == nil)
    }

    /// A syslog whose QEMU lines begin 1,500 lines in, going on past the window, is a trace
    /// (it was "notes, not a QEMU log: 500 of its first 2000 lines are trace events"); notes
    /// that quote a few trace lines among prose and end stay notes.
    @Test func aTraceBegunLateInTheWindowIsNoNotes() throws {
        let noise = (0..<1500).map { "Dec  5 20:17:\($0 % 60) host CRON[812]: (root) CMD (run-parts /etc/cron.hourly \($0))\n" }.joined()
        let qemu = (0..<3000).map { "Dec  5 20:18:00 host qemu-system-x86_64[4711]: 4711@1764965865.\(100000 + $0):pci_nvme_mmio_doorbell_sq sqid 1 new_tail \($0 % 64)\n" }.joined()
        let path = TempFile.write(Array((noise + qemu).utf8))
        defer { TempFile.remove(path) }
        let (format, skip) = try classifyRunFile(path: path)
        #expect(format == .qemuLog && skip == nil, "\(skip ?? "")")
        let notes = "# Run notes\n\nThe stall:\n\n```\n" + qemu.split(separator: "\n").prefix(12).joined(separator: "\n") + "\n```\n\nThen the reset.\n"
        let notesPath = TempFile.write(Array((noise + notes).utf8))
        defer { TempFile.remove(notesPath) }
        #expect(try classifyRunFile(path: notesPath).skip?.hasPrefix("notes, not a QEMU log") == true)
    }

    @Test func proseIsNotATrace() {
        guard case .unknownFormat(_, let detail)? = openError(Array("Hello.\nThis is a README.\n".utf8)) else {
            Issue.record("prose was not rejected")
            return
        }
        #expect(detail.contains("no line looks like"))
    }

    @Test func emptyFile() {
        let path = TempFile.write([])
        defer { TempFile.remove(path) }
        #expect(throws: InputError.empty(path: path)) { try openEventSource(path: path, index: 0) }
    }

    @Test func directory() {
        let path = TempFile.directory.path
        #expect(throws: InputError.isDirectory(path: path)) { try openEventSource(path: path, index: 0) }
    }

    @Test func missingFile() {
        let path = TempFile.directory.appendingPathComponent("no-such-trace").path
        #expect(throws: InputError.cannotOpen(path: path, reason: "No such file or directory")) {
            try openEventSource(path: path, index: 0)
        }
    }

    @Test func headerOnlyFtraceOpensAndHoldsNoEvent() throws {
        let d = try decode("# tracer: nop\n#\n#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n")
        #expect(d.summary.format == .ftraceText && d.summary.events == 0 && d.events.isEmpty)
        #expect(d.summary.skipped == 3)
    }
    /// A QEMU run kept as a service's log: each line after syslog's or the journal's prefix, in
    /// every shape `journalctl -o` and rsyslog print (not an ISO time ending in `Z`: QEMU 10.1's
    /// own shape). The prefix's time is not read; the QEMU line after it is read as it would be
    /// alone.
    @Test func aQemuLogBehindASyslogPrefixIsAQemuLog() throws {
        func split(_ line: String) -> (shape: QemuLogLineParser.Shape, time: Int64, payload: Int)? {
            var line = line
            return line.withUTF8 { QemuLogLineParser.split(UnsafeRawBufferPointer($0)) }
        }
        func messageStart(_ line: String) -> Int? {
            var line = line
            return line.withUTF8 { SyslogPrefix.messageStart(UnsafeRawBufferPointer($0)) }
        }
        let qemu = "4711@1690000000.123456:pci_nvme_mmio_doorbell_sq sqid 1 new_tail 17"
        let prefixes = [
            "Dec  5 20:17:45 host qemu-system-x86_64[4711]: ", "Dec 05 20:17:45.123456 host qemu-system-x86_64[4711]: ",
            "2026-12-05T20:17:45+0000 host qemu[4711]: ", "2026-12-05T20:17:45.123456+00:00 host qemu[4711]: ",
            "[ 8123.456789] host qemu-kvm[4711]: ", "[ 8123.456789 <    0.000123>] host qemu[4711]: ", "1764965865.123456 host qemu: ",
        ]
        for prefix in prefixes {
            let s = split(prefix + qemu)
            #expect(s?.shape == .pidTimestamp && s?.time == 1_690_000_000_123_456_000 && s?.payload == prefix.utf8.count + 23, "\(prefix)")
            let d = try decode(
                "Dec  5 20:17:44 host systemd[1]: Started qemu.service.\n\(prefix)\(qemu)\n\(prefix)4711@1690000000.223456:pci_nvme_mmio_doorbell_sq sqid 1 new_tail 18\n")
            #expect(d.summary.format == .qemuLog && d.summary.events == 2 && d.summary.skipped == 1, "\(prefix)")
            #expect(d.events.map(\.time) == [1_690_000_000_123_456_000, 1_690_000_000_223_456_000], "\(prefix)")
        }
        // QEMU's bare lines (no -msg timestamp=on) behind the prefix: order only.
        let bare = try decode("Dec 05 20:17:45.123456 host qemu[1]: pci_nvme_mmio_doorbell_sq sqid 1 new_tail 17\n")
        #expect(bare.summary.format == .qemuLog && bare.summary.events == 1 && bare.events.first?.time == 1)
        // Not a prefix: a month without a time, a tag without `: `, another word.
        for line in ["Dec 5 host qemu[1]: \(qemu)", "Dec  5 20:17:45 host qemu[1] \(qemu)", "Decimal 20:17:45 host qemu[1]: \(qemu)",
            "2026-12-05 20:17:45 host qemu[1]: \(qemu)", "[ 8123.456789 host qemu[1]: \(qemu)"] {
            #expect(messageStart(line) == nil, "\(line)")
        }
        // A console's line has the prefix's shape (`[stamp] word word: `) and is still a console's.
        #expect(try detected(Array("[   30.156309] nvme nvme0: I/O 768 QID 2 timeout, aborting\n".utf8)) == .consoleLog)
    }
}
