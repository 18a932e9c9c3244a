import ShadowBellCore

/// One command-level event usable as a causal anchor: its time and (controller, qid, cmdid).
public struct Anchor: Sendable, Hashable {
    public var time: Int64
    public var key: UInt64

    public init(time: Int64, controller: UInt16 = 0, qid: UInt16, cmdid: UInt32) {
        self.time = time
        key = UInt64(controller) << 48 | UInt64(qid) << 32 | UInt64(cmdid & 0xFFFF)
    }
}

/// The anchors of one input, collected in one pass with bounded memory: when a list grows past
/// `capacity`, only command keys whose hash falls in a smaller share are kept (on every list
/// alike, so that pairs survive on both sides).
public struct AnchorSet: Sendable {
    public var submits: [Anchor] = []
    public var fetches: [Anchor] = []
    public var completes: [Anchor] = []
    public var enqueues: [Anchor] = []
    /// Keys are kept when `hash & mask == 0`.
    public private(set) var mask: UInt64 = 0
    let capacity: Int

    public init(capacity: Int = 1 << 18) { self.capacity = capacity }

    /// Guest kernel messages and the controller's admin actions they pair with (a few per
    /// hang; at most `noticeCapacity`), for inputs that share no command with the other side.
    public var notices: [Notice] = []
    /// A guest trace's own ABORT admin commands (time, the aborted command's sqid; at most
    /// `noticeCapacity`) and how many admin commands it submitted: a console of the same boot
    /// prints its `timeout, aborting` messages where these are.
    public var driverAborts: [Notice] = []
    public var adminSubmits = 0
    /// Abort commands fetched and not yet completed (cid), to pair their completions.
    private var pendingAborts: [UInt32] = []
    static let noticeCapacity = 4096

    /// The first guest submissions, whatever the sampling keeps. Two inputs whose first
    /// submissions agree are one recording in two forms (ftrace text, `trace-cmd report`,
    /// trace.dat — all three are often kept side by side; the texts round to microseconds what
    /// trace.dat keeps in nanoseconds).
    public private(set) var fingerprint: [Anchor] = []
    static let fingerprintLength = 64

    /// The first events of every kind, whatever the sampling keeps (the event's kind, queue and
    /// first argument as the key). Two inputs of neither side's commands that begin alike are
    /// one recording in two forms: a QEMU log or a console log beside the ShadowBell pcap
    /// converted from it (`convert` writes each input's events as they were read, on its own
    /// clock), or a copy of a file.
    public private(set) var firstEvents: [Anchor] = []

    /// The first event of this input one controller cannot produce (`OneControllerCheck`: an I/O
    /// queue created again while it lives, or used after a deletion or reset ended it), in an
    /// input that traces resets: the input holds several controllers' events it does not tell
    /// apart (a QEMU log of a VM with two `-device nvme`). The analysis tells it too
    /// (`GroupResult.queuesCreatedTwice`); known here, before the inputs are merged, such an
    /// input is set aside beside guest-side inputs that name each controller.
    public var createdTwice: QueueCreatedTwice? { oneController.found }
    private var oneController = OneControllerCheck()

    /// The first and the last time of the input's events of any kind, nil before any: where
    /// it was recording (a controller that stopped fetching in a hang still logs its reads).
    public private(set) var recorded: ClosedRange<Int64>?

    /// The times the command anchors span (the lists are in the input's order), nil without any.
    public var span: ClosedRange<Int64>? {
        let lists = [submits, fetches, completes, enqueues].filter { !$0.isEmpty }
        guard let low = lists.map({ $0[0].time }).min(), let high = lists.map({ $0[$0.count - 1].time }).max(), low <= high
        else { return nil }
        return low...high
    }

    /// Whether `other` holds the same recording. Guest traces: at least 8 first submissions,
    /// and 9 in 10 of them the same command within a microsecond (the text forms round to
    /// microseconds what trace.dat keeps in nanoseconds). Other inputs: the same for their first
    /// events of any kind at the same nanosecond (a pcap keeps a log's times as they were); one
    /// of fewer than 8 events is the same only as one of as many events, all alike.
    public func sameRecording(as other: AnchorSet) -> Bool {
        if isGuestSide || other.isGuestSide {
            // (Under 8 commands, all of them: a small trace given twice was told twice.)
            return Self.agree(fingerprint, other.fingerprint, within: 1_000, whole: true)
        }
        return Self.agree(firstEvents, other.firstEvents, within: 0, whole: true)
    }

    /// Whether this guest trace's I/O commands are among `whole`'s at the same times (within a
    /// microsecond): one CPU's part of a trace kept whole beside it (tracefs's `trace` and
    /// `per_cpu/cpuN/trace` copied together). Of its first 64 sampled submissions, those
    /// `whole` samples too and within its span: at least 8, and 9 in 10 of them found there.
    public func isPart(of whole: AnchorSet) -> Bool {
        guard isGuestSide else { return false }
        return Self.among(submits, whole.submits, keeps: whole.keeps, within: 1_000)
    }

    /// Whether this controller-side input's fetches are among `whole`'s at the same times: an
    /// excerpt of a QEMU log (a `grep` of one queue's lines) kept beside the log it was cut
    /// from. It was read as a second controller trace, and the queue's counts doubled.
    public func isExcerpt(of whole: AnchorSet) -> Bool {
        guard !isGuestSide, !whole.isGuestSide, fetches.count < whole.fetches.count else { return false }
        return Self.among(fetches, whole.fetches, keeps: whole.keeps, within: 0)
    }

