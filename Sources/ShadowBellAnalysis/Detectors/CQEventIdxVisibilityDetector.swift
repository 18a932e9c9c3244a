import ShadowBellCore

/// `cq-eventidx-not-seen` (info): completions flow with shadow doorbells on, but no CQ EventIdx
/// write appears anywhere in the trace.
public enum CQEventIdxVisibilityDetector {
    public static let definition = """
        Shadow doorbells are on and completions flow, but the trace never shows a CQ EventIdx \
        write. Either the controller never writes it (QEMU 7.1.x-7.2.0, a real bug: the driver's \
        CQ-head need_event is computed against a stale value), or its build writes it without \
        tracing it (Debian's QEMU 7.2.x stable). CQ-side waits are then judged without the \
        controller's EventIdx.
        """
}

extension ClockGroupAnalyzer {
    func reportCQEventIdxVisibility() {
        // Reported on the controller's busiest I/O CQ.
        var controllers: [UInt16: (queue: QueueKey, reads: UInt64, writes: UInt64, most: UInt64)] = [:]
        for q in queues where q.key.type == .cq && q.key.qid != 0 {
            var c = controllers[q.key.controller] ?? (q.key, 0, 0, 0)
            c.reads += q.stats.controllerShadowReads
            c.writes += q.stats.controllerEventIdxWrites
            if q.stats.controllerShadowReads > c.most {
                c.queue = q.key
                c.most = q.stats.controllerShadowReads
            }
            controllers[q.key.controller] = c
        }
        for (controller, c) in controllers.sorted(by: { $0.key < $1.key }) where c.reads > 0 && c.writes == 0 {
            // The driver's probes read the CQ EventIdx slots: only zeros there means the
            // controller never wrote them, not that it wrote them untraced.
            let cqs = queues.filter { $0.key.controller == controller && $0.key.type == .cq && $0.key.qid != 0 }
            let probeReads = cqs.reduce(UInt64(0)) { $0 + $1.driverEventIdxReads }
            let onlyZero = probeReads > 0 && !cqs.contains { $0.driverReadNonZeroEventIdx }
            // It spans the controller's CQ head reads; the first one is its evidence.
            let firstCQ = cqs.filter { $0.firstControllerRead != nil }.min {
                ($0.firstControllerRead!.time, $0.firstControllerRead!.location) < ($1.firstControllerRead!.time, $1.firstControllerRead!.location)
            }
            let first = firstCQ?.firstControllerRead
            let last = cqs.compactMap(\.lastControllerRead).max { ($0.time, $0.location) < ($1.time, $1.location) }
            var f = Finding(
                kind: .cqEventIdxNotSeen, queue: c.queue, start: first?.time ?? firstTime ?? 0,
                message: "nvme\(controller): \(c.reads) controller CQ head reads but no CQ EventIdx write in the trace",
                explanation: CQEventIdxVisibilityDetector.definition)
            f.end = last?.time
            f.values = [("cq_shadow_reads", .int(Int64(c.reads))), ("cq_eventidx_writes", .int(0))]
            if let first, let firstCQ {
                // The finding is the controller's, shown on its busiest CQ: the evidence names
                // the queue of its first read when that is another (it read as a contradiction).
                let shownOn = firstCQ.key == c.queue ? "" : " (the finding is the controller's, shown on its busiest CQ, cq\(c.queue.qid))"
                f.evidence.append(evidenceItem("controller-read", first, "controller read shadow cq\(firstCQ.key.qid): nvme\(controller)'s first CQ head read\(shownOn); no CQ EventIdx write follows in the trace"))
            }
            if probeReads > 0 {
                f.values.append(("driver_cq_eventidx_reads", .int(Int64(probeReads))))
                f.values.append(("driver_read_only_zero", .bool(onlyZero)))
                f.explanation += onlyZero
                    ? " The driver's probes read the CQ EventIdx \(probeReads) time(s) and found 0 every time: the controller never writes it."
                    : " The driver's probes read non-zero CQ EventIdx values: the controller writes it without tracing it."
            }
            report(f)
        }
    }
}
