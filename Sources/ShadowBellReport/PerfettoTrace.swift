import ShadowBellAnalysis
import ShadowBellCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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
/// The document streams out through `write` while the analysis runs (memory grows with the
/// commands in flight, not with the trace): feed `start` from the analysis's `domainStarts`
/// and `observe` from its observer, then `finish` with its result, which writes the findings
/// and `otherData` (after `traceEvents`: JSON readers take an object's members in any order).
public final class PerfettoTraceWriter {
    private let write: (UnsafeRawBufferPointer) -> Void
    @exclusivity(unchecked) private var first = true
    /// Per input index, from the domain starts (and the result, at `finish`): its clock
    /// domain, path and location unit.
    @exclusivity(unchecked) private var domainOf: [UInt16: Int] = [:]
    @exclusivity(unchecked) private var paths: [UInt16: String] = [:]
    @exclusivity(unchecked) private var units: [UInt16: SourceLocation.Unit] = [:]
    /// Per clock domain: its origin (the time of its first event) and the input whose clock it is.
    @exclusivity(unchecked) private var origins: [Int64] = []
    @exclusivity(unchecked) private var clockInputs: [UInt16?] = []
    @exclusivity(unchecked) private var domainCount = 0
    @exclusivity(unchecked) private var knownThreads: Set<Int64> = []
    @exclusivity(unchecked) private var knownProcesses: Set<Int64> = []
    /// The document as bytes, handed to `write` a megabyte at a time.
    @exclusivity(unchecked) private var out = ByteOutput(capacity: 1 << 21)
    /// The pieces of text events repeat (names, ids, the location's start), made once.
    @exclusivity(unchecked) private var pieces = ByteOutput(capacity: 1 << 12)

    /// One queue of one clock domain: its process, what its events repeat (as JSON bytes), its
    /// threads written so far and the last value written per counter (P, S, both EventIdx).
    private struct Track {
        var pid: Int64
        var queue: QueueKey
        /// `"nvme0:sq1"`.
        var description: ByteOutput.Piece
        /// `,"pid":P,"args":{"value":`.
        var counterPid: ByteOutput.Piece
        /// `,"pid":P,"tid":T,"args":{` for the driver's and the controller's thread.
        var driverIDs: ByteOutput.Piece
        var controllerIDs: ByteOutput.Piece
        var driverThread = false
        var controllerThread = false
    }
    private struct TrackKey: Hashable {
        var domain: Int
        var queue: QueueKey
    }
    @exclusivity(unchecked) private var tracks: [Track] = []
    /// Per track and counter (P, S, both EventIdx: `4 × track + counter`): the start of its
    /// events, `{"name":"sq1 P (driver-published)","ph":"C","ts":`, and the last value written.
    @exclusivity(unchecked) private var counterHeads: [ByteOutput.Piece] = []
    @exclusivity(unchecked) private var lastCounters: [Int64] = []
    @exclusivity(unchecked) private var trackIndex: [TrackKey: Int] = [:]
    @exclusivity(unchecked) private var denseTracks = [Int32](repeating: -1, count: 4 << 11)
    /// Per input index: its clock domain and its location arg up to the number (`"PATH:`,
    /// escaped), made at its first event.
    @exclusivity(unchecked) private var sources: [(domain: Int, location: ByteOutput.Piece)?] = []
    /// Per kind, the start of its instant events up to the time:
    /// `{"name":N,"cat":"C","ph":"i","s":"t","ts":` (guest messages are named by their message).
    @exclusivity(unchecked) private var kindHeads: [ByteOutput.Piece] = []
    @exclusivity(unchecked) private var createQueueHead = ByteOutput.Piece(offset: 0, count: 0)

    /// A command between its submission (or, without driver events, its fetch) and its completion.
    private struct OpenCommand {
        var id: Int
        var pid: Int64
        var qid: UInt16
        var fromFetch: Bool
    }

    private struct CommandKey: Hashable {
        var domain: Int
        var controller: UInt16
        var qid: UInt16
        var cid: UInt32
    }

