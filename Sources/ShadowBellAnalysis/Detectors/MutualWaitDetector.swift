import ShadowBellCore

/// `mutual-wait` (error): both sides wait on each other on one queue.
public enum MutualWaitDetector {
    public static let definition = """
        On queue q, an interval in which both sides wait on the other: (1) the driver has published \
        a value P that differs from the value S the controller last saw, (2) no MMIO doorbell for q \
        has been written since the controller last looked at q, and (3) the controller waits for a \
        doorbell on q: its last burst ended with a shadow read that returned S, the value it had \
        already consumed (SQ), or it holds completions it cannot post because the CQ is full as far \
        as it knows (CQ). The window closes at an MMIO doorbell, a controller read that returns a \
        new value, queue deletion, controller reset or disable, a new Doorbell Buffer Config, or \
        the end of the input (unresolved). Without driver probes, condition 1 is inferred from \
        commands the guest submitted on q that the controller never fetched (SQ), or from the \
        completion entries the guest handled beyond the head the controller saw (CQ).
        """
}

extension ClockGroupAnalyzer {
    func mutualWaitHolds(_ q: QueueState) -> Bool {
        guard q.key.qid != 0, q.active, q.controllerWaiting, !q.mmioSinceLook,
            let seen = q.controllerSeen
        else { return false }
        if q.probeMode { return q.published.map { $0 != seen } ?? false }
        // Without probes: an SQ's commands submitted and never fetched, a CQ's entries the
        // guest handled beyond the head the controller saw.
        if q.key.type == .cq { return q.inferredHead.map { $0 != seen } ?? false }
        return q.unfetched > 0
    }

    func evaluateMutualWait(_ q: inout QueueState, at e: Event) {
        let holds = mutualWaitHolds(q)
        if holds {
            if q.window == nil {
                openWindow(&q, at: e)
            } else {
                q.window!.lastPublished = q.driverValue
                if q.window!.inferred, q.pendingSubmissions.count > q.window!.stuckCommandIDs.count {
                    Self.keepFirstIDs(of: q.pendingSubmissions, in: &q.window!.stuckCommandIDs)
                }
                refineCause(&q, at: e)
            }
        } else if q.window != nil {
            closeWindow(&q, at: e, resolution: Self.resolution(for: e))
        }
    }

    /// Stuck command ids an inferred window keeps (the first ones not fetched).
    static let stuckIDLimit = 32
    /// How long an inferred wait still open where the input ends must have lasted to be told
    /// when shorter than --min-wait.
    static let inferredCutShortFloor: Int64 = 100_000

    /// The guest's timeout messages a window quotes as evidence (the first ones).
    static let timeoutEvidenceLimit = 16

    /// Makes `ids` the cmdids of the first `stuckIDLimit` of `pending`, in place: while a
    /// window is open this is asked at every event, and `ids` is mostly what it was, or the
    /// start of it (a new array each time was an allocation per submission or, with more than
    /// `stuckIDLimit` commands pending, per event).
    static func keepFirstIDs(of pending: [PendingSubmission], in ids: inout [UInt32]) {
        let n = min(pending.count, stuckIDLimit)
        var same = 0
        while same < min(n, ids.count), ids[same] == pending[same].cmdid { same += 1 }
        if ids.count > n { ids.removeSubrange(n...) }
        for k in same..<n {
            if k < ids.count { ids[k] = pending[k].cmdid } else { ids.append(pending[k].cmdid) }
        }
    }

    static func resolution(for e: Event) -> Resolution {
        switch e.kind {
        case .mmioDoorbell, .driverDoorbellUpdate: return .mmioDoorbell
        case .controllerShadowRead: return .controllerRead
        case .controllerFetch: return .controllerFetch
        // A successful completion proves the controller fetched the command, whatever the
        // trace shows: the fetch is missing or was placed late by clock alignment.
        case .driverComplete: return e.b == 0 ? .fetchNotTraced : .commandsCancelled
        case .queueDelete: return .queueDeleted
        case .queueCreate: return .queueRecreated
        case .controllerReset: return .controllerReset
        case .dbbufConfig: return .dbbufConfig
        default: return .stateChange
        }
    }

