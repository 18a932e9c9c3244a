import ShadowBellCore

/// The ground truth as JSON: deterministic key order, integers only, byte-identical for the
/// same run.
public enum TruthJSON {
    public static func render(_ r: SimulationResult) -> String {
        var o = JSONWriter()
        let c = r.config
        o.open("{")
        o.key("schema_version"); o.int(1)
        o.key("generator"); o.string("shadowbell simulate")
        o.key("clock"); o.string("nanoseconds on the guest ftrace clock, as in the trace lines")
        o.key("config"); o.open("{")
        o.key("seed"); o.uint(c.seed)
        o.key("driver_barrier"); o.string(c.driverBarrier ? "on" : "off")
        o.key("controller_barrier"); o.string(c.controllerBarrier ? "on" : "off")
        o.key("queues"); o.int(c.queues)
        o.key("sq_entries"); o.int(c.sqEntries)
        o.key("cq_entries"); o.int(c.cqEntries)
        o.key("duration_ns"); o.int(c.durationNs)
        o.key("io_timeout_ns"); o.int(c.ioTimeoutNs)
        o.key("names"); o.string(c.names.rawValue)
        o.key("race_window_ns"); o.int(c.raceWindowNs)
        o.key("iops"); o.int(c.workload.iops)
        o.key("queue_iops"); o.open("[")
        for v in c.workload.perQueueIOPS { o.element(); o.int(v) }
        o.close("]")
        o.key("burst"); o.int(c.workload.burst)
        o.key("iodepth"); o.int(c.effectiveIODepth)
        o.key("service"); o.string(c.workload.service.description)
        o.key("coalesce"); o.int(c.workload.coalesceCount)
        o.key("coalesce_time_ns"); o.int(c.workload.coalesceTimeNs)
        o.key("driver_drain"); o.string(c.timing.driverDrain.description)
        o.key("controller_drain"); o.string(c.timing.controllerDrain.description)
        o.key("interrupt_latency"); o.string(c.timing.interruptLatency.description)
        o.key("fault_at_ns"); o.int(c.effectiveFaultAtNs)
        o.key("faults"); o.open("[")
        for f in enabledFaults(c.faults) { o.element(); o.string(f.rawValue) }
        o.close("]")
        o.close("}")
        o.key("trace_start_ns"); o.int(r.traceStartNs)
        o.key("trace_end_ns"); o.int(r.traceEndNs)
        o.key("mutual_waits"); o.open("[")
        for w in r.windows {
            o.element(); o.open("{")
            o.key("queue"); queue(&o, w.queue)
            o.key("start_ns"); o.int(w.startNs)
            o.key("end_ns"); if let e = w.endNs { o.int(e) } else { o.null() }
            o.key("duration_ns"); if let e = w.endNs { o.int(e - w.startNs) } else { o.null() }
            o.key("resolution"); o.string(w.resolution.rawValue)
            o.key("cause"); o.string(w.cause.rawValue)
            o.key("fault"); if let f = w.fault { o.string(f.rawValue) } else { o.null() }
            o.key("driver_published"); o.int(Int(w.driverPublished))
            o.key("controller_seen"); o.int(Int(w.controllerSeen))
            let s = w.interleaving
            o.key("eventidx_written"); if let v = s.controllerEventIdxWritten { o.int(Int(v)) } else { o.null() }
            o.key("eventidx_read"); o.int(Int(s.driverEventIdxRead))
            o.key("stuck_commands"); o.int(w.stuckCommands)
            o.key("interleaving"); o.open("{")
            o.key("driver_shadow_store_ns"); o.int(s.driverStoreNs)
            o.key("driver_shadow_visible_ns"); o.int(s.driverStoreVisibleNs)
            o.key("driver_eventidx_load_ns"); o.int(s.driverLoadNs)
            o.key("driver_old"); o.int(Int(s.driverOld))
            o.key("driver_new"); o.int(Int(s.driverNew))
            o.key("driver_mmio"); o.bool(s.driverRangMMIO)
            o.key("controller_eventidx_store_ns"); opt(&o, s.controllerEventIdxStoreNs)
            o.key("controller_eventidx_visible_ns"); opt(&o, s.controllerEventIdxVisibleNs)
            if s.controllerReadSinceQueueCreation {
                o.key("controller_shadow_read_ns"); o.int(s.controllerReadNs)
                o.key("controller_shadow_read_value"); o.int(Int(s.controllerReadValue))
            } else {
                o.key("controller_shadow_read_ns"); o.null()
                o.key("controller_shadow_read_value"); o.null()
                o.key("queue_created_ns"); o.int(s.queueCreatedNs)
            }
            o.close("}")
            o.close("}")
        }
        o.close("]")
        o.key("injected_faults"); o.open("[")
        for f in r.faults {
            o.element(); o.open("{")
            o.key("kind"); o.string(f.kind.rawValue)
            o.key("expected_finding"); o.string(f.kind.expectedFinding)
            o.key("queue"); if let q = f.queue { queue(&o, q) } else { o.null() }
            o.key("time_ns"); o.int(f.timeNs)
            o.key("value"); if let v = f.value { o.int(Int(v)) } else { o.null() }
            o.key("detail"); o.string(f.detail)
            o.close("}")
        }
        o.close("]")
        o.key("resets_ns"); o.open("[")
        for t in r.resetTimesNs { o.element(); o.int(t) }
        o.close("]")
        o.key("queues"); o.open("[")
        for q in r.queues {
            o.element(); o.open("{")
            o.key("queue"); queue(&o, q.queue)
            o.key("driver_shadow_writes"); o.int(q.driverShadowWrites)
            o.key("mmio_doorbells"); o.int(q.mmioDoorbells)
            o.key("controller_shadow_reads"); o.int(q.controllerShadowReads)
            o.key("controller_eventidx_writes"); o.int(q.controllerEventIdxWrites)
            o.key("commands"); o.int(q.commands)
            o.key("race_exposure"); o.int(q.raceExposure)
            o.key("mutual_waits"); o.int(q.mutualWaits)
            o.close("}")
        }
        o.close("]")
        o.key("totals"); o.open("{")
        o.key("commands_completed"); o.int(r.commandsCompleted)
        o.key("timeouts"); o.int(r.timeouts)
        o.key("aborts"); o.int(r.aborts)
        o.key("resets"); o.int(r.resetTimesNs.count)
        o.key("race_exposure"); o.int(r.totalRaceExposure)
        o.key("mutual_waits"); o.int(r.windows.count)
        o.key("unresolved_mutual_waits"); o.int(r.windows.filter { $0.endNs == nil }.count)
        o.close("}")
        o.close("}")
        return o.text + "\n"
    }

