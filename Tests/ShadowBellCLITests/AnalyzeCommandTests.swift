import Foundation
import ShadowBellTestSupport
import Testing
@testable import shadowbell

@Suite struct AnalyzeCommandTests {
    @Test func sqHangSampleIsFoundWithEvidenceAndExitsOne() throws {
        let (status, json, _) = try analyzeJSON([sample("lab/sq-hang.txt")])
        #expect(status == 1)
        #expect(json["schema_version"] as? Int == 1)
        let findings = json["findings"] as? [[String: Any]] ?? []
        let waits = findings.filter { $0["kind"] as? String == "mutual-wait" }
        #expect(waits.count == 1)
        let w = try #require(waits.first)
        #expect(w["severity"] as? String == "error")
        #expect(w["start_ns"] as? Int == 100_002_014_000)
        #expect(w["end_ns"] is NSNull)
        #expect(w["resolution"] as? String == "end-of-trace")
        #expect(w["cause"] as? String == "driver-reorder")
        #expect(w["published"] as? Int == 3)
        #expect(w["controller_seen"] as? Int == 2)
        #expect(w["stuck_commands"] as? Int == 3)
        let queue = w["queue"] as? [String: Any]
        #expect(queue?["controller"] as? String == "nvme0")
        #expect(queue?["qid"] as? Int == 1)
        #expect(queue?["type"] as? String == "sq")
        let evidence = (w["evidence"] as? [[String: Any]] ?? []).compactMap { $0["location"] as? String }
        #expect(evidence.contains { $0.hasSuffix("sq-hang.txt:39") })
    }

    @Test func cqHangSampleIsFound() throws {
        let (status, json, _) = try analyzeJSON([sample("lab/cq-hang.txt")])
        #expect(status == 1)
        let w = (json["findings"] as? [[String: Any]] ?? []).first { $0["kind"] as? String == "mutual-wait" }
        #expect((w?["queue"] as? [String: Any])?["type"] as? String == "cq")
        #expect(w?["start_ns"] as? Int == 50_001_150_000)
        #expect(w?["end_ns"] is NSNull)
    }

    @Test func realHealthyExcerptHasNoErrorAndCountsMatchGrep() throws {
        let guest = sample("real-single/guest-ftrace.txt"), qemu = sample("real-single/qemu-trace.log")
        let (status, json, _) = try analyzeJSON([guest, qemu])
        #expect(status == 0)
        let findings = json["findings"] as? [[String: Any]] ?? []
        #expect(findings.allSatisfy { $0["severity"] as? String != "error" })
        let log = try String(contentsOfFile: qemu, encoding: .utf8)
        let queues = json["queues"] as? [[String: Any]] ?? []
        func queue(_ qid: Int, _ type: String) -> [String: Any]? {
            queues.first { $0["qid"] as? Int == qid && $0["type"] as? String == type }
        }
        func grepCount(_ needle: String) -> Int { log.components(separatedBy: "\n").filter { $0.contains(needle) }.count }
        for qid in 0...2 {
            #expect(queue(qid, "sq")?["controller_shadow_reads"] as? Int == grepCount("pci_nvme_shadow_doorbell_sq sqid \(qid) "))
            #expect(queue(qid, "sq")?["controller_eventidx_writes"] as? Int == grepCount("pci_nvme_eventidx_sq sqid \(qid) "))
            #expect(queue(qid, "sq")?["mmio_doorbells"] as? Int == grepCount("pci_nvme_mmio_doorbell_sq sqid \(qid) "))
            #expect(queue(qid, "cq")?["controller_shadow_reads"] as? Int == grepCount("pci_nvme_shadow_doorbell_cq cqid \(qid) "))
            #expect(queue(qid, "cq")?["mmio_doorbells"] as? Int == grepCount("pci_nvme_mmio_doorbell_cq cqid \(qid) "))
        }
        let guestText = try String(contentsOfFile: guest, encoding: .utf8)
        let submitted = guestText.components(separatedBy: "\n").filter { $0.contains("nvme_setup_cmd:") && $0.contains(" qid=2, cmdid=") }.count
        #expect(queue(2, "sq")?["commands_submitted"] as? Int == submitted)
        #expect(submitted > 100)
    }

