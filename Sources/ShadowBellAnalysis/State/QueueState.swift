import ShadowBellCore

/// A reference to the event that set a piece of state: enough to cite it as evidence.
public struct EventRef: Sendable, Hashable {
    public var time: Int64
    public var location: UInt64
    public var source: UInt16
    public var kind: EventKind

    init(_ e: Event) {
        time = e.time
        location = e.location
        source = e.source
        kind = e.kind
    }
}

/// One value the driver published into a shadow slot (probe) or one command it submitted
/// (inferred), with what it read back and what the controller had written before.
struct Publication: Sendable {
    var value: UInt32
    var old: UInt32
    var eventIdxRead: UInt32?
    var at: EventRef
    /// The controller's latest EventIdx write stamped before this publication.
    var controllerEventIdxBefore: (value: UInt32, at: EventRef)?
    /// The EventIdx the driver read is one the controller had already replaced (an earlier
    /// write, or the zero the buffer held before the first write).
    var eventIdxReadWasReplaced = false
}

/// A submitted command the controller has not fetched yet (inferred mode).
struct PendingSubmission: Sendable {
    var cmdid: UInt32
    var at: EventRef
}

/// What an analysis observer is shown of a queue after each of its events: the values both
/// sides believe, as plain values (the state itself holds lists; a copy of it per event would
/// cost more than the event's analysis).
public struct QueueSnapshot: Sendable {
    public var key: QueueKey
    public var probeMode: Bool
    /// P, S, the controller's EventIdx and the EventIdx the driver last read.
    public var published: UInt32?
    public var controllerSeen: UInt32?
    public var controllerEventIdx: UInt32?
    public var driverEventIdxRead: UInt32?
    /// SQ: the index up to which the controller has fetched. CQ: the controller's tail.
    public var controllerIndex: UInt32?
    public var controllerWaiting: Bool
    public var mmioSinceLook: Bool
    public var unfetched: Int
    public var pendingCompletions: UInt32
    /// A mutual-wait window is open on the queue.
    public var inMutualWait: Bool
    /// `published` is the driver's CQ head inferred from the completion entries the guest
    /// handled (no driver probe: its CQ doorbell writes are not traced).
    public var publishedInferred = false
    /// An I/O SQ whose EventIdx slot the controller has not written since the Doorbell Buffer
    /// Config: the slot holds what the driver left there (Linux zeroes it at a reset).
    public var eventIdxUnwrittenSinceConfig = false
}

/// Both sides' beliefs about one queue, updated event by event.
public struct QueueState: Sendable {
    public let key: QueueKey
    /// The events of this queue the analysis observer was to be shown (counted only with an
    /// observer; it is shown the first `AnalysisOptions.observedEventsPerQueue` of them).
    public internal(set) var observable: UInt64 = 0
    /// Ring entries (`qsize + 1`); 0 when the trace never showed the queue's creation.
    public internal(set) var entries: UInt32 = 0
    /// The queue exists as far as the trace shows (false after deletion or reset).
    public internal(set) var active = true

    // MARK: driver side
    /// Driver probes were seen for this queue: condition 1 is measured, not inferred.
    public internal(set) var probeMode = false
    /// P: the value the driver last published in the shadow slot (probe `new=`).
    public internal(set) var published: UInt32?
    /// The EventIdx the driver last read (probe `eventidx=`).
    public internal(set) var driverEventIdxRead: UInt32?
    /// EventIdx reads in the driver's probes over the whole input, and whether one was not 0.
    var driverEventIdxReads: UInt64 = 0
    var driverReadNonZeroEventIdx = false
    /// The controller's first and latest reads of this queue's shadow slot.
    var firstControllerRead: EventRef?
    var lastControllerRead: EventRef?
    /// Publications the controller has not seen yet, oldest first (bounded).
    var unseenPublications: [Publication] = []
    /// Submitted commands not yet fetched by the controller (SQ, oldest first, bounded).
    var pendingSubmissions: [PendingSubmission] = []
    public internal(set) var unfetched: Int = 0
    /// SQ: the time of the guest's latest completion of one of its commands.
    var lastDriverCompletion: Int64 = .min
    /// The time of the guest's last completion of a command the controller answered (status 0).
    var lastAnsweredCompletion: Int64 = .min
    /// The longest a command of this SQ took from its submission to a successful completion.
    var longestAnsweredLatency: Int64 = 0

