import Foundation
import Testing
@testable import ShadowBellCore

private func withBytes<R>(_ text: String, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    Array(text.utf8).withUnsafeBytes(body)
}

@Suite struct ByteScanningTests {
    @Test func decimal() {
        #expect(withBytes("0") { ByteScanning.parseDecimal($0) } == 0)
        #expect(withBytes("12290") { ByteScanning.parseDecimal($0) } == 12290)
        #expect(withBytes("18446744073709551615") { ByteScanning.parseDecimal($0) } == UInt64.max)
        #expect(withBytes("18446744073709551616") { ByteScanning.parseDecimal($0) } == nil)
        #expect(withBytes("99999999999999999999999") { ByteScanning.parseDecimal($0) } == nil)
        #expect(withBytes("") { ByteScanning.parseDecimal($0) } == nil)
        #expect(withBytes("12a") { ByteScanning.parseDecimal($0) } == nil)
        #expect(withBytes("-1") { ByteScanning.parseDecimal($0) } == nil)
        #expect(withBytes(" 1") { ByteScanning.parseDecimal($0) } == nil)
    }

    /// The eight-at-a-time digit readers give what one digit at a time gives, for runs of every
    /// length from every offset, cut by every kind of byte and by the end of the buffer.
    @Test func digitsEightAtATimeAgreeWithOneAtATime() {
        func decimalOneByOne(_ b: [UInt8], _ from: Int) -> (UInt64, Int)? {
            var i = from, v: UInt64 = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(b[i] - 0x30))
                if o1 || o2 { return nil }
                v = a
                i += 1
            }
            return i > from ? (v, i) : nil
        }
        func fractionOneByOne(_ b: [UInt8], _ from: Int) -> (Int64, Int)? {
            var i = from, v: Int64 = 0, n = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                if n == 9 { return nil }
                v = v * 10 + Int64(b[i] - 0x30)
                n += 1
                i += 1
            }
            guard n > 0 else { return nil }
            for _ in n..<9 { v *= 10 }
            return (v, i)
        }
        var rng = SystemRandomNumberGenerator()
        let stops: [UInt8] = [0x20, 0x2E, 0x3A, 0x2F, 0x40, 0x00, 0xFF, 0x80, 0xB9, 0x29, 0x0A]
        for _ in 0..<20_000 {
            var b: [UInt8] = []
            for _ in 0..<Int.random(in: 0...3, using: &rng) { b.append(stops.randomElement(using: &rng)!) }
            let from = b.count
            for _ in 0..<Int.random(in: 0...24, using: &rng) { b.append(UInt8.random(in: 0x30...0x39, using: &rng)) }
            if Bool.random(using: &rng) { b.append(stops.randomElement(using: &rng)!) }
            for _ in 0..<Int.random(in: 0...10, using: &rng) { b.append(UInt8.random(in: 0...255, using: &rng)) }
            b.withUnsafeBytes { raw in
                let d = ByteScanning.decimalPrefix(raw, from: from), e = decimalOneByOne(b, from)
                #expect(d?.0 == e?.0 && d?.1 == e?.1, "\(b) from \(from)")
                let f = ByteScanning.fractionNanoseconds(raw, from: from), g = fractionOneByOne(b, from)
                #expect(f?.0 == g?.0 && f?.1 == g?.1, "\(b) from \(from)")
                let l = ByteScanning.longDecimalPrefix(raw, from: from)
                #expect(l?.0 == e?.0 && l?.1 == e?.1, "\(b) from \(from)")
            }
        }
        // Every count of digits in one word.
        for n in 0...8 {
            let word = Array(repeating: UInt8(0x37), count: n) + Array(repeating: UInt8(0x20), count: 8 - n)
            let (count, digits) = ByteScanning.digitRun(word.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
            #expect(count == n)
            if n > 0 {
                let sevens = UInt64(String(repeating: "7", count: n))!
                #expect(ByteScanning.digitValue(digits, count: n, asLeading: false) == sevens)
                #expect(ByteScanning.digitValue(digits, count: n, asLeading: true) == sevens * UInt64(pow(10, Double(8 - n))))
            }
        }
    }

    @Test func hex() {
        #expect(withBytes("0x0") { ByteScanning.parseHex($0) } == 0)
        #expect(withBytes("0x1000000") { ByteScanning.parseHex($0) } == 0x100_0000)
        #expect(withBytes("0xDeadBeef") { ByteScanning.parseHex($0) } == 0xDEAD_BEEF)
        #expect(withBytes("0xffffffffffffffff") { ByteScanning.parseHex($0) } == UInt64.max)
        #expect(withBytes("0x10000000000000000") { ByteScanning.parseHex($0) } == nil)
        #expect(withBytes("0x") { ByteScanning.parseHex($0) } == nil)
        #expect(withBytes("1f") { ByteScanning.parseHex($0) } == nil)
        #expect(withBytes("0x1g") { ByteScanning.parseHex($0) } == nil)
    }

    @Test func timestamps() {
        #expect(withBytes("5123.456789") { ByteScanning.parseTimestamp($0) } == 5_123_456_789_000)
        #expect(withBytes("12.345678901") { ByteScanning.parseTimestamp($0) } == 12_345_678_901)
        #expect(withBytes("1.5") { ByteScanning.parseTimestamp($0) } == 1_500_000_000)
        #expect(withBytes("0.000000001") { ByteScanning.parseTimestamp($0) } == 1)
        #expect(withBytes("1795663278.639998") { ByteScanning.parseTimestamp($0) }
            == 1_795_663_278_639_998_000)
        // A bare integer (counter clocks) is kept as it is.
        #expect(withBytes("1234567890") { ByteScanning.parseTimestamp($0) } == 1_234_567_890)
        #expect(withBytes("1.0123456789") { ByteScanning.parseTimestamp($0) } == nil)
        #expect(withBytes("1.") { ByteScanning.parseTimestamp($0) } == nil)
        #expect(withBytes(".5") { ByteScanning.parseTimestamp($0) } == nil)
        #expect(withBytes("9223372037.000000") { ByteScanning.parseTimestamp($0) } == nil)
        #expect(withBytes("9223372036854775808") { ByteScanning.parseTimestamp($0) } == nil)
        #expect(withBytes("9223372036.854775807") { ByteScanning.parseTimestamp($0) } == Int64.max)
    }

    /// The three-load reading of the common stamp (24 bytes at hand) gives what a digit at a
    /// time gives, for every width of seconds and fraction and what follows them.
    @Test func theShortStampReadingAgreesWithADigitAtATime() {
        func reference(_ b: [UInt8], _ from: Int) -> (Int64, Int)? {
            let seconds = b[from...].prefix { $0 >= 48 && $0 <= 57 }
            guard !seconds.isEmpty, let whole = Int64(String(decoding: seconds, as: UTF8.self)) else { return nil }
            var i = from + seconds.count
            guard i < b.count, b[i] == 46 else { return (whole, i) }
            i += 1
            var fraction: Int64 = 0
            var digits = 0
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                if digits == 9 { return nil }
                fraction = fraction * 10 + Int64(b[i] - 48)
                digits += 1
                i += 1
            }
            if digits == 0 { return nil }
            for _ in digits..<9 { fraction *= 10 }
            let (ns, o1) = whole.multipliedReportingOverflow(by: 1_000_000_000)
            let (t, o2) = ns.addingReportingOverflow(fraction)
            return o1 || o2 ? nil : (t, i)
        }
        var rng = SystemRandomNumberGenerator()
        let tails: [[UInt8]] = [Array(": pci_nvme_x sqid 1 new_tail 2".utf8), Array("x".utf8), Array("5.5 tail".utf8), []]
        for _ in 0..<20_000 {
            var b: [UInt8] = Array(repeating: 32, count: Int.random(in: 0...3, using: &rng))
            let from = b.count
            let seconds = Int.random(in: 0...21, using: &rng)
            for k in 0..<seconds { b.append(k == 0 && Bool.random(using: &rng) ? 57 : UInt8.random(in: 48...57, using: &rng)) }
            if Int.random(in: 0..<8, using: &rng) > 0 { b.append(46) }
            for _ in 0..<Int.random(in: 0...11, using: &rng) { b.append(UInt8.random(in: 48...57, using: &rng)) }
            b += tails[Int.random(in: 0..<tails.count, using: &rng)]
            let got = b.withUnsafeBytes { ByteScanning.timestampPrefix($0, from: from) }
            let want = reference(b, from)
            #expect(got?.0 == want?.0 && got?.1 == want?.1, "\(String(decoding: b, as: UTF8.self))")
        }
        // Near the bound of 64-bit nanoseconds.
        for text in ["9223372036.854775", "9223372036.854776", "9223372036.999999", "9223372037.0", "0.0"] {
            let b = Array((text + ": pci_nvme_mmio_doorbell_sq sqid 1").utf8)
            let got = b.withUnsafeBytes { ByteScanning.timestampPrefix($0, from: 0) }
            #expect(got?.0 == reference(b, 0)?.0 && got?.1 == reference(b, 0)?.1, "\(text)")
        }
    }

    @Test func everyFractionWidthScalesToNanoseconds() {
        for digits in 1...9 {
            let text = "7." + String(repeating: "1", count: digits)
            var expected: Int64 = 0
            for i in 0..<9 { expected = expected * 10 + (i < digits ? 1 : 0) }
            #expect(withBytes(text) { ByteScanning.parseTimestamp($0) } == 7_000_000_000 + expected, "\(text)")
        }
    }

    @Test func scannerConsumesOnlyWhatItParses() {
        withBytes("  qid=17, head=0x1f tail=9x") { bytes in
            var s = ByteScanner(bytes)
            s.skipSpaces()
            #expect(s.position == 2)
            let key = s.skip("qid=")
            let qid = s.readDecimal()
            let comma = s.skip(ASCII.comma)
            let tailNotNext = !s.skip("tail=")
            let head = s.seek(field: "head=")
            let headValue = s.readInteger()
            let tail = s.seek(field: "tail=")
            let tailValue = s.readInteger()
            #expect(key && comma && tailNotNext && head && tail)
            #expect(qid == 17)
            #expect(headValue == 0x1F)
            #expect(tailValue == 9)
            #expect(s.peek() == UInt8(ascii: "x"))
            let before = s.position
            let garbage = s.readDecimal()
            #expect(garbage == nil)
            #expect(s.position == before)
        }
    }

    @Test func fieldsMatchWholeTokensOnly() {
        withBytes("nvme0: sqid=5, qid=2, cmd=(nvme_admin_create_sq sqid=3)") { bytes in
            let qid = ByteScanning.fieldValue(bytes, key: "qid=")
            #expect(qid.map { Array($0) } == Array("2".utf8))
            let sqid = ByteScanning.fieldValue(bytes, key: "sqid=")
            #expect(sqid.map { Array($0) } == Array("5".utf8))
            #expect(ByteScanning.fieldValue(bytes, key: "missing=") == nil)
            let second = ByteScanning.fieldValueStart(bytes, key: "sqid=", from: 20)
            #expect(second.map { bytes[$0] } == UInt8(ascii: "3"))
        }
    }

    @Test func iso8601UTC() {
        func parse(_ text: String) -> Int64? {
            withBytes(text) { b in
                guard let (v, end) = ByteScanning.iso8601UTCPrefix(b, from: 0), end == b.count else {
                    return nil
                }
                return v
            }
        }
        // Expected values from `date -u -d … +%s`.
        #expect(parse("2025-07-21T18:43:28.089797Z") == 1_753_123_408_089_797_000)
        #expect(parse("1970-01-01T00:00:00Z") == 0)
        #expect(parse("1969-12-31T23:59:59Z") == -1_000_000_000)
        #expect(parse("2000-02-29T12:00:00Z") == 951_825_600_000_000_000)
        #expect(parse("2100-03-01T00:00:00.5Z") == 4_107_542_400_500_000_000)
        #expect(parse("2025-13-01T00:00:00Z") == nil)
        #expect(parse("2025-07-21T18:43:28.089797") == nil)
        #expect(parse("2025-07-21 18:43:28Z") == nil)
        // Beyond 64-bit nanoseconds since 1970 (a damaged year): no timestamp, not a trap.
        #expect(parse("2262-04-11T23:47:16.854775807Z") == Int64.max)
        #expect(parse("2262-04-11T23:47:16.854775808Z") == nil)
        #expect(parse("9999-12-31T23:59:59.999999Z") == nil)
        #expect(parse("0000-01-01T00:00:00Z") == nil)
        #expect(parse("1677-09-22T00:00:00Z") != nil)
    }

    /// Random short strings over a number-heavy alphabet: no trap, and the decimal, hex and
    /// timestamp parsers agree with straightforward reference parsers.
    @Test func agreesWithReferenceParsersOnRandomText() {
        let alphabet = Array("0123456789.x:-TZ =abf".utf8)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var checked = 0
        for length in 0..<40 {
            for _ in 0..<200 {
                var bytes = [UInt8](repeating: 0, count: length)
                for i in bytes.indices {
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    bytes[i] = alphabet[Int(state >> 33) % alphabet.count]
                }
                let text = String(decoding: bytes, as: UTF8.self)
                bytes.withUnsafeBytes { b in
                    let allDigits = !text.isEmpty && text.allSatisfy(\.isASCIIDigit)
                    #expect(ByteScanning.parseDecimal(b) == (allDigits ? UInt64(text) : nil), "\(text)")
                    let hexDigits = text.dropFirst(2)
                    let isHex = text.hasPrefix("0x") && !hexDigits.isEmpty && hexDigits.allSatisfy(\.isHexDigit)
                    #expect(ByteScanning.parseHex(b) == (isHex ? UInt64(hexDigits, radix: 16) : nil), "\(text)")
                    #expect(ByteScanning.parseTimestamp(b) == referenceTimestamp(text), "\(text)")
                    _ = ByteScanning.iso8601UTCPrefix(b, from: 0)
                    _ = ByteScanning.fieldValue(b, key: "x=")
                    var s = ByteScanner(b)
                    while !s.isAtEnd {
                        if s.readTimestamp() == nil, s.readInteger() == nil { s.position += 1 }
                    }
                }
                checked += 1
            }
        }
        #expect(checked == 8000)
    }
}

