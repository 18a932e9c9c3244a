import ShadowBellAnalysis
import ShadowBellCore

/// The state of one queue right after one event, as the timeline pictures need it.
public struct StateSample: Sendable, Hashable {
    public var event: Event
    public var published: UInt32?
    public var controllerSeen: UInt32?
    public var controllerEventIdx: UInt32?
    public var driverEventIdxRead: UInt32?
    public var controllerWaiting: Bool
    /// A mutual-wait window is open: both sides wait. Whether it becomes a finding depends on
    /// how long it lasts (`--min-wait`); see `ChartWindow.shortWaits`.
    public var windowOpen: Bool
    /// `published` is the driver's CQ head inferred from the completions the guest handled.
    public var publishedInferred = false
    /// The SQ's EventIdx slot was not written by the controller since the Doorbell Buffer
    /// Config (`QueueSnapshot.eventIdxUnwrittenSinceConfig`): drawn at the driver's 0.
    public var eventIdxUnwrittenSinceConfig = false
    /// The event's position among its queue's events in the pass that recorded it (0 when not
    /// counted): gaps between recorded samples are the events left out.
    public var ordinal: Int = 0

    public init(_ event: Event, _ q: QueueSnapshot) {
        self.event = event
        published = q.published
        controllerSeen = q.controllerSeen
        controllerEventIdx = q.controllerEventIdx
        driverEventIdxRead = q.driverEventIdxRead
        controllerWaiting = q.controllerWaiting
        windowOpen = q.inMutualWait
        publishedInferred = q.publishedInferred
        eventIdxUnwrittenSinceConfig = q.eventIdxUnwrittenSinceConfig
    }

    public var time: Int64 { event.time }
}

/// The events of a finding's queue around its window: a few before it opened, those inside
/// (the first and last ones when there are many), and a few after it closed.
public struct FindingTimeline: Sendable {
    public var findingIndex: Int
    public var finding: Finding
    /// Where the window ends on the plot: its end, or the end of its clock domain when unresolved.
    public var plotEnd: Int64
    /// Where its samples are taken from as inside the window: its start, or its earliest
    /// evidence up to a second before it (the EventIdx write a cause rests on was left out of
    /// sysrq-hang's picture by the 12 completions between it and the window).
    public var recordFrom: Int64 = 0
    public var samples: [StateSample] = []
    /// Samples inside the window left out to keep memory bounded.
    public var omitted: Int = 0
}

/// Feeds on the analysis observer and keeps, for each finding, a bounded set of state samples
/// of its queue around its window. Memory: at most `leadIn + insideHead + insideTail + after`
/// samples per finding, whatever the trace's size. Run the analysis a second time with
/// `observe` as the observer once the findings are known.
///
/// Each event costs the findings it can still change, not all of them: a finding whose window
/// has not begun (no event of its queue and clock at or after its start yet) takes its lead-in
/// from one ring of the queue's latest samples when its first event comes; a finding whose
/// window is over and whose samples after it are taken is retired. A retired finding would
/// take a later event only if its queue's time went back to its window; `isExact` is then
/// false, and the caller records again with `retires: false` (every finding kept to the end).
public final class WindowRecorder {
    public let leadIn: Int
    public let insideHead: Int
    public let insideTail: Int
    public let after: Int
    /// Whether findings are retired once they cannot change (see the class comment).
    public let retires: Bool
    /// False when an event came back to the window of a retired finding: record again with
    /// `retires: false`.
    @exclusivity(unchecked) public private(set) var isExact = true
    /// Set once every finding is retired: `margin` after the latest window end. An analysis of
    /// one clock domain given it (`AnalysisOptions.observationEnd`) stops there.
    public let end = ObservationEnd()
    /// How far past the latest retired window no event can come back into one: more than any
    /// input's events step back in time, and any offset step of the clock map. `.max` (the
    /// default): never known, the analysis runs to its end.
    public var margin: Int64 = .max
    /// Findings not retired yet, and the latest window end among the retired ones.
    @exclusivity(unchecked) private var unretired = 0
    @exclusivity(unchecked) private var latestRetired = Int64.min

    @exclusivity(unchecked) private var timelines: [FindingTimeline]
    @exclusivity(unchecked) private var lead: [[StateSample]]
    @exclusivity(unchecked) private var head: [[StateSample]]
    /// Ring of the last `insideTail` samples inside the window: `tail[k][tailStart[k]...]` then
    /// `tail[k][..<tailStart[k]]`.
    @exclusivity(unchecked) private var tail: [[StateSample]]
    @exclusivity(unchecked) private var tailStart: [Int]
    @exclusivity(unchecked) private var afterSamples: [[StateSample]]

    /// The findings of one queue on one clock.
    private struct Group {
        var clock: UInt16
        /// Findings whose window has not begun, by start; `nextDormant` is the first of them.
        var byStart: [Int]
        var nextDormant = 0
        var active: [Int] = []
        /// The queue's latest samples on this clock (at most `leadIn`): a ring from `recentStart`.
        var recent: [StateSample] = []
        var recentStart = 0
        /// The latest window end among retired findings.
        var retiredBound = Int64.min
        /// The queue's latest sample on this clock (its state, for an ABORT drawn on it).
        var latest: StateSample?
    }