    private func openWindow(_ q: inout QueueState, at e: Event) {
        let publication = q.probeMode ? q.unseenPublications.first : nil
        var w = OpenWindow(
            start: EventRef(e), controllerSeen: q.controllerSeen ?? 0,
            firstPublished: publication?.value ?? q.driverValue,
            lastPublished: q.driverValue, firstPublication: publication,
            waitingSince: q.waitingSince, controllerEventIdx: q.controllerEventIdx,
            controllerEventIdxAt: q.controllerEventIdxAt, inferred: !q.probeMode, cause: .unknown,
            alsoControllerReorder: false, stuckCommandIDs: q.probeMode ? [] : q.pendingSubmissions.prefix(Self.stuckIDLimit).map(\.cmdid),
            firstSubmission: q.probeMode ? nil : q.pendingSubmissions.first,
            eventIdxUnwrittenSinceConfig: q.controllerEventIdx == nil && dbbufEnabled.contains(q.key.controller))
        if !q.probeMode, q.key.type == .cq { w.driverHeadAt = q.inferredHeadAt }
        if w.eventIdxUnwrittenSinceConfig { w.leftoverEventIdx = q.slotEventIdx }
        if !q.probeMode { w.submissions = UInt32(clamping: q.pendingSubmissions.count) }
        if let publication {
            let slack = options.timingSlack
            let driverReorder =
                (w.waitingSince.map { $0.kind == .controllerShadowRead && $0.time > publication.at.time + slack }) ?? false
            var controllerReorder = false
            if let before = publication.controllerEventIdxBefore, publication.eventIdxReadWasReplaced,
                before.at.time < publication.at.time - slack
            {
                controllerReorder = true
            }
            if driverReorder {
                w.cause = .driverReorder
                w.alsoControllerReorder = controllerReorder
            } else if controllerReorder {
                w.cause = .controllerReorder
            }
        }
        if let since = w.waitingSince { w.startOrderedByCause = causallyBefore(since, guest: e.source) }
        w.demandedStep = demandedStep(w, q)
        if w.cause == .unknown { w.cause = causeFromValues(w, q) }
        q.window = w
    }

    /// A controller read that still returns S after the driver's publication, stamped later,
    /// shows the driver's store stayed invisible: the driver's load overtook its store.
    private func refineCause(_ q: inout QueueState, at e: Event) {
        guard e.kind == .controllerShadowRead, var w = q.window, w.cause == .unknown || w.cause == .skippedDemandedDoorbell,
            let p = w.firstPublication, e.time > p.at.time + options.timingSlack
        else { return }
        w.cause = .driverReorder
        w.waitingSince = EventRef(e)
        q.window = w
    }

    func closeWindow(_ q: inout QueueState, at e: Event, resolution: Resolution) {
        guard let w = q.window else { return }
        q.window = nil
        emitWindow(w, queue: &q, end: EventRef(e), resolution: resolution)
    }

    func finishWindowAtEnd(_ q: inout QueueState, endTime: Int64) {
        guard let w = q.window else { return }
        q.window = nil
        // Opened after one side's events stop: nothing can be said about it.
        guard w.start.time <= endTime else { return }
        emitWindow(w, queue: &q, end: nil, resolution: .endOfTrace, endTime: endTime)
    }

