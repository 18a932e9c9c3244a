import ArgumentParser
import FoundationEssentials
#if canImport(Glibc)
    import Glibc
#endif
import ShadowBellAnalysis
import ShadowBellCore
import ShadowBellFormats
import ShadowBellReport

enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, jsonl, junit
}

extension FailPolicy: ExpressibleByArgument {}

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Analyse traces and report mutual waits and doorbell errors.",
        discussion: """
            Files named on the command line are one run: the guest trace, QEMU log and console \
            log of one VM, put on one clock. Files may be compressed (gzip, zstd, xz: recognised \
            by content); standard input and pipes that must be read twice are copied to a \
            temporary file. Directories (scanned recursively) and --files-from \
            lists make a batch: the files of one directory form one run (a file named directly is \
            its own run; --group-by directory|file chooses), runs are analysed in parallel \
            (--jobs, default: one per core) and reported in a stable order, one result per run \
            and a summary. Files in a directory that are not traces are skipped and listed.

            Exit status: 0 no failing finding; 1 at least one failing finding (--fail-on: error \
            findings by default, or warnings too, or also a run left without a verdict of health, \
            or never); 2 an input could not be read, is of \
            no supported format, or holds no recognised event; 64 usage error. With several runs \
            it is the worst over runs. A malformed line does not change the exit status; it is \
            reported with its location.

            Examples:
              shadowbell analyze SampleTraces/lab/sq-hang.txt
              shadowbell analyze guest.txt qemu.log --format json -o report.json
              shadowbell analyze trace.txt --min-wait 5ms --format junit --output junit.xml
              shadowbell analyze runs/ --format junit -o junit.xml --github-annotations
              shadowbell analyze runs/ --format jsonl -o results.jsonl --junit junit.xml
              find runs -type f | shadowbell analyze --files-from - --format jsonl
              shadowbell analyze runs/ --group-by file --fail-on warning
              shadowbell analyze guest-ftrace.txt.zst qemu-trace.log.gz console.log
              zstd -dc big-trace.txt.zst | shadowbell analyze -
              shadowbell analyze runs/vm-7 --write-baseline known.json
              shadowbell analyze runs/vm-7 --baseline known.json --label kernel=6.1 \\
                  --format jsonl
            """
    )

    @OptionGroup var flags: AnalysisFlags

    @Option(help: "Report format: text, json (one object; with several runs, one per run under 'runs'), jsonl (one compact object per run and line), junit (one testsuite per run).")
    var format: ReportFormat = .text

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the report here instead of standard output.", valueName: "file"))
    var output: String?

    @Option(
        name: .customLong("files-from"),
        help: ArgumentHelp("Read more trace paths (or directories) from FILE, one per line ('-' = standard input).", valueName: "file"))
    var filesFrom: String?

    @Option(name: .customLong("group-by"), help: ArgumentHelp("How a batch groups files into runs: directory or file.", valueName: "directory|file"))
    var groupBy: GroupBy?

    @Option(parsing: .unconditional, help: ArgumentHelp("Runs analysed at the same time (default: the number of cores).", valueName: "n"))
    var jobs: Int?

    @Option(name: .customLong("fail-on"), help: ArgumentHelp("The least severe finding that makes the exit status 1; undecided: error findings, and a run the inputs leave without a verdict of health.", valueName: "error|warning|undecided|never"))
    var failOn: FailPolicy = .error

    @Option(name: .customLong("label"), help: ArgumentHelp("Store a label in the report (repeatable), e.g. --label kernel=6.1 --label host=ci-7; summarize groups runs by them.", valueName: "key=value"))
    var labels: [String] = []

    @Option(help: ArgumentHelp("Fail only on findings that this earlier report or baseline does not hold (matched by kind, queue, cause and known bug, not by time; an uncertain finding, or a cause unknown on either side, by kind and queue: Docs/Fleet.md).", valueName: "file"))
    var baseline: String?

    @Option(name: .customLong("write-baseline"), help: ArgumentHelp("Also write the findings' kinds, queues and causes here, as a baseline for --baseline.", valueName: "file"))
    var writeBaseline: String?

    @Option(help: ArgumentHelp("Also write the JUnit report here (one analysis for both, e.g. --format jsonl -o results.jsonl --junit junit.xml).", valueName: "file"))
    var junit: String?

    @Flag(name: .customLong("github-annotations"), help: "Also write GitHub Actions annotations (::error / ::warning) for the findings to standard error.")
    var githubAnnotations = false

    func validate() throws {
        if flags.paths.isEmpty && filesFrom == nil {
            throw ValidationError("Give at least one trace file or directory, '-' for standard input, or --files-from LIST; e.g. shadowbell analyze SampleTraces/lab/sq-hang.txt")
        }
        if filesFrom == "-" && flags.paths.contains("-") {
            throw ValidationError("--files-from - and a '-' input both want standard input; save one of them to a file")
        }
        for label in labels where RunLabel.parse(label) == nil {
            throw ValidationError("--label \(label): give key=value with a key of letters, digits, '_', '-' or '.' (e.g. --label kernel=6.1)")
        }
        if let junit {
            if sameDestination(output ?? "-", junit) {
                throw ValidationError("--junit \(junit) and the report (--output \(output ?? "-")) would be written to the same place; give --junit a file of its own")
            }
        }
        if let writeBaseline {
            for case let (flag, other?) in [("--output", output ?? "-"), ("--junit", junit)] where sameDestination(writeBaseline, other) {
                throw ValidationError("--write-baseline \(writeBaseline) and \(flag) \(other) would be written to the same place; give each a file of its own")
            }
        }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1 (got \(jobs))") }
        if let first = flags.paths.first, let meant = ShadowBell.commandMeant(by: first) {
            // The words after it as they were given (options and their values; the paths alone
            // dropped the options' names and kept their values).
            let given = Array(CommandLine.arguments.dropFirst())
            let after = given.firstIndex(of: first).map { given[($0 + 1)...] } ?? flags.paths.dropFirst()
            let rest = after.map(ExplainReport.shellQuote).joined(separator: " ")
            throw ValidationError("'\(first)' is neither a file nor a command; did you mean 'shadowbell \(meant)\(rest.isEmpty ? "" : " " + rest)'?")
        }
        // A word like a command that names no file (`shadowbell diff a.log b.log`): it was read
        // as a trace path, and the batch's three runs exited 2 without a word on commands.
        if let first = flags.paths.first, flags.paths.count > 1, ShadowBell.looksLikeCommand(first) {
            throw ValidationError("'\(first)' is neither a file nor a command; the commands are \(ShadowBell.commandNames.joined(separator: ", ")) (`shadowbell help`)")
        }
    }

    func run() throws {
        let listed = try filesFrom.map(readFileList) ?? []
        let planner = RunPlanner(groupBy: groupBy)
        let (plan, unowned) = planner.planBatch(paths: flags.paths, listed: listed)
        try refuseOutputs([("--output", output), ("--write-baseline", writeBaseline), ("--junit", junit)], overInputs: plan.flatMap(\.paths), notes: plan.flatMap(\.skipped).map(\.path))
        if plan.isEmpty {
            printError("error: --files-from \(filesFrom ?? "-") listed no path; give one trace path per line")
            throw ExitCode(2)
        }
        try flags.requireClockOffsetsUsed(by: plan)
        // Every output must be writable before any is written: a --junit in a missing folder
        // left the report written beside a failed run.
        try requireWritable([("--output", output), ("--junit", junit), ("--write-baseline", writeBaseline)])
        let known = try baseline.map(readBaseline)
        let flags = self.flags, failOn = self.failOn
        let labels = RunLabel.normalized(self.labels.compactMap(RunLabel.parse))
        let workers = jobs ?? ProcessInfo.processInfo.activeProcessorCount
        var runs = parallelMap(plan.count, workers: workers) { i in
            // What the run ran on is read from the first bytes of its files beside the analysis,
            // in the background: it takes what the analysis leaves of the cores.
            let paths = plan[i].paths, notes = plan[i].skipped.map(\.path)
            var (run, environment) = inParallel(
                { analyzeRun(plan[i], flags: flags, failOn: failOn) },
                { EnvironmentScan.scan(traces: paths, notes: notes) }, otherInBackground: true)
            run.report.labels = labels
            run.report.environment = environment
            run.report.baseline = known?.match(run.report)
            return run
        }

        for run in runs {
            for e in run.report.inputErrors { printError("error: \(e.description)") }
            for s in run.report.result.inputs where s.malformed > 0 {
                let first = s.firstMalformed.first.map { ": first at \(run.report.render($0.location)): \($0.reason)" } ?? ""
                printError("warning: \(s.path): \(s.malformed) malformed \(s.locationUnit == .line ? "line" : "record")(s)\(first)")
            }
            if githubAnnotations {
                // Each input's first bytes read once, not once per finding's evidence.
                let compressed = Set(run.report.result.inputs.map(\.path).filter(isCompressedFile))
                let text = GitHubAnnotations.render(run.report, compressed: compressed.contains)
                if !text.isEmpty { writeStandardError(text) }
            }
        }
        // Files named on the command line are one run, with the single-run output, whatever
        // was skipped among them: the skipped files are listed in the JSON document's `run`
        // member (as in a batch), as notes in text and JUnit.
        let batch = runs.count > 1 || planner.makesBatch(paths: flags.paths, listed: listed)
        let skipped = !batch && !runs[0].skippedFiles.isEmpty
        if skipped, format != .json {
            // (An empty file has its own note already.)
            runs[0].report.result.notes = runs[0].skippedFiles.filter { !RunPlanner.isEmptyFile($0.path) }.map { "\($0.path): skipped: \($0.reason)" }
                + runs[0].report.result.notes
        }
        let text: String
        let notInARun = unowned.map { (path: $0.path, reason: $0.reason) }
        switch format {
        case .text: text = batch ? BatchReport.text(runs, skippedFiles: notInARun) : TextReport.render(runs[0].report)
        case .json:
            text = batch ? BatchReport.json(runs, skippedFiles: notInARun)
                : skipped ? BatchReport.runDocument(runs[0], index: 0).rendered(pretty: true) : JSONReport.render(runs[0].report)
        case .jsonl: text = BatchReport.jsonLines(runs)
        case .junit: text = batch ? JUnitReport.render(runs: runs) : JUnitReport.render(runs[0].report)
        }
        var outputs: [(path: String, text: String)] = []
        if let writeBaseline {
            // A run whose inputs could not all be read gives no known findings: what a trace cut
            // short shows (a command outstanding where it ends) would hide the same finding of
            // a later run.
            let unread = runs.filter { !$0.report.inputErrors.isEmpty }
            if !unread.isEmpty, !flags.quiet {
                let names = unread.prefix(5).map(\.name).joined(separator: ", ") + (unread.count > 5 ? ", …" : "")
                printError("note: --write-baseline: \(unread.count) run(s) left out, their inputs could not all be read: \(names)")
            }
            outputs.append((writeBaseline, Baseline.render(runs.filter { $0.report.inputErrors.isEmpty })))
        }
        outputs.append((output ?? "-", text))
        if let junit { outputs.append((junit, batch ? JUnitReport.render(runs: runs) : JUnitReport.render(runs[0].report))) }
        try writeAll(outputs)
        let status = BatchReport.exitStatus(runs)
        // The report went to a file: the CI log still says what it holds, in one line.
        if let output, output != "-", !flags.quiet {
            let failed = runs.filter { $0.report.exitStatus == 1 }.map(\.name)
            let broken = runs.filter { $0.report.exitStatus == 2 }.map(\.name)
            func names(_ list: [String]) -> String { list.prefix(5).joined(separator: ", ") + (list.count > 5 ? ", …" : "") }
            var line = "wrote \(output)\(junit.map { " and \($0)" } ?? ""): \(runs.count) run(s)"
            line += failed.isEmpty ? ", none failed" : ", \(failed.count) failed (\(names(failed)))"
            if !broken.isEmpty { line += ", \(broken.count) with input errors (\(names(broken)))" }
            let undecided = runs.filter { TextReport.isUndecided($0.report) }.map(\.name)
            if !undecided.isEmpty { line += ", \(undecided.count) passed undecided (\(names(undecided)): the inputs cannot tell, see the report)" }
            printError(line + " (exit \(status))")
        }
        if status != 0 { throw ExitCode(status) }
    }
}

