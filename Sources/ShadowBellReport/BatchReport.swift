import ShadowBellAnalysis
import ShadowBellCore

/// One trace run of a batch: the files of one VM run (guest trace, QEMU log, console log)
/// analysed together, and its report.
public struct RunReport: Sendable {
    /// What the run is called in outputs: its directory, or its file.
    public var name: String
    public var paths: [String]
    /// Files found in a scanned directory that are not traces, with the reason they were left out.
    public var skippedFiles: [(path: String, reason: String)]
    public var report: AnalysisReport

    public init(name: String, paths: [String], skippedFiles: [(path: String, reason: String)] = [], report: AnalysisReport) {
        self.name = name
        self.paths = paths
        self.skippedFiles = skippedFiles
        self.report = report
    }
}

/// Renderings of several runs: a JSON document with one entry per run, JSON Lines, a text
/// summary table, and the exit status (the worst over runs).
public enum BatchReport {
    /// The worst exit status over runs: 2 (input error) over 1 (failing finding) over 0.
    public static func exitStatus(_ runs: [RunReport]) -> Int32 {
        runs.map(\.report.exitStatus).max() ?? 0
    }

    /// The `run` member added to each per-run document.
    static func runMember(_ run: RunReport, index: Int) -> JSONValue {
        .object([
            ("index", .int(Int64(index))),
            ("name", .string(run.name)),
            ("paths", .array(run.paths.map { .string($0) })),
            ("skipped_files", .array(run.skippedFiles.map {
                .object([("path", .string($0.path)), ("reason", .string($0.reason))])
            })),
        ])
    }

    /// A run's schema_version 1 document with the `run` member added after `tool`.
    public static func runDocument(_ run: RunReport, index: Int) -> JSONValue {
        guard case .object(var members) = JSONReport.document(run.report) else { return .null }
        let at = (members.firstIndex { $0.0 == "tool" } ?? 0) + 1
        members.insert(("run", runMember(run, index: index)), at: at)
        return .object(members)
    }

    /// `--format jsonl`: one compact object per run, one per line, in run order.
    public static func jsonLines(_ runs: [RunReport]) -> String {
        runs.enumerated().map { runDocument($0.element, index: $0.offset).rendered(pretty: false) + "\n" }.joined()
    }

    /// `--format json` for several runs: `runs` holds each run's document, `summary` the totals.
    /// `skippedFiles`: files a scanned directory holds that are no trace and belong to no run
    /// (a folder of scripts beside the run folders), in `summary.skipped_files` when any.
    public static func json(_ runs: [RunReport], skippedFiles: [(path: String, reason: String)] = []) -> String {
        let reports = runs.map(\.report)
        let findings = reports.flatMap(\.result.findings)
        func count(_ s: Severity) -> Int64 { Int64(findings.filter { $0.severity == s }.count) }
        var undecided: [JSONValue] = []
        for run in runs {
            for reason in run.report.result.undecided { undecided.append(.string("\(run.name): \(reason)")) }
        }
        // (The members are built apart: as one literal the expression was at the edge of what
        // the type checker takes.)
        var summary: [(String, JSONValue)] = [
            ("runs", .int(Int64(runs.count))),
            ("runs_failed", .int(Int64(reports.filter { $0.exitStatus == 1 }.count))),
            ("runs_with_input_errors", .int(Int64(reports.filter { $0.exitStatus == 2 }.count))),
            ("runs_undecided", .int(Int64(reports.filter(TextReport.isUndecided).count))),
            // Every run's own `summary.undecided`, each reason after its run's name: the check
            // of a single run's document (`jq -e '.summary.undecided == []'`) holds for a batch too.
            ("undecided", .array(undecided)),
            ("findings", .int(Int64(findings.count))),
            ("errors", .int(count(.error))),
            ("warnings", .int(count(.warning))),
            ("infos", .int(count(.info))),
            ("exit_status", .int(Int64(exitStatus(runs)))),
        ]
        if !skippedFiles.isEmpty {
            let files: [JSONValue] = skippedFiles.map { .object([("path", .string($0.path)), ("reason", .string($0.reason))]) }
            summary.append(("skipped_files", .array(files)))
        }
        let tool: JSONValue = .object([("name", .string("shadowbell")), ("version", .string(AnalysisReport.toolVersion))])
        let documents: [JSONValue] = runs.enumerated().map { runDocument($0.element, index: $0.offset) }
        let doc: JSONValue = .object([
            ("schema_version", .int(Int64(AnalysisReport.schemaVersion))), ("tool", tool), ("batch", .bool(true)),
            ("runs", .array(documents)), ("summary", .object(summary)),
        ])
        return doc.rendered(pretty: true)
    }

