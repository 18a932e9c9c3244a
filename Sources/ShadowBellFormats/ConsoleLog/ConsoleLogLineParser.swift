#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellCore

/// The distinct kernel messages seen most recently, so that a message printed live on the
/// console and again by a `dmesg` dump later in the file is reported once. Holds at most
/// `capacity` keys and forgets the oldest first. A class, so the parser (a value type copied
/// into a local variable per batch) shares one store and never copies it.
final class RecentMessages {
    struct Key: Hashable {
        var time: Int64
        var controller: UInt16
        var qid: UInt16
        var kind: UInt32
        var tag: UInt32
        var status: UInt32
    }

    static let defaultCapacity = 1024

    let capacity: Int
    @exclusivity(unchecked) private var members: Set<Key> = []
    @exclusivity(unchecked) private var order: [Key] = []
    @exclusivity(unchecked) private var oldest = 0
    /// The key and line of the previous message, and whether it was new there (its first run
    /// of lines).
    @exclusivity(unchecked) private var previous: Key?
    @exclusivity(unchecked) private var previousLine: UInt64 = 0
    @exclusivity(unchecked) private var inFirstRun = false

    init(capacity: Int = RecentMessages.defaultCapacity) {
        self.capacity = max(capacity, 1)
    }

    /// Records `key`, of line `line`; false when it is already among the recent keys. The same
    /// message on consecutive lines when first seen is as many messages (three `Abort status:
    /// 0x0` at one stamp, as an ABORT's completions print); seen again later, after any other
    /// line (a `dmesg | tail` of them, its command line between), it is a replay.
    func insert(_ key: Key, line: UInt64 = 0) -> Bool {
        defer {
            previous = key
            previousLine = line
        }
        if members.contains(key) {
            guard inFirstRun, previous == key, line == previousLine &+ 1 else {
                inFirstRun = false
                return false
            }
            return true
        }
        if order.count < capacity {
            order.append(key)
        } else {
            members.remove(order[oldest])
            order[oldest] = key
            oldest = (oldest + 1) % capacity
        }
        members.insert(key)
        inFirstRun = true
        return true
    }
}

/// The guest kernel a console names in its boot banner.
final class KernelBannerStore {
    @exclusivity(unchecked) var version: KernelVersion?
    /// The lines of the banners seen, one per boot (at most `InputSummary.bootBannerLimit`).
    @exclusivity(unchecked) var lines: [UInt64] = []
}

/// What the text after `nvme nvme<N>: ` says.
enum GuestMessageText {
    /// A message ShadowBell reads: `qid` 0 and `tag` `Event.noCommand` when it names none.
    case message(GuestMessageKind, qid: UInt16, tag: UInt32, status: UInt32)
    /// A known message (`I/O …`, `Abort status:`) that does not parse.
    case malformed(DecodeFailure)
    /// Any other message of the driver.
    case other
}

/// Decodes one line of a guest serial console capture or a `dmesg` dump.
///
/// A line is read when it contains `[ seconds.micro] nvme nvme<N>: <message>` anywhere — fio or
/// other programs write progress text ending in `\r` without a newline, so the kernel's message
/// often follows other text on the same line. An optional caller-ID column
/// (`[    5.4][    T1] nvme …`, CONFIG_PRINTK_CALLER) is accepted. The first
/// `nvme nvme<N>: ` of a line is the one read. Messages (Linux nvme-pci `nvme_timeout()` and
/// the controller bring-up) become `.guestMessage` events; a message already seen with the same
/// timestamp, kind, controller, qid, tag and status is skipped (the dump repeats the console).
struct ConsoleLogLineParser: LineDecoding {
    let source: UInt16
    let recent: RecentMessages
    /// The last kernel banner seen (shared by the copies of the parser).
    let banner = KernelBannerStore()

    init(source: UInt16, recentCapacity: Int = RecentMessages.defaultCapacity) {
        self.source = source
        recent = RecentMessages(capacity: recentCapacity)
    }

