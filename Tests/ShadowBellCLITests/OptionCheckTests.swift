import Foundation
import Testing
@testable import shadowbell

/// Option values and combinations that were taken without a word, or refused with the wrong
/// reason, and outputs a failed run left behind.
@Suite struct OptionCheckTests {
    /// `--same-clock` with `--clock-offset` ignored the offset: refused (64) in every command
    /// that takes both, saying why.
    @Test func sameClockAndAClockOffsetAreRefusedTogether() throws {
        let trace = sample("lab/sq-hang.txt")
        let both = ["--same-clock", "--clock-offset", "\(trace)=-1.5"]
        for arguments in [
            ["analyze", trace] + both, ["report", trace, "-o", temporaryPath("same-clock.html")] + both,
            ["explain", trace, "--finding", "1"] + both, ["timeline", trace] + both,
        ] {
            let r = try runProcess(arguments)
            #expect(r.status == 64, "\(arguments): \(r.stderr)")
            #expect(r.stderr.contains("--same-clock and --clock-offset \(trace) cannot be given together"), "\(arguments): \(r.stderr)")
        }
    }
}

extension OptionCheckTests {
    /// Without a range, the charts are drawn around the first --max-findings findings (60), and
    /// the document and standard error say how many more were left out: a run of thousands of
    /// hangs drew every one (a 4 GB run's 25,631 windows in one chart, 1.6 times the analysis).
    @Test func theChartsAreDrawnAroundTheFirstFindingsAndSaySo() throws {
        let f = try RealTraceTests.run("hang-sq2")
        let all = try runProcess(["timeline", f.guest, f.qemu, "--format", "svg", "--queue", "sq2"])
        let first = try runProcess(["timeline", f.guest, f.qemu, "--format", "svg", "--queue", "sq2", "--max-findings", "1"])
        #expect(all.status == 0 && first.status == 0, "\(first.stderr)")
        func windows(_ svg: String) -> Int { svg.components(separatedBy: "class=\"window\"").count - 1 }
        #expect(windows(all.stdout) == 2 && windows(first.stdout) == 1, "\(windows(all.stdout)) \(windows(first.stdout))")
        let said = "1 more finding(s) on these queues are not drawn (the first 1 are: --max-findings); draw others with --from/--to"
        #expect(first.stdout.contains(said) && first.stderr.contains("note: " + said), "\(first.stderr)")
        #expect(!all.stdout.contains("not drawn") && !all.stderr.contains("not drawn"))
        let zero = try runProcess(["timeline", f.guest, "--format", "svg", "--max-findings", "0"])
        #expect(zero.status == 64 && zero.stderr.contains("--max-findings 0: give 1 or more"), "\(zero.stderr)")
    }

