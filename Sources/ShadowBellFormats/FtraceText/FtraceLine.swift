#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellCore

/// The fixed columns of an ftrace text event line:
/// `<comm>-<pid> [( <tgid>)] [<cpu>] [<flags>] <timestamp>: <event>: <payload>`.
struct FtraceLineHeader {
    var time: Int64
    /// Where the timestamp begins (a clock that does not count nanoseconds prints a bare count).
    var timeStart: Int
    var nameStart: Int
    var nameEnd: Int
    var payloadStart: Int
    /// Bit n for CPU n (CPU 63 and above share bit 63).
    var cpuBit: UInt64 = 0

    /// Parses the columns. The comm may contain spaces, dashes and brackets: each `[` is tried
    /// as the CPU column until one is preceded by `-<pid>` (and an optional `(tgid)`) and
    /// followed by optional flags, a timestamp and an event name.
    @inline(__always)
    static func parse(_ line: UnsafeRawBufferPointer) -> FtraceLineHeader? {
        let n = line.count
        guard let base = line.baseAddress else { return nil }
        var open = 0
        while open < n {
            guard let hit = memchr(base + open, Int32(ASCII.openBracket), n - open) else { break }
            open = UnsafeRawPointer(hit) - base
            if let header = parse(line, cpuColumnAt: open) { return header }
            open += 1
        }
        return parseLatencyColumns(line)
    }

    /// `trace-cmd report -l`: `<comm>-<pid> <cpu><flags> <timestamp>: …`, the CPU number
    /// written straight before the latency flags (`1.....`, `0d.h1.`), without brackets.
    private static func parseLatencyColumns(_ line: UnsafeRawBufferPointer) -> FtraceLineHeader? {
        let n = line.count
        guard let base = line.baseAddress else { return nil }
        var dash = 0
        while dash < n {
            guard let hit = memchr(base + dash, Int32(ASCII.dash), n - dash) else { return nil }
            dash = UnsafeRawPointer(hit) - base
            defer { dash += 1 }
            var i = dash + 1
            let pidStart = i
            while i < n, ASCII.isDigit(line[i]) { i += 1 }
            guard i > pidStart, i < n, line[i] == ASCII.space else { continue }
            i = ByteScanning.skipSpaces(line, from: i)
            let cpuStart = i
            var cpu = 0
            while i < n, ASCII.isDigit(line[i]) {
                cpu = cpu &* 10 &+ Int(line[i] &- ASCII.zero)
                i += 1
            }
            guard i > cpuStart else { continue }
            let flagsStart = i
            // The flags (`d.h1.`) start with a non-digit and may hold digits (preempt depth).
            guard i < n, !ASCII.isDigit(line[i]) else { continue }
            while i < n, line[i] != ASCII.space { i += 1 }
            guard i - flagsStart >= 4, i - flagsStart <= 8, i < n, line[i] == ASCII.space else { continue }
            if var header = parseFromTimestamp(line, at: ByteScanning.skipSpaces(line, from: i)) {
                header.cpuBit = cpuBit(cpu)
                return header
            }
        }
        return nil
    }

    @inline(__always)
    private static func parse(_ line: UnsafeRawBufferPointer, cpuColumnAt open: Int)
        -> FtraceLineHeader?
    {
        let n = line.count
        // `[<cpu>]`
        var i = open + 1
        let cpuStart = i
        var cpu = 0
        while i < n, ASCII.isDigit(line[i]) {
            cpu = cpu &* 10 &+ Int(line[i] &- ASCII.zero)
            i += 1
        }
        guard i > cpuStart, i < n, line[i] == ASCII.closeBracket else { return nil }
        guard pidPrecedes(line, before: open) else { return nil }
        i = ByteScanning.skipSpaces(line, from: i + 1)
        // Optional flags (`d..2.`): never starts with a digit, unlike the timestamp.
        guard i < n else { return nil }
        if !ASCII.isDigit(line[i]) {
            let flagsStart = i
            while i < n, line[i] != ASCII.space { i += 1 }
            guard i - flagsStart <= 8 else { return nil }
            i = ByteScanning.skipSpaces(line, from: i)
        }
        var header = parseFromTimestamp(line, at: i)
        header?.cpuBit = cpuBit(cpu)
        return header
    }

    /// The bit of CPU `cpu` (63 and above, or digits enough to wrap, share bit 63).
    @inline(__always)
    private static func cpuBit(_ cpu: Int) -> UInt64 {
        1 << UInt64(truncatingIfNeeded: cpu >= 0 && cpu < 63 ? cpu : 63)
    }