    /// Of `mine`'s first 64 anchors that `whole` samples too and within its span: at least 8,
    /// and 9 in 10 of them found in `whole` (its list in time order) within `within` ns.
    static func among(_ mine: [Anchor], _ whole: [Anchor], keeps: (UInt64) -> Bool, within: Int64) -> Bool {
        guard let low = whole.first?.time, let high = whole.last?.time else { return false }
        var checked = 0
        var found = 0
        for a in mine.prefix(64) where a.time >= low && a.time <= high && keeps(a.key) {
            checked += 1
            // The first of `whole`'s submissions at or after a microsecond before (they are in
            // time order; one that is not finds less, and is not called a part).
            var lo = 0
            var hi = whole.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if whole[mid].time < a.time &- within { lo = mid + 1 } else { hi = mid }
            }
            while lo < whole.count, whole[lo].time <= a.time &+ within {
                if whole[lo].key == a.key {
                    found += 1
                    break
                }
                lo += 1
            }
        }
        return checked >= 8 && found * 10 >= checked * 9
    }

    /// Whether `other` holds the controller's events of this recording on another clock: QEMU
    /// built with two trace backends writes each event to its log (wall clock, microseconds)
    /// and to its simple trace (CLOCK_MONOTONIC, nanoseconds). At least 16 first events, and 9
    /// in 10 of them the same event at the same distance from the others (within 2 µs of their
    /// median difference); two runs of one VM never keep the same spacing that long. Asked only
    /// of a QEMU log and a simple trace (the same events at other times in two inputs of one
    /// format are two runs).
    public func sameEventsOnAnotherClock(as other: AnchorSet) -> Bool {
        guard isHostSide, other.isHostSide else { return false }
        return Self.sameSpacing(firstEvents, other.firstEvents)
    }

    /// Whether two guest-side inputs hold the same first commands at the same spacing on two
    /// clocks: a console's ftrace dump (placed on the printk clock) and the dump's lines cut
    /// out of it into a file of their own (on the ring buffer's clock). At least 16 first
    /// commands, 9 in 10 of them the same at the same distance (within 2 µs of the median).
    public func sameGuestCommandsOnAnotherClock(as other: AnchorSet) -> Bool {
        guard isGuestSide, other.isGuestSide else { return false }
        return Self.sameSpacing(fingerprint, other.fingerprint)
    }

    /// At least 16 anchors each, and 9 in 10 of the first ones the same key at the same
    /// distance from the others (within 2 µs of their median difference).
    private static func sameSpacing(_ mine: [Anchor], _ theirs: [Anchor]) -> Bool {
        let n = min(mine.count, theirs.count)
        guard n >= 16 else { return false }
        var differences: [Int64] = []
        differences.reserveCapacity(n)
        for (a, b) in zip(mine, theirs) where a.key == b.key { differences.append(b.time &- a.time) }
        guard differences.count * 10 >= n * 9 else { return false }
        let median = differences.sorted()[differences.count / 2]
        return differences.count { abs($0 &- median) <= 2_000 } * 10 >= n * 9
    }

    private static func agree(_ mine: [Anchor], _ theirs: [Anchor], within tolerance: Int64, whole: Bool) -> Bool {
        let n = min(mine.count, theirs.count)
        var same = 0
        for (a, b) in zip(mine, theirs) where a.key == b.key && abs(a.time &- b.time) <= tolerance { same += 1 }
        if n >= 8 { return same * 10 >= n * 9 }
        return whole && n > 0 && mine.count == theirs.count && same == n
    }

    public var isGuestSide: Bool { !submits.isEmpty }
    public var isHostSide: Bool { !fetches.isEmpty }
    public var hasGuestNotices: Bool { notices.contains { $0.kind.isGuest } }
    public var hasHostNotices: Bool { notices.contains { !$0.kind.isGuest } }

    static func hash(_ key: UInt64) -> UInt64 {
        var z = key &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    func keeps(_ key: UInt64) -> Bool { Self.hash(key) & mask == 0 }

    /// Takes a batch of the input's events, in order.
    public mutating func consume(_ batch: [Event]) {
        if let first = batch.first?.time, let last = batch.last?.time {
            let low = min(first, last, recorded?.lowerBound ?? .max), high = max(first, last, recorded?.upperBound ?? .min)
            recorded = low...high
        }
        // The first events are taken per batch, not per event.
        for e in batch.prefix(Self.fingerprintLength - firstEvents.count) {
            var first = Anchor(time: e.time, qid: e.qid, cmdid: 0)
            first.key = UInt64(e.kind.rawValue) << 56 | UInt64(e.queueType.rawValue) << 48 | UInt64(e.qid) << 32 | UInt64(e.a)
            firstEvents.append(first)
        }
        for e in batch { consume(e) }
    }

    @inline(__always)
    mutating func consume(_ e: Event) {
        // The list by a plain switch (a key path costs more than the rest of the work here).
        enum List { case submits, completes, fetches, enqueues }
        let list: List
        switch e.kind {
        case .queueCreate, .queueDelete, .dbbufConfig:
            oneController.consume(e)
            return
        case .controllerReset:
            oneController.consume(e)
            consumeNotice(e)
            return
        case .controllerShadowRead, .controllerEventIdxWrite:
            if oneController.watching { oneController.consume(e) }
            return
        case .guestMessage,
            .controllerFetch where e.qid == 0,
            .controllerCompletion where e.qid == 0:
            consumeNotice(e)
            return
        case .driverSubmit where e.qid == 0:
            adminSubmits &+= 1
            if e.flags & Event.abortsCommandFlag != 0, driverAborts.count < Self.noticeCapacity {
                driverAborts.append(Notice(time: e.time, kind: .guestAborting, qid: UInt16(truncatingIfNeeded: e.b), tag: e.c & 0xFFF))
            }
            return
        case .driverSubmit where e.qid != 0: list = .submits
        case .driverComplete where e.qid != 0:
            // A completion the driver made itself (Linux's host-aborted or host path error: a
            // command it cancelled at a reset) has no controller completion to pair with: the
            // nearest completion of its id is another command's, and where ids come back
            // within milliseconds it bounded the offset from below by that command's latency.
            let sct = (e.b >> 8) & 0x7, sc = e.b & 0xFF
            if sct == 3 && (sc == 0x70 || sc == 0x71) { return }
            list = .completes
        case .controllerFetch where e.qid != 0:
            // A fetch from an I/O queue this input ended and has not created again: another
            // controller's.
            if oneController.watching { oneController.consume(e) }
            list = .fetches
        case .controllerCompletion where e.qid != 0: list = .enqueues
        default: return
        }
        let anchor = Anchor(time: e.time, controller: e.controller, qid: e.qid, cmdid: e.a)
        if list == .submits, fingerprint.count < Self.fingerprintLength { fingerprint.append(anchor) }
        guard keeps(anchor.key) else { return }
        let count: Int
        switch list {
        case .submits: submits.append(anchor); count = submits.count
        case .completes: completes.append(anchor); count = completes.count
        case .fetches: fetches.append(anchor); count = fetches.count
        case .enqueues: enqueues.append(anchor); count = enqueues.count
        }
        if count > capacity { tighten() }
    }

    mutating func consumeNotice(_ e: Event) {
        let kind: Notice.Kind
        switch e.kind {
        case .guestMessage:
            switch GuestMessageKind(rawValue: e.a) {
            case .timeoutAborting: kind = .guestAborting
            case .abortStatus: kind = .guestAbortStatus
            case .timeoutReset, .timeoutDisable: kind = .guestReset
            default: return
            }
        case .controllerReset:
            guard e.a == ResetReason.enableCleared.rawValue else { return }
            kind = .hostDisable
        case .controllerFetch:
            guard e.b == Notice.abortOpcode else { return }
            if pendingAborts.count < 64 { pendingAborts.append(e.a) }
            kind = .hostAbortFetch
        case .controllerCompletion:
            guard let i = pendingAborts.firstIndex(of: e.a) else { return }
            pendingAborts.remove(at: i)
            kind = .hostAbortCompletion
        default: return
        }
        guard notices.count < Self.noticeCapacity else { return }
        notices.append(Notice(time: e.time, kind: kind, qid: e.kind == .guestMessage ? e.qid : 0, tag: kind == .guestAborting ? e.b & 0xFFF : .max))
    }

    /// Keeps half as many keys as before, on every list.
    public mutating func tighten() {
        mask = mask << 1 | 1
        let m = mask
        submits.removeAll { Self.hash($0.key) & m != 0 }
        fetches.removeAll { Self.hash($0.key) & m != 0 }
        completes.removeAll { Self.hash($0.key) & m != 0 }
        enqueues.removeAll { Self.hash($0.key) & m != 0 }
    }

    /// The anchors of this recording and of `later`, its continuation in another file (its
    /// events all after these): the lists one after the other, sampled alike, within capacity.
    /// A clock estimate against them spans both files.
    public func followed(by later: AnchorSet) -> AnchorSet {
        var merged = self
        var later = later
        merged.match(mask: later.mask)
        later.match(mask: merged.mask)
        merged.submits += later.submits
        merged.fetches += later.fetches
        merged.completes += later.completes
        merged.enqueues += later.enqueues
        merged.notices += later.notices.prefix(max(0, Self.noticeCapacity - merged.notices.count))
        merged.driverAborts += later.driverAborts.prefix(max(0, Self.noticeCapacity - merged.driverAborts.count))
        merged.adminSubmits &+= later.adminSubmits
        if let a = merged.recorded, let b = later.recorded {
            merged.recorded = min(a.lowerBound, b.lowerBound)...max(a.upperBound, b.upperBound)
        } else if merged.recorded == nil {
            merged.recorded = later.recorded
        }
        merged.fingerprint += later.fingerprint.prefix(max(0, Self.fingerprintLength - merged.fingerprint.count))
        while [merged.submits, merged.fetches, merged.completes, merged.enqueues].contains(where: { $0.count > merged.capacity }) {
            merged.tighten()
        }
        return merged
    }

    /// The anchors of this input and of `other`, one recording's parts taken at the same times
    /// (one trace's CPUs kept per CPU), each list in time order.
    public func interleaved(with other: AnchorSet) -> AnchorSet {
        var merged = followed(by: other)
        for k in 0..<4 {
            switch k {
            case 0: merged.submits.sort { $0.time < $1.time }
            case 1: merged.fetches.sort { $0.time < $1.time }
            case 2: merged.completes.sort { $0.time < $1.time }
            default: merged.enqueues.sort { $0.time < $1.time }
            }
        }
        merged.notices.sort { $0.time < $1.time }
        merged.driverAborts.sort { $0.time < $1.time }
        return merged
    }

    /// Drops the keys `other` no longer keeps, so both sides sample the same keys.
    public mutating func match(mask other: UInt64) {
        while mask < other { tighten() }
    }
}

