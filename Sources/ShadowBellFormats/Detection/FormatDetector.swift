#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellCore

/// A binary format recognised by its magic.
public enum BinaryFormat: Sendable, Hashable, CustomStringConvertible {
    /// QEMU simple trace backend; `littleEndian` is the file's byte order.
    case qemuSimple(littleEndian: Bool)
    case pcap(littleEndian: Bool, nanosecond: Bool)
    case pcapng
    /// trace-cmd's file (`trace.dat`); `version` is the file format version (6 or 7).
    case traceDat(version: Int)

    public var traceFormat: TraceFormat {
        switch self {
        case .qemuSimple: return .qemuSimple
        case .pcap, .pcapng: return .pcap
        case .traceDat: return .traceDat
        }
    }

    public var description: String {
        switch self {
        case .qemuSimple(let le): return "QEMU simple trace (\(le ? "little" : "big")-endian)"
        case .pcap(let le, let ns):
            return "pcap (\(le ? "little" : "big")-endian, \(ns ? "nanosecond" : "microsecond") timestamps)"
        case .pcapng: return "pcapng"
        case .traceDat(let version): return "trace-cmd file (trace.dat), version \(version)"
        }
    }
}

/// What an input's content says it is.
public enum DetectedFormat: Sendable, Hashable {
    case ftraceText
    case qemuLog
    /// A guest serial console capture or `dmesg` output: no line looks like ftrace or a QEMU
    /// trace log, and at least one holds a printk timestamp (`[    5.445946] `). Such a file
    /// may hold no NVMe message at all; it then decodes to no event and the analysis reports it
    /// as holding no recognised event.
    case consoleLog
    case binary(BinaryFormat)
    /// Not a supported format; `detail` says what was seen.
    case unknown(detail: String)

    /// The trace format found; nil for none.
    public var traceFormat: TraceFormat? {
        switch self {
        case .ftraceText: return .ftraceText
        case .qemuLog: return .qemuLog
        case .consoleLog: return .consoleLog
        case .binary(let b): return b.traceFormat
        case .unknown: return nil
        }
    }
}

/// Recognises an input's format from its first bytes (magic numbers) or, for text, from the
/// shape of its first event lines. Never looks at the file name. It is given the content:
/// `ByteInput` has taken off any gzip, zstd or xz compression.
public enum FormatDetector {
    /// How many leading bytes `detect` looks at.
    public static let prefixLength = 256 << 10
    /// How many non-empty lines it classifies at most.
    static let lineLimit = 2000

    /// The bytes `detect` should look at: up to `prefixLength` from the first line that is not
    /// blank, so a trace after any run of blank lines is still recognised (a pipe offers its
    /// first chunk only). NUL bytes count as blank there: a serial console captured from the
    /// machine's power-on often starts with a run of them.
    public static func detectionPrefix(_ input: ByteInput) -> UnsafeRawBufferPointer {
        let available = input.prefix(Int.max)
        let head = UnsafeRawBufferPointer(rebasing: available[0..<min(available.count, prefixLength)])
        // pcapng's magic is "\n\r\r\n": a magic number is looked for where the file starts.
        if binaryMagic(head) != nil || compressionMagic(head) != nil { return head }
        var lineStart = 0
        var i = 0
        while i < available.count {
            let b = available[i]
            guard b == ASCII.newline || b == ASCII.carriageReturn || b == ASCII.space || b == 0x09 || b == 0 else { break }
            i += 1
            if b == ASCII.newline || b == 0 { lineStart = i }
        }
        if i == available.count { lineStart = 0 }
        // A first line longer than the window (a garbage line, a binary header, a cut write)
        // filled it, and the trace after it went unrecognised: the window starts after it
        // where the input's bytes at hand go on (a mapped file's; a pipe offers a chunk).
        if let base = available.baseAddress {
            var skipped = 0
            while skipped < 4, available.count - lineStart > prefixLength,
                memchr(base + lineStart, Int32(ASCII.newline), prefixLength) == nil,
                let end = memchr(base + lineStart + prefixLength, Int32(ASCII.newline), available.count - lineStart - prefixLength)
            {
                lineStart = UnsafeRawPointer(end) - base + 1
                skipped += 1
            }
        }
        let window = UnsafeRawBufferPointer(rebasing: available[lineStart..<min(available.count, lineStart + prefixLength)])
        // A whole syslog or unfiltered journal: QEMU's lines after thousands of others (or after
        // the host's nvme messages without printk stamps). Text whose window shows no format is
        // looked at further — past the 2,000 lines classified, to `furtherLimit` of a file, to
        // the end of a pipe's or a decompressor's first chunk —, and a QEMU log whose first
        // event line comes after a preamble of `preambleLines` or more: the window starts at
        // that line when the trace fills it (`dominates`); notes quoting a few lines after long
        // prose stay what they were, and so do the host's kernel messages (no console is looked
        // for past the window: a host syslog's nvme messages read as the guest's console).
        let found = detect(window)
        var later: Int?
        switch found {
        case .unknown(let detail) where detail == noTraceLine || detail.hasPrefix(unstampedKernelLog):
            later = firstNVMeEventLine(available, from: lineStart, to: furtherLimit)
        case .qemuLog:
            // (Not ftrace: its header lines, before any event, tell its clock and CPUs.)
            if let first = firstNVMeEventLine(available, from: lineStart, to: lineStart + window.count),
                let base = available.baseAddress, lines(base + lineStart, first - lineStart) >= preambleLines
            {
                later = first
            }
        default: break
        }
        if let later, dominates(available, from: later) {
            return UnsafeRawBufferPointer(rebasing: available[later..<min(available.count, later + prefixLength)])
        }
        return window
    }

