import ShadowBellCore

/// Maps one input's timestamps onto the reference clock: `reference = t + offset(t)`, with the
/// offset piecewise linear between knots (on the input's own clock) and constant beyond them.
public struct ClockMap: Sendable, Equatable {
    /// (time on this input's clock, offset to add), sorted by time.
    public private(set) var knots: [(time: Int64, offset: Int64)]

    public static let identity = ClockMap(constant: 0)

    public init(constant offset: Int64) { knots = [(0, offset)] }

    public init(knots: [(time: Int64, offset: Int64)]) {
        self.knots = knots.isEmpty ? [(0, 0)] : knots.sorted { $0.time < $1.time }
    }

    public static func == (lhs: ClockMap, rhs: ClockMap) -> Bool {
        lhs.knots.map(\.time) == rhs.knots.map(\.time) && lhs.knots.map(\.offset) == rhs.knots.map(\.offset)
    }

    public var isIdentity: Bool { knots.count == 1 && knots[0].offset == 0 }

    /// The offset at `t` (linear interpolation between knots, integer arithmetic).
    public func offset(at t: Int64) -> Int64 {
        if knots.count == 1 || t <= knots[0].time { return knots[0].offset }
        if t >= knots[knots.count - 1].time { return knots[knots.count - 1].offset }
        var lo = 0, hi = knots.count - 1
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if knots[mid].time <= t { lo = mid } else { hi = mid }
        }
        let a = knots[lo], b = knots[hi]
        let span = b.time - a.time
        guard span > 0 else { return a.offset }
        // (t - a) * (Δoffset) fits in 128 bits; offsets and spans are far below 2^63.
        let delta = b.offset - a.offset
        let product = (t - a.time).multipliedFullWidth(by: delta)
        let (q, _) = span.dividingFullWidth(product)
        return a.offset + q
    }

    @inline(__always)
    public func map(_ t: Int64) -> Int64 { t + offset(at: t) }

    /// The map from the reference clock back to this input's clock, as a map of its own.
    public var inverse: ClockMap {
        ClockMap(knots: knots.map { (time: $0.time + $0.offset, offset: -$0.offset) })
    }

    /// `other` then `self`: maps `other`'s source clock through `other` and then this map.
    public func composed(after other: ClockMap) -> ClockMap {
        ClockMap(knots: other.knots.map { k in
            let mid = k.time + k.offset
            return (time: k.time, offset: k.offset + offset(at: mid))
        })
    }
}

/// An event source whose timestamps are mapped onto another clock.
final class MappedEventSource: EventSource {
    let base: any EventSource
    let clock: ClockMap

    init(_ base: any EventSource, clock: ClockMap) {
        self.base = base
        self.clock = clock
    }

    var summary: InputSummary { base.summary }

    func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        let more = try base.nextBatch(into: &buffer)
        for i in buffer.indices { buffer[i].time = clock.map(buffer[i].time) }
        return more
    }
}
