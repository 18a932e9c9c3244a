/// Bytes appended to one raw buffer, for documents written a piece at a time (the Perfetto
/// export writes a dozen pieces per event): an append is a bounds check and a copy, without an
/// array's uniqueness and capacity bookkeeping. The owner deallocates it.
struct ByteOutput {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    func deallocate() { base.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    mutating func removeAll() { count = 0 }

    /// Room for `n` more bytes, and 8 beyond them: a piece of this output can be read, and
    /// bytes written, a word at a time past its end (`appendWords`).
    @inline(__always)
    private mutating func reserve(_ n: Int) {
        if n + 8 > capacity - count { grow(count + n + 8) }
    }

    @inline(never)
    private mutating func grow(_ needed: Int) {
        let larger = max(needed, capacity * 2)
        let moved = UnsafeMutablePointer<UInt8>.allocate(capacity: larger)
        moved.update(from: base, count: count)
        base.deallocate()
        base = moved
        capacity = larger
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let from = bytes.baseAddress else { return }
        let n = bytes.count
        reserve(n)
        let to = UnsafeMutableRawPointer(base + count)
        if n <= 64 {
            // The pieces are short: copied a word at a time, without a call.
            var i = 0
            while i + 8 <= n {
                (to + i).storeBytes(of: (from + i).loadUnaligned(as: UInt64.self), as: UInt64.self)
                i += 8
            }
            while i < n {
                (to + i).storeBytes(of: (from + i).load(as: UInt8.self), as: UInt8.self)
                i += 1
            }
        } else {
            to.copyMemory(from: from, byteCount: n)
        }
        count += n
    }

    @inline(__always)
    mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func append(_ bytes: [UInt8]) { bytes.withUnsafeBytes { append($0) } }

    /// A piece kept in `other` earlier, appended.
    @inline(__always)
    mutating func append(from other: ByteOutput, _ piece: Piece) {
        appendWords(UnsafeRawPointer(other.base + piece.offset), count: piece.count)
    }

    /// `n` bytes from `from`, copied a word at a time: the last word may read and write up
    /// to 7 bytes past them (`from` must be readable that far; the room here is reserved).
    @inline(__always)
    private mutating func appendWords(_ from: UnsafeRawPointer, count n: Int) {
        reserve(n)
        let to = UnsafeMutableRawPointer(base + count)
        var i = 0
        while i < n {
            (to + i).storeBytes(of: (from + i).loadUnaligned(as: UInt64.self), as: UInt64.self)
            i += 8
        }
        count += n
    }

    /// Where a piece of kept bytes lies in its output.
    struct Piece {
        var offset: Int
        var count: Int
    }

    /// Appends `bytes` and returns where they lie.
    mutating func keep(_ bytes: [UInt8]) -> Piece {
        let piece = Piece(offset: count, count: bytes.count)
        append(bytes)
        return piece
    }

    /// The decimal digits of `v`, as `String(v)` writes them. Most values in a document are
    /// below 100 (queue ids, statuses, opcodes): those are written without a loop.
    @inline(__always)
    mutating func appendInteger(_ v: Int64) {
        reserve(20)
        if v < 0 {
            base[count] = UInt8(ascii: "-")
            count += 1
        }
        let m = v.magnitude
        if m < 10 {
            base[count] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: m)
            count += 1
        } else if m < 100 {
            let pairs = Self.digitPairs.utf8Start
            base[count] = pairs[2 * Int(m)]
            base[count + 1] = pairs[2 * Int(m) + 1]
            count += 2
        } else {
            appendLarge(m)
        }
    }

    /// `m` ≥ 100, room reserved.
    @inline(never)
    private mutating func appendLarge(_ m: UInt64) {
        var text: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &text) { d in
            let i = Self.writeDigits(m, endingAt: 24, in: d)
            appendWords(UnsafeRawPointer(d.baseAddress! + i), count: 24 - i)
        }
    }

    /// A time's text — nanoseconds as microseconds with three decimals (`ns` ≥ 0; 0 for less)
    /// — kept to be appended again: a Perfetto event's instant, command slice and counters
    /// share their time.
    struct Microseconds {
        /// The text ends at byte 24; 8 more bytes let it be read a word at a time.
        fileprivate var bytes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        fileprivate var start = 24
        private(set) var nanoseconds: Int64 = -1

        mutating func set(_ ns: Int64) {
            nanoseconds = ns
            let m = UInt64(max(ns, 0))
            start = withUnsafeMutableBytes(of: &bytes) { d in
                let fraction = Int(m % 1000)
                let pairs = ByteOutput.digitPairs.utf8Start
                d[21] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: fraction / 100)
                d[22] = pairs[2 * (fraction % 100)]
                d[23] = pairs[2 * (fraction % 100) + 1]
                d[20] = UInt8(ascii: ".")
                return ByteOutput.writeDigits(m / 1000, endingAt: 20, in: d)
            }
        }
    }

    @inline(__always)
    mutating func append(_ text: Microseconds) {
        withUnsafeBytes(of: text.bytes) { d in appendWords(d.baseAddress! + text.start, count: 24 - text.start) }
    }

    /// Writes `m`'s digits so that they end before `end`, four at a time (two pairs from a
    /// table of the pairs 00…99, in 32-bit arithmetic); returns where they start.
    @inline(__always)
    static func writeDigits(_ m: UInt64, endingAt end: Int, in d: UnsafeMutableRawBufferPointer) -> Int {
        let pairs = UnsafeRawPointer(digitPairs.utf8Start)
        let to = d.baseAddress!
        var m = m
        var i = end
        while m >= 10_000 {
            let four = UInt32(truncatingIfNeeded: m % 10_000)
            m /= 10_000
            i -= 4
            (to + i).storeBytes(of: pairs.loadUnaligned(fromByteOffset: 2 * Int(four / 100), as: UInt16.self), as: UInt16.self)
            (to + i + 2).storeBytes(of: pairs.loadUnaligned(fromByteOffset: 2 * Int(four % 100), as: UInt16.self), as: UInt16.self)
        }
        var r = UInt32(truncatingIfNeeded: m)
        if r >= 100 {
            i -= 2
            (to + i).storeBytes(of: pairs.loadUnaligned(fromByteOffset: 2 * Int(r % 100), as: UInt16.self), as: UInt16.self)
            r /= 100
        }
        if r >= 10 {
            i -= 2
            (to + i).storeBytes(of: pairs.loadUnaligned(fromByteOffset: 2 * Int(r), as: UInt16.self), as: UInt16.self)
        } else {
            i -= 1
            (to + i).storeBytes(of: UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: r), as: UInt8.self)
        }
        return i
    }

    fileprivate static let digitPairs: StaticString = """
        00010203040506070809101112131415161718192021222324252627282930313233343536373839\
        40414243444546474849505152535455565758596061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899
        """
}

/// Calls `body` with the decimal text of `v`, as `String(v)` writes it.
@inline(__always)
func withDecimal<R>(_ v: Int64, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    // Filled from the end: at most 19 digits and a sign.
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
    return withUnsafeMutableBytes(of: &digits) { d in
        var i = ByteOutput.writeDigits(v.magnitude, endingAt: d.count, in: d)
        if v < 0 {
            i -= 1
            d[i] = UInt8(ascii: "-")
        }
        return body(UnsafeRawBufferPointer(rebasing: d[i...]))
    }
}