    /// The open commands: of the first `commandTableLimit` queues with commands (of 4 domains,
    /// 4 controllers, qid < 256, cid < 65536) in a table per queue indexed by cid (`id` 0:
    /// none; 1.5 MB of zeroed memory each, whose pages are touched only as their cids are used),
    /// not hashed per event; the others by key.
    @exclusivity(unchecked) private var commands: [CommandKey: OpenCommand] = [:]
    @exclusivity(unchecked) private var commandTableOf = [Int32](repeating: -1, count: 4 << 10)
    @exclusivity(unchecked) private var commandTables: [(key: CommandKey, open: UnsafeMutablePointer<OpenCommand>)] = []
    private static let cidsPerTable = 1 << 16
    static let commandTableLimit = 8

    /// The table of `key`'s queue, or nil when its commands are kept by key.
    @inline(__always)
    private func commandTable(_ key: CommandKey) -> UnsafeMutablePointer<OpenCommand>? {
        guard key.domain < 4, key.controller < 4, key.qid < 256, key.cid < UInt32(Self.cidsPerTable) else { return nil }
        let slot = key.domain << 10 | Int(key.controller) << 8 | Int(key.qid)
        if commandTableOf[slot] >= 0 { return commandTables[Int(commandTableOf[slot])].open + Int(key.cid) }
        // All zero bytes is an empty entry (`OpenCommand` is plain data).
        guard commandTables.count < Self.commandTableLimit,
            let memory = calloc(Self.cidsPerTable, MemoryLayout<OpenCommand>.stride)
        else { return nil }
        let table = memory.bindMemory(to: OpenCommand.self, capacity: Self.cidsPerTable)
        commandTableOf[slot] = Int32(commandTables.count)
        commandTables.append((CommandKey(domain: key.domain, controller: key.controller, qid: key.qid, cid: 0), table))
        return table + Int(key.cid)
    }

    private func openCommand(_ key: CommandKey) -> OpenCommand? {
        if let entry = commandTable(key) { return entry.pointee.id == 0 ? nil : entry.pointee }
        return commands[key]
    }

    private func setOpenCommand(_ key: CommandKey, _ open: OpenCommand?) {
        if let entry = commandTable(key) {
            entry.pointee = open ?? OpenCommand(id: 0, pid: 0, qid: 0, fromFetch: false)
        } else {
            commands[key] = open
        }
    }

    /// Every open command with its key, each closed in its table as it is taken. (The tables'
    /// pages no command used stay unwritten: zeroing whole tables here faulted in megabytes of
    /// them at the end of every conversion.)
    private func takeOpenCommands() -> [(key: CommandKey, open: OpenCommand)] {
        var all = commands.map { (key: $0.key, open: $0.value) }
        commands = [:]
        for (key, table) in commandTables {
            for cid in 0..<Self.cidsPerTable where table[cid].id != 0 {
                var k = key
                k.cid = UInt32(cid)
                all.append((k, table[cid]))
                table[cid].id = 0
            }
        }
        return all
    }
    @exclusivity(unchecked) private var nextCommandID = 1

    /// A writer handing the document to `write` in pieces of text.
    public convenience init(write: @escaping (String) -> Void) {
        self.init(writeBytes: { write(String(decoding: $0, as: UTF8.self)) })
    }

    /// A writer handing the document to `writeBytes` in pieces of UTF-8 (valid only during the call).
    public init(writeBytes: @escaping (UnsafeRawBufferPointer) -> Void) {
        self.write = writeBytes
        func head(_ name: String, _ kind: EventKind) -> ByteOutput.Piece {
            var bytes = Array("{\"name\":".utf8)
            JSONValue.appendString(name, to: &bytes)
            bytes += Array(",\"cat\":\"\(Self.category(kind))\",\"ph\":\"i\",\"s\":\"t\",\"ts\":".utf8)
            return pieces.keep(bytes)
        }
        kindHeads = Array(repeating: ByteOutput.Piece(offset: 0, count: 0), count: Int(EventKind.allCases.map(\.rawValue).max() ?? 0) + 1)
        for kind in EventKind.allCases { kindHeads[Int(kind.rawValue)] = head(Self.name(kind: kind), kind) }
        createQueueHead = head(Self.createQueueName, .driverSubmit)
        raw("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n")
        flush()
    }