/// A guest kernel message about a timeout, or a controller action it causes: the pairs that put
/// a console log on the controller's clock when no command is seen on both sides.
public struct Notice: Sendable, Hashable {
    public enum Kind: UInt8, Sendable {
        /// `I/O N QID q timeout, aborting`: printed just before the guest submits an Abort.
        case guestAborting
        /// `Abort status: 0x…`: printed after the Abort's completion arrived.
        case guestAbortStatus
        /// `… timeout, reset controller`: printed before the guest disables the controller.
        case guestReset
        /// The controller fetched an Abort admin command.
        case hostAbortFetch
        /// The controller queued an Abort's completion.
        case hostAbortCompletion
        /// The controller's enable bit was cleared.
        case hostDisable

        var isGuest: Bool { self == .guestAborting || self == .guestAbortStatus || self == .guestReset }
    }

    static let abortOpcode: UInt32 = 0x08

    public var time: Int64
    public var kind: Kind
    public var qid: UInt16
    /// For a timeout message and an ABORT: the kernel tag of the command given up on (a
    /// console prints it, an ABORT names the command id, whose low 12 bits it is); `.max`
    /// otherwise.
    public var tag: UInt32 = .max
}

/// How one input was placed on the reference clock.
public struct AlignmentReport: Sendable, Equatable {
    public enum Method: String, Sendable {
        case reference, estimated, manual, sameClock = "same-clock", none
        /// From guest timeout messages paired with the controller's aborts and disables.
        case messages
    }
    public var input: UInt16
    public var method: Method
    /// A console placed on a guest trace's clock by its messages: its uncertainty is not the
    /// clock domain's (guest and controller events are ordered by the trace's placement).
    public var consoleOnGuestTrace = false
    /// The input whose causal pairs with this one placed it (estimated inputs): within the
    /// pairs' span their events are ordered against each other by those pairs, whatever the
    /// way from there to the reference clock.
    public var placedBy: UInt16?
    /// Offset (ns) added to this input's times at its first anchor; drift in parts per million.
    public var offset: Int64 = 0
    public var driftPPM: Int64 = 0
    /// Half-width of the interval the true offset lies in (worst window), in ns.
    public var uncertainty: Int64 = 0
    public var pairs: Int = 0
    /// Pairs that contradict the estimate beyond its uncertainty (a bad match or a clock step).
    public var contradictions: Int = 0
    public var windows: Int = 0
    public var note: String = ""
    /// Events whose mapped time was raised to keep this input's own order, and by how much at
    /// most (ns): where the estimate steps back faster than time passes.
    public var heldEvents: UInt64 = 0
    public var largestHold: Int64 = 0
    /// Events before the first / after the last pair: their offset is extrapolated.
    public var extrapolatedBefore: UInt64 = 0
    public var extrapolatedAfter: UInt64 = 0
    /// Where pairs contradict the map beyond `uncertainty` (a clock step: a paused VM, a
    /// debugger stop), clustered; on the estimated guest input's clock until AnalysisSession
    /// moves them onto the reference clock.
    public var poorStretches: [PoorStretch] = []
    /// With a given offset (`manual`): the most the causal pairs say it is off by (0: not
    /// checked, or within their uncertainty).
    public var givenOffsetMisses: Int64 = 0

