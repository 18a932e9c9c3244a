import Foundation
import ShadowBellCore
import ShadowBellFormats
import ShadowBellSimulator
import Testing

@testable import ShadowBellAnalysis

/// Each catalog entry the simulator can reproduce (Docs/KnownBugs.md): the analyzer names it
/// from the simulated trace, and the same run without the bug names nothing.
@Suite struct KnownBugScenarioTests {
    static func analyseLab(_ config: SimulationConfig, minWait: Int64 = 1_000_000) throws -> (truth: SimulationResult, result: AnalysisResult) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sb-bugs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("lab.txt").path
        let truth = try Simulator.writeLabTrace(config, to: path)
        let source = try openEventSource(path: path, index: 0)
        var options = AnalysisOptions()
        options.minWait = minWait
        return (truth, ConvertedPcapEquivalenceTests.analyse([source], options: options))
    }

    static func faulty(seed: UInt64 = 4, _ set: (inout FaultSet) -> Void) -> SimulationConfig {
        var c = SimulationConfig.racing(seed: seed)
        c.durationNs = 3_000_000
        c.timeoutDivisor = 60_000  // 0.5 ms
        c.faultAtNs = 200_000
        set(&c.faults)
        return c
    }

    static func named(_ r: AnalysisResult) -> Set<KnownBug> { Set(r.findings.compactMap(\.knownBug)) }

    @Test func missingDriverBarrier() throws {
        var c = SimulationConfig.racing(seed: 1)
        c.durationNs = 3_000_000
        c.driverBarrier = false
        // The simulated races are short (microseconds): every window is reported.
        let (truth, r) = try Self.analyseLab(c, minWait: 0)
        try #require(truth.windows.contains { $0.cause == .driverReorder })
        let named = r.findings.filter { $0.knownBug == .linuxMissingBarrier }
        #expect(!named.isEmpty)
        #expect(named.allSatisfy { $0.kind == .mutualWait && $0.cause == .driverReorder })

        c.driverBarrier = true
        #expect(!Self.named(try Self.analyseLab(c, minWait: 0).result).contains(.linuxMissingBarrier))
    }

    @Test func staleBuffersAtReset() throws {
        let (truth, r) = try Self.analyseLab(Self.faulty {
            $0.driverSkipsMMIO = true
            $0.staleBuffersAtReset = true
        })
        try #require(truth.faults.contains { $0.kind == .staleBuffersAtReset && $0.queue != nil })
        #expect(r.findings.contains { $0.kind == .staleShadowAfterReset && $0.knownBug == .staleShadowAfterReset })
        let (_, clean) = try Self.analyseLab(Self.faulty { $0.driverSkipsMMIO = true })
        #expect(!Self.named(clean).contains(.staleShadowAfterReset))
    }

    @Test func noCQEventIdx() throws {
        let (_, r) = try Self.analyseLab(Self.faulty { $0.noCQEventIdx = true })
        let f = try #require(r.findings.first { $0.kind == .cqEventIdxNotSeen })
        #expect(f.value("driver_read_only_zero") == .bool(true))
        #expect(f.knownBug == .qemuCQEventIdxNeverWritten)
        let (_, clean) = try Self.analyseLab(Self.faulty { _ in })
        #expect(!Self.named(clean).contains(.qemuCQEventIdxNeverWritten))
    }

    @Test func byteSwappedEventIdx() throws {
        let (truth, r) = try Self.analyseLab(Self.faulty { $0.byteSwappedEventIdx = true })
        try #require(truth.faults.contains { $0.kind == .byteSwappedEventIdx })
        #expect(r.findings.contains { $0.kind == .valueOutOfRange && $0.knownBug == .dbbufEndianness })
        let (_, range) = try Self.analyseLab(Self.faulty { $0.valueOutOfRange = true })
        #expect(range.findings.contains { $0.kind == .valueOutOfRange })
        #expect(!Self.named(range).contains(.dbbufEndianness))
    }
}
