import Foundation
import ShadowBellTestSupport
import Testing

/// hang-sq2 read as a post-mortem: one finding per hang, the cause from the values, the bug
/// named, the second hang linked to the reset that ended the first, evidence quoted as written.
@Suite(.serialized) struct RealStoryTests {
    static func errors(_ json: [String: Any]) -> [[String: Any]] {
        (json["findings"] as? [[String: Any]] ?? []).filter { $0["severity"] as? String == "error" }
    }

    static func queue(_ f: [String: Any]) -> String {
        let q = f["queue"] as? [String: Any]
        return "\(q?["type"] as? String ?? "")\(q?["qid"] as? Int ?? -1)"
    }

    @Test func hangSQ2GivesTwoErrorsTheSecondNamedAndLinkedToTheFirst() throws {
        let files = try RealTraceTests.run("hang-sq2")
        let (status, json, _) = try analyzeJSON([files.guest, files.qemu, files.console])
        #expect(status == 1)
        let errors = Self.errors(json)
        try #require(errors.count == 2, "\(errors.map { $0["message"] ?? "" })")
        #expect(errors.allSatisfy { Self.queue($0) == "sq2" && $0["kind"] as? String == "mutual-wait" })
        let first = errors[0], second = errors[1]
        #expect(first["cause"] as? String == "skipped-demanded-doorbell")
        #expect(first["controller_eventidx"] as? Int == 243)
        #expect((first["message"] as? String ?? "").contains("cause skipped-demanded-doorbell"))
        #expect((first["explanation"] as? String ?? "").contains("need_event(243, 244, 243) is true"))
        #expect(first["known_bug"] is NSNull)
        #expect(first["kernel_tags"] as? [Int] == [768, 769])
        #expect(first["commands_cancelled"] as? Int == 2)
        #expect(second["cause"] as? String == "eventidx-not-initialised")
        let bug = second["known_bug"] as? [String: Any]
        #expect(bug?["id"] as? String == "linux-dbbuf-reset-ordering")
        #expect(bug?["fix_commits"] as? [String] == ["06c59d427017"])
        #expect(second["recurs_after"] as? Int == first["id"] as? Int)
        #expect((second["message"] as? String ?? "").contains("recurs after the reset that ended #\(first["id"] as? Int ?? 0)"))
        #expect((second["stuck_command_ids"] as? [Int] ?? []).count == 16)
        // Every guest timeout counted is listed.
        for w in errors {
            let listed = (w["evidence"] as? [[String: Any]] ?? []).filter { $0["role"] as? String == "guest-timeout" }.count
            #expect(listed == w["guest_timeouts"] as? Int)
        }
        let sq2 = (json["queues"] as? [[String: Any]] ?? []).first { $0["qid"] as? Int == 2 && $0["type"] as? String == "sq" }
        let hangs = sq2?["hangs"] as? [String: Any]
        #expect(hangs?["count"] as? Int == 2)
        #expect(hangs?["first_id"] as? Int == first["id"] as? Int && hangs?["last_id"] as? Int == second["id"] as? Int)
        #expect((hangs?["total_ns"] as? Int ?? 0) > 60_000_000_000)
        let console = (json["inputs"] as? [[String: Any]] ?? []).first { ($0["path"] as? String) == files.console }
        #expect(console?["guest_kernel"] as? String == "6.1.192")
    }

    /// The text timeline marks the rows where the clocks are poorly aligned (hang-sq2's
    /// gdbstub stops: the offset steps by 54.0 ms from 14.766 s and by 22.7 ms at 14.884 s, the
    /// read-only session's pause and the writing one's; told as one stretch up to 54.007 ms —
    /// once taken as one 76.7 ms step at 14.886 s), where guest completions show before the
    /// controller's fetches; rows a second later are not marked.
    @Test func timelineRowsSayWhereTheClocksArePoorlyAligned() throws {
        let files = try RealTraceTests.run("hang-sq2")
        let near = try runProcess(["timeline", files.guest, files.qemu, files.console, "--queue", "sq2", "--from", "14.884", "--to", "14.8875"])
        #expect(near.status == 0)
        let rows = near.stdout.split(separator: "\n").filter { $0.hasPrefix("    P=") }
        #expect(!rows.isEmpty)
        #expect(rows.allSatisfy { $0.contains("[clocks poorly aligned here: up to 54.007 ms]") }, "\(rows)")
        let later = try runProcess(["timeline", files.guest, files.qemu, files.console, "--queue", "sq2", "--from", "13.0", "--to", "13.01"])
        #expect(later.stdout.contains("    P="))
        #expect(!later.stdout.contains("poorly aligned"))
    }