    /// A stretch of time where the map misses causal pairs by more than the uncertainty.
    public struct PoorStretch: Sendable, Equatable {
        public var from: Int64
        public var to: Int64
        /// Causal pairs the map misses there (0: a step between two stretches of pairs).
        public var pairs: Int
        /// The most a pair there is missed by, or the offset's step (a fetch mapped before its submission, or a
        /// guest completion before the controller's), ns.
        public var worst: Int64

        /// How near the stretch a time must lie to be in doubt (a finding's start or end, a
        /// timeline row): outside it the map follows the stretches of pairs around it.
        public static let margin: Int64 = 10_000_000

        /// Whether `time` lies in the stretch or within `margin` of it.
        public func isNear(_ time: Int64) -> Bool { time >= from - Self.margin && time <= to + Self.margin }
    }
}

/// Estimates the offset (and drift) between a guest clock and a host clock from causal pairs:
/// a command is submitted by the guest before the controller fetches it, and the controller
/// queues its completion before the guest completes it. Matching by (qid, cmdid) tolerates
/// command-id reuse by tracking the offset as it goes, and re-acquires it after a clock step
/// (a paused VM, a gdbstub stop).
public enum ClockAlignment {
    /// A matched pair's offset may differ from the running estimate by this much.
    static let tolerance: Int64 = 20_000_000
    /// How far inside the other input's first (or last) event, where it begins after this
    /// input (or ends before it), the anchors to match begin (end).
    static let edgeMargin: Int64 = 1_000_000
    /// After this many guest anchors in a row without a match, the offset is searched again.
    static let reacquireAfter = 16
    /// The most two clocks of one run are believed to drift apart (`estimate`).
    static let maxDriftPPM: Int64 = 50_000
    /// How far one pair may pull the tracking estimate away from the offset (before the
    /// running average's 1/8): latencies are not the offset (`track`).
    static let creep: Int64 = 100_000
    /// How often (in anchors) the tracking looks ahead for a step of the offset, over how many
    /// anchors, and how far off the estimate the peak found there must lie to be taken (`track`).
    static let checkEvery = 64
    static let lookAhead = 128
    static let stepTolerance: Int64 = 2_000_000
    static let supportWidth: Int64 = 1_000_000

    /// `offset(t_guest) = t_host - t_guest`, as a map on the guest clock; nil when the inputs
    /// share no pair. With `parallel`, the two kinds of pairs are matched on two threads.
    public static func estimate(guest: AnchorSet, host: AnchorSet, parallel: Bool = false) -> (map: ClockMap, report: AlignmentReport)? {
        var g = guest, h = host
        g.match(mask: h.mask)
        h.match(mask: g.mask)
        let fetches = KeyedTimes(h.fetches)
        let submits = fetches.resolve(g.submits.sorted { $0.time < $1.time })
        guard let coarse = modeOffset(submits[...], fetches, around: nil) else { return nil }
        // fetch - submit = offset + latency: an upper bound on the offset.
        // Where the host input was recording, whatever its commands did.
        let recorded = h.recorded
        let matchUpper = { track(submits, against: fetches, start: coarse, boundedAbove: true, recorded: recorded) }
        // enqueue - complete = offset - latency: a lower bound.
        let matchLower = { [completes = g.completes, enqueues = h.enqueues] in
            let keyed = KeyedTimes(enqueues)
            return track(keyed.resolve(completes.sorted { $0.time < $1.time }), against: keyed, start: coarse, boundedAbove: false, recorded: recorded)
        }
        let (upper, lower) = parallel ? inParallel(matchUpper, matchLower) : (matchUpper(), matchLower())
        guard !upper.isEmpty else { return nil }
        let segments = segment(upper: upper, lower: lower)
        guard !segments.list.isEmpty else { return nil }

        var knots: [(time: Int64, offset: Int64)] = []
        for s in segments.list {
            knots.append((s.start, s.offset))
            if s.end > s.start { knots.append((s.end, s.offset)) }
        }
        let map = ClockMap(knots: knots)
        var report = AlignmentReport(input: 0, method: .estimated)
        report.offset = segments.list[0].offset
        report.uncertainty = max(
            segments.list.map(\.halfWidth).max() ?? 0,
            worstViolation(of: map, upper: upper, lower: lower, ignoring: segments.outliers))
        report.pairs = upper.count + lower.count
        report.contradictions = segments.outliers
        report.poorStretches = poorStretches(of: map, segments: segments.list, upper: upper, lower: lower, beyond: report.uncertainty)
        report.windows = segments.list.count
        report.driftPPM = driftPPM(knots)
        // Two clocks of one run drift by parts per million (−5,100 ppm under QEMU's TCG, the
        // most seen); pairs that put them 5 % apart are commands of other runs that happen to
        // share ids (five unrelated traces in one folder were "aligned" at −1,015,360 ppm).
        guard abs(report.driftPPM) <= maxDriftPPM else { return nil }
        return (map, report)
    }

    /// How far the map misses the causal pairs it was made from: the largest amount by which a
    /// fetch would precede its submission (or a guest completion its controller completion)
    /// once mapped, leaving out the `ignoring` worst pairs (those reported as contradicting).
    /// Between two segments the map interpolates, and pairs there may fall outside both
    /// segments' bounds: the reported uncertainty covers them.
    static func worstViolation(
        of map: ClockMap, upper: [(time: Int64, diff: Int64)], lower: [(time: Int64, diff: Int64)], ignoring: Int
    ) -> Int64 {
        var violations: [Int64] = []
        for u in upper {
            let v = map.offset(at: u.time) - u.diff
            if v > 0 { violations.append(v) }
        }
        for l in lower {
            let v = l.diff - map.offset(at: l.time)
            if v > 0 { violations.append(v) }
        }
        guard violations.count > ignoring else { return 0 }
        violations.sort()
        return violations[violations.count - 1 - ignoring]
    }

