import ShadowBellCore

/// Real bugs of the shadow-doorbell family (protocol.md §5, Docs/KnownBugs.md). Raw values are
/// the JSON `known_bug.id` strings; `entry` is the one table of their facts.
public enum KnownBug: String, Sendable, Hashable, CaseIterable {
    case linuxMissingBarrier = "linux-dbbuf-missing-mb"
    case spdkMissingBarrier = "spdk-dbbuf-missing-mb"
    case linuxResetOrdering = "linux-dbbuf-reset-ordering"
    case qemuCQEventIdxNeverWritten = "qemu-cq-eventidx-never-written"
    case staleShadowAfterReset = "dbbuf-stale-after-reset"
    case dbbufEndianness = "dbbuf-endianness"
    case qemuOvercommittedQueue = "qemu-overcommitted-sq"

    public struct Entry: Sendable {
        public var title: String
        public var component: String
        public var affected: String
        public var fixed: String
        /// The fixing commit(s); empty when the catalog does not know them.
        public var fixCommits: [String]
        public var remedy: String
        public var references: [String]
    }

    public var entry: Entry {
        switch self {
        case .linuxMissingBarrier:
            return Entry(
                title: "no full barrier between the shadow doorbell store and the EventIdx load",
                component: "Linux nvme-pci (nvme_dbbuf_update_and_check_event)",
                affected: "Linux with shadow doorbells before the 2018 fix", fixed: "v4.19 era",
                fixCommits: [],
                remedy: "Update the guest kernel; the fix adds mb() between the shadow store and the EventIdx load.",
                references: ["Linux patch \"nvme-pci: add a memory barrier to nvme_dbbuf_update_and_check_event\" (2018)"])
        case .spdkMissingBarrier:
            return Entry(
                title: "no full barrier between the shadow doorbell store and the EventIdx load (SPDK driver)",
                component: "SPDK NVMe driver", affected: "SPDK before v19.10", fixed: "v19.10",
                fixCommits: ["7188bb994f"],
                remedy: "Update SPDK to v19.10 or later.",
                references: ["SPDK commit 7188bb994f (cites the Linux patch)"])
        case .linuxResetOrdering:
            return Entry(
                title: "I/O queues restarted before Doorbell Buffer Config is re-sent after a reset",
                component: "Linux nvme-pci reset path, with QEMU hw/nvme (EventIdx not initialised at config)",
                affected: "Linux ≤ 6.7 (including 6.1.y) and 6.6 before 6.6.59, with QEMU hw/nvme 7.2 … master",
                fixed: "Linux v6.8, 6.6.59 (not 6.1.y; not QEMU)",
                fixCommits: ["06c59d427017"],
                remedy: "Run a guest kernel with commit 06c59d427017 (\"nvme-pci: set doorbell config before unquiescing\"): 6.8 or later, or 6.6.59 or later; or avoid timeout-driven resets with I/O in flight.",
                references: ["Linux commit 06c59d427017 \"nvme-pci: set doorbell config before unquiescing\""])
        case .qemuCQEventIdxNeverWritten:
            return Entry(
                title: "CQ EventIdx never written: the driver's CQ-head need_event works on a stale 0",
                component: "QEMU hw/nvme", affected: "QEMU 7.1.x – 7.2.0", fixed: "QEMU 7.2.1 / 8.0",
                fixCommits: ["fa5db2aa16"],
                remedy: "Update QEMU to 7.2.1 or 8.0 or later.",
                references: ["QEMU commit fa5db2aa16"])
        case .staleShadowAfterReset:
            return Entry(
                title: "shadow doorbell buffers not cleared at a controller reset or qid reuse",
                component: "Linux nvme-pci; SPDK NVMe driver",
                affected: "Linux before the 2020 fix; SPDK before v21.04",
                fixed: "Linux 2020 (memset at reset); SPDK v21.04",
                fixCommits: ["38736d993d"],
                remedy: "Clear the shadow and EventIdx slots when a queue is (re)created: update the guest kernel or SPDK.",
                references: ["SPDK issue #1795", "SPDK commit 38736d993d", "Linux 2020 fix clearing the buffers at reset"])
        case .dbbufEndianness:
            return Entry(
                title: "doorbell buffer values not converted to/from little-endian",
                component: "Linux nvme-pci; QEMU hw/nvme",
                affected: "big-endian guests or hosts: Linux before 2022, QEMU before 7.2.1/8.0 (8.1 for the rest)",
                fixed: "Linux 2022; QEMU 8.0 / 7.2.1, 8.1",
                fixCommits: ["b5f96cb719d8", "2fda0726e5", "ea3c76f149"],
                remedy: "Update the guest kernel and QEMU.",
                references: ["Linux commit b5f96cb719d8", "QEMU commits 2fda0726e5, ea3c76f149"])
        case .qemuOvercommittedQueue:
            return Entry(
                title: "over-committed queues: SQ processing never rescheduled when requests free up",
                component: "QEMU hw/nvme", affected: "QEMU ≤ 9.1", fixed: "QEMU 9.2",
                fixCommits: ["9529aa6bb4"],
                remedy: "Update QEMU to 9.2 or later.",
                references: ["QEMU gitlab issue #2388", "QEMU commit 9529aa6bb4"])
        }
    }

