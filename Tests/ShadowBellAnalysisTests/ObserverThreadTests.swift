import ShadowBellCore
import Testing

@testable import ShadowBellAnalysis

/// What an observer is shown while the analysis runs: each clock domain's start before its
/// events (`domainStarts`), and the same sequence whether it is shown inline or on a thread of
/// its own (`ObserverThread`).
struct ObserverThreadTests {
    /// What an observer saw, in order: a domain start or an event with its queue's values.
    enum Seen: Equatable {
        case domain(index: Int, count: Int, inputs: [UInt16], firstTime: Int64)
        case event(Event, QueueKey, [UInt32?], Bool)
    }

    final class Recorder: @unchecked Sendable {
        var seen: [Seen] = []
        func observe(_ e: Event, _ q: QueueSnapshot) {
            seen.append(.event(e, q.key, [q.published, q.controllerSeen, q.controllerEventIdx, q.driverEventIdxRead], q.inMutualWait))
        }
        func start(_ d: DomainStart) {
            seen.append(.domain(index: d.index, count: d.count, inputs: d.inputs.map(\.index), firstTime: d.firstTime))
        }
    }

    /// `commands` commands on sq1 (about four observed events each), from `start` µs.
    static func scenario(commands: Int, start: Int64 = 0) -> Scenario {
        var s = Scenario()
        s.createQueues(entries: 1024, at: start)
        s.dbbufConfig(at: start + 5)
        for k in 0..<commands {
            let t = start + Int64(10 + 20 * k)
            s.submit(cmdid: UInt32(k % 1000), at: t)
            s.processOne(cmdid: UInt32(k % 1000), tail: UInt32((k + 1) % 1024), reread: UInt32((k + 1) % 1024), at: t + 5)
            s.complete(cmdid: UInt32(k % 1000), at: t + 10)
        }
        return s
    }

    /// Two inputs on clocks of their own (two domains), analysed with `observer`/`starts`.
    static func analyse(
        _ events: [[Event]], observer: @escaping (Event, QueueSnapshot) -> Void, starts: @escaping (DomainStart) -> Void
    ) throws -> AnalysisResult {
        let sources: [any EventSource] = events.enumerated().map { i, list in
            let source = DecodedEventsTests.Events(list.map { var e = $0; e.source = UInt16(i); return e })
            source.summary.index = UInt16(i)
            source.summary.path = "input\(i)"
            return source
        }
        return try AnalysisSession.run(sources: sources, options: AnalysisOptions(), observer: observer, domainStarts: starts)
    }

    static let inputs = [scenario(commands: 3_000).events, scenario(commands: 500, start: 7_000_000).events]

    @Test func eachDomainStartsBeforeItsEventsWithTheTimeOfItsFirst() throws {
        let recorder = Recorder()
        let result = try Self.analyse(Self.inputs, observer: recorder.observe, starts: recorder.start)
        #expect(result.groups.count == 2)
        var started: [Int: Int64] = [:]
        var domainOfSource: [UInt16: Int] = [:]
        for seen in recorder.seen {
            switch seen {
            case .domain(let index, let count, let inputs, let firstTime):
                #expect(count == 2)
                #expect(started[index] == nil, "domain \(index) started twice")
                #expect(inputs == result.groups[index].sources)
                #expect(firstTime == result.groups[index].firstTime)
                started[index] = firstTime
                for s in inputs { domainOfSource[s] = index }
            case .event(let e, _, _, _):
                #expect(domainOfSource[e.source] != nil, "an event of input \(e.source) before its domain started")
            }
        }
        #expect(started.count == 2)
    }

    @Test func onAThreadOfItsOwnTheObserverSeesWhatItSeesInline() throws {
        let inline = Recorder()
        let direct = try Self.analyse(Self.inputs, observer: inline.observe, starts: inline.start)
        let threaded = Recorder()
        let handOver = ObserverThread(observe: threaded.observe, domainStarts: threaded.start)
        let result = try Self.analyse(Self.inputs, observer: handOver.event, starts: handOver.domainStart)
        handOver.finish()
        // Several batches, the second domain starting inside one.
        #expect(inline.seen.count > 3 * ObserverThread.batch)
        #expect(threaded.seen == inline.seen)
        #expect(result.findings.map(\.kind) == direct.findings.map(\.kind))
    }

    @Test func aDomainThatStartsAfterTheLastEventShownIsStillShown() {
        let recorder = Recorder()
        let handOver = ObserverThread(observe: recorder.observe, domainStarts: recorder.start)
        let e = Event(kind: .driverSubmit, time: 1, qid: 1, a: 7)
        var q = QueueState(key: QueueKey(controller: 0, qid: 1, type: .sq)).snapshot
        q.published = 3
        handOver.event(e, q)
        handOver.domainStart(DomainStart(index: 1, count: 2, inputs: [], firstTime: 99))
        handOver.finish()
        #expect(recorder.seen == [.event(e, q.key, [3, nil, nil, nil], false), .domain(index: 1, count: 2, inputs: [], firstTime: 99)])
    }
}