    /// The pairs the map misses by more than `beyond` (and 100 µs), in stretches: pairs less
    /// than a second apart are one stretch. At most `stretchLimit`, the worst kept.
    /// Between two segments whose offsets differ by that much, the map interpolates across
    /// a clock step it cannot place (the pairs there did not match, or contradicted): any
    /// time of the gap may be off by up to the step.
    static func poorStretches(
        of map: ClockMap, segments: [Segment], upper: [(time: Int64, diff: Int64)], lower: [(time: Int64, diff: Int64)], beyond: Int64
    ) -> [AlignmentReport.PoorStretch] {
        let floor = max(beyond, 0) + 100_000
        var missed: [(time: Int64, by: Int64, pairs: Int)] = []
        for (a, b) in zip(segments, segments.dropFirst()) {
            let step = abs(b.offset - a.offset)
            // Drift alone moves the offset by far less than a millisecond per second.
            let drift = (b.start - a.end) / 100
            if step > floor + drift {
                missed.append((a.end, step, 0))
                missed.append((b.start, step, 0))
            }
        }
        for u in upper {
            let v = map.offset(at: u.time) - u.diff
            if v > floor { missed.append((u.time, v, 1)) }
        }
        for l in lower {
            let v = l.diff - map.offset(at: l.time)
            if v > floor { missed.append((l.time, v, 1)) }
        }
        missed.sort { $0.time < $1.time }
        var stretches: [AlignmentReport.PoorStretch] = []
        for m in missed {
            if let last = stretches.last, m.time - last.to <= 1_000_000_000 {
                stretches[stretches.count - 1].to = m.time
                stretches[stretches.count - 1].pairs += m.pairs
                stretches[stretches.count - 1].worst = max(last.worst, m.by)
            } else {
                stretches.append(.init(from: m.time, to: m.time, pairs: m.pairs, worst: m.by))
            }
        }
        if stretches.count > stretchLimit {
            stretches = Array(stretches.sorted { $0.worst > $1.worst }.prefix(stretchLimit)).sorted { $0.from < $1.from }
        }
        return stretches
    }

    static let stretchLimit = 32

    struct Segment {
        var start: Int64, end: Int64
        var upper = Int64.max, lower = Int64.min
        var pairs = 0
        var offset: Int64 {
            if upper == Int64.max { return lower }
            if lower == Int64.min { return upper }
            return lower + (upper - lower) / 2
        }
        var halfWidth: Int64 { upper == Int64.max || lower == Int64.min ? 0 : (upper - lower) / 2 }
    }

    /// Cuts the guest timeline into the longest stretches over which one offset satisfies every
    /// bound (lower <= offset <= upper); a stretch backed by fewer than 4 pairs is treated as
    /// mismatched pairs and dropped. A stretch that a bound contradicts after a gap of more than
    /// `gapLimit` without pairs ends before the gap, and the next begins after it: the offset
    /// moved somewhere in the gap, and the map interpolates across it. (Cut at the contradicting
    /// bound, the stretch before a 30 s stall held its offset to the stall's end, where a TCG
    /// guest's clock had moved 48 ms: the controller's deletion of the hung queue was placed
    /// 31–35 ms after the guest's cancellations that follow it.)
    static func segment(upper: [(time: Int64, diff: Int64)], lower: [(time: Int64, diff: Int64)])
        -> (list: [Segment], outliers: Int)
    {
        var bounds: [(time: Int64, diff: Int64, isUpper: Bool)] = upper.map { ($0.time, $0.diff, true) }
        bounds += lower.map { ($0.time, $0.diff, false) }
        bounds.sort { ($0.time, $0.isUpper ? 0 : 1) < ($1.time, $1.isUpper ? 0 : 1) }
        var list: [Segment] = []
        var outliers = 0
        var current: Segment?
        func close() {
            guard let c = current else { return }
            if c.pairs >= 4 { list.append(c) } else { outliers += c.pairs }
            current = nil
        }
        func adding(_ b: (time: Int64, diff: Int64, isUpper: Bool), to segment: Segment) -> Segment {
            var next = segment
            if b.isUpper { next.upper = min(next.upper, b.diff) } else { next.lower = max(next.lower, b.diff) }
            return next
        }
        // The current stretch's first bound, and the first bound after the latest gap inside it.
        var first = 0
        var afterGap: Int?
        var i = 0
        while i < bounds.count {
            let b = bounds[i]
            guard let c = current else {
                current = adding(b, to: Segment(start: b.time, end: b.time))
                current!.pairs = 1
                (first, afterGap) = (i, nil)
                i += 1
                continue
            }
            // (Times from the input: a difference that overflows is a gap.)
            let (gap, overflow) = b.time.subtractingReportingOverflow(c.end)
            if overflow || gap > gapLimit { afterGap = i }
            let next = adding(b, to: c)
            if next.lower <= next.upper {
                current = next
                current!.end = b.time
                current!.pairs += 1
                i += 1
                continue
            }
            if let g = afterGap, g > first {
                // The stretch ends before the gap; the bounds after it are taken again.
                var before = Segment(start: bounds[first].time, end: bounds[g - 1].time)
                for k in first..<g { before = adding(bounds[k], to: before) }
                before.pairs = g - first
                current = before
                close()
                i = g
                continue
            }
            close()
        }
        close()
        return (list, outliers)
    }

    /// A stretch of pairs that a later bound contradicts ends before a gap this long (see
    /// `segment`).
    static let gapLimit: Int64 = 100_000_000

    /// Least-squares slope of the offset over time, in ppm (a summary figure only).
    static func driftPPM(_ knots: [(time: Int64, offset: Int64)]) -> Int64 {
        guard knots.count >= 2, knots.last!.time > knots[0].time else { return 0 }
        let n = Double(knots.count)
        let t0 = Double(knots[0].time)
        let xs = knots.map { Double($0.time) - t0 }, ys = knots.map { Double($0.offset) }
        let mx = xs.reduce(0, +) / n, my = ys.reduce(0, +) / n
        var num = 0.0, den = 0.0
        for i in xs.indices {
            num += (xs[i] - mx) * (ys[i] - my)
            den += (xs[i] - mx) * (xs[i] - mx)
        }
        return den > 0 ? Int64((num / den * 1_000_000).rounded()) : 0
    }

    /// The most common host-minus-guest difference between same-key events among `anchors`
    /// (2 ms bins; within ±10 s of `around` when given), refined to the median of the
    /// differences in that bin and its neighbours. Each key's host times are sorted: the range
    /// of a key's differences is its first and last time (cut to the reach by binary search),
    /// the bins are counted in a flat array when they span at most 2^20 bins (a dictionary
    /// otherwise), and the differences of the chosen bins are found by binary search again.
    static func modeOffset(_ anchors: ArraySlice<KeyedTimes.Resolved>, _ host: KeyedTimes, around: Int64?) -> Int64? {
        mode(anchors, host, around: around)?.offset
    }

