import ShadowBellCore

/// Which QEMU generation's trace-event names the controller side uses.
public enum QemuEventNames: String, Sendable, Hashable, CaseIterable {
    /// QEMU 7.1–7.2: `pci_nvme_shadow_doorbell_*`, `pci_nvme_eventidx_sq`; the CQ EventIdx write
    /// has no trace event (it may still happen).
    case qemu72
    /// QEMU 8.0 and later: `pci_nvme_update_*`, including `pci_nvme_update_cq_eventidx`.
    case qemu8
}

/// The three line shapes of QEMU's log backend.
public enum QemuLogStyle: String, Sendable, Hashable, CaseIterable {
    /// `4711@1764115200.000123:event args` (QEMU < 6.0, or 6.0–10.0 with `-msg timestamp=on`).
    case pidTimestamp = "pid"
    /// `2025-11-26T00:00:00.000123Z event args` (QEMU ≥ 10.1 with timestamps, UTC).
    case iso
    /// `event args` (QEMU 6.0–10.x without timestamps: order only).
    case plain
}

/// Faults injected beyond the two barriers. Each is off by default.
public struct FaultSet: Sendable, Hashable {
    /// The driver skips the MMIO doorbell once although `need_event` said it had to ring
    /// (first SQ doorbell update after `SimulationConfig.faultAtNs` that needs one).
    public var driverSkipsMMIO = false
    /// Controller reset does not clear the shadow doorbell and EventIdx buffers
    /// (Linux before the 2020 memset, SPDK #1795).
    public var staleBuffersAtReset = false
    /// The controller never writes CQ EventIdx (QEMU 7.1.x–7.2.0).
    public var noCQEventIdx = false
    /// The controller writes one SQ EventIdx value ≥ the queue's entry count
    /// (first SQ EventIdx write after `faultAtNs`; impossible for 65536-entry queues).
    public var valueOutOfRange = false
    /// The controller writes one SQ EventIdx in big-endian byte order (the doorbell-buffer
    /// endianness bugs; first non-zero SQ EventIdx write after `faultAtNs`).
    public var byteSwappedEventIdx = false
    /// Linux's reset ordering before 06c59d427017 (≤ 6.7, 6.6 before 6.6.59): after a
    /// timeout-driven reset the driver restarts the I/O queues before it re-sends Doorbell Buffer
    /// Config. Requeued I/O rings MMIO while the controller's doorbell buffer is off, and the
    /// config (as QEMU's does) copies each queue's tail into its shadow slot and leaves EventIdx
    /// at the driver's zero: `need_event(0, N+1, N)` is false and the queue stalls again.
    public var restartBeforeDbbufConfig = false
    /// QEMU ≤ 9.1's over-committed queues (gitlab #2388): an SQ whose requests are all in use
    /// stops being processed, and posting a completion that frees one does not reschedule it;
    /// only an MMIO doorbell on the SQ, or a CQ doorbell on a full CQ, does. The controller sits
    /// on work it has seen. Needs `SimulationConfig.controllerRequestsPerSQ` below the iodepth.
    public var overcommittedSQ = false

    public init(
        driverSkipsMMIO: Bool = false, staleBuffersAtReset: Bool = false,
        noCQEventIdx: Bool = false, valueOutOfRange: Bool = false
    ) {
        self.driverSkipsMMIO = driverSkipsMMIO
        self.staleBuffersAtReset = staleBuffersAtReset
        self.noCQEventIdx = noCQEventIdx
        self.valueOutOfRange = valueOutOfRange
    }

    public var isEmpty: Bool {
        !driverSkipsMMIO && !staleBuffersAtReset && !noCQEventIdx && !valueOutOfRange && !byteSwappedEventIdx
            && !restartBeforeDbbufConfig && !overcommittedSQ
    }
}

/// Whose `need_event` the driver evaluates (protocol.md §2).
public enum DriverNeedEvent: String, Sendable, Hashable, CaseIterable {
    /// Linux (and virtio): ring when EventIdx lies in `[old, new - 1]`.
    case linux
    /// SPDK's NVMe driver: ring when EventIdx lies in `[old, new]` (one extra MMIO write at most).
    case spdk
}

