import Foundation
import ShadowBellSimulator
import ShadowBellTestSupport

/// A fresh temporary directory per call (inside the process's scratch folder, removed when it
/// exits).
func temporaryDirectory() -> URL {
    let url = processScratchDirectory("shadowbell-sim").appendingPathComponent(UUID().uuidString, isDirectory: true)
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func readBytes(_ url: URL) -> [UInt8] {
    (try? [UInt8](Data(contentsOf: url))) ?? []
}

func readLines(_ url: URL) -> [Substring] {
    let text = String(decoding: readBytes(url), as: UTF8.self)
    return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { $0 }
}

/// The timestamp of an ftrace line in nanoseconds (the `sec.nnnnnnnnn:` column), or nil.
func ftraceTime(_ line: Substring) -> Int64? {
    guard !line.hasPrefix("#"), let close = line.range(of: "] ") else { return nil }
    let rest = line[close.upperBound...].drop { $0 != " " }.drop { $0 == " " }
    guard let colon = rest.firstIndex(of: ":") else { return nil }
    let stamp = rest[..<colon]
    let parts = stamp.split(separator: ".")
    guard parts.count == 2, parts[1].count == 9, let s = Int64(parts[0]), let ns = Int64(parts[1]) else {
        return nil
    }
    return s * 1_000_000_000 + ns
}

/// The event name and payload of an ftrace line.
func ftraceEvent(_ line: Substring) -> (name: Substring, payload: Substring)? {
    guard let close = line.range(of: "] ") else { return nil }
    let rest = line[close.upperBound...]
    guard let sep = rest.range(of: ": ") else { return nil }
    let afterStamp = rest[sep.upperBound...]
    guard let sep2 = afterStamp.range(of: ": ") else { return nil }
    return (afterStamp[..<sep2.lowerBound], afterStamp[sep2.upperBound...])
}

/// A small, fast configuration for sweeps.
func small(_ base: SimulationConfig, durationUs: Int64) -> SimulationConfig {
    var c = base
    c.durationNs = durationUs * 1_000
    return c
}