    @inline(__always)
    mutating func parse(_ line: UnsafeRawBufferPointer, number: UInt64) -> LineOutcome {
        guard let prefix = Self.findDevicePrefix(line) else { return kernelBanner(line, number: number) }
        let text = UnsafeRawBufferPointer(rebasing: line[prefix.textStart...])
        switch Self.decodeText(text) {
        case .other:
            return .skipped
        case .malformed(let failure):
            return .malformed(failure)
        case .message(let kind, let qid, let tag, let status):
            guard let time = Self.timestampBefore(line, prefix.start) else {
                return .malformed(
                    DecodeFailure(event: "nvme kernel message", field: "[seconds] timestamp", problem: .missing))
            }
            let key = RecentMessages.Key(
                time: time, controller: prefix.controller, qid: qid, kind: kind.rawValue, tag: tag, status: status)
            guard recent.insert(key, line: number) else { return .skipped }
            return .event(
                Event(
                    kind: .guestMessage, time: time, location: number, source: source,
                    controller: prefix.controller, qid: qid, a: kind.rawValue, b: tag, c: status))
        }
    }

    /// `[    0.000000] Linux version 6.1.0-56-amd64 (…) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (…)`:
    /// the kernel's version, from the distribution's upstream version when the banner names one
    /// (Debian's release string `6.1.0-56` hides the stable patch level). Not an event: it
    /// describes the input (`InputSummary.kernelVersion`); the line counts as skipped.
    mutating func kernelBanner(_ line: UnsafeRawBufferPointer, number: UInt64) -> LineOutcome {
        guard let at = Self.find(line, "Linux version ", from: 0), Self.timestampBefore(line, at) != nil,
            let release = Self.version(line, from: at + 14)
        else { return .skipped }
        var version = release
        var i = at + 14
        while let debian = Self.find(line, "Debian ", from: i) {
            if let v = Self.version(line, from: debian + 7), v.major == release.major, v.minor == release.minor { version = v }
            i = debian + 7
        }
        banner.version = version
        if banner.lines.count < InputSummary.bootBannerLimit { banner.lines.append(number) }
        return .skipped
    }

    /// `major.minor[.patch]` at `from`.
    static func version(_ line: UnsafeRawBufferPointer, from: Int) -> KernelVersion? {
        guard let (major, afterMajor) = ByteScanning.decimalPrefix(line, from: from), major < 1024,
            afterMajor < line.count, line[afterMajor] == ASCII.dot,
            let (minor, afterMinor) = ByteScanning.decimalPrefix(line, from: afterMajor + 1), minor < 1024
        else { return nil }
        var patch: UInt64 = 0
        if afterMinor < line.count, line[afterMinor] == ASCII.dot,
            let (p, _) = ByteScanning.decimalPrefix(line, from: afterMinor + 1)
        {
            patch = min(p, 1023)
        }
        return KernelVersion(UInt32(major), UInt32(minor), UInt32(patch))
    }

    /// The first `needle` in `line` at or after `from`.
    static func find(_ line: UnsafeRawBufferPointer, _ needle: StaticString, from: Int) -> Int? {
        guard let base = line.baseAddress, needle.utf8CodeUnitCount > 0 else { return nil }
        let first = needle.utf8Start.pointee
        var i = from
        while i < line.count {
            guard let hit = memchr(base + i, Int32(first), line.count - i) else { return nil }
            let at = UnsafeRawPointer(hit) - base
            if ByteScanning.hasPrefix(line, at: at, needle) { return at }
            i = at + 1
        }
        return nil
    }

    // MARK: locating the message

    /// The first `nvme nvme<N>: ` of the line that starts a word: where it starts, the
    /// controller number and where the message text begins.
    @inline(__always)
    static func findDevicePrefix(_ line: UnsafeRawBufferPointer)
        -> (start: Int, controller: UInt16, textStart: Int)?
    {
        guard let base = line.baseAddress else { return nil }
        var i = 0
        while i < line.count {
            guard let hit = memchr(base + i, 0x6E /* n */, line.count - i) else { return nil }
            let at = UnsafeRawPointer(hit) - base
            i = at + 1
            guard ByteScanning.hasPrefix(line, at: at, "nvme nvme"), at == 0 || !isWordByte(line[at - 1])
            else { continue }
            guard let (n, afterNumber) = ByteScanning.decimalPrefix(line, from: at + 9),
                n <= UInt64(UInt16.max), ByteScanning.hasPrefix(line, at: afterNumber, ": ")
            else { continue }
            return (at, UInt16(n), afterNumber + 2)
        }
        return nil
    }

