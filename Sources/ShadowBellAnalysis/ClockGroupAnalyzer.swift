import ShadowBellCore

/// Rebuilds every queue's state from the events of one clock domain, fed in time order, and
/// runs the detectors on each change. Memory grows with queues and outstanding commands only.
public final class ClockGroupAnalyzer {
    public let options: AnalysisOptions
    /// The inputs feeding this group (their indices into the session's input list).
    public let sources: [UInt16]
    let clock: ClockKind

    @exclusivity(unchecked) var queueIndex: [QueueKey: Int] = [:]
    @exclusivity(unchecked) var queues: [QueueState] = []
    @exclusivity(unchecked) var outstanding = CommandTable<CommandRecord>()
    @exclusivity(unchecked) var earlyFetches = CommandTable<Int64>()
    /// Recent guest kernel timeout messages, per (controller, qid), oldest first (bounded).
    @exclusivity(unchecked) var guestTimeouts: [UInt32: [GuestTimeout]] = [:]
    /// The same give-ups from the guest trace's own events, per (controller, qid), oldest first
    /// (bounded): the driver's Abort admin commands, and what ended them (`driverGiveUp`).
    @exclusivity(unchecked) var driverGiveUps: [UInt32: [GuestTimeout]] = [:]
    /// Entries of `guestTimeouts` and `driverGiveUps` in all (`GuestTimeout.keptInAll`).
    @exclusivity(unchecked) var timeoutsKept = 0
    /// Per controller, the time of the latest reset message (`… timeout, reset controller`).
    @exclusivity(unchecked) var latestConsoleReset: [UInt16: Int64] = [:]
    @exclusivity(unchecked) var dbbufEnabled = ControllerSet()
    /// Per queue index, the kernel tags (cid & 0xfff) the driver's submissions on it showed:
    /// 512 bytes a queue. An ABORT or a reset's cancellation of a tag never submitted in the
    /// trace is of a command submitted before it began.
    @exclusivity(unchecked) var tagsSubmitted: [[UInt64]] = []
    /// Per queue index (the first `tagOwnersQueueLimit`), each kernel tag's latest submitted
    /// command id (-1: none; 16 KiB a queue): Linux holds a tag while its command is
    /// outstanding, so a command whose tag is submitted again under another id had ended there,
    /// whatever the trace shows of its end.
    @exclusivity(unchecked) var tagOwners: [[Int32]] = []
    static let tagOwnersQueueLimit = 512
    /// Each controller's last Doorbell Buffer Config.
    @exclusivity(unchecked) var lastDbbufConfig: [UInt16: EventRef] = [:]
    /// Guest give-ups seen from the controller side (used while no guest submission is seen).
    @exclusivity(unchecked) var hostSide = HostSideTracker()
    @exclusivity(unchecked) var dataLossTimes: [Int64] = []
    /// SQs silent where a PCI function-level reset ended their run (`noteSilenceAtMachineReset`).
    @exclusivity(unchecked) var silentAtMachineResets: [SilentQueue] = []
    @exclusivity(unchecked) var findings: [Finding] = []
    @exclusivity(unchecked) var suppressed: [SuppressionKey: Int] = [:]
    @exclusivity(unchecked) var keptPerKindAndQueue: [SuppressionKey: Int] = [:]
    /// The time of the hangs (mutual waits, the guest's give-ups) left out past
    /// `hangsPerQueueLimit`, per kind and queue.
    @exclusivity(unchecked) var suppressedHangTime: [SuppressionKey: Int64] = [:]
    /// How many of the findings left out are hangs, per kind and queue (a queue's other stuck
    /// commands share the give-ups' kind).
    @exclusivity(unchecked) var suppressedHangs: [SuppressionKey: Int] = [:]
    /// The spans of the mutual waits left out (they still own their stuck commands).
    @exclusivity(unchecked) var suppressedWindows: [(queue: QueueKey, start: Int64, end: Int64)] = []
    @exclusivity(unchecked) public private(set) var firstTime: Int64?
    /// The group's first controller event (host-side inference: a queue silent since the
    /// controller's trace began).
    @exclusivity(unchecked) var firstControllerEvent: EventRef?
    @exclusivity(unchecked) public private(set) var lastTime: Int64 = 0
    @exclusivity(unchecked) public private(set) var eventCount: UInt64 = 0
    /// Findings reported so far (some are only known at `finish()`).
    public var findingCount: Int { findings.count }
    /// Clock-alignment uncertainty of the inputs merged here (nil when they share one clock).
    @exclusivity(unchecked) public var alignmentUncertainty: Int64?
    /// Where the alignment of the inputs merged here misses causal pairs beyond that
    /// uncertainty (on this group's clock).
    @exclusivity(unchecked) public var poorAlignment: [AlignmentReport.PoorStretch] = []
    /// Called after each event that touched a queue, with the queue's new state.
    @exclusivity(unchecked) public var observer: ((Event, QueueSnapshot) -> Void)? {
        didSet { hasObserver = observer != nil }
    }
    @exclusivity(unchecked) private var hasObserver = false
    /// Called with the time of the first event, before the observer is shown anything.
    @exclusivity(unchecked) public var firstEventObserver: ((Int64) -> Void)?
    /// Per queue: whether the observer watches it (`AnalysisOptions.observedQueues`).
    @exclusivity(unchecked) private var observed: [Bool] = []

    struct CommandRecord: Sendable {
        var submittedAt: EventRef
        /// The controller's side of the command's life is over: fetched, or its queue deleted.
        var fetched: Bool
        var fetchedAt: Int64?
        /// Its SQ was deleted (or re-created) before the controller fetched it.
        var queueDeletedAt: Int64?
        /// Where the controller posted its completion: the input and its location there.
        var hostCompletion: (source: UInt16, location: UInt64)?
    }

    /// Per (guest input, controller input): the furthest location in the controller's input of
    /// a completion the guest's input has already shown the driver receiving. An event of the
    /// controller's input before it happened before the guest's next events, whatever the
    /// clocks say: the completion was posted after it, and the driver saw it before them.
    /// A flat table, `guest * 64 + controller` (inputs 0–63; others are not marked), each
    /// location plus one (0: none yet), made at the first mark: a dictionary here cost 1 % of
    /// a run's instructions.
    @exclusivity(unchecked) var causalMarks: [UInt64] = []

    /// Whether the controller's `event` happened before the guest's event now being handled,
    /// from `guest`'s input, by cause and effect (`causalMarks`).
    func causallyBefore(_ event: EventRef, guest: UInt16) -> Bool {
        guard event.source != guest, guest < 64, event.source < 64, !causalMarks.isEmpty else { return false }
        let mark = causalMarks[Int(guest) << 6 | Int(event.source)]
        return mark > 0 && mark - 1 > event.location
    }

    /// Commands outstanding beyond `--stuck-after`, judged at the end (bounded).
    @exclusivity(unchecked) var stuckCommands: [StuckCommand] = []
    /// The controller's side is in this clock group's inputs.
    @exclusivity(unchecked) var controllerEventsSeen = false
    /// The time of the first controller event (events arrive in time order).
    @exclusivity(unchecked) var controllerStart: Int64 = .min
    /// Per input: whether it holds controller events (its end is where the controller's side
    /// of the story ends).
    @exclusivity(unchecked) var controllerSources: [Bool] = []
    /// Per input: whether it holds the guest's completions (a guest trace, a console's dump): it
    /// shows whether the controller completed anything while it was recording.
    @exclusivity(unchecked) var completionSources: [Bool] = []
    /// The driver's side of a reset, from its admin commands: the I/O SQs it created per
    /// controller, the controllers whose queues it re-created since its last Doorbell Buffer
    /// Config (when), and the I/O it submitted before re-sending the config.
    @exclusivity(unchecked) var driverCreatedSQs: [UInt16: Set<UInt16>] = [:]
    /// When the driver last submitted the creation of each I/O SQ.
    @exclusivity(unchecked) var driverCreations: [QueueKey: Int64] = [:]
    /// Per input, the first event one controller cannot produce (`OneControllerCheck`), in the
    /// order found.
    @exclusivity(unchecked) var queuesCreatedTwice: [QueueCreatedTwice] = []
    /// Per input with controller events, its queues' and doorbell buffer's lifetimes.
    @exclusivity(unchecked) var oneController: [OneControllerCheck] = []
    @exclusivity(unchecked) var awaitingDbbufConfig: [UInt16: Int64] = [:]
    @exclusivity(unchecked) var ioBeforeDbbufConfig: [IOBeforeDbbufConfig] = []
    @exclusivity(unchecked) var ioNotedBeforeDbbufConfig: Set<UInt32> = []
    @exclusivity(unchecked) var driverSentDbbuf: Set<UInt16> = []
    @inline(__always) private func source(_ e: Event) -> Int { Int(e.source) }
    /// The controller fetched I/O commands / received an MMIO doorbell for an I/O queue.
    @exclusivity(unchecked) var ioFetchSeen = false
    @exclusivity(unchecked) var ioQueueMMIOSeen = false

    struct SuppressionKey: Hashable {
        var kind: FindingKind
        var queue: QueueKey
    }

    let locationUnits: [UInt16: SourceLocation.Unit]

