import ArgumentParser
import ShadowBellAnalysis
import ShadowBellCore
import ShadowBellFormats

#if canImport(Glibc)
    import Glibc
#endif

/// Inputs and analysis knobs shared by every command that analyses traces.
struct AnalysisFlags: ParsableArguments {
    @Argument(help: "Trace files (ftrace text, QEMU log, …), or '-' for standard input. The format is detected from the content. analyze also takes directories (one run per directory); report, explain, timeline and convert take one run's folder (notes skipped).")
    var paths: [String] = []

    // Options with a number take the next word as their value, so that `--min-wait -1ms` is
    // refused as a value (it was "Missing value for '--min-wait'").
    @Option(parsing: .unconditional, help: ArgumentHelp("Mutual-wait windows shorter than this are only counted. Durations take a unit (5ms, 250us, 2s, 500ns); a bare number is seconds.", valueName: "duration"))
    var minWait: DurationValue = DurationValue(nanoseconds: 1_000_000)

    @Option(parsing: .unconditional, help: ArgumentHelp("A driver publication this close to a controller burst end counts as race exposure.", valueName: "duration"))
    var raceWindow: DurationValue = DurationValue(nanoseconds: 50_000)

    @Option(parsing: .unconditional, help: ArgumentHelp("Stamp uncertainty: a reorder cause is named only beyond this.", valueName: "duration"))
    var timingSlack: DurationValue = DurationValue(nanoseconds: 0)

    @Flag(help: "All inputs share one clock (e.g. pieces of one trace); otherwise each file is its own clock domain.")
    var sameClock = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Controller number (nvmeN) for inputs that do not name the device (QEMU logs).", valueName: "N"), transform: controllerNumber)
    var controller: UInt16 = 0

    @Option(help: ArgumentHelp(
        "Put FILE on the reference clock by adding SECONDS to its times, instead of estimating the offset; repeatable.",
        valueName: "file=seconds"))
    var clockOffset: [ClockOffsetArgument] = []