    /// How far into a mapped file `detectionPrefix` looks for the first trace line when its
    /// window shows none.
    public static let furtherLimit = 64 << 20
    /// A preamble this long before a trace's first event line moves the window to that line.
    static let preambleLines = 1000
    /// How many NVMe event lines a window moved past a preamble holds at least.
    static let eventsAfterPreamble = 200

    /// What `detect` says of text in which no line has a known shape.
    static let noTraceLine = "text, but no line looks like Linux ftrace, a QEMU trace log or a kernel console log"

    /// The start of the first line at or after the line holding `from` (before `to`) that is an
    /// NVMe event of ftrace or of a QEMU log; nil for none. Stricter than the window's vote (the
    /// line must name nvme, a QEMU line an event ShadowBell reads). (From the window's start:
    /// its lines past the 2,000 classified were not looked at.)
    static func firstNVMeEventLine(_ bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        var found: Int?
        forEachLineStart(bytes, from: from, to: to) { start, line, first in
            guard NotesCheck.contains(line, "nvme") else { return true }
            switch vote(line, first: first, strict: true) {
            case .ftrace, .qemu:
                found = start
                return false
            default: return true
            }
        }
        return found
    }

    /// Whether the `lineLimit` lines (at most `prefixLength` bytes) from `from` hold
    /// `eventsAfterPreamble` NVMe event lines or more.
    static func dominates(_ bytes: UnsafeRawBufferPointer, from: Int) -> Bool {
        var events = 0, seen = 0
        forEachLineStart(bytes, from: from, to: from + prefixLength) { _, line, first in
            seen += 1
            if NotesCheck.contains(line, "nvme") {
                switch vote(line, first: first, strict: true) {
                case .ftrace, .qemu: events += 1
                default: break
                }
            }
            return events < eventsAfterPreamble && seen < lineLimit
        }
        return events >= eventsAfterPreamble
    }

    /// Calls `body` with the start, the bytes (CR stripped) and the first non-space offset of
    /// each non-blank line from the one holding `from` to `to` (and `bytes`' end), until it
    /// returns false.
    static func forEachLineStart(
        _ bytes: UnsafeRawBufferPointer, from: Int, to: Int, _ body: (Int, UnsafeRawBufferPointer, Int) -> Bool
    ) {
        guard let base = bytes.baseAddress else { return }
        let limit = min(bytes.count, max(to, 0))
        var start = min(max(from, 0), bytes.count)
        while start > 0, bytes[start - 1] != ASCII.newline { start -= 1 }
        while start < limit {
            let end = memchr(base + start, Int32(ASCII.newline), bytes.count - start).map { UnsafeRawPointer($0) - base } ?? bytes.count
            var line = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            if let last = line.last, last == ASCII.carriageReturn { line = UnsafeRawBufferPointer(rebasing: line[0..<(line.count - 1)]) }
            let first = ByteScanning.skipSpaces(line, from: 0)
            if first < line.count, !body(start, line, first) { return }
            start = end + 1
        }
    }