    /// The queues watched (a few: those of the findings), searched in order, each with its
    /// groups of findings by clock and the count of its events so far; the clock domain of
    /// each input, by index.
    @exclusivity(unchecked) private var watched: [(key: QueueKey, groups: [Group], ordinal: Int)] = []
    @exclusivity(unchecked) private var clockOf: [UInt16] = []

    /// The queues whose events the recorder needs (`AnalysisOptions.observedQueues`): those of
    /// the findings, and the admin SQ of their controllers (the driver's ABORT of a command
    /// is drawn on the command's queue).
    public var queues: Set<QueueKey> {
        Set(watched.map(\.key) + watched.filter { $0.key.type == .sq && $0.key.qid != 0 }.map { QueueKey(controller: $0.key.controller, qid: 0, type: .sq) })
    }

    /// Records around `findings` (by default every finding of `result`), on their queues and clocks.
    public init(
        result: AnalysisResult, findings: [Int]? = nil, leadIn: Int = 16, insideHead: Int = 120, insideTail: Int = 40,
        after: Int = 6, retires: Bool = true
    ) {
        self.leadIn = leadIn
        self.insideHead = insideHead
        self.insideTail = insideTail
        self.after = after
        self.retires = retires
        let chosen = findings ?? Array(result.findings.indices)
        var ends: [UInt16: Int64] = [:]
        for g in result.groups {
            guard let clock = g.sources.first else { continue }
            for s in g.sources {
                while clockOf.count <= Int(s) { clockOf.append(UInt16(clockOf.count)) }
                clockOf[Int(s)] = clock
            }
            ends[clock] = g.lastTime
        }
        timelines = chosen.map { i in
            let f = result.findings[i]
            var t = FindingTimeline(findingIndex: i, finding: f, plotEnd: f.end ?? (f.resolution == nil ? f.start : ends[f.clockInput] ?? f.start))
            t.recordFrom = f.evidence.map(\.time).filter { $0 < f.start && f.start - $0 <= 1_000_000_000 }.min() ?? f.start
            return t
        }
        lead = Array(repeating: [], count: timelines.count)
        head = lead
        tail = lead
        afterSamples = lead
        tailStart = Array(repeating: 0, count: timelines.count)
        unretired = timelines.count
        for (k, t) in timelines.enumerated() {
            let w: Int
            if let known = watched.firstIndex(where: { $0.key == t.finding.queue }) {
                w = known
            } else {
                watched.append((t.finding.queue, [], 0))
                w = watched.count - 1
            }
            if let g = watched[w].groups.firstIndex(where: { $0.clock == t.finding.clockInput }) {
                watched[w].groups[g].byStart.append(k)
            } else {
                watched[w].groups.append(Group(clock: t.finding.clockInput, byStart: [k]))
            }
        }
        for w in watched.indices {
            for g in watched[w].groups.indices {
                // By start; a tie keeps the order of the findings.
                watched[w].groups[g].byStart.sort { (timelines[$0].recordFrom, $0) < (timelines[$1].recordFrom, $1) }
            }
        }
    }

    /// The analysis observer.
    public func observe(_ e: Event, _ q: QueueSnapshot) {
        if e.isDriverAbort, e.b != 0, e.b <= UInt32(UInt16.max) {
            // The driver gives up on a command of a watched queue: the ABORT is one of that
            // queue's events in its picture, with the queue's state as it was.
            let target = QueueKey(controller: e.controller, qid: UInt16(e.b), type: .sq)
            let clock = clock(of: e)
            if let w = watched.firstIndex(where: { $0.key == target }),
                var sample = watched[w].groups.first(where: { $0.clock == clock })?.latest
            {
                sample.event = e
                take(sample, w)
            }
        }
        guard let w = watched.firstIndex(where: { $0.key == q.key }) else { return }
        take(StateSample(e, q), w)
    }

    private func clock(of e: Event) -> UInt16 { Int(e.source) < clockOf.count ? clockOf[Int(e.source)] : e.source }

