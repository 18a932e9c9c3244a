import ShadowBellCore

/// Host-side stall inference: a clock group with the controller's events and no guest
/// submissions (a QEMU log alone, or with the guest console). When the guest gives up on I/O
/// (ABORT admin commands, then a controller reset), the queue the controller is asleep on is a
/// `mutual-wait` (error, `inferred`) when one queue alone can explain it, else an
/// `unattributed-stall` (warning) naming the candidates.
public enum HostSideStallDetector {
    /// `unattributed-stall`.
    public static let definition = """
        Without a guest trace, the guest gave up on I/O (ABORT admin commands, then usually a \
        controller reset) while more than one queue could hold the stalled commands: I/O SQs the \
        controller was asleep on (its last burst ended with a shadow read returning the tail it \
        had consumed, and it did not look at the queue again for at least --inferred-min-wait \
        before the first ABORT), or queues whose commands the controller held without completing \
        them. The finding names the candidates; a guest console on the same clock, or the \
        trace's own evidence, would tell which one.
        """

    /// What `mutual-wait` says about host-side inference (appended to its definition).
    public static let mutualWaitInference = """
        Without any guest submission in the trace (a QEMU log, with or without the guest \
        console), condition 1 is inferred from the guest giving up: ABORT admin commands, then a \
        controller reset, while the controller was asleep on q and q stayed silent; the window is \
        reported when one queue alone can explain it: it was the only queue asleep and silent \
        while the others kept running, or it alone was left silent after re-creation with its \
        EventIdx unwritten since the Doorbell Buffer Config although its tail had moved, or the \
        driver resubmitted the commands cancelled at the reset on it alone, or the guest console \
        names it (`I/O N QID q timeout, aborting`). A later burst of ABORTs while a give-up is \
        open is a give-up of its own on a queue that fell silent about one I/O timeout (as the \
        open give-up measures it) before it.
        """

    /// NVMe admin opcode Abort.
    static let abortOpcode: UInt32 = 0x08
    /// Episodes kept per analysis (each one a guest give-up: aborts, then a reset).
    static let episodeLimit = 256
}

/// Why the host-side evidence points at one queue. Raw values are the JSON strings of the
/// finding's `attribution` field.
public enum StallAttribution: String, Sendable, CaseIterable {
    /// The only I/O queue asleep and silent when the guest gave up; the others kept running.
    case onlySilentQueue = "only-silent-queue"
    /// Re-created, its tail moved before the Doorbell Buffer Config, EventIdx unwritten since.
    case resetOrderingSignature = "reset-ordering-signature"
    /// After the reset, the driver resubmitted commands on this queue alone.
    case resubmittedAfterReset = "resubmitted-after-reset"
    /// The guest console names the queue (`I/O N QID q timeout, aborting`).
    case guestConsole = "guest-console"
}

/// What the controller side shows of one queue, kept for host-side inference only.
struct HostSideView: Sendable {
    /// SQ: the CQ its completions go to (from its creation; the SQ's own qid when unseen).
    var cqid: UInt16?
    /// SQ: the controller's last fetch from it.
    var lastFetch: EventRef?
    /// SQ: the controller wrote its EventIdx since the queue's creation: shadow doorbells are on
    /// although the trace may have begun after the Doorbell Buffer Config.
    var shadowDoorbellsSeen = false
    /// SQ: fetches since the last Doorbell Buffer Config.
    var fetchedSinceConfig = 0
    /// SQ: the controller wrote its EventIdx since the last Doorbell Buffer Config.
    var eventIdxWrittenSinceConfig = false
    /// SQ: the last Doorbell Buffer Config while the queue existed, and the index the
    /// controller had fetched up to then.
    var config: EventRef?
    var tailAtConfig: UInt32?
    /// CQ: commands fetched for it and not yet completed by the controller.
    var held = 0
    /// CQ: the controller's last completion on it, or the fetch that made `held` non-zero.
    var heldSince: EventRef?
}

/// One queue that can explain a guest give-up.
struct StallCandidate: Sendable {
    enum Reason: Sendable { case asleep, holdsCommands, cqFull, sitsOnWork }
    var queue: QueueKey
    var reason: Reason
    /// When the queue fell silent (the event that put the controller to sleep on it).
    var since: EventRef
    var controllerSeen: UInt32?
    var eventIdx: UInt32?
    var eventIdxAt: EventRef?
    var entries: UInt32
    /// Re-created, tail moved before the config, EventIdx unwritten and nothing fetched since.
    var signature: Bool
    var tailAtConfig: UInt32?
    var config: EventRef?
    var held: Int
    var end: EventRef?
    var resolution: Resolution?
    /// The queue showed no event from the controller trace's start (`since`, its first event)
    /// to its deletion: the trace began while the controller was asleep on it.
    var sinceTraceStart = false
}

/// One guest give-up: the first ABORT, the reset that followed, what came after it.
struct StallEpisode: Sendable {
    var controller: UInt16
    var firstAbort: EventRef
    var aborts = 1
    var candidates: [StallCandidate]
    /// Other I/O SQs of the controller and their last fetch before the first ABORT.
    var running: [(queue: QueueKey, lastFetch: EventRef?)]
    var reset: EventRef?
    /// Guest console timeout messages about this give-up, by qid (first one, and how many).
    var console: [UInt16: (first: GuestTimeout, count: Int)] = [:]
    /// Commands fetched per qid after the reset and before the next Doorbell Buffer Config.
    var resubmitted: [UInt16: Int] = [:]
    var firstResubmission: [UInt16: EventRef] = [:]
    /// The candidates were silent for less than `--inferred-min-wait` before the first ABORT
    /// (none was silent longer).
    var shortSilence = false
    /// Opened by a later burst of ABORTs while an earlier give-up of the controller was open
    /// (they share its reset).
    var later = false
}

/// The analyzer's host-side bookkeeping: per controller, the open give-up and the one whose
/// reset is followed by resubmissions.
struct HostSideTracker: Sendable {
    var episodes: [StallEpisode] = []
    var open: [UInt16: Int] = [:]
    /// Give-ups a later burst of ABORTs opened while `open` was: they end at its reset.
    var alsoOpen: [UInt16: [Int]] = [:]
    /// When a later give-up was last looked for, per controller.
    var laterChecked: [UInt16: Int64] = [:]
    var watchingResubmissions: [UInt16: Int] = [:]
    /// The controller's latest reset, per controller.
    var lastReset: [UInt16: Int64] = [:]
    /// SQs silent when the guest tore them down without an ABORT before (`SilenceBeforeTeardown`),
    /// `resubmitted` 0 until a fetch on the queue after the teardown confirms them.
    var silences: [SilenceBeforeTeardown] = []
}