    /// With a range given, the title of a chart that left events out says how many and points
    /// to --max-events (it advised choosing a range with --from/--to); `--max-events 0` drew an
    /// empty chart and is a usage error.
    @Test func aRangedChartLeavingEventsOutPointsToMaxEvents() throws {
        let trace = sample("lab/sq-hang.txt")
        let r = try runProcess(["timeline", trace, "--format", "svg", "--from", "100.001", "--to", "100.003", "--max-events", "3", "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("nvme0:sq1: 3 event(s), 17 more of the range left out (at most --max-events 3 drawn: raise it or narrow --from/--to)"))
        #expect(!r.stdout.contains("choose a range"))
        // Without a range, choosing one is still the advice.
        let whole = try runProcess(["timeline", trace, "--format", "svg", "--queue", "cq1", "--max-events", "3", "--quiet"])
        #expect(whole.status == 0 && whole.stdout.contains("more left out (choose a range with --from/--to)"), "\(whole.stderr)")
        for bad in ["0", "-2"] {
            let z = try runProcess(["timeline", trace, "--format", "svg", "--from", "100.001", "--to", "100.003", "--max-events", bad, "--quiet"])
            #expect(z.status == 64 && z.stderr.contains("--max-events \(bad): give 1 or more"), "\(bad): \(z.stderr)")
            #expect(z.stdout.isEmpty)
        }
    }
}

extension OptionCheckTests {
    /// The exit status and message of a command line that stops before running (a usage error).
    func refusal(_ arguments: [String]) -> (status: Int32, message: String) {
        do {
            _ = try ShadowBell.parseAsRoot(arguments)
            return (0, "")
        } catch {
            return (ShadowBell.exitCode(for: error).rawValue, ShadowBell.message(for: error))
        }
    }

    /// A negative number was "Missing value for '--min-wait'" (the word taken for an option):
    /// every option with a number takes it as its value and says what is wrong with it.
    @Test func negativeNumbersAreInvalidValuesNotMissingOnes() {
        let trace = sample("lab/sq-hang.txt")
        let analysing: [[String]] = [["analyze", trace], ["report", trace, "-o", "r.html"], ["explain", trace, "--finding", "1"], ["timeline", trace]]
        for command in analysing {
            for flag in ["--min-wait", "--race-window", "--timing-slack", "--stuck-after", "--inferred-min-wait"] {
                for arguments in [command + [flag, "-1ms"], command + ["\(flag)=-1ms"]] {
                    let r = refusal(arguments)
                    #expect(r.status == 64 && r.message == "\(flag) -1ms: a duration must not be negative", "\(arguments): \(r.message)")
                }
            }
            let c = refusal(command + ["--controller", "-1"])
            #expect(c.status == 64 && c.message.contains("'-1' is invalid for '--controller <N>': a controller number is a whole number from 0 to 65535"), "\(command): \(c.message)")
        }
        let cases: [([String], String)] = [
            (["analyze", trace, "--jobs", "-1"], "--jobs must be at least 1 (got -1)"),
            (["analyze", trace, "--max-hangs-per-queue", "-1"], "--max-hangs-per-queue -1: give a count, or 0 to tell every hang"),
            (["report", trace, "-o", "r.html", "--max-pictures", "-1"], "--max-pictures must not be negative"),
            (["convert", trace, "-o", "c.pcap", "--controller", "-1"], "'-1' is invalid for '--controller <N>': a controller number is"),
            (["analyze", trace, "--controller", "65536"], "'65536' is invalid for '--controller <N>': a controller number is"),
            (["convert", trace, "-o", "c.pcap", "--link-type", "-1"], "--link-type -1: use LINKTYPE_USER0"),
            (["simulate", "-o", "s.txt", "--seed", "-1"], "The value '-1' is invalid for '--seed"),
            (["simulate", "-o", "s.txt", "--queues", "-1"], "queues must be 1...64 (got -1)"),
            (["simulate", "-o", "s.txt", "--fault-at-us", "-5"], "--fault-at-us -5: must not be negative"),
            (["simulate", "-o", "s.txt", "--race-window-ns", "-5"], "--race-window-ns -5: must not be negative"),
            (["simulate", "-o", "s.txt", "--coalesce-time-us", "-5"], "--coalesce-time-us -5: must not be negative"),
            // Numbers too large for 64-bit nanoseconds, or large enough to overflow a sum with
            // the inputs' times (each trapped: exit 132, no word).
            (["analyze", trace, "--min-wait", "9223372036.9"], "is invalid for '--min-wait"),
            (["analyze", trace, "--timing-slack", "9223372036s"], "--timing-slack 9223372036s: at most 1000000 s"),
            (["analyze", trace, "--clock-offset", "\(trace)=9223372036.854775808"], "is invalid for '--clock-offset"),
            (["simulate", "-o", "s.txt", "--duration-us", "9223372036854775807"], "--duration-us 9223372036854775807: at most 1 hour"),
            (["simulate", "-o", "s.txt", "--fault-at-us", "9223372036854775807"], "--fault-at-us 9223372036854775807: at most 1 hour"),
            (["simulate", "-o", "s.txt", "--service", "fixed:9223372036854775807"], "service delays must be at most 1 hour"),
            (["simulate", "-o", "s.txt", "--interrupt-latency", "uniform:1:9223372036854775807"], "interrupt-latency delays must be at most 1 hour"),
            (["simulate", "-o", "s.txt", "--race-window-ns", "9223372036854775807"], "race window must be at most 1 hour"),
        ]
        for (arguments, message) in cases {
            let r = refusal(arguments)
            #expect(r.status == 64 && r.message.contains(message), "\(arguments): \(r.message)")
            #expect(!r.message.contains("Missing value"), "\(arguments)")
        }
        // A duration as before.
        #expect(refusal(["analyze", trace, "--min-wait", "5ms"]).status == 0)
    }
}

extension OptionCheckTests {
    /// A --junit that cannot be written left the report (and the baseline) written beside a
    /// failed run (exit 2): a run leaves all of its outputs or none, and says which path failed.
    @Test func aRunThatCannotWriteEveryOutputLeavesNone() throws {
        let trace = sample("lab/sq-hang.txt")
        let dir = temporaryPath("outputs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let report = "\(dir)/j.json", baseline = "\(dir)/b.json"
        // Known before the analysis: a folder that is not there.
        let missing = try runProcess(["analyze", trace, "--format", "json", "-o", report, "--junit", "\(dir)/no-such-folder/j.xml", "--write-baseline", baseline])
        #expect(missing.status == 2, "\(missing.stderr)")
        #expect(missing.stderr.contains("--junit: cannot write \(dir)/no-such-folder/j.xml: No such file or directory; nothing was written"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: report) && !FileManager.default.fileExists(atPath: baseline))
        // Known only while writing (a full disk): the outputs written before are removed.
        let full = try runProcess(["analyze", trace, "--format", "json", "-o", report, "--junit", "/dev/full", "--write-baseline", baseline])
        #expect(full.status == 2, "\(full.stderr)")
        #expect(full.stderr.contains("cannot write /dev/full: No space left on device"), "\(full.stderr)")
        #expect(!FileManager.default.fileExists(atPath: report) && !FileManager.default.fileExists(atPath: baseline))
        // Writable: all three.
        #expect(try runProcess(["analyze", trace, "--format", "json", "-o", report, "--junit", "\(dir)/j.xml", "--write-baseline", baseline]).status == 1)
        #expect(FileManager.default.fileExists(atPath: report) && FileManager.default.fileExists(atPath: baseline))
    }
}

extension OptionCheckTests {
    /// An input that is no trace is an input error, and nothing more: the timeline added "no
    /// event matched the selected queues and time range", though none was selected.
    @Test func aTimelineOfAnInputThatIsNoTraceSaysOnlyThat() throws {
        let binary = temporaryPath("binary-\(UUID().uuidString).dat")
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) } + [0, 0, 0xFF]).write(to: URL(fileURLWithPath: binary))
        defer { try? FileManager.default.removeItem(atPath: binary) }
        let text = try runProcess(["timeline", binary])
        #expect(text.status == 2 && text.stderr.contains("\(binary): not a supported trace format"), "\(text.stderr)")
        #expect(!text.stdout.contains("no event matched") && !text.stderr.contains("no event matched"), "\(text.stdout)")
        let svg = try runProcess(["timeline", binary, "--format", "svg"])
        #expect(svg.status == 2 && !svg.stdout.contains("no event matched") && svg.stdout.contains("nothing drawn: an input could not be read"))
    }
}