    // MARK: controller side
    /// S: the value the controller last saw (shadow read or MMIO doorbell).
    public internal(set) var controllerSeen: UInt32?
    /// SQ: the index up to which the controller has fetched. CQ: the controller's tail.
    public internal(set) var controllerIndex: UInt32?
    /// The controller's last EventIdx write.
    public internal(set) var controllerEventIdx: UInt32?
    var controllerEventIdxAt: EventRef?
    /// The last EventIdx the controller wrote to this queue's slot, kept through deletions and
    /// resets (unlike `controllerEventIdx`): a slot the reset does not clear still holds it.
    var slotEventIdx: UInt32?
    /// Recent EventIdx values the controller wrote, oldest first (bounded).
    var eventIdxHistory: [UInt32] = []
    /// The controller waits for a doorbell on this queue: SQ burst ended with nothing new;
    /// CQ full with completions it cannot post.
    public internal(set) var controllerWaiting = false
    /// The read (or fetch) that put the controller into waiting.
    var waitingSince: EventRef?
    /// An MMIO doorbell was written since the controller last looked at the queue.
    public internal(set) var mmioSinceLook = false
    /// CQ: completions queued by the controller and not yet posted.
    public internal(set) var pendingCompletions: UInt32 = 0
    /// SQ head learning when the trace starts mid-run: last read value with no fetch since.
    var readWithoutFetch: UInt32?
    var lastBurstEnd: Int64?
    var lastPublicationTime: Int64?
    var lastPublicationCountedAsRace = true

    // MARK: doorbell de-duplication (one physical doorbell may appear as probe, raw write, event)
    var lastDoorbellValue: UInt32?
    var lastDoorbellOrigins: UInt8 = 0

    // MARK: lifetime (stale-shadow-after-reset)
    /// The queue's creation, until the controller's first shadow read of it.
    var created: EventRef?
    /// The queue's creation, until the driver's first probe on it (whose `old=` is the slot).
    var createdBeforeFirstProbe: EventRef?
    /// The controller's first read after the creation returned a value the driver had not
    /// published yet by the stamps: judged once the stamps' uncertainty has passed (the
    /// driver's probe of that value may be stamped a nanosecond after the read that saw it).
    var pendingStaleRead: (value: UInt32, at: EventRef, created: EventRef)?
    /// Values the driver published since the creation (probe mode; bounded).
    var publishedSinceCreation: Set<UInt32> = []
    var submittedSinceCreation: Int = 0
    /// A CQ's head as the driver moved it, without its probe: 0 at the queue's creation, one
    /// step per completion entry the guest handled on it (`nvme_sq`, traced once per CQE);
    /// nil when the creation is not in the trace (no count to start from).
    var inferredHead: UInt32?
    /// The guest's last completion handled on this CQ (the inferred head's evidence).
    var inferredHeadAt: EventRef?
    /// The driver's value as far as the trace tells it: its probe's, else a CQ's inferred head.
    var driverValue: UInt32? { probeMode ? published : (key.type == .cq ? inferredHead : nil) }

    mutating func notePublishedSinceCreation(_ value: UInt32) {
        if created != nil || createdBeforeFirstProbe != nil, publishedSinceCreation.count < 4096 {
            publishedSinceCreation.insert(value)
        }
    }

    // MARK: window
    var window: OpenWindow?
    /// A mutual-wait window is open on this queue.
    public var inMutualWait: Bool { window != nil }