extension ClockGroupAnalyzer {
    /// The time a queue must have been silent before the guest's first ABORT to be a candidate.
    var minimumSilence: Int64 { !clock.measuresTime ? 1 : options.inferredMinWait }

    /// How far a guest console message may lie from the give-up it is about.
    var consoleSlack: Int64 { 1_000_000_000 + 2 * (alignmentUncertainty ?? 0) }

    /// Called for every controller event and guest message.
    func trackHostSide(_ e: Event) {
        switch e.kind {
        case .controllerFetch:
            if e.qid == 0 {
                if e.b == HostSideStallDetector.abortOpcode { hostSideAbort(e) }
                return
            }
            hostSideFetch(e)
        case .controllerCompletion where e.qid != 0:
            guard let c = hostSideIndex(of: e.queue(.cq)) else { return }
            queues[c].hostSide.held = max(0, queues[c].hostSide.held - 1)
            queues[c].hostSide.heldSince = EventRef(e)
        case .controllerEventIdxWrite where e.queueType == .sq:
            let i = index(of: e.queue)
            queues[i].hostSide.eventIdxWrittenSinceConfig = true
            queues[i].hostSide.shadowDoorbellsSeen = true
        case .mmioDoorbell where e.queueType == .sq && e.qid != 0:
            hostSideQueueMoved(e.queue, e, resolution: .mmioDoorbell)
        case .queueCreate where e.queueType == .sq:
            queues[index(of: e.queue)].hostSide.cqid = UInt16(truncatingIfNeeded: e.b)
        case .queueDelete:
            hostSideQueueMoved(e.queue, e, resolution: .queueDeleted)
        case .dbbufConfig:
            for i in queues.indices where queues[i].key.controller == e.controller && queues[i].key.type == .sq {
                queues[i].hostSide.fetchedSinceConfig = 0
                queues[i].hostSide.eventIdxWrittenSinceConfig = false
                queues[i].hostSide.config = EventRef(e)
                queues[i].hostSide.tailAtConfig = queues[i].controllerIndex
            }
            hostSide.watchingResubmissions[e.controller] = nil
        case .controllerReset:
            hostSide.watchingResubmissions[e.controller] = nil
            hostSide.lastReset[e.controller] = e.time
            guard let k = hostSide.open.removeValue(forKey: e.controller) else { return }
            for j in [k] + (hostSide.alsoOpen.removeValue(forKey: e.controller) ?? []) {
                hostSide.episodes[j].reset = EventRef(e)
                dropImplausiblyShortSilences(j)
                for c in hostSide.episodes[j].candidates.indices where hostSide.episodes[j].candidates[c].end == nil {
                    hostSide.episodes[j].candidates[c].end = EventRef(e)
                    hostSide.episodes[j].candidates[c].resolution = .controllerReset
                }
            }
            hostSide.watchingResubmissions[e.controller] = k
        case .guestMessage:
            hostSideConsole(e)
        default:
            break
        }
    }

    /// The state of `key` for the host-side bookkeeping. Beside a guest trace a queue that no
    /// event has named is not created for it (the report lists the queues the trace shows).
    private func hostSideIndex(of key: QueueKey) -> Int? {
        if let i = knownIndex(of: key) { return i }
        return driverEventsSeen ? nil : index(of: key)
    }

    private func hostSideFetch(_ e: Event) {
        let i = index(of: e.queue(.sq))
        queues[i].hostSide.lastFetch = EventRef(e)
        if dbbufEnabled.contains(e.controller) { queues[i].hostSide.fetchedSinceConfig += 1 }
        if let c = hostSideIndex(of: QueueKey(controller: e.controller, qid: queues[i].hostSide.cqid ?? e.qid, type: .cq)) {
            if queues[c].hostSide.held == 0 { queues[c].hostSide.heldSince = EventRef(e) }
            if queues[c].hostSide.held < Int(Int32.max) { queues[c].hostSide.held += 1 }
        }
        // (Both tables are empty but around a give-up: asked before hashing, at every fetch.)
        if !hostSide.watchingResubmissions.isEmpty, !dbbufEnabled.contains(e.controller),
            let k = hostSide.watchingResubmissions[e.controller]
        {
            hostSide.episodes[k].resubmitted[e.qid, default: 0] += 1
            if hostSide.episodes[k].firstResubmission[e.qid] == nil { hostSide.episodes[k].firstResubmission[e.qid] = EventRef(e) }
        }
        hostSideQueueMoved(e.queue(.sq), e, resolution: .controllerFetch)
        if !hostSide.silences.isEmpty { confirmSilence(at: e) }
    }

    /// How long after a teardown a fetch on the queue counts as the guest resubmitting what
    /// waited on it (requeued commands come back as soon as the queue is re-created).
    static var resubmissionWindow: Int64 { 1_000_000_000 }

    /// At the guest's deletion of an I/O SQ, or a controller reset, with no give-up (ABORTs)
    /// open: each SQ torn down that the controller was asleep on — or that showed no event
    /// since the trace began — for `silentQueueAge` or more while another SQ of the controller
    /// was fetched from in the second half of that time. Told only if the guest fetches
    /// commands on it again right after (`confirmSilence`): an idle queue has none to resubmit.
    func noteSilenceAtTeardown(_ e: Event) {
        if let k = hostSide.open[e.controller] {
            addQueueSilentSinceTraceStart(e, to: k)
            return
        }
        guard !driverEventsSeen, clock == .timestamps,
            hostSide.silences.count < HostSideStallDetector.episodeLimit
        else { return }
        let keys: [QueueKey]
        if e.kind == .queueDelete {
            guard e.queueType == .sq, e.qid != 0 else { return }
            keys = [e.queue]
        } else {
            keys = queues.lazy.filter { $0.key.controller == e.controller && $0.key.type == .sq && $0.key.qid != 0 && $0.active }.map(\.key)
        }
        for key in keys {
            let since: Int64, fromStart: Bool
            if let i = knownIndex(of: key) {
                let q = queues[i]
                guard q.active, dbbufEnabled.contains(key.controller) || q.hostSide.shadowDoorbellsSeen, q.controllerWaiting,
                    !q.mmioSinceLook, let s = q.waitingSince?.time
                else { continue }
                (since, fromStart) = (s, false)
            } else {
                // (The controller's trace's start: a console beside it may begin earlier.)
                guard let first = firstControllerEvent?.time else { continue }
                (since, fromStart) = (first, true)
            }
            // (Times from the input: their distance is checked before it is used.)
            let (silence, overflow) = e.time.subtractingReportingOverflow(since)
            guard !overflow, silence >= Self.silentQueueAge else { continue }
            let running = queues.filter { o in
                o.key.type == .sq && o.key.qid != 0 && o.key.controller == key.controller && o.key != key
                    && (o.hostSide.lastFetch?.time ?? .min) > since + silence / 2
            }.map(\.key)
            guard !running.isEmpty,
                !hostSide.silences.contains(where: { $0.queue == key && $0.since == since })
            else { continue }
            hostSide.silences.append(SilenceBeforeTeardown(
                queue: key, since: since, sinceTraceStart: fromStart, silence: silence, running: running,
                teardown: e.time, resubmitted: 0))
        }
    }

