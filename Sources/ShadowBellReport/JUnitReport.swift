import ShadowBellAnalysis
import ShadowBellCore

/// JUnit XML for CI test reporters: one test suite per analysis, one test case per queue, a
/// failure per error finding (warnings and infos go to the case's system-out), and an error
/// case per input that could not be read.
public enum JUnitReport {
    public static func render(_ report: AnalysisReport) -> String {
        let r = report.result
        let suiteName = "shadowbell: " + (r.inputs.map(\.path) + report.inputErrors.map(\.path)).joined(separator: ", ")
        var cases: [String] = []
        var failures = 0
        for q in r.queues {
            let findings = r.findings.filter { $0.queue == q.key }
            var body = ""
            for f in findings where f.severity == .error {
                failures += 1
                body += "      <failure type=\"\(xml(f.kind.rawValue))\" message=\"\(xml(f.message))\">"
                body += xml(details(report, f)) + "</failure>\n"
            }
            let notes = findings.filter { $0.severity != .error }
            if !notes.isEmpty {
                body += "      <system-out>" + xml(notes.map { "[\($0.severity.rawValue)] \($0.message)" }.joined(separator: "\n")) + "</system-out>\n"
            }
            let name = "\(q.key.type.name)\(q.key.qid)"
            if body.isEmpty {
                cases.append("    <testcase classname=\"shadowbell.\(q.key.controllerName)\" name=\"\(name)\"/>\n")
            } else {
                cases.append("    <testcase classname=\"shadowbell.\(q.key.controllerName)\" name=\"\(name)\">\n\(body)    </testcase>\n")
            }
        }
        for e in report.inputErrors {
            cases.append("    <testcase classname=\"shadowbell.inputs\" name=\"\(xml(e.path))\">\n      <error type=\"input-error\" message=\"\(xml(e.description))\"/>\n    </testcase>\n")
        }
        let errors = report.inputErrors.count
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites name=\"shadowbell\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"\(errors)\">\n"
        out += "  <testsuite name=\"\(xml(suiteName))\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"\(errors)\" skipped=\"0\">\n"
        out += cases.joined()
        out += "  </testsuite>\n</testsuites>\n"
        return out
    }

    static func details(_ report: AnalysisReport, _ f: Finding) -> String {
        var s = f.explanation + "\n"
        for u in f.uncertainty { s += "uncertain: \(u)\n" }
        for e in f.evidence { s += "\(report.render(e.location)) \(report.formatTime(e.time, clockInput: f.clockInput)) \(e.summary)\n" }
        return s
    }

    static func xml(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n", "\t", "\r": out.unicodeScalars.append(u)
            case _ where u.value < 0x20: out += "?"
            default: out.unicodeScalars.append(u)
            }
        }
        return out
    }
}