    /// A healthy QEMU log without timestamps whose last lines hold a CQ the controller found
    /// full (45 events before the end): every wait open where an order-only input ends was an
    /// error (exit 1). It is now judged as one cut short, its length in events against the
    /// queue's waits that ended by themselves: here none, no finding. A wait that outlasts them
    /// is a warning and no verdict of health, not an error.
    @Test func aHealthyUntimedLogEndingInAWaitIsNoHang() throws {
        try inTemporaryFolder("untimed-end") { dir in
            #expect(runCommand([
                "simulate", "--seed", "137", "--profile", "cq-pressure", "--driver-need-event", "spdk", "--queues", "4",
                "--duration-us", "15500", "--output", "\(dir)/guest.txt", "--qemu-log", "\(dir)/qemu.log", "--qemu-log-style", "plain",
                "--truth", "\(dir)/truth.json",
            ]) == 0)
            let truth = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/truth.json"))) as? [String: Any]
            #expect((truth?["mutual_waits"] as? [Any])?.isEmpty == true)
            let (status, json, _) = try analyzeJSON(["\(dir)/qemu.log"], extra: ["--stuck-after", "5ms", "--inferred-min-wait", "1ms", "--min-wait", "50us"])
            let errors = (json["findings"] as? [[String: Any]] ?? []).filter { $0["severity"] as? String == "error" }
            #expect(status == 0 && errors.isEmpty, "\(errors.map { $0["message"] ?? "" })")
        }
    }

    /// A CQ wait told from a QEMU log alone: no guest event says what the driver consumed, and
    /// the story says so (it told of "the guest's completions … one `nvme_sq` line per entry").
    /// Beside the guest trace the story tells the completions the guest handled.
    @Test func aCQWaitFromTheControllersSideAloneClaimsNoGuestEvent() throws {
        try inTemporaryFolder("cq-host-side") { dir in
            #expect(runCommand([
                "simulate", "--seed", "162", "--queues", "2", "--cq-entries", "4", "--iodepth", "12", "--burst", "12", "--iops", "1500",
                "--service", "uniform:300:3000", "--interrupt-latency", "uniform:200:800", "--controller-drain", "uniform:10:150,tail:20:500:5000",
                "--controller-barrier", "off", "--duration-us", "8000", "--ioeventfd", "--output", "\(dir)/guest.txt", "--qemu-log", "\(dir)/qemu.log",
            ]) == 0)
            let scaled = ["--stuck-after", "5ms", "--inferred-min-wait", "1ms", "--min-wait", "50us"]
            for (inputs, alone) in [(["\(dir)/qemu.log"], true), (["\(dir)/guest.txt", "\(dir)/qemu.log"], false)] {
                let (_, json, _) = try analyzeJSON(inputs, extra: scaled)
                let cq = (json["findings"] as? [[String: Any]] ?? []).filter {
                    $0["kind"] as? String == "mutual-wait" && ($0["queue"] as? [String: Any])?["type"] as? String == "cq"
                }
                #expect(!cq.isEmpty, "\(inputs)")
                for f in cq {
                    let story = f["explanation"] as? String ?? ""
                    #expect(story.contains("nvme_sq") != alone && story.contains("No guest event in the inputs") == alone, "\(inputs): \(story)")
                }
            }
        }
    }

    @Test func eachRealExcerptAloneHasNoErrorFinding() throws {
        for file in ["real-single/guest-ftrace.txt", "real-single/qemu-trace.log"] {
            let (status, json, _) = try analyzeJSON([sample(file)])
            #expect(status == 0, "\(file)")
            let errors = (json["findings"] as? [[String: Any]] ?? []).filter { $0["severity"] as? String == "error" }
            #expect(errors.isEmpty, "\(file): \(errors.map { $0["message"] ?? "" })")
        }
        // Without timestamps the QEMU log is analysed for order only, still without error.
        let log = try String(contentsOfFile: sample("real-single/qemu-trace.log"), encoding: .utf8)
        let untimed = log.split(separator: "\n").map { line -> Substring in
            guard let colon = line.firstIndex(of: ":"), line.contains("@") else { return line }
            return line[line.index(after: colon)...]
        }.joined(separator: "\n")
        let path = temporaryPath("untimed.log")
        try untimed.write(toFile: path, atomically: true, encoding: .utf8)
        let (status, json, _) = try analyzeJSON([path])
        #expect(status == 0)
        #expect((json["inputs"] as? [[String: Any]])?.first?["clock"] as? String == "order-only")
    }

    @Test func jsonIsDeterministic() throws {
        let a = try analyzeJSON([sample("lab/sq-hang.txt")]).text
        let b = try analyzeJSON([sample("lab/sq-hang.txt")]).text
        #expect(a == b)
    }

    /// A wait that ended before --min-wait is a short window, counted and not told. One still
    /// open where the trace ends is no shorter than the trace shows: it is told (here an
    /// error: the guest gave up on it 30 s in).
    @Test func minWaitTurnsAnEndedHangIntoAShortWindowNotAnOpenOne() throws {
        let ended = try analyzeJSON([sample("lab/sim-sq-hang.txt")], extra: ["--min-wait", "2ms", "--stuck-after", "60s"])
        let queues = ended.json["queues"] as? [[String: Any]] ?? []
        let sq1 = queues.first { $0["qid"] as? Int == 1 && $0["type"] as? String == "sq" }
        #expect(sq1?["sub_threshold_windows"] as? Int == 1)
        #expect(!(ended.json["findings"] as? [[String: Any]] ?? []).contains { $0["kind"] as? String == "mutual-wait" })
        let open = try analyzeJSON([sample("lab/sq-hang.txt")], extra: ["--min-wait", "40s", "--stuck-after", "60s"])
        let waits = (open.json["findings"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "mutual-wait" }
        #expect(open.status == 1 && waits.count == 1 && waits.first?["severity"] as? String == "error" && waits.first?["end_ns"] is NSNull, "\(waits)")
    }

    @Test func goldenJSONForEverySampleTrace() throws {
        let update = ProcessInfo.processInfo.environment["SHADOWBELL_UPDATE_GOLDEN"] == "1"
        let cases: [(String, [String])] = [
            ("lab-sq-hang", ["lab/sq-hang.txt"]),
            ("lab-cq-hang", ["lab/cq-hang.txt"]),
            ("real-single", ["real-single/guest-ftrace.txt", "real-single/qemu-trace.log"]),
        ]
        // Run from the package root with relative paths so the golden files hold no machine paths.
        FileManager.default.changeCurrentDirectoryPath(packageRoot.path)
        for (name, files) in cases {
            let text = try analyzeJSON(files.map { "SampleTraces/\($0)" }).text
            let golden = packageRoot.appendingPathComponent("Tests/ShadowBellCLITests/Golden/\(name).json")
            if update {
                try text.write(to: golden, atomically: true, encoding: .utf8)
            }
            let expected = try String(contentsOf: golden, encoding: .utf8)
            #expect(text == expected, "golden \(name) differs; rerun with SHADOWBELL_UPDATE_GOLDEN=1 after checking the change")
        }
    }
}

