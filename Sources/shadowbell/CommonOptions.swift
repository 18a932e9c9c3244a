import ArgumentParser
import ShadowBellAnalysis
import ShadowBellCore
import ShadowBellFormats

#if canImport(Glibc)
    import Glibc
#endif

/// Inputs and analysis knobs shared by every command that analyses traces.
struct AnalysisFlags: ParsableArguments {
    @Argument(help: "Trace files (ftrace text, QEMU log, …), or '-' for standard input. The format is detected from the content.")
    var paths: [String]

    @Option(help: ArgumentHelp("Mutual-wait windows shorter than this are only counted.", valueName: "duration"))
    var minWait: DurationValue = DurationValue(nanoseconds: 1_000_000)

    @Option(help: ArgumentHelp("A driver publication this close to a controller burst end counts as race exposure.", valueName: "duration"))
    var raceWindow: DurationValue = DurationValue(nanoseconds: 50_000)

    @Option(help: ArgumentHelp("Stamp uncertainty: a reorder cause is named only beyond this.", valueName: "duration"))
    var timingSlack: DurationValue = DurationValue(nanoseconds: 0)

    @Flag(help: "All inputs share one clock (e.g. pieces of one trace); otherwise each file is its own clock domain.")
    var sameClock = false

    @Option(help: ArgumentHelp("Controller number (nvmeN) for inputs that do not name the device (QEMU logs).", valueName: "N"))
    var controller: UInt16 = 0

    func validate() throws {
        if paths.isEmpty { throw ValidationError("Give at least one trace file, or '-' for standard input.") }
        if paths.filter({ $0 == "-" }).count > 1 { throw ValidationError("Standard input ('-') can be given only once.") }
        if minWait.nanoseconds < 0 || raceWindow.nanoseconds < 0 || timingSlack.nanoseconds < 0 {
            throw ValidationError("Durations must not be negative.")
        }
    }

    var options: AnalysisOptions {
        var o = AnalysisOptions()
        o.minWait = minWait.nanoseconds
        o.raceWindow = raceWindow.nanoseconds
        o.timingSlack = timingSlack.nanoseconds
        o.sameClock = sameClock
        return o
    }

    /// Opens every input; the ones that cannot be opened are returned as errors, not thrown.
    func openSources() -> (sources: [any EventSource], errors: [InputError]) {
        var sources: [any EventSource] = []
        var errors: [InputError] = []
        for path in paths {
            do {
                sources.append(
                    try openEventSource(
                        path: path, index: UInt16(sources.count), options: SourceOptions(controller: controller)))
            } catch {
                errors.append(error)
            }
        }
        return (sources, errors)
    }
}

/// `1ms`, `250us`, `250µs`, `2s`, `500ns`, or a bare number of seconds (`0.5`).
struct DurationValue: ExpressibleByArgument, Sendable {
    var nanoseconds: Int64

    init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    init?(argument: String) {
        guard let ns = parseDuration(argument) else { return nil }
        nanoseconds = ns
    }

    var defaultValueDescription: String { formatDuration(nanoseconds).replacingOccurrences(" ", "") }
}

/// Parses a decimal number with an optional unit into nanoseconds, without floating point.
func parseDuration(_ text: String) -> Int64? {
    let units: [(String, Int64)] = [("ns", 1), ("us", 1_000), ("µs", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000)]
    var number = Substring(text)
    var scale: Int64 = 1_000_000_000
    for (suffix, s) in units where text.hasSuffix(suffix) {
        number = text.dropLast(suffix.count)
        scale = s
        break
    }
    return parseScaledDecimal(number, scale: scale)
}

/// `12.5` with scale 1000 → 12500. Fractions finer than one unit of the result are truncated.
func parseScaledDecimal(_ text: Substring, scale: Int64) -> Int64? {
    let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
    guard let wholePart = parts.first, parts.count <= 2, !text.isEmpty else { return nil }
    guard wholePart.isEmpty || wholePart.allSatisfy(\.isASCII) && wholePart.allSatisfy(\.isNumber),
        let whole = wholePart.isEmpty ? 0 : Int64(wholePart)
    else { return nil }
    var value = whole.multipliedReportingOverflow(by: scale)
    guard !value.overflow else { return nil }
    if parts.count == 2 {
        let frac = parts[1]
        guard !frac.isEmpty || !wholePart.isEmpty, frac.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        var unit = scale
        for digit in frac {
            unit /= 10
            if unit == 0 { break }
            value.partialValue += Int64(digit.wholeNumberValue!) * unit
        }
    }
    return value.partialValue
}

extension String {
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

/// Writes `text` to `path`, or to standard output when `path` is nil or `-`.
func writeOutput(_ text: String, to path: String?) throws {
    guard let path, path != "-" else {
        print(text, terminator: "")
        return
    }
    guard let file = fopen(path, "w") else {
        throw ValidationError("cannot write \(path): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    var bytes = Array(text.utf8)
    if fwrite(&bytes, 1, bytes.count, file) != bytes.count {
        throw ValidationError("cannot write \(path): \(String(cString: strerror(errno)))")
    }
}

func printError(_ message: String) {
    let line = Array("shadowbell: \(message)\n".utf8)
    line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
}