    /// The steps begin at the evidence the cause rests on: sysrq-hang's EventIdx write and the
    /// read that ended the burst came 43 ms before the window, 12 completions earlier, and were
    /// left out of the story and the picture (its markers began at 3).
    @Test func theStoryBeginsAtTheEvidenceBeforeTheWindow() throws {
        let files = try RealTraceTests.run("sysrq-hang")
        let r = try runProcess(["explain", files.guest, files.qemu, files.console, "--finding", "2"])
        #expect(r.stdout.contains("[evidence 1]") && r.stdout.contains("[evidence 2]"), "\(r.stdout.prefix(3000))")
    }

    /// Explaining the recurrence, the steps that reach back into the first hang said "short
    /// wait (below --min-wait)" where explaining #2 said MUTUAL WAIT: they name #2 now.
    @Test func stepsInsideAnotherHangNameIt() throws {
        let files = try RealTraceTests.run("hang-sq2")
        let r = try runProcess(["explain", files.guest, files.qemu, files.console, "--finding", "3"])
        let states = r.stdout.split(separator: "\n").filter { $0.contains("state: ") }
        #expect(states.contains { $0.hasSuffix("MUTUAL WAIT of #2") }, "\(states.prefix(5))")
        #expect(!states.prefix(3).contains { $0.contains("short wait") }, "\(states.prefix(5))")
    }

    /// A healthy run's info finding is drawn in the info colour in the report, not as a red
    /// hang window.
    @Test func anInfoFindingIsNoRedWindow() throws {
        let files = try RealTraceTests.run("mq2")
        let r = try runProcess(["report", files.guest, files.qemu, files.console, "-o", "-"])
        let windows = r.stdout.components(separatedBy: "<rect class=\"window\"").dropFirst()
        #expect(r.status == 0 && !windows.isEmpty, "\(r.stderr)")
        #expect(windows.allSatisfy { $0.contains("fill=\"#5c6b7a\"") && !$0.prefix(400).contains("#d62728") })
    }

    /// The recurrence's picture reaches back into the first hang: that hang is drawn as #2, not
    /// as a grey short wait below --min-wait.
    @Test func theRecurrencesPictureShowsTheFirstHangAsItself() throws {
        let files = try RealTraceTests.run("hang-sq2")
        let r = try runProcess(["report", files.guest, files.qemu, files.console, "-o", "-"])
        #expect(r.status == 0, "\(r.stderr)")
        let third = try #require(r.stdout.components(separatedBy: "<article class=\"finding error\" id=\"finding-3\">").dropFirst().first)
        let picture = try #require(third.components(separatedBy: "</figure>").first)
        let labels = picture.components(separatedBy: "<title>").dropFirst().map { $0.prefix { $0 != "<" } }
        #expect(labels.contains { $0.hasPrefix("#2 mutual wait 30.") } && labels.contains { $0.hasPrefix("#3 mutual wait 30.") }, "\(labels)")
        // What is left grey is short: none of the long first hang.
        for window in picture.components(separatedBy: "data-start-ns=\"").dropFirst() where window.contains("<title>short wait") {
            let start = Int64(window.prefix { $0.isNumber }) ?? 0
            let end = Int64(window.components(separatedBy: "data-end-ns=\"").dropFirst().first?.prefix { $0.isNumber } ?? "") ?? .max
            #expect(end - start < 1_000_000, "\(start)–\(end)")
        }
    }