    @Option(parsing: .unconditional, help: ArgumentHelp("Commands outstanding longer than this are stuck-command findings.", valueName: "duration"))
    var stuckAfter: DurationValue = DurationValue(nanoseconds: 5_000_000_000)

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Inferred waits (no driver probes) must last this long to be reported, unless still open at the end of the trace.",
        valueName: "duration"))
    var inferredMinWait: DurationValue = DurationValue(nanoseconds: 100_000_000)

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Hangs told per queue (mutual waits; apart from them, the guest's give-ups told as stuck commands): the rest are counted with their time; one open where the trace ends is always told; 0: all.",
        valueName: "N"))
    var maxHangsPerQueue: Int = 256

    @OptionGroup var binaryInputs: BinaryInputFlags

    @Flag(help: "No progress line on standard error (shown only when it is a terminal), and no line saying what --output was written.")
    var quiet = false

    /// Threads decoding one text input, and its segment size (for tests and benchmarks).
    @Option(parsing: .unconditional, help: .hidden)
    var decodeThreads: Int?
    @Option(parsing: .unconditional, help: .hidden)
    var decodeSegmentSize: Int?

    /// The longest duration an option takes (ns).
    static let longestDuration: Int64 = 1_000_000 * 1_000_000_000

    func validate() throws {
        if paths.filter({ $0 == "-" }).count > 1 { throw ValidationError("Standard input ('-') can be given only once.") }
        for (flag, value) in [
            ("--min-wait", minWait), ("--race-window", raceWindow), ("--timing-slack", timingSlack), ("--stuck-after", stuckAfter),
            ("--inferred-min-wait", inferredMinWait),
        ] {
            if value.nanoseconds < 0 {
                throw ValidationError("\(flag) \(value.text ?? String(value.nanoseconds)): a duration must not be negative")
            }
            // Added to the inputs' times: a bound keeps every sum within 64-bit nanoseconds.
            if value.nanoseconds > Self.longestDuration {
                throw ValidationError("\(flag) \(value.text ?? String(value.nanoseconds)): at most 1000000 s (11.6 days)")
            }
        }
        if maxHangsPerQueue < 0 { throw ValidationError("--max-hangs-per-queue \(maxHangsPerQueue): give a count, or 0 to tell every hang") }
        // --same-clock takes every input's times as they are: an offset given beside it was
        // silently not applied.
        if sameClock, let first = clockOffset.first {
            throw ValidationError(
                "--same-clock and --clock-offset \(first.path) cannot be given together: --same-clock takes every input's times "
                    + "as they are, so the offset would not be applied; give --clock-offset without --same-clock, or --same-clock alone")
        }
        for o in clockOffset where !ClockOffsetArgument.names(o.path, among: paths) {
            throw ValidationError(
                "--clock-offset names \(o.path), which is not one of the inputs (give a file among them, by any path, "
                    + "a file inside a run folder given, or its file name alone when a run folder is given)")
        }
    }

    /// Every `--clock-offset` names an input of one of `runs` (a file name alone, accepted
    /// before the run folders were scanned, may name none): exit 64 otherwise, rather than
    /// an offset silently unused.
    func requireClockOffsetsUsed(by runs: [TraceRun]) throws(ExitCode) {
        for o in clockOffset where !runs.contains(where: { o.inputIndex(among: $0.paths) != nil }) {
            printError("error: --clock-offset names \(o.path), which is no input of \(runs.count == 1 ? "the run" : "any of the \(runs.count) runs"): give one of its files (by any path) or its file name")
            throw ExitCode(64)
        }
    }

    /// Commands that analyse exactly the given paths call this from their `validate()`.
    func requirePaths(_ example: String) throws {
        if paths.isEmpty {
            throw ValidationError("Give at least one trace file, or '-' for standard input, e.g. \(example)")
        }
    }

    var options: AnalysisOptions { options(for: paths) }

    /// The analysis options for a run made of `paths` (clock offsets are per input index).
    /// `notes`: the run's files that are not traces (READMEs, version lists); the QEMU version
    /// they name excludes the known bugs that version has fixed.
    func options(for paths: [String], notes: [String] = []) -> AnalysisOptions {
        var o = AnalysisOptions()
        o.qemuVersion = qemuVersion(namedIn: notes)
        o.minWait = minWait.nanoseconds
        o.raceWindow = raceWindow.nanoseconds
        o.timingSlack = timingSlack.nanoseconds
        o.sameClock = sameClock
        o.stuckAfter = stuckAfter.nanoseconds
        o.inferredMinWait = inferredMinWait.nanoseconds
        o.hangsPerQueueLimit = maxHangsPerQueue
        o.secondThread = (decodeThreads ?? SourceOptions.defaultDecodeThreads) > 1
        for offset in clockOffset {
            if let i = offset.inputIndex(among: paths) { o.clockOffsets[i] = offset.nanoseconds }
        }
        return o
    }

    /// The inputs, each reopenable for a second pass (see `inputs(for:)`). A pcap converted
    /// from several inputs stands for each of its clock domains.
    func inputs() throws(InputError) -> [AnalysisInput] { try inputs(for: paths) }

    /// The inputs of a run made of `paths`, as Formats opens them (`TraceInput.open`: each
    /// detected once, a pcap of several original inputs standing for each of its clock domains,
    /// a once-only input copied when it is read twice), each given a place for its decoded
    /// events when the run reads them twice: when several inputs are aligned (a pass for the
    /// causal pairs, a pass for the analysis), or for a command that analyses its inputs twice
    /// (`readsTwice`).
    func inputs(for paths: [String], readsTwice: Bool = false) throws(InputError) -> [AnalysisInput] {
        var sourceOptions = SourceOptions(controller: controller)
        try binaryInputs.apply(to: &sourceOptions)
        if let decodeThreads { sourceOptions.decodeThreads = max(decodeThreads, 1) }
        if let decodeSegmentSize {
            sourceOptions.segmentSize = max(decodeSegmentSize, 1)
            sourceOptions.streamSegmentSize = max(decodeSegmentSize, 1)
        }
        let progress = !quiet && ProgressSource.wanted
        let secondPass = readsTwice || (paths.count > 1 && !sameClock)
        // With --same-clock a piped input can still be another input's recording in another
        // form, which only the first pass tells: it is read there, so it is copied too (read
        // once, a piped guest trace beside the same file counted every command twice).
        let copied = secondPass || (paths.count > 1 && sameClock)
        return TraceInput.open(paths, options: sourceOptions, readsTwice: copied).map { input in
            AnalysisInput(
                path: input.path, reopenable: input.reopenable, decoded: secondPass && input.reopenable ? DecodedEvents() : nil,
                format: input.format?.traceFormat
            ) {
                () throws(InputError) -> any EventSource in
                let source = try input.open()
                return progress && input.originalSource == nil ? ProgressSource(source, path: input.path) : source
            }
        }
    }

    /// The inputs of `paths` and their analysis.
    func analyzeInputs(
        _ paths: [String], readsTwice: Bool = false, notes: [String] = [], observer: ((Event, QueueSnapshot) -> Void)? = nil,
        domainStarts: ((DomainStart) -> Void)? = nil
    ) throws(InputError) -> (inputs: [AnalysisInput], outcome: Result<AnalysisResult, AnalysisFailure>) {
        let inputs = try inputs(for: paths, readsTwice: readsTwice)
        do {
            let options = options(for: paths, notes: notes)
            return (inputs, .success(try AnalysisSession.run(inputs: inputs, options: options, observer: observer, domainStarts: domainStarts)))
        } catch {
            return (inputs, .failure(error))
        }
    }
}