/// `sec[.fraction]` by string splitting and Int64 arithmetic that traps on nothing.
private func referenceTimestamp(_ text: String) -> Int64? {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count <= 2, let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCIIDigit),
        let seconds = Int64(whole)
    else { return nil }
    guard parts.count == 2 else { return seconds }
    let fraction = parts[1]
    guard (1...9).contains(fraction.count), fraction.allSatisfy(\.isASCIIDigit) else { return nil }
    let ns = Int64(fraction + String(repeating: "0", count: 9 - fraction.count))!
    let (scaled, o1) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    let (sum, o2) = scaled.addingReportingOverflow(ns)
    return o1 || o2 ? nil : sum
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isWholeNumber }
}

@Suite struct FirstIndexTests {
    /// Eight bytes at a time must find exactly what a byte loop finds: every start, every
    /// length, matches at every lane, the two targets next to each other and bytes that differ
    /// from a target by one (the borrow of the zero-byte trick).
    @Test func agreesWithAByteLoop() {
        let alphabet: [UInt8] = [0x20, 0x3A, 0x09, 0x1F, 0x21, 0x39, 0x3B, 0x00, 0xFF, 0x80, 0x61, 0x5F]
        var state: UInt64 = 0x5EED
        for _ in 0..<4_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let length = Int(state >> 58)  // 0–63
            var bytes: [UInt8] = []
            for k in 0..<length {
                let r = (state >> UInt64(k % 50)) &+ UInt64(k) &* 0x9E37
                // Mostly letters, so that runs longer than eight bytes occur.
                bytes.append(r % 5 == 0 ? alphabet[Int(r / 5 % UInt64(alphabet.count))] : 0x61 + UInt8(r % 26))
            }
            for (a, b) in [(UInt8(0x20), UInt8(0x3A)), (0x20, 0x09), (0x00, 0xFF)] {
                for from in 0...length {
                    let expected = bytes[from...].firstIndex { $0 == a || $0 == b } ?? length
                    let got = bytes.withUnsafeBytes { ByteScanning.firstIndex(of: a, or: b, in: $0, from: from) }
                    #expect(got == expected, "bytes \(bytes) from \(from)")
                }
            }
        }
    }
}

/// Where a record is, as the outputs print it: a text input's line, a binary input's byte, and
/// a compressed trace.dat's byte in a CPU stream's decompressed data (n·2⁴⁰ + offset, printed
/// as 1099513259048 before).
@Test func sourceLocationsRenderTheirUnit() {
    #expect(SourceLocation(source: 0, unit: .line, value: 42).render(path: "g.txt") == "g.txt:42")
    #expect(SourceLocation(source: 0, unit: .byteOffset, value: 8_493_464).render(path: "trace.dat") == "trace.dat@8493464")
    #expect(SourceLocation(source: 0, unit: .byteOffset, value: 1_099_513_259_048).render(path: "trace.dat") == "trace.dat@stream1+1631272")
}
