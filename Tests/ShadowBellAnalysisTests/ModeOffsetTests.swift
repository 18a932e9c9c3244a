import Testing

@testable import ShadowBellAnalysis

/// The clock estimate's offset search (`ClockAlignment.modeOffset`) against its definition
/// computed the plain way: every same-key difference within reach, counted in 2 ms bins, the
/// fullest bin (the smaller on a tie), then among the differences in it and its neighbours the
/// 100 µs window that holds most (the earliest), and its median.
struct ModeOffsetTests {
    static func reference(_ guest: [Anchor], _ host: [Anchor], around: Int64?) -> Int64? {
        let bin: Int64 = 2_000_000
        let low = around.map { ClockAlignment.saturatingAdd($0, -10_000_000_000) } ?? .min
        let high = around.map { ClockAlignment.saturatingAdd($0, 10_000_000_000) } ?? .max
        let byKey = Dictionary(grouping: host, by: \.key)
        var diffs: [Int64] = []
        for a in guest.prefix(4000) {
            for h in byKey[a.key] ?? [] {
                let d = h.time &- a.time
                if d >= low, d <= high { diffs.append(d) }
            }
        }
        var counts: [Int64: Int] = [:]
        for d in diffs { counts[ClockAlignment.floorDiv(d, bin), default: 0] += 1 }
        guard let best = counts.max(by: { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }), best.value >= 4
        else { return nil }
        let near = diffs.filter { ClockAlignment.floorDiv($0, bin) >= best.key - 1 && ClockAlignment.floorDiv($0, bin) <= best.key + 1 }
            .sorted()
        guard !near.isEmpty else { return nil }
        // The 100 µs window holding most of them (the earliest), and its median.
        var bestFrom = 0, bestCount = 0
        for from in near.indices {
            let count = near[from...].prefix { $0 - near[from] <= ClockAlignment.peakWidth }.count
            if count > bestCount { (bestFrom, bestCount) = (from, count) }
        }
        return near[bestFrom + bestCount / 2]
    }

    struct Random {
        var state: UInt64
        mutating func next(_ bound: Int64) -> Int64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int64((state >> 17) % UInt64(bound))
        }
    }

    @Test(arguments: 1...24)
    func matchesTheDefinition(seed: UInt64) {
        var r = Random(state: seed)
        let offset = r.next(40_000_000_000) - 20_000_000_000
        // Seeds 1-8: a few keys reused often; 9-16: wide spread of times (the dictionary path);
        // 17-24: negative times and differences on both sides of zero.
        let keys = seed <= 8 ? 6 : 300
        let span: Int64 = seed > 8 && seed <= 16 ? 9_000_000_000_000 : 30_000_000_000
        let base: Int64 = seed > 16 ? -15_000_000_000 : 1_000_000_000
        var guest: [Anchor] = []
        var host: [Anchor] = []
        for _ in 0..<Int(400 + r.next(1600)) {
            let t = base + r.next(span)
            let key = UInt32(r.next(Int64(keys)))
            guest.append(Anchor(time: t, qid: 1, cmdid: key))
            if r.next(10) < 8 { host.append(Anchor(time: t + offset + r.next(300_000), qid: 1, cmdid: key)) }
            if r.next(10) < 3 { host.append(Anchor(time: base + r.next(span), qid: 1, cmdid: key)) }
        }
        guest.sort { $0.time < $1.time }
        let keyed = KeyedTimes(host)
        let resolved = keyed.resolve(guest)
        for around in [nil, offset, offset + 3_000_000_000, offset - 12_000_000_000] {
            let found = ClockAlignment.modeOffset(resolved[...], keyed, around: around)
            #expect(found == Self.reference(guest, host, around: around), "seed \(seed), around \(String(describing: around))")
            // Where the true offset is in reach, it is found (within the pairs' jitter).
            if around == nil || around == offset {
                #expect(found.map { abs($0 - offset - 150_000) < 200_000 } == true, "seed \(seed): \(String(describing: found))")
            }
        }
    }
}