    public init(
        options: AnalysisOptions, sources: [UInt16], clock: ClockKind,
        locationUnits: [UInt16: SourceLocation.Unit] = [:]
    ) {
        self.options = options
        self.sources = sources
        self.clock = clock
        self.locationUnits = locationUnits
        self.observerLimit = options.observedEventsPerQueue.map { UInt64(max(0, $0)) } ?? .max
        self.lastTimes = Array(repeating: .min, count: Int(sources.max() ?? 0) + 1)
    }

    func unit(of source: UInt16) -> SourceLocation.Unit { locationUnits[source] ?? .line }

    // MARK: feeding

    /// The last event time of each input merged here: together they cover time only up to
    /// the earliest of these.
    public var lastTimeBySource: [UInt16: Int64] {
        var bySource: [UInt16: Int64] = [:]
        for (source, time) in lastTimes.enumerated() where time != .min { bySource[UInt16(source)] = time }
        return bySource
    }
    /// Whether each input's first event time is kept (`timeSpanBySource`): with `--same-clock`,
    /// or when an input is placed by `--clock-offset`.
    @exclusivity(unchecked) public var tracksTimeSpans = false
    /// The first and last event times of each input merged here (with `tracksTimeSpans`).
    public var timeSpanBySource: [UInt16: ClosedRange<Int64>] {
        var bySource: [UInt16: ClosedRange<Int64>] = [:]
        for (source, first) in firstTimes.enumerated() where first != .max && source < lastTimes.count && lastTimes[source] >= first {
            bySource[UInt16(source)] = first...lastTimes[source]
        }
        return bySource
    }
    /// Each input's earliest event time, `.max` before its first event.
    @exclusivity(unchecked) private var firstTimes: [Int64] = []
    /// `lastTimeBySource` as a flat table indexed by input, `.min` before the input's first
    /// event (a dictionary update per event was a tenth of the analyzer's time).
    @exclusivity(unchecked) private var lastTimes: [Int64] = []
    /// Per input, whether it holds an event other than a guest kernel message: a console's
    /// last message is not where it stopped recording (`coverageEnd`).
    @exclusivity(unchecked) private var recordsIO: [Bool] = []

    /// The last event time of input `source`, if it had any event.
    func lastTime(ofSource source: UInt16) -> Int64? {
        Int(source) < lastTimes.count && lastTimes[Int(source)] != .min ? lastTimes[Int(source)] : nil
    }
    /// The guest's own events (submissions, completions, probes) are part of this analysis.
    @exclusivity(unchecked) public private(set) var driverEventsSeen = false
    /// The first and the latest time of the driver's events (its trace's span on this clock).
    @exclusivity(unchecked) var driverStart: Int64 = .max
    @exclusivity(unchecked) var driverEnd: Int64 = .min

    /// Whether the driver's events span `time`: the guest's trace tells that time itself.
    func driverTraceCovers(_ time: Int64) -> Bool { driverEventsSeen && driverStart <= time && time <= driverEnd }

    public func consume(_ e: Event) {
        eventCount += 1
        if firstTime == nil {
            firstTime = e.time
            firstEventObserver?(e.time)
        }
        if e.time > lastTime { lastTime = e.time }
        let source = Int(e.source)
        if source >= lastTimes.count { lastTimes += Array(repeating: .min, count: source + 1 - lastTimes.count) }
        if e.time > lastTimes[source] { lastTimes[source] = e.time }
        // (A console converted into a pcap has its recording's end as an event too.)
        if e.kind != .guestMessage, e.kind.side != .trace {
            if source >= recordsIO.count { recordsIO += Array(repeating: false, count: source + 1 - recordsIO.count) }
            recordsIO[source] = true
        }
        if tracksTimeSpans {
            // Only `--same-clock` and `--clock-offset` ask when each input begins (`timeSpanBySource`).
            if source >= firstTimes.count { firstTimes += Array(repeating: .max, count: source + 1 - firstTimes.count) }
            if e.time < firstTimes[source] { firstTimes[source] = e.time }
        }
        if e.kind.side == .driver && e.kind != .guestMessage {
            if !driverEventsSeen { driverStart = e.time }
            driverEventsSeen = true
            driverEnd = e.time
        }
        if queues.count >= ClockGroupAnalyzer.queueLimit, needsNewQueue(e) {
            eventsBeyondQueueLimit += 1
            return
        }
        if e.kind.side == .controller {
            if !controllerEventsSeen {
                controllerStart = e.time
                firstControllerEvent = EventRef(e)
            }
            controllerEventsSeen = true
            if source >= controllerSources.count {
                controllerSources += Array(repeating: false, count: source + 1 - controllerSources.count)
                oneController += Array(repeating: OneControllerCheck(), count: source + 1 - oneController.count)
            }
            controllerSources[source] = true
            switch e.kind {
            case .controllerFetch, .controllerShadowRead, .controllerEventIdxWrite:
                if oneController[source].watching { checkOneController(e) }
            case .queueCreate, .queueDelete, .dbbufConfig, .controllerReset: checkOneController(e)
            default: break
            }
        }
        switch e.kind {
        case .driverDoorbellUpdate: driverDoorbellUpdate(e)
        case .driverSubmit: driverSubmit(e)
        case .driverComplete: driverComplete(e)
        case .driverSQHead:
            withQueue(e.queue(.sq), e) { $0.stats.driverHeadReports += 1 }
            driverHandledCompletion(e)
        case .controllerShadowRead: controllerShadowRead(e)
        case .controllerEventIdxWrite: controllerEventIdxWrite(e)
        case .mmioDoorbell:
            if e.qid != 0 { ioQueueMMIOSeen = true }
            mmioDoorbell(e, origin: e.flags & Event.rawRegisterWriteFlag != 0 ? .rawWrite : .controllerEvent)
        case .controllerFetch:
            if e.qid != 0 { ioFetchSeen = true }
            controllerFetch(e)
        case .controllerCompletion: controllerCompletion(e)
        case .queueCreate: queueCreate(e)
        case .queueDelete:
            noteSilenceAtTeardown(e)
            queueDelete(e)
        case .dbbufConfig: dbbufConfig(e)
        case .controllerReset:
            noteSilenceAtMachineReset(e)
            noteSilenceAtTeardown(e)
            controllerReset(e)
        case .dataLoss: dataLossTimes.append(e.time)
        case .recordingEnd: break  // its time extended the input's recording above
        case .guestMessage:
            guestMessage(e)
            // Observers see the message with the state of the queue it names, if that exists.
            if hasObserver, let i = knownIndex(of: e.queue(.sq)) { notify(e, i) }
        case .controllerEnable, .interrupt, .registerWrite: break
        }
        if e.kind.side != .trace { trackHostSide(e) }
    }

    // MARK: queue access

    /// Queue states one clock domain keeps at most (each is a few KiB): events that would need
    /// another are counted in `eventsBeyondQueueLimit` and left out, so hostile input naming
    /// millions of queues cannot exhaust memory. Far above any real controller's queue count.
    public static let queueLimit = 8192
    /// Events left out because they named a queue beyond `queueLimit`.
    @exclusivity(unchecked) public private(set) var eventsBeyondQueueLimit: UInt64 = 0

    /// The snapshot of a queue's state where the array keeps it: `queues[i].snapshot` copied
    /// the whole state out first, retaining and releasing each of its arrays, at every event
    /// an observer was shown.
    private static func snapshot(of q: inout QueueState, dbbufOn: Bool) -> QueueSnapshot {
        var s = q.snapshot
        // An I/O SQ's EventIdx slot the controller has not written since the Doorbell Buffer
        // Config: it holds what the driver left there.
        s.eventIdxUnwrittenSinceConfig = dbbufOn && q.active && q.key.type == .sq && q.key.qid != 0 && q.controllerEventIdx == nil
        return s
    }

    /// Whether `e` would create queue state (checked only once `queueLimit` is reached).
    @inline(never)
    private func needsNewQueue(_ e: Event) -> Bool {
        switch e.kind {
        case .dataLoss, .controllerReset, .controllerEnable, .interrupt, .registerWrite, .dbbufConfig, .guestMessage:
            return false
        default:
            break
        }
        if e.kind == .driverSubmit, e.flags & Event.createsQueueFlag != 0,
            queueIndex[QueueKey(controller: e.controller, qid: UInt16(truncatingIfNeeded: e.b), type: e.queueType)] == nil
        {
            return true
        }
        return queueIndex[e.queue(.sq)] == nil || queueIndex[e.queue(.cq)] == nil
    }

    /// Shows the observer queue `i`'s state after `e`, if it watches that queue.
    @inline(__always)
    func notify(_ e: Event, _ i: Int) {
        // The flags first: loading the observer retains its context, an atomic per event.
        guard hasObserver, observed[i] else { return }
        queues[i].observable &+= 1
        guard queues[i].observable <= observerLimit, let observer else { return }
        observer(e, Self.snapshot(of: &queues[i], dbbufOn: dbbufEnabled.contains(queues[i].key.controller)))
    }

    /// `AnalysisOptions.observedEventsPerQueue`.
    private let observerLimit: UInt64

