import ShadowBellAnalysis
import ShadowBellCore

/// Chrome trace event format (JSON), as ui.perfetto.dev, Perfetto's trace processor and
/// chrome://tracing load it.
///
/// One process per controller (per clock domain when inputs could not be aligned). Per queue:
/// `sq1 driver` and `sq1 controller` threads with an instant event per trace event, named by
/// its kind only (`shadow read`, `MMIO doorbell`, …) with its values as args of stable names
/// (`value`, `cid`, `status`, …, and `queue`, `location`); `sq1 findings` with each finding as
/// a slice; the commands of an SQ as async slices named `sq1 command`, from submission to
/// completion; counters for P, S and both EventIdx values. Guest kernel messages (timeouts,
/// aborts, resets) are instant events on the process's `guest kernel` thread.
///
/// Times: `ts` is microseconds since the domain's origin, the first event of its clock domain
/// (so never negative); `otherData.time_origins` gives each origin in nanoseconds on the
/// analysis clock, so `origin + ts × 1000` is the time the text report prints.
///
/// Events stream out through `write` as they come (memory grows with the commands in flight,
/// not with the trace); feed `observe` from the analysis observer of a pass run after the
/// first one gave `result`.
public final class PerfettoTraceWriter {
    private let result: AnalysisResult
    private let paths: [UInt16: String]
    private let write: (String) -> Void
    @exclusivity(unchecked) private var first = true
    @exclusivity(unchecked) private var domainOf: [UInt16: Int] = [:]
    @exclusivity(unchecked) private var knownThreads: Set<Int64> = []
    @exclusivity(unchecked) private var knownProcesses: Set<Int64> = []
    /// The last value written per counter track (pid, queue, which of P/S/E/R).
    private struct CounterKey: Hashable {
        var pid: Int64
        var queue: QueueKey
        var which: UInt8
    }
    @exclusivity(unchecked) private var lastCounters: [CounterKey: UInt32] = [:]
    /// Per queue, the names its events use (built once).
    private struct QueueNames {
        var ring: String
        var description: String
        var counters: [String]
    }
    @exclusivity(unchecked) private var queueNames: [QueueKey: QueueNames] = [:]
    /// The document as bytes, handed to `write` a megabyte at a time.
    @exclusivity(unchecked) private var out: [UInt8] = []
    @exclusivity(unchecked) private var units: [UInt16: SourceLocation.Unit] = [:]

    /// A command between its submission (or, without driver events, its fetch) and its completion.
    private struct OpenCommand {
        var id: Int
        var pid: Int64
        var name: String
        var fromFetch: Bool
    }

    private struct CommandKey: Hashable {
        var domain: Int
        var controller: UInt16
        var qid: UInt16
        var cid: UInt32
    }

    @exclusivity(unchecked) private var commands: [CommandKey: OpenCommand] = [:]
    @exclusivity(unchecked) private var nextCommandID = 1

    public init(result: AnalysisResult, write: @escaping (String) -> Void) {
        self.result = result
        self.write = write
        var paths: [UInt16: String] = [:]
        for input in result.inputs {
            paths[input.index] = input.path
            units[input.index] = input.locationUnit
        }
        self.paths = paths
        for (d, g) in result.groups.enumerated() {
            for s in g.sources { domainOf[s] = d }
        }
        let origins: [JSONValue] = result.groups.enumerated().map { d, g in
            .object([
                ("domain", .int(Int64(d))), ("clock_input", .string(g.sources.first.flatMap { paths[$0] } ?? "")),
                ("origin_ns", .int(Self.origin(g))), ("origin_seconds", .string(formatSeconds(Self.origin(g)))),
            ])
        }
        let other: JSONValue = .object([
            ("tool", .string("shadowbell \(AnalysisReport.toolVersion)")),
            ("time_unit", .string("ts and dur are microseconds since the origin of the event's clock domain")),
            ("time_origins", .array(origins)),
        ])
        write("{\"displayTimeUnit\":\"ns\",\"otherData\":\(other.rendered(pretty: false)),\"traceEvents\":[\n")
    }

    static func origin(_ g: GroupResult) -> Int64 { g.events > 0 ? g.firstTime : 0 }

    enum Lane: Int64 { case driver = 0, controller = 1, findings = 2 }

    /// The thread of the guest kernel's messages (beyond every queue's threads).
    static let guestTid: Int64 = 1 << 30

    func pid(controller: UInt16, domain: Int) -> Int64 { Int64(domain) * 100_000 + Int64(controller) + 1 }