    /// `modeOffset`, with how many differences lie in its peak (`peakWidth`) and how many
    /// anchors were examined.
    static func mode(_ anchors: ArraySlice<KeyedTimes.Resolved>, _ host: KeyedTimes, around: Int64?)
        -> (offset: Int64, peak: Int, examined: Int)?
    {
        let bin: Int64 = 2_000_000
        let reach: Int64 = 10_000_000_000
        let times = host.times
        let low = around.map { saturatingAdd($0, -reach) } ?? .min
        let high = around.map { saturatingAdd($0, reach) } ?? .max
        // Per anchor with a host time in reach: its time and the indices of the host times of
        // its key whose difference lies in [low, high] (searched once, used by every pass).
        var spans: [(time: Int64, from: Int, to: Int)] = []
        spans.reserveCapacity(min(anchors.count, 4000))
        var lowest = Int64.max, highest = Int64.min
        // At most 4000 anchors whose key the host side has (commands of another controller —
        // a second NVMe disk of the guest, which this controller's trace does not show — may
        // come first in any number), spread evenly over them: the other input may cover only
        // part of this one's time (a QEMU log's `tail`, the second piece of a rotated or split
        // log), and the first 4000 then had no true pair — their differences to the same ids'
        // later commands made the mode, 11 s off.
        let candidates = anchors.reduce(0) { $1.slot >= 0 ? $0 + 1 : $0 }
        let stride = (candidates + 3999) / 4000
        var resolved = 0
        for a in anchors where a.slot >= 0 {
            resolved += 1
            guard (resolved - 1) % stride == 0 else { continue }
            let (lo, hi) = host.bounds(a.slot)
            let from = firstIndex(in: times, from: lo, to: hi, notBelow: saturatingAdd(a.time, low))
            let to = firstIndex(in: times, from: from, to: hi, above: saturatingAdd(a.time, high))
            guard from < to else { continue }
            spans.append((a.time, from, to))
            lowest = min(lowest, times[from] &- a.time)
            highest = max(highest, times[to - 1] &- a.time)
        }
        guard lowest <= highest else { return nil }
        // The fullest bin; a tie goes to the smaller bin.
        let firstBin = floorDiv(lowest, bin), lastBin = floorDiv(highest, bin)
        var bestBin: Int64 = 0, bestCount = 0
        if lastBin &- firstBin < 1 << 20 {
            var counts = [UInt32](repeating: 0, count: Int(lastBin - firstBin) + 1)
            // A difference d counts in bin floorDiv(d, bin) - firstBin = (d - firstBin·bin) / bin,
            // where d - firstBin·bin lies in [0, 2^41): exact in wrapping arithmetic, and a
            // division of a non-negative number by a constant.
            let base = firstBin &* bin
            counts.withUnsafeMutableBufferPointer { counts in
                times.withUnsafeBufferPointer { times in
                    for span in spans {
                        let shift = span.time &+ base
                        for k in span.from..<span.to {
                            counts[Int(UInt64(bitPattern: times[k] &- shift) / UInt64(bin))] &+= 1
                        }
                    }
                }
            }
            for (k, n) in counts.enumerated() where Int(n) > bestCount {
                bestCount = Int(n)
                bestBin = firstBin + Int64(k)
            }
        } else {
            var counts: [Int64: Int] = [:]
            for span in spans {
                for k in span.from..<span.to { counts[floorDiv(times[k] &- span.time, bin), default: 0] += 1 }
            }
            for (b, n) in counts where n > bestCount || (n == bestCount && b < bestBin) {
                bestCount = n
                bestBin = b
            }
        }
        guard bestCount >= 4 else { return nil }
        // Differences in bins bestBin-1 ... bestBin+1: [(bestBin-1)·bin, (bestBin+2)·bin - 1],
        // within [low, high]: within each anchor's span.
        let nearLow = max(low, (bestBin - 1).multipliedReportingOverflow(by: bin).overflow ? low : (bestBin - 1) * bin)
        let nearHigh = min(high, (bestBin + 2).multipliedReportingOverflow(by: bin).overflow ? high : (bestBin + 2) * bin - 1)
        var near: [Int64] = []
        for span in spans {
            let from = firstIndex(in: times, from: span.from, to: span.to, notBelow: saturatingAdd(span.time, nearLow))
            let to = firstIndex(in: times, from: from, to: span.to, above: saturatingAdd(span.time, nearHigh))
            for k in from..<to { near.append(times[k] &- span.time) }
        }
        guard !near.isEmpty else { return nil }
        let peak = densest(&near)
        return (peak.value, peak.count, spans.count)
    }

    /// Where in `window` the anchors' pairs turn from offset `from` to offset `to`: the index
    /// that the most anchors agree with (those before it nearer a command of their id at
    /// `from`, those after it nearer one at `to`); nil when none is nearer `to`.
    static func changePoint(_ window: ArraySlice<KeyedTimes.Resolved>, _ host: KeyedTimes, from: Int64, to: Int64) -> Int? {
        // Votes: -1 for `from`, +1 for `to`, 0 for neither. And how many anchors have a
        // command of their id within `supportWidth` of each offset: a peak that explains
        // fewer than half as many again as the estimate does is no step (a busy simulated
        // queue's ids came back in lockstep, and a quarter of a window's differences to the
        // next commands of the same ids made a peak 7 ms off).
        var votes: [(index: Int, vote: Int)] = []
        var near = (from: 0, to: 0)
        for k in window.indices where window[k].slot >= 0 {
            let a = window[k]
            let d0 = nearest(host, a, from), d1 = nearest(host, a, to)
            if d0 <= supportWidth { near.from += 1 }
            if d1 <= supportWidth { near.to += 1 }
            guard min(d0, d1) <= tolerance, d0 != d1 else { continue }
            votes.append((k, d1 < d0 ? 1 : -1))
        }
        guard near.to >= 8, 2 * near.to > 3 * near.from, votes.contains(where: { $0.vote > 0 }) else { return nil }
        // Agreement with a switch before vote j: the `from` votes before it and the `to` votes
        // from it on; the earliest best.
        var agree = votes.reduce(0) { $0 + ($1.vote > 0 ? 1 : 0) }
        var best = (agree: agree, at: window.startIndex)
        for v in votes {
            agree += v.vote > 0 ? -1 : 1
            if agree > best.agree { best = (agree, v.index + 1) }
        }
        return best.at < window.endIndex ? best.at : nil
    }