    /// The line feeds in `count` bytes at `p`.
    static func lines(_ p: UnsafeRawPointer, _ count: Int) -> Int {
        var n = 0, at = p
        let end = p + max(count, 0)
        while at < end, let nl = memchr(at, Int32(ASCII.newline), end - at) {
            n += 1
            at = UnsafeRawPointer(nl) + 1
        }
        return n
    }

    /// How `detect`'s refusal of kernel messages without printk stamps begins.
    static let unstampedKernelLog = "kernel log lines with nvme messages but without the printk"

    /// Why bytes starting with `prefix` cannot be a trace, compressed or not; nil when they may
    /// be one. For a look before anything else is done with an input (a copy of standard input
    /// is not made of `/dev/zero`).
    public static func refusal(_ prefix: UnsafeRawBufferPointer) -> String? {
        if compressionMagic(prefix) != nil { return nil }
        if case .unknown(let detail) = detect(prefix) { return detail }
        return nil
    }

    public static func detect(_ prefix: UnsafeRawBufferPointer) -> DetectedFormat {
        if let binary = binaryMagic(prefix) { return .binary(binary) }
        // `ByteInput` decompresses gzip, zstd and xz before anything looks at the bytes: a
        // magic seen here is a second layer of compression, or a compressor it does not read.
        if let compression = compressionMagic(prefix) {
            if compression == "bzip2" {
                return .unknown(detail: "bzip2-compressed data; decompress it first (gzip, zstd and xz are read as they are)")
            }
            return .unknown(detail: "\(compression)-compressed data inside compressed data; decompress the outer layer first")
        }
        if let other = unreadTraceFormat(prefix) { return .unknown(detail: other) }
        if looksBinary(prefix) { return .unknown(detail: "first bytes are binary, no known magic") }
        if let why = withoutLineFeed(prefix) { return .unknown(detail: why) }
        return detectText(prefix)
    }

    /// Why text with no line feed in the bytes at hand is no trace to read; nil with one.
    /// Lines ending in a carriage return alone (a serial capture saved so, an old Mac editor)
    /// read by line feeds are one line, of which a console reader took one message and told a
    /// story without the rest: said, with the conversion. A first line longer than every byte
    /// at hand (a pipe's first chunk) leaves nothing to tell the format by ("no line looks like
    /// a trace" sent the user looking there).
    static func withoutLineFeed(_ prefix: UnsafeRawBufferPointer) -> String? {
        guard prefix.count >= 64, let base = prefix.baseAddress, memchr(base, Int32(ASCII.newline), prefix.count) == nil else { return nil }
        // (All the bytes at hand: a console begun inside fio's progress, drawn with carriage
        // returns, holds tens of KiB of them before its first line feed.)
        let returns = prefix.reduce(0) { $0 + ($1 == ASCII.carriageReturn ? 1 : 0) }
        if returns >= 3 {
            return "its lines end in a carriage return alone, no line feed (\(returns) in its first \(prefix.count) bytes): convert them first, e.g. `tr '\\r' '\\n' < FILE > FILE.txt`"
        }
        guard prefix.count >= prefixLength else { return nil }
        return "its first line is longer than the \(prefix.count >> 10) KiB looked at to tell the format: drop it (`tail -n +2`): only an uncompressed file, not a pipe, is looked at past such a line"
    }