    private func emitWindow(
        _ w: OpenWindow, queue q: inout QueueState, end: EventRef?, resolution: Resolution, endTime: Int64? = nil
    ) {
        let stopTime = end?.time ?? endTime ?? lastTime
        let duration = stopTime - w.start.time
        let significant: Bool
        if resolution == .fetchNotTraced {
            significant = false
        } else if !clock.measuresTime {
            // Without durations, a wait a reset or a queue deletion ended is told; one open
            // where the input ends is judged below, as one cut short.
            switch resolution {
            case .controllerReset, .queueDeleted: significant = true
            default: significant = false
            }
        } else if w.inferred && resolution != .endOfTrace {
            // Inferred from submissions on two clocks: a short window that a reset or a queue
            // deletion ended is teardown seen through the alignment's error, not a hang (a real
            // one lasts until the guest's I/O timeout, seconds).
            significant = duration >= max(options.minWait, options.inferredMinWait)
                // Unless the guest gave up inside it: the reset or deletion that ended it was
                // the driver's recovery from this wait, not teardown (a simulated run's 3–6 ms
                // hangs, its guest's timeout scaled down, were stuck commands beside the QEMU
                // log, and mutual waits from the log alone).
                || (duration >= options.minWait && gaveUpInside(q.key, from: w.start.time, to: stopTime))
        } else {
            significant = duration >= options.minWait
        }
        // Open where the input ends, shorter than --min-wait only because the trace stopped:
        // its length is a lower bound, and a hang that began just before the end looks like a
        // wait that would have ended (a simulated run's hang, 32 commands stuck, opened 0.96 ms
        // before its trace ended and was dropped: exit 0, not a word). Told as a warning that
        // cannot be decided, not dropped and not an error (a healthy trace stopped at random
        // ends inside one of its sub-millisecond waits now and then).
        // Only one that has outlasted every wait of its queue that ended by itself: a healthy
        // queue's waits (a submission not yet fetched, seen through the stamps' or the
        // alignment's error) end within microseconds, and one open at the very end is one of
        // them (a simulated run's last 2.25 µs).
        // An inferred one (no probe says what the driver did) must also last `inferredCutShortFloor`:
        // a guest's doorbell trails its submission by tens of microseconds, and early in a trace
        // few waits have ended to measure that by (a healthy field run cut 2 ms in told one of
        // 8 µs).
        // Without durations (an input without timestamps) its length is in events: one open where
        // the input ends was an error whatever its length (a healthy QEMU log without
        // timestamps, its last lines a CQ full for 45 events, failed); it is a warning when it
        // has outlasted, in events, every wait of its queue that ended by itself.
        let cutShort = !significant && resolution == .endOfTrace && end == nil
            && duration > q.stats.longestSubThresholdWindow
            && (!clock.measuresTime || !w.inferred || duration >= Self.inferredCutShortFloor)
        guard significant || cutShort else {
            q.stats.subThresholdWindows += 1
            if end != nil { q.stats.longestSubThresholdWindow = max(q.stats.longestSubThresholdWindow, duration) }
            return
        }
        // Past --max-hangs-per-queue: counted before its story is written.
        guard admitsHang(q.key, start: w.start.time, end: end?.time) else { return }
        let stuck: Int
        var stuckIDs: [UInt32] = []
        switch q.key.type {
        case .sq where !w.inferred:
            stuck = Int(RingIndex.distance(from: w.controllerSeen, to: w.lastPublished ?? w.controllerSeen, entries: q.entries))
        case .sq:
            stuck = max(q.unfetched, w.stuckCommandIDs.count)
            stuckIDs = w.stuckCommandIDs.count >= q.pendingSubmissions.count
                ? w.stuckCommandIDs : q.pendingSubmissions.prefix(Self.stuckIDLimit).map(\.cmdid)
        case .cq:
            // The controller's read that closed the window found space and posted one: it was
            // stuck until then too (the count after the post was one short of the truth's).
            stuck = Int(q.pendingCompletions) + (end?.kind == .controllerShadowRead && resolution == .controllerRead ? 1 : 0)
        }
        var w = w
        if w.inferred, q.key.type == .sq, w.eventIdxUnwrittenSinceConfig, w.firstPublication == nil {
            // The cause such a window takes from the values depends on how far the driver's
            // tail moved: told with every submission it holds.
            w.submissions = UInt32(clamping: stuck)
            w.cause = causeFromValues(w, q)
        }

        var f = Finding(
            kind: .mutualWait, queue: q.key, start: w.start.time,
            message: "", explanation: "")
        f.end = end?.time
        f.resolution = resolution
        f.cause = w.cause
        f.inferred = w.inferred
        f.startOrderedByCause = w.startOrderedByCause
        f.values = [
            ("duration_ns", .int(duration)),
            ("published", .uint(w.firstPublished)),
            ("published_last", .uint(w.lastPublished)),
            ("controller_seen", .int(Int64(w.controllerSeen))),
            ("controller_eventidx", .uint(w.controllerEventIdx)),
            ("driver_eventidx_read", .uint(w.firstPublication?.eventIdxRead)),
            ("stuck_commands", .int(Int64(stuck))),
            ("stuck_command_ids", .array(stuckIDs.map { .int(Int64($0)) })),
            ("entries", q.entries == 0 ? .null : .int(Int64(q.entries))),
        ]
        var evidence: [Evidence] = []
        if w.alsoControllerReorder { f.values.append(("also_controller_reorder", .bool(true))) }
        if w.eventIdxUnwrittenSinceConfig {
            f.values.append(("eventidx_unwritten_since_dbbuf_config", .bool(true)))
            if let config = lastDbbufConfig[q.key.controller] {
                f.values.append(("dbbuf_config_ns", .int(config.time)))
                evidence.append(evidenceItem("dbbuf-config", config, "Doorbell Buffer Config: \(q.key.type.name)\(q.key.qid)'s EventIdx never written since"))
            }
        }

        let name = "\(q.key.type.name)\(q.key.qid)"
        if let r = w.waitingSince {
            let what: String
            switch r.kind {
            case .controllerShadowRead:
                what = q.key.type == .sq
                    ? "controller read shadow \(name) = \(w.controllerSeen): nothing new, burst ends"
                    : "controller read shadow \(name) head = \(w.controllerSeen): CQ full, completions wait"
            case .queueCreate: what = "controller created \(name): empty, waits for a doorbell"
            default: what = "controller fetched up to \(name) = \(w.controllerSeen): waits for a doorbell"
            }
            evidence.append(evidenceItem("controller-wait", r, what))
        }
        if let at = w.controllerEventIdxAt, let v = w.controllerEventIdx {
            evidence.append(evidenceItem("controller-eventidx-write", at, "controller wrote EventIdx \(name) = \(v)"))
        }
        if let p = w.firstPublication {
            let ei = p.eventIdxRead.map { ", read EventIdx \($0), no MMIO" } ?? ""
            evidence.append(evidenceItem("driver-publish", p.at, "driver published \(name) \(p.old) -> \(p.value)\(ei)"))
        } else if let at = w.driverHeadAt {
            evidence.append(evidenceItem("driver-cq-head", at, "driver handled a completion on \(name): its CQ head moves to \(w.firstPublished.map(String.init) ?? "?"), no CQ doorbell traced"))
        } else if let s = w.firstSubmission ?? q.pendingSubmissions.first {
            evidence.append(evidenceItem("driver-submit", s.at, "driver submitted cmdid \(s.cmdid) on qid \(q.key.qid)"))
        }
        if !evidence.contains(where: { $0.location.value == w.start.location && $0.location.source == w.start.source }) {
            evidence.append(evidenceItem("window-open", w.start, "all three conditions hold"))
        }
        if let end {
            evidence.append(evidenceItem("window-close", end, "window closes: \(resolution.rawValue)"))
        }
        let timeouts = guestTimeouts(for: q.key, from: w.start.time, to: stopTime)
        let gaveUp = timeouts.first ?? driverGaveUp(q.key, from: w.start.time, to: stopTime)
        // The first ones tell when the guest gave up; `guest_timeouts` counts them all (a give-up
        // on a deep queue is one message per command: 48 evidence lines a window on a simulated
        // run's 2,216 hangs made its report 12.5 MB).
        for t in timeouts.prefix(Self.timeoutEvidenceLimit) {
            evidence.append(evidenceItem("guest-timeout", t.at, Self.describe(t, qid: q.key.qid)))
        }
        evidence.sort { ($0.time, $0.location) < ($1.time, $1.location) }
        if let first = timeouts.first {
            f.values.append(("guest_timeouts", .int(Int64(timeouts.count))))
            f.values.append(("first_timeout_after_ns", .int(first.at.time - w.start.time)))
        }
        f.evidence = evidence

        let from = evidence.map(\.time).min() ?? w.start.time
        let lost = dataLoss(from: min(from, w.start.time), to: stopTime)
        if lost > 0 { f.uncertainty.append("the recorder lost events \(lost) time(s) during the window") }
        if let why = clock.withoutDurations { f.uncertainty.append(why) }
        if let u = alignmentUncertainty, duration <= 2 * u {
            f.uncertainty.append("the window (\(formatDuration(duration))) is within the clock-alignment uncertainty (±\(formatDuration(u)))")
        }

        // (The guest gave up inside it: the queue hung, however short the trace left it.)
        if cutShort, gaveUp == nil {
            // The analysis session lowers it to a warning unless what it owns proves the hang
            // (commands outstanding beyond --stuck-after).
            f.values.append(("cut_short_by_end_of_trace", .bool(true)))
            f.uncertainty.append(
                clock.measuresTime
                    ? "the input ends \(formatDuration(duration)) after this wait began, before --min-wait (\(formatDuration(options.minWait))): whether it would have lasted that long or ended first, the trace cannot tell"
                    : "the input ends \(formatSpan(duration, clock: clock)) after this wait began, and has no durations: whether it would have lasted or ended soon, the trace cannot tell")
        }
        f.message = Self.mutualWaitMessage(f, name: name, duration: duration, stuck: stuck, clock: clock)
        f.explanation = Self.mutualWaitExplanation(f, w: w, name: name, stuck: stuck, entries: q.entries, clock: clock)
        if resolution == .endOfTrace, end == nil, stopTime < lastTime {
            // Judged only up to where every merged input still records: one stopped early (cut
            // short, or simply stopped first), and what followed is not known from both sides.
            let ended = Resolution.endOfTrace.sentence
            let cut = "It was still open where one of the merged inputs ends, \(formatSpan(stopTime - w.start.time, clock: clock)) after it opened; the others go on \(formatSpan(lastTime - stopTime, clock: clock)) longer, and what followed cannot be judged from both sides."
            if f.explanation.hasSuffix(ended) { f.explanation = String(f.explanation.dropLast(ended.count)) + cut } else { f.explanation += " " + cut }
            if lastTime - stopTime >= 1_000_000_000 {
                f.uncertainty.append("an input ends \(formatSpan(lastTime - stopTime, clock: clock)) before the others: the window is judged only up to there")
            }
        }
        if let first = gaveUp {
            f.explanation += " The guest noticed: \(Self.describe(first, qid: q.key.qid)) \(formatSpan(first.at.time - w.start.time, clock: clock)) after the window opened."
        }
        report(f, admitted: true)
    }