    /// How far the host time of `a`'s key nearest to `a.time + offset` lies from it (`.max`
    /// when the key has none).
    static func nearest(_ host: KeyedTimes, _ a: KeyedTimes.Resolved, _ offset: Int64) -> Int64 {
        let times = host.times
        let (lo, hi) = host.bounds(a.slot)
        let target = saturatingAdd(a.time, offset)
        let k = firstIndex(in: times, from: lo, to: hi, notBelow: target)
        var d = Int64.max
        if k < hi { d = min(d, times[k] &- target) }
        if k > lo { d = min(d, target &- times[k - 1]) }
        return d
    }

    /// Width of the window `densest` looks for the pairs' peak in.
    static let peakWidth: Int64 = 100_000

    /// The median of the differences in the `peakWidth` window that holds most of them (the
    /// earliest such window). Where command ids come back within a few milliseconds (a busy
    /// queue reuses its 64–1024 ids every millisecond), the bins around the mode also hold the
    /// differences to the same id's earlier and later commands, one reuse period apart; at
    /// the start of a trace only the later ones exist, and their median lay a whole period off
    /// (1.1 ms on a simulated 6 ms run): the tracking then paired every submission with the
    /// next command of its id. The true pairs share one latency and stand out as the peak;
    /// the others spread with the varying reuse periods.
    static func densest(_ values: inout [Int64]) -> (value: Int64, count: Int) {
        values.sort()
        var best = (from: 0, count: 0)
        var from = 0
        for to in values.indices {
            while values[to] - values[from] > peakWidth { from += 1 }
            if to - from + 1 > best.count { best = (from, to - from + 1) }
        }
        return (values[best.from + best.count / 2], best.count)
    }

    static func saturatingAdd(_ a: Int64, _ b: Int64) -> Int64 {
        let (r, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? .max : .min) : r
    }