    /// A clock domain's first event is coming: its inputs and origin.
    public func start(_ domain: DomainStart) {
        place(domain: domain.index, count: domain.count, sources: domain.inputs.map(\.index), origin: domain.firstTime)
        for input in domain.inputs {
            paths[input.index] = input.path
            units[input.index] = input.locationUnit
        }
    }

    private func place(domain d: Int, count: Int, sources: [UInt16], origin: Int64) {
        domainCount = max(domainCount, count, d + 1)
        if origins.count < domainCount {
            origins += Array(repeating: 0, count: domainCount - origins.count)
            clockInputs += Array(repeating: nil, count: domainCount - clockInputs.count)
        }
        origins[d] = origin
        clockInputs[d] = sources.first
        for s in sources { domainOf[s] = d }
    }

    deinit {
        out.deallocate()
        pieces.deallocate()
        for (_, table) in commandTables { free(table) }
    }

    static func origin(_ g: GroupResult) -> Int64 { g.events > 0 ? g.firstTime : 0 }

    enum Lane: Int64 { case driver = 0, controller = 1, findings = 2 }

    /// The thread of the guest kernel's messages (beyond every queue's threads).
    static let guestTid: Int64 = 1 << 30

    func pid(controller: UInt16, domain: Int) -> Int64 { Int64(domain) * 100_000 + Int64(controller) + 1 }

    static func tid(_ q: QueueKey, _ lane: Lane) -> Int64 {
        Int64(q.qid) * 8 + Int64(q.type.rawValue) * 4 + lane.rawValue + 1
    }

    /// The thread of a queue's events of `kind` (MMIO doorbells are the driver's).
    static func lane(_ kind: EventKind) -> Lane { kind.side == .driver || kind == .mmioDoorbell ? .driver : .controller }

    static func category(_ kind: EventKind) -> StaticString {
        kind == .guestMessage ? "guest" : kind == .mmioDoorbell ? "mmio" : lane(kind) == .driver ? "driver" : "controller"
    }

    /// Microseconds since the domain's origin.
    func ts(_ time: Int64, domain: Int) -> JSONValue {
        Self.microseconds(sinceOrigin(time, domain: domain))
    }

    private func emit(_ v: JSONValue) {
        separate()
        var text: [UInt8] = []
        v.appendCompact(to: &text)
        out.append(text)
        if out.count >= 1 << 20 { flush() }
    }

    /// A string value, escaped as JSON.
    private func string(_ s: String) {
        var text: [UInt8] = []
        JSONValue.appendString(s, to: &text)
        out.append(text)
    }

    private func flush() {
        guard out.count > 0 else { return }
        write(out.bytes)
        out.removeAll()
    }

