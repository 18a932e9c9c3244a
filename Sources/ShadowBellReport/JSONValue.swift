/// A JSON document with ordered keys, rendered deterministically (the same value gives the
/// same bytes). Numbers are integers or pre-formatted decimals: no floating-point printing.
public indirect enum JSONValue: Sendable, Equatable {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    case int(Int64)
    case decimal(String)
    case bool(Bool)
    case null

    /// 2^53: the largest magnitude up to which every integer is exact as a double.
    public static let exactDoubleLimit: UInt64 = 1 << 53

    /// A counter: every `UInt64` value is written exactly (an integer beyond `Int64.max` is
    /// written as its digits), never converted with a trap.
    public static func count(_ value: UInt64) -> JSONValue {
        value <= UInt64(Int64.max) ? .int(Int64(value)) : .decimal(String(value))
    }

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        lhs.rendered(pretty: false) == rhs.rendered(pretty: false)
    }

    public func rendered(pretty: Bool = true) -> String {
        var out = ""
        write(to: &out, indent: pretty ? 0 : -1)
        if pretty { out += "\n" }
        return out
    }

    private func write(to out: inout String, indent: Int) {
        let pretty = indent >= 0
        func newline(_ level: Int) {
            if pretty {
                out += "\n"
                out += String(repeating: "  ", count: level)
            }
        }
        switch self {
        case .object(let members):
            if members.isEmpty { out += "{}"; return }
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out += "," }
                newline(indent + 1)
                JSONValue.writeString(key, to: &out)
                out += pretty ? ": " : ":"
                value.write(to: &out, indent: pretty ? indent + 1 : -1)
                // Integers beyond ±2^53 lose digits in tools that read JSON numbers as doubles
                // (JavaScript, jq 1.6, spreadsheets): each also appears as a decimal string.
                if let digits = value.exactDigits {
                    out += ","
                    newline(indent + 1)
                    JSONValue.writeString(key + "_str", to: &out)
                    out += pretty ? ": " : ":"
                    JSONValue.writeString(digits, to: &out)
                }
            }
            newline(indent)
            out += "}"
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                newline(indent + 1)
                item.write(to: &out, indent: pretty ? indent + 1 : -1)
            }
            newline(indent)
            out += "]"
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .int(let v): out += String(v)
        case .decimal(let s): out += s
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        }
    }

    /// An integer beyond ±2^53 (which tools reading JSON numbers as doubles round): its digits,
    /// written beside it as a `_str` twin.
    var exactDigits: String? {
        switch self {
        case .int(let v) where v.magnitude > JSONValue.exactDoubleLimit: return String(v)
        case .decimal(let d) where UInt64(d).map({ $0 > JSONValue.exactDoubleLimit }) == true: return d
        default: return nil
        }
    }

    /// The compact rendering (`rendered(pretty: false)`, byte for byte), appended as UTF-8 to
    /// `out`: for writers that stream many small values (the Perfetto export).
    public func appendCompact(to out: inout [UInt8]) {
        switch self {
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.appendString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                value.appendCompact(to: &out)
                if let digits = value.exactDigits {
                    out.append(UInt8(ascii: ","))
                    JSONValue.appendString(key + "_str", to: &out)
                    out.append(UInt8(ascii: ":"))
                    JSONValue.appendString(digits, to: &out)
                }
            }
            out.append(UInt8(ascii: "}"))
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.appendCompact(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .string(let s): JSONValue.appendString(s, to: &out)
        case .int(let v): JSONValue.appendInteger(v, to: &out)
        case .decimal(let s): out.append(contentsOf: s.utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .null: out.append(contentsOf: "null".utf8)
        }
    }

    /// `writeString`'s escaping, on UTF-8 bytes (every byte of a multi-byte scalar is ≥ 0x80
    /// and passes as it is).
    static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most strings need no escape: copied whole from their contiguous UTF-8.
        let copied = s.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            for b in bytes where b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if copied == true {
            out.append(UInt8(ascii: "\""))
            return
        }
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(b)
            case UInt8(ascii: "\\"): out.append(b); out.append(b)
            case UInt8(ascii: "\n"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case UInt8(ascii: "\t"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Decimal digits of `v`, as `String(v)` writes them.
    static func appendInteger(_ v: Int64, to out: inout [UInt8]) {
        withDecimal(v) { out.append(contentsOf: $0) }
    }

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        // Runs of bytes that need no escape are appended whole (most strings are one run).
        var s = s
        s.withUTF8 { bytes in
            var runStart = 0
            for i in bytes.indices {
                let b = bytes[i]
                guard b < 0x20 || b == 0x22 || b == 0x5C else { continue }
                if runStart < i { out += String(decoding: UnsafeBufferPointer(rebasing: bytes[runStart..<i]), as: UTF8.self) }
                switch b {
                case 0x22: out += "\\\""
                case 0x5C: out += "\\\\"
                case 0x0A: out += "\\n"
                case 0x0D: out += "\\r"
                case 0x09: out += "\\t"
                default:
                    let hex = String(b, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                }
                runStart = i + 1
            }
            if runStart < bytes.count { out += String(decoding: UnsafeBufferPointer(rebasing: bytes[runStart...]), as: UTF8.self) }
        }
        out += "\""
    }
}

/// `0.8735` from a ratio of integers, rounded to 4 places, without floating point.
func decimalRatio(_ numerator: UInt64, _ denominator: UInt64) -> JSONValue {
    guard denominator > 0 else { return .null }
    let scaled = (numerator * 10_000 + denominator / 2) / denominator
    let whole = scaled / 10_000, frac = String(scaled % 10_000)
    return .decimal("\(whole).\(String(repeating: "0", count: 4 - frac.count))\(frac)")
}
