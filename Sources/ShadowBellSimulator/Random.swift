/// xoshiro256** seeded through SplitMix64: the simulator's only source of randomness, so the
/// same seed gives the same run on every machine. No Foundation, no system generator.
public struct Xoshiro256: Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(seed: UInt64) {
        var sm = seed
        func splitMix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(&sm)
        s1 = splitMix(&sm)
        s2 = splitMix(&sm)
        s3 = splitMix(&sm)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform in `0..<n` (Lemire's multiply-shift; `n` = 0 gives 0).
    @inline(__always)
    public mutating func below(_ n: UInt64) -> UInt64 {
        n == 0 ? 0 : next().multipliedFullWidth(by: n).high
    }

    /// Uniform in `lo...hi`.
    @inline(__always)
    public mutating func inRange(_ lo: Int64, _ hi: Int64) -> Int64 {
        hi <= lo ? lo : lo + Int64(below(UInt64(hi - lo) + 1))
    }

    /// True with probability `percent` / 100.
    @inline(__always)
    public mutating func chance(percent: Int) -> Bool {
        percent > 0 && below(100) < UInt64(percent)
    }

    /// Uniform in (0, 1].
    @inline(__always)
    public mutating func unitOpenZero() -> Double {
        Double((next() >> 11) + 1) * 0x1.0p-53
    }
}

/// Natural logarithm from IEEE basic operations only (bit-identical everywhere), for x > 0.
func naturalLog(_ x: Double) -> Double {
    let exponent = Double(x.exponent)
    let m = x.significand  // [1, 2)
    let z = (m - 1) / (m + 1)  // |z| <= 1/3
    let z2 = z * z
    var term = z
    var sum = 0.0
    var k = 1.0
    for _ in 0..<14 {
        sum += term / k
        term *= z2
        k += 2
    }
    return exponent * 0.693_147_180_559_945_3 + 2 * sum
}

/// A delay in nanoseconds: a base shape, optionally mixed with a rare long tail
/// (a store that sits in the buffer while the CPU takes an interrupt or a cache miss).
public struct DelayDistribution: Sendable, Hashable, CustomStringConvertible {
    public enum Shape: Sendable, Hashable {
        case fixed(Int64)
        case uniform(Int64, Int64)
        case exponential(mean: Int64)
    }

    public var shape: Shape
    /// Percentage (0–100) of draws taken from `tail` instead of `shape`.
    public var tailPercent: Int
    public var tail: (lo: Int64, hi: Int64)

    public init(_ shape: Shape, tailPercent: Int = 0, tail: (Int64, Int64) = (0, 0)) {
        self.shape = shape
        self.tailPercent = tailPercent
        self.tail = (lo: tail.0, hi: tail.1)
    }

    /// The longest delay a draw can give (ns), its tail included.
    public var longest: Int64 {
        let main: Int64
        switch shape {
        case .fixed(let v): main = v
        case .uniform(let lo, let hi): main = max(lo, hi)
        // (Its draws are capped at 10^15 ns: the mean is what a user sets.)
        case .exponential(let mean): main = mean
        }
        return tailPercent > 0 ? max(main, tail.lo, tail.hi) : main
    }

    public static func fixed(_ ns: Int64) -> Self { Self(.fixed(ns)) }
    public static func uniform(_ lo: Int64, _ hi: Int64) -> Self { Self(.uniform(lo, hi)) }
    public static func exponential(mean: Int64) -> Self { Self(.exponential(mean: mean)) }

    public func withTail(percent: Int, _ lo: Int64, _ hi: Int64) -> Self {
        var copy = self
        copy.tailPercent = percent
        copy.tail = (lo: lo, hi: hi)
        return copy
    }

    @inline(__always)
    func draw(_ rng: inout Xoshiro256) -> Int64 {
        if tailPercent > 0 && rng.chance(percent: tailPercent) {
            return rng.inRange(tail.lo, tail.hi)
        }
        switch shape {
        case .fixed(let ns): return ns
        case .uniform(let lo, let hi): return rng.inRange(lo, hi)
        case .exponential(let mean):
            let v = -naturalLog(rng.unitOpenZero()) * Double(mean)
            return v > 1e15 ? 1_000_000_000_000_000 : Int64(v)
        }
    }

    /// `fixed:N`, `uniform:LO:HI` or `exp:MEAN`, optionally followed by `,tail:PCT:LO:HI`
    /// (all in nanoseconds, PCT an integer percentage).
    public init?(parsing text: String) {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard let first = parts.first, parts.count <= 2 else { return nil }
        let fields = first.split(separator: ":").map { Int64($0) }
        let name = first.split(separator: ":").first.map(String.init) ?? ""
        switch (name, fields.count) {
        case ("fixed", 2):
            guard let n = fields[1], n >= 0 else { return nil }
            self.init(.fixed(n))
        case ("uniform", 3):
            guard let lo = fields[1], let hi = fields[2], lo >= 0, hi >= lo else { return nil }
            self.init(.uniform(lo, hi))
        case ("exp", 2):
            guard let m = fields[1], m >= 0 else { return nil }
            self.init(.exponential(mean: m))
        default: return nil
        }
        if parts.count == 2 {
            let t = parts[1].split(separator: ":")
            guard t.count == 4, t[0] == "tail", let pct = Int(t[1]), let lo = Int64(t[2]),
                let hi = Int64(t[3]), (0...100).contains(pct), lo >= 0, hi >= lo
            else { return nil }
            self.tailPercent = pct
            self.tail = (lo: lo, hi: hi)
        }
    }

    public var description: String {
        var s: String
        switch shape {
        case .fixed(let n): s = "fixed:\(n)"
        case .uniform(let lo, let hi): s = "uniform:\(lo):\(hi)"
        case .exponential(let m): s = "exp:\(m)"
        }
        if tailPercent > 0 { s += ",tail:\(tailPercent):\(tail.lo):\(tail.hi)" }
        return s
    }

    public static func == (l: Self, r: Self) -> Bool {
        l.shape == r.shape && l.tailPercent == r.tailPercent && l.tail == r.tail
    }

    public func hash(into h: inout Hasher) {
        h.combine(shape)
        h.combine(tailPercent)
        h.combine(tail.lo)
        h.combine(tail.hi)
    }
}
