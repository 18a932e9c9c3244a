import ShadowBellCore

public enum Severity: String, Sendable, Comparable, CaseIterable {
    case info, warning, error

    private var rank: Int {
        switch self {
        case .info: return 0
        case .warning: return 1
        case .error: return 2
        }
    }

    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}

/// A value attached to a finding or a statistic; rendered as JSON scalars.
public enum FieldValue: Sendable, Hashable {
    case int(Int64)
    case string(String)
    case bool(Bool)
    case null
    case array([FieldValue])

    public static func uint(_ v: UInt32?) -> FieldValue { v.map { .int(Int64($0)) } ?? .null }
}

/// One input event that proves part of a finding.
public struct Evidence: Sendable, Hashable {
    /// What this event shows, e.g. `controller-idle-read`, `driver-publish`, `window-close`.
    public var role: String
    public var location: SourceLocation
    public var time: Int64
    /// A short description of the event (`controller read shadow sq2 = 173`).
    public var summary: String

    public init(role: String, location: SourceLocation, time: Int64, summary: String) {
        self.role = role
        self.location = location
        self.time = time
        self.summary = summary
    }
}

/// A finding is plain data: kind, severity, queue, interval, the values that prove it, a cause
/// where one can be told, and the evidence.
public struct Finding: Sendable, Hashable {
    public var kind: FindingKind
    public var queue: QueueKey
    /// Interval on the analysis clock (nanoseconds; ordinals for order-only inputs).
    public var start: Int64
    public var end: Int64?
    /// How the interval closed (`mmio-doorbell`, `end-of-trace`, …); nil for point findings.
    public var resolution: Resolution?
    public var cause: Cause?
    /// Condition 1 was inferred: from guest submissions (no driver probes), or from the guest
    /// giving up (`inferred_from: host-side`, no guest trace).
    public var inferred: Bool = false
    /// Reasons the finding cannot be stated as fact (data loss in the window, …).
    public var uncertainty: [String] = []
    /// The input whose clock `start`/`end` are on.
    public var clockInput: UInt16 = 0
    /// Named values, in a fixed order.
    public var values: [(String, FieldValue)] = []
    public var evidence: [Evidence] = []
    /// The known bug whose signature the evidence matches, when nothing excludes it.
    public var knownBug: KnownBug?
    /// The id (1-based report number) of the earlier window whose reset caused this one.
    public var recursAfter: Int?
    /// One line.
    public var message: String
    /// A plain-language paragraph: what each side did.
    public var explanation: String

    /// Set where the inputs cannot back the kind's severity (a stuck command in one CPU's part
    /// of a guest trace may have completed on another CPU: a warning).
    public var lowered: Severity?

    /// The controller's side was asleep before the window opened by cause and effect, not only
    /// by the clocks: a completion the controller posted after going to sleep reached the
    /// driver before the event that opened the window. A poor clock alignment there does not
    /// make the order at its start uncertain.
    public var startOrderedByCause = false

    public var severity: Severity { lowered ?? kind.severity }

    public init(kind: FindingKind, queue: QueueKey, start: Int64, message: String, explanation: String) {
        self.kind = kind
        self.queue = queue
        self.start = start
        self.message = message
        self.explanation = explanation
    }

    public static func == (lhs: Finding, rhs: Finding) -> Bool {
        lhs.kind == rhs.kind && lhs.queue == rhs.queue && lhs.start == rhs.start && lhs.end == rhs.end
            && lhs.resolution == rhs.resolution && lhs.cause == rhs.cause && lhs.inferred == rhs.inferred
            && lhs.uncertainty == rhs.uncertainty && lhs.clockInput == rhs.clockInput
            && lhs.values.map(\.0) == rhs.values.map(\.0) && lhs.values.map(\.1) == rhs.values.map(\.1)
            && lhs.evidence == rhs.evidence && lhs.message == rhs.message
            && lhs.knownBug == rhs.knownBug && lhs.recursAfter == rhs.recursAfter && lhs.lowered == rhs.lowered
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
        hasher.combine(queue)
        hasher.combine(start)
        hasher.combine(end)
    }

    public func value(_ name: String) -> FieldValue? { values.first { $0.0 == name }?.1 }

    /// A stuck command the guest gave up on: its driver timed out, sent ABORTs and reset the
    /// controller (from the guest trace's admin commands, or the console's timeout messages).
    /// The VM's disk hung whatever the inputs tell of why: it counts as a hang.
    public var isGuestGiveUp: Bool {
        guard kind == .stuckCommand, case .string(let from)? = value("inferred_from") else { return false }
        return Self.giveUpSources.contains(from)
    }

    /// The `inferred_from` of a stuck command the guest gave up on.
    public static let giveUpSources: Set<String> = ["driver-aborts", "guest-timeouts"]

    /// The kind names a JSON report's hang findings carry besides guest give-ups.
    public static let hangKindNames: Set<String> = ["mutual-wait", "unattributed-stall", "controller-idle-with-work"]

    /// A hang: both sides waited on each other (`mutual-wait`), the controller side stalled
    /// (`unattributed-stall`, `controller-idle-with-work`), or the guest gave up on I/O.
    public var isHang: Bool { Self.hangKindNames.contains(kind.rawValue) || isGuestGiveUp }
}

/// The catalog of finding kinds. Each detector file documents its kind; this enum is the index.
public enum FindingKind: String, Sendable, Hashable, CaseIterable {
    case mutualWait = "mutual-wait"
    case missedDoorbell = "missed-doorbell"
    case needlessDoorbell = "needless-doorbell"
    case valueOutOfRange = "value-out-of-range"
    case eventIdxRegression = "eventidx-regression"
    case cqEventIdxNotSeen = "cq-eventidx-not-seen"
    case stuckCommand = "stuck-command"
    case staleShadowAfterReset = "stale-shadow-after-reset"
    case unattributedStall = "unattributed-stall"
    case controllerIdleWithWork = "controller-idle-with-work"

    public var severity: Severity {
        switch self {
        case .mutualWait, .missedDoorbell, .valueOutOfRange, .stuckCommand, .staleShadowAfterReset, .controllerIdleWithWork:
            return .error
        case .eventIdxRegression, .unattributedStall: return .warning
        case .needlessDoorbell, .cqEventIdxNotSeen: return .info
        }
    }

    /// The definition, as documented in Docs/Findings.md.
    public var definition: String {
        switch self {
        case .mutualWait: return MutualWaitDetector.definition + " " + HostSideStallDetector.mutualWaitInference
        case .missedDoorbell: return DoorbellDecisionDetector.missedDefinition
        case .needlessDoorbell: return DoorbellDecisionDetector.needlessDefinition
        case .valueOutOfRange: return ValueRangeDetector.definition
        case .eventIdxRegression: return EventIdxRegressionDetector.definition
        case .cqEventIdxNotSeen: return CQEventIdxVisibilityDetector.definition
        case .stuckCommand: return StuckCommandDetector.definition
        case .staleShadowAfterReset: return StaleShadowDetector.definition
        case .unattributedStall: return HostSideStallDetector.definition
        case .controllerIdleWithWork: return IdleWithWorkDetector.definition
        }
    }
}
