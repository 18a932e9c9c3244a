import Foundation
import ShadowBellTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `tool arguments` (no standard input); fails the test if it fails.
private func tool(_ arguments: [String]) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = arguments
    try p.run()
    p.waitUntilExit()
    #expect(p.terminationStatus == 0, "\(arguments) failed")
}

/// A copy of `path` compressed with `compression` (`gzip`, `zstd` or `xz`) in a folder of its
/// own, under the same file name plus the tool's suffix.
private func compressedCopy(_ path: String, _ compression: String, folder: String) throws -> String {
    let suffix = ["gzip": "gz", "zstd": "zst", "xz": "xz"][compression]!
    let target = "\(folder)/\((path as NSString).lastPathComponent).\(suffix)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    if !FileManager.default.fileExists(atPath: target) {
        switch compression {
        case "gzip": try tool(["sh", "-c", "gzip -c -n \"$0\" > \"$1\"", path, target])
        case "zstd": try tool(["zstd", "-q", "-f", path, "-o", target])
        default: try tool(["sh", "-c", "xz -c \"$0\" > \"$1\"", path, target])
        }
    }
    return target
}

/// The findings of a JSON report with every input named by its position (the paths differ
/// between a file and its compressed copy), the exit status, and each input's alignment.
private func comparable(_ status: Int32, _ json: [String: Any], paths: [String]) -> String {
    // The `_str` twins of large integers repeat the numbers (and a negative one starts with
    // `-`, the name standard input goes by): compared through the numbers.
    func withoutTwins(_ value: Any) -> Any {
        if let object = value as? [String: Any] {
            return object.filter { !$0.key.hasSuffix("_str") }.mapValues(withoutTwins)
        }
        if let array = value as? [Any] { return array.map(withoutTwins) }
        return value
    }
    var text = String(decoding: try! JSONSerialization.data(
        withJSONObject: withoutTwins(["status": Int(status), "findings": json["findings"] ?? [], "alignment": json["alignment"] ?? []]),
        options: [.sortedKeys]), as: UTF8.self)
    // Longest first: a path may be a prefix of another (`x.log` of `x.log.zst`).
    for (i, path) in paths.enumerated().sorted(by: { $0.element.count > $1.element.count }) {
        let escaped = String(decoding: try! JSONSerialization.data(withJSONObject: [path]), as: UTF8.self).dropFirst(2).dropLast(2)
        // `-` only where a string starts with it (a path, a location); a longer path anywhere.
        text = text.replacingOccurrences(of: "\"" + escaped, with: "\"<input \(i)>")
        if path.count > 1 { text = text.replacingOccurrences(of: escaped, with: "<input \(i)>") }
    }
    return text
}