    /// The first index in `from..<to` of sorted `times` whose time is at least `t`.
    @inline(__always)
    static func firstIndex(in times: [Int64], from start: Int, to end: Int, notBelow t: Int64) -> Int {
        var lo = start, hi = end
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if times[mid] < t { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// The first index in `from..<to` of sorted `times` whose time is above `t`.
    @inline(__always)
    static func firstIndex(in times: [Int64], from start: Int, to end: Int, above t: Int64) -> Int {
        var lo = start, hi = end
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if times[mid] <= t { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

    /// Matches each guest anchor (sorted by time) to the unused host anchor of the same key
    /// closest to the running offset estimate; returns (guest time, host - guest) per match.
    /// The closest time is found by binary search from the key's cursor. After `reacquireAfter`
    /// misses in a row the offset is searched again over the next 512 anchors; when that finds
    /// nothing new (the other input has no events there: not a clock step), the next search
    /// waits for twice as many misses in a row (at most 256; a match starts again from 16): a
    /// long stretch that only one input covers costs one search per 256 anchors rather than
    /// one per 16. A search starts where its run of misses began, so a step is still found at
    /// the anchor it happened at.
    ///
    /// A submission's pair is the offset plus the latency to its fetch. With `boundedAbove`
    /// (the submissions' side) the estimate follows smaller differences at once and larger ones
    /// by at most `creep` a pair: a command that waited out a hang (fetched 10 ms after its
    /// submission) is a true bound, but an estimate that followed such latencies drifted off
    /// the offset, and where ids come back within milliseconds every later submission was then
    /// paired with the next command of its id (a simulated run: bounds 18 ms off for 150 ms).
    /// The completions' side follows every pair (its latencies are short).
    static func track(
        _ guestSide: [KeyedTimes.Resolved], against host: KeyedTimes, start: Int64, boundedAbove: Bool,
        recorded: ClosedRange<Int64>? = nil
    ) -> [(time: Int64, diff: Int64)] {
        let times = host.times
        // Per key, how many of its host times are used (matched or passed over).
        var cursor = [Int32](repeating: 0, count: host.keyCount)
        var estimate = start
        var out: [(time: Int64, diff: Int64)] = []
        out.reserveCapacity(guestSide.count)
        var misses = 0
        var patience = reacquireAfter
        // Where the other input begins after this one (or ends before it), an anchor near that
        // end may have its pair beyond it, and the nearest command of its id inside then lies
        // up to `tolerance` off: where ids come back within milliseconds it was taken, and the
        // tracking followed it (a QEMU log's tail placed 20–30 ms off). Anchors placed before
        // `edgeMargin` inside such an end are passed over.
        // (The host input's span is where it recorded events of any kind: its commands' span
        // ends where a hang stopped the controller's fetches.)
        let hostFirst = min(recorded?.lowerBound ?? host.first, host.first), hostLast = max(recorded?.upperBound ?? host.last, host.last)
        // Told by more than `tolerance`: the coarse offset may lie a reuse period of the ids
        // off (1–2 ms on simulated runs of a few ms), which a finer test took for a log that
        // began late, and the pairs it passed over were the ones that corrected the offset.
        // (The margin is at most an eighth of a short input's span.)
        let margin = min(edgeMargin, max((hostLast &- hostFirst) / 8, 0))
        let startsLate = (guestSide.first.map { $0.time &+ start } ?? .max) < hostFirst &- tolerance
        let endsEarly = (guestSide.last.map { $0.time &+ start } ?? .min) > hostLast &+ tolerance
        let low = startsLate ? hostFirst &+ margin : hostFirst &- tolerance
        let high = endsEarly ? hostLast &- margin : hostLast &+ tolerance
        var i = 0
        var nextCheck = 0
        var step: (at: Int, to: Int64)?
        while i < guestSide.count {
            if let s = step, i >= s.at {
                estimate = s.to
                step = nil
            }
            if i >= nextCheck, step == nil {
                // Every `checkEvery` anchors, the peak of the next `lookAhead` anchors'
                // differences: where it lies off the running estimate (a clock step up, which
                // the estimate follows only by `creep` a pair; a coarse offset taken from
                // another part of the run), the estimate moves to it. Between steps of a VM
                // paused again and again (a debugger attached every few seconds), the estimate
                // otherwise stayed behind, and the nearest commands of the same ids within
                // `tolerance` were taken as pairs: a QEMU 10 log placed up to 1 s off under a
                // stated ±8 ms.
                // The step is taken where the anchors of the window turn from the estimate's
                // pairs to the peak's: taken at the window's start, the anchors before a step
                // inside it were paired with the later offset's commands of their ids.
                // (Only anchors placed where the other input records: those beyond its ends
                // have no pair, and the peak of their differences to the same ids' commands was
                // taken for a step, placing a log's tail a reuse period off.)
                nextCheck = i + checkEvery
                let upTo = min(i + lookAhead, guestSide.count)
                func placed(_ k: Int) -> Bool {
                    let target = guestSide[k].time &+ estimate
                    return guestSide[k].slot >= 0 && target >= low && target <= high
                }
                // Most anchors with a command of their id near the estimate: no step (the peak
                // is not searched for: that cost a third of the analysis of a real run). The
                // count stops once half of them are near, and the window is made only when
                // the peak is sought (every check made two arrays and asked every anchor).
                var placedCount = 0
                for k in i..<upTo where placed(k) { placedCount += 1 }
                var near = 0
                if placedCount >= 16 {
                    for k in i..<upTo where placed(k) && nearest(host, guestSide[k], estimate) <= supportWidth {
                        near += 1
                        if 2 * near >= placedCount { break }
                    }
                }
                if placedCount >= 16, 2 * near < placedCount,
                    case let indices = (i..<upTo).filter(placed), case let window = indices.map({ guestSide[$0] }),
                    let local = mode(window[...], host, around: estimate),
                    local.peak >= 8, local.peak * 4 >= local.examined, abs(local.offset - estimate) > stepTolerance,
                    let k = changePoint(window[...], host, from: estimate, to: local.offset)
                {
                    let at = indices[k]
                    step = (at, local.offset)
                    nextCheck = max(nextCheck, at)
                    if at == i {
                        estimate = local.offset
                        step = nil
                    }
                }
            }
            let a = guestSide[i]
            i += 1
            guard a.slot >= 0 else { continue }
            let target = a.time + estimate
            // Where the other input has no event (before it begins or after it ends: a QEMU
            // log's tail, a log that stops first) nothing pairs: no miss. Counted as misses,
            // such anchors set off searches that found only other commands of their ids, and
            // the map they made put the clocks 50 % apart.
            if target < low || target > high { continue }
            let (lo, hi) = host.bounds(a.slot)
            var j = lo + Int(cursor[Int(a.slot)])
            if j < hi {
                // The walk from the cursor towards the target, done by binary search: the
                // distance to the target falls until the first time at or above it, then rises
                // (ties go to the later time).
                let k = firstIndex(in: times, from: j, to: hi, notBelow: target)
                if k == hi || (k > j && abs(times[k] - target) > abs(times[k - 1] - target)) {
                    j = k - 1
                } else {
                    j = k
                    while j + 1 < hi, abs(times[j + 1] - target) <= abs(times[j] - target) { j += 1 }
                }
            }
            guard j < hi, abs(times[j] - target) <= tolerance else {
                misses += 1
                if misses >= patience {
                    let from = i - misses
                    misses = 0
                    if let again = modeOffset(guestSide[from..<min(from + 512, guestSide.count)], host, around: estimate),
                        abs(again - estimate) > tolerance
                    {
                        estimate = again
                        i = from
                        patience = reacquireAfter
                    } else {
                        patience = min(patience * 2, 256)
                    }
                }
                continue
            }
            misses = 0
            patience = reacquireAfter
            let diff = times[j] - a.time
            out.append((a.time, diff))
            let above = diff - estimate
            estimate += (boundedAbove ? min(above, creep) : above) / 8
            // A fetch that lies more than `creep` above the estimate is a bound all the same
            // (a fetch of the key after the submission), but it is not used up: it may be the
            // next command's of the key. A submission the controller never fetched (a hang's,
            // cancelled at the reset) took the next command's fetch, that command the one
            // after, and so on: every later pair of the key lay a reuse period off, and the
            // estimate crept up with them (a simulated run of 49 resets placed 1.3 ms off
            // after 0.23 s, under a stated ±1.3 ms, and its last hang went untold).
            if !boundedAbove || above <= creep { cursor[Int(a.slot)] = Int32(j + 1 - lo) }
        }
        return out
    }
}

/// One side's anchors grouped by command key for the matching: each key numbered (its slot),
/// its times sorted in one flat array, so that a guest anchor finds its key once and every
/// later step is array indexing.
struct KeyedTimes {
    /// A guest anchor and the slot of its key on the other side (-1: the key is not there).
    struct Resolved {
        var time: Int64
        var slot: Int32
    }

    /// Command key → slot (the analyzer's flat open-addressing table, not a seeded-hash
    /// `Dictionary`).
    private let slots: CommandTable<Int32>
    /// Slot `s`'s times are `times[starts[s]..<starts[s + 1]]`, sorted.
    private let starts: [Int32]
    let times: [Int64]
    /// The earliest and the latest time of all (`.max` and `.min` without any).
    let first: Int64, last: Int64

    init(_ anchors: [Anchor]) {
        var slots = CommandTable<Int32>(capacity: anchors.count)
        var ofAnchor = [Int32](repeating: 0, count: anchors.count)
        var counts: [Int32] = []
        for (n, a) in anchors.enumerated() {
            let s: Int32
            if let known = slots[a.key] {
                s = known
            } else {
                s = Int32(counts.count)
                slots.set(a.key, s)
                counts.append(0)
            }
            counts[Int(s)] += 1
            ofAnchor[n] = s
        }
        var starts = [Int32](repeating: 0, count: counts.count + 1)
        for s in counts.indices { starts[s + 1] = starts[s] + counts[s] }
        var fill = starts
        var times = [Int64](repeating: 0, count: anchors.count)
        for (n, a) in anchors.enumerated() {
            let s = Int(ofAnchor[n])
            times[Int(fill[s])] = a.time
            fill[s] += 1
        }
        for s in counts.indices where counts[s] > 1 { times[Int(starts[s])..<Int(starts[s + 1])].sort() }
        self.slots = slots
        self.starts = starts
        self.times = times
        first = anchors.lazy.map(\.time).min() ?? .max
        last = anchors.lazy.map(\.time).max() ?? .min
    }

    var keyCount: Int { starts.count - 1 }

    @inline(__always)
    func bounds(_ slot: Int32) -> (Int, Int) { (Int(starts[Int(slot)]), Int(starts[Int(slot) + 1])) }

    /// `anchors` with the slots of their keys here.
    func resolve(_ anchors: [Anchor]) -> [Resolved] {
        anchors.map { Resolved(time: $0.time, slot: slots[$0.key] ?? -1) }
    }
}
