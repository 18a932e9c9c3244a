/// Input lines quoted as evidence, as a person reads them.
public enum QuotedLine {
    /// A line as a terminal would show it: a carriage return moves back to the start of the line,
    /// so only the text after the last one counts (fio's progress output before a kernel message);
    /// other control characters are written as `\xNN`.
    public static func text(of bytes: UnsafeRawBufferPointer) -> String {
        var end = bytes.count
        while end > 0, bytes[end - 1] == UInt8(ascii: "\n") || bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        var start = 0
        if let lastCR = bytes[0..<end].lastIndex(of: UInt8(ascii: "\r")) { start = lastCR + 1 }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        return escapingControlCharacters(text)
    }

    /// `\xNN` for every control character but tab.
    public static func escapingControlCharacters(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F }) else { return text }
        var out = ""
        for u in text.unicodeScalars {
            if (u.value < 0x20 && u != "\t") || u.value == 0x7F {
                let hex = String(u.value, radix: 16, uppercase: true)
                out += "\\x" + (hex.count < 2 ? "0" : "") + hex
            } else {
                out.unicodeScalars.append(u)
            }
        }
        return out
    }
}
