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

    /// The map of a clock `shift` behind this one: `t` on it is `t + shift` on this one's input.
    public func shifted(by shift: Int64) -> ClockMap {
        ClockMap(knots: knots.map { (ClockAlignment.saturatingAdd($0.time, -shift), ClockAlignment.saturatingAdd($0.offset, shift)) })
    }

    /// The offset at `t` (linear interpolation between knots, integer arithmetic).
    public func offset(at t: Int64) -> Int64 {
        var hint = 0
        return offset(at: t, hint: &hint)
    }

    /// The offset at `t`, starting from the knot `hint` (the one found for the previous time):
    /// a source's times mostly rise, so the knot is mostly the same one or the next, and the
    /// binary search runs only when it is neither.
    @inline(__always)
    func offset(at t: Int64, hint: inout Int) -> Int64 {
        let last = knots.count - 1
        if last == 0 || t <= knots[0].time { return knots[0].offset }
        if t >= knots[last].time { return knots[last].offset }
        // The knot before `t`: the last whose time is at most `t` (`t` lies before the last knot).
        var lo = hint
        if !(lo < last && knots[lo].time <= t && t < knots[lo + 1].time) {
            if lo + 1 < last && knots[lo + 1].time <= t && t < knots[lo + 2].time {
                lo += 1
            } else {
                lo = 0
                var hi = last
                while hi - lo > 1 {
                    let mid = (lo + hi) / 2
                    if knots[mid].time <= t { lo = mid } else { hi = mid }
                }
            }
            hint = lo
        }
        let a = knots[lo], b = knots[lo + 1]
        // Between the two ends of one window the offset is constant.
        if a.offset == b.offset { return a.offset }
        let span = b.time - a.time
        guard span > 0 else { return a.offset }
        // (t - a) * (Δoffset) fits in 128 bits; offsets and spans are far below 2^63.
        let (delta, o1) = b.offset.subtractingReportingOverflow(a.offset)
        guard !o1 else { return a.offset }
        let product = (t - a.time).multipliedFullWidth(by: delta)
        // |q| <= |delta| since t - a.time < span: no overflow.
        let (q, _) = span.dividingFullWidth(product)
        return a.offset &+ q
    }

    /// `t` on the reference clock (saturating: a hostile timestamp near the limits of Int64
    /// stays at the limit instead of trapping).
    @inline(__always)
    public func map(_ t: Int64) -> Int64 {
        var hint = 0
        return map(t, hint: &hint)
    }

    @inline(__always)
    func map(_ t: Int64, hint: inout Int) -> Int64 {
        let off = offset(at: t, hint: &hint)
        let (r, overflow) = t.addingReportingOverflow(off)
        return overflow ? (off > 0 ? .max : .min) : r
    }

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

/// An event source whose timestamps are mapped onto another clock, keeping the input's own
/// order: a mapped time never precedes the previous event's mapped time (where the estimated
/// offset falls faster than time passes — a clock step between two stretches of pairs — later
/// events are held at the earlier instant instead of being moved before it). Counts what it had
/// to hold and what lay outside the span of the map's knots (extrapolated offsets).
final class MappedEventSource: EventSource {
    let base: any EventSource
    let clock: ClockMap
    /// The guest kernel's messages' map when it is not `clock` (a console whose ftrace dump
    /// was placed by pairs: its messages carry printk stamps, AnalysisSession).
    let messageClock: ClockMap?
    @exclusivity(unchecked) private var messageKnot = 0
    @exclusivity(unchecked) private var lastMapped = Int64.min
    /// Events whose mapped time was raised to keep the input's order, and the most any was raised.
    @exclusivity(unchecked) private(set) var heldEvents: UInt64 = 0
    @exclusivity(unchecked) private(set) var largestHold: Int64 = 0
    /// Events before the first knot or after the last (the offset there is extrapolated).
    @exclusivity(unchecked) private(set) var extrapolatedBefore: UInt64 = 0
    @exclusivity(unchecked) private(set) var extrapolatedAfter: UInt64 = 0
    private let firstKnot: Int64
    private let lastKnot: Int64
    /// The knot the last time fell after (`ClockMap.offset(at:hint:)`).
    @exclusivity(unchecked) private var knot = 0

    init(_ base: any EventSource, clock: ClockMap, messageClock: ClockMap? = nil) {
        self.base = base
        self.clock = clock
        self.messageClock = messageClock
        firstKnot = clock.knots.count > 1 ? clock.knots[0].time : Int64.min
        lastKnot = clock.knots.count > 1 ? clock.knots[clock.knots.count - 1].time : Int64.max
    }

    var summary: InputSummary { base.summary }

    func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        let more = try base.nextBatch(into: &buffer)
        for i in buffer.indices {
            let t = buffer[i].time
            if t < firstKnot { extrapolatedBefore += 1 } else if t > lastKnot { extrapolatedAfter += 1 }
            var mapped = buffer[i].kind == .guestMessage && messageClock != nil
                ? messageClock!.map(t, hint: &messageKnot) : clock.map(t, hint: &knot)
            if mapped < lastMapped {
                heldEvents += 1
                largestHold = max(largestHold, lastMapped - mapped)
                mapped = lastMapped
            }
            lastMapped = mapped
            buffer[i].time = mapped
        }
        return more
    }
}
