import Foundation
import ShadowBellTestSupport
import Testing

/// The real QEMU 7.2 + Linux 6.1 runs in ../shared/traces/real (guest ftrace, QEMU log and
/// console log on two clocks): alignment, counts, no error on healthy runs, both SQ2 stalls on
/// `hang-sq2`.
@Suite(.serialized) struct RealTraceTests {
    static let realDirectory = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/traces/real")

    /// One run's traces in a temporary folder (once per process): decompressed, or copied where
    /// the run ships a file plain; a plain console is used where it lies.
    static func run(_ name: String) throws -> (guest: String, qemu: String, console: String) {
        let plainConsole = realDirectory.appendingPathComponent(name).appendingPathComponent("console.log").path
        let shipsConsole = FileManager.default.fileExists(atPath: plainConsole)
        let files = try decompressed(name, ["guest-ftrace.txt", "qemu-trace.log"] + (shipsConsole ? [] : ["console.log"]))
        return (files[0], files[1], shipsConsole ? plainConsole : files[2])
    }

    /// `grep -c -F needle path`.
    static func lines(_ path: String, containing needle: String) throws -> Int {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["grep", "-c", "-F", "--", needle, path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = readAllRetrying(out.fileHandleForReading)
        p.waitUntilExit()
        return Int(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    @Test(arguments: ["single", "mq2", "shared1q", "smallq"])
    func healthyRunsAlignAndHaveNoErrorFinding(_ name: String) throws {
        let files = try Self.run(name)
        let (status, json, _) = try analyzeJSON([files.guest, files.qemu, files.console])
        #expect(status == 0, "\(name)")
        let findings = json["findings"] as? [[String: Any]] ?? []
        let errors = findings.filter { $0["severity"] as? String == "error" }
        #expect(errors.isEmpty, "\(name): \(errors.map { $0["message"] ?? "" })")
        let alignment = (json["alignment"] as? [[String: Any]] ?? []).first { $0["input"] as? Int == 1 }
        #expect(alignment?["method"] as? String == "estimated")
        let uncertainty = alignment?["uncertainty_ns"] as? Int ?? Int.max
        #expect(uncertainty < 1_000_000, "\(name): alignment uncertainty \(uncertainty) ns")
        #expect((alignment?["pairs"] as? Int ?? 0) > 1000)

        let queues = json["queues"] as? [[String: Any]] ?? []
        func queue(_ qid: Int, _ type: String) -> [String: Any]? {
            queues.first { $0["qid"] as? Int == qid && $0["type"] as? String == type }
        }
        for qid in 1...2 {
            guard let sq = queue(qid, "sq") else { continue }
            #expect(sq["mmio_doorbells"] as? Int == (try Self.lines(files.qemu, containing: "pci_nvme_mmio_doorbell_sq sqid \(qid) ")))
            #expect(sq["controller_shadow_reads"] as? Int == (try Self.lines(files.qemu, containing: "pci_nvme_shadow_doorbell_sq sqid \(qid) ")))
            #expect(sq["commands_submitted"] as? Int == (try Self.lines(files.guest, containing: "nvme_setup_cmd: nvme0: disk=nvme0n1, qid=\(qid), cmdid=")))
            #expect(sq["commands_completed"] as? Int == (try Self.lines(files.guest, containing: "nvme_complete_rq: nvme0: disk=nvme0n1, qid=\(qid), cmdid=")))
            #expect(sq["commands_fetched"] as? Int == (try Self.lines(files.qemu, containing: "sqid \(qid) opc")))
        }
    }

    @Test func hangSQ2BothStallsFoundAsInferredWaitsAndNothingOnSQ1() throws {
        let files = try Self.run("hang-sq2")
        let (status, json, _) = try analyzeJSON([files.guest, files.qemu, files.console])
        #expect(status == 1)
        let findings = json["findings"] as? [[String: Any]] ?? []
        func qid(_ f: [String: Any]) -> Int { (f["queue"] as? [String: Any])?["qid"] as? Int ?? -1 }
        #expect(findings.filter { qid($0) == 1 && $0["severity"] as? String == "error" }.isEmpty)
        let waits = findings.filter { $0["kind"] as? String == "mutual-wait" }
        #expect(waits.count == 2)
        guard waits.count == 2 else { return }
        for w in waits {
            #expect(qid(w) == 2)
            #expect((w["queue"] as? [String: Any])?["type"] as? String == "sq")
            #expect(w["inferred"] as? Bool == true)
            #expect((w["guest_timeouts"] as? Int ?? 0) >= 2)
            #expect((w["duration_ns"] as? Int ?? 0) > 25_000_000_000)
        }
        // First stall: the EventIdx poke ~6 s into fio; ends when the reset deletes SQ 2.
        let first = waits[0], second = waits[1]
        #expect((14_000_000_000...16_000_000_000).contains(first["start_ns"] as? Int ?? 0))
        #expect(first["resolution"] as? String == "queue-deleted")
        #expect((45_000_000_000...45_700_000_000).contains(first["end_ns"] as? Int ?? 0))
        // Second stall: right after the first reset, until the second reset.
        #expect((45_200_000_000...46_000_000_000).contains(second["start_ns"] as? Int ?? 0))
        #expect((75_000_000_000...76_500_000_000).contains(second["end_ns"] as? Int ?? 0))
        #expect(second["eventidx_unwritten_since_dbbuf_config"] as? Bool == true)
        let timeouts = (first["evidence"] as? [[String: Any]] ?? []).filter { $0["role"] as? String == "guest-timeout" }
        #expect(timeouts.first?["location"] as? String == "\(files.console):61")
    }

    /// `files` of a run in a temporary folder: `<file>.zst` decompressed, or the plain file copied.
    static func decompressed(_ name: String, _ files: [String]) throws -> [String] {
        let dir = realDirectory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: dir.path) else {
            Issue.record("real traces missing at \(dir.path): they ship in ../shared beside the checkout")
            throw CancellationError()
        }
        let out = temporaryPath("real-\(name)")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        return try files.map { file in
            let target = "\(out)/\(file)"
            let plain = dir.appendingPathComponent(file).path
            guard !FileManager.default.fileExists(atPath: target) else { return target }
            if FileManager.default.fileExists(atPath: plain) {
                try Self.placeAtomically(at: target) { try FileManager.default.copyItem(atPath: plain, toPath: $0) }
            } else {
                try Self.unzstd(dir.appendingPathComponent("\(file).zst").path, to: target)
            }
            return target
        }
    }

    /// Makes `target` by `make` writing a file of its own, renamed into place once whole: tests
    /// run in parallel, and one found another's half-written copy and read a QEMU log cut short
    /// (an input error, and findings at other times).
    static func placeAtomically(at target: String, _ make: (String) throws -> Void) throws {
        let partial = "\(target).\(UUID().uuidString).partial"
        try make(partial)
        guard rename(partial, target) == 0 else {
            try? FileManager.default.removeItem(atPath: partial)
            throw CocoaError(.fileWriteUnknown)
        }
    }

    static func unzstd(_ source: String, to target: String) throws {
        try placeAtomically(at: target) { partial in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["zstd", "-q", "-d", "-f", source, "-o", partial]
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "zstd failed on \(source)")
        }
    }

    /// sysrq-hang's dump kept without the console's printk prefixes (`dmesg -t`, or the trace
    /// read with the `latency-format` option): ftrace text in the latency format, its times in
    /// microseconds since the ring buffer's start. With the QEMU log it tells both SQ1 stalls
    /// (it was refused: "no line looks like Linux ftrace").
    @Test func theDumpWithoutItsPrintkPrefixIsALatencyFormatTrace() throws {
        let files = try Self.decompressed("sysrq-hang", ["qemu-trace.log", "console.log"])
        // The dump: from `Dumping ftrace buffer:` to its second delimiter, prefixes cut.
        // (Split as bytes: the console's `\r\n` is one Character to String.)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: files[1]))
        let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map { raw -> String in
            let line = String(decoding: raw.last == 0x0D ? raw.dropLast() : raw, as: UTF8.self)
            guard line.hasPrefix("["), let close = line.firstIndex(of: "]") else { return line }
            let start = line.index(close, offsetBy: 2, limitedBy: line.endIndex) ?? line.endIndex
            return String(line[start...])
        }
        let first = try #require(lines.firstIndex { $0.hasPrefix("Dumping ftrace buffer:") })
        let delimiters = lines.indices.filter { $0 > first && $0 < first + 30_000 && lines[$0].hasPrefix("---------------------------------") }
        try #require(delimiters.count >= 2)
        let dump = lines[first...delimiters[1]]
        let path = temporaryPath("sysrq-dump-latency-\(UUID().uuidString).txt")
        try dump.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let (status, json, _) = try analyzeJSON([path, files[0]])
        #expect(status == 1)
        let input = (json["inputs"] as? [[String: Any]] ?? []).first { ($0["path"] as? String) == path }
        #expect(input?["format"] as? String == "ftrace-text" && input?["events"] as? Int == 9571, "\(input ?? [:])")
        let waits = (json["findings"] as? [[String: Any]] ?? []).filter { $0["severity"] as? String == "error" }
            .map { ($0["kind"] as? String ?? "", ($0["queue"] as? [String: Any])?["qid"] as? Int ?? -1) }
        #expect(waits.count == 2 && waits.allSatisfy { $0 == ("mutual-wait", 1) }, "\(waits)")

        // Beside the console it was cut from, it is that console's dump again (read twice, 20
        // errors); beside the guest trace taken after the dump, it is no piece of that trace
        // (its times count from the ring buffer's start, not from boot: each stall was told
        // twice, once on each clock).
        let guest = Self.realDirectory.appendingPathComponent("sysrq-hang/guest-ftrace.txt").path
        for (others, copy) in [([files[1], files[0]], true), ([files[0], guest], false)] {
            let (status, json, _) = try analyzeJSON([path] + others)
            #expect(status == 1)
            let errors = (json["findings"] as? [[String: Any]] ?? []).filter { $0["severity"] as? String == "error" }
                .map { ($0["kind"] as? String ?? "", ($0["queue"] as? [String: Any])?["qid"] as? Int ?? -1) }
            #expect(errors.count == 2 && errors.allSatisfy { $0 == ("mutual-wait", 1) }, "\(others): \(errors)")
            let notes = (json["notes"] as? [String] ?? []).joined(separator: " | ")
            #expect(notes.contains("the ftrace dump in") == copy, "\(notes)")
            let alignment = (json["alignment"] as? [[String: Any]] ?? []).map { $0["note"] as? String ?? "" }
            #expect(!alignment.contains { $0.contains("a recording kept in pieces") }, "\(alignment)")
        }
    }

    /// sysrq-hang: the guest's ftrace survives only as the SysRq-z dump on the console. The QEMU
    /// log and the console alone find the SQ1 stall from the dump's submissions (aligned on the
    /// dump's causal pairs), nothing on SQ2; adding the guest ftrace taken after the dump keeps that.
    @Test(arguments: [false, true])
    func sysrqHangStallFoundFromTheConsoleDump(withGuestTrace: Bool) throws {
        let files = try Self.decompressed("sysrq-hang", ["qemu-trace.log", "console.log"])
        let guest = withGuestTrace ? [Self.realDirectory.appendingPathComponent("sysrq-hang/guest-ftrace.txt").path] : []
        let (status, json, _) = try analyzeJSON(files + guest)
        #expect(status == 1)
        let console = (json["alignment"] as? [[String: Any]] ?? []).first { $0["input"] as? Int == 1 }
        #expect(console?["method"] as? String == "estimated")
        #expect((console?["pairs"] as? Int ?? 0) > 1000)
        let findings = json["findings"] as? [[String: Any]] ?? []
        func queue(_ f: [String: Any]) -> (Int, String) {
            let q = f["queue"] as? [String: Any]
            return (q?["qid"] as? Int ?? -1, q?["type"] as? String ?? "")
        }
        #expect(findings.filter { queue($0).0 == 2 && $0["severity"] as? String == "error" }.isEmpty)
        #expect(findings.filter { queue($0) == (2, "sq") }.isEmpty)
        let waits = findings.filter { $0["kind"] as? String == "mutual-wait" && queue($0) == (1, "sq") }
        let first = try #require(waits.first)
        #expect(first["severity"] as? String == "error" && first["inferred"] as? Bool == true)
        #expect(first["stuck_commands"] as? Int == 16)
        #expect(first["resolution"] as? String == "queue-deleted")
        #expect((first["guest_timeouts"] as? Int ?? 0) >= 1)
        // Its evidence from the QEMU log (placed from the guest trace's pairs 30 s later) and
        // the dump (placed from its pairs with the QEMU log) is ordered by the dump's pairs:
        // not uncertain for the QEMU log's extrapolated offset.
        #expect(first["uncertain"] as? Bool == false, "\(first["uncertainty"] ?? [])")
        // The console's messages carry printk stamps, the guest kernel's clock; its dump's
        // events sit on that clock only approximately (placed late, then extrapolated past the
        // dump's last pair). `I/O 960 QID 1 timeout, aborting` (console line 18292, printk
        // 30.449578) was placed 154.6 ms early by the dump's map.
        let timeout = (first["evidence"] as? [[String: Any]] ?? []).first {
            $0["role"] as? String == "guest-timeout" && ($0["location"] as? String ?? "").hasSuffix(":18292")
        }
        let timeoutAt = try #require(timeout?["time_ns"] as? Int, "\(first["evidence"] ?? [])")
        #expect((console?["note"] as? String ?? "").contains("kernel messages"))
        if withGuestTrace {
            // The guest trace is the reference clock (guest seconds since boot).
            #expect((14_000_000_000...15_500_000_000).contains(first["start_ns"] as? Int ?? 0))
            #expect((45_000_000_000...46_000_000_000).contains(first["end_ns"] as? Int ?? 0))
            #expect(timeoutAt == 30_449_578_000)
        } else {
            // Placed from the timeout messages paired with the controller's aborts: before the
            // Abort the guest submitted after it, which QEMU fetched at 855.773351.
            #expect((1_796_183_855_760_000_000...1_796_183_855_773_351_000).contains(timeoutAt), "\(timeoutAt)")
            // No guest trace: the QEMU log is the reference. SQ1's last fetch at 1796183840.025,
            // the reset's queue deletion at 870.87.
            #expect((1_796_183_839_900_000_000...1_796_183_840_500_000_000).contains(first["start_ns"] as? Int ?? 0))
            #expect((1_796_183_870_500_000_000...1_796_183_871_000_000_000).contains(first["end_ns"] as? Int ?? 0))
        }
    }

    /// hang-sq2's first stall opens where the VM was stopped for the gdbstub poke: the clock
    /// offset steps by about 77 ms there between two stretches of pairs, which the map
    /// interpolates across (the driver's completions of four commands then precede QEMU's
    /// fetches of them by 2 ms). The alignment says so. Yet the order at the window's start is
    /// not the clocks': a completion QEMU posted after its last EventIdx write and shadow read
    /// reached the driver before it submitted (the lines of each file, not the map, say so).
    /// The window is not uncertain, and its story says both (CausalOrderTests: without such a
    /// completion the step makes it uncertain).
    @Test func aClockStepAtAWindowMarksItUncertainUnlessCauseOrdersIt() throws {
        let f = try Self.run("hang-sq2")
        let (_, json, _) = try analyzeJSON([f.guest, f.qemu, f.console])
        let qemu = (json["alignment"] as? [[String: Any]] ?? []).first { ($0["path"] as? String ?? "").contains("qemu") }
        #expect((qemu?["note"] as? String ?? "").contains("poorly aligned where the offset steps"))
        let waits = (json["findings"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "mutual-wait" }
        try #require(waits.count == 2)
        #expect(waits.map { $0["uncertain"] as? Bool } == [false, false], "\(waits.map { $0["uncertainty"] ?? [] })")
        let story = waits[0]["explanation"] as? String ?? ""
        #expect(story.contains("The VM stood still here") && story.contains("The order there is not the clocks'"), "\(story)")

    }

    /// `--min-wait` longer than hang-sq2's 30.4 s windows: they are counted, not reported — the
    /// host side's inference must not bring them back (it did, with cause `unknown` where the
    /// guest's view says `skipped-demanded-doorbell`); the stalls are still told, as stuck
    /// commands. The QEMU log alone keeps its host-side windows, the only thing it can tell.
    @Test func minWaitAboveTheWindowsCountsThemAndStillTellsTheStalls() throws {
        let f = try Self.run("hang-sq2")
        let (status, json, _) = try analyzeJSON([f.guest, f.qemu, f.console], extra: ["--min-wait", "31s"])
        #expect(status == 1)
        let errors = (json["findings"] as? [[String: Any]] ?? []).filter { $0["severity"] as? String == "error" }
        #expect(errors.count == 2 && errors.allSatisfy { $0["kind"] as? String == "stuck-command" }, "\(errors.map { $0["message"] ?? "" })")
        let sq2 = (json["queues"] as? [[String: Any]] ?? []).first { $0["qid"] as? Int == 2 && $0["type"] as? String == "sq" }
        #expect((sq2?["sub_threshold_windows"] as? Int ?? 0) >= 2)
        let (hostStatus, host, _) = try analyzeJSON([f.qemu], extra: ["--min-wait", "31s"])
        #expect(hostStatus == 1)
        #expect((host["findings"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "mutual-wait" }.count == 2)
    }

    /// The guest trace's give-ups (ABORTs, then the reset) are the driver's own judgement, as
    /// the console's messages are: a higher --stuck-after does not make a hung run exit 0
    /// (it did, from the guest trace alone). explain's next timeline shows the admin queue
    /// the ABORTs are on (it named the stalled queue alone, with no event in the range).
    @Test func driverGiveUpsHoldWhateverStuckAfterSays() throws {
        let guest = Self.realDirectory.appendingPathComponent("sysrq-hang/guest-ftrace.txt").path
        let (status, json, _) = try analyzeJSON([guest], extra: ["--stuck-after", "40s"])
        #expect(status == 1)
        let errors = (json["findings"] as? [[String: Any]] ?? []).filter { $0["severity"] as? String == "error" }
        #expect(errors.count == 2 && errors.allSatisfy { $0["inferred_from"] as? String == "driver-aborts" })
        // The timeout its give-up shows (io_timeout=15 on that kernel's command line), not
        // only the default the run did not use.
        // They are the queue's hangs, as its windows would be ("Hangs per queue" left them out).
        let sq1 = (json["queues"] as? [[String: Any]] ?? []).first { $0["qid"] as? Int == 1 && $0["type"] as? String == "sq" }
        #expect((sq1?["hangs"] as? [String: Any])?["count"] as? Int == 2, "\(sq1 ?? [:])")
        let reset = try #require(errors.first?["explanation"] as? String)
        #expect(reset.contains("nvme_core.io_timeout: about 15.0"), "\(reset)")
        let story = try runProcess(["explain", guest, "--finding", "1"])
        let next = try #require(story.stdout.split(separator: "\n").first { $0.hasPrefix("  shadowbell timeline ") })
        #expect(next.contains("--queue nvme0:sq1 --queue nvme0:sq0"))
        let arguments = next.split(separator: " ").dropFirst(2).map(String.init)
        #expect(try runProcess(["timeline"] + arguments + ["--quiet"]).status == 0, "\(next)")
    }

    /// A console placed through the QEMU log on sysrq-hang's guest clock reports its offset onto
    /// that clock (about −0.197 s), not onto the QEMU log's (1796183825 s).
    @Test func aConsolePlacedThroughAnotherInputReportsItsOffsetOntoTheReference() throws {
        let files = try Self.decompressed("sysrq-hang", ["qemu-trace.log", "console.log"])
        let guest = Self.realDirectory.appendingPathComponent("sysrq-hang/guest-ftrace.txt").path
        let (_, json, _) = try analyzeJSON([guest] + files)
        let console = (json["alignment"] as? [[String: Any]] ?? []).first { ($0["path"] as? String ?? "").hasSuffix("console.log") }
        let offset = try #require(console?["offset_ns"] as? Int)
        #expect(abs(offset) < 1_000_000_000, "\(offset)")
    }

    /// The JSON's input numbers index its `inputs` array: listed as given, each with its
    /// `index` (it listed them in reference order, so `clock_input: 1` named the QEMU log
    /// where the guest trace, given second, was the clock).
    @Test func jsonInputNumbersIndexTheInputs() throws {
        let f = try Self.run("hang-sq2")
        let (_, json, _) = try analyzeJSON([f.console, f.guest, f.qemu])
        let inputs = json["inputs"] as? [[String: Any]] ?? []
        #expect(inputs.map { $0["index"] as? Int } == [0, 1, 2])
        #expect(inputs.map { $0["path"] as? String } == [f.console, f.guest, f.qemu])
        let wait = try #require((json["findings"] as? [[String: Any]] ?? []).first { $0["kind"] as? String == "mutual-wait" })
        let clock = try #require(wait["clock_input"] as? Int)
        #expect(inputs[clock]["path"] as? String == f.guest)
    }

    /// dat-hang-sq2's guest side in its three forms — the text trace, trace.dat, and
    /// `trace-cmd report`'s text of trace.dat (nvme events as `[FAILED TO PARSE]` raw fields) —
    /// each with the QEMU log and the console: the same findings (both SQ2 stalls, nothing on
    /// SQ1) at the same times (trace.dat has nanoseconds where the texts have microseconds).
    @Test func datHangSQ2SameFindingsFromEveryGuestForm() throws {
        let files = try Self.run("dat-hang-sq2")
        let dir = Self.realDirectory.appendingPathComponent("dat-hang-sq2")
        let report = temporaryPath("real-dat-hang-sq2/guest-trace-cmd-report.txt")
        if !FileManager.default.fileExists(atPath: report) {
            try Self.unzstd(dir.appendingPathComponent("guest-trace-cmd-report.txt.zst").path, to: report)
        }
        typealias Summary = (kind: String, qid: Int, type: String, start: Int, end: Int)
        func findings(_ guest: String) throws -> [Summary] {
            let (status, json, _) = try analyzeJSON([guest, files.qemu, files.console])
            #expect(status == 1, "\(guest)")
            let inputs = json["inputs"] as? [[String: Any]] ?? []
            #expect(inputs.first?["malformed"] as? Int == 0, "\(guest)")
            return (json["findings"] as? [[String: Any]] ?? []).map {
                let queue = $0["queue"] as? [String: Any] ?? [:]
                return (
                    $0["kind"] as? String ?? "", queue["qid"] as? Int ?? -1, queue["type"] as? String ?? "",
                    $0["start_ns"] as? Int ?? 0, $0["end_ns"] as? Int ?? 0
                )
            }
        }
        let text = try findings(files.guest)
        #expect(text.filter { $0.kind == "mutual-wait" && $0.qid == 2 && $0.type == "sq" }.count == 2)
        #expect(text.filter { $0.qid == 1 && $0.type == "sq" }.isEmpty)
        for guest in [dir.appendingPathComponent("trace.dat").path, report] {
            let other = try findings(guest)
            #expect(other.count == text.count, "\(guest)")
            for (a, b) in zip(other, text) {
                #expect(a.kind == b.kind && a.qid == b.qid && a.type == b.type, "\(guest): \(a) vs \(b)")
                #expect(abs(a.start - b.start) < 1_000 && abs(a.end - b.end) < 1_000, "\(guest): \(a) vs \(b)")
            }
        }
    }
}