    /// Whether the guest gave up on `queue` from `from` to `to`: a console's timeout message,
    /// or the driver's own ABORT in the guest trace (its I/O timeout expired). Asked of every
    /// short inferred window: no list is made.
    func gaveUpInside(_ queue: QueueKey, from: Int64, to: Int64) -> Bool {
        guard !guestTimeouts.isEmpty || !driverGiveUps.isEmpty else { return false }
        let key = UInt32(queue.controller) << 16 | UInt32(queue.qid)
        if guestTimeouts[key]?.within(from, to).contains(where: { _ in true }) == true { return true }
        return driverGaveUp(queue, from: from, to: to) != nil
    }

    func driverGaveUp(_ queue: QueueKey, from: Int64, to: Int64) -> GuestTimeout? {
        let key = UInt32(queue.controller) << 16 | UInt32(queue.qid)
        return driverGiveUps[key]?.within(from, to).first { $0.kind == .timeoutAborting }
    }

    func evidenceItem(_ role: String, _ r: EventRef, _ summary: String) -> Evidence {
        Evidence(role: role, location: SourceLocation(source: r.source, unit: unit(of: r.source), value: r.location),
                 time: r.time, summary: summary)
    }

    /// `clock`: the clock group's (an input without timestamps measures in events).
    static func mutualWaitMessage(_ f: Finding, name: String, duration: Int64, stuck: Int, clock: ClockKind) -> String {
        let how = f.end == nil ? "unresolved at end of trace after \(formatSpan(duration, clock: clock))"
            : "for \(formatSpan(duration, clock: clock)), ended by \(f.resolution?.rawValue ?? "?")"
        let what = f.queue.type == .sq ? "SQ \(f.queue.qid)" : "CQ \(f.queue.qid)"
        let inferred = f.inferred ? " (inferred)" : ""
        return "\(f.queue.controllerName) \(what): driver and controller waited on each other\(inferred) \(how); \(stuck) command(s) stuck; cause \((f.cause ?? .unknown).rawValue): \((f.cause ?? .unknown).headline)"
    }

