import ShadowBellAnalysis
import ShadowBellCore

/// What the renderers show: the analysis, the inputs that could not be read, and the outcome.
public struct AnalysisReport: Sendable {
    public static let schemaVersion = 1
    public static let toolVersion = "0.1.0"

    public var result: AnalysisResult
    public var inputErrors: [InputError]

    public init(result: AnalysisResult, inputErrors: [InputError] = []) {
        self.result = result
        self.inputErrors = inputErrors
    }

    /// The contract's exit status: 2 an input failed, 1 an error finding, 0 otherwise.
    public var exitStatus: Int32 {
        if !inputErrors.isEmpty { return 2 }
        return result.errorCount > 0 ? 1 : 0
    }

    public func path(of source: UInt16) -> String {
        result.inputs.first { $0.index == source }?.path ?? "input\(source)"
    }

    public func render(_ location: SourceLocation) -> String { location.render(path: path(of: location.source)) }

    /// Nanoseconds as `sec.nnnnnnnnn`; ordinals as `#N` for inputs without timestamps.
    public func formatTime(_ t: Int64, clockInput: UInt16) -> String {
        if result.inputs.first(where: { $0.index == clockInput })?.clock == .orderOnly { return "#\(t)" }
        return formatSeconds(t)
    }
}

/// `5123.456789012` (always 9 fraction digits, integer arithmetic).
public func formatSeconds(_ ns: Int64) -> String {
    let negative = ns < 0
    let a = negative ? UInt64(-(ns + 1)) + 1 : UInt64(ns)
    let frac = String(a % 1_000_000_000)
    return "\(negative ? "-" : "")\(a / 1_000_000_000).\(String(repeating: "0", count: 9 - frac.count))\(frac)"
}
