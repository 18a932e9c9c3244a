#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellCore

/// Decodes one line of a QEMU log-backend trace, in any of its three shapes:
/// `pid@sec.usec:event args`, bare `event args` (order only), and
/// `2025-07-21T18:43:28.089797Z event args` (UTC wall clock, QEMU ≥ 10.1).
struct QemuLogLineParser: LineDecoding {
    enum Shape { case pidTimestamp, iso8601, bare }

    /// A guest ftrace line of an NVMe event (`… [001] ….  12.345678: nvme_setup_cmd: …`).
    static func isForeignEvent(_ line: UnsafeRawBufferPointer) -> Bool {
        guard let header = FtraceLineHeader.parse(line) else { return false }
        return ByteScanning.hasPrefix(line, at: header.nameStart, "nvme_")
    }
    static var foreignFormat: String { InputSummary.foreignGuestTrace }

    let decoder: QemuEventDecoder
    /// The file's clock, decided by its first event line. A file mixing shapes is read on this
    /// clock: order-only files number every event; timestamped files give an untimed event the
    /// time of the previous one.
    private(set) var clock: ClockKind?
    var decidedClock: ClockKind? { clock }
    private var ordinal: Int64 = 0
    private var lastTime: Int64 = 0
    /// The latest time of any timestamped line of another event than ShadowBell's
    /// (`LineDecoding.latestLineTime`; the events' own times reach the analysis with them).
    private(set) var latestLineTime: Int64 = .min
    /// Whether a bare (untimed) line was decoded before any other event (for decoding a file
    /// in segments: its time depends on earlier lines).
    private(set) var bareLineBeforeFirstEvent = false
    /// Whether a line saying the log lost lines (`lostLines`) came before any event: its
    /// time is the previous event's, in an earlier segment.
    private(set) var lossBeforeFirstEvent = false
    /// The QEMU thread of the last PCI function-level reset (`pci_nvme_pci_reset`), which a
    /// process's main thread traces at its start and at each machine reset: one from another
    /// thread is a new process's (`ResetReason.newProcess`).
    private(set) var lastResetThread: UInt64?
    /// Whether such a reset came while no earlier one was known (for decoding in segments: it
    /// depends on the resets before the segment).
    private(set) var resetWithoutEarlierOne = false

    init(source: UInt16, controller: UInt16) {
        decoder = QemuEventDecoder(controller: controller, source: source)
    }

    /// This state (of a timestamped segment decoded from a fresh start) after `prior`'s.
    func continued(after prior: QemuLogLineParser) -> QemuLogLineParser {
        var next = self
        next.clock = prior.clock
        next.ordinal += prior.ordinal
        next.bareLineBeforeFirstEvent = prior.bareLineBeforeFirstEvent
        next.lossBeforeFirstEvent = prior.lossBeforeFirstEvent
        next.lastResetThread = lastResetThread ?? prior.lastResetThread
        next.resetWithoutEarlierOne = prior.resetWithoutEarlierOne || resetWithoutEarlierOne
        return next
    }

    /// The threads (QEMU's thread ids, `tid@seconds:`) the lines of `prefix` name: up to 16,
    /// in order.
    static func threads(inPrefix prefix: UnsafeRawBufferPointer) -> [UInt64] {
        var found: Set<UInt64> = []
        FormatDetector.forEachLine(prefix) { line, _ in
            if let (shape, _, _) = split(line), shape == .pidTimestamp,
                let (tid, _) = ByteScanning.decimalPrefix(line, from: SyslogPrefix.messageStart(line) ?? 0)
            {
                found.insert(tid)
            }
            return found.count < 16
        }
        return found.sorted()
    }

    /// Splits a line into its timestamp (nil for a bare line) and event payload; nil for a line
    /// of none of the three shapes.
    @inline(__always)
    static func split(_ line: UnsafeRawBufferPointer) -> (shape: Shape, time: Int64, payload: Int)? {
        guard let first = line.first else { return nil }
        if ASCII.isDigit(first) {
            if let (_, afterPid) = ByteScanning.decimalPrefix(line, from: 0), afterPid < line.count,
                line[afterPid] == ASCII.at
            {
                guard let (time, afterTime) = ByteScanning.timestampPrefix(line, from: afterPid + 1),
                    afterTime < line.count, line[afterTime] == ASCII.colon
                else { return nil }
                return (.pidTimestamp, time, afterTime + 1)
            }
            if let (time, afterTime) = ByteScanning.iso8601UTCPrefix(line, from: 0),
                afterTime < line.count, line[afterTime] == ASCII.space
            {
                return (.iso8601, time, afterTime + 1)
            }
            return afterSyslogPrefix(line)
        }
        // Bare shape: the line starts with an event identifier.
        if first == 0x5F || first &- 0x61 < 26 { return (.bare, 0, 0) }
        if first &- 0x41 < 26 { return afterSyslogPrefix(line) ?? (.bare, 0, 0) }
        return first == ASCII.openBracket ? afterSyslogPrefix(line) : nil
    }

