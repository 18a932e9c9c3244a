import ShadowBellCore

/// Guest kernel timeout messages (console / dmesg) are not findings of their own: they are
/// linked, as evidence, to the mutual-wait window open on their queue when they were printed.
struct GuestTimeout: Sendable {
    var at: EventRef
    var kind: GuestMessageKind
    var tag: UInt32
    /// Told by the guest trace's driver events (an Abort admin command: `timeoutAborting` with
    /// the cid as `tag`; the reset that ended the give-up: `timeoutReset`, with the cid of a
    /// command cancelled then or `Event.noCommand` for the deletion of the queue), not by a
    /// console message.
    var fromDriverTrace = false
    /// For an Abort: when the trace shows the aborted command submitted (nil when before it).
    var submittedAt: Int64? = nil
    /// For a cancellation at a reset that no ABORT in the trace led to: the command's
    /// submission is not in the trace either.
    var cancelledBeforeTheTrace = false
    /// For an Abort: whether the trace shows a submission of the command's kernel tag on its
    /// queue at all (one completed before the ABORT is no command of before the trace).
    var seenSubmitted = true
    /// Its command ids and those of the other commands that reset cancelled (at most 64).
    var cancelledTags: [UInt32] = []
    /// Messages of the same give-up and input after this one that were counted, not kept
    /// (`GuestTimeout.keptPerGiveUp`).
    var unkept = 0
    /// A reset told on another queue of the controller that ended this queue's give-up too:
    /// the qid its message names.
    var namedQID: UInt16? = nil
    /// The latest time of this entry and those before it in its list (set where it is kept):
    /// the list is in the order events arrived, which merged inputs and a trace's CPUs keep
    /// only to within microseconds, so a search by time starts at the first entry whose
    /// running latest reaches it (`Array.within`) and finds what a walk from the start
    /// finds.
    var latestSoFar: Int64 = .min

    var isReset: Bool { kind == .timeoutReset || kind == .timeoutDisable }

    /// Messages kept per give-up of a queue (its first ones and the reset that ended it; the
    /// rest are counted): a storm of timeouts on a deep queue prints one per command, and the
    /// list kept only the latest 64 of a queue, so a run of several give-ups lost all but the
    /// last ones.
    static var keptPerGiveUp: Int { 64 }
    /// Messages kept in all, of every queue (memory stays bounded on hostile input).
    static var keptInAll: Int { 1 << 15 }
}

extension ClockGroupAnalyzer {
    func guestMessage(_ e: Event) {
        guard let kind = GuestMessageKind(rawValue: e.a) else { return }
        switch kind {
        case .timeoutAborting, .timeoutReset, .timeoutPolled, .timeoutDisable:
            let key = UInt32(e.controller) << 16 | UInt32(e.qid)
            guard guestTimeouts[key] != nil || guestTimeouts.count < Self.queueLimit else { return }
            // The same message from another input (a console beside a guest trace that
            // recorded the kernel's console events) is one message. The list is read and
            // changed where the table keeps it: a copy of it per message (a storm of timeouts
            // prints hundreds of thousands) copied its 64 entries each time.
            // (The latest of the list: it is in the order of time, and a give-up keeps at most
            // `keptPerGiveUp` of its messages.)
            let seen = guestTimeouts[key]?.withUnsafeBufferPointer { list in
                list.indices.suffix(2 * GuestTimeout.keptPerGiveUp).contains { i in
                    guard !list[i].fromDriverTrace, list[i].kind == kind, list[i].tag == e.b, list[i].at.source != e.source
                    else { return false }
                    let d = list[i].at.time.subtractingReportingOverflow(e.time)
                    return !d.overflow && d.partialValue.magnitude <= Self.sameMessageDistance
                }
            }
            if seen == true { return }
            let message = GuestTimeout(at: EventRef(e), kind: kind, tag: e.b)
            keep(message, in: &guestTimeouts, key, since: latestConsoleReset[e.controller])
            if message.isReset { latestConsoleReset[e.controller] = e.time }
        case .abortStatus, .queuesReady:
            break
        }
    }

    /// How far apart two inputs may place one kernel message (a console's printk stamp, a
    /// trace's console event: the same clock, microsecond stamps, the console's lag).
    static var sameMessageDistance: UInt64 { 1_000_000 }

