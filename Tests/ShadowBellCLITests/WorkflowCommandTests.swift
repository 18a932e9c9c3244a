import Foundation
#if canImport(FoundationXML)
    import FoundationXML
#endif
import Testing
@testable import shadowbell

/// A fresh directory tree of runs made from the sample traces:
/// vm-a/ (guest ftrace + QEMU log, with a README that is not a trace), vm-b/sq-hang.txt,
/// nested/vm-c/cq-hang.txt.
private func makeRunTree() throws -> String {
    let root = temporaryPath("runs-\(UUID().uuidString)")
    let fm = FileManager.default
    for dir in ["vm-a", "vm-b", "nested/vm-c"] {
        try fm.createDirectory(atPath: "\(root)/\(dir)", withIntermediateDirectories: true)
    }
    try fm.copyItem(atPath: sample("real-single/guest-ftrace.txt"), toPath: "\(root)/vm-a/guest-ftrace.txt")
    try fm.copyItem(atPath: sample("real-single/qemu-trace.log"), toPath: "\(root)/vm-a/qemu-trace.log")
    try "fio job notes, not a trace\n".write(toFile: "\(root)/vm-a/README", atomically: true, encoding: .utf8)
    try fm.copyItem(atPath: sample("lab/sq-hang.txt"), toPath: "\(root)/vm-b/sq-hang.txt")
    try fm.copyItem(atPath: sample("lab/cq-hang.txt"), toPath: "\(root)/nested/vm-c/cq-hang.txt")
    return root
}

private func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

@Suite struct BatchGroupingTests {
    /// A planner over an imaginary file system.
    private func planner(_ groupBy: GroupBy? = nil) -> RunPlanner {
        var p = RunPlanner(groupBy: groupBy)
        let tree = ["runs": ["runs/a/guest.txt", "runs/a/qemu.log", "runs/a/fio.json", "runs/b/trace.txt"]]
        p.isDirectory = { tree[$0] != nil }
        p.listDirectory = { tree[$0] ?? [] }
        p.isTrace = { $0.hasSuffix(".json") ? "not a trace (JSON)" : nil }
        p.exists = { _ in true }
        return p
    }

    @Test func explicitFilesStayOneRun() {
        let runs = planner().plan(paths: ["x/guest.txt", "y/qemu.log"], listed: [])
        #expect(runs.map(\.paths) == [["x/guest.txt", "y/qemu.log"]])
    }

    @Test func directoriesGroupByDirectoryAndDirectFilesStandAlone() {
        let runs = planner().plan(paths: ["runs", "other/one.txt"], listed: [])
        #expect(runs.map(\.name) == ["runs/a", "runs/b", "other/one.txt"])
        #expect(runs[0].paths == ["runs/a/guest.txt", "runs/a/qemu.log"])
        #expect(runs[0].skipped == [SkippedFile(path: "runs/a/fio.json", reason: "not a trace (JSON)")])
    }

