import ShadowBellCore

/// `stale-shadow-after-reset` (error): the first shadow value the controller reads after a queue
/// was (re)created is one nobody published since.
public enum StaleShadowDetector {
    public static let definition = """
        After a controller reset or a queue's re-creation, the first value the controller reads \
        from the queue's shadow slot, or the `old=` the driver's first probe finds there, is \
        neither 0 nor a value the driver published since (with driver probes), or lies beyond \
        the commands submitted since (without): the shadow \
        buffers were not cleared, and the controller works from a stale tail or head (the Linux \
        2020 fix that clears them at reset, SPDK issue #1795). A value the driver's probe \
        publishes within 3 µs (plus --timing-slack) after the read, by the stamps, is one it \
        published: its store was seen before its stamp was taken.
        """
}

extension ClockGroupAnalyzer {
    /// The driver's first probe after the queue's creation reads the slot (`old=`).
    func checkStaleShadowSeenByDriver(_ q: inout QueueState, _ e: Event) {
        guard let created = q.createdBeforeFirstProbe, q.key.qid != 0 else { return }
        q.createdBeforeFirstProbe = nil
        let old = e.a
        guard old != 0, !q.publishedSinceCreation.contains(old) else { return }
        reportStaleShadow(&q, value: old, at: EventRef(e), created: created,
                          what: "driver's first update found \(old) in the shadow slot (old=)")
    }

    func checkStaleShadow(_ q: inout QueueState, _ e: Event) {
        guard let created = q.created, q.key.qid != 0 else { return }
        q.created = nil
        let v = e.a
        guard v != 0 else { return }
        let valid: Bool
        if q.probeMode {
            valid = q.publishedSinceCreation.contains(v)
        } else if q.key.type == .sq, driverEventsSeen, alignmentUncertainty == nil {
            // Without probes the tail can only be bounded by the submissions, and only when the
            // guest's events are in the trace on the controller's own clock.
            let distance = RingIndex.distance(from: 0, to: v, entries: q.entries)
            valid = q.submittedSinceCreation >= Int(distance) || q.submittedSinceCreation >= Int(q.entries == 0 ? 0x10000 : q.entries)
        } else {
            return  // a CQ head, or an SQ tail without the guest's submissions, cannot be judged
        }
        guard !valid else { return }
        if q.probeMode {
            // The driver's probe of this value may come a moment later by the stamps (the
            // store was seen before its stamp was taken: a healthy simulated run's read of 2
            // stamped 1 ns before the driver's `new=2`): judged when the stamps' uncertainty
            // has passed.
            q.pendingStaleRead = (v, EventRef(e), created)
            return
        }
        reportStaleShadow(&q, value: v, at: EventRef(e), created: created,
                          what: "first shadow read after the queue's creation returned \(v)")
    }

    /// How long after a controller read the driver's probe of the value it saw may be stamped.
    var staleReadSlack: Int64 { ClockGroupAnalyzer.storeVisibility + max(options.timingSlack, 0) }

    /// Settles a pending first read at event `e` of its queue (nil: the input's end): valid when
    /// the driver published its value within the slack, stale once the slack has passed.
    func settleStaleRead(_ q: inout QueueState, at e: Event?) {
        guard let p = q.pendingStaleRead else { return }
        if let e {
            let soon = e.time &- p.at.time <= staleReadSlack
            if e.kind == .driverDoorbellUpdate, soon, e.b == p.value {
                q.pendingStaleRead = nil
                return
            }
            guard !soon else { return }
        }
        q.pendingStaleRead = nil
        reportStaleShadow(&q, value: p.value, at: p.at, created: p.created,
                          what: "first shadow read after the queue's creation returned \(p.value)")
    }

    private func reportStaleShadow(_ q: inout QueueState, value v: UInt32, at r: EventRef, created: EventRef, what: String) {
        // One finding per creation: the controller's read and the driver's probe see the same slot.
        q.created = nil
        q.createdBeforeFirstProbe = nil
        q.stats.staleShadowReads += 1
        q.staleShadowSinceCreation = true
        let name = "\(q.key.type.name)\(q.key.qid)"
        var f = Finding(
            kind: .staleShadowAfterReset, queue: q.key, start: r.time,
            message: "\(q.key.controllerName) \(name): \(what), a value nobody published since",
            explanation: "The queue was created \(formatDuration(r.time - created.time)) before, so its shadow slot should hold 0 or a value the driver wrote since"
                + (q.probeMode ? " (it published \(q.publishedSinceCreation.count) value(s), not \(v))" : " (the guest submitted \(q.submittedSinceCreation) command(s) since)")
                + ". The controller now works from a stale \(q.key.type == .sq ? "tail: it fetches entries that were never written" : "head: it may overwrite completions the driver has not consumed")"
                + ". The shadow buffers were not cleared at the reset or re-creation.")
        f.values = [("value", .int(Int64(v))), ("published_since_creation", .int(Int64(q.probeMode ? q.publishedSinceCreation.count : q.submittedSinceCreation)))]
        f.evidence = [
            evidenceItem("queue-created", created, "controller created \(name)"),
            evidenceItem("stale-read", r, r.kind == .driverDoorbellUpdate ? "driver found \(name) = \(v) (old=)" : "controller read shadow \(name) = \(v)"),
        ]
        report(f)
    }
}
