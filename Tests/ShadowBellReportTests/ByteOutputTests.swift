import Testing

@testable import ShadowBellReport

/// The numbers the Perfetto export writes as bytes read as `String` writes them.
struct ByteOutputTests {
    /// Every digit count, both sides of each power of ten, and the extremes.
    static let values: [Int64] = {
        var v: [Int64] = [0, 1, 9, 10, 99, 100, 101, 999, 1_000, 9_999, 10_000, 10_001, 65_535, .max, .min, .min + 1]
        var p: Int64 = 1
        for _ in 0..<18 {
            p *= 10
            v += [p - 1, p, p + 1, p * 7 / 3, -p, -(p - 1)]
        }
        return v
    }()

    /// `ns` as the Perfetto writer appends a time.
    static func time(_ ns: Int64) -> String {
        var kept = ByteOutput.Microseconds()
        kept.set(ns)
        return text { $0.append(kept) }
    }

    static func text(_ write: (inout ByteOutput) -> Void) -> String {
        var out = ByteOutput(capacity: 4)
        defer { out.deallocate() }
        write(&out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    @Test func integersAreWrittenAsStringWritesThem() {
        for v in Self.values {
            #expect(Self.text { $0.appendInteger(v) } == String(v))
        }
        // Appended one after another, as a document does.
        #expect(Self.text { out in for v in Self.values { out.appendInteger(v) } } == Self.values.map(String.init).joined())
    }

    @Test func timesAreMicrosecondsWithThreeDecimals() {
        for v in Self.values where v >= 0 {
            let expected = "\(v / 1000).\(String(String(v % 1000 + 1000).dropFirst()))"
            #expect(Self.time(v) == expected)
            var kept = ByteOutput.Microseconds()
            kept.set(v)
            #expect(Self.text { $0.append(kept); $0.append(kept) } == expected + expected)
            #expect(PerfettoTraceWriter.microseconds(v) == .decimal(expected))
        }
        #expect(Self.time(-5) == "0.000")
    }
}

/// The parts of a chart written as bytes read as `String` would write them.
struct SVGBytesTests {
    /// A number for SVG as String interpolation writes it: at most two decimals.
    static func number(_ v: Double) -> String {
        let scaled = Int64((v * 100).rounded())
        let whole = scaled / 100, frac = abs(scaled % 100)
        let sign = scaled < 0 && whole == 0 ? "-" : ""
        if frac == 0 { return "\(sign)\(whole)" }
        return frac % 10 == 0 ? "\(sign)\(whole).\(frac / 10)" : "\(sign)\(whole).\(frac < 10 ? "0" : "")\(frac)"
    }

    /// XML escaping scalar by scalar.
    static func escaped(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n", "\t", "\r": out.unicodeScalars.append(u)
            case _ where u.value < 0x20: out += "?"
            default: out.unicodeScalars.append(u)
            }
        }
        return out
    }

    @Test func numbersAsNWritesThem() {
        var values: [Double] = [0, -0.0, 0.004, 0.005, 0.006, -0.004, -0.005, -0.006, 0.1, -0.1, 0.25, -0.25, 1, -1, 1.5, -1.5, 12.345, -12.345, 99.995, -99.995, 1100, 1e9, -1e9, 123_456_789.01]
        var random = SystemRandomNumberGenerator()
        for _ in 0..<20_000 { values.append(Double.random(in: -5_000...5_000, using: &random)) }
        for k in 0..<2_000 { values.append(Double(k) / 100 - 10) }
        for v in values {
            var b = SVGBytes()
            b.num(v)
            #expect(b.string == Self.number(v), "\(v)")
            #expect(n(v) == Self.number(v), "\(v)")
        }
    }

    @Test func integersAndEscapesAsStringsWriteThem() {
        for v in ByteOutputTests.values {
            var b = SVGBytes()
            b.int(v)
            #expect(b.string == String(v))
        }
        var b = SVGBytes()
        b.uint(.max)
        #expect(b.string == String(UInt64.max))
        for text in ["plain", "a<b & c>d \"q\" 'x'", "tab\tnew\nline\rcr", "\u{1}\u{1F}bell", "µs ⟵ 30.4 s ⟶ é", ""] {
            var e = SVGBytes()
            e.escaped(text)
            #expect(e.string == Self.escaped(text))
            #expect(esc(text) == Self.escaped(text))
            #expect(JUnitReport.xml(text) == Self.escaped(text))
        }
    }

    /// Boxes kept by columns: no text placed overlaps another, and a text left out had no room
    /// at any of its positions — the same as checking every box placed.
    @Test func placedTextsNeverOverlapAndRefusalsHadNoRoom() {
        var random = SystemRandomNumberGenerator()
        var placer = LabelPlacer()
        placer.right = 1100
        var placed: [LabelPlacer.Box] = []
        for k in 0..<3_000 {
            let x = Double.random(in: -50...1_200, using: &random)
            let ys = [Double.random(in: 0...400, using: &random), Double.random(in: 0...400, using: &random)]
            let text = String(repeating: "x", count: Int.random(in: 1...12, using: &random))
            let anchor: LabelPlacer.Anchor = [.start, .middle, .end][k % 3]
            if k % 7 == 0 {
                let b = LabelPlacer.Box(x0: x - 5, x1: x + 5, y0: ys[0] - 5, y1: ys[0] + 5)
                placer.block(b)
                placed.append(b)
                continue
            }
            let free = ys.map { y in
                let b = LabelPlacer.box(x: x, y: y, text: text, anchor: anchor, size: 11, bold: false)
                return b.x0 >= 0 && b.x1 <= 1100 && !placed.contains { $0.overlaps(b) }
            }
            let y = placer.place(text, x: x, ys: ys, anchor: anchor)
            if let first = free.firstIndex(of: true) {
                #expect(y == ys[first])
                placed.append(LabelPlacer.box(x: x, y: ys[first], text: text, anchor: anchor, size: 11, bold: false))
            } else {
                #expect(y == nil)
            }
        }
    }
}