    @inline(__always)
    private static func isWordByte(_ b: UInt8) -> Bool {
        ASCII.isDigit(b) || (b | 0x20) &- 0x61 < 26 || b == 0x5F
    }

    /// The `[ seconds.micro]` printk timestamp that ends right before `messageStart` (with one
    /// space between), in nanoseconds; a caller-ID column (`[    T1]`, `[    C0]`) between the
    /// two is skipped, glued to the stamp or after a space, and so is journald's `<host> kernel: `
    /// (`journalctl -k -o short-monotonic`: `[   30.449578] vm kernel: nvme nvme0: …`), and
    /// `dmesg -d`'s delta after the stamp. Nil when there is none.
    static func timestampBefore(_ line: UnsafeRawBufferPointer, _ messageStart: Int) -> Int64? {
        guard messageStart >= 2, line[messageStart - 1] == ASCII.space else { return nil }
        var end = messageStart - 1  // index of the `]` + 1
        if end >= 8, hasSuffix(line, end: end, "kernel:") {
            // `<host> kernel:`: back over the word, the spaces and the host name.
            var i = end - 7
            guard i >= 1, line[i - 1] == ASCII.space else { return nil }
            while i > 0, line[i - 1] == ASCII.space { i -= 1 }
            let hostEnd = i
            while i > 0, line[i - 1] != ASCII.space, line[i - 1] != ASCII.closeBracket { i -= 1 }
            guard i < hostEnd, i >= 1, line[i - 1] == ASCII.space else { return nil }
            end = i - 1
        }
        for group in 0..<2 {
            while group == 1, end >= 1, line[end - 1] == ASCII.space { end -= 1 }
            guard end >= 2, line[end - 1] == ASCII.closeBracket else { return nil }
            // The group's opening bracket, within a short distance.
            var open = end - 2
            while open >= 0, line[open] != ASCII.openBracket, end - open <= 32 { open -= 1 }
            guard open >= 0, line[open] == ASCII.openBracket else { return nil }
            let contentStart = ByteScanning.skipSpaces(line, from: open + 1)
            let contentEnd = end - 1
            guard contentStart < contentEnd else { return nil }
            let first = line[contentStart]
            if group == 0, first == 0x54 /* T */ || first == 0x43 /* C */ {
                // Caller ID: a letter and digits.
                guard let (_, after) = ByteScanning.decimalPrefix(line, from: contentStart + 1), after == contentEnd
                else { return nil }
                end = open
                continue
            }
            guard let (time, after) = ByteScanning.timestampPrefix(line, from: contentStart),
                after == contentEnd || deltaColumnEnd(line, from: after) == contentEnd,
                line[contentStart..<after].contains(ASCII.dot)
            else { return nil }
            return time
        }
        return nil
    }

    /// `dmesg -d`'s column of the time since the previous message, ` <%12.06f>`, starting at
    /// `i` (right after the stamp's fraction: `[   25.131820 <    0.000275>] `): the index past
    /// its `>`, or nil when there is none. The delta is left: the stamp says it.
    static func deltaColumnEnd(_ line: UnsafeRawBufferPointer, from i: Int) -> Int? {
        guard ByteScanning.hasPrefix(line, at: i, " <") else { return nil }
        let start = ByteScanning.skipSpaces(line, from: i + 2)
        guard let (_, dot) = ByteScanning.decimalPrefix(line, from: start), dot < line.count, line[dot] == ASCII.dot,
            let (_, close) = ByteScanning.fractionNanoseconds(line, from: dot + 1), close < line.count,
            line[close] == 0x3E /* > */
        else { return nil }
        return close + 1
    }

    /// Whether `line[..<end]` ends with `text`.
    private static func hasSuffix(_ line: UnsafeRawBufferPointer, end: Int, _ text: StaticString) -> Bool {
        let n = text.utf8CodeUnitCount
        return end >= n && ByteScanning.hasPrefix(line, at: end - n, text)
    }

    // MARK: the message text