    /// The guest deletes an I/O SQ that showed no event since the trace began, in give-up `k`
    /// (its ABORTs came at least `minimumSilence` after that start): the trace began while the
    /// controller was asleep on it, a candidate the give-up could not see (a log rotated or
    /// attached inside the hang put the give-up on another queue's gap of 4.6 ms, an error on
    /// the wrong queue). Candidates kept only because no queue was silent longer
    /// (`StallEpisode.shortSilence`) give way to it: they were running.
    private func addQueueSilentSinceTraceStart(_ e: Event, to k: Int) {
        guard e.kind == .queueDelete, e.queueType == .sq, e.qid != 0, !driverEventsSeen, clock.measuresTime,
            knownIndex(of: e.queue) == nil, let start = firstControllerEvent
        else { return }
        let (silence, overflow) = hostSide.episodes[k].firstAbort.time.subtractingReportingOverflow(start.time)
        guard !overflow, silence >= minimumSilence, !hostSide.episodes[k].candidates.contains(where: { $0.queue == e.queue })
        else { return }
        if hostSide.episodes[k].shortSilence {
            // (Their last look before the first ABORT is where their short silence began.)
            for c in hostSide.episodes[k].candidates where c.queue.type == .sq {
                hostSide.episodes[k].running.append((c.queue, c.since))
            }
            hostSide.episodes[k].candidates.removeAll()
            hostSide.episodes[k].shortSilence = false
        }
        var c = StallCandidate(
            queue: e.queue, reason: .asleep, since: start, controllerSeen: nil, eventIdx: nil, eventIdxAt: nil, entries: 0,
            signature: false, held: 0, end: EventRef(e), resolution: .queueDeleted)
        c.sinceTraceStart = true
        hostSide.episodes[k].candidates.append(c)
    }

    /// A fetch on a queue torn down after its silence, soon after the teardown: the guest
    /// resubmitted the commands that waited on it.
    private func confirmSilence(at e: Event) {
        for k in hostSide.silences.indices where hostSide.silences[k].resubmitted == 0 {
            let s = hostSide.silences[k]
            let (after, overflow) = e.time.subtractingReportingOverflow(s.teardown)
            guard s.queue.controller == e.controller, s.queue.qid == e.qid, !overflow, after >= 0, after <= Self.resubmissionWindow
            else { continue }
            hostSide.silences[k].resubmitted = e.time
        }
    }

    /// The confirmed silences that no finding of their queue covers.
    func silencesBeforeTeardownToTell() -> [SilenceBeforeTeardown] {
        hostSide.silences.filter { s in
            s.resubmitted != 0 && !findings.contains { f in
                f.queue.controller == s.queue.controller && f.queue.qid == s.queue.qid && f.start <= s.teardown && (f.end ?? .max) >= s.since
            }
        }
    }

    /// The controller looked at a candidate queue again (or the queue went away): its wait ends.
    private func hostSideQueueMoved(_ key: QueueKey, _ e: Event, resolution: Resolution) {
        guard !hostSide.open.isEmpty, let first = hostSide.open[key.controller] else { return }
        for k in [first] + (hostSide.alsoOpen[key.controller] ?? []) {
            for c in hostSide.episodes[k].candidates.indices {
                let candidate = hostSide.episodes[k].candidates[c]
                guard candidate.end == nil, candidate.queue == key else { continue }
                hostSide.episodes[k].candidates[c].end = EventRef(e)
                hostSide.episodes[k].candidates[c].resolution = resolution
            }
        }
    }

    private func hostSideConsole(_ e: Event) {
        guard let kind = GuestMessageKind(rawValue: e.a), e.qid != 0,
            kind == .timeoutAborting || kind == .timeoutReset || kind == .timeoutDisable
        else { return }
        var k: Int
        if let open = hostSide.open[e.controller] {
            k = open
            // A later give-up whose queue the message names.
            if let later = hostSide.alsoOpen[e.controller]?.last(where: { j in hostSide.episodes[j].candidates.contains { $0.queue.qid == e.qid } }) {
                k = later
            }
        } else if let watched = hostSide.watchingResubmissions[e.controller],
            let reset = hostSide.episodes[watched].reset, e.time - reset.time <= consoleSlack
        {
            k = watched
        } else {
            return
        }
        let t = GuestTimeout(at: EventRef(e), kind: kind, tag: e.b)
        hostSide.episodes[k].console[e.qid, default: (t, 0)].count += 1
    }

    /// A give-up whose candidates were taken for a silence shorter than `--inferred-min-wait`
    /// (`StallEpisode.shortSilence`) measures the guest's I/O timeout at its reset (first ABORT
    /// to reset, when the aborted commands timed out again): a queue silent for less than a
    /// tenth of that before the first ABORT cannot hold a command that timed out, and is no
    /// candidate. With none left the give-up is one whose queue is not in the inputs
    /// (`unexplainedGiveUps`). The QEMU 10 hang's log with sq2's last shadow read damaged put
    /// an error on sq1, silent 1.5 ms before ABORTs that came 10.4 s before the reset.
    private func dropImplausiblyShortSilences(_ k: Int) {
        let episode = hostSide.episodes[k]
        guard episode.shortSilence, let reset = episode.reset else { return }
        let (timeout, overflow) = reset.time.subtractingReportingOverflow(episode.firstAbort.time)
        guard !overflow, timeout >= minimumSilence else { return }
        hostSide.episodes[k].candidates.removeAll { c in
            let (silence, o) = episode.firstAbort.time.subtractingReportingOverflow(c.since.time)
            return !o && silence < timeout / 10
        }
    }

