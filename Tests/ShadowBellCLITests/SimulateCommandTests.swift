import Foundation
import ShadowBellSimulator
import Testing

@testable import shadowbell

@Suite struct SimulateCommandTests {
    @Test func flagsBecomeTheConfiguration() throws {
        let cmd = try Simulate.parse([
            "--seed", "42", "--driver-barrier", "off", "--output", "t.txt", "--profile", "cq-pressure",
            "--queues", "3", "--sq-entries", "128", "--cq-entries", "8", "--service", "exp:2000",
            "--driver-drain", "uniform:5:50,tail:10:100:900", "--fault", "skip-mmio", "--fault",
            "no-cq-eventidx", "--names", "qemu72", "--timeout-divisor", "30000", "--queue-iops", "1000, 2000",
        ])
        let c = try cmd.makeConfig()
        #expect(c.seed == 42)
        #expect(!c.driverBarrier && c.controllerBarrier)
        #expect(c.queues == 3 && c.sqEntries == 128 && c.cqEntries == 8)
        #expect(c.workload.service == .exponential(mean: 2000))
        #expect(c.timing.driverDrain == DelayDistribution.uniform(5, 50).withTail(percent: 10, 100, 900))
        #expect(c.faults.driverSkipsMMIO && c.faults.noCQEventIdx && !c.faults.staleBuffersAtReset)
        #expect(c.names == .qemu72)
        #expect(c.ioTimeoutNs == 1_000_000)
        #expect(c.workload.perQueueIOPS == [1000, 2000])
    }

    @Test func badFlagsAreUsageErrors() {
        for args in [
            ["--output", "t.txt", "--sq-entries", "1"],
            ["--output", "t.txt", "--service", "gauss:3"],
            ["--output", "t.txt", "--driver-barrier", "maybe"],
            ["--output", "t.txt", "--truth", "t.txt"],
            ["--seed", "1"],
        ] {
            #expect(throws: (any Error).self, "\(args)") { _ = try Simulate.parse(args) }
            do {
                _ = try Simulate.parse(args)
            } catch {
                #expect(Simulate.exitCode(for: error).rawValue == 64, "\(args)")
            }
        }
    }

    /// A file that cannot be written is exit 2, as for the other commands' outputs (it was 1,
    /// the status of a failing finding).
    @Test func anOutputThatCannotBeWrittenIsExit2() {
        #expect(runCommand(["simulate", "--seed", "1", "--duration-us", "1000", "--output", "/nonexistent-folder/sim.txt"]) == 2)
    }

    @Test func runWritesTraceAndTruth() throws {
        let trace = temporaryPath("sim-\(UUID().uuidString).txt")
        let truth = temporaryPath("sim-\(UUID().uuidString).json")
        var cmd = try Simulate.parse([
            "--seed", "34", "--profile", "racing", "--queues", "1", "--driver-barrier", "off",
            "--duration-us", "1700", "--timeout-divisor", "40000", "--output", trace, "--truth", truth,
        ])
        try cmd.run()
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: truth))) as? [String: Any]
        let waits = json?["mutual_waits"] as? [[String: Any]] ?? []
        #expect(!waits.isEmpty)
        #expect(waits.allSatisfy { $0["cause"] as? String == "driver-reorder" })
        #expect(try String(contentsOfFile: trace, encoding: .utf8).hasPrefix("# tracer: nop\n"))
    }

    /// The generated samples are exactly what their documented commands produce.
    @Test(arguments: SimulatedSample.all)
    func generatedSamplesAreReproducible(_ generated: SimulatedSample) throws {
        let out = temporaryPath("regen-\(UUID().uuidString).txt")
        var cmd = try Simulate.parse(generated.arguments + ["--output", out])
        try cmd.run()
        let committed = try Data(contentsOf: URL(fileURLWithPath: sample(generated.file)))
        let fresh = try Data(contentsOf: URL(fileURLWithPath: out))
        #expect(committed == fresh, "regenerate SampleTraces/\(generated.file) with the command in SampleTraces/lab/README.md")
        #expect(committed.count < 200_000)
    }
}

/// The simulated samples under SampleTraces/lab/ and their commands (as in lab/README.md).
struct SimulatedSample: Sendable, CustomStringConvertible {
    var file: String
    var arguments: [String]
    var description: String { file }

    static let all: [SimulatedSample] = [
        SimulatedSample(file: "lab/sim-healthy-racing.txt", arguments: [
            "--seed", "3", "--profile", "racing", "--duration-us", "200",
        ]),
        SimulatedSample(file: "lab/sim-sq-hang.txt", arguments: [
            "--seed", "34", "--profile", "racing", "--queues", "1", "--driver-barrier", "off",
            "--duration-us", "1700", "--timeout-divisor", "40000",
        ]),
        SimulatedSample(file: "lab/sim-cq-hang.txt", arguments: [
            "--seed", "350", "--queues", "1", "--cq-entries", "4", "--iodepth", "12", "--burst", "12",
            "--iops", "1500", "--service", "uniform:300:3000", "--interrupt-latency", "uniform:200:800",
            "--controller-drain", "uniform:10:150,tail:20:500:5000", "--controller-barrier", "off",
            "--duration-us", "2500",
        ]),
    ]
}
