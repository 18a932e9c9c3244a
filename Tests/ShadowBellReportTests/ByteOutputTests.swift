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