    /// The driver's give-up as its trace shows it: an Abort admin command naming a command of
    /// qid q opens (or continues) a give-up on q; the reset it leads to closes it — the driver
    /// deleting SQ q, or cancelling a command of q (status 0x371), whichever the trace shows
    /// first. Aborts appear only after the driver's I/O timeout expired for the command.
    func driverGiveUp(_ e: Event, submittedInTrace: Bool = true) {
        let qid: UInt16
        var step: GuestTimeout
        if e.kind == .driverSubmit, e.flags & Event.abortsCommandFlag != 0 {
            guard e.b <= UInt32(UInt16.max) else { return }
            qid = UInt16(e.b)
            step = GuestTimeout(at: EventRef(e), kind: .timeoutAborting, tag: e.c, fromDriverTrace: true,
                                submittedAt: outstanding[commandKey(e.controller, qid, e.c)]?.submittedAt.time)
            step.seenSubmitted = step.submittedAt != nil || wasSubmitted(QueueKey(controller: e.controller, qid: qid, type: .sq), tag: e.c)
        } else {
            if e.kind == .driverSubmit {
                guard e.queueType == .sq, e.b <= UInt32(UInt16.max) else { return }
                qid = UInt16(e.b)
            } else {
                qid = e.qid
            }
            step = GuestTimeout(at: EventRef(e), kind: .timeoutReset,
                                tag: e.kind == .driverComplete ? e.a : Event.noCommand, fromDriverTrace: true)
        }
        let key = UInt32(e.controller) << 16 | UInt32(qid)
        // Bounded: hostile input naming millions of queues keeps the first ones.
        guard driverGiveUps[key] != nil || driverGiveUps.count < Self.queueLimit else { return }
        // Only a give-up in progress is closed, or one whose ABORTs the trace began after: a
        // reset that cancels an I/O command the trace does not show submitted (once per reset:
        // its other cancellations within a second are the same give-up). The list is changed
        // where the table keeps it (not copied per event).
        let last = driverGiveUps[key]?.last.map { (kind: $0.kind, time: $0.at.time, before: $0.cancelledBeforeTheTrace) }
        if step.kind == .timeoutReset, last?.kind != .timeoutAborting {
            guard e.kind == .driverComplete, !submittedInTrace else { return }
            if let last, case let (gap, overflow) = e.time.subtractingReportingOverflow(last.time), !overflow,
                gap <= 1_000_000_000
            {
                // The same reset (the deletion of the queue, or another cancellation of it).
                if last.before {
                    driverGiveUps[key, default: []].withLast { if $0.cancelledTags.count < 64 { $0.cancelledTags.append(e.a) } }
                }
                return
            }
            step.cancelledBeforeTheTrace = true
            step.cancelledTags = [e.a]
        }
        keep(step, in: &driverGiveUps, key)
    }

    /// The guest's timeout messages for `queue`'s qid printed in `[from, to]`.
    func guestTimeouts(for queue: QueueKey, from: Int64, to: Int64) -> [GuestTimeout] {
        let key = UInt32(queue.controller) << 16 | UInt32(queue.qid)
        return guestTimeouts[key].map { Array($0.within(from, to)) } ?? []
    }

    static func describe(_ t: GuestTimeout, qid: UInt16) -> String {
        if t.fromDriverTrace {
            switch t.kind {
            case .timeoutAborting:
                return "driver sent ABORT for cid \(t.tag) (kernel tag \(t.tag & 0xFFF)) on qid \(qid): its I/O timeout expired"
            default:
                return t.tag == Event.noCommand
                    ? "driver deleted sq\(qid): controller reset"
                    : "driver cancelled cid \(t.tag) on qid \(qid) (status 0x371): controller reset"
            }
        }
        guard let named = t.namedQID, named != qid else { return "guest kernel: \(t.kind.kernelWords(tag: t.tag, qid: qid, status: 0))" }
        return "guest kernel: \(t.kind.kernelWords(tag: t.tag, qid: named, status: 0)): the reset cancels qid \(qid)'s commands too"
    }
}

extension ClockGroupAnalyzer {
    /// The driver created I/O SQ `key`: one it had created before is re-created (a reset), and
    /// until its next Doorbell Buffer Config the controller may run without the doorbell buffer.
    func driverCreatedSQ(_ key: QueueKey, _ e: Event) {
        var created = driverCreatedSQs[key.controller, default: []]
        // Created before, or carrying I/O already (a trace that begins after the boot's
        // creation: sysrq-hang's guest trace starts inside its first stall).
        let recreated = created.contains(key.qid) || (knownIndex(of: key).map { queues[$0].stats.commandsSubmitted > 0 } ?? false)
        if recreated, awaitingDbbufConfig[key.controller] == nil { awaitingDbbufConfig[key.controller] = e.time }
        if !created.contains(key.qid), created.count < Self.queueLimit { created.insert(key.qid) }
        driverCreatedSQs[key.controller] = created
        if driverCreations[key] != nil || driverCreations.count < Self.queueLimit { driverCreations[key] = e.time }
    }

