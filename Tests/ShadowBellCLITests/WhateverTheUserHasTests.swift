import Foundation
import ShadowBellTestSupport
import Testing

/// The same diagnosis from whatever a post-mortem has: any order of the inputs, the run folder
/// as it is kept (notes beside the traces), the host side alone. Real runs of
/// ../shared/traces/real.
@Suite(.serialized) struct WhateverTheUserHasTests {
    static let allRuns = ["single", "mq2", "shared1q", "smallq", "q10-k612-healthy", "hang-sq2", "dat-hang-sq2", "sysrq-hang"]
    static let healthyRuns = ["single", "mq2", "shared1q", "smallq", "q10-k612-healthy"]

    /// What a finding says, without the input indices (they follow the command line).
    struct Signature: Hashable, CustomStringConvertible {
        var kind: String, severity: String, queue: String, start: Int, end: Int?, cause: String?

        init(_ f: [String: Any]) {
            kind = f["kind"] as? String ?? "?"
            severity = f["severity"] as? String ?? "?"
            let q = f["queue"] as? [String: Any] ?? [:]
            queue = "\(q["type"] as? String ?? "?")\(q["qid"] as? Int ?? -1)"
            start = f["start_ns"] as? Int ?? -1
            end = f["end_ns"] as? Int
            cause = f["cause"] as? String
        }

        var description: String { "\(severity) \(kind) \(queue) \(start)→\(end.map(String.init) ?? "nil") \(cause ?? "")" }
    }

    static func signatures(_ json: [String: Any]) -> [Signature] {
        (json["findings"] as? [[String: Any]] ?? []).map(Signature.init)
    }

    /// The same findings, times within `tolerance` ns (a guest form with nanoseconds — trace.dat
    /// — against one rounded to microseconds; an alignment estimated from other pairs).
    static func same(_ a: [Signature], _ b: [Signature], tolerance: Int = 1_000_000) -> Bool {
        a.count == b.count
            && zip(a, b).allSatisfy { x, y in
                x.kind == y.kind && x.severity == y.severity && x.queue == y.queue && x.cause == y.cause
                    && abs(x.start - y.start) <= tolerance && (x.end == nil) == (y.end == nil)
                    && abs((x.end ?? 0) - (y.end ?? 0)) <= tolerance
            }
    }

    /// The run's traces decompressed, with its notes copied beside them: the folder as a user
    /// keeps it, uncompressed.
    static func folder(_ name: String) throws -> String {
        let files = try RealTraceTests.run(name)
        let dir = URL(fileURLWithPath: files.guest).deletingLastPathComponent().path
        let source = RealTraceTests.realDirectory.appendingPathComponent(name)
        for note in try FileManager.default.contentsOfDirectory(atPath: source.path) where !note.hasSuffix(".zst") {
            let target = "\(dir)/\(note)"
            if !FileManager.default.fileExists(atPath: target) {
                try FileManager.default.copyItem(atPath: source.appendingPathComponent(note).path, toPath: target)
            }
        }
        return dir
    }

    @Test(arguments: allRuns)
    func findingsDoNotDependOnTheOrderOfTheInputs(_ name: String) throws {
        let f = try RealTraceTests.run(name)
        let orders: [[String]] =
            name == "hang-sq2"
            ? [[f.guest, f.qemu, f.console], [f.guest, f.console, f.qemu], [f.qemu, f.guest, f.console],
               [f.qemu, f.console, f.guest], [f.console, f.guest, f.qemu], [f.console, f.qemu, f.guest]]
            : [[f.guest, f.qemu, f.console], [f.console, f.qemu, f.guest]]
        let first = try analyzeJSON(orders[0])
        for order in orders.dropFirst() {
            let other = try analyzeJSON(order)
            #expect(other.status == first.status, "\(name) \(order)")
            #expect(Self.signatures(other.json) == Self.signatures(first.json), "\(name): \(order.map { ($0 as NSString).lastPathComponent })")
            let reference = (other.json["alignment"] as? [[String: Any]] ?? []).first { $0["method"] as? String == "reference" }
            #expect(reference?["path"] as? String == f.guest, "\(name): the guest trace is the reference clock")
        }
    }