    /// Marks `cid`'s kernel tag submitted on queue index `queue`; returns the id the tag was
    /// last submitted under before (nil: none, the same, or not kept).
    @inline(__always) @discardableResult
    func markSubmitted(_ queue: Int, tag cid: UInt32) -> UInt32? {
        if queue >= tagsSubmitted.count { tagsSubmitted += Array(repeating: [], count: queue + 1 - tagsSubmitted.count) }
        if tagsSubmitted[queue].isEmpty { tagsSubmitted[queue] = Array(repeating: 0, count: 64) }
        let tag = Int(cid & 0xFFF)
        tagsSubmitted[queue][tag >> 6] |= 1 << UInt64(tag & 63)
        guard queue < Self.tagOwnersQueueLimit, cid <= UInt32(UInt16.max) else { return nil }
        if queue >= tagOwners.count { tagOwners += Array(repeating: [], count: queue + 1 - tagOwners.count) }
        if tagOwners[queue].isEmpty { tagOwners[queue] = Array(repeating: -1, count: 4096) }
        let previous = tagOwners[queue][tag]
        tagOwners[queue][tag] = Int32(cid)
        return previous >= 0 && UInt32(previous) != cid ? UInt32(previous) : nil
    }

    /// Whether the trace showed a submission of `cid`'s kernel tag on `key`.
    func wasSubmitted(_ key: QueueKey, tag cid: UInt32) -> Bool {
        guard let i = knownIndex(of: key), i < tagsSubmitted.count, !tagsSubmitted[i].isEmpty else { return false }
        let tag = Int(cid & 0xFFF)
        return tagsSubmitted[i][tag >> 6] & (1 << UInt64(tag & 63)) != 0
    }

    /// The queue's index when its state exists.
    @inline(__always)
    func knownIndex(of key: QueueKey) -> Int? {
        if key.controller < 4 && key.qid < 256 {
            let known = denseQueueIndex[Int(key.controller) << 9 | Int(key.qid) << 1 | Int(key.type.rawValue & 1)]
            return known >= 0 ? Int(known) : nil
        }
        return queueIndex[key]
    }

    @inline(__always)
    func index(of key: QueueKey) -> Int {
        // The common queues (controllers 0–3, qid < 256) are found by table, not by hashing.
        if key.controller < 4 && key.qid < 256 {
            let known = denseQueueIndex[Int(key.controller) << 9 | Int(key.qid) << 1 | Int(key.type.rawValue & 1)]
            if known >= 0 { return Int(known) }
        }
        return addQueue(key)
    }

    /// The queue's index, creating its state on first sight (kept out of line: rare).
    @inline(never)
    private func addQueue(_ key: QueueKey) -> Int {
        let i: Int
        if let known = queueIndex[key] {
            i = known
        } else {
            queues.append(QueueState(key: key))
            observed.append(options.observedQueues?.contains(key) ?? true)
            i = queues.count - 1
            queueIndex[key] = i
        }
        if key.controller < 4 && key.qid < 256 {
            denseQueueIndex[Int(key.controller) << 9 | Int(key.qid) << 1 | Int(key.type.rawValue & 1)] = Int32(i)
        }
        return i
    }

    @exclusivity(unchecked) private var denseQueueIndex = [Int32](repeating: -1, count: 4 << 9)

    /// Applies `body` to the queue's state, then re-evaluates the mutual-wait conditions.
    func withQueue(_ key: QueueKey, _ e: Event, evaluate: Bool = false, _ body: (inout QueueState) -> Void) {
        let i = index(of: key)
        body(&queues[i])
        if evaluate { evaluateMutualWait(&queues[i], at: e) }
        notify(e, i)
    }

    /// As `withQueue`, but the observer is shown `e` only when `body` returns true (an event
    /// that only repeats one it was shown already changes the state, and is not shown again).
    func showingIf(_ key: QueueKey, _ e: Event, evaluate: Bool = false, _ body: (inout QueueState) -> Bool) {
        let i = index(of: key)
        let shown = body(&queues[i])
        if evaluate { evaluateMutualWait(&queues[i], at: e) }
        if shown { notify(e, i) }
    }

    // MARK: driver side

    private func driverDoorbellUpdate(_ e: Event) {
        let key = e.queue
        withQueue(key, e, evaluate: true) { q in
            if !q.probeMode, let w = q.window, w.inferred {
                // The first probe tells what the driver really did: a wait inferred from the
                // submissions before it is superseded.
                q.window = nil
            }
            q.probeMode = true
            q.active = true
            q.stats.driverShadowWrites += 1
            checkRange(&q, e, value: e.a, what: "old")
            checkRange(&q, e, value: e.b, what: "new")
            checkRange(&q, e, value: e.c, what: "eventidx")
            checkDoorbellDecision(&q, e)
            checkStaleShadowSeenByDriver(&q, e)
            q.published = e.b
            q.driverEventIdxRead = e.c
            q.driverEventIdxReads += 1
            if e.c != 0 { q.driverReadNonZeroEventIdx = true }
            q.notePublishedSinceCreation(e.b)
            settleStaleRead(&q, at: e)
            if e.b != q.controllerSeen {
                var p = Publication(
                    value: e.b, old: e.a, eventIdxRead: e.c, at: EventRef(e),
                    controllerEventIdxBefore: q.controllerEventIdxAt.map { (q.controllerEventIdx ?? 0, $0) })
                if let latest = q.controllerEventIdx, latest != e.c {
                    p.eventIdxReadWasReplaced = e.c == 0 || q.eventIdxHistory.dropLast().contains(e.c)
                }
                q.recordPublication(p)
            }
            notePublicationForRace(&q, at: e.time)
            if e.rangMMIO {
                registerDoorbell(&q, value: e.b, origin: .probe, e)
            } else {
                q.stats.driverUpdatesWithoutMMIO += 1
            }
        }
    }

    private func driverSubmit(_ e: Event) {
        let ck = commandKey(e.controller, e.qid, e.a)
        if outstanding.count >= ClockGroupAnalyzer.outstandingCommandLimit, outstanding.slot(of: ck) == nil {
            submissionsBeyondCommandLimit += 1
            return
        }
        let key = e.queue(.sq)
        if e.qid == 0, e.flags & (Event.abortsCommandFlag | Event.deletesQueueFlag) != 0 { driverGiveUp(e) }
        if e.qid == 0, e.flags & Event.dbbufConfigFlag != 0 { driverDbbufConfig(e) }
        if e.qid == 0, e.flags & Event.deletesQueueFlag != 0, e.queueType == .sq, e.b != 0, e.b <= UInt32(UInt16.max) {
            // A queue the driver deletes existed: its next creation is a re-creation.
            driverDeletedSQ(QueueKey(controller: e.controller, qid: UInt16(e.b), type: .sq))
        }
        if e.qid != 0 {
            // Its kernel tag's earlier command, still outstanding: it ended before now, where
            // the trace does not show (a lost or filtered completion, a cancellation at a reset
            // left out). Judged up to here, and let go.
            if let earlier = markSubmitted(index(of: key), tag: e.a) { endedUnseen(cmdid: earlier, by: e, tagReused: true) }
            if !awaitingDbbufConfig.isEmpty { noteIOBeforeDbbufConfig(e) }
        }
        if e.flags & Event.createsQueueFlag != 0 {
            // The admin command creating a queue tells its size before the controller acts.
            let created = QueueKey(controller: e.controller, qid: UInt16(truncatingIfNeeded: e.b), type: e.queueType)
            let i = index(of: created)
            let entries = checkedEntries(&queues[i], qsize: e.c, e)
            queues[i].entries = entries
            if created.type == .sq, created.qid != 0 { driverCreatedSQ(created, e) }
        }
        // On aligned clocks a fetch can appear just before its submission (within the
        // alignment uncertainty): pair them instead of counting the command as unfetched.
        var alreadyFetched = false
        if let tolerance = earlyFetchTolerance, let fetchedAt = earlyFetches.removeValue(forKey: ck),
            e.time - fetchedAt <= tolerance
        {
            alreadyFetched = true
        }
        // The same command id submitted again while its earlier life is outstanding: that life
        // ended where the trace does not show (its completion is on a CPU the trace leaves out,
        // or lost). Judged up to here: one CPU's part of a hang dropped its stuck commands.
        if e.qid != 0 { endedUnseen(cmdid: e.a, by: e, tagReused: false) }
        outstanding.set(ck, CommandRecord(submittedAt: EventRef(e), fetched: alreadyFetched))
        withQueue(key, e, evaluate: true) { q in
            q.stats.commandsSubmitted += 1
            if e.a > UInt32(UInt16.max) { reportCommandIDOutOfRange(&q, e) }
            q.submittedSinceCreation += 1
            guard !alreadyFetched else { return }
            q.unfetched += 1
            if q.pendingSubmissions.count < QueueState.publicationLimit {
                q.pendingSubmissions.append(PendingSubmission(cmdid: e.a, at: EventRef(e)))
            }
            if !q.probeMode { notePublicationForRace(&q, at: e.time) }
        }
    }

