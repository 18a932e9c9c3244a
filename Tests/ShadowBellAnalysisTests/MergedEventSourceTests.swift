import ShadowBellCore
import Testing

@testable import ShadowBellAnalysis

/// Several inputs of one clock as one (`MergedEventSource`), on the analysis's thread or ahead of it.
struct MergedEventSourceTests {
    /// Batches of random sizes; fails with `failure` once `failAfter` events were handed out.
    final class Batches: EventSource {
        var summary: InputSummary
        var left: [Event]
        var random: UInt64
        let failAfter: Int?
        var handed = 0

        init(_ events: [Event], seed: UInt64, failAfter: Int? = nil) {
            summary = InputSummary(index: 0, path: "batches", format: .ftraceText)
            left = events
            random = seed
            self.failAfter = failAfter
        }

        func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
            buffer.removeAll(keepingCapacity: true)
            if let failAfter, handed >= failAfter { throw .readFailed(path: "batches", offset: UInt64(handed), reason: "cut") }
            guard !left.isEmpty else { return false }
            random = random &* 6364136223846793005 &+ 1442695040888963407
            var n = min(Int(random >> 33) % 50, left.count)  // empty batches too
            if let failAfter { n = min(n, failAfter - handed) }
            buffer.append(contentsOf: left.prefix(n))
            left.removeFirst(n)
            handed += n
            return true
        }
    }

    /// Times on a coarse grid, so that inputs often tie; `a` names the input and `b` the event.
    static func input(_ k: Int, count: Int, seed: UInt64) -> [Event] {
        var random = seed
        var time: Int64 = 0
        return (0..<count).map { i in
            random = random &* 6364136223846793005 &+ 1442695040888963407
            time += Int64(random >> 61)  // 0…7: many equal times
            return Event(kind: .driverSubmit, time: time, qid: 1, a: UInt32(k), b: UInt32(i))
        }
    }

    /// The order the merge must give: by time, a tie to the input listed first, each input's own order kept.
    static func expected(_ inputs: [[Event]]) -> [Event] {
        inputs.enumerated().flatMap { k, events in events.enumerated().map { (k: k, i: $0.offset, e: $0.element) } }
            .sorted { ($0.e.time, $0.k, $0.i) < ($1.e.time, $1.k, $1.i) }.map(\.e)
    }

    static func drain(_ source: any EventSource) -> (events: [Event], error: InputError?) {
        var all: [Event] = []
        var buffer: [Event] = []
        do {
            while try source.nextBatch(into: &buffer) { all += buffer }
        } catch {
            return (all, error)
        }
        return (all, nil)
    }

    @Test(arguments: [false, true])
    func mergesByTimeWithTiesInInputOrder(ahead: Bool) {
        for seed in UInt64(1)...20 {
            let inputs = (0..<Int(seed % 4) + 1).map { Self.input($0, count: 3_000 + Int(seed) * 37 * $0, seed: seed &+ UInt64($0)) }
            let merged = MergedEventSource(inputs.enumerated().map { Batches($0.element, seed: seed &* 31 &+ UInt64($0.offset)) })
            let (events, error) = Self.drain(ahead ? ReadAheadSource(merged) : merged)
            #expect(error == nil)
            #expect(events.map { [$0.time, Int64($0.a), Int64($0.b)] } == Self.expected(inputs).map { [$0.time, Int64($0.a), Int64($0.b)] })
        }
    }

    /// An input that fails ends the merge there: what was merged before comes first, then the error.
    @Test(arguments: [false, true])
    func aFailingInputEndsTheMergeAfterTheEventsBeforeIt(ahead: Bool) {
        let inputs = [Self.input(0, count: 2_000, seed: 5), Self.input(1, count: 2_000, seed: 6)]
        let merged = MergedEventSource([Batches(inputs[0], seed: 1), Batches(inputs[1], seed: 2, failAfter: 700)])
        let (events, error) = Self.drain(ahead ? ReadAheadSource(merged) : merged)
        #expect(error?.description.contains("cut") == true)
        let fromFailing = events.filter { $0.a == 1 }.map(\.b)
        #expect(fromFailing == (0..<UInt32(fromFailing.count)).map { $0 })
        #expect(fromFailing.count <= 700)
        // Everything handed out before the failure is in time order, as in a whole merge.
        #expect(events.map(\.time) == events.map(\.time).sorted())
    }
}