    static func mutualWaitExplanation(_ f: Finding, w: OpenWindow, name: String, stuck: Int, entries: UInt32, clock: ClockKind) -> String {
        func formatDuration(_ d: Int64) -> String { formatSpan(d, clock: clock) }
        var s: String
        let sv = w.controllerSeen
        if f.queue.type == .sq {
            s = "The controller finished its last burst on \(name) having consumed up to tail \(sv) and went to sleep until an MMIO doorbell"
            if let ei = w.controllerEventIdx { s += " (its last EventIdx write said: ring me after \(ei))" }
            s += ". "
        } else {
            s = "The controller had completions to post on \(name) but, with CQ head \(sv), the queue looked full, so it waited for a CQ doorbell"
            if let ei = w.controllerEventIdx { s += " (its last CQ EventIdx write was \(ei))" }
            s += ". "
            if let ei = w.controllerEventIdx, ei != sv {
                s += "That EventIdx is not the head \(sv) the controller knew: a controller waiting for CQ space must ask to be told as soon as the head moves (EventIdx = its known head); asking for a later value (e.g. its CQ tail, propolis PR #1026) means the driver's need_event stays false while the CQ is full. "
            }
        }
        if let p = w.firstPublication {
            s += "The driver published \(p.value) (previously \(p.old))"
            if let ei = p.eventIdxRead {
                let rule = "need_event(\(ei), \(p.value), \(p.old))"
                // The driver may have skipped a doorbell its own read demanded (a skipped-
                // demanded-doorbell window): "since … is false" then contradicted the cause.
                if needEvent(eventIdx: UInt16(truncatingIfNeeded: ei), new: UInt16(truncatingIfNeeded: p.value), old: UInt16(truncatingIfNeeded: p.old)) {
                    s += ", read EventIdx \(ei) and did not ring the MMIO doorbell, although \(rule) is true"
                } else {
                    s += ", read EventIdx \(ei) and, since \(rule) is false, did not ring the MMIO doorbell"
                }
            }
            s += ". "
        } else if f.inferred, f.queue.type == .cq, w.driverHeadAt == nil {
            // No guest completion was seen on the queue (a QEMU log alone): what the driver
            // consumed is not in the inputs (the story told of its `nvme_sq` lines).
            s += "No guest event in the inputs tells what the driver consumed from \(name) or whether it rang: the controller's side alone shows it waiting for CQ space. "
        } else if f.inferred, f.queue.type == .cq {
            s += "The guest then handled the completions posted up to head \(w.firstPublished.map(String.init) ?? "?") on \(name) (one `nvme_sq` line per entry), so the driver's CQ head moved past the \(sv) the controller saw, and no CQ doorbell followed (the driver's shadow writes are not traced: this is inferred from the guest's completions). "
        } else if f.inferred {
            s += "The guest then submitted \(stuck) command(s) on qid \(f.queue.qid) that the controller never fetched, and no MMIO doorbell for the queue followed (the driver's shadow writes are not traced: this is inferred from the guest's submissions). "
        }
        switch f.cause ?? .unknown {
        case .driverReorder:
            s += "The controller's shadow read that returned the old value \(sv) is stamped after the driver's publication: the driver's store was still invisible after its EventIdx load, i.e. the driver let its load overtake its store (a missing full barrier between the shadow store and the EventIdx load, the 2018 Linux mb() fix). "
        case .controllerReorder:
            let read = w.firstPublication?.eventIdxRead.map(String.init) ?? "?"
            let written = w.firstPublication?.controllerEventIdxBefore.map { String($0.value) } ?? "?"
            s += "The driver read EventIdx \(read) although the controller had written \(written) before that read: the controller's EventIdx store was still invisible after it had re-read the shadow slot, i.e. the controller let its load overtake its store. "
        case .skippedDemandedDoorbell:
            if w.eventIdxUnwrittenSinceConfig, w.firstPublication?.eventIdxRead == nil, let leftover = w.leftoverEventIdx {
                s += "The values tell the cause: since the last Doorbell Buffer Config the controller has not written this queue's EventIdx, so the slot held 0 (cleared at the reset) or \(leftover) (the controller's last write before it, if the reset did not clear it). The driver \(stepsText(w, entries: entries)), past a point where either value asks for a doorbell: whichever it read, a correct driver had to ring the MMIO doorbell. None followed, so the driver acted on another value (overwritten, or not read at all) or skipped the doorbell it was asked for. "
            } else if let step = w.demandedStep, !step.unproven, let ei = w.controllerEventIdx {
                s += "The values tell the cause: the controller's last EventIdx write was \(ei)"
                if let at = w.controllerEventIdxAt, let when = step.at { s += ", \(formatDuration(when - at.time)) before the driver" } else { s += "; the driver then" }
                s += " moved the tail from \(step.old) to \(step.new), and need_event(\(ei), \(step.new), \(step.old)) is true: a correct driver that read \(ei) had to ring the MMIO doorbell. None followed, so the driver acted on another EventIdx value than the one the controller wrote (overwritten, stale, or not read at all)"
                if let read = w.firstPublication?.eventIdxRead { s += "; its probe says it read \(read)" }
                s += ". "
            } else if let p = w.firstPublication, let read = p.eventIdxRead {
                s += "The values tell the cause: the driver's own probe read EventIdx \(read) and moved from \(p.old) to \(p.value); need_event(\(read), \(p.value), \(p.old)) is true, yet it did not ring the MMIO doorbell. "
            }
        case .eventIdxNotInitialised:
            s += "Since the last Doorbell Buffer Config the controller has not written this queue's EventIdx: the slot still holds what the driver left there (zero after a reset) while the tail has moved on, so need_event(0, N+1, N) stays false and the driver never rings. This is the signature of the Linux reset-ordering bug (I/O queues restarted before Doorbell Buffer Config is re-sent) on a controller that does not initialise EventIdx at config time (QEMU). "
        case .staleShadowAfterReset:
            if w.eventIdxUnwrittenSinceConfig, let read = w.firstPublication?.eventIdxRead, read != 0 {
                s += "Since the last Doorbell Buffer Config the controller has not written this queue's EventIdx, yet the driver read \(read) there: a value left from before the reset, which did not clear the doorbell buffers (the Linux 2020 fix clears them at reset; SPDK issue #1795), so need_event on it told the driver not to ring. "
            } else if w.eventIdxUnwrittenSinceConfig, stepsCross(0, w, entries: entries) {
                s += "Since the last Doorbell Buffer Config the controller has not written this queue's EventIdx, and the driver \(stepsText(w, entries: entries)), past a point where an EventIdx of 0 asks for a doorbell: this is not the reset-ordering bug's zeroed slot, whose tail has moved on before the config. "
                if let leftover = w.leftoverEventIdx {
                    s += "The controller's last EventIdx write to the slot before the reset was \(leftover), which asks for no doorbell on those steps: a slot the reset did not clear told the driver not to ring. "
                }
                s += "The doorbell buffers were not cleared at the reset (the Linux 2020 fix clears them; SPDK issue #1795)"
                s += w.firstPublication?.eventIdxRead == nil ? "; no driver probe says which value the driver read. " : ". "
            } else {
                s += "After the queue's reset or re-creation its shadow slot held a value nobody published since (see the stale-shadow-after-reset finding): the two sides decided from different values. "
            }
        case .unknown:
            if w.eventIdxUnwrittenSinceConfig, w.leftoverEventIdx == nil, w.firstPublication?.eventIdxRead == nil, stepsCross(0, w, entries: entries) {
                s += "Since the last Doorbell Buffer Config the controller has not written this queue's EventIdx, and the inputs hold no earlier write to the slot. The driver \(stepsText(w, entries: entries)), past a point where an EventIdx of 0 asks for a doorbell: a driver that did not ring read another value there (one left in a slot that was not cleared) or skipped the doorbell it was asked for; no driver probe says which. "
            } else if let step = w.demandedStep, step.unproven, let ei = w.controllerEventIdx, let at = w.controllerEventIdxAt, let when = step.at {
                let why = step.clocks.map { "the clocks are aligned to ±\(formatDuration($0)) here, and a guest and a controller stamp closer than twice that (\(formatDuration(2 * $0))) are not ordered by them, so the submission may have come first" }
                    ?? "a store may stay invisible to the other side for up to \(formatDuration(Self.storeVisibility)) after its stamp"
                s += "The values: the controller's last EventIdx write was \(ei), \(formatDuration(when - at.time)) before the driver moved the tail from \(step.old) to \(step.new), and need_event(\(ei), \(step.new), \(step.old)) is true. But that order is not proven — \(why) — and no probe says what the driver read. If it read \(ei), it skipped a doorbell it was asked for (skipped-demanded-doorbell); if it read the value before (the controller's EventIdx store not yet visible: its shadow re-read overtook its store, controller-reorder; or the submission came first), it had no doorbell to ring: the trace cannot tell which. "
            } else {
                s += "The stamps show no load that overtook a store beyond the timing uncertainty, and the recorded values show no doorbell that the controller's EventIdx demanded: the trace cannot tell which side lost the update. "
            }
        }
        s += (f.resolution ?? .endOfTrace).sentence
        return s
    }

