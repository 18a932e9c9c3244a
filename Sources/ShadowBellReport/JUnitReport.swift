#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellAnalysis
import ShadowBellCore

/// JUnit XML for CI test reporters: one test suite per analysis, one test case per queue that
/// fails with one `<failure>` telling every error finding of that queue (warnings and infos go
/// to the case's system-out), and an error case per input that could not be read. Readers take
/// a case's first `<failure>` only (Jenkins, GitLab): a second hang on a queue written as a second
/// element was lost there.
public enum JUnitReport {
    public static func render(_ report: AnalysisReport) -> String {
        let r = report.result
        let suiteName = "shadowbell: " + (r.inputs.map(\.path) + report.inputErrors.map(\.path)).joined(separator: ", ")
        return document([suite(report, name: suiteName)])
    }

    /// Several runs: one `<testsuite>` per run, named after the run; the run's name is in each
    /// case's classname too (`shadowbell.vm-a.nvme0`): readers that group cases by classname
    /// kept every run's `sq2` under one `shadowbell.nvme0`.
    public static func render(runs: [RunReport]) -> String {
        let names = classNames(runs.map(\.name))
        return document(zip(runs, names).map { suite($0.report, name: $0.name, classPrefix: "shadowbell.\(className($1))") })
    }

    /// The runs' names without the folders they all lie in (`/ci/ws-17/runs/vm-a` and
    /// `/ci/ws-17/runs/vm-b` → `vm-a`, `vm-b`): a CI runner's workspace path, or `./` against an
    /// absolute path, made every run a new test case for the reader's history.
    static func classNames(_ names: [String]) -> [String] {
        // A folder named as `./runs/a`, `runs/a` or `/ws/runs/a` is one folder: made absolute first.
        let parts = names.map { name in
            (resolvedPath(name) ?? name).split(separator: "/").filter { $0 != "." }.map(String.init)
        }
        guard var common = parts.first.map({ Array($0.dropLast()) }) else { return [] }
        for p in parts.dropFirst() {
            let folders = p.dropLast()
            var n = 0
            while n < common.count, n < folders.count, common[n] == folders[n] { n += 1 }
            common = Array(common.prefix(n))
        }
        return zip(names, parts).map { name, p in p.count > common.count ? p.dropFirst(common.count).joined(separator: "/") : name }
    }