    /// The guest's first ABORT opens a give-up: which queues could hold what it gave up on.
    private func hostSideAbort(_ e: Event) {
        if let k = hostSide.open[e.controller] {
            if let later = laterGiveUp(at: e, after: k) {
                hostSide.episodes.append(later)
                hostSide.alsoOpen[e.controller, default: []].append(hostSide.episodes.count - 1)
            } else {
                hostSide.episodes[hostSide.alsoOpen[e.controller]?.last ?? k].aborts += 1
            }
            return
        }
        guard hostSide.episodes.count < HostSideStallDetector.episodeLimit else { return }
        var (candidates, running) = stallCandidates(at: e, silentFor: minimumSilence)
        // The guest gave up on I/O: its I/O timeout expired. A queue silent for less than
        // --inferred-min-wait before it is still what it gave up on when no queue was silent
        // longer (a lowered nvme_core.io_timeout, a simulation's scaled one): the ABORTs and
        // the reset went without a word.
        var shortSilence = false
        if candidates.isEmpty, clock.measuresTime, options.minWait < minimumSilence {
            (candidates, running) = stallCandidates(at: e, silentFor: max(options.minWait, 1))
            shortSilence = !candidates.isEmpty
        }
        var episode = StallEpisode(controller: e.controller, firstAbort: EventRef(e), candidates: candidates, running: running)
        episode.shortSilence = shortSilence
        // Console lines printed just before the ABORT (the kernel logs, then sends it): within
        // `consoleSlack` of it, and after the controller's last reset — the commands it gives
        // up on were submitted after that reset, so a message before it is of the give-up that
        // reset ended (a guest with a short I/O timeout gives up every few milliseconds, and
        // each give-up counted the messages of all those of the second before). Times from the
        // input: the bound saturates rather than traps.
        let (earliest, below) = e.time.subtractingReportingOverflow(consoleSlack)
        let from = max(below ? Int64.min : earliest, hostSide.lastReset[e.controller] ?? .min)
        for (key, list) in guestTimeouts where UInt16(key >> 16) == e.controller {
            let qid = UInt16(truncatingIfNeeded: key)
            for t in list.within(from, e.time) where t.kind != .timeoutPolled {
                if episode.console[qid] == nil { episode.console[qid] = (t, 1) } else { episode.console[qid]!.count += 1 }
            }
        }
        hostSide.watchingResubmissions[e.controller] = nil
        hostSide.episodes.append(episode)
        hostSide.open[e.controller] = hostSide.episodes.count - 1
    }

    /// A later give-up in the one open (`k`, not reset yet): at ABORT `e`, a queue that was not
    /// silent at the earlier first ABORT is asleep now, and fell silent about as long before
    /// `e` as the earlier give-up's queues did before theirs (one I/O timeout, within a tenth
    /// of it or a millisecond). Its commands timed out later: one reset ends both, and the
    /// ABORTs of the second were counted in the first (a simulated run's second hung queue
    /// went untold).
    private func laterGiveUp(at e: Event, after k: Int) -> StallEpisode? {
        let first = hostSide.episodes[k]
        guard clock.measuresTime, hostSide.episodes.count < HostSideStallDetector.episodeLimit,
            let since = first.candidates.map(\.since.time).min()
        else { return nil }
        // (Times from the input: differences are checked, not trapped on.)
        func gap(_ a: Int64, _ b: Int64) -> Int64? {
            let (d, overflow) = a.subtractingReportingOverflow(b)
            return overflow ? nil : d
        }
        guard let timeout = gap(first.firstAbort.time, since), timeout > 0 else { return nil }
        let tolerance = max(timeout / 10, 1_000_000)
        // Looked for at most four times per tolerance of trace time (a storm of ABORTs does
        // not walk every queue at each).
        if let checked = hostSide.laterChecked[e.controller], let d = gap(e.time, checked), d < tolerance / 4 { return nil }
        hostSide.laterChecked[e.controller] = e.time
        // First the cheap test: an I/O SQ of the controller asleep since about one timeout
        // before `e` (a storm of ABORTs asks at each).
        guard let aim = gap(e.time, timeout) else { return nil }
        let asleepThen = Set(queues.indices.lazy.filter { i in
            guard self.queues[i].key.controller == e.controller, self.queues[i].key.type == .sq, self.queues[i].key.qid != 0,
                self.queues[i].controllerWaiting, let since = self.queues[i].waitingSince?.time, let off = gap(since, aim)
            else { return false }
            return off.magnitude <= UInt64(tolerance)
        }.map { self.queues[$0].key })
        guard !asleepThen.isEmpty else { return nil }
        let taken = Set(([k] + (hostSide.alsoOpen[e.controller] ?? [])).flatMap { hostSide.episodes[$0].candidates.map(\.queue) })
        let threshold = first.shortSilence ? max(options.minWait, 1) : minimumSilence
        let (all, running) = stallCandidates(at: e, silentFor: threshold)
        // (An asleep candidate's silence began at the queue's `waitingSince`, tested above.)
        let fresh = all.filter { $0.reason == .asleep && asleepThen.contains($0.queue) && !taken.contains($0.queue) }
        guard !fresh.isEmpty else { return nil }
        var episode = StallEpisode(controller: e.controller, firstAbort: EventRef(e), candidates: fresh, running: running)
        episode.shortSilence = first.shortSilence
        episode.later = true
        return episode
    }