    static func binaryMagic(_ p: UnsafeRawBufferPointer) -> BinaryFormat? {
        if p.count >= 16 {
            var allOnes = true
            for i in 0..<8 where p[i] != 0xFF { allOnes = false }
            if allOnes {
                let magic: UInt64 = 0xf2b1_77cb_0aa4_29b4
                var le: UInt64 = 0
                var be: UInt64 = 0
                for i in 0..<8 {
                    le |= UInt64(p[8 + i]) << (8 * UInt64(i))
                    be = be << 8 | UInt64(p[8 + i])
                }
                if le == magic { return .qemuSimple(littleEndian: true) }
                if be == magic { return .qemuSimple(littleEndian: false) }
            }
        }
        if let version = traceCmdVersion(p) { return .traceDat(version: version) }
        guard p.count >= 4 else { return nil }
        let word = UInt32(p[0]) << 24 | UInt32(p[1]) << 16 | UInt32(p[2]) << 8 | UInt32(p[3])
        switch word {
        case 0xA1B2_C3D4: return .pcap(littleEndian: false, nanosecond: false)
        case 0xD4C3_B2A1: return .pcap(littleEndian: true, nanosecond: false)
        case 0xA1B2_3C4D: return .pcap(littleEndian: false, nanosecond: true)
        case 0x4D3C_B2A1: return .pcap(littleEndian: true, nanosecond: true)
        case 0x0A0D_0D0A: return .pcapng
        default: return nil
        }
    }

    /// trace-cmd's magic, `\x17\x08\x44tracing`, then the format version as a NUL-terminated
    /// decimal string.
    static func traceCmdVersion(_ p: UnsafeRawBufferPointer) -> Int? {
        let magic: [UInt8] = [0x17, 0x08, 0x44] + Array("tracing".utf8)
        guard p.starts(with: magic) else { return nil }
        var version = 0
        var i = magic.count
        while i < p.count, i < magic.count + 4, ASCII.isDigit(p[i]) {
            version = version * 10 + Int(p[i] - ASCII.zero)
            i += 1
        }
        return i > magic.count && i < p.count && p[i] == 0 ? version : nil
    }

