import ShadowBellCore

/// `eventidx-regression` (warning): the controller moved an SQ EventIdx behind what it consumed.
public enum EventIdxRegressionDetector {
    public static let definition = """
        The controller wrote an SQ EventIdx outside the part of the ring between the index it had \
        already fetched up to and the tail it knew (not explained by wrap-around): the driver will compute need_event against a stale point and \
        may ring needlessly or, combined with other bugs, not at all.
        """
}

extension ClockGroupAnalyzer {
    func checkEventIdxRegression(_ q: inout QueueState, _ e: Event) {
        // A valid SQ EventIdx lies between what the controller fetched and the tail it knows.
        // A value beyond the ring is `value-out-of-range` (an error of its own), not a place in
        // the ring behind the fetch index.
        guard q.key.type == .sq, q.key.qid != 0, q.entries == 0 || e.a < q.entries,
            let fetched = q.controllerIndex, let seen = q.controllerSeen,
            RingIndex.distance(from: fetched, to: e.a, entries: q.entries)
                > RingIndex.distance(from: fetched, to: seen, entries: q.entries)
        else { return }
        q.stats.eventIdxRegressions += 1
        let name = "sq\(q.key.qid)"
        // Outside [fetched, seen]: nearer past the tail it knew (ahead) or before what it
        // fetched (behind). (A message said "904 behind the index 888" of a value ahead.)
        let ahead = q.entries > 0
            ? RingIndex.distance(from: seen, to: e.a, entries: q.entries) < RingIndex.distance(from: e.a, to: fetched, entries: q.entries)
            : e.a > seen
        var f = Finding(
            kind: .eventIdxRegression, queue: q.key, start: e.time,
            message: ahead
                ? "\(q.key.controllerName) \(name): controller wrote EventIdx \(e.a) ahead of the tail \(seen) it knew (it had fetched up to \(fetched))"
                : "\(q.key.controllerName) \(name): controller wrote EventIdx \(e.a) behind the index \(fetched) it had fetched up to",
            explanation: ahead
                ? "The controller had read the SQ tail as \(seen) and fetched up to \(fetched), but asked to be notified after \(e.a), an entry past any tail it had seen (or a read of the tail is missing from the trace)."
                : "The controller had consumed the SQ up to \(fetched) but asked to be notified after \(e.a), an entry it already processed.")
        f.values = [("eventidx", .int(Int64(e.a))), ("fetched", .int(Int64(fetched)))]
        f.evidence = [evidenceItem("controller-eventidx-write", EventRef(e), "controller wrote EventIdx \(name) = \(e.a)")]
        report(f)
    }
}