    /// Command `cmdid` of `e`'s SQ, if still outstanding, ended before the submission `e` of
    /// its id or kernel tag (`tagReused`), where the trace does not show: judged up to `e` and
    /// let go, as a completion would (unfetched, it counts as published work no more). Where
    /// the driver created the SQ again since (a reset), it cancelled the command there and
    /// requeued it.
    private func endedUnseen(cmdid: UInt32, by e: Event, tagReused: Bool) {
        let ck = commandKey(e.controller, e.qid, cmdid)
        guard let slot = outstanding.slot(of: ck) else { return }
        let record = outstanding[slot: slot]
        let key = e.queue(.sq), i = index(of: key)
        let requeued = (driverCreations[key] ?? .min) > record.submittedAt.time
        if requeued { queues[i].cancelledUnseen &+= 1 }
        checkStuckCommand(controller: e.controller, qid: e.qid, cmdid: cmdid, record: record, completedAt: nil, status: nil,
                          resubmittedAt: EventRef(e), requeued: requeued, tagReused: tagReused)
        outstanding.removeValue(forKey: ck)
        if !record.fetched {
            queues[i].unfetched = max(0, queues[i].unfetched - 1)
            queues[i].pendingSubmissions.removeAll { $0.cmdid == cmdid }
        }
    }

    private func driverComplete(_ e: Event) {
        let ck = commandKey(e.controller, e.qid, e.a)
        let record = outstanding.removeValue(forKey: ck)
        if let host = record?.hostCompletion, host.source != e.source, e.source < 64, host.source < 64, host.location < .max {
            if causalMarks.isEmpty { causalMarks = Array(repeating: 0, count: 64 * 64) }
            let k = Int(e.source) << 6 | Int(host.source)
            if causalMarks[k] <= host.location { causalMarks[k] = host.location + 1 }
        }
        if e.qid != 0, e.b == NVMeStatus.hostAborted { driverGiveUp(e, submittedInTrace: record != nil || wasSubmitted(e.queue(.sq), tag: e.a)) }
        if let record {
            checkStuckCommand(controller: e.controller, qid: e.qid, cmdid: e.a, record: record,
                              completedAt: EventRef(e), status: e.b)
        }
        if source(e) >= completionSources.count { completionSources += Array(repeating: false, count: source(e) + 1 - completionSources.count) }
        completionSources[source(e)] = true
        withQueue(e.queue(.sq), e, evaluate: true) { q in
            q.stats.commandsCompleted += 1
            q.lastDriverCompletion = e.time
            if e.b == 0 {
                q.lastAnsweredCompletion = e.time
                if let record { q.longestAnsweredLatency = max(q.longestAnsweredLatency, e.time &- record.submittedAt.time) }
            }
            if let record, !record.fetched {
                // Completed without being fetched: cancelled by the driver (reset, abort).
                q.unfetched = max(0, q.unfetched - 1)
                q.pendingSubmissions.removeAll { $0.cmdid == e.a }
            }
        }
    }

    // MARK: controller side

    private func controllerShadowRead(_ e: Event) {
        withQueue(e.queue, e, evaluate: true) { q in
            q.active = true
            q.stats.controllerShadowReads += 1
            if q.firstControllerRead == nil { q.firstControllerRead = EventRef(e) }
            q.lastControllerRead = EventRef(e)
            checkRange(&q, e, value: e.a, what: "shadow read")
            settleStaleRead(&q, at: e)
            checkStaleShadow(&q, e)
            q.controllerSeen = e.a
            q.mmioSinceLook = false
            q.controllerCaughtUp(to: e.a)
            switch q.key.type {
            case .sq: sqRead(&q, e)
            case .cq: cqPostAttempt(&q, e)
            }
        }
    }

    /// SQ: the controller reads the tail at the start of a burst and after every fetch; the
    /// burst ends when the value read equals the index it has fetched up to.
    private func sqRead(_ q: inout QueueState, _ e: Event) {
        if q.controllerIndex == nil || q.entries == 0, let previous = q.readWithoutFetch {
            // Two reads with no fetch between them: the first one ended a burst (trace began
            // mid-run). Without the queue's size (its creation is not in the trace) the counted
            // index cannot wrap with the ring, so it is re-learned at every burst boundary.
            q.controllerIndex = previous
        }
        q.readWithoutFetch = e.a
        q.controllerWaiting = q.controllerIndex == e.a
        if q.controllerWaiting {
            q.waitingSince = EventRef(e)
            noteBurstEndForRace(&q, at: e.time)
        }
        noteVisibleWork(&q, e, tail: e.a)
    }

    /// CQ: one head read per completion the controller tries to post; full means it must wait.
    private func cqPostAttempt(_ q: inout QueueState, _ e: Event) {
        guard q.pendingCompletions > 0 else {
            q.controllerWaiting = false
            return
        }
        if let tail = q.controllerIndex, q.entries > 0 {
            if RingIndex.advance(tail, entries: q.entries) == e.a {
                if !q.controllerWaiting { noteBurstEndForRace(&q, at: e.time) }
                q.controllerWaiting = true
                q.waitingSince = EventRef(e)
                return
            }
            q.controllerIndex = RingIndex.advance(tail, entries: q.entries)
        }
        q.pendingCompletions -= 1
        q.controllerWaiting = false
        // The posting burst ends when nothing is left to post.
        if q.pendingCompletions == 0 { noteBurstEndForRace(&q, at: e.time) }
    }

    private func controllerEventIdxWrite(_ e: Event) {
        withQueue(e.queue, e) { q in
            q.active = true
            q.stats.controllerEventIdxWrites += 1
            checkRange(&q, e, value: e.a, what: "EventIdx")
            checkEventIdxRegression(&q, e)
            q.controllerEventIdx = e.a
            q.controllerEventIdxAt = EventRef(e)
            q.slotEventIdx = e.a
            if q.eventIdxHistory.last != e.a {
                if q.eventIdxHistory.count >= 16 { q.eventIdxHistory.removeFirst() }
                q.eventIdxHistory.append(e.a)
            }
        }
    }

    enum DoorbellOrigin: UInt8 {
        case probe = 1, rawWrite = 2, controllerEvent = 4

        /// The origins that are an `.mmioDoorbell` event of their own (not the driver's probe).
        static let mmioEvents = rawWrite.rawValue | controllerEvent.rawValue
    }

    /// An MMIO doorbell the controller received. QEMU logs one doorbell twice, as the raw
    /// register write (`pci_nvme_mmio_write`) and as the controller's doorbell event
    /// (`pci_nvme_mmio_doorbell_sq` / `_cq`): observers (timeline, Perfetto, report pictures)
    /// are shown the first of them only, as the doorbell is counted once (`registerDoorbell`).
    private func mmioDoorbell(_ e: Event, origin: DoorbellOrigin) {
        let dbbufOff = !dbbufEnabled.contains(e.controller)
        showingIf(e.queue, e, evaluate: true) { (q: inout QueueState) -> Bool in
            q.active = true
            checkRange(&q, e, value: e.a, what: "MMIO doorbell")
            let earlier = registerDoorbell(&q, value: e.a, origin: origin, e)
            // With the doorbell buffer off no shadow read follows: the doorbell is what the
            // controller sees.
            if dbbufOff { q.controllerCaughtUp(to: e.a) }
            noteVisibleWork(&q, e, tail: e.a)
            return earlier & DoorbellOrigin.mmioEvents == 0
        }
    }

    /// One physical doorbell can show up as a driver probe, a raw register write and a
    /// controller doorbell event: count it once. Returns the origins the doorbell was seen
    /// from before `origin` (0: a doorbell not seen before).
    @discardableResult
    func registerDoorbell(_ q: inout QueueState, value: UInt32, origin: DoorbellOrigin, _ e: Event) -> UInt8 {
        let earlier: UInt8
        if q.lastDoorbellValue == value, q.lastDoorbellOrigins & origin.rawValue == 0 {
            earlier = q.lastDoorbellOrigins
            q.lastDoorbellOrigins |= origin.rawValue
        } else {
            earlier = 0
            q.stats.mmioDoorbells += 1
            q.lastDoorbellValue = value
            q.lastDoorbellOrigins = origin.rawValue
        }
        q.controllerSeen = value
        q.mmioSinceLook = true
        q.controllerWaiting = false
        // Publications stay "unseen" until a shadow read returns them: QEMU overwrites the
        // doorbell's tail with the next shadow read, so a stale read after a doorbell still
        // loses the published value (and the publication is the evidence of why).
        return earlier
    }

    /// Follows the input's queues and doorbell buffer (`OneControllerCheck`), and keeps the
    /// first event of it one controller cannot produce.
    private func checkOneController(_ e: Event) {
        let s = source(e)
        oneController[s].consume(e)
        if let found = oneController[s].found, !queuesCreatedTwice.contains(where: { $0.again.source == e.source }) {
            queuesCreatedTwice.append(found)
        }
    }

