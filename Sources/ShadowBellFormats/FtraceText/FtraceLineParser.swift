import ShadowBellCore

/// Decodes one line of ftrace text. A value type, so the source can keep it in a local
/// variable across a batch.
struct FtraceLineParser: LineDecoding {
    /// A QEMU log's NVMe event line (`pid@sec.usec:pci_nvme_…`, or its ISO 8601 shape).
    static func isForeignEvent(_ line: UnsafeRawBufferPointer) -> Bool {
        guard let (shape, _, payload) = QemuLogLineParser.split(line), shape != .bare else { return false }
        return ByteScanning.hasPrefix(line, at: payload, "pci_nvme_")
    }
    static var foreignFormat: String { InputSummary.foreignQemuLog }

    let source: UInt16
    let qemu: QemuEventDecoder
    /// Time of the previous event line of the file (any event, recognised or not).
    var lastLineTime: Int64 = 0
    /// The latest time of any event line (`LineDecoding.latestLineTime`).
    var latestLineTime: Int64 = .min
    /// Whether an event line was seen, and whether a lost-events marker came before the first
    /// (both for decoding a file in segments).
    var sawEventLine = false
    var markerBeforeFirstEventLine = false
    /// The trace's clock, from its first event line: nanoseconds (`sec.fraction`), or the bare
    /// count of a clock that does not count nanoseconds (`x86-tsc`, `counter`, `uptime`).
    var clock: ClockKind?
    var decidedClock: ClockKind? { clock }
    /// The CPUs of the event lines read (bit n: CPU n; 63 and above share bit 63).
    var cpusSeen: UInt64 = 0
    /// Whether `console` events (the kernel's messages, `printk:console`) are read: not in a
    /// console's own ftrace dump, whose console lines are read as the console's.
    let readsConsoleEvents: Bool
    var dumpMarks = DumpMarks()

    /// `clock`: the trace's clock when known before its lines are read (`clock(inPrefix:decoder:)`).
    init(source: UInt16, qemuController: UInt16, clock: ClockKind? = nil, readsConsoleEvents: Bool = true) {
        self.source = source
        self.clock = clock
        self.readsConsoleEvents = readsConsoleEvents
        qemu = QemuEventDecoder(controller: qemuController, source: source)
    }

    /// The clock a timestamp starting at `start` was printed by: a bare count has no point
    /// before the colon that ends it.
    static func clock(of line: UnsafeRawBufferPointer, from start: Int) -> ClockKind {
        var i = start
        while i < line.count, ASCII.isDigit(line[i]) { i += 1 }
        // Seconds with a fraction, or the latency format's microseconds (`9093376us`).
        return i < line.count && (line[i] == ASCII.dot || FtraceLineHeader.microsecondsEnd(line, at: i) != nil) ? .timestamps : .counter
    }

    @inline(__always)
    mutating func parse(_ line: UnsafeRawBufferPointer, number: UInt64) -> LineOutcome {
        let first = ByteScanning.skipSpaces(line, from: 0)
        guard first < line.count else { return .skipped }
        if line[first] == ASCII.hash { return .skipped }
        guard let header = FtraceLineHeader.parse(line) else {
            return parseNonEventLine(line, from: first, number: number)
        }
        lastLineTime = header.time
        cpusSeen |= header.cpuBit
        if header.time > latestLineTime { latestLineTime = header.time }
        if clock == nil { clock = Self.clock(of: line, from: header.timeStart) }
        sawEventLine = true
        return decodeEvent(
            name: UnsafeRawBufferPointer(rebasing: line[header.nameStart..<header.nameEnd]),
            payload: UnsafeRawBufferPointer(rebasing: line[header.payloadStart...]), time: header.time,
            number: number)
    }

    /// Decodes one event given its name and payload (the text after `<event>: `), whatever
    /// columns came before them: ftrace text and the console's ftrace dump share this.
    @inline(__always)
    func decodeEvent(name: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, time: Int64, number: UInt64)
        -> LineOutcome
    {
        guard let event = FtraceEventName.identify(name) else {
            // A probe printed with trace_printk() shows the calling function as the event name
            // and the probe line as the payload: `nvme_dbbuf_update_and_check_event: nvme_dbbuf_sq: …`.
            return Self.decodePrintedProbe(payload).map { decodeNVMe($0.event, $0.payload, time: time, number: number) }
                ?? .skipped
        }
        switch event {
        case .tracingMarkWrite:
            return decodeMarker(payload, time: time, number: number)
        case .print:
            return decodeMarker(Self.stripPrintPrefix(payload), time: time, number: number)
        case .console:
            return readsConsoleEvents ? decodeConsoleMessage(payload, time: time, number: number) : .skipped
        default:
            return decodeNVMe(event, payload, time: time, number: number)
        }
    }