/// Refuses (exit 2, naming the path and why) an output file that cannot be written: its folder
/// is missing or not writable, or it is a folder or a file that cannot be written.
func requireWritable(_ outputs: [(flag: String, path: String?)]) throws {
    for case let (flag, path?) in outputs where path != "-" {
        var info = stat()
        let why: Int32?
        if stat(path, &info) == 0 {
            why = info.st_mode & S_IFMT == S_IFDIR ? EISDIR : access(path, W_OK) == 0 ? nil : errno
        } else if errno == ENOENT {
            let folder = RunPlanner.directory(of: path)
            why = access(folder, W_OK | X_OK) == 0 ? nil : errno
        } else {
            why = errno
        }
        if let why {
            printError("error: \(flag): cannot write \(path): \(String(cString: strerror(why))); nothing was written")
            throw ExitCode(2)
        }
    }
}

/// Writes every output, files first and standard output last; when one cannot be written, the
/// files written before it (and what was made of it) are removed: a run leaves all of its
/// outputs or none.
func writeAll(_ outputs: [(path: String, text: String)]) throws {
    let ordered = outputs.filter { $0.path != "-" } + outputs.filter { $0.path == "-" }
    var written: [String] = []
    for (path, text) in ordered {
        do {
            try writeOutput(text, to: path)
        } catch {
            if path != "-" && isRegularFile(path) { unlink(path) }
            for done in written { unlink(done) }
            if !written.isEmpty { printError("note: removed \(written.joined(separator: ", ")): not every output could be written") }
            throw error
        }
        // A device or a pipe (`/dev/stdout`) cannot be taken back.
        if path != "-" && isRegularFile(path) { written.append(path) }
    }
}