    /// The state as an observer sees it.
    public var snapshot: QueueSnapshot {
        // Without probes a CQ's published head is the one inferred (the steps and pictures of an
        // inferred CQ wait read P=? and drew no P line).
        let inferred = published == nil && !probeMode && key.type == .cq && inferredHead != nil
        return QueueSnapshot(
            key: key, probeMode: probeMode, published: inferred ? inferredHead : published, controllerSeen: controllerSeen,
            controllerEventIdx: controllerEventIdx, driverEventIdxRead: driverEventIdxRead, controllerIndex: controllerIndex,
            controllerWaiting: controllerWaiting, mmioSinceLook: mmioSinceLook, unfetched: unfetched,
            pendingCompletions: pendingCompletions, inMutualWait: inMutualWait, publishedInferred: inferred)
    }

    public internal(set) var stats = QueueStatistics()

    /// What the controller side alone shows (host-side inference, no guest trace).
    var hostSide = HostSideView()
    /// Commands of this SQ that ended at a reset with no cancellation in the trace (their id or
    /// tag submitted again after the queue's re-creation).
    var cancelledUnseen: UInt64 = 0
    /// A stale shadow value was found since the queue's creation.
    var staleShadowSinceCreation = false
    /// SQ: entries the controller has seen and not fetched (controller-idle-with-work).
    var visibleWork: VisibleWork?

    init(key: QueueKey) { self.key = key }

    static let publicationLimit = 256

    /// Drops the publications the controller has now seen (up to and including `value`).
    mutating func controllerCaughtUp(to value: UInt32) {
        guard !unseenPublications.isEmpty else { return }
        if let i = unseenPublications.lastIndex(where: { $0.value == value }) {
            unseenPublications.removeFirst(i + 1)
        }
    }

    mutating func recordPublication(_ p: Publication) {
        if unseenPublications.count >= Self.publicationLimit { unseenPublications.removeFirst() }
        unseenPublications.append(p)
    }

    /// Forget everything the controller knew (deletion, reset).
    mutating func deactivate() {
        active = false
        controllerSeen = nil
        controllerIndex = nil
        controllerEventIdx = nil
        controllerEventIdxAt = nil
        eventIdxHistory.removeAll()
        controllerWaiting = false
        waitingSince = nil
        mmioSinceLook = false
        pendingCompletions = 0
        readWithoutFetch = nil
        published = nil
        driverEventIdxRead = nil
        unseenPublications.removeAll()
        pendingSubmissions.removeAll()
        unfetched = 0
        lastDoorbellValue = nil
        lastDoorbellOrigins = 0
        created = nil
        createdBeforeFirstProbe = nil
        inferredHead = nil
        inferredHeadAt = nil
        publishedSinceCreation.removeAll()
        submittedSinceCreation = 0
        hostSide = HostSideView()
        staleShadowSinceCreation = false
        visibleWork = nil
    }
}

/// A mutual-wait window being tracked.
struct OpenWindow: Sendable {
    var start: EventRef
    var controllerSeen: UInt32
    var firstPublished: UInt32?
    var lastPublished: UInt32?
    var firstPublication: Publication?
    var waitingSince: EventRef?
    var controllerEventIdx: UInt32?
    var controllerEventIdxAt: EventRef?
    var inferred: Bool
    var cause: Cause
    var alsoControllerReorder: Bool
    var stuckCommandIDs: [UInt32]
    /// The oldest unfetched submission when the window opened (inferred windows).
    var firstSubmission: PendingSubmission?
    /// The guest's last completion handled on the CQ when the window opened (inferred CQ
    /// windows: it moved the driver's head past what the controller saw).
    var driverHeadAt: EventRef? = nil
    /// Shadow doorbells were configured and the controller had not written this queue's
    /// EventIdx since: the slot holds whatever the driver left there (zero after a reset).
    var eventIdxUnwrittenSinceConfig: Bool
    /// Then: the last EventIdx the controller wrote to the slot before (`QueueState.slotEventIdx`),
    /// what a slot the reset did not clear still holds.
    var leftoverEventIdx: UInt32? = nil
    /// Inferred windows: the guest's submissions the controller has not fetched (when the window
    /// opened; all of them when it is told).
    var submissions: UInt32 = 0
    /// The driver's step that the controller's last EventIdx demanded a doorbell for.
    var demandedStep: DemandedStep? = nil
    /// The controller went to sleep before the opening event by cause and effect
    /// (`Finding.startOrderedByCause`).
    var startOrderedByCause = false
}