    /// The track of `q` in `domain`, made (and its process written) at its first event.
    private func track(_ q: QueueKey, domain: Int) -> Int {
        // The common tracks (4 domains, 4 controllers, qid < 256) by table, not by hashing.
        let dense = domain < 4 && q.controller < 4 && q.qid < 256
        let slot = (domain << 11) | Int(q.controller) << 9 | Int(q.qid) << 1 | Int(q.type.rawValue & 1)
        if dense, denseTracks[slot] >= 0 { return Int(denseTracks[slot]) }
        let key = TrackKey(domain: domain, queue: q)
        if let known = trackIndex[key] { return known }
        defer { if dense { denseTracks[slot] = Int32(tracks.count - 1) } }
        let pid = pid(controller: q.controller, domain: domain)
        ensureProcess(pid, controller: q.controller, domain: domain)
        let ring = "\(q.type.name)\(q.qid)"
        func json(_ s: String) -> [UInt8] {
            var bytes: [UInt8] = []
            JSONValue.appendString(s, to: &bytes)
            return bytes
        }
        func ids(_ lane: Lane) -> ByteOutput.Piece { pieces.keep(Array(",\"pid\":\(pid),\"tid\":\(Self.tid(q, lane)),\"args\":{".utf8)) }
        tracks.append(Track(
            pid: pid, queue: q, description: pieces.keep(json(q.description)),
            counterPid: pieces.keep(Array(",\"pid\":\(pid),\"args\":{\"value\":".utf8)),
            driverIDs: ids(.driver), controllerIDs: ids(.controller)))
        for name in ["P (driver-published)", "S (controller-seen)", "EventIdx (controller)", "EventIdx (driver read)"] {
            counterHeads.append(pieces.keep(Array("{\"name\":".utf8) + json("\(ring) \(name)") + Array(",\"ph\":\"C\",\"ts\":".utf8)))
            lastCounters.append(-1)
        }
        trackIndex[key] = tracks.count - 1
        return tracks.count - 1
    }

    /// The clock domain of input `s` and its location arg's first bytes.
    private func source(_ s: UInt16) -> (domain: Int, location: ByteOutput.Piece) {
        if Int(s) < sources.count, let known = sources[Int(s)] { return known }
        let rendered = SourceLocation(source: s, unit: units[s] ?? .line, value: 0).render(path: paths[s] ?? "input\(s)")
        var location: [UInt8] = []
        JSONValue.appendString(String(rendered.dropLast()), to: &location)
        location.removeLast()  // the closing quote: the number follows
        let made = (domain: domainOf[s] ?? 0, location: pieces.keep(location))
        if Int(s) >= sources.count { sources += Array(repeating: nil, count: Int(s) + 1 - sources.count) }
        sources[Int(s)] = made
        return made
    }

    private func ensureProcess(_ pid: Int64, controller: UInt16, domain: Int) {
        guard knownProcesses.insert(pid).inserted else { return }
        var name = "nvme\(controller)"
        if domainCount > 1, let clock = clockInputs[safe: domain] ?? nil {
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
        case .driverSubmit where e.flags & Event.createsQueueFlag != 0: return createQueueName
        case .guestMessage: return GuestMessageKind(rawValue: e.a)?.name ?? "guest message"
        default: return name(kind: e.kind)
        }
    }

    static let createQueueName = "submit (create queue)"

    static func name(kind: EventKind) -> String {
        switch kind {
        case .driverDoorbellUpdate: return "doorbell update"
        case .driverSubmit: return "submit"
        case .driverComplete: return "complete"
        case .driverSQHead: return "SQ head report"
        case .guestMessage: return "guest message"
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
        case .recordingEnd: return "recording goes on"
        }
    }