    /// The QEMU line after a syslog or journal prefix (`Dec  5 20:17:45 host qemu[4711]: `:
    /// `SyslogPrefix`), its payload's index counted in the whole line.
    @inline(never)
    private static func afterSyslogPrefix(_ line: UnsafeRawBufferPointer) -> (shape: Shape, time: Int64, payload: Int)? {
        guard let start = SyslogPrefix.messageStart(line),
            let (shape, time, payload) = split(UnsafeRawBufferPointer(rebasing: line[start...]))
        else { return nil }
        return (shape, time, start + payload)
    }

    @inline(__always)
    mutating func parse(_ whole: UnsafeRawBufferPointer, number: UInt64) -> LineOutcome {
        var line = whole
        // A file's first line may begin with a UTF-8 byte order mark (an editor's save): not
        // part of the line. (`number` 1 is also a segment's first line, where none is either.)
        if number == 1, line.count >= 3, line[0] == 0xEF, line[1] == 0xBB, line[2] == 0xBF {
            line = UnsafeRawBufferPointer(rebasing: line[3...])
        }
        guard let (shape, time, payloadStart) = Self.split(line) else {
            return Self.damagedEventLine(line)
        }
        let payload = UnsafeRawBufferPointer(rebasing: line[payloadStart...])
        switch decoder.decode(payload, time: time, location: number) {
        case .event(var event):
            if event.kind == .controllerReset, event.a == ResetReason.functionLevelReset.rawValue, shape == .pidTimestamp,
                let (thread, _) = ByteScanning.decimalPrefix(line, from: SyslogPrefix.messageStart(line) ?? 0)
            {
                if let last = lastResetThread {
                    if thread != last { event.a = ResetReason.newProcess.rawValue }
                } else {
                    resetWithoutEarlierOne = true
                }
                lastResetThread = thread
            }
            if clock == nil { clock = shape == .bare ? .orderOnly : .timestamps }
            if shape == .bare, ordinal == 0 { bareLineBeforeFirstEvent = true }
            ordinal += 1
            if clock == .orderOnly {
                event.time = ordinal
            } else if shape == .bare {
                event.time = lastTime
            }
            lastTime = event.time
            return .event(event)
        case .unknown:
            if shape != .bare, time > latestLineTime { latestLineTime = time }
            // The journal's or syslog's word that it dropped lines (rate limits): events lost
            // there, as a ring buffer's overrun marker says in ftrace.
            // (Such a line has no QEMU stamp, and begins `Suppressed` or `imjournal`: one
            // compare for every other line of a timed log.)
            if shape == .bare, let b = payload.first, b == 0x53 /* S */ || b == 0x69 /* i */, let lost = Self.lostLines(payload) {
                if ordinal == 0 { lossBeforeFirstEvent = true }
                return .dataLoss(
                    Event(kind: .dataLoss, time: lastTime, location: number, source: decoder.source, controller: decoder.controller,
                          a: UInt32(clamping: lost), b: Event.noCommand, wide: lost))
            }
            // A known event's name cut short with nothing after it (the line cut, or split by
            // other output): a lost event, not another event of QEMU's.
            if payload.count < 48, Self.isCutEventName(payload) { return .malformed(DecodeFailure(event: "a pci_nvme_ event", field: "its name", problem: .cutShort)) }
            // The guest console's line (`[   30.1] nvme nvme0: I/O …` reads as a journal's prefix
            // and a bare event; without printk's stamp, or after fio's progress line that ends
            // in no newline, as a bare event): no QEMU line of a timestamped log is either.
            if shape == .bare || line.first == ASCII.openBracket, Self.isGuestTimeout(line) {
                return .guestTimeoutPassedOver
            }
            return .skipped
        case .malformed(let failure):
            return .malformed(failure)
        }
    }

    /// How many lines a log keeper says it dropped of QEMU's: systemd-journald's `Suppressed
    /// 12345 messages from qemu-vm.service` (a unit whose name says qemu or virt: libvirt's
    /// `machine-qemu\x2d1\x2dvm.scope`; another unit's lines are not QEMU's), rsyslog's
    /// `imjournal: 1234 messages lost due to rate-limiting` (the whole journal's); nil for any
    /// other line.
    @inline(never)
    static func lostLines(_ payload: UnsafeRawBufferPointer) -> UInt64? {
        guard payload.count >= 20, payload.count < 512 else { return nil }
        if ByteScanning.hasPrefix(payload, at: 0, "Suppressed "), let (n, end) = ByteScanning.decimalPrefix(payload, from: 11),
            ByteScanning.hasPrefix(payload, at: end, " messages from ")
        {
            let unit = UnsafeRawBufferPointer(rebasing: payload[(end + 15)...])
            return namesVirtualMachine(unit) ? n : nil
        }
        if ByteScanning.hasPrefix(payload, at: 0, "imjournal: "), let (n, end) = ByteScanning.decimalPrefix(payload, from: 11),
            ByteScanning.hasPrefix(payload, at: end, " messages lost due to rate-limiting")
        {
            return n
        }
        return nil
    }