    func tid(_ q: QueueKey, _ lane: Lane) -> Int64 {
        Int64(q.qid) * 8 + Int64(q.type.rawValue) * 4 + lane.rawValue + 1
    }

    /// Microseconds since the domain's origin.
    func ts(_ time: Int64, domain: Int) -> JSONValue {
        Self.microseconds(sinceOrigin(time, domain: domain))
    }

    private func emit(_ v: JSONValue) {
        separate()
        v.appendCompact(to: &out)
        if out.count >= 1 << 20 { flush() }
    }

    private func flush() {
        guard !out.isEmpty else { return }
        write(String(decoding: out, as: UTF8.self))
        out.removeAll(keepingCapacity: true)
    }

    private func names(_ q: QueueKey) -> QueueNames {
        if let known = queueNames[q] { return known }
        let ring = "\(q.type.name)\(q.qid)"
        let made = QueueNames(
            ring: ring, description: q.description,
            counters: ["\(ring) P (driver-published)", "\(ring) S (controller-seen)", "\(ring) EventIdx (controller)", "\(ring) EventIdx (driver read)"])
        queueNames[q] = made
        return made
    }

    private func ensureProcess(_ pid: Int64, controller: UInt16, domain: Int) {
        guard knownProcesses.insert(pid).inserted else { return }
        var name = "nvme\(controller)"
        if result.groups.count > 1, let clock = result.groups[domain].sources.first {
            name += " (clock of \(paths[clock] ?? "input \(clock)"))"
        }
        emit(.object([("ph", .string("M")), ("name", .string("process_name")), ("pid", .int(pid)), ("tid", .int(0)),
                      ("args", .object([("name", .string(name))]))]))
        emit(.object([("ph", .string("M")), ("name", .string("process_sort_index")), ("pid", .int(pid)), ("tid", .int(0)),
                      ("args", .object([("sort_index", .int(pid))]))]))
    }

    private func ensureThread(_ pid: Int64, _ tid: Int64, name: @autoclosure () -> String) {
        guard knownThreads.insert(pid << 32 | tid).inserted else { return }
        let name = name()
        emit(.object([("ph", .string("M")), ("name", .string("thread_name")), ("pid", .int(pid)), ("tid", .int(tid)),
                      ("args", .object([("name", .string(name))]))]))
        emit(.object([("ph", .string("M")), ("name", .string("thread_sort_index")), ("pid", .int(pid)), ("tid", .int(tid)),
                      ("args", .object([("sort_index", .int(tid))]))]))
    }

    /// The event's name: its kind, never its values.
    static func name(_ e: Event) -> String {
        switch e.kind {
        case .driverDoorbellUpdate: return "doorbell update"
        case .driverSubmit: return e.flags & Event.createsQueueFlag != 0 ? "submit (create queue)" : "submit"
        case .driverComplete: return "complete"
        case .driverSQHead: return "SQ head report"
        case .guestMessage: return GuestMessageKind(rawValue: e.a)?.name ?? "guest message"
        case .controllerShadowRead: return "shadow read"
        case .controllerEventIdxWrite: return "EventIdx write"
        case .mmioDoorbell: return "MMIO doorbell"
        case .controllerFetch: return "fetch"
        case .controllerCompletion: return "completion queued"
        case .queueCreate: return "queue created"
        case .queueDelete: return "queue deleted"
        case .dbbufConfig: return "Doorbell Buffer Config"
        case .controllerReset: return "controller reset"
        case .controllerEnable: return "controller enabled"
        case .interrupt: return "interrupt"
        case .registerWrite: return "register write"
        case .dataLoss: return "events lost"
        }
    }

