import Foundation
import ShadowBellCore
import ShadowBellFormats
import Testing

@testable import ShadowBellAnalysis

/// `shadowbell analyze FILE.pcap` must report what the analysis of the original input reports:
/// the same findings at the same times (cli-contract.md, `convert`). Checked on every trace in
/// SampleTraces. Evidence locations differ by design (they point into the pcap).
@Suite struct ConvertedPcapEquivalenceTests {
    static let sampleRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("SampleTraces")

    /// Every file under SampleTraces whose content is a supported trace format, plus the files
    /// named in `SHADOWBELL_EQUIVALENCE_EXTRA` (colon-separated; e.g. full real traces).
    static func sampleTraces() -> [String] {
        let extra = (ProcessInfo.processInfo.environment["SHADOWBELL_EQUIVALENCE_EXTRA"] ?? "")
            .split(separator: ":").map(String.init)
        return sampleFiles() + extra
    }

    static func sampleFiles() -> [String] {
        guard let walker = FileManager.default.enumerator(at: sampleRoot, includingPropertiesForKeys: nil)
        else { return [] }
        var paths: [String] = []
        for case let url as URL in walker {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue
            else { continue }
            if case .unknown = (try? detectFormat(path: url.path)) ?? .unknown(detail: "") { continue }
            paths.append(url.path)
        }
        return paths.sorted()
    }

    /// What a finding says, without where its evidence sits in a file.
    struct FindingFacts: Equatable, CustomStringConvertible {
        var kind: String
        var queue: QueueKey
        var start: Int64
        var end: Int64?
        var resolution: String?
        var cause: String?
        var inferred: Bool
        var uncertainty: [String]
        var values: [String]
        var evidenceTimes: [Int64]
        var evidenceRoles: [String]

        init(_ f: Finding) {
            kind = f.kind.rawValue
            queue = f.queue
            start = f.start
            end = f.end
            resolution = f.resolution?.rawValue
            cause = f.cause?.rawValue
            inferred = f.inferred
            uncertainty = f.uncertainty
            values = f.values.map { "\($0.0)=\($0.1)" }
            evidenceTimes = f.evidence.map(\.time)
            evidenceRoles = f.evidence.map(\.role)
        }

        var description: String { "\(kind) \(queue) \(start)…\(end.map(String.init) ?? "open") \(values)" }
    }

    static func analyse(_ source: any EventSource) -> AnalysisResult { analyse([source]) }

    static func analyse(_ sources: [any EventSource], options: AnalysisOptions = AnalysisOptions()) -> AnalysisResult {
        do {
            return try AnalysisSession.run(sources: sources, options: options)
        } catch {
            return error.partial
        }
    }

    /// Inputs converted together: each keeps its clock domain in the pcap.
    static let inputSets: [[String]] = {
        let root = sampleRoot.path
        return [
            ["\(root)/lab/sq-hang.txt", "\(root)/lab/cq-hang.txt"],
            ["\(root)/real-single/guest-ftrace.txt", "\(root)/real-single/qemu-trace.log"],
            ["\(root)/binary/trace-4711", "\(root)/lab/sq-hang.txt", "\(root)/binary/qemu-single-excerpt.pcap"],
        ].filter { $0.allSatisfy { FileManager.default.fileExists(atPath: $0) } }
    }()

    /// An input without timestamps (QEMU 6.0–10.x log without `-msg timestamp=on`) stays
    /// order-only through the pcap.
    @Test func orderOnlyInputStaysOrderOnly() throws {
        let sample = Self.sampleRoot.appendingPathComponent("real-single/qemu-trace.log").path
        let log = try String(contentsOfFile: sample, encoding: .utf8)
        let stripped = log.split(separator: "\n").map { line -> Substring in
            guard let at = line.firstIndex(of: "@"), let colon = line[at...].firstIndex(of: ":") else { return line }
            return line[line.index(after: colon)...]
        }.joined(separator: "\n") + "\n"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sb-order-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("qemu-no-timestamps.log").path
        try stripped.write(toFile: path, atomically: true, encoding: .utf8)
        let original = Self.analyse(try openEventSource(path: path, index: 0))
        #expect(original.inputs[0].clock == .orderOnly)
        let pcap = dir.appendingPathComponent("out.pcap").path
        try convertToPcap(paths: [path], output: pcap)
        let converted = Self.analyse(try openEventSource(path: pcap, index: 0))
        #expect(converted.inputs[0].clock == .orderOnly)
        #expect(converted.findings.map(FindingFacts.init) == original.findings.map(FindingFacts.init))
        #expect(converted.queues.map(\.stats) == original.queues.map(\.stats))
    }

    @Test(arguments: inputSets, [false, true])
    func severalInputsConvertedTogetherAnalyseAsBefore(paths: [String], sameClock: Bool) throws {
        var options = AnalysisOptions()
        options.sameClock = sameClock
        let originals = try paths.enumerated().map { try openEventSource(path: $1, index: UInt16($0)) }
        let original = Self.analyse(originals, options: options)
        let pcap = FileManager.default.temporaryDirectory
            .appendingPathComponent("sb-equiv-\(UUID().uuidString).pcap").path
        defer { try? FileManager.default.removeItem(atPath: pcap) }
        try convertToPcap(paths: paths, output: pcap)
        let reopened = try openEventSources(path: pcap, firstIndex: 0)
        #expect(reopened.count == paths.count)
        let converted = Self.analyse(reopened, options: options)
        #expect(converted.inputs.map(\.events) == original.inputs.map(\.events))
        #expect(converted.findings.map(FindingFacts.init) == original.findings.map(FindingFacts.init))
        #expect(converted.findings.map(\.clockInput) == original.findings.map(\.clockInput))
        #expect(converted.queues.map(\.stats) == original.queues.map(\.stats))
    }

    @Test func sampleTracesExist() {
        #expect(Self.sampleFiles().count >= 3, "expected the binary samples at least")
    }

    @Test(arguments: sampleTraces())
    func analysisOfConvertedPcapEqualsAnalysisOfSource(path: String) throws {
        let original = Self.analyse(try openEventSource(path: path, index: 0))
        let pcap = FileManager.default.temporaryDirectory
            .appendingPathComponent("sb-equiv-\(UUID().uuidString).pcap").path
        defer { try? FileManager.default.removeItem(atPath: pcap) }
        let written = try convertToPcap(paths: [path], output: pcap)
        #expect(written.eventsWritten == original.inputs[0].events)
        let converted = Self.analyse(try openEventSource(path: pcap, index: 0))

        #expect(converted.inputs[0].events == original.inputs[0].events)
        #expect(converted.inputs[0].clock == original.inputs[0].clock)
        #expect(converted.inputs[0].lostEvents == original.inputs[0].lostEvents)
        #expect(converted.inputs[0].dataLossMarkers == original.inputs[0].dataLossMarkers)
        #expect(converted.findings.map(FindingFacts.init) == original.findings.map(FindingFacts.init))
        #expect(converted.queues.map(\.key) == original.queues.map(\.key))
        #expect(converted.queues.map(\.stats) == original.queues.map(\.stats))
    }
}
