import ArgumentParser
import ShadowBellAnalysis
import ShadowBellCore
import ShadowBellReport

/// `shadowbell explain PATH... --finding N`.
struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tell the story of one finding, step by step, with its evidence lines.",
        discussion: """
            Analyses the inputs as `analyze` does, takes finding N (1-based, in the order \
            `analyze` prints them), and explains it in plain language: the events of its queue \
            before, during and after the window, each with the state both sides believed in; \
            why it is a finding; what the cause means; and the input lines of the evidence, \
            read back from the files. The inputs are read twice: standard input or a pipe is \
            copied to a temporary file first. Compressed inputs (gzip, zstd, xz) are read as they are.

            Exit status: 0 explained; 2 an input could not be read (also when finding N is \
            then missing); 64 usage error or no finding N.

            Examples:
              shadowbell explain SampleTraces/lab/sq-hang.txt --finding 2
              shadowbell explain guest-ftrace.txt qemu-trace.log --finding 1 --min-wait 5ms
            """)

    @OptionGroup var flags: AnalysisFlags

    // `--finding -1` is a value (refused below, with why), not an unknown option.
    @Option(parsing: .unconditional, help: ArgumentHelp("The finding to explain: its number in the report (1 = the first).", valueName: "n"))
    var finding: Int

    @Option(name: .shortAndLong, help: ArgumentHelp("Write here instead of standard output.", valueName: "file"))
    var output: String?

    func validate() throws {
        try flags.requirePaths("shadowbell explain SampleTraces/lab/sq-hang.txt --finding 1")
        if finding < 1 { throw ValidationError("--finding counts from 1 (the first finding of `shadowbell analyze`)") }
    }

    func run() throws {
        let index = finding - 1
        let analysis = try TwoPassAnalysis.run(
            flags: flags, command: "explain", limits: (12, 30, 8, 4), writing: [("--output", output)]
        ) { report in
            let count = report.result.findings.count
            guard index < count else {
                if !report.inputErrors.isEmpty {
                    // An input error (printed above), not a usage error: the finding may be in
                    // what could not be read.
                    printError("error: --finding \(finding): no such finding in what could be read (\(count) finding(s)); an input could not be read")
                    throw ExitCode(2)
                }
                let list = report.result.findings.prefix(20).enumerated().map { "  #\($0.offset + 1) \($0.element.kind.rawValue) \($0.element.queue)" }
                let hint = count == 0 ? "the inputs have no finding" : "no such finding: the inputs have \(count) finding(s):\n" + list.joined(separator: "\n")
                // Known only once the inputs were read: said here, without the usage of the
                // whole tool that a validation error thrown from `run` prints after it.
                printError("error: --finding \(finding): \(hint)")
                throw ExitCode(64)
            }
            return [index]
        } quoting: { report in
            report.result.findings.indices.contains(index) ? report.result.findings[index].evidence.map(\.location) : []
        }
        let text = ExplainReport.render(
            analysis.report, number: finding, timeline: analysis.timelines.first, inputLines: analysis.inputLines,
            paths: analysis.paths)
        try writeOutput(text, to: output)
        if !analysis.report.inputErrors.isEmpty { throw ExitCode(2) }
    }
}