    private func controllerFetch(_ e: Event) {
        let ck = commandKey(e.controller, e.qid, e.a)
        let slot = outstanding.slot(of: ck)
        let unfetched = slot.map { !outstanding[slot: $0].fetched } ?? false
        if earlyFetchTolerance != nil, e.qid != 0, !unfetched {
            rememberEarlyFetch(ck, at: e.time)
        }
        if let slot, unfetched {
            outstanding[slot: slot].fetched = true
            outstanding[slot: slot].fetchedAt = e.time
            let i = index(of: e.queue(.sq))
            queues[i].unfetched = max(0, queues[i].unfetched - 1)
            if let p = queues[i].pendingSubmissions.firstIndex(where: { $0.cmdid == e.a }) {
                queues[i].pendingSubmissions.remove(at: p)
            }
        }
        let dbbufOn = dbbufEnabled.contains(e.controller)
        // No MMIO doorbell of an I/O queue in the input so far: QEMU with ioeventfd=on handles
        // them without a trace event.
        let doorbellsUntraced = !ioQueueMMIOSeen && e.qid != 0
        withQueue(e.queue(.sq), e, evaluate: true) { q in
            closeVisibleWork(&q, at: e, resolution: .controllerFetch)
            q.active = true
            q.stats.commandsFetched += 1
            q.readWithoutFetch = nil
            if let index = q.controllerIndex {
                if index == q.controllerSeen {
                    if !dbbufOn && doorbellsUntraced && q.entries > 0 {
                        // With the doorbell buffer off the controller works from MMIO tails
                        // alone: an untraced doorbell announced at least this command.
                        let next = RingIndex.advance(index, entries: q.entries)
                        q.controllerIndex = next
                        q.controllerSeen = next
                    } else {
                        // Fetched past the tail we believed: a doorbell or read is missing from
                        // the trace. Re-learn the fetch index at the next burst end.
                        q.controllerIndex = nil
                    }
                } else {
                    q.controllerIndex = RingIndex.advance(index, entries: q.entries)
                }
            }
            // Having fetched up to a doorbell's tail without shadow doorbells, the controller has
            // seen what the driver published up to there.
            if !dbbufOn, let index = q.controllerIndex { q.controllerCaughtUp(to: index) }
            // Without shadow doorbells the controller works from MMIO values only: it waits
            // again as soon as it has fetched up to the last doorbell.
            if !dbbufOn || q.key.qid == 0, let index = q.controllerIndex, index == q.controllerSeen {
                q.controllerWaiting = true
                q.waitingSince = EventRef(e)
                q.mmioSinceLook = false
            } else {
                q.controllerWaiting = false
            }
        }
    }

    private func controllerCompletion(_ e: Event) {
        let dbbufOn = dbbufEnabled.contains(e.controller)
        // (An I/O CQ's commands come from the SQ of its id: Linux pairs them.)
        if let slot = outstanding.slot(of: commandKey(e.controller, e.qid, e.a)) {
            outstanding[slot: slot].hostCompletion = (e.source, e.location)
        }
        withQueue(e.queue(.cq), e, evaluate: true) { q in
            q.active = true
            q.stats.completionsQueued += 1
            if dbbufOn {
                q.pendingCompletions += 1
            } else if let tail = q.controllerIndex, q.entries > 0 {
                // Without the doorbell buffer the controller posts from the MMIO head it knows,
                // with no shadow read to show it: the CQE is posted.
                q.controllerIndex = RingIndex.advance(tail, entries: q.entries)
            }
        }
    }

    // MARK: queue and controller lifetime

    private func queueCreate(_ e: Event) {
        withQueue(e.queue, e, evaluate: true) { q in
            closeWindow(&q, at: e, resolution: .queueRecreated)
            closeVisibleWork(&q, at: e, resolution: .queueRecreated)
            q.deactivate()
            q.active = true
            let entries = checkedEntries(&q, qsize: e.a, e)
            q.entries = entries
            q.controllerSeen = 0
            q.controllerIndex = 0
            q.stats.resets += 1
            q.created = EventRef(e)
            q.createdBeforeFirstProbe = EventRef(e)
            if q.key.type == .sq {
                // A new SQ is empty and its controller waits for the first doorbell.
                q.controllerWaiting = true
                q.waitingSince = EventRef(e)
            } else if q.key.qid != 0 {
                q.inferredHead = 0
            }
        }
        if e.queueType == .sq { dropCommands(controller: e.controller, qid: e.qid, at: e.time) }
    }

    /// The guest handled a completion entry of queue `e.qid`'s CQ (Linux traces `nvme_sq` once
    /// per CQE it handles; its CQ has the SQ's number): without the driver's CQ probe, its CQ
    /// head moves one step, and the shadow head it will publish is inferred from the count.
    private func driverHandledCompletion(_ e: Event) {
        guard e.qid != 0, let i = knownIndex(of: e.queue(.cq)), !queues[i].probeMode, let head = queues[i].inferredHead,
            queues[i].entries > 0
        else { return }
        queues[i].inferredHead = RingIndex.advance(head, entries: queues[i].entries)
        queues[i].inferredHeadAt = EventRef(e)
        // Only a controller waiting for CQ space (or a window open) can change the verdict.
        if queues[i].controllerWaiting || queues[i].window != nil { evaluateMutualWait(&queues[i], at: e) }
        // A step of the CQ too: its inferred head moved (the steps of an inferred CQ wait showed
        // only the controller's events).
        notify(e, i)
    }

    private func queueDelete(_ e: Event) {
        withQueue(e.queue, e) { q in
            closeWindow(&q, at: e, resolution: .queueDeleted)
            closeVisibleWork(&q, at: e, resolution: .queueDeleted)
            q.deactivate()
        }
        if e.queueType == .sq { dropCommands(controller: e.controller, qid: e.qid, at: e.time) }
    }

    private func dbbufConfig(_ e: Event) {
        dbbufEnabled.insert(e.controller)
        lastDbbufConfig[e.controller] = EventRef(e)
        for i in queues.indices where queues[i].key.controller == e.controller {
            closeWindow(&queues[i], at: e, resolution: .dbbufConfig)
            notify(e, i)
        }
    }

    private func controllerReset(_ e: Event) {
        dbbufEnabled.remove(e.controller)
        // A new QEMU process: the work the last one saw ended with its run, where it was last
        // seen working (a log cut mid-burst and another run appended made a 621 s controller
        // idle with work, and a QEMU bug, of the time between the processes).
        let runEnd = e.a == ResetReason.newProcess.rawValue ? lastFetchTime(of: e.controller) : nil
        for i in queues.indices where queues[i].key.controller == e.controller {
            closeWindow(&queues[i], at: e, resolution: .controllerReset)
            if let runEnd {
                finishVisibleWorkAtEnd(&queues[i], endTime: runEnd)
            } else {
                closeVisibleWork(&queues[i], at: e, resolution: .controllerReset)
            }
            if queues[i].active { queues[i].stats.resets += 1 }
            queues[i].deactivate()
            notify(e, i)
        }
    }

    /// Commands on a deleted SQ will not be fetched from it any more: a later fetch of the same
    /// cid is another command's.
    private func dropCommands(controller: UInt16, qid: UInt16, at time: Int64) {
        let prefix = commandKey(controller, qid, 0) >> 32
        outstanding.updateAll(where: { $0 >> 32 == prefix }) {
            if !$0.fetched { $0.queueDeletedAt = time }
            $0.fetched = true
        }
    }

    /// How far a submission may trail its fetch on aligned clocks; nil on one clock.
    var earlyFetchTolerance: Int64? {
        alignmentUncertainty.map { 2 * $0 + 1_000_000 }
    }

    /// Remembers a fetch that came before its submission (within the clocks' tolerance). The
    /// table is trimmed of fetches beyond the tolerance when it has doubled since the last trim
    /// (so a flood of fetches within the tolerance costs linear time, not a filter per fetch),
    /// and never holds more than `earlyFetchLimit` (hostile input; a real trace holds a few).
    private func rememberEarlyFetch(_ key: UInt64, at time: Int64) {
        if earlyFetches.count >= earlyFetchTrimAt {
            if let tolerance = earlyFetchTolerance {
                var kept = CommandTable<Int64>()
                for (key, at) in earlyFetches.entries(where: { time - $0 <= tolerance }) { kept.set(key, at) }
                earlyFetches = kept
            }
            earlyFetchTrimAt = max(4096, 2 * earlyFetches.count)
        }
        guard earlyFetches.count < Self.earlyFetchLimit || earlyFetches.slot(of: key) != nil else { return }
        earlyFetches.set(key, time)
    }

    /// Early fetches kept at most (16 bytes and a hash slot each: a few MiB).
    static let earlyFetchLimit = 1 << 18
    @exclusivity(unchecked) private var earlyFetchTrimAt = 4096

    /// A command's key: NVMe's command identifier is 16 bits, so only its low 16 bits count (a
    /// larger one is reported at its submission) and one SQ has at most 65,536 keys.
    func commandKey(_ controller: UInt16, _ qid: UInt16, _ cmdid: UInt32) -> UInt64 {
        UInt64(controller) << 48 | UInt64(qid) << 32 | UInt64(cmdid & 0xFFFF)
    }

    /// Outstanding commands one clock domain keeps at most, over all its queues (one SQ has at
    /// most 65,536: the command identifier is 16 bits). A slot of `outstanding` is 64 bytes and
    /// the table is at most half full, so at the limit it holds 32 MiB. Submissions of further
    /// commands are counted in `submissionsBeyondCommandLimit` and left out, so hostile input
    /// that submits millions of commands and never completes them cannot exhaust memory. Far
    /// above a real host's commands in flight (Linux: at most 1023 per queue by default).
    public static let outstandingCommandLimit = 1 << 18
    /// Submissions left out because `outstandingCommandLimit` commands were outstanding.
    @exclusivity(unchecked) public private(set) var submissionsBeyondCommandLimit: UInt64 = 0