/// A move of the driver's tail or head, `old -> new`, at `at`.
struct DemandedStep: Sendable {
    var old: UInt32
    var new: UInt32
    var at: Int64?
    /// Inferred from a submission stamped after the EventIdx write by no more than the clocks'
    /// uncertainty, or than a store may stay invisible (`MutualWaitDetector.storeVisibility`):
    /// the driver may have read the value before it (a controller-reorder, or the submission
    /// came first) as well as skipped it.
    var unproven = false
    /// When unproven for the clocks: their alignment's uncertainty there.
    var clocks: Int64? = nil
}

/// Per-queue counts (statistics, not findings). Counts cover the whole input.
public struct QueueStatistics: Sendable, Hashable {
    /// Whether the controller's side shows in these counts (its trace is among the inputs).
    public var controllerCounted: Bool {
        controllerShadowReads > 0 || controllerEventIdxWrites > 0 || commandsFetched > 0 || completionsQueued > 0
    }

    /// Whether the guest driver's side shows in these counts.
    public var driverCounted: Bool {
        commandsSubmitted > 0 || commandsCompleted > 0 || driverShadowWrites > 0 || driverHeadReports > 0
    }

    public var controllerShadowReads: UInt64 = 0
    public var controllerEventIdxWrites: UInt64 = 0
    public var mmioDoorbells: UInt64 = 0
    public var driverShadowWrites: UInt64 = 0
    /// Driver probe updates that did not write MMIO.
    public var driverUpdatesWithoutMMIO: UInt64 = 0
    public var commandsSubmitted: UInt64 = 0
    public var commandsFetched: UInt64 = 0
    public var completionsQueued: UInt64 = 0
    public var commandsCompleted: UInt64 = 0
    public var driverHeadReports: UInt64 = 0
    public var subThresholdWindows: UInt64 = 0
    /// The longest mutual wait of the queue that ended by itself before --min-wait (ns): a wait
    /// still open where the trace ends is told only once it outlasts every such one.
    public var longestSubThresholdWindow: Int64 = 0
    public var raceExposure: UInt64 = 0
    public var missedDoorbells: UInt64 = 0
    public var needlessDoorbells: UInt64 = 0
    public var outOfRangeValues: UInt64 = 0
    public var eventIdxRegressions: UInt64 = 0
    public var resets: UInt64 = 0
    public var stuckCommands: UInt64 = 0
    public var staleShadowReads: UInt64 = 0

    public init() {}

    public static func += (lhs: inout QueueStatistics, rhs: QueueStatistics) {
        lhs.controllerShadowReads += rhs.controllerShadowReads
        lhs.controllerEventIdxWrites += rhs.controllerEventIdxWrites
        lhs.mmioDoorbells += rhs.mmioDoorbells
        lhs.driverShadowWrites += rhs.driverShadowWrites
        lhs.driverUpdatesWithoutMMIO += rhs.driverUpdatesWithoutMMIO
        lhs.commandsSubmitted += rhs.commandsSubmitted
        lhs.commandsFetched += rhs.commandsFetched
        lhs.completionsQueued += rhs.completionsQueued
        lhs.commandsCompleted += rhs.commandsCompleted
        lhs.driverHeadReports += rhs.driverHeadReports
        lhs.subThresholdWindows += rhs.subThresholdWindows
        lhs.longestSubThresholdWindow = max(lhs.longestSubThresholdWindow, rhs.longestSubThresholdWindow)
        lhs.raceExposure += rhs.raceExposure
        lhs.missedDoorbells += rhs.missedDoorbells
        lhs.needlessDoorbells += rhs.needlessDoorbells
        lhs.outOfRangeValues += rhs.outOfRangeValues
        lhs.eventIdxRegressions += rhs.eventIdxRegressions
        lhs.resets += rhs.resets
        lhs.stuckCommands += rhs.stuckCommands
        lhs.staleShadowReads += rhs.staleShadowReads
    }
}