    /// Decodes the text after `nvme nvme<N>: `.
    @inline(__always)
    static func decodeText(_ text: UnsafeRawBufferPointer) -> GuestMessageText {
        var s = ByteScanner(text)
        if s.skip("I/O ") { return decodeTimeout(&s) }
        if s.skip("Abort status:") {
            s.skipSpaces()
            guard let status = s.readInteger(), FieldReader.endsValue(s.peek()) else {
                return .malformed(DecodeFailure(event: "nvme Abort status", field: "status", problem: .badNumber))
            }
            guard status <= UInt64(UInt32.max) else {
                return .malformed(DecodeFailure(event: "nvme Abort status", field: "status", problem: .outOfRange))
            }
            return .message(.abortStatus, qid: 0, tag: Event.noCommand, status: UInt32(status))
        }
        if let first = s.peek(), ASCII.isDigit(first) { return decodeQueues(&s) }
        return .other
    }

    /// `I/O tag 12 (100c) opcode 0x2 (Read) QID 3 timeout, aborting …`,
    /// `I/O 64 (I/O Cmd) QID 1 timeout, reset controller`, `I/O 12 QID 3 timeout, …`; the
    /// scanner is after `I/O `.
    private static func decodeTimeout(_ s: inout ByteScanner) -> GuestMessageText {
        let event: StaticString = "nvme I/O timeout"
        _ = s.skip("tag ")
        guard let tag = s.readDecimal() else {
            return .malformed(DecodeFailure(event: event, field: "tag", problem: .badNumber))
        }
        guard tag < UInt64(Event.noCommand) else {
            return .malformed(DecodeFailure(event: event, field: "tag", problem: .outOfRange))
        }
        s.skipSpaces()
        // `(100c)` (command id) or `(I/O Cmd)` (opcode name), then `opcode 0x2 (Read)`.
        if !skipParenthesised(&s) { return .malformed(DecodeFailure(event: event, field: "(…)", problem: .badShape)) }
        s.skipSpaces()
        if s.skip("opcode ") {
            guard s.readInteger() != nil else {
                return .malformed(DecodeFailure(event: event, field: "opcode", problem: .badNumber))
            }
            s.skipSpaces()
            if !skipParenthesised(&s) {
                return .malformed(DecodeFailure(event: event, field: "(…)", problem: .badShape))
            }
            s.skipSpaces()
        }
        guard s.skip("QID ") else { return .malformed(DecodeFailure(event: event, field: "QID", problem: .missing)) }
        guard let qid = s.readDecimal() else {
            return .malformed(DecodeFailure(event: event, field: "QID", problem: .badNumber))
        }
        guard qid <= UInt64(UInt16.max) else {
            return .malformed(DecodeFailure(event: event, field: "QID", problem: .outOfRange))
        }
        guard s.skip(" timeout, ") else {
            return .malformed(DecodeFailure(event: event, field: "timeout,", problem: .badShape))
        }
        let kind: GuestMessageKind
        if s.skip("aborting") {
            kind = .timeoutAborting
        } else if s.skip("reset controller") {
            kind = .timeoutReset
        } else if s.skip("completion polled") {
            kind = .timeoutPolled
        } else if s.skip("disable controller") {
            kind = .timeoutDisable
        } else {
            return .malformed(DecodeFailure(event: event, field: "action after timeout,", problem: .badShape))
        }
        return .message(kind, qid: UInt16(qid), tag: UInt32(tag), status: 0)
    }

    /// Moves past a `(…)` group (nested parentheses allowed) if one is next; false when one
    /// opens but never closes.
    private static func skipParenthesised(_ s: inout ByteScanner) -> Bool {
        guard s.peek() == ASCII.openParen else { return true }
        var depth = 0
        var i = s.position
        while i < s.bytes.count {
            let b = s.bytes[i]
            if b == ASCII.openParen {
                depth += 1
            } else if b == ASCII.closeParen {
                depth -= 1
                if depth == 0 {
                    s.position = i + 1
                    return true
                }
            }
            i += 1
        }
        return false
    }

    /// `2/0/0 default/read/poll queues`; any other text starting with a digit is another message.
    private static func decodeQueues(_ s: inout ByteScanner) -> GuestMessageText {
        guard s.readDecimal() != nil, s.skip(0x2F), s.readDecimal() != nil, s.skip(0x2F), s.readDecimal() != nil,
            s.skip(" default/read/poll queues")
        else { return .other }
        return .message(.queuesReady, qid: 0, tag: Event.noCommand, status: 0)
    }
}
