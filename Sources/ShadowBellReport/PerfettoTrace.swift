import ShadowBellAnalysis
import ShadowBellCore

/// Chrome trace event format (JSON), as ui.perfetto.dev and chrome://tracing load it.
///
/// One process per controller (per clock domain when inputs could not be aligned), and per
/// queue three threads: `sq1 driver`, `sq1 controller` with an instant event per trace event,
/// and `sq1 findings` with each finding as a duration slice. Counters per queue: P
/// (driver-published), S (controller-seen), the controller's EventIdx and the one the driver
/// read. MMIO doorbells are instant events on the driver thread. Events stream out through
/// `write` as they come (memory does not grow with the trace); feed `observe` from the
/// analysis observer of a pass run after the first one gave `result`.
public final class PerfettoTraceWriter {
    private let result: AnalysisResult
    private let paths: [UInt16: String]
    private let write: (String) -> Void
    private var first = true
    private var domainOf: [UInt16: Int] = [:]
    private var knownThreads: Set<Int64> = []
    private var knownProcesses: Set<Int64> = []
    private var lastCounters: [String: UInt32?] = [:]

    public init(result: AnalysisResult, write: @escaping (String) -> Void) {
        self.result = result
        self.write = write
        var paths: [UInt16: String] = [:]
        for input in result.inputs { paths[input.index] = input.path }
        self.paths = paths
        for (d, g) in result.groups.enumerated() {
            for s in g.sources { domainOf[s] = d }
        }
        write("{\"displayTimeUnit\":\"ns\",\"otherData\":{\"tool\":\"shadowbell \(AnalysisReport.toolVersion)\"},\"traceEvents\":[\n")
    }

    enum Lane: Int64 { case driver = 0, controller = 1, findings = 2 }

    func pid(controller: UInt16, domain: Int) -> Int64 { Int64(domain) * 1000 + Int64(controller) + 1 }

    func tid(_ q: QueueKey, _ lane: Lane, extra: Int64 = 0) -> Int64 {
        Int64(q.qid) * 64 + Int64(q.type.rawValue) * 32 + lane.rawValue * 8 + extra + 1
    }

    private func emit(_ v: JSONValue) {
        write((first ? "" : ",\n") + v.rendered(pretty: false))
        first = false
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

    private func ensureThread(_ pid: Int64, _ tid: Int64, name: String) {
        guard knownThreads.insert(pid << 32 | tid).inserted else { return }
        emit(.object([("ph", .string("M")), ("name", .string("thread_name")), ("pid", .int(pid)), ("tid", .int(tid)),
                      ("args", .object([("name", .string(name))]))]))
        emit(.object([("ph", .string("M")), ("name", .string("thread_sort_index")), ("pid", .int(pid)), ("tid", .int(tid)),
                      ("args", .object([("sort_index", .int(tid))]))]))
    }

    /// The analysis observer.
    public func observe(_ e: Event, _ q: QueueState) {
        let domain = domainOf[e.source] ?? 0
        let pid = pid(controller: q.key.controller, domain: domain)
        ensureProcess(pid, controller: q.key.controller, domain: domain)
        let ring = "\(q.key.type.name)\(q.key.qid)"
        let lane: Lane = e.kind.side == .driver || e.kind == .mmioDoorbell ? .driver : .controller
        let tid = tid(q.key, lane)
        ensureThread(pid, tid, name: "\(ring) \(lane == .driver ? "driver" : "controller")")
        let location = SourceLocation(
            source: e.source, unit: result.inputs.first { $0.index == e.source }?.locationUnit ?? .line, value: e.location)
        let name = e.kind == .mmioDoorbell ? "MMIO doorbell \(ring) = \(e.a)" : describe(e)
        emit(.object([
            ("name", .string(name)), ("cat", .string(e.kind == .mmioDoorbell ? "mmio" : lane == .driver ? "driver" : "controller")),
            ("ph", .string("i")), ("s", .string("t")), ("ts", Self.microseconds(e.time)), ("pid", .int(pid)), ("tid", .int(tid)),
            ("args", .object([("location", .string(location.render(path: paths[e.source] ?? "input\(e.source)")))])),
        ]))
        counter(pid, "\(ring) P (driver-published)", q.published, e.time, key: "\(pid)/\(ring)/P")
        counter(pid, "\(ring) S (controller-seen)", q.controllerSeen, e.time, key: "\(pid)/\(ring)/S")
        counter(pid, "\(ring) EventIdx (controller)", q.controllerEventIdx, e.time, key: "\(pid)/\(ring)/E")
        counter(pid, "\(ring) EventIdx (driver read)", q.driverEventIdxRead, e.time, key: "\(pid)/\(ring)/R")
    }

    private func counter(_ pid: Int64, _ name: String, _ value: UInt32?, _ time: Int64, key: String) {
        guard let value else { return }
        if let last = lastCounters[key], last == value { return }
        lastCounters[key] = value
        emit(.object([("name", .string(name)), ("ph", .string("C")), ("ts", Self.microseconds(time)), ("pid", .int(pid)),
                      ("args", .object([("value", .int(Int64(value)))]))]))
    }

    /// Writes the findings as slices and closes the document.
    public func finish() {
        var laneEnds: [Int64: [Int64]] = [:]
        for (i, f) in result.findings.enumerated() {
            let domain = Int(result.groups.firstIndex { $0.sources.first == f.clockInput } ?? 0)
            let pid = pid(controller: f.queue.controller, domain: domain)
            ensureProcess(pid, controller: f.queue.controller, domain: domain)
            let end = f.end ?? (f.resolution == nil ? f.start : result.groups[safe: domain]?.lastTime ?? f.start)
            // Overlapping findings on one queue go to separate rows, so slices nest properly.
            let base = tid(f.queue, .findings)
            var ends = laneEnds[base] ?? []
            let row = ends.firstIndex { $0 <= f.start } ?? ends.count
            if row == ends.count { ends.append(end) } else { ends[row] = end }
            laneEnds[base] = ends
            let tid = base + Int64(min(row, 7))
            ensureThread(pid, tid, name: "\(f.queue.type.name)\(f.queue.qid) findings" + (row > 0 ? " \(row + 1)" : ""))
            emit(.object([
                ("name", .string("#\(i + 1) \(f.kind.rawValue)")), ("cat", .string("finding," + f.severity.rawValue)),
                ("ph", .string("X")), ("ts", Self.microseconds(f.start)), ("dur", Self.microseconds(max(0, end - f.start))),
                ("pid", .int(pid)), ("tid", .int(tid)),
                ("args", .object([
                    ("severity", .string(f.severity.rawValue)), ("queue", .string(f.queue.description)),
                    ("cause", f.cause.map { .string($0.rawValue) } ?? .null), ("resolution", f.resolution.map { .string($0.rawValue) } ?? .null),
                    ("message", .string(f.message)),
                    ("evidence", .array(f.evidence.map { .string($0.location.render(path: paths[$0.location.source] ?? "") + " " + $0.summary) })),
                ])),
            ]))
        }
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