    /// A marker's text: a QEMU log-backend payload, or a driver probe payload
    /// (`nvme_dbbuf_sq: nvme0: qid=…`) as a probe prints it. Shared with trace.dat's `print`
    /// events.
    func decodeMarker(_ payload: UnsafeRawBufferPointer, time: Int64, number: UInt64)
        -> LineOutcome
    {
        if let probe = Self.decodePrintedProbe(payload) {
            return decodeNVMe(probe.event, probe.payload, time: time, number: number)
        }
        switch qemu.decode(payload, time: time, location: number) {
        case .event(let e): return .event(e)
        case .unknown: return .skipped
        case .malformed(let failure): return .malformed(failure)
        }
    }

    /// A `console` event's kernel message (`[  152.001272] nvme nvme0: I/O tag 4 (0004) … QID 1
    /// timeout, aborting`): the driver's messages a console would show, at the event's time
    /// (the trace's clock). A trace recorded with the event enabled needs no console beside it
    /// to tell the guest's timeouts.
    func decodeConsoleMessage(_ payload: UnsafeRawBufferPointer, time: Int64, number: UInt64) -> LineOutcome {
        guard let prefix = ConsoleLogLineParser.findDevicePrefix(payload) else { return .skipped }
        switch ConsoleLogLineParser.decodeText(UnsafeRawBufferPointer(rebasing: payload[prefix.textStart...])) {
        case .other: return .skipped
        case .malformed(let failure): return .malformed(failure)
        case .message(let kind, let qid, let tag, let status):
            return .event(
                Event(
                    kind: .guestMessage, time: time, location: number, source: source,
                    controller: prefix.controller, qid: qid, a: kind.rawValue, b: tag, c: status))
        }
    }

    /// trace-cmd shows the marker as `print: tracing_mark_write: <text>` (or with the caller's
    /// address when it has no symbols), and with `-R` as `print: ip=tracing_mark_write buf=<text>`.
    private static func stripPrintPrefix(_ payload: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var s = ByteScanner(payload)
        if s.skip("tracing_mark_write:") {
            s.skipSpaces()
        } else if s.readHex() != nil, s.skip(ASCII.colon) {
            s.skipSpaces()
        } else if s.skip("ip=") {
            while let b = s.peek(), b != ASCII.space { s.position += 1 }
            s.skipSpaces()
            if !s.skip("buf=") { s.position = 0 }
        } else {
            s.position = 0
        }
        return s.rest
    }

    @inline(__always)
    /// `nvme_dbbuf_sq: <probe payload>` at the start of a payload.
    static func decodePrintedProbe(_ payload: UnsafeRawBufferPointer) -> (event: FtraceEventName, payload: UnsafeRawBufferPointer)? {
        var s = ByteScanner(payload)
        let event: FtraceEventName
        if s.skip("nvme_dbbuf_sq:") {
            event = .dbbufSQ
        } else if s.skip("nvme_dbbuf_cq:") {
            event = .dbbufCQ
        } else {
            return nil
        }
        s.skipSpaces()
        return (event, s.rest)
    }

    private func decodeNVMe(
        _ event: FtraceEventName, _ payload: UnsafeRawBufferPointer, time: Int64, number: UInt64
    ) -> LineOutcome {
        if let raw = Self.rawFields(payload) {
            do {
                let fields = try NVMeTracepointFields.parse(raw, event: event)
                return .event(try fields.event(event, time: time, location: number, source: source))
            } catch {
                return .malformed(error)
            }
        }
        // `nvme<N>: ` names the controller; kernels before 4.18 printed no prefix (controller 0).
        var s = ByteScanner(payload)
        var controller: UInt64 = 0
        if s.skip("nvme") {
            guard let n = s.readDecimal(), n <= UInt64(UInt16.max), s.skip(ASCII.colon) else {
                return .malformed(DecodeFailure(event: event.name, field: "nvme<N>:", problem: .badShape))
            }
            controller = n
        }
        var r = FieldReader(s.rest, event: event.name)
        var e = Event(
            kind: .driverSubmit, time: time, location: number, source: source,
            controller: UInt16(truncatingIfNeeded: controller))
        switch event {
        case .setupCmd:
            e.qid = r.u16("qid=", field: "qid")
            e.a = r.u32("cmdid=", field: "cmdid")
            // Only admin commands are read further (an I/O command's `cmd=(…)` is not sought).
            if r.failure == nil, e.qid == 0, r.scanner.seek(field: "cmd=(") { decodeAdminCommand(&r, into: &e) }
        case .completeRq:
            e.kind = .driverComplete
            e.qid = r.u16("qid=", field: "qid")
            e.a = r.u32("cmdid=", field: "cmdid")
            e.b = r.u32("status=", field: "status")
        case .sq:
            e.kind = .driverSQHead
            e.qid = r.u16("qid=", field: "qid")
            e.a = r.u32("head=", field: "head")
            e.b = r.u32("tail=", field: "tail")
        case .dbbufSQ, .dbbufCQ:
            e.kind = .driverDoorbellUpdate
            e.queueType = event == .dbbufSQ ? .sq : .cq
            e.qid = r.u16("qid=", field: "qid")
            e.a = r.u32("old=", field: "old")
            e.b = r.u32("new=", field: "new")
            e.c = r.u32("eventidx=", field: "eventidx")
            let mmio = r.u32("mmio=", field: "mmio")
            if mmio > 1 {
                r.failure = DecodeFailure(event: event.name, field: "mmio", problem: .outOfRange)
            }
            e.flags = mmio == 1 ? Event.mmioFlag : 0
        case .tracingMarkWrite, .print, .console:
            return .skipped
        }
        if let failure = r.failure { return .malformed(failure) }
        return .event(e)
    }