    /// `sample` as the next event of watched queue `w`.
    private func take(_ sample: StateSample, _ w: Int) {
        var sample = sample
        let e = sample.event
        watched[w].ordinal += 1
        sample.ordinal = watched[w].ordinal
        let clock = clock(of: e)
        guard let g = watched[w].groups.firstIndex(where: { $0.clock == clock }) else { return }
        let t = e.time
        withGroup(w, g) { group in
            group.latest = sample
            if t <= group.retiredBound { isExact = false }
            // Windows that begin here: their lead-in is the queue's latest samples (all of them
            // before the window's start, since no event reached it yet).
            while group.nextDormant < group.byStart.count, timelines[group.byStart[group.nextDormant]].recordFrom <= t {
                let k = group.byStart[group.nextDormant]
                lead[k] = Self.inOrder(group.recent, from: group.recentStart)
                group.active.append(k)
                group.nextDormant += 1
            }
            var retired = false
            for k in group.active {
                if t < timelines[k].recordFrom {
                    if lead[k].count == leadIn { lead[k].removeFirst() }
                    lead[k].append(sample)
                } else if t <= timelines[k].plotEnd {
                    if head[k].count < insideHead {
                        head[k].append(sample)
                    } else if tail[k].count < insideTail {
                        tail[k].append(sample)
                    } else if insideTail == 0 {
                        timelines[k].omitted += 1
                    } else {
                        tail[k][tailStart[k]] = sample
                        tailStart[k] = (tailStart[k] + 1) % insideTail
                        timelines[k].omitted += 1
                    }
                } else if afterSamples[k].count < after {
                    afterSamples[k].append(sample)
                } else if retires {
                    retired = true
                }
            }
            if retired {
                group.active.removeAll { k in
                    guard t > timelines[k].plotEnd, afterSamples[k].count >= after else { return false }
                    group.retiredBound = max(group.retiredBound, timelines[k].plotEnd)
                    unretired -= 1
                    latestRetired = max(latestRetired, timelines[k].plotEnd)
                    return true
                }
                if unretired == 0, margin != .max {
                    let (time, overflow) = latestRetired.addingReportingOverflow(margin)
                    end.time = overflow ? .max : time
                }
            }
            if leadIn > 0 {
                if group.recent.count < leadIn {
                    group.recent.append(sample)
                } else {
                    group.recent[group.recentStart] = sample
                    group.recentStart = (group.recentStart + 1) % leadIn
                }
            }
        }
    }

    /// A ring's samples, oldest first: from `start` to the end, then those before `start`.
    private static func inOrder(_ ring: [StateSample], from start: Int) -> [StateSample] {
        Array(ring[start...] + ring[..<start])
    }

    /// `body` on group `g` of watched queue `w`, in place.
    private func withGroup(_ w: Int, _ g: Int, _ body: (inout Group) -> Void) {
        body(&watched[w].groups[g])
    }

    /// The recorded timelines, in the order of the findings asked for. A finding whose window
    /// never began takes the latest samples of its queue as its lead-in.
    public func finish() -> [FindingTimeline] {
        for w in watched.indices {
            for g in watched[w].groups.indices {
                let group = watched[w].groups[g]
                for k in group.byStart[group.nextDormant...] {
                    lead[k] = Self.inOrder(group.recent, from: group.recentStart)
                }
            }
        }
        return timelines.indices.map { k in
            var t = timelines[k]
            t.samples = lead[k] + head[k] + Self.inOrder(tail[k], from: tailStart[k]) + afterSamples[k]
            return t
        }
    }
}

/// One queue's picture around one or more findings: their recorded samples merged in order,
/// the events left out between them counted, and each finding's window.
public struct QueueView: Sendable {
    public var queue: QueueKey
    public var clockInput: UInt16
    public var samples: [StateSample]
    public var omissions: [(after: Int, count: Int?)]
    public var windows: [ChartWindow]
    /// Where an unresolved window's plot ends (the end of its clock domain).
    public var plotEnd: Int64?

    /// One view per queue and clock, in queue order; windows are numbered by finding index + 1.
    public static func merge(_ timelines: [FindingTimeline]) -> [QueueView] {
        struct Key: Hashable { var queue: QueueKey; var clock: UInt16 }
        let groups = Dictionary(grouping: timelines) { Key(queue: $0.finding.queue, clock: $0.finding.clockInput) }
        return groups.keys.sorted { ($0.queue, $0.clock) < ($1.queue, $1.clock) }.map { key in
            let ts = groups[key]!.sorted { $0.findingIndex < $1.findingIndex }
            var seen: Set<Int> = []
            var samples: [StateSample] = []
            for t in ts {
                for s in t.samples where seen.insert(s.ordinal).inserted { samples.append(s) }
            }
            samples.sort { $0.ordinal < $1.ordinal }
            let windows = ts.map { ChartWindow.of($0.finding, number: $0.findingIndex + 1) }
            let unresolved = ts.filter { $0.finding.end == nil && $0.finding.resolution != nil }.map(\.plotEnd).max()
            return QueueView(
                queue: key.queue, clockInput: key.clock, samples: samples, omissions: omissions(in: samples),
                windows: ChartWindow.shortWaits(in: samples, outside: windows) + windows, plotEnd: unresolved)
        }
    }

    /// Where the ordinals of consecutive samples jump: the events left out there.
    public static func omissions(in samples: [StateSample]) -> [(after: Int, count: Int?)] {
        var out: [(after: Int, count: Int?)] = []
        for i in samples.indices.dropFirst() where samples[i].ordinal > 0 && samples[i - 1].ordinal > 0 {
            let gap = samples[i].ordinal - samples[i - 1].ordinal - 1
            if gap > 0 { out.append((i - 1, gap)) }
        }
        return out
    }
}