    /// The cause the values tell when the stamps prove no reorder, in the order of how much
    /// they prove: an EventIdx never written since the config, a doorbell the controller's last
    /// EventIdx demanded, a stale shadow value after the queue's re-creation.
    func causeFromValues(_ w: OpenWindow, _ q: QueueState) -> Cause {
        // The driver's own probe read an EventIdx that demanded the doorbell it skipped.
        if let p = w.firstPublication, let read = p.eventIdxRead, read <= 0xFFFF, p.value <= 0xFFFF, p.old <= 0xFFFF,
            needEvent(eventIdx: UInt16(read), new: UInt16(p.value), old: UInt16(p.old))
        {
            return .skippedDemandedDoorbell
        }
        if w.eventIdxUnwrittenSinceConfig && q.key.type == .sq {
            // The driver's probe read an EventIdx other than 0 that the controller has not
            // written since the config: a leftover the reset did not clear (the stale-buffers
            // bug), not the driver's zeroed slot of the reset-ordering bug.
            if let read = w.firstPublication?.eventIdxRead, read != 0 { return .staleShadowAfterReset }
            // The reset-ordering bug's zeroed EventIdx asks for no doorbell only once the tail
            // has moved on before the config (need_event(0, N+1, N) is false for N ≥ 1). Where
            // the driver's first step was one a zero asks a doorbell for (the queue's first
            // entry after its re-creation: need_event(0, 1, 0) is true), a driver that did not
            // ring read another value there: one left from before the reset.
            guard Self.stepsCross(0, w, entries: q.entries) else { return .eventIdxNotInitialised }
            // What a slot the reset did not clear holds: the controller's last write before it.
            // When that asks for no doorbell either, it explains the skip; when it asks for one
            // too, the driver skipped a doorbell whichever value it read.
            guard let leftover = w.leftoverEventIdx else { return .unknown }
            return Self.stepsCross(leftover, w, entries: q.entries) ? .skippedDemandedDoorbell : .staleShadowAfterReset
        }
        if let step = w.demandedStep, !step.unproven { return .skippedDemandedDoorbell }
        if q.staleShadowSinceCreation { return .staleShadowAfterReset }
        return .unknown
    }

