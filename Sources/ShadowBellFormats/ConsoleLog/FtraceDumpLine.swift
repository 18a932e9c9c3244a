#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellCore

/// What one console line is to the kernel's ftrace dump (`ftrace_dump()`: SysRq-z,
/// `ftrace_dump_on_oops`, a panic). The dump prints, each as a kernel-log line:
///
///     [   25.131820] Dumping ftrace buffer:
///     [   25.132095] ---------------------------------
///     [   25.133740] kworker/-9         0d.h1. 233126us : nvme_sq: nvme0: qid=0, head=1, tail=1
///     [   25.133740] CPU:1 [LOST 42 EVENTS]
///     [   30.417070] ---------------------------------
enum FtraceDumpLine {
    /// `Dumping ftrace buffer:` (or `Dumping ftrace instance <name> buffer:`), with the printk
    /// stamp of that line (nil when it has none).
    case start(stamp: Int64?)
    /// `---------------------------------`: opens and closes the event lines.
    case delimiter
    /// An event line; the header's offsets are relative to `text`.
    case event(FtraceDumpEventHeader, text: UnsafeRawBufferPointer)
    /// `CPU:N [LOST M EVENTS]`.
    case lostEvents(cpu: UInt64, lost: UInt64)
    /// `(ftrace buffer empty)`.
    case empty
    /// Anything else: other console output printed while the dump ran, or outside a dump.
    case other

    /// Whether `line` is a dump's first line, and its printk stamp. Cheap on other lines: one
    /// `memchr` pass for `D`.
    static func start(_ line: UnsafeRawBufferPointer) -> (stamp: Int64?, found: Bool) {
        guard let base = line.baseAddress else { return (nil, false) }
        var i = 0
        while i < line.count {
            guard let hit = memchr(base + i, 0x44 /* D */, line.count - i) else { return (nil, false) }
            let at = UnsafeRawPointer(hit) - base
            i = at + 1
            guard isStartText(UnsafeRawBufferPointer(rebasing: line[at...])) else { continue }
            return (ConsoleLogLineParser.timestampBefore(line, at), true)
        }
        return (nil, false)
    }

    /// Classifies a line read while a dump is open.
    static func classify(_ line: UnsafeRawBufferPointer) -> FtraceDumpLine {
        let text = UnsafeRawBufferPointer(rebasing: line[kernelTextStart(line)...])
        guard let first = text.first else { return .other }
        switch first {
        case ASCII.dash:
            return isDelimiter(text) ? .delimiter : .other
        case 0x44 /* D */:
            if isStartText(text) { return .start(stamp: start(line).stamp) }
        case 0x43 /* C */:
            var s = ByteScanner(text)
            if s.skip("CPU:"), let (cpu, lost) = FtraceLineParser.lostEventsMarker(&s) {
                return .lostEvents(cpu: cpu, lost: lost)
            }
        default:
            break
        }
        if let header = FtraceDumpEventHeader.parse(text) { return .event(header, text: text) }
        var s = ByteScanner(text)
        s.skipSpaces()
        return s.skip("(ftrace buffer empty)") ? .empty : .other
    }

    private static func isStartText(_ text: UnsafeRawBufferPointer) -> Bool {
        var s = ByteScanner(text)
        guard s.skip("Dumping ftrace ") else { return false }
        if s.skip("buffer:") { return true }
        // `Dumping ftrace instance <name> buffer:` (kernels that dump instances).
        guard s.skip("instance ") else { return false }
        while let b = s.peek(), b != ASCII.space { s.position += 1 }
        return s.skip(" buffer:")
    }

    /// Eight dashes or more and nothing else but trailing spaces.
    private static func isDelimiter(_ text: UnsafeRawBufferPointer) -> Bool {
        var dashes = 0
        while dashes < text.count, text[dashes] == ASCII.dash { dashes += 1 }
        return dashes >= 8 && ByteScanning.skipSpaces(text, from: dashes) == text.count
    }