    /// The console alone holds the driver's messages, no queue event: `timeline` said "no event
    /// of the selected queues" (none was selected), its SVG drew the two 30 s windows squeezed
    /// at the right edge, and `report` counted two timelines it did not draw. Each says what
    /// there is to draw, and what would show the queue.
    @Test func theConsoleAloneHasNoPictureAndSaysWhy() throws {
        let files = try RealTraceTests.run("hang-sq2")
        for extra in [[], ["--format", "svg"]] {
            let r = try runProcess(["timeline", files.console] + extra)
            #expect(r.status == 64 && r.stdout.isEmpty, "\(extra): \(r.stdout.prefix(300))")
            #expect(r.stderr.contains("a console log holds the driver's timeout, abort and reset messages only"), "\(r.stderr)")
        }
        let out = temporaryPath("console-alone-\(UUID().uuidString).html")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let written = try runProcess(["report", files.console, "-o", out])
        #expect(written.status == 0 && written.stderr.contains("2 finding(s), 0 timeline(s)"), "\(written.stderr)")
        let html = try runProcess(["report", files.console, "-o", "-"])
        #expect(html.status == 0 && !html.stdout.contains("<figure"))
        #expect(html.stdout.components(separatedBy: "No picture: the inputs hold no doorbell").count - 1 == 2)
    }

