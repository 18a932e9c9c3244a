import ShadowBellCore

/// `controller-idle-with-work` (error): the controller saw entries on an SQ and did not fetch
/// them — it sits on visible work while the guest waits for their completions.
public enum IdleWithWorkDetector {
    public static let definition = """
        On I/O SQ q, the controller's last look at the queue (a shadow read, or an MMIO doorbell \
        it received) showed a tail T beyond the index H it had fetched up to, and it fetched \
        nothing from q afterwards for at least --inferred-min-wait (and --min-wait): entries \
        T − H were pending and the controller knew it. A controller that processes an SQ fetches \
        as long as the tail it knows is ahead of its head; stopping there means its processing \
        ended for another reason and was not restarted (QEMU ≤ 9.1 ends nvme_process_sq when no \
        request is free and does not reschedule it when one frees: over-committed queues). The \
        interval closes at the next fetch from q (controller-fetch), the queue's deletion or \
        re-creation, a controller reset, or the end of the input (unresolved).
        """
}

/// Pending work the controller has seen on an SQ and not fetched yet.
struct VisibleWork: Sendable {
    /// The controller's look (shadow read or MMIO doorbell) that first showed the pending entries.
    var since: EventRef
    /// The tail it saw then, and the index it had fetched up to.
    var tail: UInt32
    var fetchedUpTo: UInt32
    /// Its latest look while the work stayed pending.
    var latest: EventRef
    var latestTail: UInt32
}

extension ClockGroupAnalyzer {
    /// Events of an order-only input that must follow work the controller saw, without a fetch
    /// from its queue, for the end of the input to count as a stall.
    static let orderOnlyIdleEvents: Int64 = 256

    /// After the controller learnt SQ q's tail: note the entries ahead of its fetch index.
    func noteVisibleWork(_ q: inout QueueState, _ e: Event, tail: UInt32) {
        guard q.key.type == .sq, q.key.qid != 0, q.entries > 0, let index = q.controllerIndex,
            tail < q.entries, index < q.entries
        else { return }
        guard tail != index else {
            q.visibleWork = nil
            return
        }
        if q.visibleWork == nil {
            q.visibleWork = VisibleWork(since: EventRef(e), tail: tail, fetchedUpTo: index, latest: EventRef(e), latestTail: tail)
        } else {
            q.visibleWork!.latest = EventRef(e)
            q.visibleWork!.latestTail = tail
        }
    }

    /// The controller fetched from the queue, or the queue went away: the idle interval ends.
    func closeVisibleWork(_ q: inout QueueState, at e: Event, resolution: Resolution) {
        guard let w = q.visibleWork else { return }
        q.visibleWork = nil
        // Judged before the queue's state is handed over: that copies it (every fetch closes
        // the work its burst saw, and almost none of it is reported).
        guard idleLongEnough(w, resolution: resolution, stopTime: e.time) else { return }
        reportIdleWithWork(w, queue: q, end: EventRef(e), resolution: resolution, stopTime: e.time)
    }

    func finishVisibleWorkAtEnd(_ q: inout QueueState, endTime: Int64) {
        guard let w = q.visibleWork else { return }
        q.visibleWork = nil
        guard w.since.time <= endTime, idleLongEnough(w, resolution: .endOfTrace, stopTime: endTime) else { return }
        reportIdleWithWork(w, queue: q, end: nil, resolution: .endOfTrace, stopTime: endTime)
    }

    /// Whether an idle interval ending at `stopTime` is reported.
    @inline(__always)
    private func idleLongEnough(_ w: VisibleWork, resolution: Resolution, stopTime: Int64) -> Bool {
        if !clock.measuresTime {
            switch resolution {
            // Work seen in the log's last lines (a log cut mid-burst) is no stall: without
            // times, the controller must have gone on with other work for a while (an order-only
            // input's times count its events) before the end says it sat on it.
            case .endOfTrace: return clock != .orderOnly || stopTime - w.since.time >= Self.orderOnlyIdleEvents
            case .controllerReset, .queueDeleted, .queueRecreated: return true
            default: return false
            }
        }
        return stopTime - w.since.time >= max(options.minWait, options.inferredMinWait)
    }