    /// The raw-field text of a tracepoint that `trace-cmd report` could not format
    /// (`[FAILED TO PARSE] disk= ctrl_id=0 qid=1 …`) or was told not to (`-R`: `disk=… ctrl_id=…`).
    @inline(__always)
    static func rawFields(_ payload: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var s = ByteScanner(payload)
        if s.skip("[FAILED TO PARSE]") { return s.rest }
        if ByteScanning.hasPrefix(payload, at: 0, "disk=") || ByteScanning.hasPrefix(payload, at: 0, "ctrl_id=") {
            return payload
        }
        return nil
    }

    /// The admin commands the analysis follows, from the parsed `cmd=(…)`:
    /// `nvme_admin_create_sq sqid=2, qsize=1023, …` / `nvme_admin_create_cq cqid=2, qsize=1023, …`
    /// mark the submission as creating a queue; `nvme_admin_delete_sq sqid=2` (or, before Linux
    /// parsed it, `nvme_admin_delete_sq cdw10=02 00 …`) as deleting one; `nvme_admin_abort_cmd
    /// cdw10=01 00 c2 73 …` (the bytes of cdw10: sqid, then cid, little-endian) as the driver
    /// aborting a command. A Delete or Abort whose arguments cannot be read is left a plain
    /// submission: the command itself is still there.
    @inline(__always)
    private func decodeAdminCommand(_ r: inout FieldReader, into e: inout Event) {
        let type: QueueType
        if r.scanner.skip("nvme_admin_create_sq ") {
            type = .sq
            e.b = UInt32(r.u16("sqid=", field: "sqid"))
        } else if r.scanner.skip("nvme_admin_create_cq ") {
            type = .cq
            e.b = UInt32(r.u16("cqid=", field: "cqid"))
        } else if let deleted = r.scanner.skip("nvme_admin_delete_sq ") ? QueueType.sq
            : r.scanner.skip("nvme_admin_delete_cq ") ? QueueType.cq : nil
        {
            guard let qid = Self.deletedQueue(&r.scanner, named: deleted == .sq ? "sqid=" : "cqid=") else { return }
            e.markDeletesQueue(deleted, qid: qid)
            return
        } else if r.scanner.skip("nvme_admin_dbbuf") {
            e.flags |= Event.dbbufConfigFlag
            return
        } else if r.scanner.skip("nvme_admin_abort_cmd ") {
            guard r.scanner.skip("cdw10="), let cdw10 = Self.dwordOfBytes(&r.scanner) else { return }
            e.markAbortsCommand(cdw10: cdw10)
            return
        } else {
            return
        }
        e.c = r.u32("qsize=", field: "qsize")
        e.queueType = type
        e.flags |= Event.createsQueueFlag
    }

    /// The qid of `sqid=2` / `cqid=2`, or of `cdw10=02 00 …` (the kernel's `%*ph` of cdw10).
    private static func deletedQueue(_ s: inout ByteScanner, named key: StaticString) -> UInt32? {
        if s.skip(key) {
            guard let qid = s.readDecimal(), qid <= UInt64(UInt16.max) else { return nil }
            return UInt32(qid)
        }
        guard s.skip("cdw10="), let cdw10 = dwordOfBytes(&s) else { return nil }
        return cdw10 & 0xFFFF
    }