    /// Whether the driver's tail, in the window, took a step for which EventIdx `eventIdx` asks
    /// for a doorbell: with its probe, need_event on the probe's step; without, whether the
    /// tail passed through index `eventIdx` over the window's submissions, one entry each
    /// (need_event(e, i + 1, i) is true exactly at i = e).
    static func stepsCross(_ eventIdx: UInt32, _ w: OpenWindow, entries: UInt32) -> Bool {
        if let p = w.firstPublication {
            guard eventIdx <= 0xFFFF, p.old <= 0xFFFF, p.value <= 0xFFFF, p.old != p.value else { return false }
            return needEvent(eventIdx: UInt16(eventIdx), new: UInt16(p.value), old: UInt16(p.old))
        }
        guard entries == 0 ? eventIdx <= 0xFFFF : eventIdx < entries else { return false }
        return RingIndex.distance(from: w.controllerSeen, to: eventIdx, entries: entries) < max(w.submissions, 1)
    }

    /// The driver's steps in the window, as text: its probe's, else the tail's move over the
    /// window's submissions.
    static func stepsText(_ w: OpenWindow, entries: UInt32) -> String {
        if let p = w.firstPublication { return "moved the tail from \(p.old) to \(p.value)" }
        let steps = max(w.submissions, 1)
        return "moved the tail from \(w.controllerSeen) to \(RingIndex.advance(w.controllerSeen, by: steps, entries: entries)) (\(steps) submission\(steps == 1 ? "" : "s"), one entry each)"
    }

