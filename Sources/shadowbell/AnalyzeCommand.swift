import ArgumentParser
import ShadowBellAnalysis
import ShadowBellCore
import ShadowBellReport

enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, junit
}

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Analyse traces and report mutual waits and doorbell errors.",
        discussion: """
            Exit status: 0 no error finding; 1 at least one error finding; 2 an input could not \
            be read, is of no supported format, or holds no recognised event; 64 usage error. \
            A malformed line does not change the exit status; it is reported with its location.

            Examples:
              shadowbell analyze SampleTraces/lab/sq-hang.txt
              shadowbell analyze trace.txt --format json --output report.json
              shadowbell analyze trace.txt --min-wait 5ms --format junit --output junit.xml
              zstd -dc big-trace.txt.zst | shadowbell analyze -
            """
    )

    @OptionGroup var flags: AnalysisFlags

    @Option(help: "Report format.")
    var format: ReportFormat = .text

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the report here instead of standard output.", valueName: "file"))
    var output: String?

    func run() throws {
        let report: AnalysisReport
        do {
            let inputs: [AnalysisInput]
            do throws(InputError) {
                inputs = try flags.inputs()
            } catch {
                printError("error: \(error.description)")
                throw ExitCode(2)
            }
            report = AnalysisReport(result: try AnalysisSession.run(inputs: inputs, options: flags.options))
        } catch let error as AnalysisFailure {
            for e in error.errors { printError("error: \(e.description)") }
            report = AnalysisReport(result: error.partial, inputErrors: error.errors)
        }
        for s in report.result.inputs where s.malformed > 0 {
            let first = s.firstMalformed.first.map { ": first at \(report.render($0.location)): \($0.reason)" } ?? ""
            printError("warning: \(s.path): \(s.malformed) malformed line(s)\(first)")
        }
        let text: String
        switch format {
        case .text: text = TextReport.render(report)
        case .json: text = JSONReport.render(report)
        case .junit: text = JUnitReport.render(report)
        }
        try writeOutput(text, to: output)
        if report.exitStatus != 0 { throw ExitCode(report.exitStatus) }
    }
}
