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
    public var windowOpen: Bool

    public init(_ event: Event, _ q: QueueState) {
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
    private var byQueue: [QueueKey: [Int]] = [:]
    private var clockOf: [UInt16: UInt16] = [:]

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
            for s in g.sources { clockOf[s] = clock }
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
        for (k, t) in timelines.enumerated() { byQueue[t.finding.queue, default: []].append(k) }
    }

    /// The analysis observer.
    public func observe(_ e: Event, _ q: QueueState) {
        guard let ids = byQueue[q.key] else { return }
        let clock = clockOf[e.source] ?? e.source
        for k in ids where timelines[k].finding.clockInput == clock {
            let f = timelines[k].finding
            let sample = StateSample(e, q)
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