    private func reportIdleWithWork(_ w: VisibleWork, queue q: QueueState, end: EventRef?, resolution: Resolution, stopTime: Int64) {
        let duration = stopTime - w.since.time
        let name = "\(q.key.type.name)\(q.key.qid)"
        let pending = RingIndex.distance(from: w.fetchedUpTo, to: w.latestTail, entries: q.entries)
        var f = Finding(kind: .controllerIdleWithWork, queue: q.key, start: w.since.time, message: "", explanation: "")
        f.end = end?.time
        f.resolution = resolution
        f.values = [
            ("duration_ns", .int(duration)),
            ("controller_seen", .int(Int64(w.latestTail))),
            ("fetched_up_to", .int(Int64(w.fetchedUpTo))),
            ("pending_entries", .int(Int64(pending))),
            ("controller_eventidx", .uint(q.controllerEventIdx)),
            ("entries", .int(Int64(q.entries))),
        ]
        var evidence: [Evidence] = []
        let look = { (r: EventRef, tail: UInt32) -> String in
            r.kind == .mmioDoorbell
                ? "MMIO doorbell \(name) = \(tail): \(RingIndex.distance(from: w.fetchedUpTo, to: tail, entries: q.entries)) entries ahead of the controller's head \(w.fetchedUpTo)"
                : "controller read shadow \(name) = \(tail): \(RingIndex.distance(from: w.fetchedUpTo, to: tail, entries: q.entries)) entries ahead of its head \(w.fetchedUpTo)"
        }
        evidence.append(evidenceItem("controller-saw-work", w.since, look(w.since, w.tail)))
        if w.latest != w.since { evidence.append(evidenceItem("controller-saw-work", w.latest, look(w.latest, w.latestTail))) }
        if let at = q.controllerEventIdxAt, let v = q.controllerEventIdx, at.time <= stopTime {
            evidence.append(evidenceItem("controller-eventidx-write", at, "controller wrote EventIdx \(name) = \(v)"))
        }
        if let end { evidence.append(evidenceItem("window-close", end, "window closes: \(resolution.rawValue)")) }
        let timeouts = guestTimeouts(for: q.key, from: w.since.time, to: stopTime)
        for t in timeouts { evidence.append(evidenceItem("guest-timeout", t.at, Self.describe(t, qid: q.key.qid))) }
        evidence.sort { ($0.time, $0.location) < ($1.time, $1.location) }
        f.evidence = evidence
        if let first = timeouts.first {
            f.values.append(("guest_timeouts", .int(Int64(timeouts.count))))
            f.values.append(("first_timeout_after_ns", .int(first.at.time - w.since.time)))
        }
        if driverEventsSeen {
            f.values.append(("guest_unfetched", .int(Int64(q.unfetched))))
        }
        let lost = dataLoss(from: w.since.time, to: stopTime)
        if lost > 0 { f.uncertainty.append("the recorder lost events \(lost) time(s) during the window") }
        if let why = clock.withoutDurations { f.uncertainty.append(why) }

        let what = "SQ \(q.key.qid)"
        let how = end == nil ? "unresolved at end of trace after \(formatDuration(duration))"
            : "for \(formatDuration(duration)), ended by \(resolution.rawValue)"
        f.message = "\(q.key.controllerName) \(what): the controller sat on \(pending) entr\(pending == 1 ? "y" : "ies") it had seen (tail \(w.latestTail), fetched up to \(w.fetchedUpTo)) without fetching them \(how)"
        var s = "The controller \(w.since.kind == .mmioDoorbell ? "received an MMIO doorbell" : "read the shadow tail") of \(name) = \(w.tail) while it had fetched up to \(w.fetchedUpTo): \(RingIndex.distance(from: w.fetchedUpTo, to: w.tail, entries: q.entries)) entr\(RingIndex.distance(from: w.fetchedUpTo, to: w.tail, entries: q.entries) == 1 ? "y was" : "ies were") waiting and it knew it. "
        s += "It then fetched nothing from \(name) for \(formatDuration(duration)). This is not a doorbell lost between the two sides: the work was visible to the controller, whose processing of the queue stopped and was not started again. "
        s += "QEMU's nvme_process_sq stops when no request is free (all of the SQ's requests held by commands whose completions are not posted yet, e.g. behind a full or shared CQ); before QEMU 9.2 freeing a request did not reschedule it (only an MMIO doorbell on the SQ, or a CQ doorbell on a full CQ, did), so an over-committed queue stays stopped. "
        if let first = timeouts.first {
            s += "The guest waited for the completions: \(Self.describe(first, qid: q.key.qid)) \(formatDuration(first.at.time - w.since.time)) after the controller saw the work. "
        } else if driverEventsSeen && q.unfetched > 0 {
            s += "The guest waited for the completions: \(q.unfetched) command(s) it submitted on qid \(q.key.qid) were never fetched. "
        }
        s += resolution.sentence
        f.explanation = s
        report(f)
    }
}