    /// Where the kernel's text starts: after the first `[ seconds.fraction] ` printk stamp (and
    /// a caller-ID column `[    T1] ` after it) wherever it is on the line — fio's `\r` progress
    /// text often comes first — or, on a line without one, after leading spaces and a `<N>`
    /// level prefix.
    static func kernelTextStart(_ line: UnsafeRawBufferPointer) -> Int {
        if let base = line.baseAddress {
            var i = 0
            while i < line.count {
                guard let hit = memchr(base + i, Int32(ASCII.openBracket), line.count - i) else { break }
                let open = UnsafeRawPointer(hit) - base
                i = open + 1
                guard let after = stampEnd(line, open: open) else { continue }
                if let callerEnd = callerIDEnd(line, open: after) { return callerEnd }
                return journalPrefixEnd(line, from: after) ?? after
            }
        }
        var s = ByteScanner(line)
        s.skipSpaces()
        let mark = s.position
        if s.skip(0x3C /* < */), s.readDecimal() != nil, s.skip(0x3E /* > */) { return s.position }
        return mark
    }

    /// After `HOST kernel: ` at `from`: `journalctl -k -o short-monotonic` puts the host name
    /// and the syslog identifier between the stamp and the kernel's text
    /// (`[   25.132095] vm kernel: ---------------------------------`).
    static func journalPrefixEnd(_ line: UnsafeRawBufferPointer, from: Int) -> Int? {
        var i = from
        while i < line.count, i - from <= 64, line[i] != ASCII.space, line[i] != ASCII.tab { i += 1 }
        guard i > from, i - from <= 64 else { return nil }
        var s = ByteScanner(UnsafeRawBufferPointer(rebasing: line[i...]))
        guard s.skip(" kernel: ") else { return nil }
        return i + s.position
    }

    /// After `[ seconds.fraction] ` (or `dmesg -d`'s `[ seconds.fraction < delta>] `) opening at
    /// `open`: the index past its space.
    private static func stampEnd(_ line: UnsafeRawBufferPointer, open: Int) -> Int? {
        let start = ByteScanning.skipSpaces(line, from: open + 1)
        guard let (seconds, dot) = ByteScanning.decimalPrefix(line, from: start), seconds <= 1 << 40,
            dot < line.count, line[dot] == ASCII.dot,
            let (_, fractionEnd) = ByteScanning.fractionNanoseconds(line, from: dot + 1)
        else { return nil }
        let close = ConsoleLogLineParser.deltaColumnEnd(line, from: fractionEnd) ?? fractionEnd
        guard ByteScanning.hasPrefix(line, at: close, "] ") else { return nil }
        return close + 2
    }

    /// After a caller-ID column `[    T1] ` / `[    C0] ` opening at `open`: the index past its space.
    private static func callerIDEnd(_ line: UnsafeRawBufferPointer, open: Int) -> Int? {
        guard open < line.count, line[open] == ASCII.openBracket else { return nil }
        let letter = ByteScanning.skipSpaces(line, from: open + 1)
        guard letter < line.count, line[letter] == 0x54 /* T */ || line[letter] == 0x43 /* C */,
            let (_, close) = ByteScanning.decimalPrefix(line, from: letter + 1),
            ByteScanning.hasPrefix(line, at: close, "] ")
        else { return nil }
        return close + 2
    }
}

/// The columns of a dump's event line.
///
/// `ftrace_dump()` prints the latency format: `%8.8s-%-7d %3d` (comm cut to 8 characters,
/// right-aligned; pid; CPU), the flags glued to the CPU (`0d.h1.`: irqs-off, need-resched,
/// hardirq/softirq, preempt depth, migrate-disable; 4 to 6 of them by kernel version), then
/// ` %4lldus%c: ` — microseconds since the ring buffer's start and a delay mark (` `, `+`, `!`,
/// `#`, `*`, `@`, `$`) — or ` %4lld: ` for clocks that do not count in nanoseconds (`counter`,
/// `uptime`, `x86-tsc`). The ordinary trace format (`comm-pid [cpu] flags sec.usec: `) is read too.
struct FtraceDumpEventHeader {
    /// Nanoseconds on the ring buffer's clock (a bare count is kept as is).
    var time: Int64
    var nameStart: Int
    var nameEnd: Int
    var payloadStart: Int
    /// The time is a bare count of a clock that does not count nanoseconds.
    var bareCount = false

