import ShadowBellCore
import Testing

@testable import ShadowBellAnalysis

/// Where the clock map cannot follow the clocks — a step of the offset between two stretches of
/// causal pairs (a VM paused, a gdbstub stop), or pairs it misses — the alignment says so, and a
/// finding judged from the order of guest and controller events near there is marked uncertain.
struct PoorAlignmentTests {
    static func segment(_ start: Int64, _ end: Int64, offset: Int64) -> ClockAlignment.Segment {
        var s = ClockAlignment.Segment(start: start, end: end)
        s.upper = offset + 10_000
        s.lower = offset - 10_000
        s.pairs = 100
        return s
    }

    @Test func aStepBetweenTwoStretchesOfPairsIsAPoorStretch() {
        // 10 s of pairs at offset 1 s, then at 1.0767 s from 10.0003 s on: a 76.7 ms step the
        // map interpolates across 0.3 ms.
        let segments = [Self.segment(0, 10_000_000_000, offset: 1_000_000_000),
                        Self.segment(10_000_300_000, 20_000_000_000, offset: 1_076_700_000)]
        let map = ClockMap(knots: segments.flatMap { [($0.start, $0.offset), ($0.end, $0.offset)] })
        let stretches = ClockAlignment.poorStretches(of: map, segments: segments, upper: [], lower: [], beyond: 10_000)
        #expect(stretches == [AlignmentReport.PoorStretch(from: 10_000_000_000, to: 10_000_300_000, pairs: 0, worst: 76_700_000)])
    }

    @Test func driftIsNoStep() {
        // 2000 ppm of drift: 20 ms over 10 s between the stretches.
        let segments = [Self.segment(0, 10_000_000_000, offset: 1_000_000_000),
                        Self.segment(20_000_000_000, 30_000_000_000, offset: 1_020_000_000)]
        let map = ClockMap(knots: segments.flatMap { [($0.start, $0.offset), ($0.end, $0.offset)] })
        #expect(ClockAlignment.poorStretches(of: map, segments: segments, upper: [], lower: [], beyond: 10_000).isEmpty)
    }

    @Test func pairsTheMapMissesAreCountedWhereTheyAre() {
        let map = ClockMap(constant: 1_000_000_000)
        // fetch − submit = offset + latency ≥ offset: these two say the offset is 5 ms lower.
        let upper: [(time: Int64, diff: Int64)] = [(5_000_000_000, 995_000_000), (5_000_100_000, 996_000_000), (9_000_000_000, 1_000_050_000)]
        let stretches = ClockAlignment.poorStretches(of: map, segments: [], upper: upper, lower: [], beyond: 10_000)
        #expect(stretches == [AlignmentReport.PoorStretch(from: 5_000_000_000, to: 5_000_100_000, pairs: 2, worst: 5_000_000)])
    }
}

/// The driver's give-ups and the console's timeouts are kept per queue, for as many queues as
/// the analysis keeps state for: hostile input naming a new queue in every ABORT (or timeout
/// message) cannot grow them without bound.
struct GiveUpBoundsTests {
    @Test func abortsAndTimeoutsNamingEveryQueueStayBounded() {
        let analyzer = ClockGroupAnalyzer(options: AnalysisOptions(), sources: [0], clock: .timestamps)
        for n in 0..<(ClockGroupAnalyzer.queueLimit + 500) {
            var abort = Event(kind: .driverSubmit, time: Int64(n) * 1_000, controller: UInt16(n >> 16))
            abort.qid = 0
            abort.a = UInt32(n & 0xFFFF)
            abort.b = UInt32(n & 0xFFFF)
            abort.c = 7
            abort.flags = Event.abortsCommandFlag
            analyzer.consume(abort)
            var message = Event(kind: .guestMessage, time: Int64(n) * 1_000 + 1, controller: UInt16(n >> 16))
            message.qid = UInt16(n & 0xFFFF)
            message.a = GuestMessageKind.timeoutAborting.rawValue
            message.b = 7
            analyzer.consume(message)
        }
        #expect(analyzer.driverGiveUps.count <= ClockGroupAnalyzer.queueLimit)
        #expect(analyzer.guestTimeouts.count <= ClockGroupAnalyzer.queueLimit)
    }
}
