// Number and field parsing over raw bytes. No Foundation, no C, no Double: timestamps become
// Int64 nanoseconds by integer arithmetic. Every function returns nil on bad input; none traps.

/// ASCII byte constants used by the parsers.
public enum ASCII {
    public static let space: UInt8 = 0x20
    public static let tab: UInt8 = 0x09
    public static let newline: UInt8 = 0x0A
    public static let carriageReturn: UInt8 = 0x0D
    public static let zero: UInt8 = 0x30
    public static let nine: UInt8 = 0x39
    public static let dot: UInt8 = 0x2E
    public static let colon: UInt8 = 0x3A
    public static let comma: UInt8 = 0x2C
    public static let equals: UInt8 = 0x3D
    public static let dash: UInt8 = 0x2D
    public static let openParen: UInt8 = 0x28
    public static let closeParen: UInt8 = 0x29
    public static let openBracket: UInt8 = 0x5B
    public static let closeBracket: UInt8 = 0x5D
    public static let hash: UInt8 = 0x23
    public static let at: UInt8 = 0x40
    public static let escape: UInt8 = 0x1B

    @inlinable public static func isDigit(_ b: UInt8) -> Bool { b &- zero < 10 }

    /// Value of a hex digit, or nil.
    @inlinable public static func hexValue(_ b: UInt8) -> UInt8? {
        if b &- zero < 10 { return b &- zero }
        let lower = b | 0x20
        if lower &- 0x61 < 6 { return lower &- 0x61 &+ 10 }
        return nil
    }
}

/// A forward-only cursor over a byte buffer. Every `read…` consumes what it parsed and leaves
/// the position unchanged when it returns nil. Complexity: each call is O(bytes consumed),
/// `seek(field:)` is O(bytes scanned).
public struct ByteScanner {
    public let bytes: UnsafeRawBufferPointer
    public var position: Int

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer, position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    @inlinable public var isAtEnd: Bool { position >= bytes.count }

    /// The bytes from the current position to the end.
    @inlinable public var rest: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[min(position, bytes.count)...])
    }

    @inlinable public func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    @inlinable
    public mutating func skipSpaces() {
        while position < bytes.count, bytes[position] == ASCII.space || bytes[position] == ASCII.tab {
            position += 1
        }
    }

    /// Consumes `byte` if it is next.
    @inlinable
    public mutating func skip(_ byte: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    /// Consumes `literal` if the bytes at the position equal it.
    @inlinable @inline(__always)
    public mutating func skip(_ literal: StaticString) -> Bool {
        guard ByteScanning.hasPrefix(bytes, at: position, literal) else { return false }
        position += literal.utf8CodeUnitCount
        return true
    }

    /// Unsigned decimal (at least one digit); nil on overflow of UInt64.
    @inlinable @inline(__always)
    public mutating func readDecimal() -> UInt64? {
        guard let (value, end) = ByteScanning.decimalPrefix(bytes, from: position) else { return nil }
        position = end
        return value
    }

    /// `0x`-prefixed hex; nil without the prefix, without digits, or on overflow.
    @inlinable
    public mutating func readHex() -> UInt64? {
        guard let (value, end) = ByteScanning.hexPrefix(bytes, from: position) else { return nil }
        position = end
        return value
    }

    /// `0x…` as hex, anything else as decimal (C's `%#x` and `%u` both read back).
    @inlinable @inline(__always)
    public mutating func readInteger() -> UInt64? {
        if position + 1 < bytes.count, bytes[position] == ASCII.zero, bytes[position + 1] == 0x78 /* x */ {
            return readHex()
        }
        return readDecimal()
    }

    /// `sec.fraction` (1–9 fraction digits) or a bare integer, in nanoseconds for the former
    /// and as-is for the latter.
    @inlinable
    public mutating func readTimestamp() -> Int64? {
        guard let (value, end) = ByteScanning.timestampPrefix(bytes, from: position) else {
            return nil
        }
        position = end
        return value
    }

    /// Moves past the next `key` (which includes its separator, e.g. `"qid="` or `"sqid "`)
    /// that starts a token, i.e. is at the position or follows a space, comma or parenthesis.
    /// Leaves the position unchanged and returns false when there is none.
    @inlinable @inline(__always)
    public mutating func seek(field key: StaticString) -> Bool {
        guard let valueStart = ByteScanning.fieldValueStart(bytes, key: key, from: position) else {
            return false
        }
        position = valueStart
        return true
    }
}

