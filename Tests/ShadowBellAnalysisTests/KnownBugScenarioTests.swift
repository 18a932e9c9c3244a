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

    /// A hang after a reset that kept the buffers: the driver's probe read the EventIdx left
    /// from before the reset (63), which the controller has not written since the config. It
    /// was named the reset-ordering bug, whose driver zeroed the slot; it is the stale-buffers
    /// bug. A driver that zeroed it (the reset-ordering fault) still reads 0 there.
    @Test func aWaitOnALeftoverEventIdxIsTheStaleBuffersBug() throws {
        var c = SimulationConfig(seed: 1)
        c.durationNs = 20_000_000
        c.faults.driverSkipsMMIO = true
        c.faults.staleBuffersAtReset = true
        let (truth, r) = try Self.analyseLab(c)
        let stale = truth.windows.filter { $0.fault == .staleBuffersAtReset }
        try #require(stale.count == 2 && stale.allSatisfy { $0.interleaving.driverEventIdxRead != 0 && $0.interleaving.controllerEventIdxStoreNs == nil })
        let waits = r.findings.filter { f in f.kind == .mutualWait && stale.contains { $0.startNs == f.start } }
        #expect(waits.count == 2)
        #expect(waits.allSatisfy { $0.cause == .staleShadowAfterReset && $0.knownBug == .staleShadowAfterReset }, "\(waits.map { ($0.cause, $0.knownBug) })")
        #expect(waits.allSatisfy { $0.explanation.contains("a value left from before the reset") })
    }

    /// The same from the field inputs (guest tracepoints and the QEMU log: no probe says what
    /// the driver read). The tail moved from 0, where an EventIdx of 0 asks for a doorbell, and
    /// the slot's leftover (the controller's last write before the reset) asks for none on the
    /// window's submissions: the stale-buffers bug, not the reset-ordering bug, whose tail moved
    /// before the config. Both were named the reset-ordering bug. A driver that skipped the
    /// doorbell whichever value it read (the slot cleared, or its leftover passed) skipped a
    /// demanded doorbell.
    @Test(arguments: [true, false])
    func aWaitAfterAResetFromTheFieldInputs(staleBuffers: Bool) throws {
        // As `simulate --profile racing --seed 537 --driver-barrier off --ioeventfd --queues 3
        // --fault stale-buffers --duration-us 19500`, and `--seed 131 --controller-barrier off
        // --queues 2 --fault skip-mmio --duration-us 8500`.
        var c = SimulationConfig.racing(seed: staleBuffers ? 537 : 131)
        if staleBuffers {
            c.driverBarrier = false
            c.ioeventfd = true
            c.queues = 3
            c.faults.staleBuffersAtReset = true
            c.durationNs = 19_500_000
        } else {
            c.controllerBarrier = false
            c.faults.driverSkipsMMIO = true
            c.durationNs = 8_500_000
        }
        // Aligned on one clock as the command line does: inputs it can open again.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sb-bugs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let paths = [dir.appendingPathComponent("guest.txt").path, dir.appendingPathComponent("qemu.log").path]
        let truth = try Simulator.writeFieldTraces(c, tracePath: paths[0], qemuLogPath: paths[1])
        var options = AnalysisOptions()
        options.minWait = 50_000
        options.inferredMinWait = 1_000_000
        let r = try AnalysisSession.run(
            inputs: paths.enumerated().map { (i, path) in
                AnalysisInput(path: path) { () throws(InputError) -> any EventSource in try openEventSource(path: path, index: UInt16(i)) }
            }, options: options)
        // The fault's windows: on a queue re-created by the reset, its EventIdx never written since.
        let afterReset = truth.windows.filter { $0.fault != nil && $0.interleaving.queueCreatedNs != nil }
        let waits = r.findings.filter { $0.kind == .mutualWait && $0.value("eventidx_unwritten_since_dbbuf_config") == .bool(true) }
        try #require(!afterReset.isEmpty && waits.count == afterReset.count, "\(afterReset.map(\.startNs)) \(waits.map(\.start))")
        #expect(!Self.named(r).contains(.linuxResetOrdering))
        if staleBuffers {
            #expect(afterReset.allSatisfy { $0.fault == .staleBuffersAtReset })
            #expect(waits.allSatisfy { $0.cause == .staleShadowAfterReset && $0.knownBug == .staleShadowAfterReset }, "\(waits.map { ($0.cause, $0.knownBug) })")
            #expect(waits.allSatisfy { $0.explanation.contains("a slot the reset did not clear told the driver not to ring") })
        } else {
            #expect(waits.allSatisfy { $0.cause == .skippedDemandedDoorbell && $0.knownBug == nil }, "\(waits.map { ($0.cause, $0.knownBug) })")
            #expect(waits.allSatisfy { $0.explanation.contains("whichever it read, a correct driver had to ring") })
        }
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

    // MARK: linux-dbbuf-reset-ordering

    /// Options for microsecond-scale simulated hangs: every wait the guest's scaled-down
    /// timeout ends is reported, inferred or not.
    static var shortWaits: AnalysisOptions {
        var o = AnalysisOptions()
        o.minWait = 100_000
        o.inferredMinWait = 100_000
        return o
    }

    /// A skipped doorbell stalls sq2 until the guest resets the controller; with the fault the
    /// reset restarts the I/O queues before Doorbell Buffer Config. Linux-sized queues (1024
    /// entries): on a small ring the stalled tail soon wraps past 0, where need_event(0, …) rings.
    static func resetOrdering(fault: Bool = true, ioeventfd: Bool = false) -> SimulationConfig {
        var c = faulty {
            $0.driverSkipsMMIO = true
            $0.restartBeforeDbbufConfig = fault
        }
        c.sqEntries = 1024
        c.cqEntries = 1024
        c.ioeventfd = ioeventfd
        return c
    }

    /// Analyses files written in a fresh directory by `write` (given that directory).
    static func analyse(
        options: AnalysisOptions = shortWaits, _ write: (URL) throws -> [String]
    ) throws -> AnalysisResult {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sb-bugs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let paths = try write(dir)
        var sources: [any EventSource] = []
        for (i, path) in paths.enumerated() { sources.append(try openEventSource(path: path, index: UInt16(i))) }
        return ConvertedPcapEquivalenceTests.analyse(sources, options: options)
    }

    /// A guest console holding only the boot banner of `kernel` (and one late line, so that it
    /// does not end the analysis's coverage).
    static func console(_ kernel: String, in dir: URL) throws -> String {
        let path = dir.appendingPathComponent("console.log").path
        let text = "[    0.000000] Linux version \(kernel) (builder@example) #1 SMP PREEMPT_DYNAMIC\n"
            + "[  200.000000] nvme nvme0: 2/0/0 default/read/poll queues\n"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func checkResetOrderingNamed(_ r: AnalysisResult) {
        let named = r.findings.filter { $0.knownBug == .linuxResetOrdering }
        #expect(!named.isEmpty, "\(r.findings.map(\.message))")
        #expect(named.contains { $0.kind == .mutualWait })
        // (A guest trace on a clock group of its own, without the controller's events, names
        // it from the driver's order: I/O on re-created queues before the config.)
        for f in named where f.kind != .mutualWait {
            #expect(f.kind == .stuckCommand && f.evidence.contains { $0.role == "driver-io-before-dbbuf-config" }, "\(f.message) \(f.start)")
        }
        for f in named where f.kind == .mutualWait {
            #expect(f.cause == .eventIdxNotInitialised, "\(f.message) \(f.start)")
            #expect(f.value("eventidx_unwritten_since_dbbuf_config") == .bool(true))
            #expect(f.recursAfter != nil, "linked to the window whose reset caused it")
        }
    }

    @Test(arguments: [false, true])
    func resetOrderingWithDriverProbes(ioeventfd: Bool) throws {
        var truth: SimulationResult?
        let r = try Self.analyse { dir in
            let path = dir.appendingPathComponent("lab.txt").path
            truth = try Simulator.writeLabTrace(Self.resetOrdering(ioeventfd: ioeventfd), to: path)
            return [path]
        }
        try #require(truth?.faults.contains { $0.kind == .restartBeforeDbbufConfig } == true)
        Self.checkResetOrderingNamed(r)
        let clean = try Self.analyse { dir in
            let path = dir.appendingPathComponent("lab.txt").path
            try Simulator.writeLabTrace(Self.resetOrdering(fault: false, ioeventfd: ioeventfd), to: path)
            return [path]
        }
        #expect(clean.findings.contains { $0.kind == .mutualWait }, "the first hang is still there")
        #expect(Self.named(clean).isEmpty)
    }

    /// Guest tracepoints and the QEMU log, then the QEMU log alone; with the I/O queues' MMIO
    /// doorbells traced and without them (ioeventfd=on).
    @Test(arguments: [false, true])
    func resetOrderingFromTheFieldInputs(ioeventfd: Bool) throws {
        for qemuLogAlone in [false, true] {
            for fault in [true, false] {
                let r = try Self.analyse { dir in
                    let guest = dir.appendingPathComponent("guest.txt").path
                    let log = dir.appendingPathComponent("qemu.log").path
                    try Simulator.writeFieldTraces(Self.resetOrdering(fault: fault, ioeventfd: ioeventfd), tracePath: guest, qemuLogPath: log)
                    return qemuLogAlone ? [log] : [guest, log]
                }
                if fault {
                    Self.checkResetOrderingNamed(r)
                    #expect(r.findings.allSatisfy { $0.knownBug != .linuxResetOrdering || $0.inferred })
                } else {
                    #expect(Self.named(r).isEmpty, "\(r.findings.map(\.message))")
                }
            }
        }
    }

    @Test(arguments: [("6.8.0", false), ("6.6.59", false), ("6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2", true)])
    func aKernelWithTheFixExcludesTheResetOrderingBug(kernel: String, named: Bool) throws {
        let r = try Self.analyse { dir in
            let path = dir.appendingPathComponent("lab.txt").path
            try Simulator.writeLabTrace(Self.resetOrdering(), to: path)
            return [path, try Self.console(kernel, in: dir)]
        }
        #expect(r.findings.contains { $0.kind == .mutualWait && $0.cause == .eventIdxNotInitialised })
        #expect(Self.named(r).contains(.linuxResetOrdering) == named)
    }

    // MARK: spdk-dbbuf-missing-mb

    /// SPDK's driver (its need_event, no barrier) recorded into a ShadowBell pcap: the input
    /// does not say which driver wrote it. A guest console with Linux's 2018 fix leaves SPDK's
    /// bug as the candidate; without it, Linux's is named and SPDK's mentioned.
    @Test func spdkMissingBarrier() throws {
        var c = SimulationConfig.racing(seed: 1)
        c.durationNs = 3_000_000
        c.driverBarrier = false
        c.driverNeedEvent = .spdk
        var options = AnalysisOptions()
        options.minWait = 0
        for kernel in ["6.1.0", nil] {
            let r = try Self.analyse(options: options) { dir in
                let lab = dir.appendingPathComponent("lab.txt").path
                let pcap = dir.appendingPathComponent("spdk.pcap").path
                try Simulator.writeLabTrace(c, to: lab)
                // As a recorder writing events directly: its records say no original format.
                try convertToPcap(sources: [FormatUnsaid(try openEventSource(path: lab, index: 0))], output: pcap)
                return [pcap] + (try kernel.map { [try Self.console($0, in: dir)] } ?? [])
            }
            let reorders = r.findings.filter { $0.kind == .mutualWait && $0.cause == .driverReorder }
            try #require(!reorders.isEmpty)
            if kernel != nil {
                #expect(reorders.allSatisfy { $0.knownBug == .spdkMissingBarrier })
                #expect(reorders.allSatisfy { $0.explanation.contains("does not say which driver") })
            } else {
                #expect(reorders.allSatisfy { $0.knownBug == .linuxMissingBarrier })
                #expect(reorders.allSatisfy { $0.explanation.contains("spdk-dbbuf-missing-mb") })
            }
        }
        // Linux's own tracepoints name Linux's driver: a kernel with the fix leaves nothing.
        c.driverNeedEvent = .linux
        let linux = try Self.analyse(options: options) { dir in
            let lab = dir.appendingPathComponent("lab.txt").path
            try Simulator.writeLabTrace(c, to: lab)
            return [lab, try Self.console("6.1.0", in: dir)]
        }
        #expect(linux.findings.contains { $0.cause == .driverReorder })
        #expect(Self.named(linux).isEmpty)
        // With the barrier the same pcap names nothing.
        c.driverNeedEvent = .spdk
        c.driverBarrier = true
        let fixed = try Self.analyse(options: options) { dir in
            let lab = dir.appendingPathComponent("lab.txt").path
            let pcap = dir.appendingPathComponent("spdk.pcap").path
            try Simulator.writeLabTrace(c, to: lab)
            try convertToPcap(paths: [lab], output: pcap)
            return [pcap, try Self.console("6.1.0", in: dir)]
        }
        #expect(!Self.named(fixed).contains(.spdkMissingBarrier))
    }

    /// No catalog entry is a controller-side barrier bug: a controller reorder names nothing.
    @Test func aControllerReorderNamesNoBug() throws {
        var c = SimulationConfig.racing(seed: 2)
        c.durationNs = 3_000_000
        c.controllerBarrier = false
        let (truth, r) = try Self.analyseLab(c, minWait: 0)
        try #require(truth.windows.contains { $0.cause == .controllerReorder })
        #expect(r.findings.contains { $0.cause == .controllerReorder })
        #expect(r.findings.allSatisfy { $0.cause != .controllerReorder || $0.knownBug == nil })
    }

    // MARK: qemu-overcommitted-sq

    /// Fewer controller requests than commands in flight, and QEMU ≤ 9.1's SQ processing that
    /// a freed request does not restart.
    static func overcommitted(fault: Bool = true) -> SimulationConfig {
        var c = faulty { $0.overcommittedSQ = fault }
        c.controllerRequestsPerSQ = 8
        return c
    }

    static func checkOvercommitted(_ r: AnalysisResult) {
        let idle = r.findings.filter { $0.kind == .controllerIdleWithWork }
        #expect(!idle.isEmpty, "\(r.findings.map(\.message))")
        for f in idle {
            #expect(f.severity == .error && f.knownBug == .qemuOvercommittedQueue)
            if case .int(let pending)? = f.value("pending_entries") { #expect(pending > 0) } else { Issue.record("no pending_entries") }
        }
        #expect(r.findings.allSatisfy { $0.kind != .mutualWait }, "the controller saw the work: no mutual wait")
    }

    @Test func overcommittedQueue() throws {
        for inputs in ["lab", "field", "qemu-log"] {
            for fault in [true, false] {
                let r = try Self.analyse { dir in
                    let c = Self.overcommitted(fault: fault)
                    if inputs == "lab" {
                        let path = dir.appendingPathComponent("lab.txt").path
                        try Simulator.writeLabTrace(c, to: path)
                        return [path]
                    }
                    let guest = dir.appendingPathComponent("guest.txt").path
                    let log = dir.appendingPathComponent("qemu.log").path
                    let truth = try Simulator.writeFieldTraces(c, tracePath: guest, qemuLogPath: log)
                    #expect(truth.faults.contains { $0.kind == .overcommittedSQ } == fault)
                    return inputs == "field" ? [guest, log] : [log]
                }
                if fault {
                    Self.checkOvercommitted(r)
                } else {
                    #expect(r.findings.allSatisfy { $0.severity == .info }, "\(inputs): \(r.findings.map(\.message))")
                }
            }
        }
    }

    @Test(arguments: [(KernelVersion(9, 1, 2), true), (KernelVersion(9, 2, 0), false), (KernelVersion(10, 0, 2), false)])
    func aQemuWithTheFixExcludesTheOvercommittedQueueBug(qemu: KernelVersion, named: Bool) throws {
        var options = Self.shortWaits
        options.qemuVersion = qemu
        let r = try Self.analyse(options: options) { dir in
            let path = dir.appendingPathComponent("lab.txt").path
            try Simulator.writeLabTrace(Self.overcommitted(), to: path)
            return [path]
        }
        #expect(r.findings.contains { $0.kind == .controllerIdleWithWork })
        #expect(Self.named(r).contains(.qemuOvercommittedQueue) == named)
    }

    /// Simulated healthy runs of every profile stay clean of the new finding.
    @Test(arguments: [1, 2, 3])
    func healthyRunsShowNoIdleController(seed: UInt64) throws {
        for var c in [SimulationConfig(seed: seed), .racing(seed: seed), .cqPressure(seed: seed)] {
            c.durationNs = 3_000_000
            let (_, r) = try Self.analyseLab(c, minWait: 0)
            #expect(r.findings.allSatisfy { $0.kind != .controllerIdleWithWork }, "\(r.findings.map(\.message))")
        }
    }
}

/// A source whose events are written into a pcap as a direct recorder's are: no original format.
final class FormatUnsaid: EventSource {
    let base: any EventSource
    init(_ base: any EventSource) { self.base = base }
    var summary: InputSummary {
        var s = base.summary
        s.format = .pcap
        s.recordedFormat = nil
        return s
    }
    func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool { try base.nextBatch(into: &buffer) }
}