    /// Whether `text` holds `qemu` or `virt`, in any case.
    static func namesVirtualMachine(_ text: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        while i + 4 <= text.count {
            // Four lower-cased bytes at once, little-endian.
            let word = UInt32(text[i]) | UInt32(text[i + 1]) << 8 | UInt32(text[i + 2]) << 16 | UInt32(text[i + 3]) << 24
            let lower = word | 0x2020_2020
            if lower == 0x756D_6571 /* qemu */ || lower == 0x7472_6976 /* virt */ { return true }
            i += 1
        }
        return false
    }

    /// Whether `payload` is nothing but the start of a known event's name (`pci_nvme_shadow_do`).
    @inline(never)
    static func isCutEventName(_ payload: UnsafeRawBufferPointer) -> Bool {
        // Known names are shorter than 40 bytes, and a name cut short ends in a letter or `_`
        // (other events' lines mostly end in a digit or a quote): one compare for most lines.
        guard payload.count < 48, let last = payload.last, (last >= 0x61 && last <= 0x7A) || last == 0x5F || last == ASCII.space || last == ASCII.carriageReturn
        else { return false }
        var end = payload.count
        while end > 0, payload[end - 1] == ASCII.space || payload[end - 1] == ASCII.carriageReturn { end -= 1 }
        guard end > 9, end < 40, ByteScanning.hasPrefix(payload, at: 0, "pci_nvme_"),
            memchr(payload.baseAddress!, Int32(ASCII.space), end) == nil
        else { return false }
        let name = UnsafeRawBufferPointer(rebasing: payload[..<end])
        return QemuEventName.allCases.contains { known in
            let full = known.name
            return full.utf8CodeUnitCount > end && memcmp(full.utf8Start, name.baseAddress!, end) == 0
        }
    }

    /// A line of no known shape that still names a known event (e.g. a damaged timestamp) is
    /// malformed, not noise.
    private static func damagedEventLine(_ line: UnsafeRawBufferPointer) -> LineOutcome {
        guard var start = ByteScanning.fieldValueStart(line, key: "pci_nvme_", from: 0)
            ?? firstAfterColon(line, "pci_nvme_")
        else { return isLibvirtStart(line) ? .processStart : isGuestTimeout(line) ? .guestTimeoutPassedOver : .skipped }
        start -= 9
        var end = start
        while end < line.count, line[end] != ASCII.space { end += 1 }
        guard let name = QemuEventName.identify(UnsafeRawBufferPointer(rebasing: line[start..<end])) else {
            return .skipped
        }
        if ByteScanning.holdsOutOfRangeTimestamp(line, before: start) {
            return .malformed(DecodeFailure(event: name.name, field: "timestamp", problem: .outOfRange))
        }
        return .malformed(DecodeFailure(event: name.name, field: "line prefix", problem: .badShape))
    }

    /// libvirt's line before each QEMU it starts, in the VM's log it appends every start to
    /// (where QEMU's trace output goes without `-D`): `2026-12-04 18:00:00.123+0000: starting up
    /// libvirt version: 9.0.0, …`, or in older releases `… +0000: starting up` alone.
    static func isLibvirtStart(_ line: UnsafeRawBufferPointer) -> Bool {
        let marker: StaticString = ": starting up"
        let length = marker.utf8CodeUnitCount
        guard line.count >= 19 + length, let first = line.first, ASCII.isDigit(first), line[4] == 0x2D else { return false }
        // After the date, time and zone (`+0000`, or none): within the first 60 bytes, and
        // followed by a space or nothing.
        let last = min(line.count - length, 60)
        return (19...last).contains { at in
            memcmp(line.baseAddress! + at, marker.utf8Start, length) == 0
                && (at + length == line.count || line[at + length] == ASCII.space)
        }
    }

    /// The guest console's nvme timeout message (`[   45.1] nvme nvme0: I/O 5 QID 2 timeout,
    /// aborting`, any variant the console reader reads), on a line of no QEMU shape.
    static func isGuestTimeout(_ line: UnsafeRawBufferPointer) -> Bool {
        guard let prefix = ConsoleLogLineParser.findDevicePrefix(line),
            case .message(let kind, _, _, _) = ConsoleLogLineParser.decodeText(UnsafeRawBufferPointer(rebasing: line[prefix.textStart...]))
        else { return false }
        switch kind {
        case .timeoutAborting, .timeoutReset, .timeoutPolled, .timeoutDisable: return true
        case .abortStatus, .queuesReady: return false
        }
    }

    /// Index after `literal` where it directly follows a `:` (the `pid@time:` separator).
    private static func firstAfterColon(_ line: UnsafeRawBufferPointer, _ literal: StaticString) -> Int? {
        var i = 1
        while i < line.count {
            if line[i - 1] == ASCII.colon, ByteScanning.hasPrefix(line, at: i, literal) {
                return i + literal.utf8CodeUnitCount
            }
            i += 1
        }
        return nil
    }
}