/// Whole-buffer and prefix parsers. "Prefix" functions return the value and the index just
/// after the last byte consumed.
public enum ByteScanning {
    @inlinable @inline(__always)
    public static func hasPrefix(_ bytes: UnsafeRawBufferPointer, at index: Int, _ literal: StaticString)
        -> Bool
    {
        let n = literal.utf8CodeUnitCount
        guard index >= 0, n <= bytes.count - index else { return false }
        guard n > 0 else { return true }
        let text = bytes.baseAddress! + index
        let lit = UnsafeRawPointer(literal.utf8Start)
        // Eight bytes at a time: literals are event names and field keys of 3–30 bytes.
        var i = 0
        while i + 8 <= n {
            if text.loadUnaligned(fromByteOffset: i, as: UInt64.self) != lit.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
                return false
            }
            i += 8
        }
        if i + 4 <= n {
            if text.loadUnaligned(fromByteOffset: i, as: UInt32.self) != lit.loadUnaligned(fromByteOffset: i, as: UInt32.self) {
                return false
            }
            i += 4
        }
        while i < n {
            if text.load(fromByteOffset: i, as: UInt8.self) != lit.load(fromByteOffset: i, as: UInt8.self) { return false }
            i += 1
        }
        return true
    }

    /// Whether `bytes` equals `literal` exactly.
    @inlinable @inline(__always)
    public static func equals(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        bytes.count == literal.utf8CodeUnitCount && hasPrefix(bytes, at: 0, literal)
    }

    /// Index of the first byte at or after `from` that equals `a` or `b`, or `bytes.count`.
    /// Eight bytes at a time (names and fields of 10–30 bytes end at a space, colon or tab).
    @inlinable @inline(__always)
    public static func firstIndex(of a: UInt8, or b: UInt8, in bytes: UnsafeRawBufferPointer, from: Int) -> Int {
        let n = bytes.count
        var i = max(from, 0)
        guard let base = bytes.baseAddress else { return n }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let pa = ones &* UInt64(a)
        let pb = ones &* UInt64(b)
        while i + 8 <= n {
            let v = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            let xa = v ^ pa
            let xb = v ^ pb
            // A zero byte of xa or xb is a match; the lowest flagged byte is always a true one.
            let hit = ((xa &- ones) & ~xa | (xb &- ones) & ~xb) & highs
            if hit != 0 { return i + hit.trailingZeroBitCount >> 3 }
            i += 8
        }
        while i < n {
            let c = base.load(fromByteOffset: i, as: UInt8.self)
            if c == a || c == b { return i }
            i += 1
        }
        return n
    }

    /// Index of the first byte at or after `from` that is not a space or tab.
    @inlinable @inline(__always)
    public static func skipSpaces(_ bytes: UnsafeRawBufferPointer, from: Int) -> Int {
        var i = max(from, 0)
        while i < bytes.count, bytes[i] == ASCII.space || bytes[i] == ASCII.tab { i += 1 }
        return i
    }

    /// The run of decimal digits at the start of the eight bytes `word` (little-endian, first
    /// byte lowest): how many (0–8), and the bytes less `'0'` for `eightDigits`. Branch-free
    /// (SWAR): a timestamp's 10 + 6 digits cost about 7 instructions each a byte at a time.
    @inlinable @inline(__always)
    public static func digitRun(_ word: UInt64) -> (count: Int, digits: UInt64) {
        let sub = word &- 0x3030_3030_3030_3030
        // A byte's high bit is set where it is no digit: below '0' (borrow), above '9' (+0x76
        // reaches 0x80), or 0x80 and above. A borrow or carry only moves up, past the first
        // such byte, which is all that is looked at.
        let nonDigit = (sub | (sub &+ 0x7676_7676_7676_7676)) & 0x8080_8080_8080_8080
        return (nonDigit.trailingZeroBitCount >> 3, sub)
    }

    /// The value of eight digit bytes (each 0–9, the first byte the most significant).
    @inlinable @inline(__always)
    public static func eightDigits(_ x: UInt64) -> UInt64 {
        var x = (x &* 10 &+ (x >> 8)) & 0x00FF_00FF_00FF_00FF
        x = (x &* 100 &+ (x >> 16)) & 0x0000_FFFF_0000_FFFF
        return (x &* 10000 &+ (x >> 32)) & 0x0000_0000_FFFF_FFFF
    }

    /// The value of the first `count` (1–8) digits of `digitRun`: as a number of its own
    /// (`"12 "` → 12), or as the first digits of eight (`"12 "` → 12_000_000).
    @inlinable @inline(__always)
    public static func digitValue(_ digits: UInt64, count: Int, asLeading: Bool) -> UInt64 {
        guard count < 8 else { return eightDigits(digits) }
        let shift = UInt64(64 - 8 * count)
        // Leading zeros below the digits, or zeros after them.
        return eightDigits(asLeading ? (digits << shift) >> shift : digits << shift)
    }

    /// `decimalPrefix` for runs expected long (a timestamp's seconds): eight digits at a time
    /// while eight bytes remain.
    @inlinable @inline(__always)
    public static func longDecimalPrefix(_ bytes: UnsafeRawBufferPointer, from: Int) -> (UInt64, Int)? {
        guard from >= 0, let base = bytes.baseAddress else { return decimalPrefix(bytes, from: from) }
        var i = from
        var value: UInt64 = 0
        while i + 8 <= bytes.count, i - from <= 8 {
            let (count, digits) = digitRun(UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            if count == 8 {
                value = value &* 100_000_000 &+ eightDigits(digits)
                i += 8
                continue
            }
            if count == 0 { return i > from ? (value, i) : nil }
            var scale: UInt64 = 10
            for _ in 1..<count { scale &*= 10 }
            return (value &* scale &+ digitValue(digits, count: count, asLeading: false), i + count)
        }
        // Near the end, or past 16 digits: a digit at a time, checked for overflow.
        guard let (rest, end) = decimalPrefix(bytes, from: i) else { return i > from ? (value, i) : nil }
        if end - from > 19 { return checkedDecimalPrefix(bytes, from: from) }
        var scale: UInt64 = 1
        for _ in i..<end { scale &*= 10 }
        return (value &* scale &+ rest, end)
    }

    @inlinable @inline(__always)
    public static func decimalPrefix(_ bytes: UnsafeRawBufferPointer, from: Int) -> (UInt64, Int)? {
        var i = max(from, 0)
        var value: UInt64 = 0
        let start = i
        // Up to 19 digits cannot overflow: no checks in the common case.
        while i < bytes.count {
            let d = bytes[i] &- ASCII.zero
            if d >= 10 { break }
            value = value &* 10 &+ UInt64(d)
            i += 1
        }
        if i - start > 19 { return checkedDecimalPrefix(bytes, from: start) }
        return i > start ? (value, i) : nil
    }

    @inlinable
    static func checkedDecimalPrefix(_ bytes: UnsafeRawBufferPointer, from start: Int) -> (UInt64, Int)? {
        var i = start
        var value: UInt64 = 0
        while i < bytes.count {
            let d = bytes[i] &- ASCII.zero
            if d >= 10 { break }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return nil }
            value = s
            i += 1
        }
        return i > start ? (value, i) : nil
    }

    @inlinable
    public static func hexPrefix(_ bytes: UnsafeRawBufferPointer, from: Int) -> (UInt64, Int)? {
        guard from >= 0, from + 1 < bytes.count, bytes[from] == ASCII.zero, bytes[from + 1] | 0x20 == 0x78 /* x, X */
        else { return nil }
        return hexDigitsPrefix(bytes, from: from + 2)
    }

    /// Hex digits without a `0x` prefix.
    @inlinable
    public static func hexDigitsPrefix(_ bytes: UnsafeRawBufferPointer, from: Int) -> (UInt64, Int)? {
        var i = max(from, 0)
        let start = i
        var value: UInt64 = 0
        while i < bytes.count, let d = ASCII.hexValue(bytes[i]) {
            if value > (UInt64.max >> 4) { return nil }
            value = value << 4 | UInt64(d)
            i += 1
        }
        return i > start ? (value, i) : nil
    }

    /// `sec.fraction` with 1–9 fraction digits → nanoseconds; a bare integer → itself.
    /// nil for a dot without fraction digits, more than 9 fraction digits, or Int64 overflow.
    @inlinable @inline(__always)
    public static func timestampPrefix(_ bytes: UnsafeRawBufferPointer, from: Int) -> (Int64, Int)? {
        if let fast = shortTimestampPrefix(bytes, from: from) { return fast }
        guard let (whole, afterWhole) = longDecimalPrefix(bytes, from: from), whole <= UInt64(Int64.max)
        else { return nil }
        guard afterWhole < bytes.count, bytes[afterWhole] == ASCII.dot else {
            return (Int64(whole), afterWhole)
        }
        guard let (fraction, i) = fractionNanoseconds(bytes, from: afterWhole + 1) else { return nil }
        let (ns, overflow) = Int64(whole).multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return nil }
        let (total, overflow2) = ns.addingReportingOverflow(fraction)
        return overflow2 ? nil : (total, i)
    }

    /// `timestampPrefix` of the common stamp — 1–15 digits of seconds (at most 9,223,372,036),
    /// a dot and 1–7 digits of fraction, with 24 bytes at hand — in three eight-byte loads; nil
    /// for anything else, which the general reading then takes (the QEMU log's
    /// `1795663288.721134` cost about 190 instructions a line the general way).
    @inlinable @inline(__always)
    public static func shortTimestampPrefix(_ bytes: UnsafeRawBufferPointer, from: Int) -> (Int64, Int)? {
        guard from >= 0, from <= bytes.count &- 24, let base = bytes.baseAddress else { return nil }
        let (c1, d1) = digitRun(UInt64(littleEndian: base.loadUnaligned(fromByteOffset: from, as: UInt64.self)))
        var whole: UInt64
        var dot = from &+ c1
        if c1 == 8 {
            let (c2, d2) = digitRun(UInt64(littleEndian: base.loadUnaligned(fromByteOffset: from &+ 8, as: UInt64.self)))
            guard c2 < 8 else { return nil }
            whole = eightDigits(d1)
            if c2 > 0 { whole = whole &* smallPowerOfTen(c2) &+ digitValue(d2, count: c2, asLeading: false) }
            dot &+= c2
        } else {
            guard c1 > 0 else { return nil }
            whole = digitValue(d1, count: c1, asLeading: false)
        }
        guard whole <= 9_223_372_036, base.load(fromByteOffset: dot, as: UInt8.self) == ASCII.dot else { return nil }
        let (c3, d3) = digitRun(UInt64(littleEndian: base.loadUnaligned(fromByteOffset: dot &+ 1, as: UInt64.self)))
        guard c3 > 0, c3 < 8 else { return nil }
        let fraction = Int64(digitValue(d3, count: c3, asLeading: true)) &* 10
        let (total, overflow) = (Int64(whole) &* 1_000_000_000).addingReportingOverflow(fraction)
        return overflow ? nil : (total, dot &+ 1 &+ c3)
    }

    /// 10^n for n in 1...7.
    @inlinable @inline(__always)
    static func smallPowerOfTen(_ n: Int) -> UInt64 {
        switch n {
        case 1: return 10
        case 2: return 100
        case 3: return 1_000
        case 4: return 10_000
        case 5: return 100_000
        case 6: return 1_000_000
        default: return 10_000_000
        }
    }

    /// The 1–9 digits after a decimal point, as nanoseconds (`5` → 500_000_000); nil for no
    /// digit or more than nine.
    @inlinable @inline(__always)
    public static func fractionNanoseconds(_ bytes: UnsafeRawBufferPointer, from: Int) -> (Int64, Int)? {
        if from >= 0, from + 9 <= bytes.count, let base = bytes.baseAddress {
            // Eight at a time: 1–8 digits (`run` is then the fraction in tens of ns), or eight
            // and a ninth.
            let (count, digits) = digitRun(UInt64(littleEndian: base.loadUnaligned(fromByteOffset: from, as: UInt64.self)))
            guard count > 0 else { return nil }
            let run = digitValue(digits, count: count, asLeading: true)
            if count < 8 { return (Int64(run) &* 10, from + count) }
            let ninth = base.load(fromByteOffset: from + 8, as: UInt8.self) &- ASCII.zero
            guard ninth < 10 else { return (Int64(run) &* 10, from + 8) }
            if from + 9 < bytes.count, ASCII.isDigit(base.load(fromByteOffset: from + 9, as: UInt8.self)) { return nil }
            return (Int64(run) &* 10 &+ Int64(ninth), from + 9)
        }
        var i = from
        var fraction: Int64 = 0
        var digits = 0
        while i < bytes.count, ASCII.isDigit(bytes[i]) {
            if digits == 9 { return nil }
            fraction = fraction * 10 + Int64(bytes[i] &- ASCII.zero)
            digits += 1
            i += 1
        }
        guard digits > 0 else { return nil }
        while digits < 9 {
            fraction *= 10
            digits += 1
        }
        return (fraction, i)
    }

    /// Whether `bytes[..<end]` holds a `seconds.fraction` stamp too large for 64-bit
    /// nanoseconds (more than 9,223,372,036 s): a line whose time cannot be read says so.
    public static func holdsOutOfRangeTimestamp(_ bytes: UnsafeRawBufferPointer, before end: Int) -> Bool {
        var i = 0
        let end = min(end, bytes.count)
        while i < end {
            guard ASCII.isDigit(bytes[i]), i == 0 || !ASCII.isDigit(bytes[i - 1]) else {
                i += 1
                continue
            }
            var digits = 0
            var value: UInt64 = 0
            while i < end, ASCII.isDigit(bytes[i]) {
                if digits < 19 { value = value &* 10 &+ UInt64(bytes[i] &- ASCII.zero) }
                digits += 1
                i += 1
            }
            if i + 1 < end, bytes[i] == ASCII.dot, ASCII.isDigit(bytes[i + 1]),
                digits > 19 || value > UInt64(Int64.max) / 1_000_000_000
            {
                return true
            }
        }
        return false
    }

    /// The whole buffer as an unsigned decimal.
    @inlinable
    public static func parseDecimal(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard let (v, end) = decimalPrefix(bytes, from: 0), end == bytes.count else { return nil }
        return v
    }

    /// The whole buffer as `0x`-prefixed hex.
    @inlinable
    public static func parseHex(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard let (v, end) = hexPrefix(bytes, from: 0), end == bytes.count else { return nil }
        return v
    }

    /// The whole buffer as a `sec.fraction` (→ ns) or bare-integer timestamp.
    @inlinable
    public static func parseTimestamp(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        guard let (v, end) = timestampPrefix(bytes, from: 0), end == bytes.count else { return nil }
        return v
    }

    /// Index of the first byte of the value of the next `key` (separator included in `key`)
    /// at or after `from` that starts a token (start, or after space, comma, `(` or tab).
    @inlinable @inline(__always)
    public static func fieldValueStart(_ bytes: UnsafeRawBufferPointer, key: StaticString, from: Int)
        -> Int?
    {
        let n = key.utf8CodeUnitCount
        guard n > 0 else { return nil }
        let first = key.utf8Start[0]
        var i = max(from, 0)
        let last = bytes.count - n
        while i <= last {
            if bytes[i] == first, i == 0 || isTokenBoundary(bytes[i - 1]), hasPrefix(bytes, at: i, key) {
                return i + n
            }
            i += 1
        }
        return nil
    }

    /// The value of `key` in `bytes`: from after the key to the next space, comma or `)`.
    @inlinable
    public static func fieldValue(_ bytes: UnsafeRawBufferPointer, key: StaticString)
        -> UnsafeRawBufferPointer?
    {
        guard let start = fieldValueStart(bytes, key: key, from: 0) else { return nil }
        var end = start
        while end < bytes.count {
            let b = bytes[end]
            if b == ASCII.space || b == ASCII.comma || b == ASCII.closeParen || b == ASCII.tab { break }
            end += 1
        }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }

    @inlinable
    static func isTokenBoundary(_ b: UInt8) -> Bool {
        b == ASCII.space || b == ASCII.comma || b == ASCII.openParen || b == ASCII.tab
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (UTC) → nanoseconds since the Unix epoch.
    /// Returns the value and the index after the `Z`.
    @inlinable
    public static func iso8601UTCPrefix(_ bytes: UnsafeRawBufferPointer, from: Int) -> (Int64, Int)? {
        var i = max(from, 0)
        @inline(__always) func fixed(_ width: Int) -> Int64? {
            guard i + width <= bytes.count else { return nil }
            var v: Int64 = 0
            for k in 0..<width {
                let d = bytes[i + k] &- ASCII.zero
                if d >= 10 { return nil }
                v = v * 10 + Int64(d)
            }
            i += width
            return v
        }
        @inline(__always) func expect(_ b: UInt8) -> Bool {
            guard i < bytes.count, bytes[i] == b else { return false }
            i += 1
            return true
        }
        guard let year = fixed(4), expect(ASCII.dash), let month = fixed(2), expect(ASCII.dash),
            let day = fixed(2), expect(0x54 /* T */), let hour = fixed(2), expect(ASCII.colon),
            let minute = fixed(2), expect(ASCII.colon), let second = fixed(2)
        else { return nil }
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var fraction: Int64 = 0
        if i < bytes.count, bytes[i] == ASCII.dot {
            guard let (f, end) = fractionNanoseconds(bytes, from: i + 1) else { return nil }
            fraction = f
            i = end
        }
        guard expect(0x5A /* Z */) else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second
        // Nanoseconds since 1970 fit 1677-09-21 … 2262-04-11: a date beyond is no timestamp
        // this reader can hold (a damaged year), not a trap.
        let (ns, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (total, overflow2) = ns.addingReportingOverflow(fraction)
        return overflow || overflow2 ? nil : (total, i)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
    @inlinable
    public static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
