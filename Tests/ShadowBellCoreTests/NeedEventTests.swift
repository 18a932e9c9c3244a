import Testing
@testable import ShadowBellCore

/// Independent reference: MMIO is needed iff walking forward from `old` to `new - 1`
/// (mod 2^16) passes through `eventIdx`.
private func referenceNeedEvent(eventIdx: Int, new: Int, old: Int) -> Bool {
    var i = old
    while i != new {
        if i == eventIdx { return true }
        i = (i + 1) & 0xFFFF
    }
    return false
}

@Suite struct NeedEventTests {
    @Test func exhaustiveNearEveryWrapPoint() {
        // All (old, new, eventIdx) within a window of 12 around 0, 0x8000 and 0xFFFF.
        for base in [0, 0x7FFA, 0xFFF6] {
            for o in 0..<12 {
                for n in 0..<12 {
                    for e in 0..<12 {
                        let old = (base + o) & 0xFFFF, new = (base + n) & 0xFFFF
                        let ei = (base + e) & 0xFFFF
                        #expect(
                            needEvent(eventIdx: UInt16(ei), new: UInt16(new), old: UInt16(old))
                                == referenceNeedEvent(eventIdx: ei, new: new, old: old),
                            "ei=\(ei) new=\(new) old=\(old)")
                    }
                }
            }
        }
    }

    @Test func sampledOverTheWholeSpace() {
        var rng = SplitMix64(seed: 0x5eed)
        for _ in 0..<20_000 {
            let old = Int(rng.next() & 0xFFFF)
            let step = Int(rng.next() % 300)  // batches of up to 300 entries
            let new = (old + step) & 0xFFFF
            let ei = Int(rng.next() & 0xFFFF)
            #expect(
                needEvent(eventIdx: UInt16(ei), new: UInt16(new), old: UInt16(old))
                    == referenceNeedEvent(eventIdx: ei, new: new, old: old))
        }
    }

    @Test func spdkVariantRingsAtMostOnceMore() {
        for old in 0..<16 {
            for new in 0..<16 {
                for ei in 0..<16 {
                    let linux = needEvent(eventIdx: UInt16(ei), new: UInt16(new), old: UInt16(old))
                    let spdk = needEventInclusive(eventIdx: UInt16(ei), new: UInt16(new), old: UInt16(old))
                    if linux { #expect(spdk) }
                    if spdk && !linux { #expect(ei == new) }
                }
            }
        }
    }

    @Test func ringIndexWrapsAtQueueSize() {
        #expect(RingIndex.advance(7, entries: 8) == 0)
        #expect(RingIndex.advance(0xFFFF, entries: 0) == 0)
        #expect(RingIndex.distance(from: 6, to: 1, entries: 8) == 3)
        #expect(RingIndex.distance(from: 0xFFFE, to: 1, entries: 0) == 3)
    }
}

struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
