import ShadowBellCore
import Testing

@testable import ShadowBellAnalysis

/// An inferred wait keeps the ids of the first commands not fetched, updated in place as the
/// queue's pending submissions change: always what the definition (the first `stuckIDLimit`
/// pending cmdids) gives.
@Suite struct StuckCommandIDTests {
    typealias SplitMix = CommandTableTests.SplitMix

    static func pending(_ id: UInt32) -> PendingSubmission {
        PendingSubmission(cmdid: id, at: EventRef(Event(kind: .driverSubmit, time: Int64(id), qid: 1, a: id)))
    }

    static func definition(_ pending: [PendingSubmission]) -> [UInt32] {
        pending.prefix(ClockGroupAnalyzer.stuckIDLimit).map(\.cmdid)
    }

    @Test(arguments: [1, 2, 3, 4])
    func keptInPlaceAsTheDefinitionSays(seed: UInt64) {
        var rng = SplitMix(state: seed)
        var pending: [PendingSubmission] = []
        var ids: [UInt32] = []
        var next: UInt32 = 0
        for _ in 0..<20_000 {
            let r = rng.next()
            switch r % 8 {
            case 0, 1, 2, 3:
                // Submitted (sometimes a burst, taking the queue past the limit).
                for _ in 0...(r >> 8) % (r % 8 == 3 ? 40 : 2) {
                    pending.append(Self.pending(next))
                    next &+= 1
                }
            case 4, 5:
                // Fetched: the first pending command, or one further on.
                if !pending.isEmpty { pending.remove(at: Int((r >> 8) % UInt64(min(pending.count, 3)))) }
            case 6:
                // Cancelled anywhere in the queue.
                if !pending.isEmpty { pending.remove(at: Int((r >> 8) % UInt64(pending.count))) }
            default:
                // Ids of another queue's state (not a prefix of these at all).
                ids = (0..<((r >> 8) % 40)).map { UInt32($0) &* 7 &+ 100_000 }
            }
            ClockGroupAnalyzer.keepFirstIDs(of: pending, in: &ids)
            #expect(ids == Self.definition(pending))
        }
    }

    @Test func emptyPendingEmptiesTheIDs() {
        var ids: [UInt32] = [1, 2, 3]
        ClockGroupAnalyzer.keepFirstIDs(of: [], in: &ids)
        #expect(ids.isEmpty)
    }
}