    static func enabledFaults(_ f: FaultSet) -> [FaultKind] {
        var out: [FaultKind] = []
        if f.driverSkipsMMIO { out.append(.driverSkippedMMIO) }
        if f.staleBuffersAtReset { out.append(.staleBuffersAtReset) }
        if f.noCQEventIdx { out.append(.noCQEventIdx) }
        if f.valueOutOfRange { out.append(.valueOutOfRange) }
        if f.byteSwappedEventIdx { out.append(.byteSwappedEventIdx) }
        if f.restartBeforeDbbufConfig { out.append(.restartBeforeDbbufConfig) }
        if f.overcommittedSQ { out.append(.overcommittedSQ) }
        return out
    }

    private static func queue(_ o: inout JSONWriter, _ q: QueueKey) {
        o.inline("{\"controller\": \"\(q.controllerName)\", \"qid\": \(q.qid), \"type\": \"\(q.type.name)\"}")
    }

    private static func opt(_ o: inout JSONWriter, _ v: Int64?) {
        if let v { o.int(v) } else { o.null() }
    }
}

/// A minimal pretty-printing JSON writer (two-space indent, keys in call order).
struct JSONWriter {
    private(set) var text = ""
    private var depth = 0
    private var first = true

    private mutating func newline() {
        text += "\n" + String(repeating: "  ", count: depth)
    }

    mutating func open(_ bracket: String) {
        text += bracket
        depth += 1
        first = true
    }

    mutating func close(_ bracket: String) {
        depth -= 1
        if !first { newline() }
        text += bracket
        first = false
    }

    mutating func key(_ k: String) {
        if !first { text += "," }
        first = false
        newline()
        text += "\"\(k)\": "
    }

    mutating func element() {
        if !first { text += "," }
        first = false
        newline()
    }

    mutating func inline(_ raw: String) { text += raw }
    mutating func int<T: BinaryInteger>(_ v: T) { text += String(v) }
    mutating func uint(_ v: UInt64) { text += String(v) }
    mutating func bool(_ v: Bool) { text += v ? "true" : "false" }
    mutating func null() { text += "null" }

    mutating func string(_ s: String) {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        text += out + "\""
    }
}

/// Writes the ground truth JSON to a file.
public enum TruthFile {
    public static func write(_ result: SimulationResult, to path: String) throws(SimulatorError) {
        let f = try ByteFile(path: path)
        f.put(Array(TruthJSON.render(result).utf8))
        try f.close()
    }
}