extension OptionCheckTests {
    /// The examples of every command's help, at 80 columns, are as written: a command line too
    /// long was wrapped (`… --output` / `fleet.html`), and a copied command was cut. Long ones
    /// go on over ` \` continuation lines.
    @Test func helpExamplesFitEightyColumns() {
        func examples(_ help: String) -> [Substring] {
            let lines = help.split(separator: "\n", omittingEmptySubsequences: false)
            guard let start = lines.firstIndex(where: { $0.hasSuffix("Examples:") }) else { return [] }
            return Array(lines[start...].prefix { !$0.trimmingCharacters(in: .whitespaces).isEmpty })
        }
        var helps: [(String, String, String)] = [("shadowbell", ShadowBell.helpMessage(columns: 80), ShadowBell.helpMessage(columns: 1000))]
        for command in ShadowBell.commands {
            let name = command.configuration.commandName ?? "\(command)"
            helps.append((name, ShadowBell.helpMessage(for: command, columns: 80), ShadowBell.helpMessage(for: command, columns: 1000)))
        }
        for (name, narrow, wide) in helps {
            let lines = examples(narrow)
            #expect(lines.count > 1, "\(name): no examples")
            #expect(lines == examples(wide), "\(name): an example is wrapped at 80 columns:\n\(lines.joined(separator: "\n"))")
            #expect(lines.allSatisfy { $0.count <= 80 }, "\(name)")
        }
    }
}

extension OptionCheckTests {
    /// An empty results file said "not JSON (byte 0: unexpected end of text)".
    @Test func summarizeOfAnEmptyFileSaysItIsEmpty() throws {
        let empty = temporaryPath("empty-\(UUID().uuidString).jsonl")
        try Data().write(to: URL(fileURLWithPath: empty))
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let r = try runProcess(["summarize", empty])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("\(empty): the file is empty, no report"), "\(r.stderr)")
        #expect(!r.stderr.contains("unexpected end of text"))
        let piped = try runProcess(["summarize", "-"], stdin: Data("\n\n".utf8))
        #expect(piped.status == 2 && piped.stderr.contains("-: standard input holds only blank lines, no report"), "\(piped.stderr)")
    }
}

extension OptionCheckTests {
    /// An ftrace file of one CPU holding no NVMe event got the note that its stuck commands are
    /// marked uncertain (a part of a per-CPU trace): with no command, it does not apply.
    @Test func aTraceOfOneCPUWithoutCommandsGetsNoNoteOnStuckCommands() throws {
        let trace = temporaryPath("cpu1-\(UUID().uuidString).txt")
        try """
            # tracer: nop
            #
            # entries-in-buffer/entries-written: 3/3   #P:4
            #
                         fio-2201 [001] .....   100.001000: sched_switch: prev_comm=fio prev_pid=2201 prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120
                      <idle>-0    [001] d.h1.   100.001090: irq_handler_entry: irq=25 name=nvme0q1

            """.write(toFile: trace, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: trace) }
        let (_, json, _) = try analyzeJSON([trace, sample("real-single/qemu-trace.log")], extra: ["--quiet"])
        let notes = json["notes"] as? [String] ?? []
        #expect(!notes.contains { $0.contains("holds the events of CPU") || $0.contains("stuck commands are marked uncertain") }, "\(notes)")
    }
}

extension OptionCheckTests {
    /// Two outputs on standard output by any of its names (`-`, /dev/stdout): the baseline and
    /// the report were written there one after the other.
    @Test func twoOutputsOnStandardOutputAreRefused() throws {
        let trace = sample("lab/sq-hang.txt")
        for extra in [["--write-baseline", "-"], ["--junit", "/dev/stdout"], ["--write-baseline", "/dev/stdout", "-o", "-"]] {
            let r = try runProcess(["analyze", trace] + extra)
            #expect(r.status == 64, "\(extra)")
            #expect(r.stderr.contains("would be written to the same place"), "\(extra): \(r.stderr)")
        }
    }
}