/// `guest-ftrace.txt=-1795663273.11`: seconds to add to that file's times.
struct ClockOffsetArgument: ExpressibleByArgument, Sendable {
    var path: String
    var nanoseconds: Int64

    init?(argument: String) {
        guard let eq = argument.lastIndex(of: "=") else { return nil }
        path = String(argument[..<eq])
        var number = argument[argument.index(after: eq)...]
        let negative = number.hasPrefix("-")
        if negative || number.hasPrefix("+") { number = number.dropFirst() }
        guard !path.isEmpty, let ns = parseScaledDecimal(number, scale: 1_000_000_000) else { return nil }
        nanoseconds = negative ? -ns : ns
    }

    /// The input of a run that FILE names: the same text, else the same file by another path
    /// (`./q.log`, an absolute path, a file of a run folder), else — when FILE is no file
    /// here — the one input whose file name it is (`qemu-trace.log.zst` with `runs/vm3` given).
    func inputIndex(among paths: [String]) -> Int? {
        if let i = paths.firstIndex(of: path) { return i }
        if isRegularFile(path) {
            return input(among: paths, sameAs: path).flatMap { paths.firstIndex(of: $0) }
        }
        let name = Self.fileName(path)
        let named = paths.indices.filter { Self.fileName(paths[$0]) == name }
        return named.count == 1 ? named[0] : nil
    }

    /// Whether FILE can name an input of the command line's `paths` (checked before run
    /// folders are scanned: a file inside one of them, or a bare name with one given).
    static func names(_ file: String, among paths: [String]) -> Bool {
        let probe = ClockOffsetArgument(path: file)
        if probe.inputIndex(among: paths) != nil { return true }
        let folders = paths.filter { $0 != "-" && RunPlanner.isDirectoryPath($0) }
        if isRegularFile(file) {
            return folders.contains { input(among: RunPlanner.filesUnder($0), sameAs: file) != nil }
        }
        return !folders.isEmpty && !file.contains("/")
    }

    private init(path: String) {
        self.path = path
        nanoseconds = 0
    }