/// Compressed inputs of every format and command, and inputs that can be read only once
/// (standard input, named pipes, `/dev/fd/N`), on real runs.
@Suite(.serialized) struct CompressedInputTests {
    /// `analyze` of gzip, zstd and xz copies of a real run gives the findings, times, exit
    /// status and alignment of the plain files.
    @Test(arguments: ["gzip", "zstd", "xz"])
    func realSingleRunCompressedGivesTheSameFindings(_ compression: String) throws {
        let plain = [sample("real-single/guest-ftrace.txt"), sample("real-single/qemu-trace.log")]
        let (status, json, _) = try analyzeJSON(plain)
        let folder = temporaryPath("compressed-real-single-\(compression)")
        let packed = try plain.map { try compressedCopy($0, compression, folder: folder) }
        let (packedStatus, packedJSON, _) = try analyzeJSON(packed)
        #expect((packedJSON["alignment"] as? [[String: Any]])?.last?["method"] as? String == "estimated")
        #expect(comparable(packedStatus, packedJSON, paths: packed) == comparable(status, json, paths: plain))
        // Mixed: one compressed, one plain, in the other order.
        let (mixedStatus, mixedJSON, _) = try analyzeJSON([plain[1], packed[0]])
        let (reversedStatus, reversedJSON, _) = try analyzeJSON([plain[1], plain[0]])
        #expect(comparable(mixedStatus, mixedJSON, paths: [plain[1], packed[0]])
            == comparable(reversedStatus, reversedJSON, paths: [plain[1], plain[0]]))
    }

    /// The real hang's `.zst` files as they are stored give the findings of their decompressed
    /// copies (both SQ2 stalls).
    @Test func realHangZstFilesAsStoredGiveTheSameFindings() throws {
        let plain = try RealTraceTests.run("hang-sq2")
        let stored = RealTraceTests.realDirectory.appendingPathComponent("hang-sq2").path
        let zst = ["\(stored)/guest-ftrace.txt.zst", "\(stored)/qemu-trace.log.zst", plain.console]
        let (status, json, _) = try analyzeJSON([plain.guest, plain.qemu, plain.console])
        let (zstStatus, zstJSON, _) = try analyzeJSON(zst)
        #expect(zstStatus == 1)
        #expect(comparable(zstStatus, zstJSON, paths: zst) == comparable(status, json, paths: [plain.guest, plain.qemu, plain.console]))
        let waits = (zstJSON["findings"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "mutual-wait" }
        #expect(waits.count == 2)
    }

    /// The real dat-hang-sq2 run with its trace.dat compressed (gzip, zstd, xz) gives the
    /// findings of the plain file: its two sq2 errors, at the same times, with the same
    /// evidence offsets.
    @Test(arguments: ["gzip", "zstd", "xz"])
    func realTraceDatCompressedGivesTheSameFindings(_ compression: String) throws {
        let run = RealTraceTests.realDirectory.appendingPathComponent("dat-hang-sq2").path
        let dat = "\(run)/trace.dat", qemu = "\(run)/qemu-trace.log.zst"
        let (status, json, _) = try analyzeJSON([dat, qemu])
        let errors = (json["findings"] as? [[String: Any]] ?? []).filter { $0["severity"] as? String == "error" }
        #expect(status == 1 && errors.count == 2)
        #expect(errors.allSatisfy { ($0["queue"] as? [String: Any])?["qid"] as? Int == 2 })
        let packed = try compressedCopy(dat, compression, folder: temporaryPath("compressed-trace-dat-\(compression)"))
        let (packedStatus, packedJSON, _) = try analyzeJSON([packed, qemu])
        #expect(comparable(packedStatus, packedJSON, paths: [packed, qemu]) == comparable(status, json, paths: [dat, qemu]))
        let inputs = packedJSON["inputs"] as? [[String: Any]] ?? []
        #expect(inputs.first?["format"] as? String == (json["inputs"] as? [[String: Any]])?.first?["format"] as? String)
        #expect(inputs.first?["events"] as? Int == (json["inputs"] as? [[String: Any]])?.first?["events"] as? Int)
    }

    /// A trace.dat through a pipe (`<(cat trace.dat)`, `<(zstd -dc trace.dat.zst)`), alone (read
    /// once) or beside the QEMU log (copied for the second pass), or on standard input, gives
    /// the findings of the file; `report` takes it too.
    @Test func realTraceDatThroughAPipeGivesTheSameFindings() throws {
        let run = RealTraceTests.realDirectory.appendingPathComponent("dat-hang-sq2").path
        let dat = "\(run)/trace.dat", qemu = "\(run)/qemu-trace.log.zst"
        let data = try Data(contentsOf: URL(fileURLWithPath: dat))
        func piped(_ bytes: Data, _ body: (String) throws -> Void) throws {
            let pipe = Pipe()
            let writer = Thread { writeAllRetrying(pipe.fileHandleForWriting, bytes) }
            writer.start()
            defer { try? pipe.fileHandleForReading.close() }
            try body("/dev/fd/\(pipe.fileHandleForReading.fileDescriptor)")
        }
        let packed = try Data(contentsOf: URL(fileURLWithPath: try compressedCopy(dat, "zstd", folder: temporaryPath("compressed-trace-dat-pipe"))))
        for bytes in [data, packed] {
            for others in [[], [qemu]] {
                let (status, json, _) = try analyzeJSON([dat] + others)
                try piped(bytes) { path in
                    let (pipeStatus, pipeJSON, _) = try analyzeJSON([path] + others)
                    #expect(comparable(pipeStatus, pipeJSON, paths: [path] + others) == comparable(status, json, paths: [dat] + others),
                        "\(bytes.count) bytes, \(others.count + 1) input(s)")
                }
            }
        }
        try piped(data) { path in
            let html = temporaryPath("trace-dat-pipe.html")
            #expect(runCommand(["report", path, qemu, "--output", html]) == 0)
        }
        let (status, json, _) = try analyzeJSON([dat, qemu])
        let r = try runProcess(["analyze", "-", qemu, "--format", "json"], stdin: packed)
        let fromStdin = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
        // The alignment note names the reference input inside a sentence (`aligned to - from`).
        let got = comparable(r.status, fromStdin, paths: ["-", qemu]).replacingOccurrences(of: "aligned to - from", with: "aligned to <input 0> from")
        #expect(got == comparable(status, json, paths: [dat, qemu]), "\(r.stderr)")
    }

    /// A folder of compressed traces is a run like the folder of the plain files.
    @Test func aFolderOfCompressedFilesIsOneRun() throws {
        let folder = temporaryPath("compressed-folder")
        try? FileManager.default.removeItem(atPath: folder)
        _ = try compressedCopy(sample("real-single/guest-ftrace.txt"), "xz", folder: folder)
        _ = try compressedCopy(sample("real-single/qemu-trace.log"), "gzip", folder: folder)
        let (status, json, _) = try analyzeJSON([folder])
        let runs = json["runs"] as? [[String: Any]] ?? [json]
        #expect(runs.count == 1)
        let report = (runs.first?["report"] as? [String: Any]) ?? runs.first ?? [:]
        let inputs = report["inputs"] as? [[String: Any]] ?? []
        #expect(inputs.map { $0["format"] as? String ?? "" } == ["ftrace-text", "qemu-log"])
        let (plainStatus, _, _) = try analyzeJSON([sample("real-single/guest-ftrace.txt"), sample("real-single/qemu-trace.log")])
        #expect(status == plainStatus)
    }

    /// report, explain, timeline and convert read compressed inputs; report and explain quote
    /// the evidence lines from the decompressed content.
    @Test func everyCommandTakesCompressedInputs() throws {
        let folder = temporaryPath("compressed-commands")
        let hang = try compressedCopy(sample("lab/sq-hang.txt"), "zstd", folder: folder)
        let explained = try runProcess(["explain", hang, "--finding", "2"])
        #expect(explained.status == 0)
        #expect(explained.stdout.contains("tracing_mark_write: pci_nvme_eventidx_sq sqid 1 new_eventidx 2"))
        let html = temporaryPath("compressed.html")
        #expect(try runProcess(["report", hang, "--output", html]).status == 0)
        #expect(try String(contentsOfFile: html, encoding: .utf8).contains("pci_nvme_eventidx_sq sqid 1 new_eventidx 2"))
        let timeline = try runProcess(["timeline", hang, "--queue", "sq1", "--format", "csv"])
        let plainTimeline = try runProcess(["timeline", sample("lab/sq-hang.txt"), "--queue", "sq1", "--format", "csv"])
        #expect(timeline.status == 0)
        #expect(timeline.stdout.replacingOccurrences(of: hang, with: "F")
            == plainTimeline.stdout.replacingOccurrences(of: sample("lab/sq-hang.txt"), with: "F"))
        let pcap = temporaryPath("compressed.pcap"), plainPcap = temporaryPath("plain.pcap")
        #expect(try runProcess(["convert", hang, "--output", pcap]).status == 0)
        #expect(try runProcess(["convert", sample("lab/sq-hang.txt"), "--output", plainPcap]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: pcap)) == Data(contentsOf: URL(fileURLWithPath: plainPcap)))
        // The converted pcap, compressed, analyses as the pcap.
        let packedPcap = try compressedCopy(pcap, "xz", folder: folder)
        let (s1, j1, _) = try analyzeJSON([pcap])
        let (s2, j2, _) = try analyzeJSON([packedPcap])
        #expect(comparable(s2, j2, paths: [packedPcap]) == comparable(s1, j1, paths: [pcap]))
    }

    /// The real run with its QEMU log on standard input is aligned as with the file: the
    /// second pass reads a copy, never silently analysed on its own clock.
    @Test func standardInputIsAlignedLikeAFile() throws {
        let guest = sample("real-single/guest-ftrace.txt"), qemu = sample("real-single/qemu-trace.log")
        let (status, json, _) = try analyzeJSON([guest, qemu])
        let packed = try compressedCopy(qemu, "zstd", folder: temporaryPath("compressed-stdin"))
        for input in [qemu, packed] {
            let r = try runProcess(["analyze", guest, "-", "--format", "json"], stdin: try Data(contentsOf: URL(fileURLWithPath: input)))
            let piped = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
            #expect((piped["alignment"] as? [[String: Any]])?.last?["method"] as? String == "estimated")
            #expect(comparable(r.status, piped, paths: [guest, "-"]) == comparable(status, json, paths: [guest, qemu]))
        }
    }

    /// A named pipe and a `/dev/fd/N` pipe (what `<(zstd -dc f)` gives) are aligned like files.
    @Test func namedPipeAndProcessSubstitutionAreAlignedLikeFiles() throws {
        let guest = sample("real-single/guest-ftrace.txt"), qemu = sample("real-single/qemu-trace.log")
        let (status, json, _) = try analyzeJSON([guest, qemu])
        let expected = comparable(status, json, paths: [guest, qemu])
        let data = try Data(contentsOf: URL(fileURLWithPath: qemu))

        let fifo = temporaryPath("qemu.fifo")
        unlink(fifo)
        #expect(mkfifo(fifo, 0o600) == 0)
        let writer = Thread {
            if let handle = FileHandle(forWritingAtPath: fifo) { writeAllRetrying(handle, data) }
        }
        writer.start()
        let r = try runProcess(["analyze", guest, fifo, "--format", "json"])
        let fromFifo = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(comparable(r.status, fromFifo, paths: [guest, fifo]) == expected)

        let pipe = Pipe()
        let pipeWriter = Thread { writeAllRetrying(pipe.fileHandleForWriting, data) }
        pipeWriter.start()
        let substituted = "/dev/fd/\(pipe.fileHandleForReading.fileDescriptor)"
        let (pipeStatus, pipeJSON, _) = try analyzeJSON([guest, substituted])
        #expect(comparable(pipeStatus, pipeJSON, paths: [guest, substituted]) == expected)
        try? pipe.fileHandleForReading.close()
    }

    /// report and explain take standard input (read twice: from a copy) and quote its lines;
    /// `convert -` writes what converting the file writes.
    @Test func reportExplainAndConvertTakeStandardInput() throws {
        // The copies go to a directory of this test's own: other tests spool beside it at once.
        let spoolDirectory = temporaryPath("stdin-spools")
        try FileManager.default.createDirectory(atPath: spoolDirectory, withIntermediateDirectories: true)
        let tmp = ["TMPDIR": spoolDirectory]
        func runProcess(_ arguments: [String], stdin: Data? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
            try ShadowBellCLITests.runProcess(arguments, stdin: stdin, environment: tmp)
        }
        func spools() -> [String] {
            (try? FileManager.default.contentsOfDirectory(atPath: spoolDirectory))?.filter { $0.hasPrefix("shadowbell-spool-") } ?? []
        }
        defer { #expect(spools().isEmpty, "a spooled copy was left in \(spoolDirectory)") }
        let data = try Data(contentsOf: URL(fileURLWithPath: sample("lab/sq-hang.txt")))
        let html = temporaryPath("stdin-report.html")
        #expect(try runProcess(["report", "-", "--output", html], stdin: data).status == 0)
        #expect(try String(contentsOfFile: html, encoding: .utf8).contains("pci_nvme_eventidx_sq sqid 1 new_eventidx 2"))
        let explained = try runProcess(["explain", "-", "--finding", "2"], stdin: data)
        #expect(explained.status == 0)
        #expect(explained.stdout.contains("-:38"))
        #expect(explained.stdout.contains("pci_nvme_eventidx_sq sqid 1 new_eventidx 2"))
        // Its next commands cannot read standard input again, and say so.
        #expect(explained.stdout.contains("standard input was read once and is used up"))
        let explainedFile = try runProcess(["explain", sample("lab/sq-hang.txt"), "--finding", "2"])
        #expect(!explainedFile.stdout.contains("standard input was read once"))

        let fromStdin = temporaryPath("stdin.pcap"), fromFile = temporaryPath("file.pcap")
        let converted = try runProcess(["convert", "-", "--output", fromStdin], stdin: data)
        #expect(converted.status == 0, "\(converted.stderr)")
        #expect(try runProcess(["convert", sample("lab/sq-hang.txt"), "--output", fromFile]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: fromStdin)) == Data(contentsOf: URL(fileURLWithPath: fromFile)))
        let json = temporaryPath("stdin-perfetto.json")
        #expect(try runProcess(["convert", "-", "--to", "perfetto-json", "--output", json], stdin: data).status == 0)
        #expect(try String(contentsOfFile: json, encoding: .utf8).contains("\"traceEvents\""))
    }

    /// A corrupt compressed input is an input error naming the file and the byte (exit 2).
    @Test func corruptCompressedInputExitsTwoWithItsLocation() throws {
        let folder = temporaryPath("compressed-corrupt")
        let packed = try compressedCopy(sample("real-single/qemu-trace.log"), "gzip", folder: folder)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: packed))
        bytes[bytes.count / 2] ^= 0x5A
        let corrupt = "\(folder)/corrupt.gz"
        try bytes.write(to: URL(fileURLWithPath: corrupt))
        let r = try runProcess(["analyze", corrupt])
        #expect(r.status == 2)
        #expect(r.stderr.contains("\(corrupt)@"))
        #expect(r.stderr.contains("gzip data is corrupt"))
    }
}