    /// Text for several runs: each run's report under a header, then one line per run.
    public static func text(_ runs: [RunReport], skippedFiles: [(path: String, reason: String)] = [], width: Int = 100) -> String {
        var out = ""
        for (i, run) in runs.enumerated() {
            out += "=== run \(i + 1)/\(runs.count): \(run.name) ===\n"
            for s in run.skippedFiles { out += "  (skipped \(s.path): \(s.reason))\n" }
            out += TextReport.render(run.report, width: width) + "\n"
        }
        if !skippedFiles.isEmpty {
            out += "Skipped, in no run (\(skippedFiles.count) file(s) of a scanned folder that are no trace):\n"
            for s in skippedFiles { out += "  \(s.path): \(s.reason)\n" }
            out += "\n"
        }
        out += summaryTable(runs)
        return out
    }

    /// One line per run (status, findings by severity, name) and the overall outcome.
    public static func summaryTable(_ runs: [RunReport]) -> String {
        var out = "Batch summary: \(runs.count) run(s)\n"
        // With a baseline, the findings it did not know (as the JSON's `new_findings`).
        let baseline = runs.contains { $0.report.baseline != nil }
        out += "  status  errors  warnings  infos" + (baseline ? "  new" : "") + "  run\n"
        for run in runs {
            let f = run.report.result.findings
            let status: String
            switch run.report.exitStatus {
            case 2: status = "INPUT"
            case 1: status = "FAIL"
            default: status = TextReport.isUndecided(run.report) ? "ok?" : "ok"
            }
            func col(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
            out += "  " + status.padding(6) + col(String(f.filter { $0.severity == .error }.count), 8)
                + col(String(f.filter { $0.severity == .warning }.count), 10)
                + col(String(f.filter { $0.severity == .info }.count), 7)
                + (baseline ? col(run.report.baseline.map { b in String(b.known.filter { !$0 }.count) } ?? "-", 5) : "")
                + "  \(run.name)\n"
        }
        let failed = runs.filter { $0.report.exitStatus == 1 }.count
        let broken = runs.filter { $0.report.exitStatus == 2 }.count
        // Runs whose error findings fail nothing (`--fail-on never`): "0 failed" alone read as
        // "no hang anywhere".
        let passing = runs.filter { $0.report.exitStatus == 0 && $0.report.failOn == .never && $0.report.result.findings.contains { $0.severity == .error } }.count
        let unfailed = passing == 0 ? "" : ", \(passing) with error findings that fail no run (--fail-on never)"
        let undecided = runs.filter { TextReport.isUndecided($0.report) }.count
        let unsure = undecided == 0 ? "" : ", \(undecided) passed undecided (ok?: the inputs cannot tell — see their notes)"
        out += "Result: \(failed) run(s) failed, \(broken) with input errors\(unfailed)\(unsure) (exit \(exitStatus(runs)))\n"
        return out
    }
}

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}

/// GitHub Actions workflow commands (`::error file=…,line=…,title=…::message`), one per error
/// or warning finding, located at the finding's first line-located evidence in a file GitHub
/// can show (`compressed` says which are not: a `.zst` QEMU log is annotated without a line).
public enum GitHubAnnotations {
    public static func render(_ report: AnalysisReport, compressed: (String) -> Bool = { _ in false }) -> String {
        var out = ""
        for (index, f) in report.result.findings.enumerated() where f.severity != .info {
            let level = report.isKnown(index) ? "notice" : f.severity == .error ? "error" : "warning"
            var properties: [String] = []
            let lines = f.evidence.filter { $0.location.unit == .line }
            if let e = lines.first(where: { !compressed(report.path(of: $0.location.source)) }) ?? lines.first ?? f.evidence.first {
                let path = report.path(of: e.location.source)
                properties.append("file=" + property(path))
                if e.location.unit == .line, !compressed(path) { properties.append("line=\(e.location.value)") }
            }
            properties.append("title=" + property("\(f.kind.rawValue) \(f.queue)"))
            out += "::\(level) \(properties.joined(separator: ","))::\(data(f.message + "\n" + f.explanation))\n"
        }
        for e in report.inputErrors {
            out += "::error file=\(property(e.path)),title=\(property("shadowbell input error"))::\(data(e.description))\n"
        }
        // A run that passes without a verdict of health (exit 0) says so where a job's
        // annotations are read: it had none, and read as healthy there.
        if TextReport.isUndecided(report) {
            let file = report.result.inputs.first.map { "file=" + property($0.path) + "," } ?? ""
            out += "::warning \(file)title=\(property("shadowbell: no verdict of health"))::\(data(report.result.undecided.joined(separator: "\n")))\n"
        }
        return out
    }

    /// Escaping of a command's message (GitHub's `escapeData`).
    static func data(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "%": out += "%25"
            case "\r": out += "%0D"
            case "\n": out += "%0A"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// Escaping of a property value (GitHub's `escapeProperty`): also `:` and `,`.
    static func property(_ s: String) -> String {
        data(s).split(separator: ":", omittingEmptySubsequences: false).joined(separator: "%3A")
            .split(separator: ",", omittingEmptySubsequences: false).joined(separator: "%2C")
    }
}