    // MARK: race exposure

    private func notePublicationForRace(_ q: inout QueueState, at t: Int64) {
        q.lastPublicationTime = t
        q.lastPublicationCountedAsRace = false
        if let end = q.lastBurstEnd, t - end <= options.raceWindow, t >= end {
            q.stats.raceExposure += 1
            q.lastPublicationCountedAsRace = true
        }
    }

    private func noteBurstEndForRace(_ q: inout QueueState, at t: Int64) {
        q.lastBurstEnd = t
        if !q.lastPublicationCountedAsRace, let p = q.lastPublicationTime, t - p <= options.raceWindow {
            q.stats.raceExposure += 1
            q.lastPublicationCountedAsRace = true
        }
    }

    // MARK: findings

    /// `admitted`: a mutual wait whose place under --max-hangs-per-queue was already taken
    /// (`admitsHang`, asked before its story is written).
    func report(_ finding: Finding, admitted: Bool = false) {
        let key = SuppressionKey(kind: finding.kind, queue: finding.queue)
        if finding.kind == .mutualWait {
            guard admitted || admitsHang(finding.queue, start: finding.start, end: finding.end) else { return }
        } else if finding.isGuestGiveUp {
            // A give-up is a hang of its queue, as a mutual wait is: kept here, and held to
            // --max-hangs-per-queue once its start is dated (`capGiveUps`).
        } else {
            let kept = keptPerKindAndQueue[key, default: 0]
            if kept >= options.findingsPerQueueLimit {
                suppressed[key, default: 0] += 1
                return
            }
            keptPerKindAndQueue[key] = kept + 1
        }
        findings.append(finding)
    }

    /// Whether a mutual wait of `queue` is kept under --max-hangs-per-queue: past the limit one
    /// that ended is counted with its time and span, not kept; one still open where the input
    /// ends (`end` nil) is kept whatever the count (the most important one).
    func admitsHang(_ queue: QueueKey, start: Int64, end: Int64?) -> Bool {
        guard options.hangsPerQueueLimit > 0, let end else { return true }
        let key = SuppressionKey(kind: .mutualWait, queue: queue)
        let kept = keptPerKindAndQueue[key, default: 0]
        guard kept >= options.hangsPerQueueLimit else {
            keptPerKindAndQueue[key] = kept + 1
            return true
        }
        suppressed[key, default: 0] += 1
        suppressedHangs[key, default: 0] += 1
        suppressedHangTime[key, default: 0] &+= max(0, end &- start)
        suppressedWindows.append((queue, start, end))
        return false
    }

    /// Input `source` recorded until `time` (its `InputSummary.recordedUntil` on this clock),
    /// past its last event: its coverage, and the group's, reach that far.
    public func recorded(source: UInt16, until time: Int64) {
        let s = Int(source)
        guard s < lastTimes.count, lastTimes[s] != .min, time > lastTimes[s] else { return }
        lastTimes[s] = time
        if time > lastTime { lastTime = time }
    }

    /// Closes open windows at the end of the input and returns the group's result.
    public func finish() -> GroupResult {
        let end = lastTime
        let outstandingAtEnd = outstandingAtTheEnd()
        let guestEnd = completionsRecordedUntil
        for i in queues.indices {
            // A wait open where the controller's trace ends, while the guest's trace goes on
            // recording and shows no completion on the queue since: the guest's side shows the
            // controller did nothing for it, so the wait lasted as long (a controller asleep on
            // every queue logs nothing, and its log ends at its last event: a VM hung on both
            // queues was judged over the 0.6 ms the log covered, and passed).
            var end = coverageEnd
            if let guestEnd, guestEnd > end, let w = queues[i].window, w.start.time <= end {
                let sq = knownIndex(of: QueueKey(controller: queues[i].key.controller, qid: queues[i].key.qid, type: .sq))
                let last = sq.map { queues[$0].lastDriverCompletion } ?? .min
                // Only a guest trace that went on past the settling time by longer than the
                // queue's commands took to complete shows it: one that ends sooner (a QEMU log cut
                // 0.1–1 ms before the guest's trace of a healthy run) could not have shown the
                // completions of its last submissions, which then read as a wait to its end (an
                // error from 1 ms on).
                let settled = completionsSettled(after: end)
                let latency = sq.map { min(queues[$0].longestAnsweredLatency, options.inferredMinWait) } ?? 0
                let shown = settled.addingReportingOverflow(latency)
                if !shown.overflow, guestEnd > shown.partialValue, last <= settled { end = guestEnd }
            }
            finishWindowAtEnd(&queues[i], endTime: end)
            settleStaleRead(&queues[i], at: nil)
            finishVisibleWorkAtEnd(&queues[i], endTime: coverageEnd)
        }
        judgeWindowsPastTheControllerEnd()
        reportHostSideStalls()
        reportCQEventIdxVisibility()
        reportCommandsNeverCompleted()
        assignStuckCommands()
        // A give-up told from the guest's ABORTs or timeout messages spans, once its commands
        // are assigned, from the oldest one's submission: lost events there leave it uncertain,
        // as a stuck command's (a `CPU:1 [LOST 500 EVENTS]` inside a hang said nothing).
        for k in findings.indices where findings[k].kind == .stuckCommand
            && !findings[k].uncertainty.contains(where: { $0.hasPrefix("the recorder lost events") })
            && dataLoss(from: findings[k].start, to: findings[k].end ?? lastTime) > 0
        {
            findings[k].uncertainty.append(Self.lostWhileOutstanding)
        }
        capGiveUps()
        markPoorAlignment()
        let missing = completionsMissing()
        if missing != nil {
            for k in findings.indices where findings[k].kind == .stuckCommand || findings[k].inferred {
                findings[k].uncertainty.append(Self.completionsMissingWhy)
            }
        } else {
            // One queue's: more commands without a completion than it can hold at once (`trace-
            // cmd report -S` drops the softirq context a quarter of them run in).
            for k in findings.indices where findings[k].kind == .stuckCommand && findings[k].queue.qid != 0 {
                guard let i = knownIndex(of: findings[k].queue), let why = Self.queueLacksCompletions(queues[i]) else { continue }
                findings[k].uncertainty.append(why)
            }
        }
        let late = lateCommandsAtTheEnd()
        let afterControllerEnd = commandsAfterTheControllerEnd(outstandingAtEnd)
        let silent = silentQueuesAtTheEnd()
        var suppressedList = suppressed.map {
            SuppressedFindings(kind: $0.key.kind, queue: $0.key.queue, count: $0.value,
                               hangs: suppressedHangs[$0.key] ?? 0, durationNs: suppressedHangTime[$0.key] ?? 0)
        }
        suppressedList.sort { ($0.queue, $0.kind.rawValue) < ($1.queue, $1.kind.rawValue) }
        return GroupResult(
            sources: sources, clock: clock, firstTime: firstTime ?? 0, lastTime: end,
            events: eventCount, queues: queues.sorted { $0.key < $1.key },
            findings: findings, suppressed: suppressedList, dataLossTimes: dataLossTimes,
            eventsBeyondQueueLimit: eventsBeyondQueueLimit,
            submissionsBeyondCommandLimit: submissionsBeyondCommandLimit,
            ioWithoutTracedDoorbells: ioFetchSeen && !ioQueueMMIOSeen, lateCommands: late, completionsMissing: missing, silentQueues: silent,
            silencesBeforeTeardown: silencesBeforeTeardownToTell(),
            outstandingAtEnd: outstandingAtEnd, afterControllerEnd: afterControllerEnd,
            // (Without a config in the trace, only of a driver seen sending one: one that never
            // does has no doorbell buffer to restart before.)
            ioBeforeDbbufConfig: ioBeforeDbbufConfig.filter { $0.config != nil || driverSentDbbuf.contains($0.controller) },
            controllerEventsSeen: controllerEventsSeen, driverEventsSeen: driverEventsSeen, unexplainedGiveUps: unexplainedGiveUps(),
            adminCompletionsLeftOut: adminCompletionsLeftOut(), queuesCreatedTwice: queuesCreatedTwice)
    }

    /// Controllers whose admin commands the guest trace holds without any of their completions,
    /// though an I/O SQ whose creation it submitted answered I/O after that: the creation
    /// completed, so the admin queue's completions were left out of the trace (a grep of one
    /// queue's lines keeps the admin commands that name it, and none of their completions).
    func adminCompletionsLeftOut() -> Set<UInt16> {
        var out: Set<UInt16> = []
        for (key, created) in driverCreations where !out.contains(key.controller) {
            guard let sq = knownIndex(of: key), queues[sq].lastAnsweredCompletion > created,
                let admin = knownIndex(of: QueueKey(controller: key.controller, qid: 0, type: .sq)),
                queues[admin].stats.commandsSubmitted > 0, queues[admin].stats.commandsCompleted == 0
            else { continue }
            out.insert(key.controller)
        }
        return out
    }

