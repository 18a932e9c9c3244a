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
                let digits: String?
                switch value {
                case .int(let v) where v.magnitude > JSONValue.exactDoubleLimit: digits = String(v)
                case .decimal(let d) where UInt64(d).map({ $0 > JSONValue.exactDoubleLimit }) == true: digits = d
                default: digits = nil
                }
                if let digits {
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

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
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
