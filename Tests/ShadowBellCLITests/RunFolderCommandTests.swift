import Foundation
import ShadowBellTestSupport
import Testing

/// convert and timeline take a run folder, or its files by a glob, as analyze, report and
/// explain do: one run, notes skipped with a note each. Notes are judged by one rule, in a
/// folder and named alone. Real runs of ../shared/traces/real, read where they lie.
@Suite(.serialized) struct RunFolderCommandTests {
    static func folder(_ name: String) -> String { RealTraceTests.realDirectory.appendingPathComponent(name).path }

    /// The folder's files, as a shell expands `DIR/*`.
    static func glob(_ name: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder(name)).filter { !$0.hasPrefix(".") }.sorted()
            .map { "\(folder(name))/\($0)" }
    }

    /// Lines of standard error that report an error, a warning or a note.
    static func diagnostics(_ stderr: String) -> [Substring] {
        stderr.split(separator: "\n").filter { $0.contains("error") || $0.contains("note:") || $0.contains("warning:") }
    }

    static func findings(ofPcap pcap: String) throws -> [WhateverTheUserHasTests.Signature] {
        let (_, json, _) = try analyzeJSON([pcap])
        return WhateverTheUserHasTests.signatures(json)
    }

    @Test func convertTakesARunFolderAndItsGlobAlike() throws {
        let fromFolder = temporaryPath("folder-\(UUID().uuidString).pcap")
        let fromGlob = temporaryPath("glob-\(UUID().uuidString).pcap")
        defer { unlink(fromFolder); unlink(fromGlob) }
        let folder = try runProcess(["convert", Self.folder("hang-sq2") + "/", "--to", "pcap", "-o", fromFolder])
        #expect(folder.status == 0, "\(folder.stderr)")
        #expect(folder.stderr.contains("note: skipped \(Self.folder("hang-sq2"))/README.md: notes"))
        let glob = try runProcess(["convert"] + (try Self.glob("hang-sq2")) + ["-o", fromGlob])
        #expect(glob.status == 0, "\(glob.stderr)")
        for line in Self.diagnostics(folder.stderr + glob.stderr) {
            #expect(line.hasPrefix("shadowbell: "), "\(line)")
        }
        #expect(FileManager.default.contents(atPath: fromFolder) == FileManager.default.contents(atPath: fromGlob))
        // The pcap reports what the folder reports: both stalls of sq2, nothing from the notes.
        let (_, batch, _) = try analyzeJSON([Self.folder("hang-sq2")])
        let run = (batch["runs"] as? [[String: Any]])?.first ?? [:]
        let converted = try Self.findings(ofPcap: fromFolder)
        #expect(converted == WhateverTheUserHasTests.signatures(run))
        #expect(converted.filter { $0.severity == "error" }.count == 2)
        #expect(converted.filter { $0.severity == "error" }.allSatisfy { $0.queue == "sq2" })
    }

    @Test func aPerfettoTraceOfAGlobSkipsTheNotesAndFindsWhatAnalyzeFinds() throws {
        let out = temporaryPath("glob-\(UUID().uuidString).json")
        defer { unlink(out) }
        let r = try runProcess(["convert"] + (try Self.glob("hang-sq2")) + ["--to", "perfetto-json", "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stderr.contains("README.md: qemu-log"), "\(r.stderr)")
        #expect(!r.stderr.contains("malformed"), "\(r.stderr)")
        // analyze of the folder: an info and the two stalls of sq2.
        #expect(r.stderr.contains("3 finding(s)"), "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: out))
    }

    /// A guest recording given twice (trace.dat and its text forms) is analysed once; the
    /// Perfetto export says so, as `analyze` does.
    @Test func aPerfettoTraceSaysWhichRecordingWasAnalysedOnce() throws {
        let out = temporaryPath("dat-\(UUID().uuidString).json")
        defer { unlink(out) }
        let r = try runProcess(["convert", Self.folder("dat-hang-sq2"), "--to", "perfetto-json", "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("shadowbell: note: \(Self.folder("dat-hang-sq2"))/guest-ftrace.txt.zst: the same guest recording as"), "\(r.stderr)")
    }

    @Test(arguments: ["x.pcap", "x.json"])
    func aFailedConversionLeavesNoFile(_ name: String) throws {
        let dir = temporaryPath("convert-fails-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = "\(dir)/\(name)"
        let readme = "\(Self.folder("hang-sq2"))/README.md"
        let poke = "\(Self.folder("hang-sq2"))/poke.log"
        for inputs in [[readme], [poke], [readme, poke]] {
            let r = try runProcess(["convert"] + inputs + ["-o", out])
            #expect(r.status == 2, "\(inputs): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out), "\(inputs)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "\(inputs): nothing staged is left")
            #expect(!Self.diagnostics(r.stderr).isEmpty)
            for line in Self.diagnostics(r.stderr) { #expect(line.hasPrefix("shadowbell: "), "\(line)") }
        }
        // An earlier file of that name stays as it was.
        try "earlier".write(toFile: out, atomically: true, encoding: .utf8)
        #expect(try runProcess(["convert", readme, "-o", out]).status == 2)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "earlier")
    }

    @Test func timelineTakesARunFolderAndItsGlobAlike() throws {
        let a = temporaryPath("tl-folder-\(UUID().uuidString).csv")
        let b = temporaryPath("tl-glob-\(UUID().uuidString).csv")
        defer { unlink(a); unlink(b) }
        let range = ["--queue", "sq2", "--from", "45.3", "--to", "45.35", "--format", "csv"]
        let folder = try runProcess(["timeline", Self.folder("hang-sq2") + "/"] + range + ["-o", a])
        #expect(folder.status == 0, "\(folder.stderr)")
        #expect(folder.stderr.contains("note: skipped"))
        let glob = try runProcess(["timeline"] + (try Self.glob("hang-sq2")) + range + ["-o", b])
        #expect(glob.status == 0, "\(glob.stderr)")
        let rows = try String(contentsOfFile: a, encoding: .utf8)
        #expect(rows == (try String(contentsOfFile: b, encoding: .utf8)))
        #expect(rows.contains("nvme0:sq2"))
        #expect(!rows.contains("README.md"))
    }

    @Test func severalRunFoldersAreAUsageErrorForConvertAndTimeline() throws {
        let out = temporaryPath("two-\(UUID().uuidString).pcap")
        let convert = try runProcess(["convert", Self.folder("single"), Self.folder("mq2"), "-o", out])
        #expect(convert.status == 64, "\(convert.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        let timeline = try runProcess(["timeline", Self.folder("single"), Self.folder("mq2"), "--queue", "sq1"])
        #expect(timeline.status == 64, "\(timeline.stderr)")
    }

    /// The hung run's README quotes QEMU trace lines: named alone it is notes, an input error,
    /// never a healthy trace — by every command.
    @Test func aReadmeNamedAloneIsNotATrace() throws {
        let readme = "\(Self.folder("hang-sq2"))/README.md"
        let (status, json, _) = try analyzeJSON([readme])
        #expect(status == 2)
        #expect((json["inputs"] as? [[String: Any]] ?? []).isEmpty)
        #expect(WhateverTheUserHasTests.signatures(json).isEmpty)
        let text = try runProcess(["analyze", readme])
        #expect(text.status == 2)
        #expect(text.stderr.contains("shadowbell: error: \(readme): notes, not a QEMU log"), "\(text.stderr)")
        for command in [["report", readme, "-o", temporaryPath("readme.html")], ["explain", readme, "--finding", "1"],
                        ["timeline", readme, "--queue", "sq1"]] {
            let r = try runProcess(command)
            #expect(r.status == 2, "\(command[0]): \(r.stderr)")
            #expect(r.stderr.contains("notes, not a QEMU log"), "\(command[0]): \(r.stderr)")
        }
    }

    /// Every note of the real runs is notes by the same rule named alone as in its folder, and
    /// every trace stays a trace named alone.
    @Test(arguments: WhateverTheUserHasTests.allRuns)
    func notesAreJudgedAloneAsInTheirFolder(_ name: String) throws {
        let (_, batch, _) = try analyzeJSON([Self.folder(name)])
        let run = (batch["runs"] as? [[String: Any]])?.first ?? [:]
        let skipped = ((run["run"] as? [String: Any])?["skipped_files"] as? [[String: Any]] ?? [])
        for file in skipped {
            guard let path = file["path"] as? String, let reason = file["reason"] as? String, reason.hasPrefix("notes, ") else { continue }
            let (status, json, _) = try analyzeJSON([path])
            #expect(status == 2, "\(path)")
            #expect((json["inputs"] as? [[String: Any]] ?? []).isEmpty, "\(path)")
        }
        for input in run["inputs"] as? [[String: Any]] ?? [] {
            guard let path = input["path"] as? String else { continue }
            let (status, json, _) = try analyzeJSON([path])
            #expect(status != 2, "\(path)")
            #expect((json["inputs"] as? [[String: Any]] ?? []).first?["malformed"] as? Int == 0, "\(path)")
        }
    }

    /// A QEMU log without timestamps that holds many other devices' events is a trace, alone
    /// and in a folder: those lines are other lines, not prose.
    @Test func aQemuLogOfManyOtherEventsStaysATrace() throws {
        let dir = temporaryPath("bare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var lines: [String] = []
        for i in 1...10 {
            lines.append("pci_nvme_mmio_doorbell_sq sqid 1 new_tail \(i)")
            for j in 0..<10 { lines.append("virtio_queue_notify vdev 0x55d0c0 n \(j) vq 0x7f0012") }
        }
        let log = "\(dir)/qemu.log"
        try (lines.joined(separator: "\n") + "\n").write(toFile: log, atomically: true, encoding: .utf8)
        let (status, json, _) = try analyzeJSON([log])
        #expect(status == 0)
        #expect((json["inputs"] as? [[String: Any]])?.first?["events"] as? Int == 10)
        let (_, batch, _) = try analyzeJSON([dir])
        let run = (batch["runs"] as? [[String: Any]])?.first ?? [:]
        #expect((run["inputs"] as? [[String: Any]] ?? []).count == 1)
    }

    /// `analyze DIR/*` is the folder: an empty file among the run's files is skipped with a
    /// note; named alone it stays an input error.
    @Test func anExplicitGlobOfARunFolderBehavesLikeTheFolder() throws {
        for name in WhateverTheUserHasTests.healthyRuns {
            let (status, json, _) = try analyzeJSON(try Self.glob(name), extra: ["--quiet"])
            #expect(status == 0, "\(name)")
            let run = (json["runs"] as? [[String: Any]])?.first ?? json
            let (folderStatus, folder, _) = try analyzeJSON([Self.folder(name)], extra: ["--quiet"])
            let folderRun = (folder["runs"] as? [[String: Any]])?.first ?? [:]
            #expect(folderStatus == 0, "\(name)")
            func names(_ run: [String: Any], _ key: String) -> [String] {
                let list = key == "inputs" ? run["inputs"] : (run["run"] as? [String: Any])?["skipped_files"]
                return ((list as? [[String: Any]]) ?? []).compactMap { $0["path"] as? String }.sorted()
            }
            #expect(names(run, "inputs") == names(folderRun, "inputs"), "\(name)")
            #expect(names(run, "skipped") == names(folderRun, "skipped"), "\(name)")
        }
        let empty = "\(Self.folder("q10-k612-healthy"))/long-commands.txt"
        let alone = try runProcess(["analyze", empty])
        #expect(alone.status == 2)
        #expect(alone.stderr.contains("shadowbell: error: \(empty): file is empty"), "\(alone.stderr)")
    }

    /// Files named together are one run, with the single-run output, also when notes among
    /// them are skipped: the JSON document is the run's (findings at the top, not a batch),
    /// its `run` member lists what was skipped; text lists them as notes.
    @Test func aGlobWithNotesHasTheSingleRunOutput() throws {
        let files = try Self.glob("hang-sq2")
        let (status, json, _) = try analyzeJSON(files, extra: ["--quiet"])
        #expect(status == 1)
        #expect(json["batch"] == nil && json["runs"] == nil)
        let findings = json["findings"] as? [[String: Any]] ?? []
        #expect(findings.filter { $0["kind"] as? String == "mutual-wait" }.count == 2)
        let skipped = ((json["run"] as? [String: Any])?["skipped_files"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }
        #expect(skipped.contains("\(Self.folder("hang-sq2"))/README.md"), "\(skipped)")
        let text = try runProcess(["analyze"] + files + ["--quiet"])
        #expect(!text.stdout.contains("=== run"), "\(text.stdout)")
        #expect(text.stdout.contains("README.md: skipped: notes"), "\(text.stdout)")
        // Without a skipped file the document has no `run` member, as before.
        let (_, plain, _) = try analyzeJSON(files.filter { $0.hasSuffix(".zst") || $0.hasSuffix("console.log") }, extra: ["--quiet"])
        #expect(plain["run"] == nil && plain["findings"] != nil)
    }

    @Test func aGlobOfNotesAloneIsAnInputError() throws {
        let notes = ["README.md", "doorbell-stats.txt", "qemu-cmdline.txt"].map { "\(Self.folder("hang-sq2"))/\($0)" }
        let r = try runProcess(["analyze"] + notes)
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("none of these 3 files is a trace"), "\(r.stderr)")
        let out = temporaryPath("notes-\(UUID().uuidString).pcap")
        #expect(try runProcess(["convert"] + notes + ["-o", out]).status == 2)
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
