import ArgumentParser
import ShadowBellSimulator

/// `shadowbell simulate`: a thin wrapper over `ShadowBellSimulator`.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run a seeded model of the shadow-doorbell protocol and write a labelled trace.",
        discussion: """
            The same arguments always give byte-identical files. Lab mode (the default) writes one \
            ftrace text file with driver probes, guest nvme tracepoints, QEMU events as \
            tracing_mark_write and unrelated noise. With --qemu-log the run is in field mode: the \
            trace holds only what an unpatched guest records, and the QEMU events go to a QEMU log \
            on another clock. --truth writes every mutual-wait window computed from the model.

            Examples:
              shadowbell simulate --seed 3 --profile racing \\
                  --output healthy.txt --truth healthy.json
              shadowbell simulate --seed 34 --profile racing --queues 1 \\
                  --driver-barrier off --duration-us 1700 \\
                  --timeout-divisor 40000 --output sq-hang.txt --explain
              shadowbell simulate --seed 350 --queues 1 --cq-entries 4 \\
                  --iodepth 12 --burst 12 --iops 1500 \\
                  --service uniform:300:3000 --interrupt-latency uniform:200:800 \\
                  --controller-drain uniform:10:150,tail:20:500:5000 \\
                  --controller-barrier off --duration-us 2500 --output cq-hang.txt
              shadowbell simulate --seed 9 --fault no-cq-eventidx \\
                  --names qemu72 --output guest.txt --qemu-log qemu.log

            Docs/Simulator.md describes the model, where each stamp sits and the truth file.

            Exit status: 0 written; 2 a file could not be written; 64 usage error.
            """)

    enum Switch: String, ExpressibleByArgument, CaseIterable {
        case on, off
    }

    enum Profile: String, ExpressibleByArgument, CaseIterable {
        case steady, racing
        case cqPressure = "cq-pressure"
    }

    enum Fault: String, ExpressibleByArgument, CaseIterable {
        case skipMMIO = "skip-mmio"
        case staleBuffers = "stale-buffers"
        case noCQEventIdx = "no-cq-eventidx"
        case outOfRange = "out-of-range"
        case byteSwapped = "byte-swapped"
        case resetOrdering = "reset-ordering"
        case overcommittedSQ = "overcommitted-sq"
    }

    enum NeedEventFlavor: String, ExpressibleByArgument, CaseIterable {
        case linux, spdk
    }

    enum Names: String, ExpressibleByArgument, CaseIterable {
        case qemu72, qemu8
    }

    @Option(parsing: .unconditional, help: "Seed of the run's pseudo-random generator.")
    var seed: UInt64 = 1

    @Option(help: "The driver's mb() between its shadow store and its EventIdx load (on|off).")
    var driverBarrier: Switch = .on

    @Option(help: "The controller's barrier between its EventIdx store and its shadow re-read (on|off).")
    var controllerBarrier: Switch = .on

    @Option(help: "The driver's need_event: linux ([old, new-1]) or spdk ([old, new]).")
    var driverNeedEvent: NeedEventFlavor = .linux

    @Flag(help: "QEMU with ioeventfd=on: the I/O queues' MMIO doorbells leave no trace event.")
    var ioeventfd = false

    @Option(parsing: .unconditional, help: "Requests the controller has per SQ (default: the SQ's entries, as QEMU).")
    var controllerRequests: Int?

    @Option(name: .shortAndLong, help: "The trace file to write (ftrace text).")
    var output: String

    @Option(help: "Write the ground truth (mutual-wait windows, faults, per-queue counts) as JSON here.")
    var truth: String?

    @Flag(help: "Print, for each hang, which load overtook which store and what each side saw.")
    var explain = false

    @Option(help: "Field mode: write QEMU's events to this QEMU log (host clock) instead of the trace, and omit the driver probes.")
    var qemuLog: String?

    enum LogStyle: String, ExpressibleByArgument, CaseIterable {
        case pid, iso, plain
    }

    @Option(help: "Field mode: QEMU log line prefix: pid (4711@sec.usec:), iso (QEMU 10.1+ UTC time) or plain (no time).")
    var qemuLogStyle: LogStyle = .pid

    @Option(help: "QEMU trace-event names: qemu72 (7.1–7.2) or qemu8 (8.0 and later).")
    var names: Names = .qemu8

    @Option(help: "Workload preset the knobs below start from: steady, racing (heavy racing load), cq-pressure.")
    var profile: Profile = .steady

    @Option(parsing: .unconditional, help: "I/O queue pairs (1–64).")
    var queues: Int?

    @Option(parsing: .unconditional, help: "Entries per submission queue (2–65536).")
    var sqEntries: Int?

    @Option(parsing: .unconditional, help: "Entries per completion queue (2–65536); fewer than the commands in flight puts pressure on the CQ.")
    var cqEntries: Int?

    @Option(parsing: .unconditional, help: "Simulated time in microseconds.")
    var durationUs: Int64?

    @Option(parsing: .unconditional, help: "Submission batches per second on each queue.")
    var iops: Int?

    @Option(parsing: .unconditional, help: "Per-queue submission rate, comma-separated (queue 1 first); overrides --iops for those queues.")
    var queueIops: String?

    @Option(parsing: .unconditional, help: "Commands per submission batch: uniform in 1...N, one doorbell update per batch.")
    var burst: Int?

    @Option(parsing: .unconditional, help: "Commands outstanding per queue at most.")
    var iodepth: Int?

    @Option(help: "Device service time distribution in ns: fixed:N, uniform:LO:HI or exp:MEAN.")
    var service: String?

    @Option(parsing: .unconditional, help: "Percentage of reads among the commands.")
    var readPercent: Int?

    @Option(parsing: .unconditional, help: "Interrupt coalescing: raise an interrupt after this many completions...")
    var coalesce: Int?

    @Option(parsing: .unconditional, help: "...or this many microseconds after the first unsignalled completion.")
    var coalesceTimeUs: Int64?

    @Option(help: "Driver store-buffer drain delay in ns (fixed:N|uniform:LO:HI|exp:MEAN[,tail:PCT:LO:HI]).")
    var driverDrain: String?

    @Option(help: "Controller store-buffer drain delay in ns (same syntax as --driver-drain).")
    var controllerDrain: String?

    @Option(help: "Interrupt raised → handler running, in ns (same syntax as --driver-drain).")
    var interruptLatency: String?

    @Option(parsing: .unconditional, help: "Divide Linux's 30 s I/O timeout by this, so timeout → abort → reset fits a small trace.")
    var timeoutDivisor: Int64?

    @Option(help: "Inject a fault (repeatable): skip-mmio, stale-buffers, no-cq-eventidx, out-of-range, byte-swapped, reset-ordering, overcommitted-sq.")
    var fault: [Fault] = []

    @Option(parsing: .unconditional, help: "One-shot faults strike at their first chance after this many microseconds (default: a third of the run).")
    var faultAtUs: Int64?

    @Flag(help: "Leave out unrelated events (block, irq, sched).")
    var noNoise = false

    @Option(parsing: .unconditional, help: "A driver publish within this many ns of a controller burst end counts as race exposure.")
    var raceWindowNs: Int64?

    func makeConfig() throws -> SimulationConfig {
        // Negative times the model would take as they are (they were missing values before the
        // options took the next word as their value).
        for case let (flag, value?) in [("--coalesce-time-us", coalesceTimeUs), ("--fault-at-us", faultAtUs), ("--race-window-ns", raceWindowNs)]
        where value < 0 {
            throw ValidationError("\(flag) \(value): must not be negative")
        }
        var c: SimulationConfig
        switch profile {
        case .steady: c = SimulationConfig(seed: seed)
        case .racing: c = .racing(seed: seed)
        case .cqPressure: c = .cqPressure(seed: seed)
        }
        c.driverBarrier = driverBarrier == .on
        c.controllerBarrier = controllerBarrier == .on
        c.driverNeedEvent = driverNeedEvent == .spdk ? .spdk : .linux
        c.ioeventfd = ioeventfd
        c.controllerRequestsPerSQ = controllerRequests
        c.names = names == .qemu8 ? .qemu8 : .qemu72
        c.qemuLogStyle = QemuLogStyle(rawValue: qemuLogStyle.rawValue) ?? .pidTimestamp
        if let queues { c.queues = queues }
        if let sqEntries { c.sqEntries = sqEntries }
        if let cqEntries { c.cqEntries = cqEntries }
        if let durationUs { c.durationNs = try nanoseconds(durationUs, "--duration-us") }
        if let iops { c.workload.iops = iops }
        if let queueIops {
            let rates = queueIops.split(separator: ",").map { Int($0.filter { $0 != " " }) }
            guard rates.allSatisfy({ $0 != nil }) else {
                throw ValidationError("--queue-iops takes comma-separated integers, got '\(queueIops)'")
            }
            c.workload.perQueueIOPS = rates.map { $0! }
        }
        if let burst { c.workload.burst = burst }
        if let iodepth { c.workload.iodepth = iodepth }
        if let service { c.workload.service = try distribution(service, "--service") }
        if let readPercent { c.workload.readPercent = readPercent }
        if let coalesce { c.workload.coalesceCount = coalesce }
        if let coalesceTimeUs { c.workload.coalesceTimeNs = try nanoseconds(coalesceTimeUs, "--coalesce-time-us") }
        if let driverDrain { c.timing.driverDrain = try distribution(driverDrain, "--driver-drain") }
        if let controllerDrain { c.timing.controllerDrain = try distribution(controllerDrain, "--controller-drain") }
        if let interruptLatency {
            c.timing.interruptLatency = try distribution(interruptLatency, "--interrupt-latency")
        }
        if let timeoutDivisor { c.timeoutDivisor = timeoutDivisor }
        for f in fault {
            switch f {
            case .skipMMIO: c.faults.driverSkipsMMIO = true
            case .staleBuffers: c.faults.staleBuffersAtReset = true
            case .noCQEventIdx: c.faults.noCQEventIdx = true
            case .outOfRange: c.faults.valueOutOfRange = true
            case .byteSwapped: c.faults.byteSwappedEventIdx = true
            case .resetOrdering: c.faults.restartBeforeDbbufConfig = true
            case .overcommittedSQ: c.faults.overcommittedSQ = true
            }
        }
        if let faultAtUs { c.faultAtNs = try nanoseconds(faultAtUs, "--fault-at-us") }
        c.noise = !noNoise
        if let raceWindowNs { c.raceWindowNs = raceWindowNs }
        if let why = c.validationError() { throw ValidationError(why) }
        return c
    }

    /// Microseconds as nanoseconds; more than an hour is refused (it overflowed here).
    private func nanoseconds(_ us: Int64, _ flag: String) throws -> Int64 {
        guard us <= SimulationConfig.longestTime / 1_000 else { throw ValidationError("\(flag) \(us): at most 1 hour (3600000000 us)") }
        return us * 1_000
    }

    private func distribution(_ text: String, _ flag: String) throws -> DelayDistribution {
        guard let d = DelayDistribution(parsing: text) else {
            throw ValidationError("\(flag): expected fixed:N, uniform:LO:HI or exp:MEAN (optionally ,tail:PCT:LO:HI), got '\(text)'")
        }
        return d
    }

    func validate() throws {
        _ = try makeConfig()
        if let qemuLog, qemuLog == output { throw ValidationError("--qemu-log must differ from --output") }
        if let truth, truth == output || truth == qemuLog {
            throw ValidationError("--truth must differ from the trace files")
        }
    }

    func run() throws {
        let config = try makeConfig()
        let result: SimulationResult
        let progress = ProgressSource.wanted ? WriteProgress() : nil
        defer { progress?.clear() }
        let wrote = progress.map { p in { (path: String, bytes: Int) in p.wrote(path, bytes) } }
        do {
            if let qemuLog {
                result = try Simulator.writeFieldTraces(config, tracePath: output, qemuLogPath: qemuLog, progress: wrote)
            } else {
                result = try Simulator.writeLabTrace(config, to: output, progress: wrote)
            }
            if let truth { try TruthFile.write(result, to: truth) }
        } catch {
            progress?.clear()
            printError("error: \(error.description)")
            throw ExitCode(2)
        }
        progress?.clear()
        let open = result.windows.filter { $0.endNs == nil }.count
        print("wrote \(result.traceBytes) bytes (\(result.traceLines) events) to \(output)"
            + (qemuLog.map { ", \(result.qemuLogBytes) bytes to \($0)" } ?? ""))
        print("\(result.windows.count) mutual-wait window(s), \(open) unresolved; "
            + "\(result.resetTimesNs.count) controller reset(s); race exposure \(result.totalRaceExposure)")
        if explain { print(Explainer.explain(result), terminator: "") }
    }
}