    static func fileName(_ path: String) -> Substring {
        path.split(separator: "/", omittingEmptySubsequences: true).last ?? Substring(path)
    }
}

/// `1ms`, `250us`, `250µs`, `2s`, `500ns`, or a bare number of seconds (`0.5`).
/// A negative one (`-1ms`) is read, so that the command can say what is wrong with it.
struct DurationValue: ExpressibleByArgument, Sendable {
    var nanoseconds: Int64
    /// The argument as given, when it was given.
    var text: String?

    init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    init?(argument: String) {
        let negative = argument.hasPrefix("-")
        guard let ns = parseDuration(negative ? String(argument.dropFirst()) : argument) else { return nil }
        nanoseconds = negative ? -ns : ns
        text = argument
    }

    var defaultValueDescription: String { formatDuration(nanoseconds).replacingOccurrences(" ", "") }
}

/// `--controller N`: the N of nvmeN, 0 to 65535; anything else says so (the parser's own
/// message named the value but not why it was refused).
func controllerNumber(_ text: String) throws -> UInt16 {
    guard let n = UInt16(text) else {
        throw ValidationError("a controller number is a whole number from 0 to 65535 (0 for nvme0)")
    }
    return n
}

/// Parses a decimal number with an optional unit into nanoseconds, without floating point:
/// `ns`, `us`/`µs`, `ms`, `s` (also no unit), `m`/`min`, `h` (`--stuck-after 2m` was refused).
func parseDuration(_ text: String) -> Int64? {
    let units: [(String, Int64)] = [
        ("ns", 1), ("us", 1_000), ("µs", 1_000), ("ms", 1_000_000), ("min", 60_000_000_000), ("m", 60_000_000_000),
        ("h", 3_600_000_000_000), ("s", 1_000_000_000),
    ]
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
            let (sum, overflow) = value.partialValue.addingReportingOverflow(Int64(digit.wholeNumberValue!) * unit)
            guard !overflow else { return nil }
            value.partialValue = sum
        }
    }
    return value.partialValue
}

