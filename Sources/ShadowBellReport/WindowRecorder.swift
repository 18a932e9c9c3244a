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
    public var samples: [StateSample] = []
    /// Samples inside the window left out to keep memory bounded.
    public var omitted: Int = 0
}

/// Feeds on the analysis observer and keeps, for each finding, a bounded set of state samples
/// of its queue around its window. Memory: at most `leadIn + insideHead + insideTail + after`
/// samples per finding, whatever the trace's size. Run the analysis a second time with
/// `observe` as the observer once the findings are known.
public final class WindowRecorder {
    public let leadIn: Int
    public let insideHead: Int
    public let insideTail: Int
    public let after: Int

    private var timelines: [FindingTimeline]
    private var lead: [[StateSample]]
    private var head: [[StateSample]]
    private var tail: [[StateSample]]
    private var afterSamples: [[StateSample]]
    /// The queues watched (a few: those of the findings), searched in order, each with its
    /// findings and the count of its events so far; the clock domain of each input, by index.
    private var watched: [(key: QueueKey, findings: [Int], ordinal: Int)] = []
    private var clockOf: [UInt16] = []

    /// The queues whose events the recorder needs (`AnalysisOptions.observedQueues`).
    public var queues: Set<QueueKey> { Set(watched.map(\.key)) }

    /// Records around `findings` (by default every finding of `result`), on their queues and clocks.
    public init(
        result: AnalysisResult, findings: [Int]? = nil, leadIn: Int = 16, insideHead: Int = 120, insideTail: Int = 40,
        after: Int = 6
    ) {
        self.leadIn = leadIn
        self.insideHead = insideHead
        self.insideTail = insideTail
        self.after = after
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
            return FindingTimeline(findingIndex: i, finding: f, plotEnd: f.end ?? (f.resolution == nil ? f.start : ends[f.clockInput] ?? f.start))
        }
        lead = Array(repeating: [], count: timelines.count)
        head = lead
        tail = lead
        afterSamples = lead
        for (k, t) in timelines.enumerated() {
            if let w = watched.firstIndex(where: { $0.key == t.finding.queue }) {
                watched[w].findings.append(k)
            } else {
                watched.append((t.finding.queue, [k], 0))
            }
        }
    }

    /// The analysis observer.
    public func observe(_ e: Event, _ q: QueueSnapshot) {
        guard let w = watched.firstIndex(where: { $0.key == q.key }) else { return }
        watched[w].ordinal += 1
        let ordinal = watched[w].ordinal
        let clock = Int(e.source) < clockOf.count ? clockOf[Int(e.source)] : e.source
        for k in watched[w].findings where timelines[k].finding.clockInput == clock {
            let f = timelines[k].finding
            var sample = StateSample(e, q)
            sample.ordinal = ordinal
            if e.time < f.start {
                if lead[k].count == leadIn { lead[k].removeFirst() }
                lead[k].append(sample)
            } else if e.time <= timelines[k].plotEnd {
                if head[k].count < insideHead {
                    head[k].append(sample)
                } else {
                    if tail[k].count == insideTail {
                        tail[k].removeFirst()
                        timelines[k].omitted += 1
                    }
                    tail[k].append(sample)
                }
            } else if afterSamples[k].count < after {
                afterSamples[k].append(sample)
            }
        }
    }

    /// The recorded timelines, in the order of the findings asked for.
    public func finish() -> [FindingTimeline] {
        timelines.indices.map { k in
            var t = timelines[k]
            t.samples = lead[k] + head[k] + tail[k] + afterSamples[k]
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