    /// The event's values, by stable names.
    static func values(_ e: Event) -> [(String, JSONValue)] {
        func u(_ v: UInt32) -> JSONValue { .int(Int64(v)) }
        func hex(_ v: UInt64) -> JSONValue { .string("0x" + String(v, radix: 16)) }
        switch e.kind {
        case .driverDoorbellUpdate: return [("old", u(e.a)), ("new", u(e.b)), ("eventidx_read", u(e.c)), ("mmio", .bool(e.rangMMIO))]
        case .driverSubmit:
            var v: [(String, JSONValue)] = [("cid", u(e.a)), ("qid", u(UInt32(e.qid)))]
            if e.flags & Event.createsQueueFlag != 0 {
                v += [("creates", .string("\(e.queueType.name)\(e.b)")), ("qsize", u(e.c))]
            }
            return v
        case .driverComplete: return [("cid", u(e.a)), ("qid", u(UInt32(e.qid))), ("status", u(e.b))]
        case .driverSQHead: return [("head", u(e.a)), ("tail", u(e.b))]
        case .guestMessage:
            var v: [(String, JSONValue)] = [("qid", u(UInt32(e.qid)))]
            if e.b != Event.noCommand { v.append(("tag", u(e.b))) }
            if GuestMessageKind(rawValue: e.a) == .abortStatus { v.append(("status", u(e.c))) }
            return v
        case .controllerShadowRead, .controllerEventIdxWrite, .mmioDoorbell: return [("value", u(e.a))]
        case .controllerFetch: return [("cid", u(e.a)), ("sqid", u(UInt32(e.qid))), ("opcode", u(e.b))]
        case .controllerCompletion: return [("cid", u(e.a)), ("cqid", u(UInt32(e.qid))), ("status", u(e.b))]
        case .queueCreate: return [("entries", .int(Int64(e.a) + 1)), (e.queueType == .sq ? "cqid" : "vector", u(e.b)), ("address", hex(e.wide))]
        case .queueDelete, .controllerEnable: return []
        case .dbbufConfig: return [("shadow_address", hex(e.wide)), ("eventidx_address", hex(UInt64(e.b) << 32 | UInt64(e.a)))]
        case .controllerReset: return [("reason", .string(ResetReason(rawValue: e.a)?.name ?? "reset"))]
        case .interrupt: return e.a == Event.noVector ? [("vector", .string("pin"))] : [("vector", u(e.a))]
        case .registerWrite: return [("offset", hex(e.wide)), ("value", u(e.a))]
        case .dataLoss: return [("lost", u(e.a)), ("cpu", u(e.b))]
        }
    }

    /// The analysis observer.
    public func observe(_ e: Event, _ q: QueueState) {
        let domain = domainOf[e.source] ?? 0
        let pid = pid(controller: q.key.controller, domain: domain)
        ensureProcess(pid, controller: q.key.controller, domain: domain)
        let queueNames = names(q.key)
        let ring = queueNames.ring
        let location = SourceLocation(source: e.source, unit: units[e.source] ?? .line, value: e.location)
        let common: [(String, JSONValue)] = [
            ("queue", .string(queueNames.description)), ("location", .string(location.render(path: paths[e.source] ?? "input\(e.source)"))),
        ]
        let nanos = sinceOrigin(e.time, domain: domain)
        let args: JSONValue = .object(Self.values(e) + common)
        if e.kind == .guestMessage {
            ensureThread(pid, Self.guestTid, name: "guest kernel")
            instant(name: Self.name(e), category: "guest", nanos: nanos, pid: pid, tid: Self.guestTid, args: args)
            return
        }
        let lane: Lane = e.kind.side == .driver || e.kind == .mmioDoorbell ? .driver : .controller
        let tid = tid(q.key, lane)
        ensureThread(pid, tid, name: "\(ring) \(lane == .driver ? "driver" : "controller")")
        instant(
            name: Self.name(e), category: e.kind == .mmioDoorbell ? "mmio" : lane == .driver ? "driver" : "controller",
            nanos: nanos, pid: pid, tid: tid, args: args)
        switch e.kind {
        case .driverSubmit, .controllerFetch, .driverComplete, .controllerCompletion:
            command(e, domain: domain, pid: pid, time: Self.microseconds(nanos))
        default: break
        }
        counter(pid, queueNames, 0, q.published, nanos, queue: q.key)
        counter(pid, queueNames, 1, q.controllerSeen, nanos, queue: q.key)
        counter(pid, queueNames, 2, q.controllerEventIdx, nanos, queue: q.key)
        counter(pid, queueNames, 3, q.driverEventIdxRead, nanos, queue: q.key)
    }

    /// An instant event, written as bytes: the text `emit(.object(…))` of the same members
    /// would write (name, cat, ph, s, ts, pid, tid, args), without building the object.
    private func instant(name: String, category: StaticString, nanos: Int64, pid: Int64, tid: Int64, args: JSONValue) {
        separate()
        raw("{\"name\":")
        JSONValue.appendString(name, to: &out)
        raw(",\"cat\":\"")
        raw(category)
        raw("\",\"ph\":\"i\",\"s\":\"t\",\"ts\":")
        Self.appendMicroseconds(nanos, to: &out)
        raw(",\"pid\":")
        JSONValue.appendInteger(pid, to: &out)
        raw(",\"tid\":")
        JSONValue.appendInteger(tid, to: &out)
        raw(",\"args\":")
        args.appendCompact(to: &out)
        out.append(UInt8(ascii: "}"))
        if out.count >= 1 << 20 { flush() }
    }