    /// The queues of `e`'s controller that could hold what the guest gave up on at `e` (its
    /// first ABORT): silent for `silentFor` or longer; and the other I/O SQs.
    private func stallCandidates(at e: Event, silentFor threshold: Int64) -> ([StallCandidate], [(queue: QueueKey, lastFetch: EventRef?)]) {
        let now = e.time
        var candidates: [StallCandidate] = []
        var running: [(queue: QueueKey, lastFetch: EventRef?)] = []
        let configured = dbbufEnabled.contains(e.controller)
        for q in queues where q.key.controller == e.controller && q.key.qid != 0 && q.active {
            switch q.key.type {
            case .sq:
                if configured || q.hostSide.shadowDoorbellsSeen, q.controllerWaiting, !q.mmioSinceLook, let since = q.waitingSince,
                    now - since.time >= threshold
                {
                    let v = q.hostSide
                    let tail = v.tailAtConfig.map { q.entries > 0 ? $0 % q.entries : $0 } ?? 0
                    candidates.append(StallCandidate(
                        queue: q.key, reason: .asleep, since: since, controllerSeen: q.controllerSeen,
                        eventIdx: q.controllerEventIdx, eventIdxAt: q.controllerEventIdxAt, entries: q.entries,
                        signature: v.config != nil && tail != 0 && v.fetchedSinceConfig == 0 && !v.eventIdxWrittenSinceConfig,
                        tailAtConfig: v.tailAtConfig, config: v.config, held: 0))
                } else if let work = q.visibleWork, now - work.since.time >= threshold {
                    // Entries the controller saw and did not fetch (controller-idle-with-work,
                    // or a fetch lost in a damaged line): what the guest gave up on may be there
                    // (a real hang's log with one damaged fetch line put its ABORTs on a queue
                    // silent for 4.6 ms).
                    candidates.append(StallCandidate(
                        queue: q.key, reason: .sitsOnWork, since: work.since, controllerSeen: work.latestTail,
                        eventIdx: q.controllerEventIdx, eventIdxAt: q.controllerEventIdxAt, entries: q.entries,
                        signature: false, held: Int(work.latestTail &- work.fetchedUpTo)))
                } else {
                    running.append((q.key, q.hostSide.lastFetch))
                }
            case .cq:
                let fullSince = q.controllerWaiting && q.pendingCompletions > 0 ? q.waitingSince : nil
                let heldSince = q.hostSide.held > 0 ? q.hostSide.heldSince : nil
                guard let since = fullSince ?? heldSince, now - since.time >= threshold else { continue }
                let full = fullSince != nil
                candidates.append(StallCandidate(
                    queue: q.key, reason: full ? .cqFull : .holdsCommands, since: since, controllerSeen: q.controllerSeen,
                    eventIdx: q.controllerEventIdx, eventIdxAt: q.controllerEventIdxAt, entries: q.entries,
                    signature: false, held: full ? Int(q.pendingCompletions) : q.hostSide.held))
            }
        }
        return (candidates, running)
    }

    /// The I/O SQs the controller was asleep on for the last second or more of a trace without
    /// the guest's submissions, while another queue of its controller was still fetched from
    /// well after: the controller's side alone cannot tell an idle queue from a doorbell it
    /// missed, and the guest's give-up (its ABORTs, after its I/O timeout) that would tell is
    /// not in the trace. Not where a finding is open at the end on the queue.
    func silentQueuesAtTheEnd() -> [SilentQueue] {
        silentQueuesEnding(at: coverageEnd) + silentAtMachineResets
    }

    /// A new QEMU process on the same log (`ResetReason.newProcess`: a VM killed and started
    /// again) ends the last one's run as the trace's end would. The SQs the controller was
    /// asleep on then, to its last fetch, are told as at the end (`silentQueuesAtTheEnd`): the
    /// new process's reset would otherwise end their silence unsaid (a hung run with another
    /// appended read as healthy).
    ///
    /// A machine reset inside one process (`virsh reset`, a watchdog) ends a run the guest lived
    /// through: an SQ the controller was asleep on for less than the guest's I/O timeout (30 s
    /// by default) when it came is told the same way, too soon to tell; one asleep longer with
    /// no ABORT before was idle.
    func noteSilenceAtMachineReset(_ e: Event) {
        guard !driverEventsSeen, clock == .timestamps else { return }
        let silent: [SilentQueue]
        switch ResetReason(rawValue: e.a) {
        case .newProcess?:
            guard let end = lastFetchTime(of: e.controller) else { return }
            silent = silentQueuesEnding(at: end, controller: e.controller)
        case .functionLevelReset?:
            silent = silentQueuesEnding(at: e.time, controller: e.controller).filter { $0.silence < Self.defaultIOTimeout }
        default: return
        }
        for var q in silent where silentAtMachineResets.count < 64 {
            q.machineReset = e.time
            q.sameProcess = e.a == ResetReason.functionLevelReset.rawValue
            silentAtMachineResets.append(q)
        }
    }

    /// Linux's I/O timeout unless `nvme_core.io_timeout` says otherwise.
    static let defaultIOTimeout: Int64 = 30_000_000_000

    /// The last fetch from any live queue of `controller`: where its run was last seen working.
    func lastFetchTime(of controller: UInt16) -> Int64? {
        var end: Int64?
        for q in queues where q.key.controller == controller && q.active {
            if let t = q.hostSide.lastFetch?.time, t > end ?? .min { end = t }
        }
        return end
    }

    /// `silentQueuesAtTheEnd` as of `end`, of one controller's queues or all.
    private func silentQueuesEnding(at end: Int64, controller: UInt16? = nil) -> [SilentQueue] {
        guard !driverEventsSeen, clock == .timestamps else { return [] }
        var out: [SilentQueue] = []
        for q in queues where q.key.type == .sq && q.key.qid != 0 && q.active && hostSide.open[q.key.controller] == nil
            && (controller == nil || q.key.controller == controller) {
            // (Times from the input: their distance is checked before it is used.)
            guard dbbufEnabled.contains(q.key.controller) || q.hostSide.shadowDoorbellsSeen, q.controllerWaiting, !q.mmioSinceLook,
                let since = q.waitingSince?.time, case let (silence, overflow) = end.subtractingReportingOverflow(since), !overflow,
                silence >= max(Self.silentQueueAge, minimumSilence)
            else { continue }
            let running = queues.filter { o in
                o.key.type == .sq && o.key.qid != 0 && o.key.controller == q.key.controller && o.key != q.key
                    && (o.hostSide.lastFetch?.time ?? .min) > since + silence / 2
            }.map(\.key)
            guard !findings.contains(where: { $0.end == nil && $0.queue.controller == q.key.controller && $0.queue.qid == q.key.qid })
            else { continue }
            out.append(SilentQueue(queue: q.key, since: since, silence: silence, running: running))
        }
        return out
    }

    /// Why a give-up's queue is uncertain when it was silent for less than `--inferred-min-wait`.
    static func shortSilenceWhy(_ episode: StallEpisode, since: Int64, _ options: AnalysisOptions) -> String {
        "the queue was silent for \(formatDuration(episode.firstAbort.time - since)) before the guest's first ABORT, less than --inferred-min-wait (\(formatDuration(options.inferredMinWait))), and no queue longer: the guest's I/O timeout is that short (nvme_core.io_timeout lowered, or a simulation's scaled one), or what it gave up on is not in this trace"
    }

