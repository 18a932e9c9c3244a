import Foundation
import ShadowBellAnalysis
import ShadowBellCore
import ShadowBellFormats
import ShadowBellReport
import ShadowBellTestSupport
import Testing

@testable import shadowbell

/// A pcap converted from several inputs is analysed one clock domain per original input, also
/// when its first records are all of one input, and when it comes through standard input.
@Suite struct PcapClockDomainTests {
    /// `leading` records of input 0, then a few of input 1 (on a clock far behind).
    static func pcap(leading: Int, name: String) throws -> String {
        let path = temporaryPath(name)
        let writer = try PcapWriter(path: path, linkType: .user0)
        var bytes = [UInt8](repeating: 0, count: RecordCodec.recordLengthV1)
        func write(_ event: Event) {
            bytes.withUnsafeMutableBytes { RecordCodec.encode(RecordCodec.Record(event: event), into: $0) }
            bytes.withUnsafeBytes {
                writer.write(seconds: UInt32(event.time / 1_000_000_000), nanoseconds: UInt32(event.time % 1_000_000_000), $0)
            }
        }
        for i in 0..<leading {
            write(Event(kind: .mmioDoorbell, time: 1_000_000_000 + Int64(i) * 1000, source: 0, qid: 1, a: UInt32(i & 63)))
        }
        for i in 0..<5 {
            write(Event(kind: .mmioDoorbell, time: 5_000_000_000 + Int64(i) * 1000, source: 1, qid: 2, a: UInt32(i)))
        }
        writer.close()
        return path
    }

    /// The JSON report of the exact domains, found by a whole read before the analysis.
    static func exactReport(_ paths: [String]) throws -> String {
        let flags = try AnalysisFlags.parse(paths)
        let inputs = try flags.inputs(for: paths)
        var report: AnalysisReport
        do {
            report = AnalysisReport(result: try AnalysisSession.run(inputs: inputs, options: flags.options))
        } catch {
            report = AnalysisReport(result: error.partial, inputErrors: error.errors)
        }
        report.environment = EnvironmentScan.scan(traces: paths, notes: [])
        let text = JSONReport.render(report)
        #expect(schemaProblems(ofJSON: text).isEmpty)
        return text
    }

    @Test(arguments: [10, 5096])
    func secondDomainAfterTheHeadIsAnalysedOnItsOwn(leading: Int) throws {
        let path = try Self.pcap(leading: leading, name: "late-\(leading)-\(UUID().uuidString).pcap")
        defer { unlink(path) }
        let (_, json, text) = try analyzeJSON([path])
        let inputs = json["inputs"] as? [[String: Any]] ?? []
        #expect(inputs.compactMap { $0["events"] as? Int } == [leading, 5])
        #expect((json["input_errors"] as? [Any])?.isEmpty == true)
        let exact = try Self.exactReport([path])
        #expect(text.trimmingCharacters(in: .newlines) == exact.trimmingCharacters(in: .newlines))
        // With another input after it, too.
        let other = sample("lab/sq-hang.txt")
        let (_, both, bothText) = try analyzeJSON([path, other])
        #expect((both["inputs"] as? [Any])?.count == 3)
        let exactBoth = try Self.exactReport([path, other])
        #expect(bothText.trimmingCharacters(in: .newlines) == exactBoth.trimmingCharacters(in: .newlines))
    }

    @Test func aSecondDomainFarIntoTheFileIsAnInputOfItsOwnFromTheStart() throws {
        let path = try Self.pcap(leading: 20_000, name: "late-\(UUID().uuidString).pcap")
        defer { unlink(path) }
        let flags = try AnalysisFlags.parse([path])
        let inputs = try flags.inputs(for: [path])
        #expect(inputs.count == 2)
        #expect(inputs.allSatisfy { $0.reopenable })
    }

    /// Through standard input (read once, so copied: its clock domains must be known before the
    /// analysis), the same report as from the file; before, the records of both original inputs
    /// were read as one clock domain.
    @Test func aPcapOfSeveralDomainsOnStandardInputIsSplitAsTheFileIs() throws {
        let path = try Self.pcap(leading: 10, name: "stdin-\(UUID().uuidString).pcap")
        defer { unlink(path) }
        let piped = try runProcess(["analyze", "-", "--format", "json", "--quiet"], stdin: try Data(contentsOf: URL(fileURLWithPath: path)))
        let json = try JSONSerialization.jsonObject(with: Data(piped.stdout.utf8)) as? [String: Any] ?? [:]
        let inputs = json["inputs"] as? [[String: Any]] ?? []
        #expect(inputs.compactMap { $0["events"] as? Int } == [10, 5])
        #expect(inputs.compactMap { $0["path"] as? String } == ["-", "-"])
        let (status, _, _) = try analyzeJSON([path])
        #expect(piped.status == status)
    }
}