    private func separate() {
        if !first {
            out.append(UInt8(ascii: ","))
            out.append(UInt8(ascii: "\n"))
        }
        first = false
    }

    private func raw(_ text: StaticString) {
        text.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    /// Nanoseconds since the domain's origin (never negative).
    func sinceOrigin(_ time: Int64, domain: Int) -> Int64 {
        let origin = result.groups[safe: domain].map(Self.origin) ?? 0
        let (d, overflow) = time.subtractingReportingOverflow(origin)
        return overflow ? 0 : max(0, d)
    }

    /// `microseconds(ns)` as bytes, for `ns` ≥ 0.
    static func appendMicroseconds(_ ns: Int64, to out: inout [UInt8]) {
        JSONValue.appendInteger(ns / 1000, to: &out)
        out.append(UInt8(ascii: "."))
        let frac = ns % 1000
        out.append(UInt8(ascii: "0") + UInt8(frac / 100))
        out.append(UInt8(ascii: "0") + UInt8(frac / 10 % 10))
        out.append(UInt8(ascii: "0") + UInt8(frac % 10))
    }

    /// Commands as async slices: a submission opens one (a fetch, when the trace has no
    /// submission for it), the driver's completion closes it (the controller's, for a command
    /// opened by its fetch). A command id submitted again before its completion closes the
    /// earlier slice (`ended: cid-reused`).
    private func command(_ e: Event, domain: Int, pid: Int64, time: JSONValue) {
        switch e.kind {
        case .driverSubmit:
            let key = CommandKey(domain: domain, controller: e.controller, qid: e.qid, cid: e.a)
            if let open = commands.removeValue(forKey: key) { end(open, time: time, args: [("ended", .string("cid-reused"))]) }
            begin(key, pid: pid, time: time, fromFetch: false, args: [("cid", .int(Int64(e.a)))])
        case .controllerFetch:
            let key = CommandKey(domain: domain, controller: e.controller, qid: e.qid, cid: e.a)
            if commands[key] == nil {
                begin(key, pid: pid, time: time, fromFetch: true, args: [("cid", .int(Int64(e.a))), ("opcode", .int(Int64(e.b)))])
            }
        case .driverComplete:
            let key = CommandKey(domain: domain, controller: e.controller, qid: e.qid, cid: e.a)
            if let open = commands.removeValue(forKey: key) {
                end(open, time: time, args: [("ended", .string("completed")), ("status", .int(Int64(e.b)))])
            }
        case .controllerCompletion:
            // Linux pairs SQ n with CQ n: a completion on cq n ends a command fetched from sq n.
            let key = CommandKey(domain: domain, controller: e.controller, qid: e.qid, cid: e.a)
            if let open = commands[key], open.fromFetch {
                commands[key] = nil
                end(open, time: time, args: [("ended", .string("completion-queued")), ("status", .int(Int64(e.b)))])
            }
        default:
            break
        }
    }

    private func begin(_ key: CommandKey, pid: Int64, time: JSONValue, fromFetch: Bool, args: [(String, JSONValue)]) {
        let open = OpenCommand(id: nextCommandID, pid: pid, name: "sq\(key.qid) command", fromFetch: fromFetch)
        nextCommandID += 1
        commands[key] = open
        emit(.object([
            ("name", .string(open.name)), ("cat", .string("command")), ("ph", .string("b")), ("id", .string("cmd\(open.id)")),
            ("ts", time), ("pid", .int(pid)), ("tid", .int(0)), ("args", .object(args)),
        ]))
    }

    private func end(_ open: OpenCommand, time: JSONValue, args: [(String, JSONValue)]) {
        emit(.object([
            ("name", .string(open.name)), ("cat", .string("command")), ("ph", .string("e")), ("id", .string("cmd\(open.id)")),
            ("ts", time), ("pid", .int(open.pid)), ("tid", .int(0)), ("args", .object(args)),
        ]))
    }

    private func counter(_ pid: Int64, _ names: QueueNames, _ which: UInt8, _ value: UInt32?, _ nanos: Int64, queue: QueueKey) {
        guard let value else { return }
        let key = CounterKey(pid: pid, queue: queue, which: which)
        if lastCounters[key] == value { return }
        lastCounters[key] = value
        // `{"name":…,"ph":"C","ts":…,"pid":…,"args":{"value":…}}`, as `emit` would write it.
        separate()
        raw("{\"name\":")
        JSONValue.appendString(names.counters[Int(which)], to: &out)
        raw(",\"ph\":\"C\",\"ts\":")
        Self.appendMicroseconds(nanos, to: &out)
        raw(",\"pid\":")
        JSONValue.appendInteger(pid, to: &out)
        raw(",\"args\":{\"value\":")
        JSONValue.appendInteger(Int64(value), to: &out)
        raw("}}")
        if out.count >= 1 << 20 { flush() }
    }

    /// Closes the commands still open at the end of their domain, writes the findings (one
    /// track per queue) and closes the document.
    public func finish() {
        for (key, open) in commands.sorted(by: { $0.value.id < $1.value.id }) {
            let last = result.groups[safe: key.domain]?.lastTime ?? 0
            end(open, time: ts(last, domain: key.domain), args: [("ended", .string("unfinished at the end of the trace"))])
        }
        commands = [:]
        // Slices on one thread must nest: findings are written by start (longest first), and
        // one that would end after the slice it starts in is drawn up to that slice's end
        // (`drawn_clipped`; `end_ns` keeps its real end).
        struct Placed { var index: Int; var domain: Int; var start: Int64; var end: Int64 }
        var byTrack: [Int64: [Placed]] = [:]
        var trackOf: [Int64: (pid: Int64, tid: Int64, name: String)] = [:]
        for (i, f) in result.findings.enumerated() {
            let domain = Int(result.groups.firstIndex { $0.sources.first == f.clockInput } ?? 0)
            let pid = pid(controller: f.queue.controller, domain: domain)
            ensureProcess(pid, controller: f.queue.controller, domain: domain)
            let end = f.end ?? (f.resolution == nil ? f.start : result.groups[safe: domain]?.lastTime ?? f.start)
            let tid = tid(f.queue, .findings)
            let track = pid << 32 | tid
            trackOf[track] = (pid, tid, "\(f.queue.type.name)\(f.queue.qid) findings")
            byTrack[track, default: []].append(Placed(index: i, domain: domain, start: f.start, end: max(f.start, end)))
        }
        for track in byTrack.keys.sorted() {
            let (pid, tid, name) = trackOf[track]!
            ensureThread(pid, tid, name: name)
            var stack: [Int64] = []
            for p in byTrack[track]!.sorted(by: { ($0.start, -$0.end, $0.index) < ($1.start, -$1.end, $1.index) }) {
                while let top = stack.last, top <= p.start { stack.removeLast() }
                let drawnEnd = min(p.end, stack.last ?? .max)
                stack.append(drawnEnd)
                let f = result.findings[p.index]
                var args: [(String, JSONValue)] = [
                    ("id", .int(Int64(p.index + 1))), ("kind", .string(f.kind.rawValue)), ("severity", .string(f.severity.rawValue)),
                    ("queue", .string(f.queue.description)), ("start_ns", .int(f.start)), ("end_ns", f.end.map { .int($0) } ?? .null),
                    ("cause", f.cause.map { .string($0.rawValue) } ?? .null), ("resolution", f.resolution.map { .string($0.rawValue) } ?? .null),
                    ("message", .string(f.message)),
                    ("evidence", .array(f.evidence.map { .string($0.location.render(path: paths[$0.location.source] ?? "") + " " + $0.summary) })),
                ]
                if drawnEnd < p.end { args.append(("drawn_clipped", .bool(true))) }
                let start = ts(p.start, domain: p.domain)
                emit(.object([
                    ("name", .string("#\(p.index + 1) \(f.kind.rawValue)")), ("cat", .string("finding," + f.severity.rawValue)),
                    ("ph", .string("X")), ("ts", start), ("dur", Self.microseconds(max(0, drawnEnd - p.start))),
                    ("pid", .int(pid)), ("tid", .int(tid)), ("args", .object(args)),
                ]))
            }
        }
        flush()
        write("\n]}\n")
    }

    /// Nanoseconds as microseconds with three decimals (exact, no floating point).
    static func microseconds(_ ns: Int64) -> JSONValue {
        let negative = ns < 0
        let a = negative ? UInt64(-(ns + 1)) + 1 : UInt64(ns)
        let frac = String(a % 1000)
        return .decimal("\(negative ? "-" : "")\(a / 1000).\(String(repeating: "0", count: 3 - frac.count))\(frac)")
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