    /// The event's values, by stable names, each written as `"name":value,`.
    private func appendValues(_ e: Event) {
        func u(_ key: StaticString, _ v: UInt32) {
            raw(key)
            out.appendInteger(Int64(v))
            out.append(UInt8(ascii: ","))
        }
        func text(_ key: StaticString, _ v: String) {
            raw(key)
            string(v)
            out.append(UInt8(ascii: ","))
        }
        func hex(_ key: StaticString, _ v: UInt64) { text(key, "0x" + String(v, radix: 16)) }
        switch e.kind {
        case .driverDoorbellUpdate:
            u("\"old\":", e.a)
            u("\"new\":", e.b)
            u("\"eventidx_read\":", e.c)
            raw(e.rangMMIO ? "\"mmio\":true," : "\"mmio\":false,")
        case .driverSubmit:
            u("\"cid\":", e.a)
            u("\"qid\":", UInt32(e.qid))
            if e.flags & Event.createsQueueFlag != 0 {
                text("\"creates\":", "\(e.queueType.name)\(e.b)")
                u("\"qsize\":", e.c)
            }
        case .driverComplete:
            u("\"cid\":", e.a)
            u("\"qid\":", UInt32(e.qid))
            u("\"status\":", e.b)
        case .driverSQHead:
            u("\"head\":", e.a)
            u("\"tail\":", e.b)
        case .guestMessage:
            u("\"qid\":", UInt32(e.qid))
            if e.b != Event.noCommand { u("\"tag\":", e.b) }
            if GuestMessageKind(rawValue: e.a) == .abortStatus { u("\"status\":", e.c) }
        case .controllerShadowRead, .controllerEventIdxWrite, .mmioDoorbell: u("\"value\":", e.a)
        case .controllerFetch:
            u("\"cid\":", e.a)
            u("\"sqid\":", UInt32(e.qid))
            u("\"opcode\":", e.b)
        case .controllerCompletion:
            u("\"cid\":", e.a)
            u("\"cqid\":", UInt32(e.qid))
            u("\"status\":", e.b)
        case .queueCreate:
            raw("\"entries\":")
            out.appendInteger(Int64(e.a) + 1)
            out.append(UInt8(ascii: ","))
            u(e.queueType == .sq ? "\"cqid\":" : "\"vector\":", e.b)
            hex("\"address\":", e.wide)
        case .queueDelete, .controllerEnable: break
        case .dbbufConfig:
            hex("\"shadow_address\":", e.wide)
            hex("\"eventidx_address\":", UInt64(e.b) << 32 | UInt64(e.a))
        case .controllerReset: text("\"reason\":", ResetReason(rawValue: e.a)?.name ?? "reset")
        case .interrupt:
            if e.a == Event.noVector { raw("\"vector\":\"pin\",") } else { u("\"vector\":", e.a) }
        case .registerWrite:
            hex("\"offset\":", e.wide)
            u("\"value\":", e.a)
        case .dataLoss:
            u("\"lost\":", e.a)
            u("\"cpu\":", e.b)
        case .recordingEnd: break
        }
    }

    /// The analysis observer.
    public func observe(_ e: Event, _ q: QueueSnapshot) {
        let (domain, location) = source(e.source)
        let t = track(q.key, domain: domain)
        let pid = tracks[t].pid
        let nanos = sinceOrigin(e.time, domain: domain)
        if e.kind == .guestMessage {
            ensureThread(pid, Self.guestTid, name: "guest kernel")
            instant(e, category: "guest", nanos: nanos, pid: pid, tid: Self.guestTid, track: t, location: location)
            return
        }
        let lane = Self.lane(e.kind)
        let tid = Self.tid(q.key, lane)
        if lane == .driver ? !tracks[t].driverThread : !tracks[t].controllerThread {
            if lane == .driver { tracks[t].driverThread = true } else { tracks[t].controllerThread = true }
            ensureThread(pid, tid, name: "\(q.key.type.name)\(q.key.qid) \(lane == .driver ? "driver" : "controller")")
        }
        instant(e, category: Self.category(e.kind), nanos: nanos, pid: pid, tid: tid, track: t, location: location)
        switch e.kind {
        case .driverSubmit, .controllerFetch, .driverComplete, .controllerCompletion:
            command(e, domain: domain, pid: pid, nanos: nanos)
        default: break
        }
        counter(t, 0, q.published, nanos)
        counter(t, 1, q.controllerSeen, nanos)
        counter(t, 2, q.controllerEventIdx, nanos)
        counter(t, 3, q.driverEventIdxRead, nanos)
    }