    /// How long an SQ must have been silent at the end to be said (`silentQueuesAtTheEnd`).
    static var silentQueueAge: Int64 { 1_000_000_000 }

    // MARK: findings

    /// Each give-up becomes a mutual-wait on the one queue that explains it, or an
    /// unattributed-stall naming the candidates. Not where the mutual-wait detector already
    /// reported a window of that controller overlapping the give-up (the guest's submissions
    /// showed it): a guest trace often covers only part of the run — a console's ftrace dump
    /// ends where the dump was taken, a trace taken after it starts there — and the stalls it
    /// does not cover are judged from the controller's side as if it were absent.
    func reportHostSideStalls() {
        let guestWindows = findings.filter { f in
            f.kind == .mutualWait && !f.values.contains { $0.0 == "inferred_from" }
        }
        for episode in hostSide.episodes where !episode.candidates.isEmpty {
            let stallStart = episode.candidates.map(\.since.time).min() ?? episode.firstAbort.time
            let stallEnd = episode.reset?.time ?? episode.firstAbort.time
            // The guest's trace covers the stall: its own events tell the wait (or that there
            // was none), and a console naming the queue made an inferred wait of a few µs an
            // error where the driver's probes showed no wait at all.
            if driverTraceCovers(stallStart) && driverTraceCovers(stallEnd) { continue }
            if guestWindows.contains(where: {
                $0.queue.controller == episode.controller && $0.start <= stallEnd && ($0.end ?? .max) >= stallStart
            }) {
                continue
            }
            let asleep = episode.candidates.filter { $0.reason == .asleep }
            var pointed: [QueueKey: [StallAttribution]] = [:]
            if episode.candidates.count == 1, let only = asleep.first {
                pointed[only.queue, default: []].append(.onlySilentQueue)
            }
            let signature = asleep.filter(\.signature)
            if signature.count == 1, asleep.count == episode.candidates.count {
                pointed[signature[0].queue, default: []].append(.resetOrderingSignature)
            }
            let resubmitted = episode.candidates.filter { episode.resubmitted[$0.queue.qid, default: 0] > 0 }
            if resubmitted.count == 1, resubmitted[0].reason == .asleep {
                pointed[resubmitted[0].queue, default: []].append(.resubmittedAfterReset)
            }
            if !episode.console.isEmpty {
                // The console names the queue: an error on each queue it names that the
                // controller was asleep on, whatever the host-side rules say.
                let named = asleep.filter { episode.console[$0.queue.qid] != nil }
                if named.isEmpty { reportUnattributedStall(episode) }
                for c in named { reportHostSideWait(c, episode, attribution: [.guestConsole] + (pointed[c.queue] ?? [])) }
            } else if pointed.count == 1, let entry = pointed.first,
                let candidate = asleep.first(where: { $0.queue == entry.key })
            {
                reportHostSideWait(candidate, episode, attribution: entry.value)
            } else {
                reportUnattributedStall(episode)
            }
        }
    }

    /// The give-ups with no queue silent for `--min-wait` before their first ABORT that no
    /// finding of their controller covers (from a second before the ABORT to the reset): the
    /// guest aborted and reset, and nothing here says why (a QEMU log alone of a guest with a
    /// short I/O timeout passed without a word).
    func unexplainedGiveUps() -> [UnexplainedGiveUp] {
        hostSide.episodes.filter { episode in
            // (A guest trace covering the ABORTs tells what the guest gave up on itself.)
            guard episode.candidates.isEmpty, !driverTraceCovers(episode.firstAbort.time) else { return false }
            let from = episode.firstAbort.time.subtractingReportingOverflow(1_000_000_000)
            let start = from.overflow ? Int64.min : from.partialValue
            let end = episode.reset?.time ?? episode.firstAbort.time
            return !findings.contains { f in
                f.queue.controller == episode.controller && f.severity != .info && f.start <= end && (f.end ?? .max) >= start
            }
        }.map { UnexplainedGiveUp(controller: $0.controller, firstAbort: $0.firstAbort.time, aborts: $0.aborts, reset: $0.reset?.time) }
    }