    /// `<timestamp>: [(+<delta>)] <event>: <payload>` from `i` on. The kernel's latency format
    /// (the `latency-format` trace option, what `ftrace_dump()` prints) writes the time as
    /// microseconds since the ring buffer's start with a delay mark: `9093376us : `,
    /// `9093376us!: `.
    @inline(__always)
    private static func parseFromTimestamp(_ line: UnsafeRawBufferPointer, at i: Int) -> FtraceLineHeader? {
        let n = line.count
        guard var (time, afterTime) = ByteScanning.timestampPrefix(line, from: i), afterTime < n else { return nil }
        if line[afterTime] == 0x75 /* u */, let end = microsecondsEnd(line, at: afterTime) {
            guard time <= Int64.max / 1000 else { return nil }
            time *= 1000
            afterTime = end
        }
        guard afterTime < n, line[afterTime] == ASCII.colon else { return nil }
        // Event name, then `:`; trace-cmd pads around it with spaces, and `--ts-diff` puts the
        // time since the previous event, `(+826)`, before it.
        var nameStart = ByteScanning.skipSpaces(line, from: afterTime + 1)
        if nameStart + 1 < n, line[nameStart] == ASCII.openParen, line[nameStart + 1] == 0x2B /* + */ {
            var close = nameStart + 2
            while close < n, line[close] != ASCII.closeParen { close += 1 }
            guard close < n else { return nil }
            nameStart = ByteScanning.skipSpaces(line, from: close + 1)
        }
        var nameEnd = ByteScanning.firstIndex(of: ASCII.colon, or: ASCII.space, in: line, from: nameStart)
        guard nameEnd > nameStart else { return nil }
        // `perf script` names the event with its system, `nvme:nvme_setup_cmd:` (ftrace puts a
        // space after the event's colon).
        if nameEnd + 1 < n, line[nameEnd] == ASCII.colon, line[nameEnd + 1] != ASCII.space {
            let eventEnd = ByteScanning.firstIndex(of: ASCII.colon, or: ASCII.space, in: line, from: nameEnd + 1)
            if eventEnd < n, eventEnd > nameEnd + 1, line[eventEnd] == ASCII.colon {
                nameStart = nameEnd + 1
                nameEnd = eventEnd
            }
        }
        let colon = ByteScanning.skipSpaces(line, from: nameEnd)
        guard colon < n, line[colon] == ASCII.colon else { return nil }
        return FtraceLineHeader(
            time: time, timeStart: i, nameStart: nameStart, nameEnd: nameEnd,
            payloadStart: ByteScanning.skipSpaces(line, from: colon + 1))
    }

    /// Past `us`, a delay mark (`trace_find_mark()`'s `+ ! # * @ $`, or a space) and spaces at
    /// `at` (after a latency-format time's digits): where its colon should be; nil when `at`
    /// holds no `us`. The console's ftrace dump lines are read with it too.
    @inline(__always)
    static func microsecondsEnd(_ line: UnsafeRawBufferPointer, at: Int) -> Int? {
        guard ByteScanning.hasPrefix(line, at: at, "us") else { return nil }
        var i = at + 2
        if i < line.count {
            switch line[i] {
            case 0x2B /* + */, 0x21 /* ! */, 0x23 /* # */, 0x2A /* * */, 0x40 /* @ */, 0x24 /* $ */: i += 1
            default: break
            }
        }
        return ByteScanning.skipSpaces(line, from: i)
    }

    /// Whether the first event line of `prefix` is in the latency format, its time in
    /// microseconds since the ring buffer's start (`9093376us : `).
    static func latencyTimes(inPrefix prefix: UnsafeRawBufferPointer) -> Bool {
        var found = false
        FormatDetector.forEachLine(prefix) { line, first in
            guard line[first] != ASCII.hash, let header = parse(line) else { return true }
            var i = header.timeStart
            while i < line.count, ASCII.isDigit(line[i]) { i += 1 }
            found = microsecondsEnd(line, at: i) != nil
            return false
        }
        return found
    }

    /// The CPUs (bit n: CPU n < 64) of the event lines in `prefix` with a `[cpu]` column.
    static func cpus(inPrefix prefix: UnsafeRawBufferPointer) -> UInt64 {
        var mask: UInt64 = 0
        FormatDetector.forEachLine(prefix) { line, first in
            guard line[first] != ASCII.hash, let header = parse(line), let base = line.baseAddress else { return true }
            var open = 0
            while open < header.timeStart {
                guard let hit = memchr(base + open, Int32(ASCII.openBracket), header.timeStart - open) else { break }
                open = UnsafeRawPointer(hit) - base
                if let (cpu, after) = ByteScanning.decimalPrefix(line, from: open + 1), after < line.count,
                    line[after] == ASCII.closeBracket, pidPrecedes(line, before: open)
                {
                    if cpu < 64 { mask |= 1 << cpu }
                    break
                }
                open += 1
            }
            return true
        }
        return mask
    }