    /// dat-hang-sq2's folder holds its guest trace in three forms, read once: the report's
    /// inputs were numbered 1, 4, 5 without a word on the missing ones.
    @Test func theReportSaysWhyInputNumbersAreMissing() throws {
        let folder = RealTraceTests.realDirectory.appendingPathComponent("dat-hang-sq2").path
        let r = try runProcess(["report", folder, "-o", "-"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("a number missing is an input analysed once, from another form of the same recording"))
        let files = try RealTraceTests.run("hang-sq2")
        let plain = try runProcess(["report", files.guest, files.qemu, files.console, "-o", "-"])
        #expect(!plain.stdout.contains("a number missing is"))
    }

    @Test func junitAndAnnotationsCountTwo() throws {
        let files = try RealTraceTests.run("hang-sq2")
        let junit = temporaryPath("hang-sq2-junit.xml")
        let r = try runProcess(["analyze", files.guest, files.qemu, files.console, "--format", "junit", "--output", junit, "--github-annotations"])
        #expect(r.status == 1)
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        // One failure for the queue, telling both (readers show a case's first failure only).
        #expect(xml.components(separatedBy: "<failure").count - 1 == 1)
        #expect(xml.contains("<failure type=\"mutual-wait\" message=\"2 error findings: "))
        #expect(xml.contains("[1/2] #2 mutual-wait at ") && xml.contains("[2/2] #3 mutual-wait at "))
        #expect(xml.contains("failures=\"1\""))
        #expect(r.stderr.split(separator: "\n").filter { $0.hasPrefix("::error") }.count == 2)
    }

    /// The first stalls, where the VM was paused and its EventIdx overwritten through the
    /// gdbstub. hang-sq2's is told from the values (the write 586 µs before the submission, the
    /// clocks at ±44.5 µs) and names what writes guest memory while the VM stands still;
    /// dat-hang-sq2's write lies 8 ms before, where the clocks step by 89 ms: the values were
    /// told as showing "no doorbell the EventIdx demanded", then as one "in an order not
    /// proven" — but the controller wrote it before it went to sleep, and the guest saw that
    /// sleep (a completion posted after it) before it submitted: the order is cause and
    /// effect's, and the story is hang-sq2's.
    @Test func theFirstStallsTellWhatTheValuesShowAndThePause() throws {
        let hang = try RealTraceTests.run("hang-sq2")
        let first = Self.errors(try analyzeJSON([hang.guest, hang.qemu]).json)[0]
        #expect(first["cause"] as? String == "skipped-demanded-doorbell")
        #expect((first["explanation"] as? String ?? "").contains("The VM stood still here (the clocks' offset steps by 54.007 ms at 14.766350000–14.884699000 s"))
        let dat = try RealTraceTests.run("dat-hang-sq2")
        let datFirst = Self.errors(try analyzeJSON([dat.guest, dat.qemu]).json)[0]
        let story = datFirst["explanation"] as? String ?? ""
        #expect(datFirst["cause"] as? String == "skipped-demanded-doorbell")
        #expect(story.contains("The VM stood still here (the clocks' offset steps by 89.1"), "\(story)")
        #expect(!story.contains("the recorded values show no doorbell") && !story.contains("not proven"))
    }

    /// The guest's side alone of the second stalls: the driver re-created its queues after the
    /// reset, submitted I/O on them and re-sent Doorbell Buffer Config only after — the Linux
    /// reset-ordering bug's order. The guest trace alone (text, trace-cmd report's raw fields,
    /// trace.dat; sysrq-hang's, which begins after the boot's queue creation) told two plain
    /// stuck commands, the bug unnamed and the stalls unlinked.
    @Test(arguments: ["hang-sq2/guest-ftrace.txt.zst", "dat-hang-sq2/guest-trace-cmd-report.txt.zst", "dat-hang-sq2/trace.dat", "sysrq-hang/guest-ftrace.txt"])
    func theGuestTraceAloneNamesTheResetOrderingBug(_ file: String) throws {
        let path = RealTraceTests.realDirectory.appendingPathComponent(file).path
        let errors = Self.errors(try analyzeJSON([path]).json)
        try #require(errors.count == 2, "\(file)")
        #expect(errors[0]["known_bug"] is NSNull, "\(file)")
        #expect((errors[1]["known_bug"] as? [String: Any])?["id"] as? String == "linux-dbbuf-reset-ordering", "\(file)")
        #expect(errors[1]["recurs_after"] as? Int == errors[0]["id"] as? Int, "\(file)")
        #expect((errors[1]["explanation"] as? String ?? "").contains("From the guest's side: after re-creating its I/O queues at "), "\(file)")
        #expect((errors[1]["evidence"] as? [[String: Any]] ?? []).contains { $0["role"] as? String == "driver-io-before-dbbuf-config" }, "\(file)")
    }

    /// sysrq-hang's guest trace begins inside the first stall (after the console's dump): the
    /// host-side story said the guest's submissions were not "in the trace" as if it were
    /// absent; it says where the guest's trace begins.
    @Test func aGuestTraceBeginningInsideTheStallIsSaidSo() throws {
        let files = try RealTraceTests.run("sysrq-hang")
        let first = Self.errors(try analyzeJSON([files.guest, files.qemu]).json)[0]
        #expect((first["explanation"] as? String ?? "").contains("(the guest's trace begins only at 30.454690000 s, after the wait began: the submissions are not in it)"), "\(first["explanation"] ?? "")")
    }

    /// The QEMU version of the run's notes (7.2.22) settles cq-eventidx-not-seen's either-or:
    /// it writes the CQ EventIdx, the trace only lacks it.
    @Test func theQemuVersionSettlesAnUntracedCQEventIdx() throws {
        let folder = RealTraceTests.realDirectory.appendingPathComponent("hang-sq2").path
        let findings = try analyzeJSON([folder]).json["runs"].flatMap { ($0 as? [[String: Any]])?.first?["findings"] as? [[String: Any]] }
            ?? (try analyzeJSON([folder]).json["findings"] as? [[String: Any]] ?? [])
        let info = findings.first { $0["kind"] as? String == "cq-eventidx-not-seen" }
        #expect((info?["explanation"] as? String ?? "").contains("The run's notes name QEMU 7.2.22, which writes the CQ EventIdx (fixed in 7.2.1): the write is only missing from the trace"), "\(info ?? [:])")
    }

    /// hang-sq2's console alone shows no queue but its timeouts: the two stuck-command errors
    /// (exit 1) had no test case to fail, and JUnit said `tests="0" failures="0"`.
    @Test func aConsoleAlonesHangFailsItsJUnitCase() throws {
        let files = try RealTraceTests.run("hang-sq2")
        let r = try runProcess(["analyze", files.console, "--format", "junit"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("<testsuites name=\"shadowbell\" tests=\"1\" failures=\"1\""), "\(r.stdout.prefix(400))")
        #expect(r.stdout.contains("<testcase classname=\"shadowbell.nvme0\" name=\"sq2\">\n      <failure type=\"stuck-command\""))
    }

    @Test func theHostSideAloneTellsTheSameStory() throws {
        let files = try RealTraceTests.run("hang-sq2")
        let (_, json, _) = try analyzeJSON([files.qemu, files.console])
        let errors = Self.errors(json)
        try #require(errors.count == 2)
        #expect(errors.allSatisfy { Self.queue($0) == "sq2" })
        #expect((errors[1]["known_bug"] as? [String: Any])?["id"] as? String == "linux-dbbuf-reset-ordering")
        #expect(errors[1]["recurs_after"] as? Int == errors[0]["id"] as? Int)
    }

    @Test func aConsoleShowingAFixedKernelExcludesTheBug() throws {
        let files = try RealTraceTests.run("hang-sq2")
        let text = try String(contentsOfFile: files.console, encoding: .utf8)
        var lines = text.components(separatedBy: "\n")
        let banner = try #require(lines.firstIndex { $0.contains("Linux version 6.1.0") })
        lines[banner] = "[    0.000000] Linux version 6.12.95+deb12-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.12.95-1~bpo12+1 (2026-07-05)"
        let patched = temporaryPath("hang-sq2-console-6.12.log")
        try lines.joined(separator: "\n").write(toFile: patched, atomically: true, encoding: .utf8)
        let (_, json, _) = try analyzeJSON([files.guest, files.qemu, patched])
        let errors = Self.errors(json)
        try #require(errors.count == 2)
        #expect(errors[1]["cause"] as? String == "eventidx-not-initialised")
        #expect(errors[1]["known_bug"] is NSNull)
    }

    @Test func theHealthyKernel612RunNamesNoBug() throws {
        let dir = RealTraceTests.realDirectory.appendingPathComponent("q10-k612-healthy")
        let files = try RealTraceTests.decompressed("q10-k612-healthy", ["qemu-trace.log"])
        let console = dir.appendingPathComponent("console.log").path
        let consoleFile = FileManager.default.fileExists(atPath: console) ? console : try RealTraceTests.decompressed("q10-k612-healthy", ["console.log"])[0]
        let (status, json, _) = try analyzeJSON(files + [consoleFile])
        #expect(status == 0)
        let findings = json["findings"] as? [[String: Any]] ?? []
        #expect(findings.allSatisfy { $0["known_bug"] is NSNull })
        let input = (json["inputs"] as? [[String: Any]] ?? []).first { ($0["path"] as? String) == consoleFile }
        #expect(input?["guest_kernel"] as? String == "6.12.95")
    }

    @Test func explainQuotesTheKernelMessageWithoutControlCharacters() throws {
        let files = try RealTraceTests.run("hang-sq2")
        let (_, json, _) = try analyzeJSON([files.guest, files.qemu, files.console])
        let first = try #require(Self.errors(json).first)
        let id = try #require(first["id"] as? Int)
        let r = try runProcess(["explain", files.guest, files.qemu, files.console, "--finding", String(id)])
        #expect(r.status == 0 || r.status == 1)
        #expect(!r.stdout.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" && $0 != "\t" })
        #expect(r.stdout.contains("> [   30.156309] nvme nvme0: I/O 768 (I/O Cmd) QID 2 timeout, aborting"))
        #expect(!r.stdout.contains("Jobs: 2"))
        #expect(r.stdout.contains("Cause: skipped-demanded-doorbell"))
        // Values the trace does not hold (the driver's shadow writes, its need_event) are said
        // to be unknown, not compared: "P = ? … P ≠ S", "it read EventIdx ?".
        #expect(!r.stdout.contains("P = ?") && !r.stdout.contains("read EventIdx ?"), "\(r.stdout)")
        let flat = r.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(flat.contains("so this is inferred from its submissions"))
    }

    /// hang-sq2's cq1 finding begins with the firmware's I/O, before the guest kernel booted:
    /// those steps sit below 0 on the guest trace's clock, and the story says why, once,
    /// before the first of them (a bare "-5.088073500" read as a broken clock).
    @Test func explainSaysWhyStepsLieBeforeTheGuestClock() throws {
        let files = try RealTraceTests.run("hang-sq2")
        let (_, json, _) = try analyzeJSON([files.guest, files.qemu, files.console])
        let findings = json["findings"] as? [[String: Any]] ?? []
        let id = try #require(findings.first { ($0["kind"] as? String) == "cq-eventidx-not-seen" }?["id"] as? Int)
        let r = try runProcess(["explain", files.guest, files.qemu, files.console, "--finding", String(id)])
        let lines = r.stdout.components(separatedBy: "\n")
        let said = try #require(lines.firstIndex { $0.contains("(times below 0 are before the reference clock began") })
        let firstNegative = try #require(lines.firstIndex { $0.range(of: #"^ +\d+\. -\d"#, options: .regularExpression) != nil })
        #expect(said < firstNegative)
        #expect(r.stdout.components(separatedBy: "times below 0").count == 2, "said once")
        // The guest trace alone has no time below 0: nothing to say.
        let alone = try runProcess(["explain", files.guest, "--finding", "1"])
        #expect(!alone.stdout.contains("times below 0"))
    }
}

/// A guest trace on a clock that is not printk's: Linux's default `trace_clock=local` and the
/// console's stamps (local_clock) lay 0.26 s apart on a Linux 6.12 guest, and the console was
/// taken for the trace's clock: its `timeout, aborting` came 14.93 s into a wait that a 15 s
/// timeout ended, its reset ended the stall 0.29 s early. Here hang-sq2's console with its
/// stamps moved 271.5 ms earlier.
struct ConsoleClockTests {
    @Test func aConsoleOnAnotherGuestClockIsShiftedByItsTimeoutsAborts() throws {
        let files = try RealTraceTests.run("hang-sq2")
        let moved = temporaryPath("console-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(atPath: moved) }
        // Every printk stamp, wherever it stands (the first timeout is glued to a fio progress
        // line), 271.5 ms earlier.
        let original = try String(contentsOfFile: files.console, encoding: .utf8) as NSString
        let stamp = try NSRegularExpression(pattern: "\\[ *([0-9]+)\\.([0-9]{6})\\]")
        var text = ""
        var at = 0
        for m in stamp.matches(in: original as String, range: NSRange(location: 0, length: original.length)) {
            text += original.substring(with: NSRange(location: at, length: m.range.location - at))
            let t = max(0, Int(original.substring(with: m.range(at: 1)))! * 1_000_000 + Int(original.substring(with: m.range(at: 2)))! - 271_500)
            text += String(format: "[%5d.%06d]", t / 1_000_000, t % 1_000_000)
            at = m.range.location + m.range.length
        }
        text += original.substring(from: at)
        try text.write(toFile: moved, atomically: true, encoding: .utf8)
        let onItsClock = try analyzeJSON([files.guest, files.console]).json
        let shifted = try analyzeJSON([files.guest, moved]).json
        let placed = (shifted["alignment"] as? [[String: Any]] ?? []).first { $0["path"] as? String == moved }
        #expect((placed?["note"] as? String ?? "").contains("its printk stamps run 271."), "\(placed ?? [:])")
        #expect(placed?["uncertainty_ns"] as? Int == 30_000_000, "\(placed ?? [:])")
        // Each message at or before the ABORT it led to: the stamps moved, plus the ~0.05 ms
        // from the message to its ABORT.
        #expect((placed?["offset_ns"] as? Int).map { $0 >= 271_500_000 && $0 < 272_500_000 } == true, "\(placed ?? [:])")
        // The findings are those of the console on the trace's clock, to within the shift's
        // error: the same kinds, queues and starts, ends within a millisecond.
        func summary(_ json: [String: Any]) -> [String] {
            (json["findings"] as? [[String: Any]] ?? []).map { f in
                "\(f["kind"] ?? "") \((f["queue"] as? [String: Any])?["qid"] ?? "") \(f["start_ns"] ?? "") \(((f["end_ns"] as? Int) ?? 0) / 1_000_000)"
            }
        }
        #expect(summary(shifted) == summary(onItsClock))
        // On its own clock (hang-sq2's console, the trace's) nothing is shifted.
        let same = (onItsClock["alignment"] as? [[String: Any]] ?? []).first { $0["path"] as? String == files.console }
        #expect((same?["note"] as? String ?? "").hasPrefix("guest kernel log: same clock as"), "\(same ?? [:])")
    }
}
