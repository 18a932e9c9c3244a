#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellFormats

// The few system services the command line needs beyond FoundationEssentials (the full
// Foundation, with its ICU data, doubled the start-up time of every command).

/// The whole content of `path` (`-`: standard input), or why it cannot be read (the system's
/// reason: "cannot read it" alone left a misspelt name and a file without permission alike).
/// Read into memory up to `limit` bytes only: a device or a trace given by mistake
/// (`--baseline /dev/zero`) is refused there instead of growing without end.
func readWholeFileOrWhy(_ path: String, limit: Int = wholeFileLimit) -> Result<[UInt8], WhyNot> {
    do {
        let input = try ByteInput(path: path)
        var bytes: [UInt8] = []
        while let chunk = try input.nextChunk() {
            guard bytes.count + chunk.count <= limit else {
                return .failure(WhyNot(text: "it holds more than \(limit >> 20) MiB, more than any report, baseline or list of files"))
            }
            bytes += chunk
        }
        return .success(bytes)
    } catch .empty {
        return .success([])
    } catch {
        return .failure(WhyNot(text: error.description))
    }
}

/// The most `readWholeFileOrWhy` reads: a JSON report of a fleet's night is tens of megabytes.
let wholeFileLimit = 1 << 30

/// Why a file could not be read, as its reader said it.
struct WhyNot: Error {
    var text: String
}

/// `text` without leading and trailing spaces, tabs and carriage returns.
func trimmingBlanks(_ text: Substring) -> String {
    let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
    guard let first = text.firstIndex(where: { !blank($0) }), let last = text.lastIndex(where: { !blank($0) })
    else { return "" }
    return String(text[first...last])
}