    /// How many CPUs the header of an ftrace text says the machine had: `#P:N` (tracefs's
    /// `trace` and `per_cpu/cpuN/trace`) or `cpus=N` (`trace-cmd report`); 0 when it says none.
    static func cpuCount(inPrefix prefix: UnsafeRawBufferPointer) -> Int {
        var count = 0
        var lines = 0
        FormatDetector.forEachLine(prefix) { line, first in
            lines += 1
            if ByteScanning.hasPrefix(line, at: first, "cpus="), let (n, _) = ByteScanning.decimalPrefix(line, from: first + 5) {
                count = Int(min(n, 4096))
                return false
            }
            if line[first] == ASCII.hash {
                var at = first + 1
                while at + 3 <= line.count, !ByteScanning.hasPrefix(line, at: at, "#P:") { at += 1 }
                if at + 3 <= line.count, let (n, _) = ByteScanning.decimalPrefix(line, from: at + 3) {
                    count = Int(min(n, 4096))
                    return false
                }
            }
            return lines < 64
        }
        return count
    }

    /// Whether the text before the CPU column ends with `-<pid>`, optionally followed by
    /// `(<tgid>)` or `(-------)`; or, as `perf script` prints it, with `<comm> <pid>` or
    /// `<comm> <pid>/<tid>`.
    @inline(__always)
    private static func pidPrecedes(_ line: UnsafeRawBufferPointer, before open: Int) -> Bool {
        var k = open - 1
        while k >= 0, line[k] == ASCII.space { k -= 1 }
        guard k >= 0 else { return false }
        if line[k] == ASCII.closeParen {
            k -= 1
            while k >= 0, line[k] != ASCII.openParen {
                guard line[k] == ASCII.dash || line[k] == ASCII.space || ASCII.isDigit(line[k]) else {
                    return false
                }
                k -= 1
            }
            guard k >= 0 else { return false }
            k -= 1
            while k >= 0, line[k] == ASCII.space { k -= 1 }
        }
        var digitsEnd = k
        while k >= 0, ASCII.isDigit(line[k]) { k -= 1 }
        guard k < digitsEnd, k >= 0 else { return false }
        if line[k] == ASCII.dash { return true }
        if line[k] == 0x2F /* / */ {
            digitsEnd = k - 1
            k -= 1
            while k >= 0, ASCII.isDigit(line[k]) { k -= 1 }
            guard k < digitsEnd, k >= 0 else { return false }
        }
        guard line[k] == ASCII.space else { return false }
        while k >= 0, line[k] == ASCII.space { k -= 1 }
        return k >= 0
    }
}

/// The ftrace events ShadowBell decodes.
enum FtraceEventName: UInt8 {
    case setupCmd, completeRq, sq, dbbufSQ, dbbufCQ, tracingMarkWrite, print
    /// `printk:console`: a kernel message as the console printed it.
    case console

    var name: StaticString {
        switch self {
        case .setupCmd: return "nvme_setup_cmd"
        case .completeRq: return "nvme_complete_rq"
        case .sq: return "nvme_sq"
        case .dbbufSQ: return "nvme_dbbuf_sq"
        case .dbbufCQ: return "nvme_dbbuf_cq"
        case .tracingMarkWrite: return "tracing_mark_write"
        case .print: return "print"
        case .console: return "console"
        }
    }

    @inline(__always)
    static func identify(_ name: UnsafeRawBufferPointer) -> FtraceEventName? {
        @inline(__always) func eq(_ literal: StaticString) -> Bool {
            ByteScanning.equals(name, literal)
        }
        switch name.count {
        case 5: return eq("print") ? .print : nil
        case 7:
            if eq("nvme_sq") { return .sq }
            return eq("console") ? .console : nil
        case 13:
            if eq("nvme_dbbuf_sq") { return .dbbufSQ }
            if eq("nvme_dbbuf_cq") { return .dbbufCQ }
            return nil
        case 14: return eq("nvme_setup_cmd") ? .setupCmd : nil
        case 16: return eq("nvme_complete_rq") ? .completeRq : nil
        case 18: return eq("tracing_mark_write") ? .tracingMarkWrite : nil
        default: return nil
        }
    }
}