    static func parse(_ text: UnsafeRawBufferPointer) -> FtraceDumpEventHeader? {
        if let latency = parseLatency(text) { return latency }
        if let h = FtraceLineHeader.parse(text) {
            return FtraceDumpEventHeader(
                time: h.time, nameStart: h.nameStart, nameEnd: h.nameEnd, payloadStart: h.payloadStart,
                bareCount: FtraceLineParser.clock(of: text, from: h.timeStart) == .counter)
        }
        return nil
    }

    /// Each `-` is tried as the one before the pid (a comm may hold dashes) until the columns
    /// after it fit.
    private static func parseLatency(_ text: UnsafeRawBufferPointer) -> FtraceDumpEventHeader? {
        guard let base = text.baseAddress else { return nil }
        var i = 1
        while i < text.count {
            guard let hit = memchr(base + i, Int32(ASCII.dash), text.count - i) else { return nil }
            let dash = UnsafeRawPointer(hit) - base
            i = dash + 1
            if let header = parseColumns(text, afterDash: dash + 1) { return header }
        }
        return nil
    }

    @inline(__always)
    private static func parseColumns(_ t: UnsafeRawBufferPointer, afterDash start: Int) -> FtraceDumpEventHeader? {
        let n = t.count
        // pid, spaces, CPU digits with the flags glued on, spaces.
        guard let (_, afterPid) = ByteScanning.decimalPrefix(t, from: start), afterPid < n, t[afterPid] == ASCII.space
        else { return nil }
        let cpuStart = ByteScanning.skipSpaces(t, from: afterPid)
        guard let (_, afterCPU) = ByteScanning.decimalPrefix(t, from: cpuStart) else { return nil }
        var i = afterCPU
        while i < n, t[i] != ASCII.space, i - afterCPU <= 8 { i += 1 }
        guard i < n, t[i] == ASCII.space else { return nil }
        let timeStart = ByteScanning.skipSpaces(t, from: i)
        // `233126us : `, `233126us!: `, `987654: ` or `25.123456: `.
        guard let (count, afterCount) = ByteScanning.decimalPrefix(t, from: timeStart), afterCount < n else { return nil }
        var time: Int64
        var colon: Int
        var bareCount = false
        if let end = FtraceLineHeader.microsecondsEnd(t, at: afterCount) {
            guard count <= UInt64(Int64.max / 1000) else { return nil }
            time = Int64(count) * 1000
            colon = end
        } else if t[afterCount] == ASCII.dot {
            guard let (ns, after) = ByteScanning.timestampPrefix(t, from: timeStart) else { return nil }
            time = ns
            colon = after
        } else {
            guard count <= UInt64(Int64.max) else { return nil }
            time = Int64(count)
            colon = afterCount
            bareCount = true
        }
        colon = ByteScanning.skipSpaces(t, from: colon)
        guard colon < n, t[colon] == ASCII.colon else { return nil }
        let nameStart = ByteScanning.skipSpaces(t, from: colon + 1)
        let nameEnd = ByteScanning.firstIndex(of: ASCII.colon, or: ASCII.space, in: t, from: nameStart)
        guard nameEnd > nameStart else { return nil }
        let nameColon = ByteScanning.skipSpaces(t, from: nameEnd)
        guard nameColon < n, t[nameColon] == ASCII.colon else { return nil }
        return FtraceDumpEventHeader(
            time: time, nameStart: nameStart, nameEnd: nameEnd, payloadStart: ByteScanning.skipSpaces(t, from: nameColon + 1),
            bareCount: bareCount)
    }
}