    /// What a binary trace format ShadowBell does not read is, and what to run instead.
    static func unreadTraceFormat(_ p: UnsafeRawBufferPointer) -> String? {
        if p.starts(with: Array("PERFILE2".utf8)) || p.starts(with: Array("PERFFILE".utf8)) {
            return "perf.data, perf record's binary file; run `perf script -i FILE > perf.txt` "
                + "and give ShadowBell perf.txt (perf script text of the nvme tracepoints reads like ftrace)"
        }
        // Archives (a run folder packed, `.tgz` decompressed already): their files are not read.
        if p.count >= 263, ByteScanning.hasPrefix(p, at: 257, "ustar") {
            return "a tar archive (a run folder packed?); unpack it (`tar xf FILE`) and give the folder or the files it holds"
        }
        if p.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            return "a zip archive; unpack it (`unzip FILE`) and give the folder or the files it holds"
        }
        guard p.count >= 4 else { return nil }
        let le = UInt32(p[0]) | UInt32(p[1]) << 8 | UInt32(p[2]) << 16 | UInt32(p[3]) << 24
        let be = le.byteSwapped
        if le == 0xC1FC_1FC1 || be == 0xC1FC_1FC1 || le == 0x75D1_1D57 || be == 0x75D1_1D57 {
            return "CTF (an LTTng or babeltrace trace); ShadowBell does not read it: record the guest "
                + "with ftrace (trace-cmd or /sys/kernel/tracing/trace), see Docs/Capture.md"
        }
        if le & 0xFFFF_FF00 == 0x6561_7400 {
            return "blktrace binary data: block-layer events, not NVMe doorbells; record the nvme "
                + "tracepoints with ftrace instead, see Docs/Capture.md"
        }
        return nil
    }

    /// The name of a compressor whose magic starts the input, if any.
    static func compressionMagic(_ p: UnsafeRawBufferPointer) -> String? {
        if let compression = Compression(magic: p) { return compression.rawValue }
        return p.starts(with: [0x42, 0x5A, 0x68]) ? "bzip2" : nil
    }

    /// NUL bytes or more than 1% control characters (other than tab, CR, LF, FF, ESC) in the
    /// first 4 KiB.
    /// Whether the first 4 KiB are binary: more than 1 % control bytes, or more than 2 % NUL
    /// bytes beyond 16 of them (a text console keeps a few NULs where its serial line was reopened; UTF-16 text,
    /// a core file or a database have them every few bytes).
    static func looksBinary(_ p: UnsafeRawBufferPointer) -> Bool {
        let n = min(p.count, 4096)
        var control = 0
        var nul = 0
        for i in 0..<n {
            let b = p[i]
            if b == 0 {
                nul += 1
            } else if b < 0x20, b != 0x09, b != 0x0A, b != 0x0D, b != 0x0C, b != 0x1B {
                control += 1
            } else if b == 0x7F {
                control += 1
            }
        }
        return control * 100 > n || (nul * 50 > n && nul > 16)
    }

    private enum Vote { case ftrace, qemu, weakFtrace, weakQemu, none }

    /// Calls `body` with each non-blank line of `prefix` (CR stripped) and the offset of its
    /// first non-space byte, at most `lineLimit` lines, until `body` returns false.
    static func forEachLine(_ prefix: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer, Int) -> Bool) {
        var lines = 0
        forEachLineStart(prefix, from: 0, to: prefix.count) { _, line, first in
            lines += 1
            return body(line, first) && lines < lineLimit
        }
    }

    static func detectText(_ prefix: UnsafeRawBufferPointer) -> DetectedFormat {
        var lines = 0
        var weakFtrace = 0
        var weakQemu = 0
        var kernelLines = 0
        var unstampedNVMe = 0
        var unstampedDumps = 0
        var noteMarkupLines = 0
        var decided: DetectedFormat?
        forEachLine(prefix) { line, first in
            lines += 1
            switch vote(line, first: first) {
            case .ftrace: decided = .ftraceText
            case .qemu: decided = .qemuLog
            case .weakFtrace: weakFtrace += 1
            case .weakQemu: weakQemu += 1
            case .none:
                if hasPrintkTimestamp(line) {
                    kernelLines += 1
                    return decided == nil
                }
                if looksLikeNoteMarkup(line, first: first) { noteMarkupLines += 1 }
                if ConsoleLogLineParser.findDevicePrefix(line) != nil {
                    unstampedNVMe += 1
                } else if FtraceDumpLine.start(line).found {
                    // `Dumping ftrace buffer:` without its stamp: the dump fills the first lines,
                    // the driver's messages come after it.
                    unstampedDumps += 1
                }
            }
            return decided == nil
        }
        if let decided { return decided }
        if weakFtrace > 0 { return .ftraceText }
        // A log of other QEMU trace events only: nearly every line is `identifier args`.
        if weakQemu > 0, weakQemu * 10 >= lines * 8 { return .qemuLog }
        if kernelLines > 0 { return .consoleLog }
        if lines == 0 { return .unknown(detail: "only blank lines") }
        // A few kernel messages quoted among other text: notes (a README, a TRUTH.md), not a
        // kernel log whose stamps were left out.
        if unstampedNVMe > 0, unstampedDumps == 0, noteMarkupLines >= 2, unstampedNVMe * 2 < lines {
            return .unknown(detail: "text quoting \(unstampedNVMe) nvme kernel message(s) among \(lines) lines, without printk stamps: notes, not a kernel log")
        }
        if unstampedNVMe > 0 || unstampedDumps > 0 {
            let what = unstampedNVMe > 0 ? "kernel log lines with nvme messages" : "a kernel log holding an ftrace dump (Dumping ftrace buffer:)"
            return .unknown(
                detail: "\(what) but without the printk [seconds.micro] stamp (dmesg -T, -t or --time-format, journalctl -k's default output): they tell no time since boot; give the log as `dmesg` or `journalctl -k -o short-monotonic` prints it, or the console as it was captured")
        }
        return .unknown(detail: noTraceLine)
    }

    /// Whether a line is Markdown's or a note's markup: a heading, a fence, a table row, a
    /// list item or a quote (`# `, ` ``` `, `| `, `- `, `* `, `> `), which no kernel log line
    /// begins with.
    static func looksLikeNoteMarkup(_ line: UnsafeRawBufferPointer, first: Int) -> Bool {
        guard first < line.count else { return false }
        switch line[first] {
        case ASCII.hash, 0x60 /* ` */, 0x7C /* | */, 0x3E /* > */: return true
        case ASCII.dash, 0x2A /* * */: return first + 1 < line.count && line[first + 1] == ASCII.space
        default: return false
        }
    }

    /// Whether the line holds a printk timestamp as the kernel prints it, `[%5lu.%06lu] ` (or with
    /// `dmesg -d`'s delta, `[%5lu.%06lu <%12.06f>] `) —
    /// anywhere, since console output often puts other text before it on the same line.
    static func hasPrintkTimestamp(_ line: UnsafeRawBufferPointer) -> Bool {
        printkTimestampStart(line) != nil
    }

    /// Where the first printk timestamp of the line starts (its `[`).
    static func printkTimestampStart(_ line: UnsafeRawBufferPointer) -> Int? {
        var next = 0
        while next < line.count {
            let i = next
            next += 1
            guard line[i] == ASCII.openBracket else { continue }
            var j = ByteScanning.skipSpaces(line, from: i + 1)
            guard let (_, afterSeconds) = ByteScanning.decimalPrefix(line, from: j), afterSeconds < line.count,
                line[afterSeconds] == ASCII.dot
            else { continue }
            j = afterSeconds + 1
            var digits = 0
            while j < line.count, ASCII.isDigit(line[j]) {
                digits += 1
                j += 1
            }
            guard digits == 6 else { continue }
            // `dmesg -d`'s delta (`[   25.131820 <    0.000275>] `).
            j = ConsoleLogLineParser.deltaColumnEnd(line, from: j) ?? j
            // `] ` , or `][` before a caller-ID column (`[   30.156309][  T102] `).
            if ByteScanning.hasPrefix(line, at: j, "] ") || ByteScanning.hasPrefix(line, at: j, "][") { return i }
        }
        return nil
    }

    /// `strict`: a QEMU line must name an event ShadowBell reads (not a trace-events file's
    /// `pci_nvme_irq_msix(uint32_t vector) "…"`).
    private static func vote(_ line: UnsafeRawBufferPointer, first: Int, strict: Bool = false) -> Vote {
        if line[first] == ASCII.hash {
            if ByteScanning.hasPrefix(line, at: first, "# tracer:")
                || ByteScanning.hasPrefix(line, at: first, "# entries-in-buffer")
            {
                return .ftrace
            }
            return .none
        }
        if let header = FtraceLineHeader.parse(line) {
            // A kernel-log line that prints an ftrace line (a console's ftrace dump) is console
            // output; a printk stamp inside an event's payload is not.
            if let stamp = printkTimestampStart(line), stamp < header.nameStart { return .none }
            return .ftrace
        }
        var marker = ByteScanner(line, position: first)
        if marker.skip("CPU:"), FtraceLineParser.lostEventsMarker(&marker) != nil { return .ftrace }
        if ByteScanning.hasPrefix(line, at: first, "cpus=")
            || ByteScanning.hasPrefix(line, at: first, "version = ")
        {
            return .weakFtrace
        }
        guard first == 0, let (shape, _, payloadStart) = QemuLogLineParser.split(line) else {
            return .none
        }
        let payload = UnsafeRawBufferPointer(rebasing: line[payloadStart...])
        var nameEnd = 0
        while nameEnd < payload.count, payload[nameEnd] != ASCII.space { nameEnd += 1 }
        let name = UnsafeRawBufferPointer(rebasing: payload[0..<nameEnd])
        if strict { return QemuEventName.identify(name) != nil ? .qemu : .none }
        if shape != .bare { return isIdentifier(name) ? .qemu : .none }
        if QemuEventName.identify(name) != nil || ByteScanning.hasPrefix(name, at: 0, "pci_nvme_") {
            return .qemu
        }
        return isIdentifier(name) && name.contains(0x5F) ? .weakQemu : .none
    }

    private static func isIdentifier(_ name: UnsafeRawBufferPointer) -> Bool {
        guard !name.isEmpty else { return false }
        for b in name {
            let isLetter = (b | 0x20) &- 0x61 < 26
            if !(isLetter || ASCII.isDigit(b) || b == 0x5F) { return false }
        }
        return true
    }
}