    func driverDeletedSQ(_ key: QueueKey) {
        var created = driverCreatedSQs[key.controller, default: []]
        if created.count < Self.queueLimit { created.insert(key.qid) }
        driverCreatedSQs[key.controller] = created
    }

    func driverDbbufConfig(_ e: Event) {
        driverSentDbbuf.insert(e.controller)
        awaitingDbbufConfig[e.controller] = nil
        ioNotedBeforeDbbufConfig.removeAll()
        for i in ioBeforeDbbufConfig.indices where ioBeforeDbbufConfig[i].controller == e.controller && ioBeforeDbbufConfig[i].config == nil {
            ioBeforeDbbufConfig[i].config = e.time
        }
    }

    /// The first I/O on each queue between a re-creation and the Doorbell Buffer Config.
    func noteIOBeforeDbbufConfig(_ e: Event) {
        guard let recreated = awaitingDbbufConfig[e.controller] else { return }
        // Linux re-sends it within milliseconds of the queues; a config that never comes in
        // the trace stops being awaited (no lookup per submission for the rest of it).
        guard e.time - recreated <= FindingStory.recoveryLimit else {
            awaitingDbbufConfig[e.controller] = nil
            return
        }
        guard ioBeforeDbbufConfig.count < 256, ioNotedBeforeDbbufConfig.insert(UInt32(e.controller) << 16 | UInt32(e.qid)).inserted
        else { return }
        ioBeforeDbbufConfig.append(IOBeforeDbbufConfig(controller: e.controller, qid: e.qid, recreated: recreated, firstIO: EventRef(e), config: nil))
    }
}

extension ClockGroupAnalyzer {
    /// Keeps `t` in the list of `key`: the first `GuestTimeout.keptPerGiveUp` messages of each
    /// give-up and every reset; a message beyond them is counted on the last one kept (when
    /// from its input: the same message from another input is no other). A give-up begins
    /// after the queue's last reset, and after `since` (the latest reset message of the
    /// controller, whichever queue it names: it ends every queue's give-up). Past
    /// `GuestTimeout.keptInAll` entries in all, a give-up keeps its first message only, so each
    /// is still told; past four times that (hostile input), nothing more is kept.
    func keep(_ t: GuestTimeout, in table: inout [UInt32: [GuestTimeout]], _ key: UInt32, since: Int64? = nil) {
        guard timeoutsKept < 4 * GuestTimeout.keptInAll else { return }
        let limit = timeoutsKept < GuestTimeout.keptInAll ? GuestTimeout.keptPerGiveUp : 1
        // (Asked of the list in the table, no copy held: the count below changes it in place.)
        if !t.isReset, let count = table[key]?.count, let start = table[key]?.lastGiveUpStart(since: since, limit: limit),
            count - start >= limit
        {
            if table[key]![count - 1].at.source == t.at.source { table[key]![count - 1].unkept += 1 }
            return
        }
        var t = t
        t.latestSoFar = max(t.at.time, table[key]?.last?.latestSoFar ?? .min)
        table[key, default: []].append(t)
        timeoutsKept += 1
    }
}

extension Array where Element == GuestTimeout {
    /// Where the list's last give-up begins: after its last reset, and at no message earlier
    /// than `since`; looked for among the last `limit` entries.
    func lastGiveUpStart(since: Int64?, limit: Int) -> Int {
        // (Read in the list's memory: an entry taken out of the array was copied with its
        // cancelled tags, retained and released at each step back, and a give-up past `limit`
        // messages steps back `limit` entries at each of its messages.)
        withUnsafeBufferPointer { list in
            let earliest = since ?? .min
            var start = list.count
            while start > 0, !list[start - 1].isReset, list[start - 1].at.time >= earliest, list.count - start < limit {
                start -= 1
            }
            return start
        }
    }

    /// The entries stamped in `[from, to]`, in the list's order. The walk begins at the first
    /// entry whose running latest (`latestSoFar`, nondecreasing) reaches `from`, found by
    /// binary search — none before it can lie in the range — instead of at the list's start (a
    /// short inferred window asks whether the guest gave up inside it, and a storm of give-ups
    /// made each ask walk thousands of messages).
    func within(_ from: Int64, _ to: Int64) -> LazyFilterSequence<ArraySlice<GuestTimeout>> {
        var lo = 0, hi = count
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if self[mid].latestSoFar < from { lo = mid + 1 } else { hi = mid }
        }
        return self[lo...].lazy.filter { $0.at.time >= from && $0.at.time <= to }
    }

    /// Changes the last entry in place, if there is one.
    mutating func withLast(_ body: (inout GuestTimeout) -> Void) {
        guard !isEmpty else { return }
        body(&self[count - 1])
    }
}