    /// How late the guest may complete what the controller completed just before its trace
    /// ended (an interrupt's latency, the clocks' alignment) and still show nothing done after
    /// it: `end` + `--min-wait`, at least 1 ms.
    func completionsSettled(after end: Int64) -> Int64 {
        let settle = end.addingReportingOverflow(max(options.minWait, 1_000_000))
        return settle.overflow ? Int64.max : settle.partialValue
    }

    /// The guest's completions the trace lacks: fewer than half of 1000 or more I/O submissions
    /// completed. A hang stops at most the commands in flight (a queue's depth); a trace
    /// without most completions was filtered (`trace-cmd report -I` leaves out the hardirq
    /// context `nvme_complete_rq` runs in) or recorded without the event. (`-S`, which drops a
    /// quarter of them on the real runs, is not told from the commands a run with many resets
    /// strands: the simulated runs strand 1–2 %.)
    func completionsMissing() -> (submitted: UInt64, completed: UInt64)? {
        var submitted: UInt64 = 0, completed: UInt64 = 0
        for q in queues where q.key.type == .sq && q.key.qid != 0 {
            submitted &+= q.stats.commandsSubmitted
            completed &+= q.stats.commandsCompleted
        }
        guard submitted >= 1000, completed < submitted / 2 else { return nil }
        return (submitted, completed)
    }

    /// Why an I/O SQ's trace lacks completions: more of its submissions have none than the
    /// queue holds at once (its entries, Linux's 1024 when unknown; cancellations at a reset
    /// are completions too, with status 0x371). Nil when it does not.
    static func queueLacksCompletions(_ q: QueueState) -> String? {
        let depth = UInt64(q.entries > 0 ? q.entries : 1024)
        // (Commands requeued after a reset with no cancellation traced are no completion left
        // out by a filter: a trace without Linux's cancellations, as the simulator writes.)
        let submitted = q.stats.commandsSubmitted, completed = q.stats.commandsCompleted &+ q.cancelledUnseen
        guard submitted > completed, submitted - completed > depth else { return nil }
        return "\(StuckCommandDetector.lacksCompletionsMark): \(submitted - completed) of its \(submitted) submissions have none, more than its \(depth) entries hold at once (trace-cmd report -S or -I, lost events), so a command without one is not known stuck"
    }

    static let completionsMissingWhy =
        "the guest trace holds completions for fewer than half of its I/O submissions: its completions were left out (trace-cmd report -I or -S, or nvme_complete_rq not enabled), so a command without one is not shown stuck, nor a wait inferred from the guest's submissions"


    /// The last event of the inputs holding controller events, when they stop well before the
    /// others (an input cut short, or stopped early): nil otherwise.
    var controllerEnd: Int64? {
        let ends = controllerSources.indices.filter { controllerSources[$0] && $0 < lastTimes.count && lastTimes[$0] != .min }.map { lastTimes[$0] }
        guard let end = ends.max(), lastTime - end >= 1_000_000_000 else { return nil }
        return end
    }

    /// A mutual wait needs both sides: one that opened after the controller's events ended is
    /// not known to be one (its commands are told as stuck commands, its guest give-ups as
    /// theirs); one still open when they ended is judged from the guest's side after that, and
    /// says so.
    func judgeWindowsPastTheControllerEnd() {
        guard let end = controllerEnd, driverEventsSeen else { return }
        findings.removeAll { f in
            (f.kind == .mutualWait || f.kind == .controllerIdleWithWork) && f.start > end
        }
        for i in findings.indices where findings[i].kind == .mutualWait || findings[i].kind == .controllerIdleWithWork {
            guard findings[i].start <= end, (findings[i].end ?? lastTime) > end else { continue }
            findings[i].uncertainty.append(
                "the controller's events end \(formatDuration(end - findings[i].start)) after the window opened (an input stops \(formatDuration(lastTime - end)) before the others): after that it is judged from the guest's side alone")
        }
    }

    /// The findings judged from the order of guest and controller events.
    public static let restsOnOrder: Set<FindingKind> = [.mutualWait, .controllerIdleWithWork, .missedDoorbell, .needlessDoorbell, .staleShadowAfterReset]

    /// A finding judged from the order of guest and controller events (a wait, a doorbell
    /// decision) that opens or closes where the clocks are poorly aligned (causal pairs missed
    /// by more than the reported uncertainty, a clock step between two stretches of pairs)
    /// says so: that order there, and the values its cause is read from, may be off by that much.
    func markPoorAlignment() {
        guard !poorAlignment.isEmpty else { return }
        for i in findings.indices where Self.restsOnOrder.contains(findings[i].kind) {
            let f = findings[i]
            let atStart = poorAlignment.first { $0.isNear(f.start) }
            let atEnd = f.end.flatMap { end in poorAlignment.first { $0.isNear(end) } }
            func described(_ s: AlignmentReport.PoorStretch) -> (span: String, how: String) {
                let span = s.to > s.from ? "\(formatSeconds(s.from))–\(formatSeconds(s.to)) s" : "\(formatSeconds(s.from)) s"
                let how = s.pairs > 0
                    ? "\(s.pairs) causal pair(s) at \(span) are missed by the clock map by up to \(formatDuration(s.worst))"
                    : "the offset between the clocks steps by \(formatDuration(s.worst)) between two stretches of causal pairs at \(span), and the map cannot place the step"
                return (span, how)
            }
            // An order at the start that cause and effect fixes is not the clocks' to spoil.
            let doubted = f.startOrderedByCause ? atEnd.map { ($0, "end") } : (atStart.map { ($0, "start") } ?? atEnd.map { ($0, "end") })
            if let (s, which) = doubted {
                findings[i].uncertainty.append(
                    "the clocks are poorly aligned near its \(which): \(described(s).how) (beyond the alignment's stated uncertainty; as when the VM was paused or stopped in a debugger): the order of guest and controller events there may be off by that much")
            }
            // A driver that acted on another EventIdx than the controller wrote, where the VM
            // stood still: what writes guest memory while it is stopped is the first suspect
            // (hang-sq2's EventIdx was overwritten through the gdbstub while it was paused).
            if let s = atStart, f.cause == .skippedDemandedDoorbell, s.pairs == 0 {
                findings[i].explanation += " The VM stood still here (the clocks' offset steps by \(formatDuration(s.worst)) at \(described(s).span), as when it is paused): something that writes guest memory while the VM is stopped — a debugger through QEMU's gdbstub, a snapshot or migration restoring older memory — leaves the driver an EventIdx other than the one the controller wrote; look for one before suspecting the driver."
                if f.startOrderedByCause {
                    findings[i].explanation += " The order there is not the clocks': a completion the controller posted after it went to sleep reached the driver before it submitted."
                }
            }
        }
    }

    /// The latest end of the inputs holding controller events, when there are any.
    var controllerTraceEnd: Int64? {
        controllerSources.indices.filter { controllerSources[$0] && $0 < lastTimes.count && lastTimes[$0] != .min }.map { lastTimes[$0] }.max()
    }

    /// The latest end of the inputs holding the guest's completions, when there are any.
    var completionsRecordedUntil: Int64? {
        completionSources.indices.filter { completionSources[$0] && $0 < lastTimes.count && lastTimes[$0] != .min }.map { lastTimes[$0] }.max()
    }

    /// Where every merged input is still recording: a wait cannot be judged past the end of
    /// one of them (a guest trace and a QEMU log rarely stop together). A console (kernel
    /// messages only) does not bound it: it prints only now and then, and its last message is
    /// not where it stopped recording (a guest trace, a QEMU log and a console whose last line
    /// came before two queues hung judged nothing past that line: exit 0 for a hung VM).
    var coverageEnd: Int64 {
        var end: Int64?
        for (source, time) in lastTimes.enumerated() where time != .min && source < recordsIO.count && recordsIO[source] {
            end = min(end ?? time, time)
        }
        return end ?? lastTimeBySource.values.min() ?? lastTime
    }

    /// Whether the input lost events between `start` and `end` (inclusive).
    func dataLoss(from start: Int64, to end: Int64) -> Int {
        dataLossTimes.reduce(0) { $0 + ($1 >= start && $1 <= end ? 1 : 0) }
    }
}

extension Event {
    /// The queue of the given type with this event's controller and qid.
    func queue(_ type: QueueType) -> QueueKey { QueueKey(controller: controller, qid: qid, type: type) }
}

/// Findings of one kind on one queue beyond the per-queue limit.
public struct SuppressedFindings: Sendable, Hashable {
    public var kind: FindingKind
    public var queue: QueueKey
    public var count: Int
    /// How many of them are hangs of the queue (mutual waits, the guest's give-ups told as
    /// stuck commands), left out past --max-hangs-per-queue.
    public var hangs = 0
    /// The hangs' time in all (0 without hangs).
    public var durationNs: Int64 = 0
}