    /// Whether a guest kernel of `version` has the fix (nil: the catalog cannot tell).
    public func fixed(inKernel version: KernelVersion) -> Bool? {
        switch self {
        case .linuxResetOrdering:
            if version >= KernelVersion(6, 8, 0) { return true }
            if version.major == 6 && version.minor == 6 { return version.patch >= 59 }
            return false
        case .linuxMissingBarrier:
            return version >= KernelVersion(4, 19, 0)
        case .spdkMissingBarrier, .qemuCQEventIdxNeverWritten, .staleShadowAfterReset, .dbbufEndianness,
            .qemuOvercommittedQueue:
            return nil
        }
    }

    /// Whether a QEMU of `version` has the fix (nil: the catalog cannot tell).
    public func fixed(inQemu version: KernelVersion) -> Bool? {
        switch self {
        case .qemuOvercommittedQueue:
            return version >= KernelVersion(9, 2, 0)
        case .qemuCQEventIdxNeverWritten:
            return version >= KernelVersion(7, 2, 1)
        case .linuxMissingBarrier, .spdkMissingBarrier, .linuxResetOrdering, .staleShadowAfterReset, .dbbufEndianness:
            return nil
        }
    }

    /// Whether the guest kernel or the QEMU version the inputs name has the fix.
    func excluded(by kernel: KernelVersion?, qemu: KernelVersion? = nil) -> Bool {
        if let kernel, fixed(inKernel: kernel) == true { return true }
        if let qemu, fixed(inQemu: qemu) == true { return true }
        return false
    }
}

/// Names the known bug a finding's evidence matches, unless something excludes it.
enum KnownBugMatcher {
    /// What the inputs say about the software that ran.
    struct Context {
        /// The guest kernel of the console's `Linux version` banner.
        var kernel: KernelVersion?
        /// The QEMU version of the run's notes.
        var qemu: KernelVersion?
        /// The format of the input holding the driver's events of the finding (its
        /// `driver-publish` evidence): Linux ftrace forms are the Linux driver's; a ShadowBell
        /// pcap does not say which driver recorded it.
        var driverEventsFormat: TraceFormat?
    }

    static func match(_ f: Finding, _ c: Context) -> KnownBug? {
        let candidate: KnownBug?
        switch f.kind {
        case .mutualWait:
            switch f.cause ?? .unknown {
            case .eventIdxNotInitialised: candidate = .linuxResetOrdering
            case .driverReorder: candidate = driverBarrierBug(c)
            case .staleShadowAfterReset: candidate = .staleShadowAfterReset
            // No catalog entry is a controller-side barrier bug: QEMU fences every DMA access
            // and SPDK's vfio-user target puts spdk_mb() between its EventIdx store and the tail
            // re-read; SPDK's 2019 fix (7188bb994f) is in its driver, a driver-reorder.
            case .controllerReorder, .skippedDemandedDoorbell, .unknown: candidate = nil
            }
        case .staleShadowAfterReset: candidate = .staleShadowAfterReset
        case .cqEventIdxNotSeen: candidate = f.value("driver_read_only_zero") == .bool(true) ? .qemuCQEventIdxNeverWritten : nil
        case .valueOutOfRange: candidate = f.value("in_range_byte_swapped") == .bool(true) ? .dbbufEndianness : nil
        case .controllerIdleWithWork: candidate = .qemuOvercommittedQueue
        case .missedDoorbell, .needlessDoorbell, .eventIdxRegression, .stuckCommand, .unattributedStall: candidate = nil
        }
        guard let candidate, !candidate.excluded(by: c.kernel, qemu: c.qemu) else { return nil }
        return candidate
    }

    /// The missing driver barrier: Linux's, or SPDK's driver's (the same bug, fixed in v19.10).
    /// Linux ftrace forms carry the Linux driver's events; a pcap does not say which driver
    /// recorded it, and there SPDK's is named when the guest console shows a kernel with
    /// Linux's fix.
    static func driverBarrierBug(_ c: Context) -> KnownBug? {
        switch c.driverEventsFormat {
        case .pcap?:
            return KnownBug.linuxMissingBarrier.excluded(by: c.kernel) ? .spdkMissingBarrier : .linuxMissingBarrier
        default:
            return .linuxMissingBarrier
        }
    }

    /// What the evidence does not settle about the named bug, as a sentence (or "").
    static func caveat(_ bug: KnownBug, _ c: Context) -> String {
        switch bug {
        case .linuxMissingBarrier where c.driverEventsFormat == .pcap:
            return "The input does not say which driver recorded the driver's events: SPDK's NVMe driver before v19.10 has the same missing barrier (spdk-dbbuf-missing-mb). "
        case .spdkMissingBarrier:
            return "The input does not say which driver recorded the driver's events; the guest kernel has Linux's 2018 fix, so the candidate is SPDK's NVMe driver before v19.10, which lacked the same barrier. "
        case .qemuOvercommittedQueue where c.qemu == nil:
            return "The inputs do not name the QEMU version (a `QEMU emulator version` line in the run's notes would): QEMU 9.2 and later have the fix. "
        default:
            return ""
        }
    }
}