    /// The driver's first step after the controller's last EventIdx write, when need_event on
    /// that write says the driver had to ring: with probes the publication itself, without them
    /// the first command submitted after the controller caught up (the tail moves S -> S+1).
    /// The write must be stamped before the step beyond the stamps' uncertainty; a step
    /// inferred from a submission (no probe says what the driver read) stamped after it by
    /// less than `storeVisibility` more is marked `unproven`.
    func demandedStep(_ w: OpenWindow, _ q: QueueState) -> DemandedStep? {
        guard let ei = w.controllerEventIdx, let eiAt = w.controllerEventIdxAt else { return nil }
        let slack = options.timingSlack + 2 * (alignmentUncertainty ?? 0)
        var step: DemandedStep
        if let p = w.firstPublication {
            step = DemandedStep(old: p.old, new: p.value, at: p.at.time)
        } else if let s = w.firstSubmission, q.key.type == .sq {
            step = DemandedStep(old: w.controllerSeen, new: RingIndex.advance(w.controllerSeen, entries: q.entries), at: s.at.time)
        } else {
            return nil
        }
        guard let at = step.at, ei <= 0xFFFF, step.old <= 0xFFFF, step.new <= 0xFFFF,
            needEvent(eventIdx: UInt16(ei), new: UInt16(step.new), old: UInt16(step.old))
        else { return nil }
        if at > eiAt.time + slack {
            step.unproven = w.firstPublication == nil && at <= eiAt.time + slack + Self.storeVisibility
            return step
        }
        // The controller wrote it before it went to sleep, and the guest saw that sleep (a
        // completion posted after it) before the submission: the order is cause and effect's,
        // whatever the clocks (dat-hang-sq2's first stall, 8 ms apart where the clocks step by
        // 89 ms, was "not proven"; x86 makes the EventIdx store visible before the completion's).
        if w.firstPublication == nil, w.startOrderedByCause, let since = w.waitingSince, since.source == eiAt.source,
            eiAt.location <= since.location
        {
            return step
        }
        // Stamped after the write but within the clocks' uncertainty: without a probe, the
        // values are told, and that their order is not proven (dat-hang-sq2's first stall was
        // told "the values show no doorbell the EventIdx demanded", 8 ms after it at ±4.5 ms).
        guard w.firstPublication == nil, at > eiAt.time else { return nil }
        step.unproven = true
        step.clocks = alignmentUncertainty ?? 0
        return step
    }

    /// How long a side's store may stay invisible to the other after its stamp, plus a QEMU
    /// log's microsecond stamps: a store buffer draining behind other stores, an interrupt or
    /// a vCPU exit (the simulator draws 0.2–3 µs for 4 % of stores). A controller's EventIdx
    /// write stamped this little before the driver's next submission does not prove the
    /// driver could read it: without its probe, a controller whose shadow re-read overtook
    /// its EventIdx store looks the same as a driver that skipped the doorbell.
    static let storeVisibility: Int64 = 3_000
}

/// `1.234 s`, `56.7 ms`, `12.3 µs`, `800 ns`.
/// `5123.456789012` (always 9 fraction digits, integer arithmetic).
public func formatSeconds(_ ns: Int64) -> String {
    let negative = ns < 0
    let a = negative ? UInt64(-(ns + 1)) + 1 : UInt64(ns)
    let frac = String(a % 1_000_000_000)
    return "\(negative ? "-" : "")\(a / 1_000_000_000).\(String(repeating: "0", count: 9 - frac.count))\(frac)"
}

/// A distance between two times on a clock of `kind`: a duration; on an input without
/// timestamps (ordinals) a count of events; on a clock of bare counts a count of it.
public func formatSpan(_ d: Int64, clock kind: ClockKind) -> String {
    switch kind {
    case .orderOnly: return "\(d) events"
    case .counter: return "\(d) counts of its clock"
    case .timestamps: return formatDuration(d)
    }
}

public func formatDuration(_ ns: Int64) -> String {
    let a = ns < 0 ? -ns : ns
    func fixed(_ v: Int64, _ unit: Int64, _ suffix: String) -> String {
        let whole = v / unit
        let frac = (v % unit) * 1000 / unit
        let fracStr = String(frac)
        return "\(ns < 0 ? "-" : "")\(whole).\(String(repeating: "0", count: 3 - fracStr.count))\(fracStr) \(suffix)"
    }
    if a >= 1_000_000_000 { return fixed(a, 1_000_000_000, "s") }
    if a >= 1_000_000 { return fixed(a, 1_000_000, "ms") }
    if a >= 1_000 { return fixed(a, 1_000, "µs") }
    return "\(ns) ns"
}