/// What one clock domain produced.
public struct GroupResult: Sendable {
    public var sources: [UInt16]
    public var clock: ClockKind
    public var firstTime: Int64
    public var lastTime: Int64
    public var events: UInt64
    public var queues: [QueueState]
    public var findings: [Finding]
    public var suppressed: [SuppressedFindings]
    public var dataLossTimes: [Int64]
    /// Events left out because they named more queues than `ClockGroupAnalyzer.queueLimit`.
    public var eventsBeyondQueueLimit: UInt64 = 0
    /// Submissions left out because `ClockGroupAnalyzer.outstandingCommandLimit` commands were
    /// outstanding.
    public var submissionsBeyondCommandLimit: UInt64 = 0
    /// The controller fetched I/O commands but no MMIO doorbell for an I/O queue is in the
    /// inputs (QEMU with `ioeventfd=on` handles them without a trace event).
    public var ioWithoutTracedDoorbells = false
    /// Queues with commands still outstanding where the inputs end, for longer than
    /// `ClockGroupAnalyzer.lateCommandAge` but less than `--stuck-after`, that no finding
    /// open at the end tells.
    public var lateCommands: [LateCommands] = []
    /// Submissions and completions of the guest when most completions are missing (nil otherwise).
    public var completionsMissing: (submitted: UInt64, completed: UInt64)?
    /// Without the guest's submissions: SQs the controller was asleep on where the trace ends
    /// while another kept running.
    public var silentQueues: [SilentQueue] = []
    /// Without the guest's submissions and its ABORTs: SQs silent for a second or more when the
    /// guest tore them down, commands resubmitted on them right after.
    public var silencesBeforeTeardown: [SilenceBeforeTeardown] = []
    /// I/O commands outstanding where the inputs end, per input that submitted them and SQ.
    public var outstandingAtEnd: [OutstandingCommands] = []
    /// Commands outstanding where the guest's trace ends, well after the controller's ended.
    public var afterControllerEnd: CommandsAfterControllerEnd?
    /// I/O the driver submitted on queues it re-created before re-sending Doorbell Buffer
    /// Config: the Linux reset-ordering bug's order, as the guest's trace shows it.
    public var ioBeforeDbbufConfig: [IOBeforeDbbufConfig] = []
    /// Whether any controller event is in the group's inputs.
    public var controllerEventsSeen = false
    /// Whether any driver event (not a console message) is in the group's inputs.
    public var driverEventsSeen = false
    /// The guest's give-ups (its ABORTs, seen by the controller) that no finding tells: no queue
    /// was silent for `--min-wait` before them, and no finding of their controller covers them.
    public var unexplainedGiveUps: [UnexplainedGiveUp] = []
    /// Controllers whose admin completions the guest trace left out (`adminCompletionsLeftOut`).
    public var adminCompletionsLeftOut: Set<UInt16> = []
    /// Per input, the first I/O queue it created again while it lived (`QueueCreatedTwice`).
    public var queuesCreatedTwice: [QueueCreatedTwice] = []
}

/// An event one input holds that one controller cannot produce, in an input that traces resets:
/// an I/O queue created again while the one it created lives (no deletion, no controller reset
/// between), or used after a deletion or reset ended it (`ended`). The input holds the events
/// of several controllers it does not tell apart (QEMU's nvme trace events name no device).
/// Found by `OneControllerCheck`.
public struct QueueCreatedTwice: Sendable, Equatable {
    public enum Evidence: Sendable, Equatable {
        /// `again` creates the queue again (`ended` nil), or fetches from it after `ended`.
        case creationOrFetch
        /// `again` deletes the queue after `ended` ended the one created at `first`: QEMU
        /// traces a deletion only of a queue it has.
        case deletion
        /// `again` reads or writes the queue's doorbell buffer slot after the reset `ended`
        /// ended the configuration at `first`: QEMU forgets the buffer at a reset.
        case doorbellBuffer
    }
    public var queue: QueueKey
    public var first: EventRef
    public var again: EventRef
    /// Set when `again` is no creation but a use of the queue after the deletion or reset
    /// `ended` ended the one created at `first` (or the doorbell buffer configured there),
    /// before any creation (configuration) again: a second controller's I/O went on after the
    /// first's reset, under the same queue ids.
    public var ended: EventRef? = nil
    public var evidence: Evidence = .creationOrFetch

    /// What the input does that one controller refuses, its places named by `at`.
    public func described(_ at: (EventRef) -> String) -> String {
        let name = "\(queue.type.name.uppercased()) \(queue.qid)"
        guard let ended else {
            return "creates \(name) again at \(at(again)) while the one it created at \(at(first)) lives (no deletion, no controller reset between)"
        }
        switch evidence {
        case .creationOrFetch:
            return "fetches a command from \(name) at \(at(again)) after the deletion or controller reset at \(at(ended)) ended the one it created at \(at(first)), before creating it again"
        case .deletion:
            return "deletes \(name) at \(at(again)) after the deletion or controller reset at \(at(ended)) ended the one it created at \(at(first)), before creating it again (QEMU traces a deletion only of a queue it has)"
        case .doorbellBuffer:
            return "reads or writes \(name)'s shadow doorbell or EventIdx at \(at(again)) after the controller reset at \(at(ended)) ended the doorbell buffer configured at \(at(first)), before any configuration again (QEMU forgets the buffer at a reset; a controller that kept it across the reset would do this too)"
        }
    }

    /// A few words on it, for a list: the queue and the places.
    public func short(_ at: (EventRef) -> String) -> String {
        let name = "\(queue.type.name.uppercased()) \(queue.qid)"
        guard let ended else { return "\(name) created at \(at(first)) and again at \(at(again))" }
        switch evidence {
        case .creationOrFetch: return "\(name) fetched from at \(at(again)) after the end at \(at(ended)) of the one created at \(at(first))"
        case .deletion: return "\(name) deleted at \(at(again)) after the end at \(at(ended)) of the one created at \(at(first))"
        case .doorbellBuffer: return "\(name)'s doorbell buffer used at \(at(again)) after the reset at \(at(ended)) ended its configuration at \(at(first))"
        }
    }
}

/// The driver re-created `controller`'s I/O queues at `recreated` (a reset), submitted I/O on
/// `qid` at `firstIO` and sent Doorbell Buffer Config only at `config` (nil: not in the trace).
public struct IOBeforeDbbufConfig: Sendable, Equatable {
    public var controller: UInt16
    public var qid: UInt16
    public var recreated: Int64
    public var firstIO: EventRef
    public var config: Int64?
}

/// The guest aborted `aborts` commands of `controller` from `firstAbort` (and reset it at
/// `reset`), and the inputs show no queue that hung before.
public struct UnexplainedGiveUp: Sendable, Equatable {
    public var controller: UInt16
    public var firstAbort: Int64
    public var aborts: Int
    public var reset: Int64?
}

/// I/O commands still outstanding where the guest's trace ends, after the controller's trace
/// ended with no completion on their queue since (`count` per SQ).
public struct CommandsAfterControllerEnd: Sendable {
    public var controllerEnd: Int64
    public var guestEnd: Int64
    public var queues: [(queue: QueueKey, count: Int)]
}

/// I/O commands of one SQ, submitted in one input, still outstanding where the inputs end.
public struct OutstandingCommands: Sendable, Hashable {
    public var source: UInt16
    public var queue: QueueKey
    public var count: Int
}

/// An I/O SQ the controller was asleep on for the last `silence` ns of a controller-side
/// trace, while the `running` queues were still fetched from.
public struct SilentQueue: Sendable, Equatable {
    public var queue: QueueKey
    public var since: Int64
    public var silence: Int64
    public var running: [QueueKey]
    /// Set when the silence ended at a PCI function-level reset (a new QEMU process on the same
    /// log, or with `sameProcess` a machine reset inside one), not at the trace's end.
    public var machineReset: Int64? = nil
    public var sameProcess = false
}

/// An I/O SQ the controller was asleep on (or that was silent since its trace began) for
/// `silence` ns when the guest deleted it or reset the controller, while the `running` queues
/// were still fetched from, with no ABORT before (the trace begins after them, lost them, or
/// does not trace admin commands); the guest fetched commands on it again right after
/// (`resubmitted`): commands waited on it through the silence.
public struct SilenceBeforeTeardown: Sendable, Equatable {
    public var queue: QueueKey
    public var since: Int64
    /// The queue showed no event before its teardown: silent since the trace began.
    public var sinceTraceStart: Bool
    public var silence: Int64
    public var running: [QueueKey]
    public var teardown: Int64
    public var resubmitted: Int64
}

/// Commands of one SQ still outstanding where the inputs end, too young to be stuck commands.
public struct LateCommands: Sendable, Equatable {
    public var queue: QueueKey
    public var count: Int
    /// How long the oldest of them was outstanding when its input ended (ns).
    public var oldest: Int64
}


/// Controller numbers as a bitmap: `contains` is a load and a mask (a `Set` hashed on every
/// fetch).
struct ControllerSet {
    private var bits = [UInt64](repeating: 0, count: 1 << 10)

    func contains(_ controller: UInt16) -> Bool { bits[Int(controller >> 6)] & 1 << UInt64(controller & 63) != 0 }
    mutating func insert(_ controller: UInt16) { bits[Int(controller >> 6)] |= 1 << UInt64(controller & 63) }
    mutating func remove(_ controller: UInt16) { bits[Int(controller >> 6)] &= ~(1 << UInt64(controller & 63)) }
}
