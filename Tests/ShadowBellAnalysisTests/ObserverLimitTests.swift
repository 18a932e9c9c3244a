import ShadowBellCore
import Testing

@testable import ShadowBellAnalysis

/// `AnalysisOptions.observedEventsPerQueue`: the observer is shown each queue's first events
/// only, and the queue counts every event it would have been shown.
struct ObserverLimitTests {
    static func scenario() -> Scenario {
        var s = Scenario()
        s.createQueues(entries: 64, at: 0)
        s.dbbufConfig(at: 5)
        for k in 0..<40 {
            let t = Int64(10 + 20 * k)
            s.submit(cmdid: UInt32(k), at: t)
            s.processOne(cmdid: UInt32(k), tail: UInt32(k + 1), reread: UInt32(k + 1), at: t + 5)
            s.complete(cmdid: UInt32(k), at: t + 10)
        }
        return s
    }

    static func observe(_ s: Scenario, limit: Int?) -> (shown: [QueueKey: [Event]], result: GroupResult) {
        var options = AnalysisOptions()
        options.observedEventsPerQueue = limit
        let analyzer = ClockGroupAnalyzer(options: options, sources: [0], clock: .timestamps)
        var shown: [QueueKey: [Event]] = [:]
        analyzer.observer = { e, q in shown[q.key, default: []].append(e) }
        for e in s.events { analyzer.consume(e) }
        return (shown, analyzer.finish())
    }

    @Test(arguments: [0, 1, 7, 1000])
    func theObserverSeesEachQueuesFirstEventsAndTheQueueCountsAll(limit: Int) {
        let s = Self.scenario()
        let all = Self.observe(s, limit: nil)
        let limited = Self.observe(s, limit: limit)
        #expect(all.shown.count >= 2)
        for (key, events) in all.shown {
            #expect(limited.shown[key, default: []] == Array(events.prefix(limit)))
            let q = limited.result.queues.first { $0.key == key }
            #expect(q?.observable == UInt64(events.count))
        }
        // The analysis itself is the same.
        #expect(limited.result.findings.map(\.kind) == all.result.findings.map(\.kind))
        #expect(limited.result.queues.map(\.stats) == all.result.queues.map(\.stats))
    }
}