/// Time costs of each side's steps, in nanoseconds.
public struct SimulationTiming: Sendable, Hashable {
    /// Driver: building and copying one command into the SQ (`nvme_setup_cmd` → next command).
    public var driverCommandCost = DelayDistribution.uniform(120, 400)
    /// Driver: from the shadow store (A) to the EventIdx load (B) when nothing orders them.
    public var driverStoreToLoad = DelayDistribution.uniform(4, 40)
    /// Driver: handling one CQE in the interrupt handler.
    public var driverCompletionCost = DelayDistribution.uniform(150, 400)
    /// Driver: `writel` to the doorbell until QEMU's vCPU thread has taken the MMIO exit.
    public var mmioExit = DelayDistribution.uniform(1_200, 3_500)
    /// Driver: the vCPU resumes after the MMIO exit was handled.
    public var mmioReturn = DelayDistribution.uniform(300, 900)
    /// Driver store buffer: time until a store becomes visible to the controller.
    public var driverDrain = DelayDistribution.uniform(10, 150).withTail(percent: 4, 200, 3_000)
    /// Controller: from an MMIO doorbell (or a completion) to its bottom half running.
    public var controllerDispatch = DelayDistribution.uniform(1_500, 8_000)
    /// Controller: fetching and starting one command.
    public var controllerFetch = DelayDistribution.uniform(150, 500)
    /// Controller: from the EventIdx store (C) to the shadow re-read (D) when nothing orders them.
    public var controllerStoreToLoad = DelayDistribution.uniform(4, 40)
    /// Controller: posting one CQE.
    public var controllerPost = DelayDistribution.uniform(100, 300)
    /// Controller store buffer: time until an EventIdx store becomes visible to the driver.
    public var controllerDrain = DelayDistribution.uniform(10, 150).withTail(percent: 4, 200, 3_000)
    /// Interrupt raised → handler running on the guest CPU.
    public var interruptLatency = DelayDistribution.uniform(2_000, 6_000)

    public init() {}
}

/// What the guest asks of each queue.
public struct Workload: Sendable, Hashable {
    /// Mean submissions (batches) per second on each queue; `perQueueIOPS` overrides per queue.
    public var iops: Int = 150_000
    public var perQueueIOPS: [Int] = []
    /// Commands per submission batch: uniform in 1...burst (one doorbell update per batch).
    public var burst: Int = 4
    /// Commands outstanding per queue at most (also capped at SQ entries − 1).
    public var iodepth: Int = 32
    /// Device service time per command.
    public var service = DelayDistribution.uniform(15_000, 60_000)
    /// Share of reads among commands (the rest are writes).
    public var readPercent: Int = 70
    /// Interrupt coalescing: raise an interrupt after this many CQEs...
    public var coalesceCount: Int = 1
    /// ...or this long after the first CQE not yet signalled.
    public var coalesceTimeNs: Int64 = 20_000

    public init() {}

    public func iops(forQueue qid: Int) -> Int {
        qid - 1 < perQueueIOPS.count ? perQueueIOPS[qid - 1] : iops
    }
}

/// Everything that determines a run. The same configuration gives the same trace, byte for byte.
public struct SimulationConfig: Sendable, Hashable {
    public var seed: UInt64 = 1
    /// Linux's `mb()` between the shadow store and the EventIdx load (the 2018 fix).
    public var driverBarrier = true
    /// The controller orders its EventIdx store before its shadow re-read (QEMU does).
    public var controllerBarrier = true
    /// The driver's doorbell decision: Linux's `need_event` or SPDK's.
    public var driverNeedEvent = DriverNeedEvent.linux
    /// QEMU's `ioeventfd=on`: the I/O queues' MMIO doorbells leave no trace event (the admin
    /// queue's still do). A real QEMU binds the eventfds at Doorbell Buffer Config, so doorbells
    /// rung while the doorbell buffer is off are traced; the simulator drops all of them, the
    /// harder case for the analyzer.
    public var ioeventfd = false
    /// Requests the controller holds per SQ (fetched, completion not yet posted); QEMU has one
    /// per SQ entry. nil: the SQ's entries.
    public var controllerRequestsPerSQ: Int? = nil
    /// I/O queue pairs on controller `nvme0` (qid 1...queues).
    public var queues: Int = 2
    /// Entries per SQ (2...65536).
    public var sqEntries: Int = 64
    /// Entries per CQ (2...65536); smaller than the outstanding commands puts pressure on the CQ.
    public var cqEntries: Int = 64
    /// Simulated time covered by the trace.
    public var durationNs: Int64 = 10_000_000
    public var workload = Workload()
    public var timing = SimulationTiming()
    /// Linux's 30 s I/O timeout is divided by this, so timeout → abort → reset fits small traces.
    public var timeoutDivisor: Int64 = 10_000
    public var faults = FaultSet()
    /// One-shot faults strike at their first opportunity after this time (from the trace start);
    /// `nil` means a third of the duration.
    public var faultAtNs: Int64? = nil
    public var names: QemuEventNames = .qemu8
    /// Unrelated events (block, irq, sched) mixed into the guest trace.
    public var noise = true
    /// A driver publish within this interval of a controller burst end counts as race exposure.
    public var raceWindowNs: Int64 = 1_000
    /// Trace time of the simulation's start (seconds of guest uptime, as ftrace shows them).
    public var startNs: Int64 = 152_000_000_000
    /// Field mode: the QEMU log's clock is `guest + offset + guest_elapsed * drift / 10^6`.
    public var qemuClockOffsetNs: Int64 = 1_764_115_200_000_000_000 - 152_000_000_000
    public var qemuClockDriftPPM: Int64 = 35
    /// Field mode: the QEMU log's line prefix (inputs.md §2).
    public var qemuLogStyle: QemuLogStyle = .pidTimestamp