    /// `analyze .` in a run's folder names the run by its folder (it was named "."), and so do
    /// `..` and files named without a folder; every other name stays as written.
    @Test func aRunNamedDotIsNamedByItsFolder() throws {
        let root = temporaryPath("dotname-\(getpid())")
        try FileManager.default.createDirectory(atPath: "\(root)/vm-a/sub", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(RunPlanner.folderName("\(root)/vm-a/.") == "vm-a")
        #expect(RunPlanner.folderName("\(root)/vm-a/sub/..") == "vm-a")
        #expect(RunPlanner.folderName("runs/a") == "runs/a")
        #expect(RunPlanner.folderName("\(root)/missing/.") == "\(root)/missing/.")
        var p = RunPlanner()
        p.isDirectory = { $0 == "\(root)/vm-a/." }
        p.listDirectory = { _ in ["\(root)/vm-a/./guest.txt"] }
        p.isTrace = { _ in nil }
        #expect(p.plan(paths: ["\(root)/vm-a/."], listed: []).map(\.name) == ["vm-a"])
    }

    /// A folder with no trace whose files tell of a run (its notes, an empty trace) is that
    /// run, an input error: its traces are missing. A folder of scripts stays skipped, and so
    /// does the top of the scanned tree, and a folder whose runs lie below it.
    @Test func aRunFolderWithoutItsTracesIsAnInputErrorRun() {
        var p = RunPlanner()
        let tree = ["runs": [
            "runs/README.md", "runs/a/guest.txt", "runs/a/notes.txt", "runs/c/stats.txt", "runs/c/cmdline.txt",
            "runs/d/guest-ftrace.txt", "runs/s/run.sh", "runs/v/README.md", "runs/v/guest/g.txt", "runs/v/host/q.log",
            "runs/w/README.md", "runs/w/x/g.txt", "runs/w/y/q.log", "runs/z/guest.txt.bz2", "runs/z/run.sh",
        ]]
        p.isDirectory = { tree[$0] != nil }
        p.listDirectory = { tree[$0] ?? [] }
        p.isTrace = { path in
            switch path {
            case "runs/README.md", "runs/a/notes.txt", "runs/c/stats.txt", "runs/v/README.md", "runs/w/README.md":
                return "notes, not a QEMU log: 1 of its first 5 lines are trace events"
            case "runs/d/guest-ftrace.txt": return "runs/d/guest-ftrace.txt: file is empty"
            case "runs/c/cmdline.txt", "runs/s/run.sh", "runs/z/run.sh": return "not a trace (text)"
            case "runs/z/guest.txt.bz2": return "not a trace (bzip2-compressed data; decompress it first (gzip, zstd and xz are read as they are))"
            default: return nil
            }
        }
        let (runs, unowned) = p.planBatch(paths: ["runs"], listed: [])
        // (A run kept as a guest and a host folder is one run, its notes its own.)
        // (A trace in a form ShadowBell does not read, bzip2 here, is an input of its run, which
        // fails saying why when it is read: it vanished from the batch, exit 0.)
        #expect(runs.map(\.name) == ["runs/a", "runs/c", "runs/d", "runs/v", "runs/w/x", "runs/w/y", "runs/z"])
        #expect(runs.map { $0.problem != nil } == [false, true, true, false, false, false, false])
        #expect(runs[6].paths == ["runs/z/guest.txt.bz2"] && runs[6].skipped.map(\.path) == ["runs/z/run.sh"])
        #expect(runs[3].paths == ["runs/v/guest/g.txt", "runs/v/host/q.log"] && runs[3].skipped.map(\.path) == ["runs/v/README.md"])
        #expect(runs[1].problem?.contains("no trace file in this run's folder: 2 file(s) skipped, among them the run's notes") == true)
        #expect(runs[2].problem?.contains("among them an empty file") == true)
        #expect(runs[1].skipped.map(\.path) == ["runs/c/stats.txt", "runs/c/cmdline.txt"])
        #expect(unowned.map(\.path) == ["runs/README.md", "runs/s/run.sh", "runs/w/README.md"])
        // A list naming the current folder's notes beside runs below it: no run of ".".
        #expect(RunPlanner.isWithin("runs/a", ".") && RunPlanner.isWithin("runs/a", "runs") && !RunPlanner.isWithin("runs-b/a", "runs"))
        #expect(!RunPlanner.isWithin("/abs/a", "."))
    }

    /// What a nightly tree holds when it goes wrong, on real files:
    /// - a trace ShadowBell does not read (bzip2) beside the run's other traces fails the run
    ///   (exit 2), which was judged from the others and passed with a hung guest's trace in it;
    /// - a VM folder holding only the files a run leaves beside its traces (the QEMU command
    ///   line, fio's output) is a run whose traces are lost, an input error (it vanished from
    ///   the batch); a folder of scripts naming qemu-system stays skipped;
    /// - a run folder reached again through a link (`latest -> vm-03`) is one run, not two;
    /// - a folder without traces named twice is one input-error run, and each lost folder of a
    ///   list is a run of its own (they were one run named after their parent).
    @Test func aNightlyTreesMishapsAreEachSaidOnce() throws {
        try inTemporaryFolder("nightly") { root in
            let night = "\(root)/night"
            for folder in ["vm-01", "vm-02", "vm-x", "vm-y", "vm-empty", "scripts"] {
                try FileManager.default.createDirectory(atPath: "\(night)/\(folder)", withIntermediateDirectories: true)
            }
            try FileManager.default.copyItem(atPath: sample("lab/cq-hang.txt"), toPath: "\(night)/vm-01/guest.txt")
            try FileManager.default.copyItem(atPath: sample("lab/sq-hang.txt"), toPath: "\(night)/vm-02/guest.txt")
            // bzip2's magic: what ShadowBell does not read.
            try Data("BZh91AY&SY".utf8 + [UInt8](repeating: 7, count: 64)).write(to: URL(fileURLWithPath: "\(night)/vm-01/qemu.log.bz2"))
            try "qemu-system-x86_64 -machine q35 -drive file=disk.img,if=none,id=d0 -device nvme,drive=d0\n"
                .write(toFile: "\(night)/vm-x/qemu-cmdline.txt", atomically: true, encoding: .utf8)
            try "fio-3.33\nRun status group 0 (all jobs):\n".write(toFile: "\(night)/vm-y/fio.log", atomically: true, encoding: .utf8)
            try "#!/bin/sh\nqemu-system-x86_64 -machine q35\n".write(toFile: "\(night)/scripts/start-vm", atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: "\(night)/latest", withDestinationPath: "vm-02")

            let (status, json, _) = try analyzeJSON([night, "\(night)/vm-empty"], extra: ["--quiet"])
            #expect(status == 2)
            let runs = json["runs"] as? [[String: Any]] ?? []
            let names = runs.compactMap { ($0["run"] as? [String: Any])?["name"] as? String }
            #expect(names == ["vm-01", "vm-02", "vm-empty", "vm-x", "vm-y"].map { "\(night)/\($0)" }, "\(names)")
            let errors = runs.map { ($0["input_errors"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }.joined() }
            #expect(errors[0].contains("qemu.log.bz2") && errors[0].contains("decompress it first"), "\(errors[0])")
            #expect(errors[3].contains("the QEMU command line") && errors[4].contains("fio's output"), "\(errors)")
            let skipped = (json["summary"] as? [String: Any])?["skipped_files"] as? [[String: Any]] ?? []
            #expect(skipped.contains { ($0["reason"] as? String ?? "").contains("again, through a link") && $0["path"] as? String == "\(night)/latest" }, "\(skipped)")
            #expect(skipped.contains { $0["path"] as? String == "\(night)/scripts/start-vm" })

            let list = "\(root)/list.txt"
            try ["vm-02", "vm-98", "vm-99"].map { "\(night)/\($0)\n" }.joined().write(toFile: list, atomically: true, encoding: .utf8)
            let (_, listed, _) = try analyzeJSON([], extra: ["--files-from", list, "--quiet"])
            let listedNames = (listed["runs"] as? [[String: Any]] ?? []).compactMap { ($0["run"] as? [String: Any])?["name"] as? String }
            #expect(listedNames == ["vm-02", "vm-98", "vm-99"].map { "\(night)/\($0)" }, "\(listedNames)")
            // `find … -print0`'s list: one path per NUL-terminated entry (it was one path of
            // them all, "no trace file found").
            try ["vm-02", "vm-98", "vm-99"].map { "\(night)/\($0)\0" }.joined().write(toFile: list, atomically: true, encoding: .utf8)
            let (_, nul, _) = try analyzeJSON([], extra: ["--files-from", list, "--quiet"])
            let nulNames = (nul["runs"] as? [[String: Any]] ?? []).compactMap { ($0["run"] as? [String: Any])?["name"] as? String }
            #expect(nulNames == listedNames, "\(nulNames)")
        }
    }

    /// On real files: a run folder whose only trace is empty is an input-error run (it vanished
    /// from the batch, exit 0 or 1); a folder of scripts beside the runs stays skipped; a
    /// `--files-from` list skips what is no trace, as a folder or the command line does (a
    /// run's poke.log among its traces made the list exit 2).
    /// So is a folder beside the runs that holds nothing at all (it was mentioned nowhere,
    /// exit 0), reported by its topmost empty folder; an empty folder inside a run's own
    /// folder is no run.
    @Test func aCaptureThatWroteNothingFailsTheBatch() throws {
        let root = temporaryPath("lost-capture")
        try? FileManager.default.removeItem(atPath: root)
        for folder in ["ok", "emptyrun", "scripts", "ok/old", "vm9/trace"] {
            try FileManager.default.createDirectory(atPath: "\(root)/runs/\(folder)", withIntermediateDirectories: true)
        }
        let trace = packageRoot.appendingPathComponent("SampleTraces/lab/cq-hang.txt").path
        try FileManager.default.copyItem(atPath: trace, toPath: "\(root)/runs/ok/cq-hang.txt")
        FileManager.default.createFile(atPath: "\(root)/runs/emptyrun/guest-ftrace.txt", contents: Data())
        try "#!/bin/sh\necho run\n".write(toFile: "\(root)/runs/scripts/run.sh", atomically: true, encoding: .utf8)

        let batch = try runProcess(["analyze", "\(root)/runs", "--format", "json", "--quiet"])
        #expect(batch.status == 2)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(batch.stdout.utf8)) as? [String: Any])
        let runs = (json["runs"] as? [[String: Any]] ?? []).compactMap { ($0["run"] as? [String: Any])?["name"] as? String }
        #expect(runs == ["\(root)/runs/emptyrun", "\(root)/runs/ok", "\(root)/runs/vm9"])
        let vm9 = (json["runs"] as? [[String: Any]] ?? []).last?["input_errors"] as? [[String: Any]]
        #expect((vm9?.first?["message"] as? String)?.contains("runs/vm9: this run's folder is empty") == true, "\(vm9 ?? [])")
        let summary = json["summary"] as? [String: Any]
        #expect(summary?["runs_with_input_errors"] as? Int == 2)
        #expect((summary?["skipped_files"] as? [[String: Any]])?.compactMap { $0["path"] as? String } == ["\(root)/runs/scripts/run.sh"])

        let list = "\(root)/list.txt"
        try "\(root)/runs/ok/cq-hang.txt\n\(root)/runs/scripts/run.sh\n".write(toFile: list, atomically: true, encoding: .utf8)
        let listed = try runProcess(["analyze", "--files-from", list, "--quiet"])
        #expect(listed.status == 1, "\(listed.stderr)")
        #expect(listed.stdout.contains("run.sh: not a trace"))
    }

    /// Folders linked from inside themselves (`runs/a/up -> ..`, `runs/b/up -> ..`) are not
    /// walked again: the scan of a tree holding two such links never ended.
    @Test func linksBackUpTheTreeEndTheScan() throws {
        let root = temporaryPath("linked-back-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: root) }
        for folder in ["a", "b"] {
            try FileManager.default.createDirectory(atPath: "\(root)/runs/\(folder)", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: "\(root)/runs/\(folder)/up", withDestinationPath: "..")
        }
        try FileManager.default.copyItem(atPath: sample("lab/cq-hang.txt"), toPath: "\(root)/runs/a/cq-hang.txt")
        #expect(RunPlanner.filesUnder("\(root)/runs") == ["\(root)/runs/a/cq-hang.txt"])
        #expect(RunPlanner.emptyFoldersUnder("\(root)/runs").isEmpty)
        let batch = try runProcess(["analyze", "\(root)/runs", "--format", "json", "--quiet"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(batch.stdout.utf8)) as? [String: Any])
        #expect((json["runs"] as? [[String: Any]])?.count == 1)
    }

    @Test func listsGroupByDirectory() {
        let runs = planner().plan(paths: [], listed: ["l/1/g.txt", "l/2/g.txt", "l/1/q.log"])
        #expect(runs.map(\.paths) == [["l/1/g.txt", "l/1/q.log"], ["l/2/g.txt"]])
    }

    @Test func groupByChoosesTheRule() {
        #expect(planner(.file).plan(paths: ["runs"], listed: []).map(\.paths) == [["runs/a/guest.txt"], ["runs/a/qemu.log"], ["runs/b/trace.txt"]])
        #expect(planner(.directory).plan(paths: ["p/a.txt", "q/b.txt", "p/c.txt"], listed: []).map(\.paths) == [["p/a.txt", "p/c.txt"], ["q/b.txt"]])
    }

    @Test func aDirectoryWithoutTracesIsAnInputProblem() {
        var p = planner()
        p.isDirectory = { $0 == "empty" }
        p.listDirectory = { _ in [] }
        let runs = p.plan(paths: ["empty"], listed: [])
        #expect(runs.count == 1 && runs[0].problem?.contains("no trace file found") == true)
    }

    /// Files of a scanned tree that no run holds (a folder of scripts beside the run folders, a
    /// file at its top) are listed with the batch (they were listed nowhere); a directory
    /// without any trace keeps its place on the command line (it came last).
    @Test func filesInNoRunAreListedAndRunsKeepTheCommandLineOrder() {
        var p = planner()
        let tree = ["real": ["real/events-all", "real/a/guest.txt", "real/a/notes.json", "real/recipe/run.json"],
                    "scripts": ["scripts/x.json"], "b": ["b/trace.txt"]]
        p.isDirectory = { tree[$0] != nil }
        p.listDirectory = { tree[$0] ?? [] }
        p.isTrace = { $0.hasSuffix(".json") || $0.hasSuffix("-all") ? "not a trace" : nil }
        let (runs, unowned) = p.planBatch(paths: ["real", "scripts", "b"], listed: [])
        #expect(runs.map(\.name) == ["real/a", "scripts", "b"])
        #expect(runs[0].skipped.map(\.path) == ["real/a/notes.json"])
        #expect(runs[1].problem != nil && runs[1].skipped.map(\.path) == ["scripts/x.json"])
        #expect(unowned.map(\.path) == ["real/events-all", "real/recipe/run.json"])
    }

    @Test func parallelMapReturnsResultsInIndexOrder() {
        let out = parallelMap(64, workers: 4) { i -> Int in
            usleep(UInt32((i * 7919) % 13) * 300)
            return i * i
        }
        #expect(out == (0..<64).map { $0 * $0 })
    }
}

@Suite(.serialized) struct BatchCommandTests {
    @Test func directoryBatchGivesOneResultPerRunAndTheWorstStatus() throws {
        let root = try makeRunTree()
        let out = temporaryPath("batch-\(UUID().uuidString).jsonl")
        let status = runCommand(["analyze", root, "--format", "jsonl", "--output", out])
        #expect(status == 1)
        let lines = try read(out).split(separator: "\n")
        #expect(lines.count == 3)
        let docs = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let names = docs.map { ($0["run"] as? [String: Any])?["name"] as? String }
        #expect(names == ["\(root)/nested/vm-c", "\(root)/vm-a", "\(root)/vm-b"])
        let statuses = docs.map { ($0["summary"] as? [String: Any])?["exit_status"] as? Int }
        #expect(statuses == [1, 0, 1])
        let skipped = (docs[1]["run"] as? [String: Any])?["skipped_files"] as? [[String: Any]]
        #expect(skipped?.first?["path"] as? String == "\(root)/vm-a/README")
        // vm-a's guest trace and QEMU log are one run, aligned as when named directly.
        #expect((docs[1]["inputs"] as? [Any])?.count == 2)
        #expect(((docs[1]["alignment"] as? [[String: Any]])?.last?["method"] as? String) == "estimated")
    }

    @Test func outputIsTheSameWhateverTheThreadTiming() throws {
        let root = try makeRunTree()
        var outputs: Set<String> = []
        for jobs in ["1", "2", "3", "8", "8"] {
            let out = temporaryPath("batch-\(UUID().uuidString).json")
            #expect(runCommand(["analyze", root, "--format", "json", "--jobs", jobs, "--output", out]) == 1)
            outputs.insert(try read(out))
        }
        #expect(outputs.count == 1)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(outputs.first!.utf8)) as? [String: Any])
        #expect((doc["runs"] as? [Any])?.count == 3)
        #expect((doc["summary"] as? [String: Any])?["runs_failed"] as? Int == 2)
        #expect((doc["summary"] as? [String: Any])?["exit_status"] as? Int == 1)
    }

    @Test func filesFromReadsAListAndGroupsByDirectory() throws {
        let root = try makeRunTree()
        let list = temporaryPath("list-\(UUID().uuidString).txt")
        try "# runs of tonight\n\(root)/vm-a/guest-ftrace.txt\n\n\(root)/vm-b/sq-hang.txt\n\(root)/vm-a/qemu-trace.log\n"
            .write(toFile: list, atomically: true, encoding: .utf8)
        let out = temporaryPath("list-\(UUID().uuidString).jsonl")
        #expect(runCommand(["analyze", "--files-from", list, "--format", "jsonl", "--output", out]) == 1)
        let runs = try read(out).split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let paths = runs.map { ($0?["run"] as? [String: Any])?["paths"] as? [String] }
        #expect(paths == [["\(root)/vm-a/guest-ftrace.txt", "\(root)/vm-a/qemu-trace.log"], ["\(root)/vm-b/sq-hang.txt"]])
        let piped = try runProcess(["analyze", "--files-from", "-", "--format", "jsonl", "--fail-on", "never"], stdin: Data("\(root)/vm-a/qemu-trace.log\n".utf8))
        #expect(piped.status == 0)
        #expect(piped.stdout.split(separator: "\n").count == 1)
    }

    @Test func explicitFilesKeepTheSingleRunDocument() throws {
        let (_, json, _) = try analyzeJSON([sample("lab/sq-hang.txt")], extra: ["--jobs", "2"])
        #expect(json["runs"] == nil && json["findings"] != nil)
    }

    @Test func junitOfABatchValidatesWithOneSuitePerRun() throws {
        let root = try makeRunTree()
        let out = temporaryPath("batch-\(UUID().uuidString).xml")
        #expect(runCommand(["analyze", root, "--format", "junit", "--output", out]) == 1)
        let xml = try read(out)
        let doc = try XMLDocument(xmlString: xml)
        #expect(try doc.nodes(forXPath: "/testsuites/testsuite").count == 3)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["xmllint", "--noout", "--schema", packageRoot.appendingPathComponent("Tests/ShadowBellReportTests/Fixtures/junit.xsd").path, out]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "xmllint rejected \(out) (install libxml2-utils: .ci/run does)")
    }

    @Test func failOnAndAnnotations() throws {
        let hang = sample("lab/sq-hang.txt")
        #expect(try runProcess(["analyze", hang, "--fail-on", "never"]).status == 0)
        // A batch under `never` says how many runs hold error findings ("0 failed" alone read as
        // no hang anywhere).
        let batch = try runProcess(["analyze", hang, sample("lab/sim-healthy-racing.txt"), "--group-by", "file", "--fail-on", "never"])
        #expect(batch.status == 0)
        #expect(batch.stdout.contains("Result: 0 run(s) failed, 0 with input errors, 1 with error findings that fail no run (--fail-on never) (exit 0)"), "\(batch.stdout.suffix(300))")
        #expect(try runProcess(["analyze", hang, "--fail-on", "warning"]).status == 1)
        #expect(try runProcess(["analyze", "/nonexistent/x.txt", "--fail-on", "never"]).status == 2)
        #expect(try runProcess(["analyze", hang, "--fail-on", "sometimes"]).status == 64)
        let r = try runProcess(["analyze", hang, "--github-annotations", "--format", "json"])
        let annotations = r.stderr.split(separator: "\n").filter { $0.hasPrefix("::") }
        // One hang, one finding: the window owns its three stuck commands.
        #expect(annotations.count == 1)
        #expect(annotations.contains { $0.hasPrefix("::error file=\(hang),line=37,title=mutual-wait nvme0%3Asq1::nvme0 SQ 1: driver and controller") })
        #expect(!r.stdout.contains("::error"))
    }

    @Test func anEmptyDirectoryIsAnInputError() throws {
        let dir = temporaryPath("empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let r = try runProcess(["analyze", dir])
        #expect(r.status == 2)
        #expect(r.stderr.contains("no trace file found") && r.stderr.contains("Docs/Capture.md"))
    }

    /// Unrelated traces in one folder share command ids by chance: pairs that would put two
    /// clocks drifting more than 5 % apart place no input (the folder of the lab samples was
    /// "aligned" at -1,015,360 ppm).
    @Test func pairsOfNoRunsClocksPlaceNoInput() throws {
        let dir = temporaryPath("lab-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["cq-hang.txt", "sim-cq-hang.txt", "sim-healthy-racing.txt", "sim-sq-hang.txt", "sq-hang.txt"] {
            try FileManager.default.copyItem(atPath: sample("lab/\(name)"), toPath: "\(dir)/\(name)")
        }
        let r = try analyzeJSON([dir])
        let run = (r.json["runs"] as? [[String: Any]])?.first ?? r.json
        let alignment = run["alignment"] as? [[String: Any]] ?? []
        #expect(!alignment.isEmpty)
        #expect(alignment.allSatisfy { abs(($0["drift_ppm"] as? Int) ?? 0) <= 50_000 }, "\(alignment.map { $0["drift_ppm"] ?? "" })")
    }

    /// A healthy run's console log alone tells nothing of its queues: the report says so (it
    /// said "no error finding" and nothing more); no error (a healthy run stays clean from any
    /// subset of its files).
    @Test func aConsoleLogWithoutNVMeTroubleAloneSaysWhatItCannotTell() throws {
        let healthy = try RealTraceTests.run("mq2")
        let r = try runProcess(["analyze", healthy.console, "--format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("nothing here shows its queues"))
        let hung = try RealTraceTests.run("hang-sq2")
        #expect(try runProcess(["analyze", hung.console, "--quiet"]).status == 1, "its timeouts are findings")
        #expect(try runProcess(["analyze", healthy.console, healthy.qemu, "--quiet"]).status == 0)
    }

    /// Two outputs that are one file are refused before anything is written, also when the file
    /// is not there yet and its name is spelled two ways (the JUnit report replaced the JSON
    /// Lines), and so is `summarize` writing over a results file it reads.
    @Test func outputsThatAreOneFileAreRefused() throws {
        let dir = temporaryPath("one-file-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let hang = sample("lab/sq-hang.txt")
        #expect(try runProcess(["analyze", hang, "--format", "jsonl", "-o", "\(dir)/x.jsonl", "--junit", "\(dir)/./x.jsonl"]).status == 64)
        #expect(try runProcess(["analyze", hang, "-o", "\(dir)/a.json", "--junit", "\(dir)/j.xml", "--write-baseline", "\(dir)/../\((dir as NSString).lastPathComponent)/j.xml"]).status == 64)
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/x.jsonl") && !FileManager.default.fileExists(atPath: "\(dir)/j.xml"))
        let results = "\(dir)/r.jsonl"
        #expect(try runProcess(["analyze", hang, "--format", "jsonl", "-o", results, "--junit", "\(dir)/j.xml"]).status == 1)
        let before = try read(results)
        #expect(try runProcess(["summarize", results, "-o", results]).status == 64)
        #expect(try read(results) == before)
    }

    /// A run folder's trace that cannot be read (here a link to nothing; a file or folder without
    /// permission alike) fails its run as an input error: it was skipped like a README and the
    /// run passed without it (exit 0). A FIFO in a scanned folder is not read, but listed.
    @Test func aTraceInAFolderThatCannotBeReadFailsItsRun() throws {
        let root = temporaryPath("unreadable-\(UUID().uuidString)")
        let run = root + "/vm-a"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.copyItem(atPath: sample("lab/sim-healthy-racing.txt"), toPath: run + "/guest-ftrace.txt")
        #expect(try runProcess(["analyze", root, "--quiet"]).status == 0)
        try FileManager.default.createSymbolicLink(atPath: run + "/qemu-trace.log", withDestinationPath: root + "/nowhere.log")
        #expect(mkfifo(run + "/pipe", 0o600) == 0)
        let r = try runProcess(["analyze", root, "--format", "jsonl"])
        #expect(r.status == 2, "\(r.stdout.suffix(600))")
        #expect(r.stderr.contains("qemu-trace.log: cannot open"), "\(r.stderr)")
        #expect(r.stdout.contains("not a regular file"), "the FIFO is listed")
    }

    /// A console alone (its ftrace dump holds the driver's commands, no controller event): the
    /// timeline's rows printed `busy unfetched=16`, a controller state nothing in it shows.
    @Test func aTimelineWithoutTheControllerSaysItsStateIsUnknown() throws {
        let console = RealTraceTests.realDirectory.appendingPathComponent("sysrq-hang/console.log.zst").path
        let r = try runProcess(["timeline", console, "--queue", "nvme0:sq1", "--max-events", "50"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("controller ?") && !r.stdout.contains("unfetched=") && !r.stdout.contains(" busy"), "\(r.stdout.prefix(600))")
    }

    /// A trace whose name is not valid UTF-8 (a Latin-1 `é`) is listed with U+FFFD, a name no
    /// file has: it was passed over without a word, and a hung run's only trace beside a
    /// healthy one passed (exit 0). It fails its run, and the message says why.
    @Test func aTraceNamedInAnotherEncodingFailsItsRun() throws {
        let root = temporaryPath("latin1-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.copyItem(atPath: sample("lab/sim-healthy-racing.txt"), toPath: root + "/healthy.txt")
        // The name's bytes as they are (`sq-hang-\xe9.txt`): Swift's strings would repair them.
        let name = Array((root + "/sq-hang-").utf8) + [0xE9] + Array(".txt".utf8) + [0]
        let fd = name.withUnsafeBufferPointer { open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_WRONLY | O_CREAT, 0o644) }
        #expect(fd >= 0)
        let hang = try Data(contentsOf: URL(fileURLWithPath: sample("lab/sq-hang.txt")))
        _ = hang.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        let r = try runProcess(["analyze", root])
        #expect(r.status == 2, "\(r.stdout.suffix(600))")
        #expect(r.stderr.contains("cannot open") && r.stderr.contains("the name is not valid UTF-8"), "\(r.stderr)")
    }
}

@Suite(.serialized) struct PictureCommandTests {
    @Test func reportOfTheSampleHangIsSelfContainedAndPlacesTheWindow() throws {
        let out = temporaryPath("report-\(UUID().uuidString).html")
        #expect(runCommand(["report", sample("lab/sq-hang.txt"), "--output", out]) == 0)
        let html = try read(out)
        #expect(!html.lowercased().contains("<script"))
        let external = try NSRegularExpression(pattern: "(src|href)\\s*=\\s*\"(https?:)?//", options: .caseInsensitive)
        #expect(external.firstMatch(in: html, range: NSRange(html.startIndex..., in: html)) == nil)
        #expect(html.contains("<table class=\"findings\">") && html.contains("<table class=\"queues\">"))
        // The mutual wait: an unresolved window from the controller's read at line 39 to the
        // right edge, where the end of the trace is labelled.
        let article = try #require(html.components(separatedBy: "<article").first { $0.contains("mutual-wait on nvme0:sq1") })
        let rect = try #require(article.range(of: "<rect class=\"window\"").map { String(article[$0.lowerBound...].prefix(400)) })
        #expect(rect.contains("data-start-ns=\"100002014000\" data-end-ns=\"\""))
        let x = try #require(attribute("x", in: rect).flatMap(Double.init))
        let width = try #require(attribute("width", in: rect).flatMap(Double.init))
        let opening = try #require(article.range(of: "data-time-ns=\"100002014000\" data-location=\"0:39\"").map { String(article[$0.lowerBound...].prefix(200)) })
        #expect(attribute("data-x", in: opening).flatMap(Double.init).map { abs($0 - x) < 0.01 } == true)
        #expect(abs(x + width - 1060) < 0.01)
        #expect(article.contains(">end of trace<") && article.contains(">+30.007 s<"))
        // Evidence lines quoted from the file, with badges 1–3 in the picture.
        #expect(article.contains("nvme_dbbuf_sq: nvme0: qid=1, old=2, new=3, eventidx=1, mmio=0"))
        #expect(article.contains("data-evidence=\"3\""))
    }

    /// The driver's ABORT of a stuck command is an admin command: it is drawn in the picture of
    /// the queue whose command it gives up on (a cross, in the legend), and told in the story,
    /// with that queue's state.
    @Test func theDriversAbortIsInThePictureAndTheStoryOfItsQueue() throws {
        let out = temporaryPath("abort-\(UUID().uuidString).html")
        #expect(runCommand(["report", sample("lab/sq-hang.txt"), "--output", out, "--quiet"]) == 0)
        let article = try #require(try read(out).components(separatedBy: "<article").first { $0.contains("mutual-wait on nvme0:sq1") })
        let mark = try #require(article.range(of: "class=\"mark abort\"").map { String(article[$0.lowerBound...].prefix(300)) })
        #expect(mark.contains("driver submitted cmdid 12 on qid 0"), "\(mark)")
        #expect(article.contains("legend-abort"))
        // Only the queue it names: the CQ's finding has none.
        let cq = try #require(try read(out).components(separatedBy: "<article").first { $0.contains("on nvme0:cq1") })
        #expect(!cq.contains("mark abort"))
        let story = try runProcess(["explain", "--finding", "2", sample("lab/sq-hang.txt"), "--quiet"])
        let step = try #require(story.stdout.range(of: "The driver gave up waiting for command 8193 of queue 1").map { String(story.stdout[$0.lowerBound...].prefix(200)) })
        #expect(step.contains("ABORT of it (admin\n       command 12)") && step.contains("state: P=5 S=2"), "\(step)")
    }

    /// An input without timestamps: the report writes its events' places as `#N`, and the
    /// timeline takes and writes them so (`--from 53440` was read as seconds and matched
    /// nothing, "the inputs span 0.000000001 … 0.000223283 s").
    @Test func aTimelineOfAnInputWithoutTimestampsTakesPositions() throws {
        let lines = try String(contentsOfFile: sample("real-single/qemu-trace.log"), encoding: .utf8).split(separator: "\n")
        let untimed = temporaryPath("untimed-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(atPath: untimed) }
        try lines.map { line in line.firstIndex(of: ":").map { line[line.index(after: $0)...] } ?? line }.joined(separator: "\n")
            .appending("\n").write(toFile: untimed, atomically: true, encoding: .utf8)
        let r = try runProcess(["timeline", untimed, "--from", "#100", "--to", "#102"])
        let rows = r.stdout.split(separator: "\n").filter { !$0.hasPrefix(" ") }
        #expect(r.status == 0 && !rows.isEmpty && rows.allSatisfy { ["#100  ", "#101  ", "#102  "].contains(String($0.prefix(6))) }, "\(r.stdout) \(r.stderr)")
        let seconds = try runProcess(["timeline", untimed, "--from", "100", "--to", "102"])
        #expect(seconds.status != 0 && seconds.stderr.contains("give positions as #N"), "\(seconds.stderr)")
        // The two forms mixed are a usage error (it read to the end of the trace).
        #expect(try runProcess(["timeline", untimed, "--from", "#100", "--to", "5.0"]).status == 64)
    }

    @Test func timelineSVGHasAChartPerQueue() throws {
        let out = temporaryPath("timeline-\(UUID().uuidString).svg")
        #expect(runCommand(["timeline", sample("lab/sq-hang.txt"), "--queue", "sq1", "--queue", "cq1", "--format", "svg", "--output", out]) == 0)
        let svg = try read(out)
        let doc = try XMLDocument(xmlString: svg)
        let charts = try doc.nodes(forXPath: "/*[local-name()='svg']/*[local-name()='svg']")
        #expect(charts.count == 2)
        #expect(svg.contains("id=\"queue-nvme0-sq1\"") && svg.contains("id=\"queue-nvme0-cq1\""))
    }

    /// The value axis is labelled up to the highest value plotted (its top label was up to a
    /// step below: 205 over values of 243 in hang-sq2).
    @Test func timelineSVGValueAxisReachesTheHighestValue() throws {
        let hang = try RealTraceTests.run("hang-sq2")
        let files = [hang.guest, hang.qemu]
        let out = temporaryPath("axis-\(UUID().uuidString).svg"), rows = temporaryPath("axis-\(UUID().uuidString).json")
        #expect(runCommand(["timeline"] + files + ["--queue", "sq2", "--format", "svg", "--output", out, "--quiet"]) == 0)
        let svg = try read(out)
        let ticks = svg.components(separatedBy: "class=\"value-tick\"").dropFirst().compactMap { piece -> Int? in
            guard let open = piece.firstIndex(of: ">") else { return nil }
            return Int(piece[piece.index(after: open)...].prefix { $0 != "<" })
        }
        let windows = svg.components(separatedBy: "data-start-ns=\"").dropFirst().compactMap { Int($0.prefix { $0 != "\"" }) }
        try #require(!ticks.isEmpty && !windows.isEmpty)
        // The picture draws the events around the findings: every value there is at most the
        // top label, and the top label is one of them.
        #expect(runCommand(["timeline"] + files + ["--queue", "sq2", "--format", "json", "--output", rows, "--quiet"]) == 0)
        let all = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: rows))) as? [[String: Any]] ?? []
        let values = all.flatMap { r in ["published", "controller_seen", "controller_eventidx", "driver_eventidx_read"].compactMap { r[$0] as? Int } }
        #expect(values.contains(ticks.max()!))
        #expect(ticks.max()! >= 243, "\(ticks)")
    }

    @Test func timelineSVGWithoutARangeIsDrawnAroundTheFindings() throws {
        let trace = sample("lab/sim-sq-hang.txt")
        let (_, json, _) = try analyzeJSON([trace])
        let finding = try #require((json["findings"] as? [[String: Any]])?.first { $0["kind"] as? String == "mutual-wait" })
        let start = try #require(finding["start_ns"] as? Int)
        let out = temporaryPath("timeline-\(UUID().uuidString).svg")
        // The first 20 events of the trace are hundreds of events before the hang.
        #expect(runCommand(["timeline", trace, "--format", "svg", "--max-events", "20", "--output", out, "--quiet"]) == 0)
        let svg = try read(out)
        _ = try XMLDocument(xmlString: svg)
        #expect(svg.contains("id=\"queue-nvme0-sq1\""))
        #expect(svg.contains("class=\"window\" data-start-ns=\"\(start)\""))
        #expect(svg.contains("data-finding=\"\(finding["id"] as? Int ?? 0)\""))
        // The legend keys what is drawn, and nothing else.
        #expect(svg.contains("class=\"legend-finding\""))
        #expect(svg.contains("class=\"legend-short-wait\"") == svg.contains("class=\"short-wait\""))
        #expect(svg.contains("class=\"legend-mmio\"") == svg.contains("class=\"mmio\""))
        let times = svg.components(separatedBy: "data-time-ns=\"").dropFirst().compactMap { Int($0.prefix { $0 != "\"" }) }
        #expect(times.contains(start) && times.min()! < start && times.max()! > start)
    }

    @Test func textTimelineCallsAMutualWaitOnlyInsideAFinding() throws {
        let healthy = temporaryPath("healthy-\(UUID().uuidString).txt")
        #expect(runCommand(["timeline", sample("real-single/guest-ftrace.txt"), sample("real-single/qemu-trace.log"), "--output", healthy, "--quiet"]) == 0)
        let text = try read(healthy)
        #expect(!text.contains("MUTUAL WAIT") && text.contains("[short wait]"))
        let hang = temporaryPath("hang-\(UUID().uuidString).txt")
        #expect(runCommand(["timeline", sample("lab/sim-sq-hang.txt"), "--queue", "sq1", "--output", hang, "--quiet"]) == 0)
        let rows = try read(hang).components(separatedBy: "\n")
        let marked = rows.indices.filter { rows[$0].contains("[MUTUAL WAIT #1]") }
        #expect(!marked.isEmpty)
        // The first marked row belongs to the event that opened the window.
        #expect(rows[marked[0] - 1].hasPrefix("152.000143465"))
        let csv = temporaryPath("hang-\(UUID().uuidString).csv")
        #expect(runCommand(["timeline", sample("lab/sim-sq-hang.txt"), "--queue", "sq1", "--format", "csv", "--output", csv, "--quiet"]) == 0)
        let lines = try read(csv).components(separatedBy: "\n")
        #expect(lines[0].hasSuffix(",window_open,finding"))
        #expect(lines.filter { $0.hasSuffix(",1") }.count == marked.count)
    }

    /// Standard input is read once: its rows are written before the findings are known, so
    /// the text ends by saying where the hangs were (the QEMU log alone of hang-sq2 shows its
    /// two stalls only when the guest's aborts arrive, long after the stall's rows).
    @Test func aTimelineOfStandardInputSaysWhereTheHangsWere() throws {
        let qemu = try Data(contentsOf: URL(fileURLWithPath: try RealTraceTests.run("hang-sq2").qemu))
        let piped = try runProcess(["timeline", "-", "--queue", "sq2"], stdin: qemu)
        #expect(piped.status == 0)
        let lines = piped.stdout.components(separatedBy: "\n")
        let header = try #require(lines.firstIndex { $0.hasPrefix("findings on these queues (the input was read once") })
        let listed = lines[(header + 1)...].filter { $0.contains("mutual wait") && $0.contains("nvme0:sq2") }
        #expect(listed.count == 2, "\(lines[header...])")
        // A file is read twice and its rows are marked instead.
        let file = try runProcess(["timeline", try RealTraceTests.run("hang-sq2").qemu, "--queue", "sq2"])
        #expect(file.stdout.contains("[MUTUAL WAIT #2]") && !file.stdout.contains("findings on these queues"))
    }

    /// The HTML report's inputs table lists the files as given, numbered from 1 (it listed
    /// them in the reference rule's order with their 0-based indices: 1, 2, 0).
    @Test func theReportListsItsInputsAsGiven() throws {
        let f = try RealTraceTests.run("hang-sq2")
        let given = [f.console, f.qemu, f.guest]
        let out = temporaryPath("inputs-\(UUID().uuidString).html")
        #expect(runCommand(["report"] + given + ["--output", out, "--quiet"]) == 0)
        let html = try read(out)
        let table = try #require(html.components(separatedBy: "<table class=\"inputs\">").dropFirst().first?.components(separatedBy: "</table>").first)
        let rows = table.components(separatedBy: "<tr><td>").dropFirst().map { row in
            (row.prefix { $0 != "<" }, row.components(separatedBy: "<td class=\"path\">").dropFirst().first?.prefix { $0 != "<" } ?? "")
        }
        #expect(rows.map { String($0.0) } == ["1", "2", "3"], "\(rows)")
        #expect(rows.map { String($0.1) } == given, "\(rows)")
    }

    @Test func perfettoJSONHasTheQueueTracksAndTheFindings() throws {
        let out = temporaryPath("perfetto-\(UUID().uuidString).json")
        #expect(runCommand(["convert", sample("lab/sq-hang.txt"), "--to", "perfetto-json", "--output", out]) == 0)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        let events = try #require(doc["traceEvents"] as? [[String: Any]])
        let threads = Set(events.filter { $0["name"] as? String == "thread_name" }.compactMap { ($0["args"] as? [String: Any])?["name"] as? String })
        #expect(threads.isSuperset(of: ["sq1 driver", "sq1 controller", "cq1 driver", "cq1 controller", "sq1 findings"]))
        let slices = events.filter { $0["ph"] as? String == "X" }
        // The window owns its three stuck commands: one slice per finding, the window is #2.
        #expect(slices.count == 2)
        let wait = try #require(slices.first { $0["name"] as? String == "#2 mutual-wait" })
        // Times count from the stated origin (the first event), never below zero.
        let origin = try #require(((doc["otherData"] as? [String: Any])?["time_origins"] as? [[String: Any]])?.first?["origin_ns"] as? Int)
        #expect((wait["ts"] as? Double).map { abs($0 * 1000 + Double(origin) - 100_002_014_000) < 1 } == true)
        #expect(events.compactMap { $0["ts"] as? Double }.allSatisfy { $0 >= 0 })
        #expect(events.filter { $0["ph"] as? String == "i" && $0["name"] as? String == "MMIO doorbell" }.count == 4)
        #expect(!events.contains { ($0["name"] as? String)?.contains("=") == true })
        // pcap stays the default.
        let pcap = temporaryPath("default-\(UUID().uuidString).pcap")
        #expect(runCommand(["convert", sample("lab/sq-hang.txt"), "--output", pcap]) == 0)
        #expect((try Data(contentsOf: URL(fileURLWithPath: pcap))).prefix(4) != Data("{\"di".utf8))
    }

    /// The document is written while the analysis runs, from the events its first pass kept
    /// in $TMPDIR; without room there, the inputs are read again: the same document either way.
    @Test func perfettoJSONWithoutTemporarySpaceReadsTheInputsAgain() throws {
        let kept = temporaryPath("perfetto-kept-\(UUID().uuidString).json")
        let twice = temporaryPath("perfetto-twice-\(UUID().uuidString).json")
        let input = sample("lab/sq-hang.txt")
        let a = try CITemplateTests.run([executablePath, "convert", input, "--to", "perfetto-json", "--output", kept])
        let b = try CITemplateTests.run(
            [executablePath, "convert", input, "--to", "perfetto-json", "--output", twice], environment: ["TMPDIR": "/nonexistent-tmp"])
        #expect(a.status == 0 && b.status == 0, "\(a.output)\n\(b.output)")
        let first = try Data(contentsOf: URL(fileURLWithPath: kept))
        #expect(!first.isEmpty)
        #expect(first == (try Data(contentsOf: URL(fileURLWithPath: twice))))
    }

    /// A document the disk cannot take is an input/output error, not a cut file reported as written.
    @Test func aPerfettoDocumentThatCannotBeWrittenIsAnError() throws {
        try #require(FileManager.default.fileExists(atPath: "/dev/full"))
        #expect(runCommand(["convert", sample("lab/sq-hang.txt"), "--to", "perfetto-json", "--output", "/dev/full"]) == 2)
    }

    @Test func explainTellsTheSqHangStepByStepWithTheInputLines() throws {
        let out = temporaryPath("explain-\(UUID().uuidString).txt")
        #expect(runCommand(["explain", sample("lab/sq-hang.txt"), "--finding", "2", "--output", out]) == 0)
        let text = try read(out)
        #expect(text.hasPrefix("Finding #2 of 2: mutual-wait (error) on nvme0:sq1"))
        #expect(text.contains("Known bug: linux-dbbuf-missing-mb"))
        #expect(text.contains("cause: driver-reorder"))
        #expect(text.contains("---- the mutual-wait window opens ----"))
        let flowing = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(flowing.contains("Since need_event(1, 3, 2) is false, it did not ring the MMIO doorbell"))
        #expect(text.contains("sq-hang.txt:39 [evidence 3]"))
        // The evidence lines, read back from the file.
        let file = try read(sample("lab/sq-hang.txt")).split(separator: "\n", omittingEmptySubsequences: false)
        for line in [37, 38, 39] { #expect(text.contains("> " + file[line - 1]), "line \(line)") }
        #expect(flowing.contains("P = 3 and the controller had last seen S = 2"))
        // Lines are measured with the input's path as the user would see it from the package
        // root, so the width does not depend on where the checkout is.
        let samplePath = sample("lab/sq-hang.txt")
        #expect(text.split(separator: "\n").allSatisfy {
            $0.replacingOccurrences(of: samplePath, with: "SampleTraces/lab/sq-hang.txt").count <= 100
                || $0.hasPrefix("      > ") || $0.hasPrefix("  shadowbell ")
        })
        #expect(text.contains("shadowbell timeline"))
        let missing = try runProcess(["explain", sample("lab/sq-hang.txt"), "--finding", "9"])
        #expect(missing.status == 64 && missing.stderr.contains("no such finding: the inputs have 2 finding(s)"))
        // Said once, as explain's own error: not followed by the usage of the whole tool.
        #expect(missing.stderr.hasPrefix("shadowbell: error: --finding 9") && !missing.stderr.contains("Usage:"), "\(missing.stderr)")
    }

    @Test func everyCommandsHelpHasExamples() throws {
        for command in ["analyze", "report", "explain", "timeline", "convert", "simulate"] {
            let r = try runProcess([command, "--help"])
            #expect(r.status == 0 && r.stdout.contains("Examples:") && r.stdout.contains("shadowbell \(command)"), "\(command)")
        }
    }

    private func attribute(_ name: String, in tag: String) -> String? {
        guard let r = tag.range(of: " \(name)=\"") else { return nil }
        return String(tag[r.upperBound...].prefix { $0 != "\"" })
    }
}
