import ShadowBellAnalysis
import ShadowBellCore

/// What the renderers show: the analysis, the inputs that could not be read, and the outcome.
public struct AnalysisReport: Sendable {
    public static let schemaVersion = 1
    public static let toolVersion = "0.1.0"

    public var result: AnalysisResult
    public var inputErrors: [InputError]
    /// Which findings make the exit status 1 (`--fail-on`); input errors always give 2.
    public var failOn: FailPolicy
    /// `--label key=value`, sorted by key (one value per key): what the run was, as its CI says.
    public var labels: [RunLabel] = []
    /// What the run ran on, as its files tell (kernel, QEMU).
    public var environment = RunEnvironment()
    /// The findings a `--baseline` already knew (they do not fail the run); nil without one.
    public var baseline: BaselineMatch?

    public init(result: AnalysisResult, inputErrors: [InputError] = [], failOn: FailPolicy = .error) {
        self.result = result
        self.inputErrors = inputErrors
        self.failOn = failOn
    }

    /// The contract's exit status: 2 an input failed, 1 a finding at or above `failOn`
    /// (by default: an error finding), 0 otherwise.
    public var exitStatus: Int32 {
        if !inputErrors.isEmpty { return 2 }
        return failingFindings > 0 || failsUndecided ? 1 : 0
    }

    /// `--fail-on undecided` and nothing failing but what the inputs leave undecided.
    public var failsUndecided: Bool {
        failOn == .undecided && !result.undecided.isEmpty
    }

    /// Findings whose severity fails the run under `failOn`.
    public var failingFindings: Int {
        guard let threshold = failOn.threshold else { return 0 }
        return result.findings.indices.filter { result.findings[$0].severity >= threshold && !isKnown($0) }.count
    }

    /// Whether finding `index` (0-based, report order) is in the baseline.
    public func isKnown(_ index: Int) -> Bool {
        guard let known = baseline?.known, index < known.count else { return false }
        return known[index]
    }

    public func path(of source: UInt16) -> String {
        result.inputs.first { $0.index == source }?.path ?? "input\(source)"
    }

    /// The input's name (`InputSummary.name`: a pcap's domain says which recording it holds).
    public func name(of source: UInt16) -> String {
        result.inputs.first { $0.index == source }?.name ?? "input\(source)"
    }

    public func render(_ location: SourceLocation) -> String { location.render(path: path(of: location.source)) }

    /// Nanoseconds as `sec.nnnnnnnnn`; ordinals as `#N` for inputs without timestamps.
    public func formatTime(_ t: Int64, clockInput: UInt16) -> String {
        if result.inputs.first(where: { $0.index == clockInput })?.clock.measuresTime == false { return "#\(t)" }
        return formatSeconds(t)
    }

    /// A distance between two times on `clockInput`'s clock: a duration, or on an input without
    /// timestamps (ordinals) a count of events, on a clock of bare counts a count of it.
    public func formatSpan(_ d: Int64, clockInput: UInt16) -> String {
        ShadowBellAnalysis.formatSpan(d, clock: result.inputs.first(where: { $0.index == clockInput })?.clock ?? .timestamps)
    }
}

/// `--fail-on`: the least severe finding that fails a run.
public enum FailPolicy: String, Sendable, CaseIterable {
    /// `undecided`: error findings, and a run the inputs leave without a verdict of health
    /// (`AnalysisResult.undecided`): CI that must not pass what it cannot judge.
    case error, warning, undecided, never

    public var threshold: Severity? {
        switch self {
        case .error, .undecided: return .error
        case .warning: return .warning
        case .never: return nil
        }
    }
}