@Suite struct BadInputTests {
    @Test func missingFileExitsTwoWithItsName() throws {
        let r = try runProcess(["analyze", "/nonexistent/trace.txt"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("/nonexistent/trace.txt"))
        #expect(r.stderr.contains("No such file"))
    }

    /// An output that cannot be written is said as such (exit 2), not as a usage error
    /// followed by the usage: the command line was right.
    @Test func anUnwritableOutputIsAnErrorNotAUsageError() throws {
        let trace = packageRoot.appendingPathComponent("SampleTraces/lab/cq-hang.txt").path
        for command in [["analyze", trace], ["explain", trace, "--finding", "1"]] {
            let r = try runProcess(command + ["-o", "/nonexistent-dir/out.txt"])
            #expect(r.status == 2, "\(command[0])")
            #expect(r.stderr.contains("cannot write /nonexistent-dir/out.txt: No such file or directory"), "\(command[0])")
            #expect(!r.stderr.contains("USAGE"), "\(command[0])")
        }
    }

    /// `--output` is written beside the file and renamed when complete (a run killed while it
    /// wrote left a cut report under the name): through a link, the link stays a link and its
    /// file is replaced; nothing is left beside it.
    @Test func anOutputIsRenamedIntoPlaceWhole() throws {
        let folder = temporaryPath("output-rename-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "old".write(toFile: "\(folder)/report.json", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: "\(folder)/latest.json", withDestinationPath: "report.json")
        #expect(runCommand(["analyze", sample("lab/sim-healthy-racing.txt"), "--format", "json", "-o", "\(folder)/latest.json", "--quiet"]) == 0)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(folder)/latest.json") == "report.json")
        #expect(try String(contentsOfFile: "\(folder)/report.json", encoding: .utf8).hasPrefix("{"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["latest.json", "report.json"])
    }

    /// A text trace whose last line has no newline (a copy or a recording cut short) is read,
    /// and a note names that line: it was accepted in silence, and a number cut short
    /// (`cmdid=3321` of 33216) read as another. On one thread, in segments, and from a pipe.
    @Test func aTraceCutInsideALineSaysSo() throws {
        let whole = try Data(contentsOf: URL(fileURLWithPath: sample("lab/cq-hang.txt")))
        let lines = whole.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).count - 1
        let cut = temporaryPath("cut-inside-a-line-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(atPath: cut) }
        try whole.dropLast(5).write(to: URL(fileURLWithPath: cut))
        let note = "\(cut):\(lines): the last line has no newline: the file looks cut short"
        for extra in [[], ["--decode-threads", "2", "--decode-segment-size", "4096"]] {
            let (_, json, _) = try analyzeJSON([cut], extra: extra)
            let notes = (json["notes"] as? [String] ?? []).joined(separator: "\n")
            #expect(notes.contains(note), "\(extra): \(notes)")
            // A recorder writes whole lines: what followed the cut is not in the file, so no
            // verdict of health rests on it (a QEMU log cut inside a hang reads as idle).
            let undecided = (json["summary"] as? [String: Any])?["undecided"] as? [String] ?? []
            #expect(undecided.contains("\(cut) ends inside its line \(lines): what followed is not in the file"), "\(undecided)")
        }
        let piped = try runProcess(["analyze", "-", "--format", "json", "--quiet"], stdin: whole.dropLast(5))
        #expect(piped.stdout.contains("-:\(lines): the last line has no newline"))
        let (_, intact, _) = try analyzeJSON([sample("lab/cq-hang.txt")])
        #expect(!((intact["notes"] as? [String] ?? []).joined().contains("no newline")))
        // A console's last line is often a prompt without a newline (`login: `): said, and no
        // reason on its own to withhold a verdict.
        let console = try Data(contentsOf: URL(fileURLWithPath: try RealTraceTests.run("single").console))
        let prompt = temporaryPath("console-prompt-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(atPath: prompt) }
        try (console + Data("debian login: ".utf8)).write(to: URL(fileURLWithPath: prompt))
        let (_, json, _) = try analyzeJSON([prompt])
        #expect(((json["summary"] as? [String: Any])?["undecided"] as? [String] ?? []).allSatisfy { !$0.contains("ends inside its line") })
    }

    @Test func directoryEmptyGarbageAndForeignTextExitTwo() throws {
        let empty = temporaryPath("empty.txt")
        FileManager.default.createFile(atPath: empty, contents: Data())
        let garbage = temporaryPath("garbage.bin")
        var rng = SystemRandomNumberGenerator()
        FileManager.default.createFile(atPath: garbage, contents: Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &rng) }))
        let foreign = temporaryPath("foreign.txt")
        try "# tracer: nop\n  bash-1 [000] ..... 1.000000: sched_switch: prev_comm=bash\n".write(toFile: foreign, atomically: true, encoding: .utf8)
        // A directory is scanned for traces (batch mode); one without any is an input error.
        let emptyDirectory = temporaryPath("no-traces-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: emptyDirectory, withIntermediateDirectories: true)
        for path in [emptyDirectory, empty, garbage, foreign] {
            let r = try runProcess(["analyze", path])
            #expect(r.status == 2, "\(path): \(r.stderr)")
            #expect(r.stderr.contains(path))
            #expect(!r.stderr.contains("Fatal error"))
        }
    }

    @Test func malformedLinesAreCountedLocatedAndAnalysisGoesOn() throws {
        var text = try String(contentsOfFile: sample("lab/sq-hang.txt"), encoding: .utf8)
        text += "             fio-2201 [000] .....   130.020000: nvme_dbbuf_sq: nvme0: qid=1, old=5, new=banana, eventidx=2, mmio=0\n"
        let path = temporaryPath("malformed.txt")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let (status, json, _) = try analyzeJSON([path])
        #expect(status == 1)  // the hang is still reported; the bad line does not change the status
        let input = (json["inputs"] as? [[String: Any]])?.first
        #expect(input?["malformed"] as? Int == 1)
        let first = (input?["first_malformed"] as? [[String: Any]])?.first?["location"] as? String
        #expect(first == "\(path):54")
    }

    @Test func namedPipeIsReadOnceAndNotPeekedAt() throws {
        let fifo = temporaryPath("trace.fifo")
        unlink(fifo)
        #expect(mkfifo(fifo, 0o600) == 0)
        let data = try Data(contentsOf: URL(fileURLWithPath: sample("lab/sq-hang.txt")))
        let writer = Thread {
            if let handle = FileHandle(forWritingAtPath: fifo) { writeAllRetrying(handle, data) }
        }
        writer.start()
        let r = try runProcess(["analyze", fifo, "--format", "json"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("\"driver-reorder\""))
    }

    @Test func usageErrorsExit64() throws {
        #expect(try runProcess(["analyze"]).status == 64)
        #expect(try runProcess(["analyze", sample("lab/sq-hang.txt"), "--min-wait", "soon"]).status == 64)
        #expect(try runProcess(["analyze", sample("lab/sq-hang.txt"), "--format", "yaml"]).status == 64)
    }

    /// A trace.dat on standard input is spooled (libtracecmd seeks) and read as the file. (In a
    /// process of its own: the test that put the file on the test process's fd 0 raced the
    /// tests beside it, whose files could take that descriptor.)
    @Test func aTraceDatOnStandardInputIsSpooled() throws {
        let dat = packageRoot.appendingPathComponent("Tests/ShadowBellFormatsTests/Fixtures/tracedat/two-buffers-v7-zstd.dat")
        let r = try runProcess(["analyze", "-", "--format", "json"], stdin: try Data(contentsOf: dat))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let input = try #require((json["inputs"] as? [[String: Any]])?.first)
        #expect(input["path"] as? String == "-" && input["events"] as? Int == 7 && input["format"] as? String == "trace-dat", "\(input)")
    }

    @Test func standardInputIsRead() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: sample("lab/sq-hang.txt")))
        let r = try runProcess(["analyze", "-", "--format", "json"], stdin: data)
        #expect(r.status == 1)
        #expect(r.stdout.contains("\"driver-reorder\""))
    }

    /// A pcap on standard input redirected from a file (`analyze - < FILE.pcap`, a mapped
    /// standard input) reads as the file does, like a piped one.
    @Test func pcapRedirectedToStandardInputReadsAsTheFile() throws {
        let pcap = sample("binary/qemu-single-excerpt.pcap")
        let direct = try runProcess(["analyze", pcap, "--format", "json"])
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executablePath)
        p.arguments = ["analyze", "-", "--format", "json"]
        p.standardInput = try #require(FileHandle(forReadingAtPath: pcap))
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let redirected = String(decoding: readAllRetrying(out.fileHandleForReading), as: UTF8.self)
        p.waitUntilExit()
        let piped = try runProcess(["analyze", "-", "--format", "json"], stdin: try Data(contentsOf: URL(fileURLWithPath: pcap)))
        #expect(p.terminationStatus == direct.status)
        #expect(redirected == piped.stdout)
        #expect(redirected == direct.stdout.replacingOccurrences(of: pcap, with: "-"))
        #expect(redirected.contains("\"malformed\": 0"))
    }
}

@Suite struct DurationParsingTests {
    @Test func unitsAndBareSeconds() {
        #expect(parseDuration("1ms") == 1_000_000)
        #expect(parseDuration("250us") == 250_000)
        #expect(parseDuration("250µs") == 250_000)
        #expect(parseDuration("2s") == 2_000_000_000)
        #expect(parseDuration("0.5") == 500_000_000)
        #expect(parseDuration("1.5ms") == 1_500_000)
        #expect(parseDuration("12ns") == 12)
        #expect(parseDuration("soon") == nil)
        #expect(parseDuration("") == nil)
        #expect(parseDuration("-1s") == nil)
        // Minutes and hours (`--stuck-after 2m` was an invalid value).
        #expect(parseDuration("2m") == 120_000_000_000 && parseDuration("1.5min") == 90_000_000_000)
        #expect(parseDuration("1h") == 3_600_000_000_000)
        #expect(parseDuration("9999999999h") == nil)
    }
}