    private func reportHostSideWait(_ c: StallCandidate, _ episode: StallEpisode, attribution: [StallAttribution]) {
        let name = "\(c.queue.type.name)\(c.queue.qid)"
        let stop = c.end?.time ?? coverageEnd
        let duration = stop - c.since.time
        // A wait shorter than --min-wait is counted, not reported, from either side: a guest
        // trace that showed it as a short window must not see it come back from the host's
        // (its stuck commands and give-ups are still told, as stuck-command findings). Only the
        // controller's trace alone keeps it, the one thing that tells the give-up then.
        guard duration >= options.minWait || !(driverEventsSeen || !guestTimeouts.isEmpty) else {
            queues[index(of: c.queue)].stats.subThresholdWindows += 1
            return
        }
        var f = Finding(kind: .mutualWait, queue: c.queue, start: c.since.time, message: "", explanation: "")
        f.end = c.end?.time
        f.resolution = c.resolution ?? .endOfTrace
        // The guest's steps are not in the trace: only the config's signature tells a cause.
        f.cause = c.signature ? .eventIdxNotInitialised : .unknown
        f.inferred = true
        f.values = [
            ("duration_ns", .int(duration)),
            ("published", .null),
            ("published_last", .null),
            ("controller_seen", .uint(c.controllerSeen)),
            ("controller_eventidx", .uint(c.eventIdx)),
            ("driver_eventidx_read", .null),
            ("stuck_commands", .null),
            ("stuck_command_ids", .array([])),
            ("entries", c.entries == 0 ? .null : .int(Int64(c.entries))),
            ("inferred_from", .string("host-side")),
            ("attribution", .array(attribution.map { .string($0.rawValue) })),
            ("candidates", .array(episode.candidates.map { .string($0.queue.description) })),
            ("guest_aborts", .int(Int64(episode.aborts))),
            ("first_abort_after_ns", .int(episode.firstAbort.time - c.since.time)),
        ]
        if c.signature {
            f.values.append(("eventidx_unwritten_since_dbbuf_config", .bool(true)))
            if let config = c.config { f.values.append(("dbbuf_config_ns", .int(config.time))) }
        }
        if let n = episode.resubmitted[c.queue.qid] { f.values.append(("resubmitted_after_reset", .int(Int64(n)))) }
        let console = episode.console[c.queue.qid]
        if let console {
            f.values.append(("guest_timeouts", .int(Int64(console.count))))
            f.values.append(("first_timeout_after_ns", .int(console.first.at.time - c.since.time)))
        }

        var evidence = [evidenceItem("controller-wait", c.since, Self.silenceSummary(c, name: name))]
        if let at = c.eventIdxAt, let v = c.eventIdx, at != c.since {
            evidence.append(evidenceItem("controller-eventidx-write", at, "controller wrote EventIdx \(name) = \(v)"))
        }
        if attribution.contains(.resetOrderingSignature), let config = c.config {
            evidence.append(evidenceItem("dbbuf-config", config, "Doorbell Buffer Config with \(name)'s tail at \(c.tailAtConfig ?? 0): EventIdx never written since"))
        }
        evidence.append(evidenceItem("guest-abort", episode.firstAbort, "guest sent ABORT (admin opcode 0x8), the first of \(episode.aborts)"))
        if let console {
            evidence.append(evidenceItem("guest-timeout", console.first.at, Self.describe(console.first, qid: c.queue.qid)))
        }
        if let end = c.end { evidence.append(evidenceItem("window-close", end, "window closes: \(f.resolution!.rawValue)")) }
        if let reset = episode.reset, reset != c.end {
            evidence.append(evidenceItem("controller-reset", reset, "controller reset or disabled"))
        }
        if attribution.contains(.resubmittedAfterReset), let first = episode.firstResubmission[c.queue.qid] {
            evidence.append(evidenceItem("driver-resubmit", first, "after the reset: first of \(episode.resubmitted[c.queue.qid] ?? 0) command(s) fetched from \(name) before the Doorbell Buffer Config"))
        }
        evidence.sort { ($0.time, $0.location) < ($1.time, $1.location) }
        f.evidence = evidence
        let lost = dataLoss(from: c.since.time, to: stop)
        if lost > 0 { f.uncertainty.append("the recorder lost events \(lost) time(s) during the window") }
        if episode.shortSilence { f.uncertainty.append(Self.shortSilenceWhy(episode, since: c.since.time, options)) }
        if let why = clock.withoutDurations { f.uncertainty.append(why) }

        let how = c.end == nil ? "unresolved at end of trace after \(durationText(duration))"
            : "for \(durationText(duration)), ended by \(f.resolution!.rawValue)"
        let gaveUp = episode.reset == nil ? "\(episode.aborts) ABORT command(s)" : "\(episode.aborts) ABORT command(s), then a controller reset"
        f.message = "\(c.queue.controllerName) SQ \(c.queue.qid): driver and controller waited on each other (inferred from the host side: the guest gave up with \(gaveUp)) \(how); cause \(f.cause!.rawValue): \(f.cause!.headline)"
        f.explanation = hostSideExplanation(c, episode, attribution: attribution, name: name)
        report(f)
    }

    private func hostSideExplanation(_ c: StallCandidate, _ episode: StallEpisode, attribution: [StallAttribution], name: String) -> String {
        let at = { (t: Int64) in self.durationText(t - c.since.time) }
        var s = Self.silenceSentence(c, name: name)
        // (A guest trace that begins inside the stall shows the ABORTs, not the submissions:
        // sysrq-hang's said neither was in the inputs.)
        let abortsTraced = driverTraceCovers(episode.firstAbort.time)
        s += " At +\(at(episode.firstAbort.time)) the guest sent \(episode.aborts) ABORT admin command(s)"
            + (abortsTraced ? " (the guest's trace shows them and the commands they name)" : " (QEMU's trace does not say which command they abort)")
        if let reset = episode.reset { s += " and at +\(at(reset.time)) it reset the controller" }
        s += ": the guest had given up on I/O the controller never completed. "
        if episode.later {
            s += "These ABORTs came while an earlier give-up of \(c.queue.controllerName) was open, about one I/O timeout after \(name) fell silent, as that give-up's came after its queue did; one reset ends both. "
        }
        for rule in attribution {
            s += attributionSentence(rule, c, episode, name: name) + " "
        }
        s += "So the driver had published work on \(name) without ringing its MMIO doorbell while the controller slept on it: condition 1 is inferred from the guest giving up (\(driverEventsSeen && driverStart > c.since.time ? "the guest's trace begins only at \(formatSeconds(driverStart)) s, after the wait began: the submissions are not in it" : "the guest's submissions are not in the trace")); conditions 2 and 3 are in the trace."
        if c.signature {
            s += " Since the Doorbell Buffer Config the controller has not written \(name)'s EventIdx: the slot still holds what the driver left there (zero after a reset) while the tail is \(c.tailAtConfig ?? 0), so need_event(0, N+1, N) stays false and the driver never rings. This is the signature of the Linux reset-ordering bug (I/O queues restarted before Doorbell Buffer Config is re-sent; fixed by commit 06c59d427017, \"set doorbell config before unquiescing\", in 6.8 and 6.6.59) on a controller that does not initialise EventIdx at config time (QEMU)."
        }
        s += " " + (c.resolution ?? .endOfTrace).sentence
        return s
    }

    static func silenceSummary(_ c: StallCandidate, name: String) -> String {
        if c.sinceTraceStart { return "the trace's first event: no event of \(name) from here until its deletion" }
        switch c.since.kind {
        case .controllerShadowRead: return "controller read shadow \(name) = \(c.controllerSeen.map(String.init) ?? "?"): nothing new, burst ends"
        case .queueCreate: return "controller created \(name): empty, waits for a doorbell"
        case .controllerFetch: return "controller fetched up to \(name) = \(c.controllerSeen.map(String.init) ?? "?"): waits for a doorbell"
        default: return "the controller's last look at \(name)"
        }
    }

