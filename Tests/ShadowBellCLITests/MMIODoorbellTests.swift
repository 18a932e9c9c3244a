import Foundation
import Testing
@testable import shadowbell

/// QEMU logs one MMIO doorbell twice, as the register write (`pci_nvme_mmio_write addr 0x1000
/// data 0x1`) and as the controller's doorbell event (`pci_nvme_mmio_doorbell_sq sqid 0
/// new_tail 1`). The analysis counts it once; timeline and the Perfetto trace show it once, at
/// the line of its first record.
@Suite struct MMIODoorbellTests {
    static let inputs = [sample("real-single/guest-ftrace.txt"), sample("real-single/qemu-trace.log")]

    /// The per-queue MMIO doorbell counts of `analyze`, summed.
    static func counted() throws -> Int {
        let (_, json, _) = try analyzeJSON(inputs)
        return (json["queues"] as? [[String: Any]] ?? []).map { $0["mmio_doorbells"] as? Int ?? 0 }.reduce(0, +)
    }

    /// The QEMU log's lines, by number.
    static func qemuLines() throws -> [Substring] {
        [""] + (try String(contentsOfFile: inputs[1], encoding: .utf8)).split(separator: "\n", omittingEmptySubsequences: false)
    }

    /// The QEMU log's line that `location` (`path:line`) names.
    static func line(_ location: String, in lines: [Substring]) -> Substring? {
        guard location.hasPrefix(inputs[1] + ":"), let n = Int(location.dropFirst(inputs[1].count + 1)), n < lines.count else { return nil }
        return lines[n]
    }

    @Test func timelineShowsEachDoorbellOnce() throws {
        let expected = try Self.counted()
        #expect(expected > 300)
        let out = temporaryPath("doorbells-timeline.json")
        #expect(runCommand(["timeline"] + Self.inputs + ["--format", "json", "--output", out, "--quiet"]) == 0)
        let rows = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [[String: Any]] ?? []
        let doorbells = rows.filter { ($0["event"] as? String ?? "").hasPrefix("MMIO doorbell") }
        #expect(doorbells.count == expected)
        // No two rows for one doorbell: never the same queue and value at successive lines.
        let lines = try Self.qemuLines()
        for row in doorbells {
            let location = row["location"] as? String ?? ""
            let text = try #require(Self.line(location, in: lines), "\(location)")
            #expect(text.contains("pci_nvme_mmio_write addr 0x1") || text.contains("pci_nvme_mmio_doorbell"), "\(location): \(text)")
        }
        let locations = doorbells.compactMap { $0["location"] as? String }
        #expect(Set(locations).count == locations.count)
    }

    @Test func perfettoTraceHasOneInstantPerDoorbell() throws {
        let expected = try Self.counted()
        let out = temporaryPath("doorbells-perfetto.json")
        #expect(runCommand(["convert"] + Self.inputs + ["--to", "perfetto-json", "--output", out]) == 0)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any] ?? [:]
        let instants = (json["traceEvents"] as? [[String: Any]] ?? []).filter { $0["name"] as? String == "MMIO doorbell" }
        #expect(instants.count == expected)
        let lines = try Self.qemuLines()
        for instant in instants.prefix(50) {
            let location = (instant["args"] as? [String: Any])?["location"] as? String ?? ""
            #expect(Self.line(location, in: lines) != nil, "\(location)")
        }
    }
}
