import Foundation
import ShadowBellReport
import ShadowBellTestSupport
import Testing

@testable import shadowbell

/// Baselines, labels, the detected environment and `summarize`, on the real runs in
/// ../shared/traces/real and on simulated runs checked against the simulator's truth.
@Suite(.serialized) struct FleetTests {
    static func object(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] ?? [:]
    }

    static func lines(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
    }

    static func findings(_ doc: [String: Any]) -> [[String: Any]] { doc["findings"] as? [[String: Any]] ?? [] }

    /// A simulated lab run: seed, barriers; returns the trace and the truth's path.
    static func simulate(_ seed: Int, driverBarrier: Bool, controllerBarrier: Bool, in dir: String) -> (trace: String, truth: String) {
        let trace = "\(dir)/sim-\(seed).txt", truth = "\(dir)/sim-\(seed).truth.json"
        let status = runCommand([
            "simulate", "--seed", String(seed), "--driver-barrier", driverBarrier ? "on" : "off",
            "--controller-barrier", controllerBarrier ? "on" : "off", "--duration-us", "1700", "--timeout-divisor", "40000",
            "--output", trace, "--truth", truth,
        ])
        #expect(status == 0, "simulate seed \(seed)")
        return (trace, truth)
    }

    static func directory(_ name: String) throws -> String {
        let dir = temporaryPath("fleet-\(name)")
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func baselineFromHangSQ2PassesItsOwnRunAndFailsOnANewFinding() throws {
        let real = try RealTraceTests.run("hang-sq2")
        let files = [real.guest, real.qemu, real.console]
        let dir = try Self.directory("baseline")
        let baseline = "\(dir)/baseline.json", first = "\(dir)/first.json", second = "\(dir)/second.json"

        #expect(runCommand(["analyze"] + files + ["--quiet", "--format", "json", "-o", first, "--write-baseline", baseline]) == 1)
        let written = try Self.object(baseline)
        #expect(written["baseline"] as? Bool == true)
        let keys = written["findings"] as? [[String: Any]] ?? []
        // Two SQ2 stalls of two causes: the first from the values, the second the reset-ordering
        // bug — two keys, each known once.
        let hangs = keys.filter { $0["kind"] as? String == "mutual-wait" }
        #expect(hangs.allSatisfy { ($0["queue"] as? [String: Any])?["qid"] as? Int == 2 })
        #expect(hangs.map { $0["count"] as? Int ?? 0 }.reduce(0, +) == 2, "both SQ2 stalls of hang-sq2")
        #expect(keys.allSatisfy { $0["start_ns"] == nil }, "a baseline holds no times")

        // The same run again: every finding is known, the run passes.
        #expect(runCommand(["analyze"] + files + ["--quiet", "--format", "json", "-o", second, "--baseline", baseline]) == 0)
        let again = try Self.object(second)
        #expect(Self.findings(again).count == Self.findings(try Self.object(first)).count)
        #expect(Self.findings(again).allSatisfy { $0["baseline"] as? String == "known" })
        #expect((again["baseline"] as? [String: Any])?["new_findings"] as? Int == 0)

        // A report of the run is a baseline too (findings matched without their times).
        #expect(runCommand(["analyze"] + files + ["--quiet", "--baseline", first]) == 0)

        // The same stall in another run of the scenario (dat-hang-sq2's first one, once of cause
        // `unknown`) is the known one, as Fleet.md says (it was new, exit 1), and the other way
        // round.
        let dat = RealTraceTests.realDirectory.appendingPathComponent("dat-hang-sq2").path
        #expect(runCommand(["analyze", dat, "--quiet", "--baseline", baseline]) == 0)
        let datBaseline = "\(dir)/dat-baseline.json"
        #expect(runCommand(["analyze", dat, "--quiet", "--format", "json", "-o", "\(dir)/dat.json", "--write-baseline", datBaseline]) == 1)
        #expect(runCommand(["analyze"] + files + ["--quiet", "--baseline", datBaseline]) == 0)
        // But a known bug named where the baseline's finding of cause unknown named none is
        // news: the lab sample's sq1 hang (linux-dbbuf-missing-mb) against a baseline holding
        // an sq1 mutual wait of cause unknown fails.
        let unknownSQ1 = "\(dir)/unknown-sq1.json"
        try "{\"baseline\": true, \"findings\": [{\"kind\": \"mutual-wait\", \"queue\": {\"controller\": \"nvme0\", \"qid\": 1, \"type\": \"sq\"}, \"cause\": \"unknown\", \"known_bug\": null, \"count\": 1}, {\"kind\": \"mutual-wait\", \"queue\": {\"controller\": \"nvme0\", \"qid\": 1, \"type\": \"cq\"}, \"cause\": \"unknown\", \"known_bug\": null, \"count\": 1}]}"
            .write(toFile: unknownSQ1, atomically: true, encoding: .utf8)
        #expect(runCommand(["analyze", packageRoot.appendingPathComponent("SampleTraces/lab/sq-hang.txt").path, "--quiet", "--baseline", unknownSQ1]) == 1)

        // One SQ2 stall fewer in the baseline (the recurrence after the reset): it is new and
        // fails the run.
        var reduced = written
        reduced["findings"] = keys.filter { k in !(k["kind"] as? String == "mutual-wait" && k["known_bug"] != nil && !(k["known_bug"] is NSNull)) }
        let reducedPath = "\(dir)/reduced.json"
        try JSONSerialization.data(withJSONObject: reduced).write(to: URL(fileURLWithPath: reducedPath))
        let third = "\(dir)/third.json"
        #expect(runCommand(["analyze"] + files + ["--quiet", "--format", "json", "-o", third, "--baseline", reducedPath]) == 1)
        let new = Self.findings(try Self.object(third)).filter { $0["baseline"] as? String == "new" }
        #expect(new.count == 1)
        #expect(new.first?["kind"] as? String == "mutual-wait")
        // The text says which findings are new and counts them (it printed two [error] lines
        // and "no error finding" beside a baseline that knew them, and said nothing else).
        let text = "\(dir)/third.txt"
        #expect(runCommand(["analyze"] + files + ["--quiet", "-o", text, "--baseline", reducedPath]) == 1)
        let lines = try String(contentsOfFile: text, encoding: .utf8).split(separator: "\n")
        #expect(lines.filter { $0.contains("[error] mutual-wait") && $0.hasSuffix("NEW (not in the baseline)") }.count == 1)
        #expect(lines.filter { $0.contains("[error] mutual-wait") && $0.hasSuffix("KNOWN (baseline)") }.count == 1)
        #expect(lines.contains { $0.hasPrefix("Result: 1 new error finding(s), not in the baseline (of all 3 finding(s): 2 known, 1 new) (exit 1)") })
        let knownText = "\(dir)/known.txt"
        #expect(runCommand(["analyze"] + files + ["--quiet", "-o", knownText, "--baseline", baseline]) == 0)
        #expect(try String(contentsOfFile: knownText, encoding: .utf8).contains("Result: 2 error finding(s), all known from the baseline: no new one (exit 0)"))

        // A simulated run whose driver lost its barrier hangs with a cause the baseline does not
        // hold: new findings, exit 1 — and its own baseline makes it pass.
        let sim = Self.simulate(2, driverBarrier: false, controllerBarrier: true, in: dir)
        let simulated = ["--min-wait", "0", "--quiet"]
        let simReport = "\(dir)/sim.json"
        #expect(runCommand(["analyze", sim.trace] + simulated + ["--format", "json", "-o", simReport, "--baseline", baseline]) == 1)
        let simNew = Self.findings(try Self.object(simReport)).filter { $0["baseline"] as? String == "new" && $0["kind"] as? String == "mutual-wait" }
        #expect(!simNew.isEmpty)
        #expect(simNew.allSatisfy { $0["cause"] as? String == "driver-reorder" })
        let simBaseline = "\(dir)/sim-baseline.json"
        #expect(runCommand(["analyze", sim.trace] + simulated + ["--write-baseline", simBaseline]) == 1)
        #expect(runCommand(["analyze", sim.trace] + simulated + ["--baseline", simBaseline]) == 0)
    }

    /// A JSON Lines file whose last line was cut (the job killed while it wrote) left no summary
    /// at all; the runs before it are summarised, the cut line is a problem (exit 2). A broken
    /// line in the middle is still no JSON Lines.
    /// A run whose inputs could not all be read gives the baseline nothing: its findings
    /// (cq-hang's here) are not known findings of later runs.
    @Test func aBaselineLeavesOutRunsWithUnreadInputs() throws {
        try inTemporaryFolder("baseline-unread") { dir in
            for (folder, trace) in [("a", "sq-hang.txt"), ("b", "cq-hang.txt")] {
                try FileManager.default.createDirectory(atPath: "\(dir)/runs/\(folder)", withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: sample("lab/\(trace)"), toPath: "\(dir)/runs/\(folder)/\(trace)")
            }
            try Data("BZh91AY&SY".utf8 + [UInt8](repeating: 7, count: 64)).write(to: URL(fileURLWithPath: "\(dir)/runs/b/qemu.log.bz2"))
            let baseline = "\(dir)/known.json"
            let r = try runProcess(["analyze", "\(dir)/runs", "--write-baseline", baseline, "--output", "\(dir)/r.txt"])
            #expect(r.status == 2 && r.stderr.contains("--write-baseline: 1 run(s) left out, their inputs could not all be read: \(dir)/runs/b"), "\(r.stderr)")
            let known = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: baseline))) as? [String: Any]
            // (sq-hang's: its mutual wait on sq1 and an info on cq1; cq-hang's is a mutual wait on cq1.)
            let waits = (known?["findings"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "mutual-wait" }
                .compactMap { ($0["queue"] as? [String: Any])?["type"] as? String }
            #expect(waits == ["sq"], "\(known ?? [:])")
        }
    }

    @Test func jsonLinesWithACutLastLineSummariseTheRest() throws {
        let dir = try Self.directory("cut-jsonl")
        let lab = ["lab/sq-hang.txt", "lab/cq-hang.txt"].map(sample)
        let whole = "\(dir)/runs.jsonl"
        _ = runCommand(["analyze"] + lab + ["--group-by", "file", "--quiet", "--format", "jsonl", "-o", whole])
        let lines = try String(contentsOfFile: whole, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        let cut = "\(dir)/cut.jsonl", middle = "\(dir)/middle.jsonl"
        try (lines[0] + "\n" + lines[1].prefix(500)).write(toFile: cut, atomically: true, encoding: .utf8)
        try (lines[0] + "\n" + lines[1].prefix(500) + "\n" + lines[0] + "\n").write(toFile: middle, atomically: true, encoding: .utf8)
        let r = try runProcess(["summarize", cut])
        #expect(r.status == 2)
        #expect(r.stdout.hasPrefix("shadowbell summary of 1 run(s)"), "\(r.stdout)")
        #expect(r.stdout.contains("warning: \(cut):2: the last line is no complete report"), "\(r.stdout)")
        let m = try runProcess(["summarize", middle])
        #expect(m.status == 2 && m.stdout.isEmpty && m.stderr.contains("not JSON or JSON Lines"), "\(m.stderr)")
    }

    @Test func aBaselineThatIsNoReportIsAnInputError() throws {
        let dir = try Self.directory("bad-baseline")
        let notes = "\(dir)/notes.json"
        try "{\"hello\": 1}".write(toFile: notes, atomically: true, encoding: .utf8)
        #expect(runCommand(["analyze", sample("lab/sq-hang.txt"), "--quiet", "--baseline", notes]) == 2)
        let text = "\(dir)/notes.txt"
        try "not json\n".write(toFile: text, atomically: true, encoding: .utf8)
        #expect(runCommand(["analyze", sample("lab/sq-hang.txt"), "--quiet", "--baseline", text]) == 2)
        #expect(runCommand(["analyze", sample("lab/sq-hang.txt"), "--label", "no key"]) == 64)
        #expect(runCommand(["analyze", sample("lab/sq-hang.txt"), "--label", "=x"]) == 64)
    }

    @Test func labelsAndEnvironmentAreStored() throws {
        let dir = try Self.directory("environment")
        // A run folder: a console banner among the traces, a QEMU version and command line in notes.
        let run = "\(dir)/vm-1"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: sample("lab/sq-hang.txt"), toPath: "\(run)/guest-ftrace.txt")
        try "QEMU emulator version 8.2.2 (Debian 1:8.2.2+ds-0ubuntu1)\n".write(toFile: "\(run)/versions.txt", atomically: true, encoding: .utf8)
        try "qemu-system-aarch64 -M virt,gic-version=3 -m 1G -trace enable=pci_nvme*\n".write(toFile: "\(run)/qemu-cmdline.txt", atomically: true, encoding: .utf8)
        let out = "\(dir)/env.jsonl"
        #expect(runCommand(["analyze", run, "--quiet", "--format", "jsonl", "-o", out, "--label", "host=ci-7", "--label", "kernel=6.1", "--label", "host=ci-8"]) == 1)
        let doc = try #require(try Self.lines(out).first)
        #expect(doc["labels"] as? [String: String] == ["host": "ci-8", "kernel": "6.1"])
        let env = doc["environment"] as? [String: Any] ?? [:]
        #expect(env["qemu_version"] as? String == "8.2.2")
        #expect(env["qemu_binary"] as? String == "qemu-system-aarch64")
        #expect(env["qemu_machine"] as? String == "virt")
        #expect(env["guest_kernel"] is NSNull)

        // The real runs: the console's banner, and the event names of QEMU 7.2 and 10.0.
        for (name, kernel, names) in [("hang-sq2", "6.1.0-56-amd64", "7.1-7.2"), ("q10-k612-healthy", "6.12.95+deb12-amd64", "8.0+")] {
            let real = try RealTraceTests.run(name)
            let (_, json, _) = try analyzeJSON([real.console, real.qemu], extra: ["--quiet", "--fail-on", "never"])
            let env = json["environment"] as? [String: Any] ?? [:]
            #expect(env["guest_kernel"] as? String == kernel, "\(name)")
            #expect(env["qemu_event_names"] as? String == names, "\(name)")
            // The run folder as kept: the QEMU log (and sysrq-hang's console) compressed. They
            // were not scanned, so every real run landed under "(none)" in `summarize`.
            let folder = RealTraceTests.realDirectory.appendingPathComponent(name).path
            let (_, kept, _) = try analyzeJSON(["\(folder)/qemu-trace.log.zst"], extra: ["--quiet", "--fail-on", "never"])
            #expect((kept["environment"] as? [String: Any])?["qemu_event_names"] as? String == names, "\(name) .zst")
        }
        let sysrq = RealTraceTests.realDirectory.appendingPathComponent("sysrq-hang/console.log.zst").path
        let (_, console, _) = try analyzeJSON([sysrq], extra: ["--quiet", "--fail-on", "never"])
        #expect((console["environment"] as? [String: Any])?["guest_kernel"] as? String == "6.1.0-56-amd64")
    }

    /// The truth of one simulated run, as summarize should count it.
    struct Truth {
        var windows: [(queue: String, unresolved: Bool, cause: String)] = []
        var hung: Bool { !windows.isEmpty }
    }

    static func truth(_ path: String) throws -> Truth {
        let doc = try object(path)
        var t = Truth()
        for w in doc["mutual_waits"] as? [[String: Any]] ?? [] {
            let q = w["queue"] as? [String: Any] ?? [:]
            let queue = "\(q["controller"] as? String ?? "?"):\(q["type"] as? String ?? "?")\(q["qid"] as? Int ?? -1)"
            t.windows.append((queue, w["end_ns"] is NSNull, w["cause"] as? String ?? "?"))
        }
        return t
    }

    @Test func summarizeCountsRealAndSimulatedRunsAsTheirTruth() throws {
        let dir = try Self.directory("summarize")
        var results: [String] = []

        // The real runs: hang-sq2 (and its trace.dat twin) stall on SQ2, sysrq-hang on SQ1.
        let realRuns = ["dat-hang-sq2", "hang-sq2", "mq2", "q10-k612-healthy", "shared1q", "single", "smallq", "sysrq-hang"]
        for name in realRuns {
            let real = try RealTraceTests.run(name)
            let out = "\(dir)/real-\(name).jsonl"
            let status = runCommand(["analyze", real.guest, real.qemu, real.console, "--quiet", "--format", "jsonl", "-o", out, "--label", "source=real", "--label", "scenario=\(name)"])
            #expect(status == (["dat-hang-sq2", "hang-sq2", "sysrq-hang"].contains(name) ? 1 : 0), "\(name)")
            results.append(out)
        }

        // 52 simulated runs in four batches, one per barrier setting, labelled by it.
        var truths: [String: [Truth]] = [:]
        var seed = 0
        for (driver, controller) in [(true, true), (false, true), (true, false), (false, false)] {
            var traces: [String] = []
            let setting = "driver-\(driver ? "on" : "off")-controller-\(controller ? "on" : "off")"
            for _ in 0..<13 {
                seed += 1
                let sim = Self.simulate(seed, driverBarrier: driver, controllerBarrier: controller, in: dir)
                traces.append(sim.trace)
                truths[setting, default: []].append(try Self.truth(sim.truth))
            }
            let out = "\(dir)/sim-\(setting).jsonl"
            _ = runCommand(["analyze"] + traces + ["--group-by", "file", "--min-wait", "0", "--quiet", "--format", "jsonl", "-o", out, "--label", "source=sim", "--label", "barriers=\(setting)"])
            #expect(try Self.lines(out).count == 13)
            results.append(out)
        }

        let summaryPath = "\(dir)/summary.json"
        #expect(runCommand(["summarize"] + results + ["--by", "source", "--by", "barriers", "--by", "scenario", "--format", "json", "-o", summaryPath]) == 0)
        let summary = try Self.object(summaryPath)
        func group(_ key: String, _ value: String) -> [String: Any]? {
            let g = (summary["groups"] as? [[String: Any]] ?? []).first { $0["key"] as? String == key }
            return (g?["values"] as? [[String: Any]] ?? []).first { $0["value"] as? String == value }
        }

        let all = truths.values.flatMap { $0 }
        let total = summary["total"] as? [String: Any] ?? [:]
        #expect(total["runs"] as? Int == realRuns.count + all.count)
        #expect(all.count >= 50)

        let realGroup = group("source", "real")
        #expect(realGroup?["runs"] as? Int == realRuns.count)
        #expect(realGroup?["runs_hung"] as? Int == 3)
        #expect(realGroup?["runs_hung_by_queue"] as? [String: Int] == ["nvme0:sq2": 2, "nvme0:sq1": 1])
        for name in ["hang-sq2", "dat-hang-sq2"] {
            #expect(group("scenario", name)?["hangs"] as? Int == 2, "both SQ2 stalls of \(name)")
        }
        #expect(group("scenario", "single")?["runs_hung"] as? Int == 0)

        // Each barrier setting, and all simulated runs, against the truth.
        func check(_ g: [String: Any]?, _ t: [Truth], _ what: String) {
            #expect(g?["runs"] as? Int == t.count, "\(what)")
            #expect(g?["runs_hung"] as? Int == t.filter(\.hung).count, "\(what)")
            #expect(g?["hangs"] as? Int == t.map(\.windows.count).reduce(0, +), "\(what)")
            #expect(g?["hangs_unresolved"] as? Int == t.flatMap(\.windows).filter(\.unresolved).count, "\(what)")
            var byQueue: [String: Int] = [:], byCause: [String: Int] = [:]
            for run in t {
                for q in Set(run.windows.map(\.queue)) { byQueue[q, default: 0] += 1 }
                for c in Set(run.windows.map(\.cause)) { byCause[c, default: 0] += 1 }
            }
            #expect(g?["runs_hung_by_queue"] as? [String: Int] == byQueue, "\(what)")
            #expect(g?["runs_hung_by_cause"] as? [String: Int] == byCause, "\(what)")
        }
        for (setting, t) in truths { check(group("barriers", setting), t, setting) }
        check(group("source", "sim"), all, "all simulated runs")

        // A results file given twice counts its run once, and says so (hang-sq2 counted twice
        // read as two hung runs with four hangs).
        let twicePath = "\(dir)/summary-twice.json"
        #expect(runCommand(["summarize"] + results + [results[1], "--format", "json", "-o", twicePath]) == 0)
        let twice = try Self.object(twicePath)
        #expect((twice["total"] as? [String: Any])?["runs"] as? Int == realRuns.count + all.count)
        #expect((twice["notes"] as? [String] ?? []).count == 1 && (twice["notes"] as? [String])?.first?.contains("counted once") == true)
        #expect(all.filter(\.hung).count > 10, "the sample must hold hangs")
        #expect(all.contains { !$0.hung }, "and healthy runs")
        #expect(truths["driver-on-controller-on"]?.allSatisfy { !$0.hung } == true)

        // Text and HTML say the same; the HTML page draws its plot inline.
        let textPath = "\(dir)/summary.txt", htmlPath = "\(dir)/summary.html"
        #expect(runCommand(["summarize"] + results + ["--by", "source", "-o", textPath]) == 0)
        let text = try String(contentsOfFile: textPath, encoding: .utf8)
        #expect(text.contains("shadowbell summary of \(realRuns.count + all.count) run(s)"))
        #expect(text.contains("hung: \(3 + all.filter(\.hung).count) "))
        #expect(runCommand(["summarize"] + results + ["--format", "html", "-o", htmlPath]) == 0)
        let html = try String(contentsOfFile: htmlPath, encoding: .utf8)
        #expect(html.contains("<svg"))
        #expect(!html.contains("http://") || html.components(separatedBy: "http://").count == html.components(separatedBy: "http://www.w3.org/2000/svg").count)
        #expect(!html.contains("https://") && !html.contains("<script"))
        #expect(html.contains("6.1.0-56-amd64") && html.contains("6.12.95+deb12-amd64"), "grouped by the detected kernels")

        // A file that holds no report is said, not counted as a healthy run.
        let junk = "\(dir)/junk.json"
        try "{\"a\": 1}".write(toFile: junk, atomically: true, encoding: .utf8)
        #expect(runCommand(["summarize", junk, results[0]]) == 2)
        // Nothing but such files: no dashboard of 0 runs (one was written, beside exit 2).
        let empty = "\(dir)/empty-summary.html"
        #expect(runCommand(["summarize", junk, "--format", "html", "-o", empty]) == 2)
        #expect(!FileManager.default.fileExists(atPath: empty))

        // A file cut short (a runner killed while it wrote), or missing, or empty: the other
        // files' runs are summarised (one such file threw the night's summary away), the
        // summary names each file it lacks, and the command exits 2.
        let cut = "\(dir)/cut.jsonl", emptyFile = "\(dir)/empty.jsonl", missing = "\(dir)/missing.jsonl"
        let whole = try String(contentsOfFile: results[0], encoding: .utf8)
        try String(whole.prefix(whole.count / 2)).write(toFile: cut, atomically: true, encoding: .utf8)
        try "".write(toFile: emptyFile, atomically: true, encoding: .utf8)
        let cutSummary = "\(dir)/cut-summary.json"
        #expect(runCommand(["summarize", cut, results[0], emptyFile, missing, "--format", "json", "-o", cutSummary]) == 2)
        let written = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cutSummary))) as? [String: Any] ?? [:]
        let problems = written["problems"] as? [String] ?? []
        #expect(problems.count == 3 && [cut, emptyFile, missing].allSatisfy { path in problems.contains { $0.hasPrefix(path + ":") } }, "\(problems)")
        let alone = try JSONSerialization.jsonObject(with: Data(runProcess(["summarize", results[0], "--format", "json"]).stdout.utf8)) as? [String: Any] ?? [:]
        #expect((written["total"] as? [String: Any])?["runs"] as? Int == (alone["total"] as? [String: Any])?["runs"] as? Int)

        // A group key no run carries is said (a typo grouped every run under "(none)").
        let typo = try runProcess(["summarize", results[0], "--by", "kernl"])
        #expect(typo.status == 0)
        #expect(typo.stderr.contains("note: --by kernl: no run has this label"))
    }

    @Test func schemaFilesCarryTheSchemaVersionAndRejectBrokenReports() throws {
        let dir = packageRoot.appendingPathComponent("Docs/schema")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".schema.json") }.sorted()
        #expect(names == ["baseline", "report", "run-record", "summary"].map { "\($0).v\(AnalysisReport.schemaVersion).schema.json" })
        for name in names {
            let schema = try Self.object(dir.appendingPathComponent(name).path)
            #expect(schema["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
            #expect((schema["$id"] as? String)?.hasSuffix(":v\(AnalysisReport.schemaVersion)") == true, "\(name)")
        }
        let report = try Self.object(dir.appendingPathComponent("report.v1.schema.json").path)
        let version = ((report["$defs"] as? [String: Any])?["schemaVersion"] as? [String: Any])?["const"] as? Int
        #expect(version == AnalysisReport.schemaVersion)

        // The validator rejects what breaks the contract (so that its silence means something).
        let (_, json, text) = try analyzeJSON([sample("lab/sq-hang.txt")], extra: ["--quiet"])
        #expect(schemaProblems(ofJSON: text).isEmpty)
        var broken = json
        var findings = Self.findings(json)
        findings[0]["severity"] = "fatal"
        broken["findings"] = findings
        let brokenText = String(decoding: try JSONSerialization.data(withJSONObject: broken), as: UTF8.self)
        #expect(!schemaProblems(ofJSON: brokenText).isEmpty)
        broken = json
        broken["schema_version"] = 2
        #expect(!schemaProblems(ofJSON: String(decoding: try JSONSerialization.data(withJSONObject: broken), as: UTF8.self)).isEmpty)
        broken = json
        broken.removeValue(forKey: "queues")
        #expect(!schemaProblems(ofJSON: String(decoding: try JSONSerialization.data(withJSONObject: broken), as: UTF8.self)).isEmpty)
        // Members added later are allowed.
        var extended = json
        extended["future_member"] = ["anything": 1]
        #expect(schemaProblems(ofJSON: String(decoding: try JSONSerialization.data(withJSONObject: extended), as: UTF8.self)).isEmpty)
        #expect(schemaValidations > 0)
    }
}