    public init(seed: UInt64 = 1) { self.seed = seed }

    public static let linuxIOTimeoutNs: Int64 = 30_000_000_000

    public var ioTimeoutNs: Int64 { max(10_000, Self.linuxIOTimeoutNs / max(1, timeoutDivisor)) }
    public var effectiveFaultAtNs: Int64 { faultAtNs ?? durationNs / 3 }
    public var effectiveIODepth: Int { max(1, min(workload.iodepth, sqEntries - 1, 4095)) }
    public var effectiveRequestsPerSQ: Int { controllerRequestsPerSQ ?? sqEntries }

    /// Heavy racing: submissions arrive about as fast as the controller fetches them, so the
    /// driver publishes again and again just as a burst ends.
    public static func racing(seed: UInt64) -> SimulationConfig {
        var c = SimulationConfig(seed: seed)
        c.queues = 2
        c.workload.iops = 150_000
        c.workload.burst = 3
        c.workload.iodepth = 48
        c.workload.service = .uniform(2_000, 12_000)
        c.timing.controllerDispatch = .uniform(300, 2_000)
        return c
    }

    /// Completion-queue pressure: a CQ much smaller than the commands in flight, and an
    /// interrupt handler that is slow to come.
    public static func cqPressure(seed: UInt64) -> SimulationConfig {
        var c = racing(seed: seed)
        c.queues = 1
        c.cqEntries = 4
        c.workload.iodepth = 24
        c.workload.service = .uniform(500, 4_000)
        c.timing.interruptLatency = .uniform(500, 3_000)
        return c
    }

    /// A description of the configuration problem, or nil when the configuration is usable.
    /// The longest simulated time or delay a configuration takes (ns): one hour.
    public static let longestTime: Int64 = 3_600 * 1_000_000_000

    public func validationError() -> String? {
        if queues < 1 || queues > 64 { return "queues must be 1...64 (got \(queues))" }
        if !(2...65536).contains(sqEntries) { return "sq-entries must be 2...65536 (got \(sqEntries))" }
        if !(2...65536).contains(cqEntries) { return "cq-entries must be 2...65536 (got \(cqEntries))" }
        if durationNs <= 0 { return "duration must be positive" }
        // Times are 64-bit nanoseconds, and a delay is added to the time it starts at: each
        // bounded so that no sum can leave them (they trapped).
        if durationNs > Self.longestTime { return "duration must be at most 1 hour (3600000000 us)" }
        if faultAtNs.map({ $0 > Self.longestTime }) ?? false { return "fault-at must be at most 1 hour (3600000000 us)" }
        if workload.coalesceTimeNs > Self.longestTime { return "coalesce time must be at most 1 hour (3600000000 us)" }
        if raceWindowNs > Self.longestTime { return "race window must be at most 1 hour (3600000000000 ns)" }
        for (name, d) in [("service", workload.service), ("driver-drain", timing.driverDrain), ("controller-drain", timing.controllerDrain),
            ("interrupt-latency", timing.interruptLatency)] where d.longest > Self.longestTime {
            return "\(name) delays must be at most 1 hour (3600000000000 ns)"
        }
        if workload.burst < 1 { return "burst must be at least 1" }
        if workload.iodepth < 1 { return "iodepth must be at least 1" }
        if workload.iops < 1 || workload.perQueueIOPS.contains(where: { $0 < 1 }) {
            return "iops must be at least 1"
        }
        if workload.coalesceCount < 1 { return "coalesce count must be at least 1" }
        if !(0...100).contains(workload.readPercent) { return "read percentage must be 0...100" }
        if timeoutDivisor < 1 { return "timeout divisor must be at least 1" }
        if let r = controllerRequestsPerSQ, r < 1 || r > 65536 { return "controller requests per SQ must be 1...65536 (got \(r))" }
        return nil
    }
}