    /// The first four of `%*ph`'s space-separated two-digit hex bytes, as a little-endian dword.
    private static func dwordOfBytes(_ s: inout ByteScanner) -> UInt32? {
        var dword: UInt32 = 0
        for i in 0..<4 {
            if i > 0 { guard s.skip(ASCII.space) else { return nil } }
            guard let (byte, end) = ByteScanning.hexDigitsPrefix(s.bytes, from: s.position), end - s.position == 2
            else { return nil }
            s.position = end
            dword |= UInt32(byte) << (8 * UInt32(i))
        }
        return dword
    }

    /// A line without the event columns: a lost-events marker, noise, or a damaged event line.
    private mutating func parseNonEventLine(
        _ line: UnsafeRawBufferPointer, from first: Int, number: UInt64
    ) -> LineOutcome {
        // A kernel ftrace dump printed without printk stamps is ftrace text between its
        // `Dumping ftrace buffer:` line and its delimiters: kept to tell one the input stops inside.
        switch FtraceDumpLine.classify(line) {
        case .start:
            if dumpMarks.start == nil { dumpMarks.start = number }
            return .skipped
        case .delimiter:
            dumpMarks.lastDelimiter = number
            return .skipped
        default:
            break
        }
        var s = ByteScanner(line, position: first)
        // trace-cmd report names the instance before a marker of its buffer: `sbfix: CPU:0 […]`.
        var afterInstance = s
        while let b = afterInstance.peek(), b != ASCII.space, b != ASCII.colon { afterInstance.position += 1 }
        if afterInstance.skip(": ") {
            afterInstance.skipSpaces()
            if ByteScanning.hasPrefix(line, at: afterInstance.position, "CPU:") { s = afterInstance }
        }
        if s.skip("CPU:") {
            if let (cpu, lost) = Self.lostEventsMarker(&s) {
                if !sawEventLine { markerBeforeFirstEventLine = true }
                return .dataLoss(
                    Event(
                        kind: .dataLoss, time: lastLineTime, location: number, source: source,
                        a: UInt32(clamping: lost), b: UInt32(clamping: cpu), wide: lost))
            }
            return .skipped
        }
        // A line that names a known event but lost its columns is damage, not noise.
        for event in Self.nvmeEvents {
            if Self.contains(line, event.name, followedBy: ASCII.colon) {
                if let at = ByteScanning.fieldValueStart(line, key: event.name, from: 0),
                    ByteScanning.holdsOutOfRangeTimestamp(line, before: at)
                {
                    return .malformed(DecodeFailure(event: event.name, field: "timestamp", problem: .outOfRange))
                }
                return .malformed(DecodeFailure(event: event.name, field: "line header", problem: .badShape))
            }
        }
        // So is a QEMU event in a marker (its time out of range, say: 9999999999.0 s is more
        // nanoseconds than 64 bits hold; the line vanished among the skipped ones).
        if Self.contains(line, "tracing_mark_write", followedBy: ASCII.colon),
            ByteScanning.fieldValueStart(line, key: "pci_nvme_", from: 0) != nil
        {
            return .malformed(DecodeFailure(event: "tracing_mark_write", field: "line header", problem: .badShape))
        }
        return .skipped
    }

    private static let nvmeEvents: [FtraceEventName] = [.setupCmd, .completeRq, .sq, .dbbufSQ, .dbbufCQ]

    /// After `CPU:`, the rest of a lost-events marker: the kernel's `N [LOST M EVENTS]`,
    /// trace-cmd's `N [LOST EVENTS]`, `N [M EVENTS DROPPED]` and `N [EVENTS DROPPED]`.
    /// Returns the CPU and the count (0 when not given).
    static func lostEventsMarker(_ s: inout ByteScanner) -> (cpu: UInt64, lost: UInt64)? {
        guard let cpu = s.readDecimal(), s.skip(" [") else { return nil }
        if s.skip("LOST ") {
            let lost = s.readDecimal()
            if lost != nil, !s.skip(ASCII.space) { return nil }
            return s.skip("EVENTS]") ? (cpu, lost ?? 0) : nil
        }
        let lost = s.readDecimal()
        if lost != nil, !s.skip(ASCII.space) { return nil }
        return s.skip("EVENTS DROPPED]") ? (cpu, lost ?? 0) : nil
    }

    private static func contains(
        _ line: UnsafeRawBufferPointer, _ literal: StaticString, followedBy byte: UInt8
    ) -> Bool {
        let n = literal.utf8CodeUnitCount
        var i = 0
        while i + n < line.count {
            if ByteScanning.hasPrefix(line, at: i, literal), line[i + n] == byte,
                i == 0 || line[i - 1] == ASCII.space
            {
                return true
            }
            i += 1
        }
        return false
    }
}
