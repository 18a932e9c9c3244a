import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Exit statuses of report and explain (Docs/CLI.md): 2 when an input could not be read, 64
/// for a usage error.
@Suite struct ExitStatusTests {
    /// A report that standard output cannot take (a full disk: `/dev/full`) is an error, exit
    /// 2, said on standard error: it exited 0 with the report lost, as a healthy run.
    @Test func aReportStandardOutputCannotTakeIsAnError() throws {
        let trace = packageRoot.appendingPathComponent("SampleTraces/lab/sim-healthy-racing.txt").path
        for format in ["text", "json"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: executablePath)
            p.arguments = ["analyze", trace, "--format", format]
            p.standardOutput = FileHandle(forWritingAtPath: "/dev/full")
            let err = Pipe()
            p.standardError = err
            try p.run()
            let said = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 2 && said.contains("cannot write standard output"), "\(format): \(p.terminationStatus) \(said)")
        }
        // Written in full, the same report exits 0.
        #expect(try runProcess(["analyze", trace]).status == 0)
    }

    /// An input that is no trace is an input error, said as such, even though it leaves no
    /// finding to explain.
    @Test func explainingAFindingOfAnInputThatIsNoTraceIsAnInputError() throws {
        let r = try runProcess(["explain", "/dev/zero", "--finding", "1"])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("/dev/zero: not a supported trace format"))
        #expect(!r.stderr.contains("Usage:"))
        let text = temporaryPath("not-a-trace.txt")
        try "hello\nworld\n".write(toFile: text, atomically: true, encoding: .utf8)
        let t = try runProcess(["explain", text, "--finding", "1"])
        #expect(t.status == 2 && t.stderr.contains(text), "\(t.stderr)")
        // A readable trace without finding N stays a usage error.
        #expect(try runProcess(["explain", sample("lab/sq-hang.txt"), "--finding", "9"]).status == 64)
        // `--finding -1` is a number refused with why, not an unknown option "-1".
        let negative = try runProcess(["explain", sample("lab/sq-hang.txt"), "--finding", "-1"])
        #expect(negative.status == 64 && negative.stderr.contains("--finding counts from 1"), "\(negative.stderr)")
    }

    /// Several runs where one is drawn is a usage error; a folder without any trace is an
    /// input error.
    /// A simulated hang that opened 0.96 ms before its trace ended (32 commands stuck) was
    /// dropped as a short wait: exit 0, "no error finding", nothing undecided. It is a warning
    /// now, and the run's verdict says it cannot tell.
    @Test func aHangOpenJustBeforeTheTraceEndsIsNoVerdictOfHealth() throws {
        try inTemporaryFolder("cut-short") { dir in
            let trace = "\(dir)/s8.txt"
            #expect(runCommand(["simulate", "--seed", "8", "--driver-barrier", "off", "--output", trace]) == 0)
            let r = try analyzeJSON([trace])
            #expect(r.status == 0)
            let findings = r.json["findings"] as? [[String: Any]] ?? []
            let cut = findings.filter { $0["cut_short_by_end_of_trace"] as? Bool == true }
            #expect(cut.count == 1 && cut.first?["severity"] as? String == "warning" && cut.first?["kind"] as? String == "mutual-wait")
            let story = cut.first?["explanation"] as? String ?? ""
            #expect(story.contains("whether this was the start of a hang or a wait that would soon have ended, the trace cannot tell") && !story.contains("the hang was still going on"), "\(story)")
            let undecided = (r.json["summary"] as? [String: Any])?["undecided"] as? [String] ?? []
            #expect(undecided.contains { $0.contains("a mutual wait open where the input ends") }, "\(undecided)")
        }
    }

    @Test func reportAndExplainOfSeveralRunsAreUsageErrors() throws {
        let html = temporaryPath("two-runs.html")
        try? FileManager.default.removeItem(atPath: html)
        let twoRuns = [packageRoot.appendingPathComponent("SampleTraces/lab").path, packageRoot.appendingPathComponent("SampleTraces/real-single").path]
        let r = try runProcess(["report"] + twoRuns + ["-o", html])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("report draws one run"))
        // It names the runs, and how to give one run's files kept in several folders.
        #expect(r.stderr.contains("hold 2 (\(twoRuns[0]), \(twoRuns[1]): the files of one folder are one run)"), "\(r.stderr)")
        #expect(r.stderr.contains("give one run's folder (`report \(twoRuns[0])`)"), "\(r.stderr)")
        #expect(r.stderr.contains("(`report \(twoRuns[0])/* \(twoRuns[1])/*`, only if those folders are one run's)"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: html))
        let e = try runProcess(["explain"] + twoRuns + ["--finding", "1"])
        #expect(e.status == 64 && e.stderr.contains("explain draws one run"), "\(e.stderr)")

        let empty = temporaryPath("no-trace-folder")
        try? FileManager.default.removeItem(atPath: empty)
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        try "notes\n".write(toFile: empty + "/README.md", atomically: true, encoding: .utf8)
        let n = try runProcess(["report", empty, "-o", html])
        #expect(n.status == 2 && n.stderr.contains("no trace file found"), "\(n.stderr)")
    }
}