    /// The absolute path, `.` and `..` taken away by their names (links are the user's names
    /// for runs: `artifacts/run-1 -> /builds/17/vm-a` stays `run-1`); nil when the current
    /// folder is not known.
    static func resolvedPath(_ path: String) -> String? {
        var absolute = path
        if !path.hasPrefix("/") {
            guard let cwd = getcwd(nil, 0) else { return nil }
            defer { free(cwd) }
            absolute = String(cString: cwd) + "/" + path
        }
        var parts: [Substring] = []
        for part in absolute.split(separator: "/") where part != "." {
            if part == ".." { _ = parts.popLast() } else { parts.append(part) }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// A run's name as one classname segment (a dot there would read as a package separator).
    /// An input error's case name without the folders the run lies in (its path inside the
    /// run's folder, its file name, or `run folder` for the folder itself): the path as given
    /// (a CI runner's workspace, `./`) made the case a new one in the reader's history each job.
    /// The error's message keeps the whole path.
    static func inputCaseName(_ path: String, run: String) -> String {
        let runPath = resolvedPath(run) ?? run, full = resolvedPath(path) ?? path
        if full == runPath { return "run folder" }
        if full.hasPrefix(runPath + "/") { return String(full.dropFirst(runPath.count + 1)) }
        return full.split(separator: "/").last.map(String.init) ?? path
    }

    static func className(_ name: String) -> String {
        String(name.map { $0 == "." ? "_" : $0 })
    }

    struct Suite {
        var xml: String
        var tests: Int
        var failures: Int
        var errors: Int
        var skipped: Int
    }

    static func document(_ suites: [Suite]) -> String {
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites name=\"shadowbell\" tests=\"\(suites.map(\.tests).reduce(0, +))\" "
            + "failures=\"\(suites.map(\.failures).reduce(0, +))\" errors=\"\(suites.map(\.errors).reduce(0, +))\">\n"
        out += suites.map(\.xml).joined()
        out += "</testsuites>\n"
        return out
    }

    static func suite(_ report: AnalysisReport, name suiteName: String, classPrefix: String = "shadowbell") -> Suite {
        let r = report.result
        var cases: [String] = []
        var failures = 0
        // Every queue the inputs show, and every queue a finding names: a console alone shows
        // no queue, and its hang had no case to fail (a hung run read as passed).
        var keys = r.queues.map(\.key)
        for f in r.findings where !keys.contains(f.queue) { keys.append(f.queue) }
        keys.sort()
        for key in keys {
            let indices = r.findings.indices.filter { r.findings[$0].queue == key }
            let failingIndices = indices.filter { failsCase(r.findings[$0], report.failOn) && !report.isKnown($0) }
            let failing = failingIndices.map { r.findings[$0] }
            var body = ""
            if let first = failing.first {
                failures += 1
                var kinds: [String] = []
                for f in failing where !kinds.contains(f.kind.rawValue) { kinds.append(f.kind.rawValue) }
                let message = failing.count == 1
                    ? first.message
                    : "\(failing.count) error findings: " + failing.map(\.message).joined(separator: "; ")
                let text = failing.count == 1
                    ? details(report, first)
                    : failing.enumerated().map { k, f in
                        // The report's own number (#N, as explain --finding takes it): a finding's
                        // text names others by it ("recurs after the reset that ended #2").
                        "[\(k + 1)/\(failing.count)] #\(failingIndices[k] + 1) \(f.kind.rawValue) at \(report.formatTime(f.start, clockInput: f.clockInput)): \(f.message)\n" + details(report, f)
                    }.joined(separator: "\n")
                body += "      <failure type=\"\(xml(kinds.joined(separator: ",")))\" message=\"\(xml(message))\">"
                body += xml(text) + "</failure>\n"
            }
            let notes = indices.filter { !failsCase(r.findings[$0], report.failOn) || report.isKnown($0) }
            if !notes.isEmpty {
                let lines = notes.map { "[\(r.findings[$0].severity.rawValue)\(report.isKnown($0) ? ", in baseline" : "")] \(r.findings[$0].message)" }
                body += "      <system-out>" + xml(lines.joined(separator: "\n")) + "</system-out>\n"
            }
            let name = "\(key.type.name)\(key.qid)"
            if body.isEmpty {
                cases.append("    <testcase classname=\"\(xml(classPrefix)).\(key.controllerName)\" name=\"\(name)\"/>\n")
            } else {
                cases.append("    <testcase classname=\"\(xml(classPrefix)).\(key.controllerName)\" name=\"\(name)\">\n\(body)    </testcase>\n")
            }
        }
        for e in report.inputErrors {
            cases.append("    <testcase classname=\"\(xml(classPrefix)).inputs\" name=\"\(xml(inputCaseName(e.path, run: suiteName)))\">\n      <error type=\"input-error\" message=\"\(xml(e.description))\"/>\n    </testcase>\n")
        }
        // What the inputs leave undecided: a skipped case, which readers show apart from the
        // passed ones (a console cut inside its dump passed as healthy queues); a failure with
        // --fail-on undecided.
        let skipped = r.undecided.isEmpty || report.failOn == .undecided ? 0 : 1
        if !r.undecided.isEmpty {
            let why = xml("no verdict of health: " + r.undecided.joined(separator: "; "))
            if report.failOn == .undecided {
                failures += 1
                cases.append("    <testcase classname=\"\(xml(classPrefix)).verdict\" name=\"health\">\n      <failure type=\"undecided\" message=\"\(why)\">\(why)</failure>\n    </testcase>\n")
            } else {
                cases.append("    <testcase classname=\"\(xml(classPrefix)).verdict\" name=\"health\">\n      <skipped>\(why)</skipped>\n    </testcase>\n")
            }
        }
        let errors = report.inputErrors.count
        var out = "  <testsuite name=\"\(xml(suiteName))\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"\(errors)\" skipped=\"\(skipped)\">\n"
        out += cases.joined()
        out += "  </testsuite>\n"
        return Suite(xml: out, tests: cases.count, failures: failures, errors: errors, skipped: skipped)
    }

    /// Error findings fail their test case; with `--fail-on warning` warnings do too.
    /// `--fail-on never` changes only the exit status: the report still shows errors as failures.
    static func failsCase(_ f: Finding, _ policy: FailPolicy) -> Bool {
        f.severity >= (policy.threshold ?? .error)
    }

    static func details(_ report: AnalysisReport, _ f: Finding) -> String {
        var s = f.explanation + "\n"
        for u in f.uncertainty { s += "uncertain: \(u)\n" }
        for e in f.evidence { s += "\(report.render(e.location)) \(report.formatTime(e.time, clockInput: f.clockInput)) \(e.summary)\n" }
        return s
    }

    static func xml(_ s: String) -> String {
        // Most texts hold nothing to escape: returned as they are, without a copy.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) {
            return s
        }
        var out = SVGBytes(capacity: s.utf8.count + 16)
        out.escaped(s)
        return out.string
    }
}
