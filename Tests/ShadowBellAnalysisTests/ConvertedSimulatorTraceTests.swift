import Foundation
import ShadowBellCore
import ShadowBellFormats
import ShadowBellSimulator
import Testing

@testable import ShadowBellAnalysis

/// Analysis of `convert`'s pcap equals analysis of the simulator's output: lab mode (one
/// ftrace file, hangs included) and field mode (guest ftrace + QEMU log on different clocks).
@Suite struct ConvertedSimulatorTraceTests {
    typealias Facts = ConvertedPcapEquivalenceTests.FindingFacts

    static let configurations: [(String, SimulationConfig)] = {
        var list: [(String, SimulationConfig)] = []
        for seed: UInt64 in [1, 7] {
            var racing = SimulationConfig.racing(seed: seed)
            racing.durationNs = 3_000_000
            racing.driverBarrier = false
            list.append(("racing-no-barrier-\(seed)", racing))
            var cq = SimulationConfig.cqPressure(seed: seed)
            cq.durationNs = 3_000_000
            cq.controllerBarrier = false
            list.append(("cq-pressure-\(seed)", cq))
        }
        var healthy = SimulationConfig(seed: 3)
        healthy.durationNs = 2_000_000
        healthy.names = .qemu72
        list.append(("healthy-qemu7", healthy))
        return list
    }()

    static func compare(_ paths: [String]) throws {
        let originals = try paths.enumerated().map { try openEventSource(path: $1, index: UInt16($0)) }
        let original = ConvertedPcapEquivalenceTests.analyse(originals)
        let pcap = FileManager.default.temporaryDirectory
            .appendingPathComponent("sb-sim-\(UUID().uuidString).pcap").path
        defer { try? FileManager.default.removeItem(atPath: pcap) }
        try convertToPcap(paths: paths, output: pcap)
        let converted = ConvertedPcapEquivalenceTests.analyse(try openEventSources(path: pcap, firstIndex: 0))
        #expect(converted.inputs.map(\.events) == original.inputs.map(\.events))
        #expect(converted.findings.map(Facts.init) == original.findings.map(Facts.init))
        #expect(converted.findings.map(\.clockInput) == original.findings.map(\.clockInput))
        #expect(converted.queues.map(\.stats) == original.queues.map(\.stats))
    }

    @Test(arguments: configurations.map(\.0))
    func labTrace(name: String) throws {
        let config = try #require(Self.configurations.first { $0.0 == name }?.1)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sb-sim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("lab.txt").path
        _ = try Simulator.writeLabTrace(config, to: trace)
        try Self.compare([trace])
    }

    @Test(arguments: configurations.map(\.0))
    func fieldTraces(name: String) throws {
        let config = try #require(Self.configurations.first { $0.0 == name }?.1)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sb-sim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let guest = dir.appendingPathComponent("guest.txt").path
        let qemu = dir.appendingPathComponent("qemu.log").path
        _ = try Simulator.writeFieldTraces(config, tracePath: guest, qemuLogPath: qemu)
        try Self.compare([guest, qemu])
    }

    /// The comparison is not vacuous: some simulated runs do produce findings.
    @Test func someRunsHaveFindings() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sb-sim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var total = 0
        for (name, config) in Self.configurations {
            let trace = dir.appendingPathComponent("\(name).txt").path
            _ = try Simulator.writeLabTrace(config, to: trace)
            total += ConvertedPcapEquivalenceTests.analyse(try openEventSource(path: trace, index: 0)).findings.count
        }
        #expect(total > 0)
    }
}