    @Test(arguments: allRuns)
    func theRunFolderAsItIsGivesTheSameFindingsAsItsTraces(_ name: String) throws {
        let f = try RealTraceTests.run(name)
        let dir = try Self.folder(name)
        let explicit = try analyzeJSON([f.guest, f.qemu, f.console])
        let batch = try analyzeJSON([dir])
        let runs = batch.json["runs"] as? [[String: Any]] ?? []
        #expect(runs.count == 1)
        let run = runs.first ?? [:]
        #expect(batch.status == explicit.status, "\(name)")
        #expect(Self.same(Self.signatures(run), Self.signatures(explicit.json)), "\(name): \(Self.signatures(run)) vs \(Self.signatures(explicit.json))")
        // Notes are skipped with one note each and never read as inputs.
        let inputs = (run["inputs"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }.map { ($0 as NSString).lastPathComponent }
        for note in ["README.md", "doorbell-stats.txt", "qemu-cmdline.txt", "stall-timeline.txt", "poke.log"] {
            #expect(!inputs.contains(note), "\(name): \(note) read as a trace")
        }
        let skipped = ((run["run"] as? [String: Any])?["skipped_files"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }.map { ($0 as NSString).lastPathComponent }
        #expect(skipped.contains("README.md"), "\(name): \(skipped)")
    }


    /// A run folder that also holds the pcap `convert` made of it, and a second copy of its QEMU
    /// log, gives the findings of its traces: each recording is analysed once, and a note
    /// says which form was left out. (Every event counted twice made a healthy run fail and a
    /// hung one report 17 stalls.)
    @Test(arguments: ["mq2", "hang-sq2"])
    func aRecordingKeptTwiceInTheFolderIsAnalysedOnce(_ name: String) throws {
        let f = try RealTraceTests.run(name)
        let dir = temporaryPath("twice-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (file, target) in [(f.guest, "guest-ftrace.txt"), (f.qemu, "qemu-trace.log"), (f.console, "console.log")] {
            try FileManager.default.copyItem(atPath: file, toPath: "\(dir)/\(target)")
        }
        let traces = try analyzeJSON([f.guest, f.qemu, f.console])
        let converted = try runProcess(["convert", dir, "-o", "\(dir)/run.pcap"])
        #expect(converted.status == 0, "\(converted.stderr)")
        try FileManager.default.copyItem(atPath: f.qemu, toPath: "\(dir)/qemu-trace-copy.log")

        let batch = try analyzeJSON([dir])
        let run = (batch.json["runs"] as? [[String: Any]])?.first ?? [:]
        #expect(batch.status == traces.status, "\(name)")
        #expect(Self.signatures(run) == Self.signatures(traces.json), "\(name): \(Self.signatures(run)) vs \(Self.signatures(traces.json))")
        let queues = { (json: [String: Any]) in
            (json["queues"] as? [[String: Any]] ?? []).map { "\($0["qid"] ?? "") \($0["commands_fetched"] ?? "") \($0["commands_submitted"] ?? "")" }
        }
        #expect(queues(run) == queues(traces.json), "\(name): events counted once")
        let notes = (run["notes"] as? [String] ?? []).joined(separator: "\n")
        #expect(notes.contains("the same guest recording as"), "\(notes)")
        #expect(notes.contains("(its qemu-log events)") || notes.contains("qemu-trace-copy.log: the same recording as"), "\(notes)")
        #expect(notes.components(separatedBy: "the same recording as").count - 1 == 3, "QEMU log twice more, console once more: \(notes)")
    }
    /// A small trace given twice under two names (fewer than 8 I/O commands: the bundled lab
    /// sample) was analysed twice, each hang told twice. All its commands at the same times are
    /// one recording, as for a larger trace 9 in 10 of them.
    @Test func aSmallTraceGivenTwiceIsReadOnce() throws {
        let dir = temporaryPath("twice-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["a.txt", "b.txt"] { try FileManager.default.copyItem(atPath: sample("lab/sq-hang.txt"), toPath: "\(dir)/\(name)") }
        let alone = try analyzeJSON([sample("lab/sq-hang.txt")])
        let both = try analyzeJSON(["\(dir)/a.txt", "\(dir)/b.txt"])
        #expect(Self.signatures(both.json) == Self.signatures(alone.json), "\(Self.signatures(both.json)) vs \(Self.signatures(alone.json))")
        #expect((both.json["notes"] as? [String] ?? []).contains { $0.contains("b.txt: the same guest recording as") })
    }

    /// With `--same-clock` too, one recording in two forms (the guest trace and the pcap
    /// `convert` made of it) is analysed once, and the note says which form was left out: each
    /// command counted twice made a simulated healthy run report 40 stalls.
    @Test func sameClockStillAnalysesARecordingKeptTwiceOnce() throws {
        let f = try RealTraceTests.run("hang-sq2")
        let pcap = temporaryPath("same-clock-twice-\(UUID().uuidString).pcap")
        defer { try? FileManager.default.removeItem(atPath: pcap) }
        let converted = try runProcess(["convert", f.guest, "-o", pcap])
        #expect(converted.status == 0, "\(converted.stderr)")
        let alone = try analyzeJSON([f.guest], extra: ["--same-clock"])
        let both = try analyzeJSON([f.guest, pcap], extra: ["--same-clock"])
        #expect(both.status == alone.status)
        #expect(Self.signatures(both.json) == Self.signatures(alone.json), "\(Self.signatures(both.json)) vs \(Self.signatures(alone.json))")
        let submitted = { (json: [String: Any]) in (json["queues"] as? [[String: Any]] ?? []).map { "\($0["qid"] ?? "") \($0["commands_submitted"] ?? "")" } }
        #expect(submitted(both.json) == submitted(alone.json), "each command counted once")
        let notes = (both.json["notes"] as? [String] ?? []).joined(separator: "\n")
        #expect(notes.contains("the same guest recording as"), "\(notes)")
        #expect((both.json["findings"] as? [[String: Any]] ?? []).allSatisfy { ($0["uncertainty"] as? [String] ?? []).isEmpty })
        // The same from a pipe: read once, it was analysed beside the file (every command twice).
        let piped = try runProcess(["analyze", "-", f.guest, "--same-clock", "--format", "json", "--quiet"], stdin: try Data(contentsOf: URL(fileURLWithPath: f.guest)))
        let pipedJSON = try JSONSerialization.jsonObject(with: Data(piped.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(piped.status == alone.status, "\(piped.stderr)")
        #expect(submitted(pipedJSON) == submitted(alone.json), "each command counted once")
        #expect(((pipedJSON["notes"] as? [String]) ?? []).contains { $0.contains("analysed once") }, "\(pipedJSON["notes"] ?? "")")
        // A guest trace and a QEMU log are 1.8·10⁹ s apart: every finding judged across them
        // says so where it is read (four errors named a known bug, a note at the end said why).
        let apart = try analyzeJSON([f.guest, f.qemu], extra: ["--same-clock"])
        let findings = apart.json["findings"] as? [[String: Any]] ?? []
        #expect(!findings.isEmpty && findings.allSatisfy { ($0["uncertainty"] as? [String] ?? []).contains { $0.hasPrefix("--same-clock was given") } })
    }

    /// `--clock-offset FILE=S` names an input by any path to it, a file of a run folder given,
    /// or its file name alone (it took only the exact text given as the input: with a run
    /// folder no FILE was accepted). A name that is no input is a usage error, never an
    /// offset silently unused.
    @Test func clockOffsetNamesAnInputByAnyPathOrItsName() throws {
        let dir = try Self.folder("mq2")
        let qemu = "\(dir)/qemu-trace.log"
        func method(_ arguments: [String]) throws -> (Int32, String?) {
            let (status, json, _) = try analyzeJSON(arguments)
            let runs = json["runs"] as? [[String: Any]]
            let alignment = (runs?.first ?? json)["alignment"] as? [[String: Any]] ?? []
            return (status, alignment.first { ($0["path"] as? String ?? "").hasSuffix("qemu-trace.log") }?["method"] as? String)
        }
        for name in ["qemu-trace.log", qemu, "\(dir)/./qemu-trace.log"] {
            let (status, m) = try method([dir, "--clock-offset", "\(name)=-1795663273.109"])
            #expect(status != 64 && m == "manual", "\(name): \(status) \(m ?? "nil")")
        }
        let (status, m) = try method(["\(dir)/guest-ftrace.txt", "\(dir)/./qemu-trace.log", "--clock-offset", "\(qemu)=-1795663273.109"])
        #expect(status != 64 && m == "manual", "another spelling of the input: \(status) \(m ?? "nil")")
        let unused = try runProcess(["analyze", dir, "--clock-offset", "nothere.log=-1", "--quiet"])
        #expect(unused.status == 64 && unused.stderr.contains("--clock-offset names nothere.log, which is no input of the run"), "\(unused.stderr)")
        let missing = try runProcess(["analyze", qemu, "--clock-offset", "\(dir)/nothere.log=-1", "--quiet"])
        #expect(missing.status == 64 && missing.stderr.contains("which is not one of the inputs"), "\(missing.stderr)")
    }

    /// A `--clock-offset` the causal pairs contradict is said, in the alignment, the notes and
    /// on the findings that rest on the order of both sides: a sign left out put hang-sq2's QEMU
    /// log 113 years after the guest's trace (five confident findings, no word of it), an offset
    /// a second off moved every controller event. One the pairs agree with is not remarked on.
    @Test func aClockOffsetTheCausalPairsContradictIsSaid() throws {
        let f = try RealTraceTests.run("hang-sq2")
        func analyze(_ run: (guest: String, qemu: String, console: String), _ offset: String) throws -> [String: Any] {
            try analyzeJSON([run.guest, run.qemu, run.console, "--clock-offset", "\(run.qemu)=\(offset)"]).json
        }
        func qemuNote(_ json: [String: Any]) -> String {
            let alignment = json["alignment"] as? [[String: Any]] ?? []
            return alignment.first { ($0["path"] as? String ?? "").hasSuffix("qemu-trace.log") }?["note"] as? String ?? ""
        }
        func findings(_ json: [String: Any]) -> [[String: Any]] { json["findings"] as? [[String: Any]] ?? [] }
        func uncertainty(_ f: [String: Any]) -> String { (f["uncertainty"] as? [String] ?? []).joined(separator: " | ") }

        let signLeftOut = try analyze(f, "+1795663273.1")
        let notes = (signLeftOut["notes"] as? [String] ?? []).joined(separator: "\n")
        #expect(notes.contains("they share no time, so no finding can rest on both sides' events"), "\(notes)")
        #expect(!findings(signLeftOut).isEmpty && findings(signLeftOut).allSatisfy { uncertainty($0).contains("does not overlap the others in time") })
        let giveUp = findings(signLeftOut).first { $0["inferred_from"] as? String == "guest-timeouts" }
        #expect((giveUp?["explanation"] as? String ?? "").contains("The controller's events begin"), "\(giveUp ?? [:])")

        let aSecondOff = try analyze(f, "-1795663272.1")
        #expect(qemuNote(aSecondOff).contains("the offset given misses the") && qemuNote(aSecondOff).contains("causal pairs with"), "\(qemuNote(aSecondOff))")
        let ordered = findings(aSecondOff).filter { ["mutual-wait", "controller-idle-with-work"].contains($0["kind"] as? String) }
        #expect(!ordered.isEmpty && ordered.allSatisfy { uncertainty($0).contains("(--clock-offset) misses its causal pairs by up to") })

        let single = try RealTraceTests.run("single")
        let right = try analyze(single, "-1795660160.680269")
        #expect(!qemuNote(right).contains("misses"), "\(qemuNote(right))")
        #expect(!((right["notes"] as? [String] ?? []).contains { $0.contains("--clock-offset") }))
    }

    /// A run's notes piped in are refused as when named alone (a README quoting QEMU lines was
    /// read as a QEMU log with 12 events: exit 0 in a CI job), alone or beside a trace; a trace
    /// piped in is read.
    @Test func notesOnStandardInputAreAnInputError() throws {
        let readme = try Data(contentsOf: RealTraceTests.realDirectory.appendingPathComponent("hang-sq2/README.md"))
        let alone = try runProcess(["analyze", "-", "--quiet"], stdin: readme)
        #expect(alone.status == 2 && alone.stderr.contains("-: notes, not a QEMU log"), "\(alone.stderr)")
        let f = try RealTraceTests.run("hang-sq2")
        let beside = try runProcess(["analyze", "-", f.qemu, "--quiet"], stdin: readme)
        #expect(beside.status == 2 && beside.stderr.contains("not read as a trace"), "\(beside.stderr)")
        let console = try Data(contentsOf: URL(fileURLWithPath: f.console))
        let trace = try runProcess(["analyze", "-", "--quiet"], stdin: console)
        #expect(trace.status == 1, "\(trace.stderr)")
    }

    /// `report - … -o -`: an input from standard input and the page to standard output (it was
    /// refused: "--output - is also an input").
    /// A guest with a second NVMe disk whose controller the QEMU log does not show (nvme1, a
    /// passthrough disk), busy before nvme0: the offset was sought among the first 4000
    /// submissions, all nvme1's, and the QEMU log was left unaligned (each hang reported twice,
    /// once per clock). And a guest whose only disk is nvme1 beside a log read as nvme0 is told
    /// which --controller would let them meet.
    @Test func aSecondControllerOfTheGuestDoesNotHideThePairs() throws {
        let guest = try String(contentsOfFile: sample("real-single/guest-ftrace.txt"), encoding: .utf8)
        let qemu = sample("real-single/qemu-trace.log")
        var other = ""
        for k in 0..<5000 {
            let t = 1_000_000 + k * 100  // µs
            other += String(format: "             fio-999     [000] d..1.     %d.%06d: ", t / 1_000_000, t % 1_000_000)
                + "nvme_setup_cmd: nvme1: disk=nvme1n1, qid=1, cmdid=\(k % 1024), nsid=1, flags=0x0, meta=0x0, "
                + "cmd=(nvme_cmd_read slba=0, len=7, ctrl=0x0, dsmgmt=0, reftag=0)\n"
        }
        let lines = guest.split(separator: "\n", omittingEmptySubsequences: false)
        let header = lines.prefix { $0.hasPrefix("#") }.joined(separator: "\n") + "\n"
        let events = lines.drop { $0.hasPrefix("#") }.joined(separator: "\n")
        let both = temporaryPath("two-disks-\(UUID().uuidString).txt")
        try (header + other + events).write(toFile: both, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: both) }
        let alone = try analyzeJSON([sample("real-single/guest-ftrace.txt"), qemu])
        let r = try analyzeJSON([both, qemu])
        let methods = { (json: [String: Any]) in (json["alignment"] as? [[String: Any]] ?? []).compactMap { $0["method"] as? String }.sorted() }
        #expect(methods(r.json) == methods(alone.json), "\(r.json["alignment"] ?? [])")
        #expect(methods(r.json).contains("estimated"))

        let renamed = temporaryPath("nvme1-only-\(UUID().uuidString).txt")
        try guest.replacingOccurrences(of: "nvme0", with: "nvme1").write(toFile: renamed, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: renamed) }
        let hinted = try analyzeJSON([renamed, qemu])
        #expect((hinted.json["notes"] as? [String] ?? []).contains { $0.contains("give --controller 1") }, "\(hinted.json["notes"] ?? [])")
    }

    /// A guest trace kept per CPU (`per_cpu/cpuN/trace`, `trace-cmd report --cpu N`), the parts
    /// named together: each was analysed on a clock of its own, and the admin commands one CPU
    /// submitted and another completed were stuck (a healthy run failed). Parts of disjoint CPUs
    /// whose commands overlap in time are one clock; two whole traces (both with CPU 0) are not.
    @Test func aGuestTraceKeptPerCPUIsOneClock() throws {
        let guest = try String(contentsOfFile: sample("real-single/guest-ftrace.txt"), encoding: .utf8)
        let lines = guest.split(separator: "\n", omittingEmptySubsequences: false)
        let header = lines.filter { $0.hasPrefix("#") }.joined(separator: "\n") + "\n"
        var parts: [String] = []
        for cpu in ["[000]", "[001]"] {
            let path = temporaryPath("per-cpu-\(UUID().uuidString).txt")
            try (header + lines.filter { !$0.hasPrefix("#") && $0.contains(cpu) }.joined(separator: "\n") + "\n")
                .write(toFile: path, atomically: true, encoding: .utf8)
            parts.append(path)
        }
        defer { for p in parts { try? FileManager.default.removeItem(atPath: p) } }
        let whole = try analyzeJSON([sample("real-single/guest-ftrace.txt")])
        let split = try analyzeJSON(parts)
        #expect(split.status == whole.status)
        let kinds = { (json: [String: Any]) in (json["findings"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }.sorted() }
        #expect(kinds(split.json) == kinds(whole.json), "\(split.json["findings"] ?? [])")
        let alignment = split.json["alignment"] as? [[String: Any]] ?? []
        #expect(alignment.contains { $0["method"] as? String == "same-clock" && ($0["note"] as? String ?? "").contains("its other CPUs (") }, "\(alignment)")
    }

    /// tracefs's folder copied as it is: the trace of every CPU (`trace`) and each CPU's
    /// (`per_cpu/cpuN/trace`, beside its `stats`). Each CPU's folder was a run of its own (the
    /// hung queue's CPU without the QEMU log passed as a stuck command, the other healthy), and
    /// beside `trace` every command was read twice (six errors for two hangs). The folder is one
    /// run, and the parts beside the whole are copies of it.
    @Test func tracefsPerCPUFolderIsOneRun() throws {
        let files = try RealTraceTests.run("hang-sq2")
        let whole = try analyzeJSON([files.guest, files.qemu])
        let folder = temporaryPath("tracefs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let guest = try String(contentsOfFile: files.guest, encoding: .utf8)
        let lines = guest.split(separator: "\n", omittingEmptySubsequences: false)
        let header = lines.filter { $0.hasPrefix("#") }.joined(separator: "\n") + "\n"
        for cpu in 0..<2 {
            let dir = "\(folder)/run/per_cpu/cpu\(cpu)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try (header + lines.filter { !$0.hasPrefix("#") && $0.contains("[00\(cpu)]") }.joined(separator: "\n") + "\n")
                .write(toFile: "\(dir)/trace", atomically: true, encoding: .utf8)
            try "entries: 1\noverrun: 0\n".write(toFile: "\(dir)/stats", atomically: true, encoding: .utf8)
        }
        try FileManager.default.copyItem(atPath: files.qemu, toPath: "\(folder)/run/qemu.log")
        for withWhole in [false, true] {
            if withWhole { try FileManager.default.copyItem(atPath: files.guest, toPath: "\(folder)/run/trace") }
            let r = try runProcess(["analyze", folder, "--format", "json"])
            #expect(r.status == 1, "\(r.stderr)")
            let batch = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            let runs = batch["runs"] as? [[String: Any]] ?? []
            #expect(runs.count == 1 && (runs.first?["run"] as? [String: Any])?["name"] as? String == "\(folder)/run", "\(runs.map { $0["run"] ?? "?" })")
            let report = runs.first ?? [:]
            let errors = { (json: [String: Any]) in Self.signatures(json).filter { $0.severity == "error" } }
            #expect(errors(report).count == errors(whole.json).count && errors(whole.json).count == 2, "\(errors(report))")
            if withWhole {
                let notes = report["notes"] as? [String] ?? []
                #expect(notes.filter { $0.contains("of the guest trace \(folder)/run/trace (CPUs 0-1): the same commands") }.count == 2, "\(notes)")
            }
        }
    }

    /// A healthy run's QEMU log with one damaged line (an io_cmd line that lost its fields):
    /// the fetch lost there read as a controller idle with work on its queue, an error naming a
    /// QEMU bug (exit 1). The finding says what it may rest on and is a warning; the run
    /// passes undecided. A hung run with such a line still fails on its hangs.
    @Test func aDamagedLineDoesNotFailAHealthyRun() throws {
        for (name, line, status) in [("mq2", 85710, Int32(0)), ("hang-sq2", 60018, Int32(1))] {
            let files = try RealTraceTests.run(name)
            var lines = try String(contentsOfFile: files.qemu, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let target = try #require(lines[line - 1].range(of: " sqid"))
            lines[line - 1] = String(lines[line - 1][..<target.lowerBound])
            let damaged = temporaryPath("damaged-\(name)-\(UUID().uuidString).log")
            try lines.joined(separator: "\n").write(toFile: damaged, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: damaged) }
            let r = try analyzeJSON([damaged])
            #expect(r.status == status, "\(name)")
            let idle = (r.json["findings"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "controller-idle-with-work" }
            #expect(!idle.isEmpty && idle.allSatisfy { $0["severity"] as? String == "warning" && ($0["uncertainty"] as? [String] ?? []).contains { $0.contains("has a damaged line before this finding's evidence (\(damaged):\(line): pci_nvme_io_cmd: missing sqid)") } }, "\(name): \(idle)")
            let undecided = (r.json["summary"] as? [String: Any])?["undecided"] as? [String] ?? []
            #expect(undecided.contains { $0.hasPrefix("controller-idle-with-work on nvme0:sq") }, "\(name): \(undecided)")
        }
    }

    /// `analyze --format json` of a copy of `path` whose line `line` (from 1) is `damage`d; the
    /// copy's path (removed afterwards) and the result.
    static func analyzeDamaged(_ path: String, line: Int, _ damage: (String) -> String) throws
        -> (path: String, result: (status: Int32, json: [String: Any], text: String))
    {
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let changed = damage(lines[line - 1])
        #expect(changed != lines[line - 1])
        lines[line - 1] = changed
        let damaged = temporaryPath("damaged-\(UUID().uuidString)-" + (path.split(separator: "/").last.map(String.init) ?? "input"))
        try lines.joined(separator: "\n").write(toFile: damaged, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: damaged) }
        return (damaged, try analyzeJSON([damaged]))
    }

    /// One damaged line of a hung run: the fetch lost in it turned a 30 s mutual wait into a
    /// controller idle with work, a warning, and the run passed. Its commands stayed outstanding
    /// whatever the lost event was: an error still, its cause in doubt and no known bug named.
    @Test func aDamagedLineDoesNotHideAHang() throws {
        let (damaged, r) = try Self.analyzeDamaged(sample("lab/sq-hang.txt"), line: 20) { $0.replacingOccurrences(of: "cid 4097", with: "cid XYZ") }
        #expect(r.status == 1)
        let errors = (r.json["findings"] as? [[String: Any]] ?? []).filter { $0["severity"] as? String == "error" }
        let hang = try #require(errors.first { $0["queue"].map { "\($0)" }?.contains("sq") == true && $0["kind"] as? String == "controller-idle-with-work" }, "\(errors)")
        let doubts = hang["uncertainty"] as? [String] ?? []
        #expect(doubts.contains { $0.contains("has a damaged line before this finding's evidence (\(damaged):20:") })
        #expect(doubts.contains { $0.contains("3 command(s) stayed outstanding beyond 5.000 s: the queue hung") })
        #expect(hang["known_bug"] is NSNull)
        #expect((hang["explanation"] as? String ?? "").contains("No known bug is named"))
    }

    /// hang-sq2's QEMU log alone with its last SQ2 fetch before the first stall damaged: SQ2
    /// read as a controller idle with work, a warning, and the guest's ABORTs went to SQ1, silent
    /// for 4.6 ms then (an error on the healthy queue). The queue with unfetched work it had
    /// seen is a candidate of the give-up too, and the guest's give-up inside its window keeps
    /// it an error: SQ2 fails the run, SQ1 has nothing.
    @Test func aDamagedFetchLineOfAHangKeepsItOnItsQueue() throws {
        let files = try RealTraceTests.run("hang-sq2")
        let (_, r) = try Self.analyzeDamaged(files.qemu, line: 94320) { line in
            #expect(line.contains("pci_nvme_io_cmd") && line.contains("sqid 2"))
            return String(line.map { $0.isNumber ? "#" : $0 })
        }
        #expect(r.status == 1)
        let errors = (r.json["findings"] as? [[String: Any]] ?? []).filter { $0["severity"] as? String == "error" }
        let qids = Set(errors.compactMap { ($0["queue"] as? [String: Any])?["qid"] as? Int })
        #expect(qids == [2], "\(errors.map { ($0["kind"] ?? "", $0["queue"] ?? "") })")
        let idle = try #require(errors.first { $0["kind"] as? String == "controller-idle-with-work" })
        #expect((idle["uncertainty"] as? [String] ?? []).contains { $0.contains("the guest gave up on the queue's I/O: the queue hung") })
    }

    /// A QEMU log without timestamps: the report's windows are as long as their events, not a
    /// time (its HTML read "mutual wait 168.879 µs" for 168879 events).
    @Test func anUntimedLogsPicturesCountEvents() throws {
        let files = try RealTraceTests.run("hang-sq2")
        let text = try String(contentsOfFile: files.qemu, encoding: .utf8)
        let untimed = try NSRegularExpression(pattern: #"^[0-9]+@[0-9.]+:"#, options: .anchorsMatchLines)
            .stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: "")
        let log = temporaryPath("untimed-\(UUID().uuidString).log"), html = temporaryPath("untimed-\(UUID().uuidString).html")
        try untimed.write(toFile: log, atomically: true, encoding: .utf8)
        defer { for p in [log, html] { try? FileManager.default.removeItem(atPath: p) } }
        #expect(try runProcess(["report", log, "-o", html]).status == 0)
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("#2 mutual wait 168879 events") && !page.contains("mutual wait 168.879 µs"))
        let out = try runProcess(["analyze", log]).stdout
        #expect(out.contains("169421 events hung in total") && out.contains("submitted ?"), "\(out)")
    }

    /// A run kept as a guest folder and a host folder (`vm1/guest/` with the guest trace and
    /// console, `vm1/host/` with QEMU's log) is one run: each folder was a run of its own, and
    /// neither could say why the queue hung (the guest side gave up, the host side saw a stall
    /// it could not place). Two run folders of other names stay two runs.
    @Test func guestAndHostFoldersAreOneRun() throws {
        let files = try RealTraceTests.run("hang-sq2")
        let whole = try analyzeJSON([files.guest, files.qemu])
        let folder = temporaryPath("sides-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for (side, file) in [("Guest", files.guest), ("host", files.qemu), ("other/a", files.guest), ("other/b", files.qemu)] {
            try FileManager.default.createDirectory(atPath: "\(folder)/vm1/\(side)", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: file, toPath: "\(folder)/vm1/\(side)/\((file as NSString).lastPathComponent)")
        }
        try "notes\n".write(toFile: "\(folder)/vm1/host/README.md", atomically: true, encoding: .utf8)
        let r = try runProcess(["analyze", folder, "--format", "json"])
        #expect(r.status == 1, "\(r.stderr)")
        let batch = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let runs = batch["runs"] as? [[String: Any]] ?? []
        let names = runs.map { ($0["run"] as? [String: Any])?["name"] as? String ?? "?" }
        #expect(names == ["\(folder)/vm1", "\(folder)/vm1/other/a", "\(folder)/vm1/other/b"], "\(names)")
        let run = try #require(runs.first)
        #expect(Self.signatures(run) == Self.signatures(whole.json), "\(Self.signatures(run))")
        let skipped = (run["run"] as? [String: Any])?["skipped_files"] as? [[String: Any]] ?? []
        #expect(skipped.map { $0["path"] as? String } == ["\(folder)/vm1/host/README.md"], "\(skipped)")
        // In the run's folder, its two sides named.
        let inside = try runProcess(["analyze", "Guest", "host", "--format", "json"], in: "\(folder)/vm1")
        let insideRuns = (try JSONSerialization.jsonObject(with: Data(inside.stdout.utf8)) as? [String: Any])?["runs"] as? [[String: Any]] ?? []
        #expect(insideRuns.count == 1 && Self.signatures(insideRuns[0]) == Self.signatures(whole.json), "\(inside.stderr)")
    }

    /// A trace kept in pieces (a QEMU log rotated or cut with `split`, a guest trace saved in
    /// two parts), the pieces named together: nothing pairs a QEMU log with a QEMU log, so the
    /// second was analysed on a clock of its own, and a stall across the cut was two halves,
    /// each too short to report (a hung run passed, exit 0). A piece whose events all follow
    /// the other's is that recording going on, on its clock.
    @Test func aTraceKeptInPiecesIsOneRecording() throws {
        let files = try RealTraceTests.run("hang-sq2")
        let dir = temporaryPath("pieces-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, path) in [("q", files.qemu), ("g", files.guest)] {
            let cut = try CITemplateTests.run(["split", "-n", "l/2", "-d", path, "\(dir)/\(name)."])
            #expect(cut.status == 0, "\(cut.output)")
        }
        let errors = { (json: [String: Any]) in Self.signatures(json).filter { $0.severity == "error" } }
        for (whole, pieces) in [(files.qemu, ["\(dir)/q.00", "\(dir)/q.01"]), (files.guest, ["\(dir)/g.00", "\(dir)/g.01"])] {
            let expected = try analyzeJSON([whole])
            #expect(errors(expected.json).count == 2)
            for order in [pieces, pieces.reversed()] {
                let r = try analyzeJSON(order)
                #expect(r.status == 1 && Self.same(errors(r.json), errors(expected.json), tolerance: 0), "\(order): \(errors(r.json))")
                let alignment = r.json["alignment"] as? [[String: Any]] ?? []
                #expect(alignment.contains { ($0["note"] as? String ?? "").contains("in another file: its events all") }, "\(alignment)")
            }
        }
        // Both traces in pieces beside each other: the same findings as the two whole files,
        // to the nanosecond (the pieces' pairs place them together).
        let whole = try analyzeJSON([files.guest, files.qemu])
        for order in [["g.00", "g.01", "q.00", "q.01"], ["q.01", "g.00", "q.00", "g.01"], ["g.00", "g.01", "q.00"]] {
            let r = try analyzeJSON(order.map { "\(dir)/\($0)" })
            let expected = order.count == 3 ? try analyzeJSON([files.guest, "\(dir)/q.00"]) : whole
            #expect(Self.same(errors(r.json), errors(expected.json), tolerance: 0), "\(order): \(errors(r.json)) against \(errors(expected.json))")
        }
        // Two runs' logs (no thread in common) stay apart.
        let other = "\(dir)/other.log"
        let text = try String(contentsOfFile: "\(dir)/q.01", encoding: .utf8)
        try text.replacing(/^(\d+)@/.anchorsMatchLineEndings(), with: { "9\($0.output.1)@" }).write(toFile: other, atomically: true, encoding: .utf8)
        let apart = try analyzeJSON(["\(dir)/q.00", other])
        #expect((apart.json["notes"] as? [String] ?? []).contains { $0.contains(": not aligned: no causal pairs") }, "\(apart.json["notes"] ?? [])")
    }

    /// hang-sq2's QEMU log cut 10.5 s into its first stall, before the guest's ABORT: the
    /// controller asleep on sq2 while sq1 kept running, nothing to find from that side alone —
    /// a note says the trace ends too soon to tell (it passed without a word).
    @Test func theHostSideCutBeforeTheGuestGaveUpSaysItCannotTell() throws {
        let files = try RealTraceTests.run("hang-sq2")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: files.qemu))
        let cut = try #require(bytes.prefix(15_000_000).lastIndex(of: UInt8(ascii: "\n")))
        let path = temporaryPath("hang-sq2-cut-\(UUID().uuidString).log")
        try bytes.prefix(cut + 1).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try analyzeJSON([path])
        let notes = r.json["notes"] as? [String] ?? []
        #expect(notes.contains { $0.hasPrefix("nvme0:sq2: the controller was asleep on it for the last 10.") && $0.contains("while nvme0:sq1 kept") }, "\(notes)")
        let whole = try analyzeJSON([files.qemu])
        #expect(!(whole.json["notes"] as? [String] ?? []).contains { $0.contains("was asleep on it for the last") })
    }

    /// The pcap `convert` wrote of a run, left in its folder: the recording is read once, from
    /// the files it was made of, whose lines the evidence quotes (it quoted `run.pcap@N`).
    @Test func aPcapBesideTheFilesItWasMadeOfIsTheCopy() throws {
        let files = try RealTraceTests.run("hang-sq2")
        let folder = temporaryPath("with-pcap-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for (file, name) in [(files.guest, "guest-ftrace.txt"), (files.qemu, "qemu-trace.log"), (files.console, "console.log")] {
            try FileManager.default.copyItem(atPath: file, toPath: "\(folder)/\(name)")
        }
        let pcap = temporaryPath("run-\(UUID().uuidString).pcap")
        #expect(runCommand(["convert", folder, "-o", pcap]) == 0)
        try FileManager.default.moveItem(atPath: pcap, toPath: "\(folder)/run.pcap")
        let batch = try analyzeJSON([folder])
        #expect(batch.status == 1)
        let run = try #require((batch.json["runs"] as? [[String: Any]])?.first)
        let locations = (run["findings"] as? [[String: Any]] ?? []).flatMap { $0["evidence"] as? [[String: Any]] ?? [] }
            .compactMap { $0["location"] as? String }
        #expect(!locations.isEmpty && !locations.contains { $0.contains("run.pcap") }, "\(locations.prefix(5))")
        let notes = run["notes"] as? [String] ?? []
        #expect(notes.filter { $0.hasPrefix("\(folder)/run.pcap") && $0.contains("analysed once, from \(folder)/") }.count == 3, "\(notes)")
    }

    /// An excerpt of the QEMU log kept beside it in the run's folder (`grep 'sqid 2\|cqid 2'`):
    /// read as a second controller trace, sq2's MMIO doorbells went from 1455 to 1669 and its
    /// fetches above its submissions. It is read once, with a note.
    @Test func aQemuLogExcerptBesideItsLogIsReadOnce() throws {
        let hang = try RealTraceTests.run("hang-sq2")
        let excerpt = temporaryPath("sq2-excerpt-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(atPath: excerpt) }
        let lines = try String(contentsOfFile: hang.qemu, encoding: .utf8).split(separator: "\n")
        let picked = lines.filter { $0.contains("sqid 2") || $0.contains("cqid 2") }.prefix(3000)
        try (picked.joined(separator: "\n") + "\n").write(toFile: excerpt, atomically: true, encoding: .utf8)
        let alone = try analyzeJSON([hang.guest, hang.qemu])
        let both = try analyzeJSON([hang.guest, hang.qemu, excerpt])
        func sq2(_ json: [String: Any]) -> Int? {
            (json["queues"] as? [[String: Any]] ?? []).first { $0["qid"] as? Int == 2 && $0["type"] as? String == "sq" }?["mmio_doorbells"] as? Int
        }
        #expect(sq2(both.json) != nil && sq2(both.json) == sq2(alone.json))
        #expect((both.json["notes"] as? [String] ?? []).contains { $0.contains("an excerpt of \(hang.qemu)") }, "\(both.json["notes"] ?? [])")
    }

    /// Files of two runs given together: hang-sq2's console beside dat-hang-sq2's guest trace
    /// was placed on the guest's clock (a console shares the guest kernel's clock), and its
    /// QEMU log through the console's timeout messages: one story of two runs, evidence from
    /// both. The console's timeouts have no ABORT in the trace; a QEMU log placed by a console
    /// whose commands span the guest trace's without one causal pair is another run's.
    @Test func twoRunsGivenTogetherAreNotOneStory() throws {
        let hang = try RealTraceTests.run("hang-sq2")
        let dat = try RealTraceTests.run("dat-hang-sq2")
        let mq2 = try RealTraceTests.run("mq2")
        let r = try analyzeJSON([dat.guest, hang.qemu, hang.console])
        let notes = r.json["notes"] as? [String] ?? []
        #expect(notes.contains { $0.hasPrefix("\(hang.console): not on the clock of \(dat.guest): 6 of its 6 timeout message(s)") }, "\(notes)")
        let findings = r.json["findings"] as? [[String: Any]] ?? []
        for f in findings {
            let paths = Set((f["evidence"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String })
            #expect(paths.count <= 1 || !paths.contains(dat.guest), "one finding, evidence of two runs: \(paths)")
        }
        let other = try analyzeJSON([mq2.guest, hang.qemu, hang.console])
        #expect((other.json["notes"] as? [String] ?? []).contains { $0.hasPrefix("\(hang.qemu): not placed by the timeout messages of \(hang.console)") })
        // The run's own files stay one story.
        let own = try analyzeJSON([hang.guest, hang.qemu, hang.console])
        #expect(!(own.json["notes"] as? [String] ?? []).contains { $0.contains("not on the clock of") || $0.contains("not placed by the timeout") })
    }

    /// Slices of hang-sq2's guest trace that begin after the stuck commands were submitted:
    /// one holding only the driver's ABORTs (25–35 s), one holding only the reset that cancelled
    /// the commands (40–47 s). Each passed as healthy (exit 0); the ABORT, or the cancellation
    /// of a command the trace does not show submitted, is the give-up itself.
    @Test func slicesOfAHungTraceAfterTheSubmissionsStillTellTheGiveUp() throws {
        let files = try RealTraceTests.run("hang-sq2")
        let lines = try String(contentsOfFile: files.guest, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let stamp = /\s(\d+\.\d{6}):\s/
        func slice(_ from: Double, _ to: Double) throws -> String {
            let kept = lines.filter { line in
                guard !line.hasPrefix("#"), let m = line.firstMatch(of: stamp), let t = Double(m.output.1) else { return line.hasPrefix("#") }
                return t >= from && t < to
            }
            let path = temporaryPath("slice-\(from)-\(to)-\(UUID().uuidString).txt")
            try (kept.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let aborts = try slice(25, 35), reset = try slice(40, 47), tail = try slice(50, 100)
        defer { for p in [aborts, reset, tail] { try? FileManager.default.removeItem(atPath: p) } }
        let a = try analyzeJSON([aborts])
        let stuckA = Self.signatures(a.json).filter { $0.kind == "stuck-command" && $0.queue == "sq2" }
        #expect(a.status == 1 && stuckA.count == 1 && stuckA[0].end == nil, "\(Self.signatures(a.json))")
        let r = try analyzeJSON([reset])
        let stuckR = (r.json["findings"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "stuck-command" }
        #expect(r.status == 1 && stuckR.count == 1, "\(Self.signatures(r.json))")
        #expect((stuckR.first?["message"] as? String ?? "").contains("the driver reset the controller and cancelled I/O submitted before the trace began"))
        // A slice with the second give-up's ABORTs and its reset: one finding, the reset's
        // cancellations part of it.
        let t = try analyzeJSON([tail])
        #expect(Self.signatures(t.json).filter { $0.kind == "stuck-command" }.count == 1, "\(Self.signatures(t.json))")
    }

    /// One CPU's part of a guest trace alone (per_cpu/cpu1/trace, with its `#P:2` header, or a
    /// grep of its lines without one): commands submitted on it completed on CPU 0, and it
    /// showed them stuck without a word. A note says what the file is, and its stuck commands
    /// are uncertain; both parts together say nothing of it.
    @Test func oneCPUsPartAloneSaysSo() throws {
        let single = try RealTraceTests.run("single")
        let guest = try String(contentsOfFile: single.guest, encoding: .utf8)
        let lines = guest.split(separator: "\n", omittingEmptySubsequences: false)
        let header = lines.filter { $0.hasPrefix("#") }.joined(separator: "\n") + "\n"
        #expect(header.contains("#P:2"))
        var parts: [String] = []
        for (cpu, withHeader) in [("[001]", true), ("[001]", false), ("[000]", true)] {
            let path = temporaryPath("cpu-part-\(UUID().uuidString).txt")
            try ((withHeader ? header : "") + lines.filter { !$0.hasPrefix("#") && $0.contains(cpu) }.joined(separator: "\n") + "\n")
                .write(toFile: path, atomically: true, encoding: .utf8)
            parts.append(path)
        }
        defer { for p in parts { try? FileManager.default.removeItem(atPath: p) } }
        for (part, said) in [(parts[0], "of the 2 its header counts"), (parts[1], "and not CPU 0, which every machine has")] {
            let r = try analyzeJSON([part])
            #expect((r.json["notes"] as? [String] ?? []).contains { $0.hasPrefix("\(part): the guest trace holds the events of CPU 1 only, \(said)") }, "\(r.json["notes"] ?? [])")
            let stuck = (r.json["findings"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "stuck-command" }
            #expect(!stuck.isEmpty && stuck.allSatisfy { ($0["uncertainty"] as? [String] ?? []).contains { $0.contains("one CPU's events only") } })
            // Nothing says they did not complete on the other CPU: warnings, and the healthy
            // run passes undecided rather than failing (it exited 1 on 16 admin commands).
            #expect(r.status == 0 && stuck.allSatisfy { $0["severity"] as? String == "warning" }, "\(stuck)")
            let undecided = (r.json["summary"] as? [String: Any])?["undecided"] as? [String] ?? []
            #expect(undecided.contains { $0.contains("holds CPU 1's events only") }, "\(undecided)")
        }
        let both = try analyzeJSON([parts[0], parts[2]])
        #expect(!(both.json["notes"] as? [String] ?? []).contains { $0.contains("holds the events of CPU") })
        #expect(!(try analyzeJSON([single.guest]).json["notes"] as? [String] ?? []).contains { $0.contains("holds the events of CPU") })
    }

    /// A run folder whose QEMU log is empty (the host capture wrote nothing): skipped as before,
    /// and now said in the run's report (it passed without a word outside the skipped files);
    /// a report written to a file leaves one line on standard error for the CI log.
    @Test func anEmptyCaptureIsSaidInTheReport() throws {
        let files = try RealTraceTests.run("single")
        let folder = temporaryPath("empty-capture-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: files.guest, toPath: "\(folder)/guest-ftrace.txt")
        try Data().write(to: URL(fileURLWithPath: "\(folder)/qemu-trace.log.zst"))
        let out = "\(folder)/../\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try runProcess(["analyze", folder, "--format", "json", "-o", out])
        #expect(r.status == 0)
        #expect(r.stderr.contains("wrote \(out): 1 run(s), none failed (exit 0)"), "\(r.stderr)")
        let batch = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        let notes = ((batch["runs"] as? [[String: Any]])?.first?["notes"] as? [String]) ?? []
        #expect(notes.contains { $0.hasPrefix("\(folder)/qemu-trace.log.zst: empty: if it was to hold one of this run's traces, that capture wrote nothing") }, "\(notes)")
    }

    @Test func aReportOfStandardInputGoesToStandardOutput() throws {
        let f = try RealTraceTests.run("sysrq-hang")
        let console = try Data(contentsOf: URL(fileURLWithPath: f.console))
        let r = try runProcess(["report", "-", f.qemu, "-o", "-", "--quiet"], stdin: console)
        #expect(r.status != 64 && r.stdout.hasPrefix("<!DOCTYPE html>"), "\(r.status) \(r.stderr)")
    }

    @Test func aFolderOfNotesAloneIsNoRunAndSaysSo() throws {
        let dir = temporaryPath("notes-only")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let source = RealTraceTests.realDirectory.appendingPathComponent("hang-sq2")
        for note in ["README.md", "doorbell-stats.txt", "qemu-cmdline.txt"] {
            let target = "\(dir)/\(note)"
            if !FileManager.default.fileExists(atPath: target) {
                try FileManager.default.copyItem(atPath: source.appendingPathComponent(note).path, toPath: target)
            }
        }
        let (status, json, _) = try analyzeJSON([dir])
        #expect(status == 2)
        let run = (json["runs"] as? [[String: Any]])?.first ?? [:]
        #expect(((run["run"] as? [String: Any])?["skipped_files"] as? [[String: Any]] ?? []).count == 3)
    }

    @Test func theConsoleIsPlacedOnTheQEMUClockByItsTimeoutsAndTheControllersAborts() throws {
        let f = try RealTraceTests.run("hang-sq2")
        let (_, json, _) = try analyzeJSON([f.console, f.qemu])
        let alignment = json["alignment"] as? [[String: Any]] ?? []
        let reference = alignment.first { $0["method"] as? String == "reference" }
        #expect(reference?["path"] as? String == f.qemu, "no guest trace: the QEMU log is the reference")
        let console = alignment.first { $0["path"] as? String == f.console }
        #expect(console?["method"] as? String == "messages")
        // Guest seconds since boot → host wall clock: the guest ftrace's alignment of the same
        // run puts the offset near +1795663273.1 s; the console's drifts by ~0.15 s over the run.
        let offset = console?["offset_ns"] as? Int ?? 0
        #expect((1_795_663_272_900_000_000...1_795_663_273_500_000_000).contains(offset), "offset \(offset)")
        let uncertainty = console?["uncertainty_ns"] as? Int ?? Int.max
        #expect(uncertainty <= 5_000_000, "millisecond-scale: \(uncertainty) ns")
        // The console's timeout lines land next to the aborts they caused.
        let clockDomains = json["clock_domains"] as? [[String: Any]] ?? []
        #expect(clockDomains.count == 1, "console and QEMU log on one clock")
    }

    @Test(arguments: healthyRuns)
    func healthyRunsStayCleanInEverySubsetOfTheirInputs(_ name: String) throws {
        let f = try RealTraceTests.run(name)
        for subset in [[f.qemu], [f.guest], [f.console], [f.qemu, f.console], [f.guest, f.console], [f.guest, f.qemu]] {
            let (status, json, _) = try analyzeJSON(subset)
            let bad = Self.signatures(json).filter { $0.severity == "error" || $0.severity == "warning" }
            #expect(status == 0 && bad.isEmpty, "\(name) \(subset.map { ($0 as NSString).lastPathComponent }): \(bad)")
        }
    }

    /// The guest console alone of a hung run is never called healthy: each give-up of the guest
    /// (its timeout messages up to the reset they led to) is an inferred `stuck-command` on the
    /// queue the messages name — both stalls, nothing on the other queue, with or without the
    /// guest's ftrace beside it (which then adds the stuck commands the give-up owns).
    @Test(arguments: [("hang-sq2", "sq2"), ("dat-hang-sq2", "sq2"), ("sysrq-hang", "sq1")])
    func theConsoleAloneOfAHungRunTellsBothGiveUps(_ name: String, _ queue: String) throws {
        let f = try RealTraceTests.run(name)
        // sysrq-hang's console holds the guest's ftrace dump: with the guest ftrace and no QEMU
        // log no pair places it, and it is taken on the guest trace's clock (on a clock of its
        // own its messages told the second give-up again, beside one finding per stuck command).
        for subset in [[f.console], [f.guest, f.console], [f.console, f.guest]] {
            let (status, json, _) = try analyzeJSON(subset)
            let errors = Self.signatures(json).filter { $0.severity == "error" }
            let what = "\(name) \(subset.map { ($0 as NSString).lastPathComponent })"
            #expect(status == 1, "\(what)")
            #expect(!(json["notes"] as? [String] ?? []).contains { $0.contains("not aligned") }, "\(what)")
            #expect(errors.count == 2 && errors.allSatisfy { $0.kind == "stuck-command" && $0.queue == queue }, "\(what): \(errors)")
            let findings = json["findings"] as? [[String: Any]] ?? []
            #expect(findings.allSatisfy { $0["inferred"] as? Bool == true }, "\(what)")
            // The first give-up ended with the reset about 15 s after the first timeout, and
            // the second began after it.
            if errors.count == 2, let end = errors[0].end {
                #expect(errors[1].start > end, "\(what): \(errors)")
            }
            // Each hang lasted about 30 s (two 15 s I/O timeouts): a give-up told by the
            // messages alone is dated one measured I/O timeout before its first message (the
            // console alone said 15.1 s).
            #expect(errors.allSatisfy { ($0.end ?? 0) - $0.start >= 29_000_000_000 }, "\(what): \(errors)")
            // Timeout messages beyond the four listed are counted (dat-hang-sq2's first give-up
            // names five tags; the fifth was left out in silence).
            if name == "dat-hang-sq2", subset == [f.console] {
                #expect(findings.contains { ($0["explanation"] as? String ?? "").contains("1 more is not listed") }, "\(what)")
            }
            // sysrq-hang's dump ends before the second give-up's commands were submitted: its
            // story says so (it said they were submitted before the trace began).
            if name == "sysrq-hang", subset == [f.console] {
                let second = findings.filter { $0["severity"] as? String == "error" }.last?["explanation"] as? String ?? ""
                #expect(second.contains("The guest's trace holds no driver event after") && !second.contains("before the trace began"), "\(second)")
            }
        }
    }

    /// The guest's trace alone of a hung run: each stall is one finding owning the commands
    /// stuck together on its queue (it was one finding per command: 18 for hang-sq2's two
    /// stalls, 16 for sysrq-hang's second), nothing on the other queue. sysrq-hang's trace
    /// begins inside its first stall: that one is told by the driver's ABORTs of commands
    /// submitted before the trace (it was missed).
    @Test(arguments: [("hang-sq2", "sq2", 2), ("dat-hang-sq2", "sq2", 2), ("sysrq-hang", "sq1", 2)])
    func theGuestTraceAloneOfAHungRunTellsEachStallOnce(_ name: String, _ queue: String, _ stalls: Int) throws {
        let f = try RealTraceTests.run(name)
        let (status, json, _) = try analyzeJSON([f.guest])
        #expect(status == 1)
        let errors = Self.signatures(json).filter { $0.severity == "error" }
        #expect(errors.count == stalls && errors.allSatisfy { $0.kind == "stuck-command" && $0.queue == queue }, "\(name): \(errors)")
        let owned = (json["findings"] as? [[String: Any]] ?? []).filter { $0["severity"] as? String == "error" }
            .map { $0["stuck_commands"] as? Int ?? ($0["driver_aborts"] as? Int ?? 0) * 1000 }
        #expect(owned.allSatisfy { $0 >= 2 }, "\(name): \(owned)")
        if errors.count == 2, let end = errors[0].end { #expect(errors[1].start > end, "\(name): \(errors)") }
        // Each hang lasted about 30 s: a stall whose aborted commands the trace does not show
        // submitted (sysrq-hang's trace begins inside its first) is dated one measured I/O
        // timeout before its first ABORT (it read 15.1 s).
        #expect(errors.allSatisfy { ($0.end ?? 0) - $0.start >= 29_000_000_000 }, "\(name): \(errors)")
    }

    /// A pcap cut short (a copy stopped half way): its records are one time order of every
    /// input's events, so the cut takes a whole part or the end of every part. Half of a healthy
    /// run's pcap kept its guest events and a quarter of its QEMU log's, and read as healthy
    /// without a word; it is no verdict of health now. The whole pcap still is one.
    /// A guest trace and a QEMU log put into one file or stream (`cat guest.txt qemu.log`,
    /// `zstd -dc a.zst b.zst | shadowbell analyze -`): the input reads as its first part's
    /// format and passed over the other's events without a word (counted among "other lines
    /// skipped"). It says so, and gives no verdict of health; each file alone says nothing.
    @Test func twoRecordingsInOneInputAreSaid() throws {
        let f = try RealTraceTests.run("mq2")
        try inTemporaryFolder("two-in-one") { tmp in
            let guest = try Data(contentsOf: URL(fileURLWithPath: f.guest)), qemu = try Data(contentsOf: URL(fileURLWithPath: f.qemu))
            for (name, parts, other) in [("guest-then-qemu.txt", [guest, qemu], "a QEMU trace log"), ("qemu-then-guest.log", [qemu, guest], "a guest ftrace trace")] {
                let both = "\(tmp)/\(name)"
                try parts.reduce(Data(), +).write(to: URL(fileURLWithPath: both))
                let (status, json, _) = try analyzeJSON([both])
                let undecided = (json["summary"] as? [String: Any])?["undecided"] as? [String] ?? []
                let notes = json["notes"] as? [String] ?? []
                #expect(status == 0 && undecided.contains { $0.contains("\(other)'s lines in the same input were passed over") }, "\(name): \(undecided)")
                #expect(notes.contains { $0.contains("holds \(other)'s lines too") && $0.contains("Give each recording as its own input") }, "\(name): \(notes)")
            }
            for alone in [f.guest, f.qemu] {
                let (_, json, _) = try analyzeJSON([alone])
                #expect(!((json["notes"] as? [String] ?? []).contains { $0.contains("lines too") }))
            }
        }
    }

    @Test func aPcapCutShortIsNoVerdictOfHealth() throws {
        let dir = RealTraceTests.realDirectory.appendingPathComponent("mq2").path
        try inTemporaryFolder("pcap-cut") { tmp in
            let whole = "\(tmp)/mq2.pcap"
            #expect(runCommand(["convert", dir, "--output", whole, "--quiet"]) == 0)
            let data = try Data(contentsOf: URL(fileURLWithPath: whole))
            let half = "\(tmp)/half.pcap"
            try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: half))
            let cut = try analyzeJSON([half])
            let undecided = (cut.json["summary"] as? [String: Any])?["undecided"] as? [String] ?? []
            #expect(cut.status == 0 && undecided.contains { $0.contains("half.pcap is cut short at byte") }, "\(undecided)")
            let kept = try analyzeJSON([whole])
            #expect(kept.status == 0 && ((kept.json["summary"] as? [String: Any])?["undecided"] as? [String] ?? []).isEmpty)
            // A QEMU simple trace cut inside a record, too: it passed as healthy (exit 0, not
            // undecided) with only a malformed record counted.
            let simple = try Data(contentsOf: packageRoot.appendingPathComponent("SampleTraces/binary/trace-4711"))
            let simpleCut = "\(tmp)/trace-cut"
            try simple.dropLast(3).write(to: URL(fileURLWithPath: simpleCut))
            let s = try analyzeJSON([simpleCut])
            let said = (s.json["summary"] as? [String: Any])?["undecided"] as? [String] ?? []
            #expect(s.status != 1 && said.contains { $0.contains("trace-cut is cut short at byte") }, "\(said)")
        }
    }

    /// An input cut short (a `.zst` truncated in a copy) is an input error, and the other inputs
    /// are still read to their end: both of hang-sq2's stalls are told, nothing on sq1. A QEMU
    /// log cut during the first stall: the stall is a mutual wait judged from the guest's side
    /// after the controller's events end (and says so), the second one a stuck command (no
    /// controller event tells a mutual wait). A guest trace cut before the first stall ended:
    /// both are mutual waits, as the QEMU log tells them alone.
    @Test func anInputCutShortLeavesTheOthersReadToTheirEnd() throws {
        let dir = RealTraceTests.realDirectory.appendingPathComponent("hang-sq2").path
        let console = "\(dir)/console.log"
        func cut(_ name: String, _ bytes: Int) throws -> String {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name)"))
            let path = temporaryPath("cut-\(UUID().uuidString)-\(name)")
            try data.prefix(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
        let qemuCut = try cut("qemu-trace.log.zst", 1_500_000)
        let guestCut = try cut("guest-ftrace.txt.zst", 500_000)
        defer { unlink(qemuCut); unlink(guestCut) }
        for (inputs, kinds) in [
            ([ "\(dir)/guest-ftrace.txt.zst", qemuCut, console], ["mutual-wait", "stuck-command"]),
            ([guestCut, "\(dir)/qemu-trace.log.zst", console], ["mutual-wait", "mutual-wait"]),
        ] {
            let (status, json, _) = try analyzeJSON(inputs)
            let what = inputs.map { ($0 as NSString).lastPathComponent }
            #expect(status == 2, "\(what)")
            #expect((json["input_errors"] as? [[String: Any]] ?? []).count == 1, "\(what)")
            let errors = Self.signatures(json).filter { $0.severity == "error" }
            #expect(errors.map(\.kind) == kinds && errors.allSatisfy { $0.queue == "sq2" }, "\(what): \(errors)")
            if errors.count == 2, let end = errors[0].end { #expect(errors[1].start > end, "\(what): \(errors)") }
            // The give-up told after the controller's trace stopped says so, not that the
            // controller's events show no wait.
            for f in json["findings"] as? [[String: Any]] ?? [] where f["kind"] as? String == "stuck-command" {
                let story = f["explanation"] as? String ?? ""
                #expect(story.contains("The controller's events end") && !story.contains("show no mutual wait"), "\(what): \(story)")
            }
            // With the guest trace cut, the QEMU log's events after it are placed by an offset
            // extrapolated past the causal pairs: the second stall says so (its ABORT read 155
            // ms after the guest's message that sent it, with ±26 µs stated and nothing said).
            if inputs[0] == guestCut {
                let second = (json["findings"] as? [[String: Any]] ?? []).filter { $0["severity"] as? String == "error" }.last
                let doubts = (second?["uncertainty"] as? [String] ?? []).joined(separator: " | ")
                #expect(second?["uncertain"] as? Bool == true && doubts.contains("its offset there is extrapolated"), "\(what): \(doubts)")
            }
        }
    }

    /// A ShadowBell pcap converted from a run's files reports what the files report, at the
    /// same times: each record says which format its input had, so the guest console's clock
    /// rules and the reference rule see the inputs as they were.
    @Test(arguments: ["hang-sq2", "sysrq-hang", "single"])
    func aPcapOfTheRunsFilesReportsWhatTheFilesReport(_ name: String) throws {
        let f = try RealTraceTests.run(name)
        for subset in [[f.guest, f.qemu, f.console], [f.qemu, f.console], [f.guest, f.console]] {
            let pcap = temporaryPath("\(name)-\(subset.count)-\(UUID().uuidString).pcap")
            defer { unlink(pcap) }
            #expect(runCommand(["convert"] + subset + ["--output", pcap]) == 0)
            let (_, original, _) = try analyzeJSON(subset)
            let (_, converted, _) = try analyzeJSON([pcap])
            let what = "\(name) \(subset.map { ($0 as NSString).lastPathComponent })"
            #expect(Self.signatures(converted) == Self.signatures(original), "\(what)")
            let recorded = (converted["inputs"] as? [[String: Any]] ?? []).compactMap { $0["recorded_format"] as? String }
            let formats = (original["inputs"] as? [[String: Any]] ?? []).compactMap { $0["format"] as? String }
            #expect(recorded == formats, "\(what)")
        }
    }

    /// `convert` of a run folder holding one guest recording in three forms (ftrace text,
    /// `trace-cmd report` text, trace.dat) writes it once, as analyze reads it once (every guest
    /// event went into the pcap three times), and says which it left out.
    @Test func convertOfAFolderWritesARecordingKeptTwiceOnce() throws {
        let dir = RealTraceTests.realDirectory.appendingPathComponent("dat-hang-sq2").path
        let pcap = temporaryPath("dat-\(UUID().uuidString).pcap")
        defer { unlink(pcap) }
        let r = try runProcess(["convert", dir, "--output", pcap])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.components(separatedBy: "the same guest recording").count - 1 == 2, "\(r.stderr)")
        let (_, folder, _) = try analyzeJSON([dir])
        let (_, converted, _) = try analyzeJSON([pcap])
        let run = (folder["runs"] as? [[String: Any]])?.first ?? folder
        #expect(Self.signatures(converted) == Self.signatures(run))
        let events = (converted["inputs"] as? [[String: Any]] ?? []).compactMap { $0["events"] as? Int }.reduce(0, +)
        let kept = (run["inputs"] as? [[String: Any]] ?? []).filter { !(($0["path"] as? String ?? "").contains("guest-")) }
            .compactMap { $0["events"] as? Int }.reduce(0, +)
        #expect(events == kept, "\(events) events in the pcap, \(kept) in trace.dat, the QEMU log and the console")
        // Its clock domains are named by the recording each holds (they all read "the pcap",
        // aligned to itself), and a record's place is told as a pcap's, not a trace.dat's.
        let notes = (converted["alignment"] as? [[String: Any]] ?? []).compactMap { $0["note"] as? String }
        #expect(notes.contains { $0.hasPrefix("aligned to \(pcap) (its trace-dat events) from") }, "\(notes)")
        let story = try runProcess(["explain", pcap, "--finding", "2"])
        #expect(story.stdout.contains("of the pcap: `tshark -r` shows it") && !story.stdout.contains("CPU data stream"), "\(story.stdout)")
    }

    /// The analysis part of Docs/Capture.md's CI recipe, on run folders as they are kept.
    @Test func theCIRecipeOfTheCaptureGuideFindsTheHang() throws {
        let artifacts = temporaryPath("artifacts")
        try? FileManager.default.removeItem(atPath: artifacts)
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(artifacts)/run-1", withDestinationPath: try Self.folder("hang-sq2"))
        try FileManager.default.createSymbolicLink(atPath: "\(artifacts)/run-2", withDestinationPath: try Self.folder("single"))

        // One analysis writes both (the recipe ran it twice).
        let junit = "\(artifacts)/junit.xml"
        let jsonl = "\(artifacts)/results.jsonl"
        #expect(runCommand(["analyze", artifacts, "--format", "jsonl", "--output", jsonl, "--junit", junit, "--quiet"]) == 1)
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        #expect(xml.contains("mutual-wait") && xml.contains("classname=\"shadowbell.run-1.nvme0\""))
        // The JUnit report and the report in one place would be one written over the other.
        #expect(try runProcess(["analyze", artifacts, "--junit", "-", "--quiet"]).status == 64)
        #expect(try runProcess(["analyze", artifacts, "-o", junit, "--junit", junit, "--quiet"]).status == 64)
        let lines = try String(contentsOfFile: jsonl, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        var hung = 0
        for line in lines {
            let run = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            let waits = Self.signatures(run).filter { $0.kind == "mutual-wait" && $0.severity == "error" }
            if !waits.isEmpty {
                hung += 1
                #expect(waits.allSatisfy { $0.queue == "sq2" })
            }
        }
        #expect(hung == 1, "exactly the hung run fails")
        let html = "\(artifacts)/report.html"
        #expect(runCommand(["report", "\(artifacts)/run-1", "--output", html, "--quiet"]) == 0)
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("mutual-wait") && !page.contains("README.md"))
    }
}