    /// An instant event, written as bytes: the text `emit(.object(…))` of the same members
    /// would write (name, cat, ph, s, ts, pid, tid, args: the event's values, its queue and
    /// location), without building the object.
    private func instant(
        _ e: Event, category: StaticString, nanos: Int64, pid: Int64, tid: Int64, track t: Int, location: ByteOutput.Piece
    ) {
        separate()
        if e.kind == .guestMessage {
            raw("{\"name\":")
            string(Self.name(e))
            raw(",\"cat\":\"")
            raw(category)
            raw("\",\"ph\":\"i\",\"s\":\"t\",\"ts\":")
            microseconds(nanos)
            raw(",\"pid\":")
            out.appendInteger(pid)
            raw(",\"tid\":")
            out.appendInteger(tid)
            raw(",\"args\":{")
        } else {
            // `{"name":N,"cat":"C","ph":"i","s":"t","ts":` is the same for every event of a kind.
            out.append(from: pieces, e.kind == .driverSubmit && e.flags & Event.createsQueueFlag != 0
                ? createQueueHead : kindHeads[Int(e.kind.rawValue)])
            microseconds(nanos)
            out.append(from: pieces, tid == Self.tid(tracks[t].queue, .driver) ? tracks[t].driverIDs : tracks[t].controllerIDs)
        }
        appendValues(e)
        raw("\"queue\":")
        out.append(from: pieces, tracks[t].description)
        raw(",\"location\":")
        out.append(from: pieces, location)
        if e.location <= UInt64(Int64.max) { out.appendInteger(Int64(e.location)) } else { out.append(Array(String(e.location).utf8)) }
        raw("\"}}")
        if out.count >= 1 << 20 { flush() }
    }

    private func separate() {
        if !first {
            out.append(UInt8(ascii: ","))
            out.append(UInt8(ascii: "\n"))
        }
        first = false
    }

    @inline(__always)
    private func raw(_ text: StaticString) { out.append(text) }

    /// Nanoseconds since the domain's origin (never negative).
    func sinceOrigin(_ time: Int64, domain: Int) -> Int64 {
        let origin = origins[safe: domain] ?? 0
        let (d, overflow) = time.subtractingReportingOverflow(origin)
        return overflow ? 0 : max(0, d)
    }

    /// `microseconds(ns)` as bytes, for `ns` ≥ 0: made once for an event's instant, command
    /// slice and counters.
    @inline(__always)
    private func microseconds(_ ns: Int64) {
        if ns != lastTime.nanoseconds { lastTime.set(ns) }
        out.append(lastTime)
    }
    @exclusivity(unchecked) private var lastTime: ByteOutput.Microseconds = {
        var text = ByteOutput.Microseconds()
        text.set(0)
        return text
    }()

    /// Commands as async slices: a submission opens one (a fetch, when the trace has no
    /// submission for it), the driver's completion closes it (the controller's, for a command
    /// opened by its fetch). A command id submitted again before its completion closes the
    /// earlier slice (`ended: cid-reused`).
    private func command(_ e: Event, domain: Int, pid: Int64, nanos: Int64) {
        let key = CommandKey(domain: domain, controller: e.controller, qid: e.qid, cid: e.a)
        switch e.kind {
        case .driverSubmit:
            if let open = openCommand(key) {
                setOpenCommand(key, nil)
                end(open, nanos: nanos, ended: "cid-reused", status: nil)
            }
            begin(key, pid: pid, nanos: nanos, fromFetch: false, opcode: nil)
        case .controllerFetch:
            if openCommand(key) == nil { begin(key, pid: pid, nanos: nanos, fromFetch: true, opcode: e.b) }
        case .driverComplete:
            if let open = openCommand(key) {
                setOpenCommand(key, nil)
                end(open, nanos: nanos, ended: "completed", status: e.b)
            }
        case .controllerCompletion:
            // Linux pairs SQ n with CQ n: a completion on cq n ends a command fetched from sq n.
            if let open = openCommand(key), open.fromFetch {
                setOpenCommand(key, nil)
                end(open, nanos: nanos, ended: "completion-queued", status: e.b)
            }
        default:
            break
        }
    }

    /// `{"name":"sqN command","cat":"command","ph":PH,"id":"cmdID","ts":…,"pid":…,"tid":0,"args":{`
    private func slice(_ open: OpenCommand, phase: StaticString, nanos: Int64) {
        separate()
        raw("{\"name\":\"sq")
        out.appendInteger(Int64(open.qid))
        raw(" command\",\"cat\":\"command\",\"ph\":\"")
        raw(phase)
        raw("\",\"id\":\"cmd")
        out.appendInteger(Int64(open.id))
        raw("\",\"ts\":")
        microseconds(nanos)
        raw(",\"pid\":")
        out.appendInteger(open.pid)
        raw(",\"tid\":0,\"args\":{")
    }

