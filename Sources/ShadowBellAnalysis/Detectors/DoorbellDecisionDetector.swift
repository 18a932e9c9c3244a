import ShadowBellCore

/// `missed-doorbell` (error) and `needless-doorbell` (info): the driver's MMIO decision checked
/// against `need_event` on the values the driver itself recorded (driver probes only).
public enum DoorbellDecisionDetector {
    public static let missedDefinition = """
        The driver skipped the MMIO doorbell although need_event(eventidx, new, old), computed on \
        the values its own probe recorded, says it had to ring: the controller was never told.
        """
    public static let needlessDefinition = """
        The driver rang the MMIO doorbell although need_event(eventidx, new, old) was false: \
        harmless, but each costs a VM exit (SPDK's inclusive variant rings at most once more).
        """
}

extension ClockGroupAnalyzer {
    func checkDoorbellDecision(_ q: inout QueueState, _ e: Event) {
        let old = e.a, new = e.b, ei = e.c
        let needed = needEvent(eventIdx: UInt16(truncatingIfNeeded: ei), new: UInt16(truncatingIfNeeded: new),
                               old: UInt16(truncatingIfNeeded: old))
        guard needed != e.rangMMIO, old != new else { return }
        let name = "\(q.key.type.name)\(q.key.qid)"
        let at = EventRef(e)
        if needed {
            q.stats.missedDoorbells += 1
            var f = Finding(
                kind: .missedDoorbell, queue: q.key, start: e.time,
                message: "\(q.key.controllerName) \(name): driver published \(old) -> \(new) with EventIdx \(ei) and did not ring, but need_event(\(ei), \(new), \(old)) is true",
                explanation: "EventIdx \(ei) lies in [\(old), \(new) - 1]: the controller asked to be told about this update, and the driver's own probe says it wrote no MMIO doorbell. Unless the controller re-reads the shadow slot on its own, it will not see the new \(q.key.type == .sq ? "tail" : "head").")
            f.values = [("old", .int(Int64(old))), ("new", .int(Int64(new))), ("eventidx", .int(Int64(ei))), ("mmio", .bool(false))]
            f.evidence = [evidenceItem("driver-publish", at, "driver published \(name) \(old) -> \(new), read EventIdx \(ei), mmio=0")]
            report(f)
        } else {
            q.stats.needlessDoorbells += 1
            var f = Finding(
                kind: .needlessDoorbell, queue: q.key, start: e.time,
                message: "\(q.key.controllerName) \(name): driver rang MMIO for \(old) -> \(new) although EventIdx \(ei) did not ask for it",
                explanation: "need_event(\(ei), \(new), \(old)) is false: EventIdx \(ei) is outside [\(old), \(new) - 1], so the controller did not need this doorbell. It is harmless but costs a VM exit.")
            f.values = [("old", .int(Int64(old))), ("new", .int(Int64(new))), ("eventidx", .int(Int64(ei))), ("mmio", .bool(true))]
            f.evidence = [evidenceItem("driver-publish", at, "driver published \(name) \(old) -> \(new), read EventIdx \(ei), mmio=1")]
            report(f)
        }
    }
}
