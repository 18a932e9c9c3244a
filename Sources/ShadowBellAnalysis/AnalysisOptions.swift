import Synchronization
import ShadowBellCore

/// Tunables of one analysis. Defaults are what a user gets without flags.
public struct AnalysisOptions: Sendable {
    /// Mutual-wait windows shorter than this are counted, not reported (`--min-wait`, 1 ms).
    public var minWait: Int64 = 1_000_000
    /// Inferred windows (no driver probes) that end by themselves (a doorbell, a controller
    /// read) must last this long to be reported: without probes the trace only bounds the
    /// latency between a guest submission and its doorbell, which under emulation reaches
    /// milliseconds (`--inferred-min-wait`, 100 ms). Windows ended by a reset, a queue deletion,
    /// cancelled commands or the end of the trace use `minWait`.
    public var inferredMinWait: Int64 = 100_000_000
    /// A driver publication this close to the end of a controller burst on the same queue
    /// counts as race exposure (`--race-window`, 50 µs).
    public var raceWindow: Int64 = 50_000
    /// Timestamps are taken near, not at, the memory operations: a reorder cause is only named
    /// when the stamps differ by more than this (`--timing-slack`, 0).
    public var timingSlack: Int64 = 0
    /// Individual findings kept per (kind, queue) for high-volume kinds; the rest are counted
    /// in the last one's `occurrences`.
    public var findingsPerQueueLimit: Int = 20
    /// Hangs that ended kept per queue (`--max-hangs-per-queue`, 256; 0: all): mutual waits, and
    /// apart from them the guest's give-ups told as stuck commands. The rest are counted
    /// with their time in `suppressed_findings` and the queue's hang summary, and a hang still
    /// open where the input ends is always kept. Each kept finding holds its story
    /// and evidence: a 4 GB simulated run's 8,893 hangs took 101 MB at peak against 45 MB
    /// without them (about 6 KB each, the text report included).
    public var hangsPerQueueLimit: Int = 256
    /// Treat all inputs as one clock domain (e.g. several files cut from one trace).
    public var sameClock: Bool = false
    /// Nanoseconds to add to an input's times (by input index) to put them on the first
    /// input's clock, instead of estimating it (`--clock-offset FILE=SECONDS`).
    public var clockOffsets: [Int: Int64] = [:]
    /// Commands outstanding longer than this are `stuck-command` findings (`--stuck-after`, 5 s).
    public var stuckAfter: Int64 = 5_000_000_000
    /// The queues whose events the analysis observer is shown (nil: every queue). A second
    /// pass that records the pictures of a few findings watches their queues only: the others'
    /// states are not copied out for it.
    public var observedQueues: Set<QueueKey>? = nil
    /// The observer is shown at most this many events of each queue (nil: all of them); the
    /// queue's state counts every event it would have been shown (`QueueState.observable`).
    /// A picture of each queue's first events needs no more.
    public var observedEventsPerQueue: Int? = nil
    /// The QEMU version the run's notes name (a `QEMU emulator version X.Y.Z` line next to the
    /// traces), when known: a known bug that QEMU version has the fix of is not named. The
    /// traces themselves do not carry it.
    public var qemuVersion: KernelVersion?
    /// The analysis may use a second thread: several inputs of one clock are merged by time
    /// on it, a few batches ahead of the analysis, and a clock estimate matches its two kinds
    /// of causal pairs side by side (false: all on one thread, as with `--decode-threads 1`).
    public var secondThread = true
    /// Where the observer has seen all it needs (`ObservationEnd.time`): an analysis of one
    /// clock domain stops taking events once a batch goes past it, and its result is partial.
    /// For a second pass whose observer records pictures (`report`, `explain`), not for one
    /// whose result is reported.
    public var observationEnd: ObservationEnd?

    public init() {}
}

/// The time on the analysis clock after which an observer needs no event (`.max` until it
/// knows), set by the observer as the analysis runs — on the analysis's thread, or on an
/// `ObserverThread`'s (hence atomic: the analysis reads it after each batch).
public final class ObservationEnd: Sendable {
    private let stored = Atomic<Int64>(.max)

    public var time: Int64 {
        get { stored.load(ordering: .relaxed) }
        set { stored.store(newValue, ordering: .relaxed) }
    }

    public init() {}
}
