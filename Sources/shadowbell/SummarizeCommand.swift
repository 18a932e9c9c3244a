import ArgumentParser
import ShadowBellReport

enum SummaryFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, html
}

struct Summarize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise the reports of many runs: how many hung, where, for how long, why.",
        discussion: """
            Reads the output of `analyze --format json` (one run or a batch) or `--format jsonl` \
            (one run per line), from any number of files, and counts the runs that hung (a \
            mutual-wait, unattributed-stall or controller-idle-with-work finding), on which queues, for how long, with \
            which cause and known bug; in total and grouped by each --by key: a label given to \
            analyze (--label key=value), or kernel, qemu, qemu-events (as analyze detected them). \
            Without --by: every label key, then kernel, qemu and qemu-events.

            Exit status: 0 summarised; 2 a file could not be read or holds no report; 64 usage error.

            Examples:
              shadowbell summarize nightly/*.jsonl
              shadowbell summarize merged.jsonl --by kernel --by qemu --format html \\
                  -o fleet.html
              cat runs-*.jsonl | shadowbell summarize - --format json
            """
    )

    @Argument(help: ArgumentHelp("Reports of analyze --format json or jsonl ('-' = standard input).", valueName: "results"))
    var results: [String]

    @Option(help: ArgumentHelp("Group runs by this label or kernel, qemu, qemu-events (repeatable).", valueName: "key"))
    var by: [String] = []

    @Option(help: "Output format: text, json, html (a page with a plot, no network needed).")
    var format: SummaryFormat = .text

    @Flag(help: "No notes on standard error (an unknown --by key); errors still show.")
    var quiet = false

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the summary here instead of standard output.", valueName: "file"))
    var output: String?

    func validate() throws {
        if results.isEmpty { throw ValidationError("Give at least one report file, e.g. shadowbell summarize runs.jsonl") }
        if results.filter({ $0 == "-" }).count > 1 { throw ValidationError("'-' (standard input) can be given once") }
    }

    func run() throws {
        // The summary written over a results file it reads would destroy it.
        try refuseOutputs([("--output", output)], overInputs: results)
        var summary = FleetSummary()
        // A file that cannot be read or parsed (a runner that died before it wrote its report)
        // is named in the summary and on standard error, and the command exits 2: the rest of
        // the fleet is still summarised (one such file threw the night's summary away), and
        // the summary says which reports it lacks, so its counts are not taken for the fleet's.
        for path in results {
            let bytes: [UInt8]
            switch readWholeFileOrWhy(path) {
            case .success(let read): bytes = read
            case .failure(let why):
                summary.problems.append("\(path): cannot read it (\(why.text)); its runs are not in this summary")
                continue
            }
            // Nothing to parse is said as such (it was "not JSON (byte 0: unexpected end of
            // text)"): a job that died before it wrote its report.
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
                let what = path == "-" ? "standard input" : "the file"
                summary.problems.append("\(path): \(what) \(bytes.isEmpty ? "is empty" : "holds only blank lines"), no report (a job that died before it wrote one?); give the output of analyze --format json or jsonl")
                continue
            }
            do {
                let parsed = try ReportDocuments.parse(bytes, allowingACutLastLine: true)
                summary.add(documents: parsed.documents, source: path)
                // JSON Lines whose last line was cut (a job killed while it wrote): the runs
                // before it are summarised, and the summary says one was left out (exit 2).
                if let cut = parsed.cutLine {
                    summary.problems.append(
                        "\(path):\(cut.number): the last line is no complete report (\(cut.reason): cut short while it was written?); left out, the \(parsed.documents.count) line(s) before it summarised")
                }
            } catch {
                summary.problems.append("\(path): not JSON or JSON Lines (\(error.description)); give the output of analyze --format json or jsonl; its runs are not in this summary")
            }
        }
        for p in summary.problems { printError("error: \(p)") }
        // Nothing to count (every file a baseline, or no report): no dashboard of 0 runs.
        if summary.runs.isEmpty, !summary.problems.isEmpty { throw ExitCode(2) }
        let keys = by.isEmpty ? summary.defaultKeys : by
        for key in by where !FleetSummary.environmentKeys.contains(where: { $0.key == key })
            && !summary.runs.contains(where: { $0.labels[key] != nil })
        {
            if !quiet { printError("note: --by \(key): no run has this label (labels are given with analyze --label KEY=VALUE; the environment keys are \(FleetSummary.environmentKeys.map(\.key).joined(separator: ", ")))") }
        }
        let text: String
        switch format {
        case .text: text = FleetSummaryReport.text(summary, keys: keys)
        case .json: text = FleetSummaryReport.json(summary, keys: keys)
        case .html: text = FleetSummaryReport.html(summary, keys: keys)
        }
        try writeOutput(text, to: output)
        if !summary.problems.isEmpty { throw ExitCode(2) }
    }
}