extension String {
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

/// Writes `text` to `path`, or to standard output when `path` is nil or `-`. An output that
/// cannot be written is an error of its own (exit 2, as `convert`'s), not a usage error with
/// the usage after it: the command line was right.
func writeOutput(_ text: String, to path: String?) throws {
    guard let path, path != "-" else {
        print(text, terminator: "")
        return
    }
    func failed() -> ExitCode {
        printError("error: cannot write \(path): \(String(cString: strerror(errno)))")
        return ExitCode(2)
    }
    // Written beside a regular file and renamed when complete, as `convert` does: a run killed
    // while it wrote, or two jobs writing one name, leave the earlier file or a whole one, never
    // a cut report (a device, a pipe or /dev/stdout is written through).
    var (staged, final) = Convert.staging(for: path)
    var file = fopen(staged, "w")
    // A folder this user cannot create files in, holding a file it may write: in place.
    if file == nil, staged != final {
        staged = final
        file = fopen(final, "w")
    }
    guard let file else { throw failed() }
    var bytes = Array(text.utf8)
    let written = fwrite(&bytes, 1, bytes.count, file) == bytes.count
    var error = written ? nil : failed()
    // A full disk may show only when the buffered rest is written out.
    if fclose(file) != 0, error == nil { error = failed() }
    if error == nil, staged != final, !Convert.replace(final, with: staged) { error = failed() }
    if let error {
        if staged != final { unlink(staged) }
        throw error
    }
}

/// Whether `path` names a regular file (one that can be read twice); false for `-`, pipes,
/// devices and missing files.
func isRegularFile(_ path: String) -> Bool {
    guard path != "-" else { return false }
    var info = stat()
    return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
}

/// The input among `inputs` that `destination` already is (the same file by another name, a
/// link to it, a file of the run folder), if any: writing it would destroy that input.
func input(among inputs: [String], sameAs destination: String) -> String? {
    var out = stat()
    guard destination != "-", stat(destination, &out) == 0, out.st_mode & S_IFMT == S_IFREG else { return nil }
    return inputs.first { path in
        var info = stat()
        return path != "-" && stat(path, &info) == 0 && info.st_dev == out.st_dev && info.st_ino == out.st_ino
    }
}

/// Whether two outputs would be one file: the same text, the same existing file by any name, or
/// — for a file not there yet — the same name in the same folder however the folder is spelled
/// (`x.jsonl` and `./x.jsonl`, `out/x` and `out/../out/x`): the second write replaced the first.
func sameDestination(_ a: String, _ b: String) -> Bool {
    // Standard output by any of its names (`--write-baseline -` beside a report on standard
    // output wrote both there, one after the other).
    let standardOutput: Set<String> = ["-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"]
    if standardOutput.contains(a) && standardOutput.contains(b) { return true }
    if a == b { return true }
    guard a != "-", b != "-" else { return false }
    var sa = stat(), sb = stat()
    if stat(a, &sa) == 0, stat(b, &sb) == 0 { return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino }
    func resolved(_ path: String) -> String? {
        let name = path.split(separator: "/", omittingEmptySubsequences: true).last.map(String.init) ?? path
        guard name != ".", name != "..", let dir = realpath(RunPlanner.directory(of: path), nil) else { return nil }
        defer { free(dir) }
        return String(cString: dir) + "/" + name
    }
    guard let ra = resolved(a), let rb = resolved(b) else { return false }
    return ra == rb
}

/// Refuses, with exit status 64 and before anything is written, an output that is one of the
/// run's trace inputs under any name: `--output` (or `--write-baseline`) naming the trace it
/// reads would replace it with the report. The same for a file of the run's `notes` (the
/// files skipped beside its traces) that the analysis takes facts from: `report RUN -o
/// RUN/README.md` replaced the README naming the QEMU version, and the next analysis of the
/// run no longer knew it. An earlier report or other file without such a fact may be replaced.
func refuseOutputs(_ outputs: [(flag: String, path: String?)], overInputs inputs: [String], notes: [String] = []) throws {
    for case let (flag, path?) in outputs {
        if let same = input(among: inputs, sameAs: path) {
            printError("error: \(flag) \(path) is the input \(same) (the same file): writing would destroy it; write elsewhere")
            throw ExitCode(64)
        }
        if let note = input(among: notes, sameAs: path) {
            let env = EnvironmentScan.scan(traces: [], notes: [note])
            let facts = [
                env.qemuVersion.map { "QEMU \($0)" }, env.guestKernel.map { "guest Linux \($0)" },
                env.qemuBinary.map { "the QEMU binary \($0)" }, env.qemuMachine.map { "the machine \($0)" },
            ].compactMap { $0 }
            guard !facts.isEmpty else { continue }
            printError(
                "error: \(flag) \(path) is the run's notes \(note), which the analysis reads (\(facts.joined(separator: ", "))): writing would replace them; write elsewhere")
            throw ExitCode(64)
        }
    }
}

func printError(_ message: String) {
    let line = Array("shadowbell: \(message)\n".utf8)
    line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
}

/// The QEMU version a `QEMU emulator version 7.2.22 (…)` line in `notes` names, as numbers.
func qemuVersion(namedIn notes: [String]) -> KernelVersion? {
    guard !notes.isEmpty, let word = EnvironmentScan.scan(traces: [], notes: notes).qemuVersion else { return nil }
    var parts: [UInt32] = []
    for piece in word.split(separator: ".", maxSplits: 3, omittingEmptySubsequences: false).prefix(3) {
        let digits = piece.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 4, let n = UInt32(digits) else { break }
        parts.append(n)
    }
    guard parts.count >= 2 else { return nil }
    return KernelVersion(parts[0], parts[1], parts.count > 2 ? parts[2] : 0)
}
