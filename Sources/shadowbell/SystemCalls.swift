#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellFormats

// The few system services the command line needs beyond FoundationEssentials (the full
// Foundation, with its ICU data, doubled the start-up time of every command).

/// The whole content of `path` (`-`: standard input), or nil when it cannot be read.
func readWholeFile(_ path: String) -> [UInt8]? {
    do {
        let input = try ByteInput(path: path)
        var bytes: [UInt8] = []
        while let chunk = try input.nextChunk() { bytes += chunk }
        return bytes
    } catch .empty {
        return []
    } catch {
        return nil
    }
}

/// `text` without leading and trailing spaces, tabs and carriage returns.
func trimmingBlanks(_ text: Substring) -> String {
    let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
    guard let first = text.firstIndex(where: { !blank($0) }), let last = text.lastIndex(where: { !blank($0) })
    else { return "" }
    return String(text[first...last])
}