/// Writes `text` as is to standard error (no prefix).
func writeStandardError(_ text: String) {
    let bytes = Array(text.utf8)
    bytes.withUnsafeBytes { buffer in
        var done = 0
        while done < buffer.count {
            let n = write(2, buffer.baseAddress! + done, buffer.count - done)
            if n <= 0 { break }
            done += n
        }
    }
}

/// Reads `--baseline FILE`; a file that is not a report or baseline is an input error (2).
func readBaseline(_ path: String) throws -> Baseline {
    let bytes: [UInt8]
    switch readWholeFileOrWhy(path, limit: 256 << 20) {
    case .success(let read): bytes = read
    case .failure(let why):
        printError("error: --baseline \(path): cannot read it (\(why.text))")
        throw ExitCode(2)
    }
    do {
        return try Baseline.read(path: path, bytes: bytes)
    } catch {
        printError("error: --baseline \(error.description)")
        throw ExitCode(2)
    }
}

/// Whether the file at `path` starts with a gzip, zstd or xz magic (read as such by content).
func isCompressedFile(_ path: String) -> Bool {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var magic = [UInt8](repeating: 0, count: Compression.magicLength)
    let n = magic.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard n > 0 else { return false }
    return magic.withUnsafeBytes { Compression(magic: UnsafeRawBufferPointer(rebasing: $0[0..<n])) } != nil
}