    static func silenceSentence(_ c: StallCandidate, name: String) -> String {
        switch c.reason {
        case .asleep where c.sinceTraceStart:
            return "No event of \(name) is in the trace before the guest deleted it: the controller did not fetch from \(name), read its shadow slot or see an MMIO doorbell for it from the trace's start, which began while it was asleep on \(name) (the log was rotated or attached during the stall)."
        case .asleep:
            var s: String
            switch c.since.kind {
            case .queueCreate: s = "The controller created \(name) and waited for its first doorbell"
            case .controllerFetch: s = "The controller fetched from \(name) up to the tail of its last MMIO doorbell" + (c.controllerSeen.map { " (\($0))" } ?? "") + " and waited for the next one"
            default:
                s = "The controller's last burst on \(name) ended"
                if let v = c.controllerSeen { s += " at tail \(v), the value it had already consumed" }
            }
            if let ei = c.eventIdx { s += " (its last EventIdx write said: ring me after \(ei))" }
            return s + "; it did not fetch from \(name) again and no MMIO doorbell for \(name) followed before the guest gave up."
        case .holdsCommands:
            return "The controller held \(c.held) command(s) of \(name) it had fetched and not completed."
        case .cqFull:
            return "The controller held \(c.held) completion(s) it could not post on \(name): the CQ was full as far as it knew."
        case .sitsOnWork:
            return "The controller had seen \(name)'s tail at \(c.controllerSeen.map(String.init) ?? "?") and did not fetch what it showed."
        }
    }

    func attributionSentence(_ rule: StallAttribution, _ c: StallCandidate, _ episode: StallEpisode, name: String) -> String {
        switch rule {
        case .onlySilentQueue:
            let others = episode.running.map { r in
                "\(r.queue.type.name)\(r.queue.qid)" + (r.lastFetch.map { " fetched \(durationText(episode.firstAbort.time - $0.time)) before the first ABORT" } ?? "")
            }
            return "\(name) was the only queue the controller was asleep on and that stayed silent when the guest gave up"
                + (others.isEmpty ? " (the controller's only I/O queue)." : "; the other queues kept running (\(others.joined(separator: "; "))).")
        case .resetOrderingSignature:
            let others = episode.candidates.filter { $0.queue != c.queue }.map { "\($0.queue.type.name)\($0.queue.qid)" }
            return "\(name) was re-created and the controller fetched up to \(c.tailAtConfig ?? 0) from it while shadow doorbells were off (MMIO doorbells) before the Doorbell Buffer Config; since then it fetched nothing from \(name) and never wrote its EventIdx."
                + (others.isEmpty ? "" : " The other silent queue(s) (\(others.joined(separator: ", "))) show no such moved tail: on them the driver's next submission rings the doorbell.")
        case .resubmittedAfterReset:
            return "After the reset the driver resubmitted \(episode.resubmitted[c.queue.qid] ?? 0) command(s) on \(name), and none on the other candidates, before re-sending the Doorbell Buffer Config: Linux requeues the commands it cancels at a reset on their own queue, so the commands in flight when the guest gave up were on \(name)."
        case .guestConsole:
            if let t = episode.console[c.queue.qid] {
                return "The guest console names the queue: \(Self.describe(t.first, qid: c.queue.qid)) (\(t.count) message(s) about QID \(c.queue.qid))."
            }
            return "The guest console names the queue."
        }
    }

    private func reportUnattributedStall(_ episode: StallEpisode) {
        let candidates = episode.candidates.sorted { ($0.since.time, $0.queue) < ($1.since.time, $1.queue) }
        guard let first = candidates.first else { return }
        let names = candidates.map { "\($0.queue.type.name)\($0.queue.qid)" }
        var f = Finding(kind: .unattributedStall, queue: first.queue, start: first.since.time, message: "", explanation: "")
        f.end = episode.reset?.time
        f.resolution = episode.reset == nil ? .endOfTrace : .controllerReset
        f.inferred = true
        f.values = [
            ("candidates", .array(candidates.map { .string($0.queue.description) })),
            ("guest_aborts", .int(Int64(episode.aborts))),
            ("first_abort_ns", .int(episode.firstAbort.time)),
            ("reset_ns", episode.reset.map { .int($0.time) } ?? .null),
            ("inferred_from", .string("host-side")),
        ]
        let namedByConsole = episode.console.keys.sorted()
        if !namedByConsole.isEmpty { f.values.append(("console_qids", .array(namedByConsole.map { .int(Int64($0)) }))) }
        var evidence = candidates.map { c in
            evidenceItem("controller-wait", c.since, Self.silenceSummary(c, name: "\(c.queue.type.name)\(c.queue.qid)"))
        }
        evidence.append(evidenceItem("guest-abort", episode.firstAbort, "guest sent ABORT (admin opcode 0x8), the first of \(episode.aborts)"))
        if let reset = episode.reset { evidence.append(evidenceItem("controller-reset", reset, "controller reset or disabled")) }
        evidence.sort { ($0.time, $0.location) < ($1.time, $1.location) }
        f.evidence = evidence
        if let why = clock.withoutDurations { f.uncertainty.append(why) }
        if episode.shortSilence, let since = candidates.map(\.since.time).min() { f.uncertainty.append(Self.shortSilenceWhy(episode, since: since, options)) }

        let gaveUp = "\(first.queue.controllerName): the guest gave up on I/O (\(episode.aborts) ABORT command(s)\(episode.reset == nil ? "" : ", then a controller reset"))"
        f.message = candidates.count == 1 && first.reason == .sitsOnWork
            ? "\(gaveUp) while the controller sat on entries of \(names[0]) it had seen; the host side cannot tell whether its processing stopped or a fetch is missing from the trace (inferred)"
            : "\(gaveUp) while \(names.joined(separator: ", ")) could each hold the stall; the host side cannot tell which (inferred)"
        var s = "Without the guest's submissions, the stalled queue is inferred from the controller side. "
        for c in candidates {
            let name = "\(c.queue.type.name)\(c.queue.qid)"
            s += Self.silenceSentence(c, name: name)
            s += " (silent \(durationText(episode.firstAbort.time - c.since.time)) before the first ABORT)"
            if c.signature { s += "; its tail had moved to \(c.tailAtConfig ?? 0) before the Doorbell Buffer Config and its EventIdx was never written since (the reset-ordering bug's signature)" }
            if let n = episode.resubmitted[c.queue.qid] { s += "; \(n) command(s) were resubmitted on it after the reset" }
            s += ". "
        }
        s += "The guest sent \(episode.aborts) ABORT admin command(s) (QEMU's trace does not say which command they abort)"
        if episode.reset != nil { s += " and then reset the controller" }
        s += ". "
        if !namedByConsole.isEmpty {
            s += "The guest console names QID \(namedByConsole.map(String.init).joined(separator: ", ")), on which the controller was not asleep: the stall may not be a doorbell wait. "
        }
        s += "Add the guest console (its `I/O N QID q timeout, aborting` lines name the queue) or a guest trace to tell which queue holds the stall."
        f.explanation = s
        report(f)
    }
}
