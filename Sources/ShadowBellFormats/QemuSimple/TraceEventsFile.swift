/// Argument layouts from a QEMU `trace-events` file (`trace-events-all` in an install).
///
/// A line declares `[properties] name(type1 arg1, type2 arg2, ...) "format"`; `#` starts a
/// comment. In the simple backend every argument is 8 bytes except strings (`char *`), which
/// are a u32 length and that many bytes.
public struct TraceEventSignature: Sendable, Hashable {
    public struct Argument: Sendable, Hashable {
        public var type: String
        public var name: String
        public var isString: Bool
    }

    public var name: String
    public var arguments: [Argument]

    /// Parses one declaration line; `nil` for comments, blank lines and anything else.
    public init?(line: Substring) {
        var text = line
        if let hash = text.firstIndex(of: "#") { text = text[..<hash] }
        guard let open = text.firstIndex(of: "("), let close = text[open...].firstIndex(of: ")") else {
            return nil
        }
        // The name is the last word before "(" (earlier words are properties like `disable`).
        let head = text[..<open].split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard let name = head.last, !name.isEmpty,
            name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" })
        else { return nil }
        self.name = String(name)
        var arguments: [Argument] = []
        let list = text[text.index(after: open)..<close]
        let trimmedList = list.trimmingSpaces
        if !(trimmedList.isEmpty || trimmedList == "void") {
            for part in list.split(separator: ",") {
                let declaration = part.trimmingSpaces
                // The argument name is the trailing identifier; the rest is its type.
                guard let nameStart = declaration.lastIndex(where: { !($0.isLetter || $0.isNumber || $0 == "_") })
                else { return nil }
                let argName = declaration[declaration.index(after: nameStart)...]
                let type = declaration[...nameStart].trimmingSpaces
                guard !argName.isEmpty, !type.isEmpty else { return nil }
                let isString = type.contains("char") && type.contains("*")
                arguments.append(Argument(type: String(type), name: String(argName), isString: isString))
            }
        }
        self.arguments = arguments
    }

    public init?(_ line: String) { self.init(line: Substring(line)) }

    /// Parses every declaration of a trace-events file. Later declarations of a name win.
    public static func parseFile(_ text: String) -> [String: TraceEventSignature] {
        var table: [String: TraceEventSignature] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if let signature = TraceEventSignature(line: line) { table[signature.name] = signature }
        }
        return table
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
        return s
    }
}