    private func begin(_ key: CommandKey, pid: Int64, nanos: Int64, fromFetch: Bool, opcode: UInt32?) {
        let open = OpenCommand(id: nextCommandID, pid: pid, qid: key.qid, fromFetch: fromFetch)
        nextCommandID += 1
        setOpenCommand(key, open)
        slice(open, phase: "b", nanos: nanos)
        raw("\"cid\":")
        out.appendInteger(Int64(key.cid))
        if let opcode {
            raw(",\"opcode\":")
            out.appendInteger(Int64(opcode))
        }
        raw("}}")
        if out.count >= 1 << 20 { flush() }
    }

    /// `ended`: why the slice ends, plain text (written between quotes as it is).
    private func end(_ open: OpenCommand, nanos: Int64, ended: StaticString, status: UInt32?) {
        slice(open, phase: "e", nanos: nanos)
        raw("\"ended\":\"")
        raw(ended)
        out.append(UInt8(ascii: "\""))
        if let status {
            raw(",\"status\":")
            out.appendInteger(Int64(status))
        }
        raw("}}")
        if out.count >= 1 << 20 { flush() }
    }

    /// Most events change no counter: the comparison is inlined, the writing is not.
    @inline(__always)
    private func counter(_ t: Int, _ which: Int, _ value: UInt32?, _ nanos: Int64) {
        guard let value, lastCounters[4 * t + which] != Int64(value) else { return }
        writeCounter(t, which, value, nanos)
    }

    @inline(never)
    private func writeCounter(_ t: Int, _ which: Int, _ value: UInt32, _ nanos: Int64) {
        lastCounters[4 * t + which] = Int64(value)
        // `{"name":…,"ph":"C","ts":…,"pid":…,"args":{"value":…}}`, as `emit` would write it.
        separate()
        out.append(from: pieces, counterHeads[4 * t + which])
        microseconds(nanos)
        out.append(from: pieces, tracks[t].counterPid)
        out.appendInteger(Int64(value))
        raw("}}")
        if out.count >= 1 << 20 { flush() }
    }

    /// Closes the commands still open at the end of their domain, writes the findings (one
    /// track per queue), closes the event array and writes `otherData` (the origins).
    public func finish(result: AnalysisResult) {
        // Domains without an event never started; what the result says of the others is what
        // their starts said.
        for input in result.inputs {
            if paths[input.index] == nil { paths[input.index] = input.path }
            if units[input.index] == nil { units[input.index] = input.locationUnit }
        }
        for (d, g) in result.groups.enumerated() where d >= origins.count || clockInputs[d] == nil {
            place(domain: d, count: result.groups.count, sources: g.sources, origin: Self.origin(g))
        }
        for (key, open) in takeOpenCommands().sorted(by: { $0.open.id < $1.open.id }) {
            let last = result.groups[safe: key.domain]?.lastTime ?? 0
            end(open, nanos: sinceOrigin(last, domain: key.domain), ended: "unfinished at the end of the trace", status: nil)
        }
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
            let tid = Self.tid(f.queue, .findings)
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
        let timeOrigins: [JSONValue] = result.groups.enumerated().map { d, g in
            .object([
                ("domain", .int(Int64(d))), ("clock_input", .string(g.sources.first.flatMap { paths[$0] } ?? "")),
                ("origin_ns", .int(origins[d])), ("origin_seconds", .string(formatSeconds(origins[d]))),
            ])
        }
        let other: JSONValue = .object([
            ("tool", .string("shadowbell \(AnalysisReport.toolVersion)")),
            ("time_unit", .string("ts and dur are microseconds since the origin of the event's clock domain")),
            ("time_origins", .array(timeOrigins)),
        ])
        raw("\n],\"otherData\":")
        var text: [UInt8] = []
        other.appendCompact(to: &text)
        out.append(text)
        raw("}\n")
        flush()
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
