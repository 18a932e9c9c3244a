import ShadowBellCore

/// Which side's reordering made a mutual wait possible (findings.md, "mutual-wait").
public enum WaitCause: String, Sendable, Hashable {
    /// The driver's EventIdx load overtook its own shadow store.
    case driverReorder = "driver-reorder"
    /// The controller's shadow re-read overtook its own EventIdx store.
    case controllerReorder = "controller-reorder"
    /// Neither: an injected fault did it (see `MutualWaitWindow.fault`).
    case unknown
}

/// How a mutual-wait window ended.
public enum WaitResolution: String, Sendable, Hashable {
    case mmioDoorbell = "mmio-doorbell"
    case controllerRead = "controller-read"
    case queueDeleted = "queue-deleted"
    case controllerReset = "controller-reset"
    case dbbufConfig = "dbbuf-config"
    case endOfTrace = "end-of-trace"
}

/// The injected faults, named after the finding each should produce.
public enum FaultKind: String, Sendable, Hashable, CaseIterable {
    case driverSkippedMMIO = "driver-skipped-mmio"
    case staleBuffersAtReset = "stale-buffers-at-reset"
    case noCQEventIdx = "no-cq-eventidx"
    case valueOutOfRange = "value-out-of-range"
    case byteSwappedEventIdx = "byte-swapped-eventidx"
    case restartBeforeDbbufConfig = "restart-before-dbbuf-config"
    case overcommittedSQ = "overcommitted-sq"

    /// The analyzer finding kind that reports it.
    public var expectedFinding: String {
        switch self {
        case .driverSkippedMMIO: return "missed-doorbell"
        case .staleBuffersAtReset: return "stale-shadow-after-reset"
        case .noCQEventIdx: return "cq-eventidx-not-seen"
        case .valueOutOfRange, .byteSwappedEventIdx: return "value-out-of-range"
        case .restartBeforeDbbufConfig: return "mutual-wait"
        case .overcommittedSQ: return "controller-idle-with-work"
        }
    }
}

/// The memory operations behind a window: the last shadow update of the driver and the last
/// EventIdx store and shadow read of the controller on the queue, with the true times at which
/// each store became visible to the other side.
public struct Interleaving: Sendable, Hashable {
    public var driverStoreNs: Int64 = 0
    public var driverStoreVisibleNs: Int64 = 0
    public var driverLoadNs: Int64 = 0
    public var driverOld: UInt32 = 0
    public var driverNew: UInt32 = 0
    public var driverEventIdxRead: UInt32 = 0
    public var driverRangMMIO = false
    public var controllerEventIdxStoreNs: Int64? = nil
    public var controllerEventIdxVisibleNs: Int64? = nil
    public var controllerEventIdxWritten: UInt32? = nil
    public var controllerReadNs: Int64 = 0
    public var controllerReadValue: UInt32 = 0
    /// False when the controller has not read the slot since the queue was (re-)created at
    /// `queueCreatedNs`: it waits for a first doorbell, S = 0.
    public var controllerReadSinceQueueCreation = true
    public var queueCreatedNs: Int64 = 0
}

/// One interval in which both sides waited on each other, from the model's true state.
public struct MutualWaitWindow: Sendable, Hashable {
    public var queue: QueueKey
    public var startNs: Int64
    /// nil: still going on at the end of the trace.
    public var endNs: Int64?
    public var resolution: WaitResolution
    public var cause: WaitCause
    public var fault: FaultKind?
    /// P: the value the driver had published when the window opened.
    public var driverPublished: UInt32
    /// S: the value the controller had last seen.
    public var controllerSeen: UInt32
    /// When the window ended: SQ, commands published since the controller last looked (from S
    /// at the window's start to the last P);
    /// CQ, completions the controller held and could not post.
    public var stuckCommands: Int
    public var interleaving: Interleaving
}

/// An injected fault, each time it struck.
public struct FaultOccurrence: Sendable, Hashable {
    public var kind: FaultKind
    /// nil for a fault that concerns the whole controller (stale buffers at reset).
    public var queue: QueueKey?
    public var timeNs: Int64
    /// The value involved. Stale buffers give one occurrence at the reset (no queue; `value` =
    /// shadow slots that kept a non-zero value) and one per slot whose leftover is then read
    /// (queue set; `value` = the stale value): only those reads can show as
    /// `stale-shadow-after-reset`.
    public var value: UInt32?
    public var detail: String
}

/// Per-queue counts, from the model.
public struct QueueCounts: Sendable, Hashable {
    public var queue: QueueKey
    public var driverShadowWrites = 0
    public var mmioDoorbells = 0
    public var controllerShadowReads = 0
    public var controllerEventIdxWrites = 0
    /// SQ: commands submitted; CQ: completions posted.
    public var commands = 0
    /// Driver publishes within `raceWindowNs` of the controller ending a burst on the queue.
    public var raceExposure = 0
    public var mutualWaits = 0
}

/// Everything the simulation knows to be true about the trace it wrote.
public struct SimulationResult: Sendable {
    public var config: SimulationConfig
    public var traceStartNs: Int64
    public var traceEndNs: Int64
    public var windows: [MutualWaitWindow] = []
    public var faults: [FaultOccurrence] = []
    public var queues: [QueueCounts] = []
    public var resetTimesNs: [Int64] = []
    public var commandsCompleted = 0
    public var timeouts = 0
    public var aborts = 0
    /// Bytes written to the main trace (and to the QEMU log in field mode).
    public var traceBytes = 0
    public var qemuLogBytes = 0
    public var traceLines = 0

    public var hangs: [MutualWaitWindow] { windows }
    public var totalRaceExposure: Int { queues.reduce(0) { $0 + $1.raceExposure } }
}