/// A trace recorded with a clock that does not count nanoseconds (ftrace's `x86-tsc`, `counter`,
/// `uptime`) prints bare counts: they were read as nanoseconds, so a guest trace on the TSC beside
/// a QEMU log was "aligned" with a drift of 550,685 ppm and gave 14 errors for 2 hangs, and alone
/// told its durations in cycles as seconds.
@Suite struct CounterClockTests {
    static func counterTrace(_ name: String) throws -> String {
        let text = try String(contentsOfFile: sample("lab/sq-hang.txt"), encoding: .utf8)
        // `100.002011:` → `100002011:` (microseconds as a bare count).
        let counted = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard !line.hasPrefix("#"), let r = line.range(of: #" (\d+)\.(\d{6}): "#, options: .regularExpression) else { return String(line) }
            let stamp = line[r].trimmingCharacters(in: .whitespaces).dropLast()
            return line.replacingCharacters(in: r, with: " " + stamp.replacing(".", with: "") + ": ")
        }.joined(separator: "\n")
        let path = temporaryPath(name)
        try counted.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func bareCountsAreAClockWithoutDurations() throws {
        let path = try Self.counterTrace("counter-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains(" 100002011: nvme_setup_cmd"))
        for extra in [[String](), ["--decode-threads", "2", "--decode-segment-size", "512"]] {
            let r = try analyzeJSON([path], extra: extra)
            let inputs = r.json["inputs"] as? [[String: Any]] ?? []
            #expect(inputs.first?["clock"] as? String == "counter", "\(extra)")
            let findings = r.json["findings"] as? [[String: Any]] ?? []
            #expect(!findings.isEmpty)
            #expect(findings.allSatisfy { ($0["uncertainty"] as? [String] ?? []).contains { $0.contains("does not count nanoseconds") } })
            #expect((r.json["notes"] as? [String] ?? []).contains { $0.contains("bare counts of a clock that does not count nanoseconds") })
        }
        // Beside a trace on a nanosecond clock it is not aligned by its counts: each on its own.
        let other = sample("lab/sim-healthy-racing.txt")
        let both = try analyzeJSON([path, other])
        let alignment = both.json["alignment"] as? [[String: Any]] ?? []
        #expect(alignment.contains { $0["method"] as? String == "none" }, "\(alignment)")
        #expect(!alignment.contains { $0["method"] as? String == "estimated" })
        // One note says so (the alignment's own note is not repeated among the notes).
        let name = (path as NSString).lastPathComponent
        #expect((both.json["notes"] as? [String] ?? []).filter { $0.contains(name) }.count == 1, "\(both.json["notes"] ?? [])")
        // explain gives no duration between counts.
        for finding in ["1", "2"] {
            let explained = try runProcess(["explain", "--finding", finding, path])
            let header = explained.stdout.split(separator: "\n").dropFirst().prefix(2).joined(separator: " ")
            #expect(header.hasPrefix("from #"), "\(header)")
            #expect(header.range(of: #"\d (ns|µs|ms|s)\b"#, options: .regularExpression) == nil, "\(header)")
        }
    }

    /// A console that ends with its ftrace dump (a panic's `ftrace_dump_on_oops`, or the VM
    /// killed after SysRq-z): the dump's ring buffer went on recording for 7 s after the last
    /// submission (a marker, other events), with no completion. The analysis ended at the last
    /// nvme event and called the hung run healthy; the input's recording reaches its last line.
    @Test func consoleEndingWithItsDumpRecordsUntilItsLastLine() throws {
        let delimiter = "---------------------------------"
        func console(markerUs: Int) -> String {
            "[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)\n"
                + "[   50.000000] Dumping ftrace buffer:\n[   50.000000] \(delimiter)\n"
                + "[   50.000001]      fio-157       0d..1. 10000000us : nvme_setup_cmd: nvme0: disk=nvme0n1, qid=1, cmdid=8, "
                + "nsid=1, flags=0x0, meta=0x0, cmd=(nvme_cmd_read slba=0, len=15, ctrl=0x0, dsmgmt=0, reftag=0)\n"
                + "[   50.000002]     init-152       1..... \(markerUs)us : tracing_mark_write: echo z > /proc/sysrq-trigger\n"
                + "[   50.000003] \(delimiter)\n"
        }
        for (markerUs, status, stuck) in [(17_000_000, Int32(1), 1), (10_000_100, Int32(0), 0)] {
            let path = temporaryPath("dump-at-end-\(UUID().uuidString).log")
            try console(markerUs: markerUs).write(toFile: path, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let r = try analyzeJSON([path])
            #expect(r.status == status, "\(markerUs)")
            let findings = r.json["findings"] as? [[String: Any]] ?? []
            #expect(findings.filter { $0["kind"] as? String == "stuck-command" }.count == stuck, "\(findings)")
            #expect(!(r.json["notes"] as? [String] ?? []).contains { $0.contains("has no end") })
        }
        // The same console cut inside its dump (the closing dashes never printed): said, with
        // the line the dump begins on.
        let cut = temporaryPath("dump-cut-\(UUID().uuidString).log")
        try String(console(markerUs: 10_000_100).dropLast(delimiter.count + 16)).write(toFile: cut, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: cut) }
        let cutReport = try analyzeJSON([cut])
        let notes = cutReport.json["notes"] as? [String] ?? []
        #expect(notes.contains { $0.hasPrefix("\(cut):2: the ftrace dump that begins here has no end") && $0.hasSuffix("Where it stops, 1 I/O command(s) are outstanding (nvme0 qid 1: 1): whether they completed is not in the input.") }, "\(notes)")
        // No error finding, and no verdict of health either: said where CI reads the outcome.
        #expect(cutReport.status == 0)
        let undecided = (cutReport.json["summary"] as? [String: Any])?["undecided"] as? [String] ?? []
        #expect(undecided == ["\(cut): its ftrace dump (from line 2) is cut short, 1 I/O command(s) outstanding where it stops (nvme0 qid 1: 1)"], "\(undecided)")
        let text = try runProcess(["analyze", cut])
        #expect(text.stdout.contains("Result: no error finding, but no verdict of health either: \(cut): its ftrace dump (from line 2) is cut short"), "\(text.stdout)")
        let folder = temporaryPath("dump-cut-batch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: "\(folder)/vm", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: cut, toPath: "\(folder)/vm/console.log")
        let batch = try runProcess(["analyze", folder])
        #expect(batch.status == 0 && batch.stdout.contains("  ok?          0         0      0  \(folder)/vm\n"), "\(batch.stdout)")
        #expect(batch.stdout.contains("Result: 0 run(s) failed, 0 with input errors, 1 passed undecided"), "\(batch.stdout)")
        let batchJSON = try runProcess(["analyze", folder, "--format", "json"])
        let summary = (try JSONSerialization.jsonObject(with: Data(batchJSON.stdout.utf8)) as? [String: Any])?["summary"] as? [String: Any]
        #expect(summary?["runs_undecided"] as? Int == 1, "\(summary ?? [:])")
        // The batch's summary lists each run's reasons, so that the check Docs/CLI.md gives a
        // run (`jq -e '.summary.undecided == []'`) holds for a folder too (it had no such key).
        #expect(summary?["undecided"] as? [String] == ["\(folder)/vm: \(folder)/vm/console.log: its ftrace dump (from line 2) is cut short, 1 I/O command(s) outstanding where it stops (nvme0 qid 1: 1)"], "\(summary ?? [:])")
        let junit = try runProcess(["analyze", folder, "--format", "junit"])
        #expect(junit.stdout.contains("<testcase classname=\"shadowbell.vm.verdict\" name=\"health\">\n      <skipped>no verdict of health: \(folder)/vm/console.log: its ftrace dump (from line 2) is cut short"), "\(junit.stdout)")
        // --fail-on undecided: CI that must not pass what the inputs cannot judge fails it
        // (exit 1), says why, and JUnit fails the health case; error findings still fail.
        let strict = try runProcess(["analyze", cut, "--fail-on", "undecided"])
        #expect(strict.status == 1 && strict.stdout.contains("its ftrace dump (from line 2) is cut short") && strict.stdout.contains("(exit 1: --fail-on undecided)"), "\(strict.stdout)")
        let strictJUnit = try runProcess(["analyze", folder, "--format", "junit", "--fail-on", "undecided"])
        #expect(strictJUnit.status == 1 && strictJUnit.stdout.contains("<failure type=\"undecided\" message=\"no verdict of health: ") && strictJUnit.stdout.contains("skipped=\"0\""), "\(strictJUnit.stdout)")
        #expect(try runProcess(["analyze", sample("lab/sq-hang.txt"), "--fail-on", "undecided"]).status == 1)
        #expect(try runProcess(["analyze", sample("lab/sim-healthy-racing.txt"), "--fail-on", "undecided"]).status == 0)
        let written = try runProcess(["analyze", folder, "--output", temporaryPath("undecided-\(UUID().uuidString).txt")])
        #expect(written.stderr.contains(", none failed, 1 passed undecided (\(folder)/vm: the inputs cannot tell, see the report) (exit 0)"), "\(written.stderr)")
    }

    /// An input that cannot be read makes the run exit 2, and the result line still counts
    /// the error findings of the inputs read (it said "input error" below two errors).
    @Test func theResultLineOfAnInputErrorCountsTheFindings() throws {
        let r = try runProcess(["analyze", sample("lab/sq-hang.txt"), temporaryPath("missing-\(UUID().uuidString).txt")])
        #expect(r.status == 2)
        #expect(r.stdout.contains("Result: input error (exit 2); 1 error finding(s) in the inputs read"), "\(r.stdout)")
    }

    /// A hang still open where the trace ends lasts until the trace's last line, not its last
    /// NVMe event: after both queues hung, the guest trace goes on with scheduler events for
    /// 19 ms, and the two waits were judged over 0.6 ms and 0.2 ms (below --min-wait: a hung
    /// run passed). With the QEMU log beside it (the controller, asleep on both queues, logs
    /// nothing more: its log ends at 0.7 ms), the guest trace shows no completion on either
    /// queue since, so the waits last as long. Both give the simulator's windows and fail.
    /// Seed 16: sq1 hangs 11 µs before the QEMU log ends, and the guest completes the command
    /// the controller completed last 3 µs after that end: the completion of what the
    /// controller did before it stopped is no sign of work after it (sq1 went unreported).
    @Test(arguments: ["1", "16"]) func aHangOpenAtTheEndLastsUntilTheRecordingEnds(seed: String) throws {
        let guest = temporaryPath("hung-\(UUID().uuidString).txt"), truth = temporaryPath("hung-\(UUID().uuidString).json")
        let fieldGuest = temporaryPath("hung-field-\(UUID().uuidString).txt"), qemu = temporaryPath("hung-\(UUID().uuidString).log")
        defer { for p in [guest, truth, fieldGuest, qemu] { try? FileManager.default.removeItem(atPath: p) } }
        let model = ["--seed", seed, "--profile", "racing", "--queues", "2", "--driver-barrier", "off", "--duration-us", "20000", "--timeout-divisor", "1000"]
        #expect(runCommand(["simulate"] + model + ["--output", guest, "--truth", truth]) == 0)
        #expect(runCommand(["simulate"] + model + ["--output", fieldGuest, "--qemu-log", qemu]) == 0)
        let windows = (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: truth))) as? [String: Any])?["mutual_waits"] as? [[String: Any]] ?? []
        let open = windows.filter { $0["resolution"] as? String == "end-of-trace" }.map { ($0["queue"] as? [String: Any])?["qid"] as? Int ?? -1 }
        #expect(open.sorted() == [1, 2], "\(windows)")
        for inputs in [[guest], [fieldGuest, qemu]] {
            let r = try analyzeJSON(inputs)
            #expect(r.status == 1, "\(inputs)")
            let waits = (r.json["findings"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "mutual-wait" && $0["end_ns"] is NSNull }
            #expect(waits.compactMap { ($0["queue"] as? [String: Any])?["qid"] as? Int }.sorted() == [1, 2], "\(inputs): \(waits)")
            // Each lasted from its start to the guest trace's last line (about 152.02 s).
            for w in waits {
                let duration = w["duration_ns"] as? Int ?? 0
                #expect(duration > 18_000_000, "\(inputs): \(w)")
            }
        }
        // One queue: its wait opens just before the QEMU log's last event (the controller fell
        // asleep) and is judged to the guest's end; the note below is not given beside it.
        let oneGuest = temporaryPath("hung-one-\(UUID().uuidString).txt"), oneQemu = temporaryPath("hung-one-\(UUID().uuidString).log")
        let cutQemu = temporaryPath("hung-cut-\(UUID().uuidString).log")
        defer { for p in [oneGuest, oneQemu, cutQemu] { try? FileManager.default.removeItem(atPath: p) } }
        #expect(runCommand(["simulate"] + model + ["--queues", "1", "--output", oneGuest, "--qemu-log", oneQemu]) == 0)
        let one = try analyzeJSON([oneGuest, oneQemu])
        let oneWaits = (one.json["findings"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "mutual-wait" && $0["end_ns"] is NSNull }
        #expect(one.status == 1 && oneWaits.count == 1 && (oneWaits.first?["duration_ns"] as? Int ?? 0) > 18_000_000, "\(oneWaits)")
        #expect((one.json["summary"] as? [String: Any])?["undecided"] as? [String] == [])
        // The same QEMU log stopped 0.2 ms before that wait opened: the wait is not in it, and
        // the queue's 48 commands stay outstanding for 19 ms with no completion since the
        // log's end. No verdict of health (it passed without a word).
        let lines = try String(contentsOfFile: oneQemu, encoding: .utf8).split(separator: "\n")
        let kept = lines.filter { line in
            guard let at = line.firstIndex(of: "@"), let colon = line[at...].firstIndex(of: ":") else { return false }
            return (Double(line[line.index(after: at)..<colon]) ?? .infinity) < 1_764_115_200.000_400
        }
        #expect(kept.count > 100 && kept.count < lines.count)
        try (kept.joined(separator: "\n") + "\n").write(toFile: cutQemu, atomically: true, encoding: .utf8)
        let cut = try analyzeJSON([oneGuest, cutQemu])
        let undecided = (cut.json["summary"] as? [String: Any])?["undecided"] as? [String] ?? []
        #expect(cut.status == 0 && undecided.contains { $0.hasPrefix("48 I/O command(s) (nvme0 qid 1: 48) still outstanding where the guest's trace ends") }, "\(undecided)")
    }

    /// The QEMU log alone of a guest that aborted 48 commands and reset the controller 0.9 ms
    /// into a simulated run (its I/O timeout scaled to 0.75 ms): no queue had been silent for
    /// --min-wait before the ABORTs, so no candidate, and the run passed without a word. It
    /// says what it saw, and that it is no verdict of health.
    @Test func aGiveUpNoQueueExplainsIsNoVerdictOfHealth() throws {
        let guest = temporaryPath("giveup-\(UUID().uuidString).txt"), qemu = temporaryPath("giveup-\(UUID().uuidString).log")
        defer { for p in [guest, qemu] { try? FileManager.default.removeItem(atPath: p) } }
        #expect(runCommand(["simulate", "--seed", "34", "--profile", "racing", "--queues", "1", "--driver-barrier", "off",
                            "--duration-us", "1700", "--timeout-divisor", "40000", "--output", guest, "--qemu-log", qemu]) == 0)
        let r = try analyzeJSON([qemu])
        let undecided = (r.json["summary"] as? [String: Any])?["undecided"] as? [String] ?? []
        #expect(r.status == 0 && undecided.contains { $0.hasPrefix("nvme0: the guest aborted 48 command(s) at ") && $0.hasSuffix("what it gave up on is not in the inputs") }, "\(undecided)")
        #expect((r.json["notes"] as? [String] ?? []).contains { $0.contains("No queue of the controller had been silent before the first ABORT long enough to hold a command that timed out") })
    }

    /// A guest trace recorded with the kernel's `console` event holds the driver's timeout
    /// messages: a simulated run whose guest timed out 32 commands, aborted them and reset the
    /// controller passed (its wait of 0.6 ms is below --min-wait, and the messages were
    /// skipped); the console's lines given beside it are the same messages, counted once.
    @Test func aTracesConsoleEventsTellTheGuestsTimeouts() throws {
        let trace = temporaryPath("console-events-\(UUID().uuidString).txt"), console = temporaryPath("console-\(UUID().uuidString).log")
        defer { for p in [trace, console] { try? FileManager.default.removeItem(atPath: p) } }
        #expect(runCommand(["simulate", "--seed", "8562", "--profile", "steady", "--queues", "1", "--driver-barrier", "off",
                            "--controller-barrier", "off", "--duration-us", "1700", "--timeout-divisor", "100000", "--output", trace]) == 0)
        let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n")
        let messages = lines.compactMap { line in line.range(of: "console: ").map { String(line[$0.upperBound...]) } }
        #expect(messages.count == 66, "\(messages.count)")  // 33 timeouts, 32 abort statuses, the queues after the reset
        try (messages.joined(separator: "\n") + "\n").write(toFile: console, atomically: true, encoding: .utf8)
        for inputs in [[trace], [trace, console]] {
            let r = try analyzeJSON(inputs)
            let stuck = (r.json["findings"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "stuck-command" }
            #expect(r.status == 1 && stuck.count == 1, "\(inputs)")
            #expect((stuck.first?["explanation"] as? String ?? "").contains("28 more are not listed"), "\(inputs)")
        }
    }

    /// A lab trace with the driver's probes and the kernel's console events: its timeouts
    /// named queues the controller was asleep on for a few µs, and the host-side rule made
    /// each an inferred mutual wait (an error) where the probes showed none. The guest's trace
    /// covers that time: it tells the waits itself.
    @Test func aTraceCoveringTheStallOverridesTheHostSideRule() throws {
        let trace = temporaryPath("covered-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(atPath: trace) }
        #expect(runCommand(["simulate", "--seed", "6363", "--profile", "racing", "--queues", "3", "--driver-barrier", "off", "--names", "qemu72",
                            "--cq-entries", "3", "--duration-us", "1700", "--timeout-divisor", "100000", "--output", trace]) == 0)
        let r = try analyzeJSON([trace], extra: ["--min-wait", "0"])
        let findings = r.json["findings"] as? [[String: Any]] ?? []
        #expect(!findings.contains { $0["kind"] as? String == "mutual-wait" && $0["inferred"] as? Bool == true }, "\(findings.map { $0["message"] ?? "" })")
        #expect(findings.contains { $0["kind"] as? String == "stuck-command" })
    }

    /// A wait inferred from the guest's submissions that a reset or a queue deletion ended is
    /// a hang, however short, when the guest gave up inside it: the reset was the driver's
    /// recovery from it, not teardown. A simulated run (its guest's I/O timeout scaled down)
    /// hung 3–6 ms three times: mutual waits from its QEMU log alone, stuck commands beside the
    /// guest trace (whose story said the controller's events showed no mutual wait).
    @Test func anInferredWaitTheGuestGaveUpOnIsAHangHoweverShort() throws {
        try inTemporaryFolder("inferred-give-up") { dir in
            #expect(runCommand(["simulate", "--seed", "121", "--profile", "cq-pressure", "--driver-barrier", "off", "--duration-us", "25000",
                                "--queues", "2", "--timeout-divisor", "10000", "--output", "\(dir)/guest.txt", "--qemu-log", "\(dir)/qemu.log"]) == 0)
            func waits(_ paths: [String]) throws -> [Int] {
                let r = try analyzeJSON(paths.map { "\(dir)/\($0)" })
                return (r.json["findings"] as? [[String: Any]] ?? [])
                    .filter { $0["kind"] as? String == "mutual-wait" && $0["severity"] as? String == "error" }
                    .map { ($0["queue"] as? [String: Any])?["qid"] as? Int ?? -1 }
            }
            let alone = try waits(["qemu.log"])
            #expect(alone == [1, 2, 2])
            #expect(try waits(["guest.txt", "qemu.log"]) == alone)
        }
    }

    /// A QEMU log that stops 0.1–1 ms before the guest's trace of a healthy run (a killed
    /// QEMU's unflushed log): the guest's submissions after the log's end read as a wait to the
    /// trace's end — an error from 1 ms on, a wait cut short by the end below it. The guest
    /// trace shows the controller did nothing for a queue only if it goes on long past the
    /// log's end (--inferred-min-wait) without a completion there.
    @Test func aQemuLogEndingJustBeforeTheGuestTraceIsNoHang() throws {
        try inTemporaryFolder("log-ends-first") { dir in
            #expect(runCommand(["simulate", "--seed", "16", "--profile", "steady", "--duration-us", "5000", "--ioeventfd",
                                "--output", "\(dir)/guest.txt", "--qemu-log", "\(dir)/qemu.log", "--truth", "\(dir)/truth.json"]) == 0)
            let lines = try String(contentsOfFile: "\(dir)/qemu.log", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            // `pid@seconds.micros:event …`, in microseconds.
            func micros(_ line: Substring) -> Int? {
                guard let at = line.firstIndex(of: "@"), let colon = line[at...].firstIndex(of: ":") else { return nil }
                let parts = line[line.index(after: at)..<colon].split(separator: ".")
                guard parts.count == 2, let s = Int(parts[0]), let us = Int(parts[1]) else { return nil }
                return s * 1_000_000 + us
            }
            let last = try #require(lines.compactMap(micros).max())
            for gap in [100, 500, 1_000] {
                let kept = lines.filter { micros($0).map { $0 <= last - gap } ?? false }
                try (kept.joined(separator: "\n") + "\n").write(toFile: "\(dir)/cut.log", atomically: true, encoding: .utf8)
                let r = try analyzeJSON(["\(dir)/guest.txt", "\(dir)/cut.log"])
                let told = (r.json["findings"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "mutual-wait" }
                #expect(r.status == 0 && told.isEmpty, "\(gap) µs: \(told.map { $0["message"] ?? "" })")
            }
        }
    }

    /// A console beside the guest trace and the QEMU log does not bound where waits are judged:
    /// it prints only now and then, and its last line is not where it stopped recording (a
    /// simulated run whose two queues hung after the console's last line, told beside guest
    /// trace and QEMU log, gave exit 0 and no finding once the console was added).
    @Test func aConsoleWhoseLastLineCameEarlyCutsNoJudgementShort() throws {
        try inTemporaryFolder("console-early") { dir in
            #expect(runCommand(["simulate", "--seed", "61", "--profile", "steady", "--driver-barrier", "off", "--timeout-divisor", "300",
                                "--duration-us", "90000", "--queues", "2", "--output", "\(dir)/guest.txt", "--qemu-log", "\(dir)/qemu.log"]) == 0)
            try "[  152.000001] nvme nvme0: 2/0/0 default/read/poll queues\n".write(toFile: "\(dir)/console.log", atomically: true, encoding: .utf8)
            func waits(_ r: (status: Int32, json: [String: Any], text: String)) -> [String] {
                (r.json["findings"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "mutual-wait" && $0["severity"] as? String == "error" }
                    .map { "\(($0["queue"] as? [String: Any])?["qid"] ?? "?")@\($0["start_ns"] ?? "?")" }
            }
            let two = try analyzeJSON(["\(dir)/guest.txt", "\(dir)/qemu.log"])
            #expect(two.status == 1 && waits(two).count == 2, "\(waits(two))")
            for order in [["guest.txt", "qemu.log", "console.log"], ["console.log", "qemu.log", "guest.txt"]] {
                let three = try analyzeJSON(order.map { "\(dir)/\($0)" })
                #expect(three.status == 1 && waits(three) == waits(two), "\(order): \(waits(three))")
            }
        }
    }

    /// A CQ wait without the driver's CQ probe, as every real guest trace is: the guest's
    /// `nvme_sq` lines (one per completion entry it handles) move its CQ head, inferred from the
    /// queue's creation on. A simulated run whose cq2 filled and stayed full to the end (its
    /// controller never wrote the CQ EventIdx) read as healthy beside its QEMU log.
    @Test func aCQWaitIsInferredFromTheCompletionsTheGuestHandled() throws {
        try inTemporaryFolder("cq-inferred") { dir in
            #expect(runCommand(["simulate", "--seed", "112", "--queues", "2", "--cq-entries", "4", "--iodepth", "12", "--burst", "12",
                                "--iops", "1500", "--service", "uniform:300:3000", "--interrupt-latency", "uniform:200:800",
                                "--controller-drain", "uniform:10:150,tail:20:500:5000", "--controller-barrier", "off", "--duration-us", "5000",
                                "--names", "qemu72", "--fault", "no-cq-eventidx", "--output", "\(dir)/guest.txt", "--qemu-log", "\(dir)/qemu.log",
                                "--truth", "\(dir)/truth.json"]) == 0)
            let truth = (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/truth.json"))) as? [String: Any])?["mutual_waits"] as? [[String: Any]] ?? []
            let open = truth.filter { ($0["queue"] as? [String: Any])?["type"] as? String == "cq" && $0["end_ns"] is NSNull }
            #expect(open.count == 1)
            let r = try analyzeJSON(["\(dir)/guest.txt", "\(dir)/qemu.log"])
            let waits = (r.json["findings"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "mutual-wait" }
            #expect(r.status == 1 && waits.count == 1, "\(waits.map { $0["message"] ?? "" })")
            let w = try #require(waits.first)
            #expect((w["queue"] as? [String: Any])?["type"] as? String == "cq" && (w["queue"] as? [String: Any])?["qid"] as? Int == 2)
            #expect(w["inferred"] as? Bool == true && w["end_ns"] is NSNull)
            let start = w["start_ns"] as? Int ?? 0, truthStart = open.first?["start_ns"] as? Int ?? 0
            #expect(abs(start - truthStart) < 20_000, "\(start) vs \(truthStart)")
            #expect((w["evidence"] as? [[String: Any]] ?? []).contains { $0["role"] as? String == "driver-cq-head" })
            let story = try runProcess(["explain", "\(dir)/guest.txt", "\(dir)/qemu.log", "--finding", String(w["id"] as? Int ?? 0)])
            #expect(story.stdout.contains("inferred from the completions the guest handled"), "\(story.stdout.prefix(600))")
            // Its steps hold the completions the guest handled and the head they infer (they
            // showed the controller's events only, with P=?).
            #expect(story.stdout.contains("The guest handled a completion entry of cq2: the driver's CQ head moves to"), "\(story.stdout.prefix(600))")
            #expect(story.stdout.contains("(inferred) S=") && !story.stdout.contains("P=? "), "\(story.stdout.prefix(600))")
        }
    }

    /// A controller without its barrier (simulated, seed 2): its EventIdx store stayed
    /// invisible to the driver for up to 1.8 µs after its stamp. Without the driver's probes
    /// a submission stamped 0.7–1.4 µs after that write does not prove the driver could read
    /// it: the cause was `skipped-demanded-doorbell`, confidently wrong (the truth is
    /// controller-reorder); it is `unknown`, and the story names both.
    @Test func aSubmissionWithinAStoresVisibilityProvesNoSkippedDoorbell() throws {
        let guest = temporaryPath("reorder-\(UUID().uuidString).txt"), qemu = temporaryPath("reorder-\(UUID().uuidString).log")
        let truth = temporaryPath("reorder-\(UUID().uuidString).json")
        defer { for p in [guest, qemu, truth] { try? FileManager.default.removeItem(atPath: p) } }
        #expect(runCommand(["simulate", "--seed", "2", "--profile", "racing", "--controller-barrier", "off",
                            "--output", guest, "--qemu-log", qemu, "--truth", truth]) == 0)
        let windows = (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: truth))) as? [String: Any])?["mutual_waits"] as? [[String: Any]] ?? []
        #expect(!windows.isEmpty && windows.allSatisfy { $0["cause"] as? String == "controller-reorder" })
        let r = try analyzeJSON([guest, qemu], extra: ["--inferred-min-wait", "1ms"])
        let waits = (r.json["findings"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "mutual-wait" }
        // The truth's third wait opened 270 µs before the trace ends: told as a warning that
        // the trace ends too soon to judge.
        #expect(waits.count == 3 && waits.allSatisfy { $0["cause"] as? String == "unknown" }, "\(waits.map { $0["cause"] ?? "-" })")
        #expect(waits.map { $0["severity"] as? String ?? "" } == ["error", "error", "warning"] && waits.last?["cut_short_by_end_of_trace"] as? Bool == true)
        #expect(r.text.contains("But that order is not proven — a store may stay invisible to the other side for up to 3.000 µs after its stamp"))
    }

    /// A QEMU log without timestamps (`--qemu-log-style plain`) measures in events: its waits
    /// were told as "for 539 ns" with `duration_ns` 539 (a count of events), beside the report's
    /// own note that durations do not apply.
    @Test func aWaitOnAnInputWithoutTimestampsIsToldInEvents() throws {
        let guest = temporaryPath("plain-\(UUID().uuidString).txt"), qemu = temporaryPath("plain-\(UUID().uuidString).log")
        defer { for p in [guest, qemu] { try? FileManager.default.removeItem(atPath: p) } }
        #expect(runCommand(["simulate", "--seed", "518", "--profile", "cq-pressure", "--driver-barrier", "off", "--controller-barrier", "off",
                            "--queues", "4", "--names", "qemu72", "--fault", "stale-buffers", "--fault", "out-of-range",
                            "--duration-us", "16000", "--output", guest, "--qemu-log", qemu, "--qemu-log-style", "plain"]) == 0)
        let r = try analyzeJSON([qemu], extra: ["--stuck-after", "5ms", "--inferred-min-wait", "1ms", "--min-wait", "50us"])
        let waits = (r.json["findings"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "mutual-wait" }
        try #require(!waits.isEmpty)
        for w in waits {
            let message = w["message"] as? String ?? ""
            #expect(message.contains(" events") && message.range(of: #"\d (ns|µs|ms|s)\b"#, options: .regularExpression) == nil, "\(message)")
        }
    }

    /// The QEMU log alone of a guest whose I/O timeout is short (a simulation's, scaled by
    /// 1000: 30 ms): it aborted and reset twice, and no queue had been silent for
    /// --inferred-min-wait before its ABORTs, so nothing was said (exit 0). The queue silent
    /// before them is the give-up's, marked uncertain with the reason, and the reset's
    /// recurrence is told as before.
    @Test func aGiveUpAfterAShortTimeoutIsNotSilent() throws {
        let guest = temporaryPath("short-timeout-\(UUID().uuidString).txt"), qemu = temporaryPath("short-timeout-\(UUID().uuidString).log")
        let truth = temporaryPath("short-timeout-\(UUID().uuidString).json")
        defer { for p in [guest, qemu, truth] { try? FileManager.default.removeItem(atPath: p) } }
        #expect(runCommand(["simulate", "--seed", "5", "--fault", "skip-mmio", "--fault", "reset-ordering", "--names", "qemu72",
                            "--duration-us", "200000", "--iops", "20000", "--timeout-divisor", "1000",
                            "--output", guest, "--qemu-log", qemu, "--truth", truth]) == 0)
        let windows = (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: truth))) as? [String: Any])?["mutual_waits"] as? [[String: Any]] ?? []
        let long = windows.filter { ($0["end_ns"] as? Int ?? 0) - ($0["start_ns"] as? Int ?? 0) > 10_000_000 }
        let r = try analyzeJSON([qemu])
        #expect(r.status == 1)
        let waits = (r.json["findings"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "mutual-wait" }
        #expect(waits.map { ($0["queue"] as? [String: Any])?["qid"] as? Int } == long.map { ($0["queue"] as? [String: Any])?["qid"] as? Int }, "\(waits) vs \(long)")
        #expect(waits.allSatisfy { ($0["uncertainty"] as? [String] ?? []).contains { $0.contains("less than --inferred-min-wait (100.000 ms), and no queue longer") } })
        #expect(waits.last?["known_bug"] is [String: Any])
    }

    /// A guest trace without most of its completions (`trace-cmd report -I` leaves out the
    /// hardirq context nvme_complete_rq runs in) made every command look stuck; a note says so
    /// and stuck commands are marked uncertain.
    @Test func aTraceWithoutItsCompletionsSaysSo() throws {
        let full = temporaryPath("racing-\(UUID().uuidString).txt")
        #expect(runCommand(["simulate", "--seed", "3", "--profile", "racing", "--duration-us", "10000", "--output", full]) == 0)
        defer { try? FileManager.default.removeItem(atPath: full) }
        let text = try String(contentsOfFile: full, encoding: .utf8)
        let stripped = temporaryPath("no-completions-\(UUID().uuidString).txt")
        try text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.contains("nvme_complete_rq") }
            .joined(separator: "\n").write(toFile: stripped, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: stripped) }
        let r = try analyzeJSON([stripped], extra: ["--stuck-after", "1ms"])
        #expect((r.json["notes"] as? [String] ?? []).contains { $0.contains("its completions were left out") })
        let stuck = (r.json["findings"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "stuck-command" }
        #expect(!stuck.isEmpty)
        #expect(stuck.allSatisfy { ($0["uncertainty"] as? [String] ?? []).contains { $0.contains("completions were left out") } })
        // The whole trace: no such note.
        let whole = try analyzeJSON([full])
        #expect(!(whole.json["notes"] as? [String] ?? []).contains { $0.contains("completions were left out") })
    }

    /// A console log whose ftrace dump prints bare counts (SysRq-z with trace_clock=x86-tsc):
    /// its events' distances were read as nanoseconds, and the console was skipped as notes
    /// quoting trace events. It is read for order only, its findings say durations do not apply.
    /// A guest trace on such a clock: its give-up's story gave "reset the controller 37.832 s
    /// later" and an I/O timeout in seconds beside "durations are not known"; it says counts.
    @Test func aBareCountGiveUpTellsNoSeconds() throws {
        let admin = "nvme_setup_cmd: nvme0: qid=0, nsid=0, flags=0x0, meta=0x0, cmd="
        let text = "# tracer: nop\n"
            + "            fio-151 [001] ..... 1000000: nvme_setup_cmd: nvme0: disk=nvme0n1, qid=2, cmdid=45824, nsid=1, flags=0x0, "
            + "meta=0x0, cmd=(nvme_cmd_read slba=1, len=15, ctrl=0x0, dsmgmt=0, reftag=0)\n"
            + "    kworker/0:1H-44 [000] ..... 75000000000: \(admin.replacing("qid=0,", with: "qid=0, cmdid=24,"))(nvme_admin_abort_cmd cdw10=02 00 00 b3 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00)\n"
            + "    kworker/0:1H-44 [000] ..... 113000000000: \(admin.replacing("qid=0,", with: "qid=0, cmdid=26,"))(nvme_admin_delete_sq sqid=2)\n"
        let path = temporaryPath("bare-count-guest-\(UUID().uuidString).txt")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try analyzeJSON([path])
        #expect((r.json["inputs"] as? [[String: Any]])?.first?["clock"] as? String == "counter")
        let stuck = (r.json["findings"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "stuck-command" }
        #expect(!stuck.isEmpty, "\(r.json["findings"] ?? [])")
        for f in stuck {
            let story = (f["message"] as? String ?? "") + " " + (f["explanation"] as? String ?? "")
            #expect(story.contains("counts of its clock") && !story.contains(" s later") && !story.contains(".000 s"), "\(story)")
            #expect(!story.contains("were not submitted within the trace"), "\(story)")
        }
    }

    @Test func consoleWithABareCountDump() throws {
        let delimiter = "---------------------------------"
        let text = "[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)\n"
            + "[    5.000000] nvme nvme0: 2/0/0 default/read/poll queues\n"
            + "[   50.000000] Dumping ftrace buffer:\n[   50.000000] \(delimiter)\n"
            + "[   50.000001]      fio-157       0d..1. 123400000: nvme_setup_cmd: nvme0: disk=nvme0n1, qid=1, cmdid=8, "
            + "nsid=1, flags=0x0, meta=0x0, cmd=(nvme_cmd_read slba=0, len=15, ctrl=0x0, dsmgmt=0, reftag=0)\n"
            + "[   50.000002] \(delimiter)\n[   80.000000] nvme nvme0: I/O 8 QID 1 timeout, aborting\n"
            + "[  110.000000] nvme nvme0: I/O 8 QID 1 timeout, reset controller\n"
        let path = temporaryPath("bare-count-dump-\(UUID().uuidString).log")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try analyzeJSON([path])
        #expect(r.status == 1)
        let inputs = r.json["inputs"] as? [[String: Any]] ?? []
        #expect(inputs.first?["clock"] as? String == "counter")
        let findings = r.json["findings"] as? [[String: Any]] ?? []
        #expect(!findings.isEmpty)
        #expect(findings.allSatisfy { ($0["uncertainty"] as? [String] ?? []).contains { $0.contains("does not count nanoseconds") } })
    }
}
