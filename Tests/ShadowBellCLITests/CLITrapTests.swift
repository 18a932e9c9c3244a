import Foundation
import Testing
@testable import shadowbell

/// Commands that would silently do the wrong thing are usage errors with a way out.
@Suite struct CLITrapTests {
    @Test func aMistypedCommandIsAUsageErrorNamingTheCommandMeant() throws {
        let out = temporaryPath("reprot.html")
        try? FileManager.default.removeItem(atPath: out)
        #expect(runCommand(["reprot", sample("lab/sq-hang.txt"), "--output", out]) == 64)
        #expect(!FileManager.default.fileExists(atPath: out), "no text report written into an .html file")
        #expect(runCommand(["analyse", sample("lab/sq-hang.txt")]) == 64)
        #expect(ShadowBell.commandMeant(by: "reprot") == "report")
        #expect(ShadowBell.commandMeant(by: "analyse") == "analyze")
        #expect(ShadowBell.commandMeant(by: "timelin") == "timeline")
        #expect(ShadowBell.commandMeant(by: "trace") == nil)
        #expect(ShadowBell.commandMeant(by: "sq-hang.txt") == nil)
        // A path is never taken for a command.
        #expect(ShadowBell.commandMeant(by: "./reprot") == nil)
        // A word like a command, naming no file, before traces: `diff a b` was read as three
        // runs (exit 2, not a word on commands).
        #expect(runCommand(["diff", sample("lab/sq-hang.txt"), sample("lab/cq-hang.txt")]) == 64)
        #expect(ShadowBell.looksLikeCommand("diff") && !ShadowBell.looksLikeCommand("trace.txt") && !ShadowBell.looksLikeCommand("-"))
    }

    /// The command meant is given back with the whole command line after the mistyped word: it
    /// kept the option values and dropped their names (`timeline X sq2 14 15`), which failed
    /// when pasted back. `help` of a word that is no command is a usage error.
    @Test func theCommandMeantKeepsTheOptionsAsGiven() throws {
        let r = try runProcess(["timelin", sample("lab/sq-hang.txt"), "--queue", "sq1", "--from", "100.0015", "--to", "100.003"])
        #expect(r.status == 64 && r.stderr.contains("did you mean 'shadowbell timeline \(sample("lab/sq-hang.txt")) --queue sq1 --from 100.0015 --to 100.003'?"), "\(r.stderr)")
        let e = try runProcess(["explian", sample("lab/sq-hang.txt"), "--finding", "1", "--format", "json"])
        #expect(e.status == 64 && e.stderr.contains("'shadowbell explain \(sample("lab/sq-hang.txt")) --finding 1 --format json'"), "\(e.stderr)")
        let h = try runProcess(["help", "timelin"])
        #expect(h.status == 64 && h.stderr.contains("no command 'timelin'") && h.stderr.contains("did you mean 'shadowbell help timeline'"), "\(h.stderr)")
        #expect(try runProcess(["help", "bogus"]).status == 64)
        #expect(try runProcess(["help", "timeline"]).status == 0)
    }

    /// `report` writes HTML: an output named as another kind of file (`-o out.json`, `-o
    /// README.md`) is refused before anything is read. A file of the run's notes that the
    /// analysis takes facts from (the README naming the QEMU version) is never written over,
    /// by any command; an earlier report in the run folder may be.
    @Test func theRunsNotesAndOtherKindsOfFileAreNotWrittenOver() throws {
        try inTemporaryFolder("notes-kept") { dir in
            try FileManager.default.copyItem(atPath: sample("lab/sq-hang.txt"), toPath: "\(dir)/trace.txt")
            let readme = "\(dir)/README.md"
            let notes = "# the run\n\nQEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u16)\n"
            try notes.write(toFile: readme, atomically: true, encoding: .utf8)
            for arguments in [
                ["report", dir, "--output", "\(dir)/out.json"], ["report", dir, "--output", readme],
                ["explain", dir, "--finding", "1", "--output", readme], ["timeline", dir, "--output", readme],
                ["analyze", dir, "--output", readme],
            ] {
                let r = try runProcess(arguments)
                #expect(r.status == 64, "\(arguments): \(r.stderr)")
                #expect(try String(contentsOfFile: readme, encoding: .utf8) == notes, "\(arguments)")
            }
            let r = try runProcess(["explain", dir, "--finding", "1", "--output", readme])
            #expect(r.stderr.contains("is the run's notes") && r.stderr.contains("QEMU 7.2.22"), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/out.json"))
            for _ in 0..<2 { #expect(runCommand(["report", dir, "--output", "\(dir)/report.html", "--quiet"]) == 0) }
        }
    }

    /// A console alone holds no queue's events: asking for a queue says so, as asking for none does.
    @Test func aConsoleAlonesTimelineSaysWhatItHolds() throws {
        let f = try RealTraceTests.run("hang-sq2")
        for extra in [[], ["--queue", "sq2"], ["--from", "10", "--to", "20"]] {
            let r = try runProcess(["timeline", f.console] + extra)
            #expect(r.status == 64 && r.stderr.contains("a console log holds the driver's timeout, abort and reset messages only"), "\(extra): \(r.stderr)")
        }
    }

    /// A finding's window near the chart's right edge keeps its label: sysrq-hang's console
    /// alone drew #2's window with no "#2" over it (the label did not fit after its start).
    @Test func everyFindingWindowDrawnIsLabelled() throws {
        let f = try RealTraceTests.run("sysrq-hang")
        let r = try runProcess(["timeline", f.console, "--format", "svg", "--quiet"])
        #expect(r.status == 0 || r.status == 1, "\(r.stderr)")
        let drawn = Set(r.stdout.components(separatedBy: "class=\"window\" ").dropFirst().compactMap { rest -> String? in
            guard let at = rest.range(of: "data-finding=\"") else { return nil }
            return String(rest[at.upperBound...].prefix { $0 != "\"" })
        })
        #expect(drawn.count >= 2, "\(drawn)")
        let labels = r.stdout.components(separatedBy: "class=\"window-label\"").dropFirst().compactMap { rest -> String? in
            guard let open = rest.firstIndex(of: ">") else { return nil }
            return String(rest[rest.index(after: open)...].prefix { $0 != "<" })
        }
        for finding in drawn {
            #expect(labels.contains { $0.hasPrefix("#\(finding) ") }, "#\(finding) has no label: \(labels)")
        }
    }

    /// A --baseline or --files-from that cannot be read says why (a misspelt name and a file
    /// without permission read alike: "cannot read it").
    @Test func anUnreadableOptionFileSaysWhy() throws {
        let r = try runProcess(["analyze", sample("lab/sq-hang.txt"), "--baseline", "no-such-baseline.json"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("--baseline no-such-baseline.json: cannot read it (") && r.stderr.contains("No such file or directory"), "\(r.stderr)")
        // A device given by mistake is refused at a bound (it was read into memory without end).
        for option in ["--baseline", "--files-from"] {
            let z = try runProcess(["analyze", sample("lab/sq-hang.txt"), option, "/dev/zero"])
            #expect(z.status == 2 && z.stderr.contains("\(option) /dev/zero: cannot read it (it holds more than"), "\(z.stderr)")
        }
    }

    @Test func convertPicksTheFormatItsOutputNamesOrRefusesAMismatch() throws {
        let json = temporaryPath("conv.json")
        #expect(runCommand(["convert", sample("lab/sq-hang.txt"), "--output", json]) == 0)
        let text = try String(contentsOfFile: json, encoding: .utf8)
        #expect(text.hasPrefix("{") && text.contains("traceEvents"))
        #expect(runCommand(["convert", sample("lab/sq-hang.txt"), "--output", json, "--to", "pcap"]) == 64)
        #expect(runCommand(["convert", sample("lab/sq-hang.txt"), "--output", temporaryPath("c.pcap"), "--to", "perfetto-json"]) == 64)
        let pcap = temporaryPath("conv.pcap")
        #expect(runCommand(["convert", sample("lab/sq-hang.txt"), "--output", pcap]) == 0)
        let magic = try FileHandle(forReadingFrom: URL(fileURLWithPath: pcap)).read(upToCount: 4)
        #expect(magic == Data([0x4D, 0x3C, 0xB2, 0xA1]))
    }

    /// An output naming a trace the command reads, under any name, is refused before anything
    /// is written (it replaced the trace with the report: analyze, explain, timeline and
    /// --write-baseline did; report refused only the very same spelling).
    @Test func noCommandWritesItsOutputOverAnInput() throws {
        let dir = temporaryPath("output-over-input-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let trace = "\(dir)/trace.txt"
        try FileManager.default.copyItem(atPath: sample("lab/sq-hang.txt"), toPath: trace)
        let original = try Data(contentsOf: URL(fileURLWithPath: trace))
        let other = "\(dir)/./trace.txt"
        for arguments in [
            ["analyze", trace, "--output", other], ["analyze", dir, "--output", other], ["analyze", trace, "--write-baseline", other],
            ["explain", trace, "--finding", "1", "--output", other], ["timeline", trace, "--output", other],
            ["report", trace, "--output", other],
        ] {
            let r = try runProcess(arguments)
            #expect(r.status == 64 && r.stderr.contains("is the input"), "\(arguments): \(r.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: trace)) == original, "\(arguments)")
        }
        // A report written into the run folder, again and again, is not an input.
        for _ in 0..<2 { #expect(runCommand(["analyze", dir, "--format", "json", "--output", "\(dir)/report.json", "--quiet"]) == 1) }
    }

    /// `--same-clock` on a guest trace (seconds since boot) and a QEMU log (seconds since 1970)
    /// says they do not look like one clock; inputs that do share one get no such note.
    @Test func sameClockOnTwoClocksSaysSo() throws {
        let f = try RealTraceTests.run("single")
        let (_, json, _) = try analyzeJSON([f.guest, f.qemu], extra: ["--same-clock", "--quiet"])
        #expect((json["notes"] as? [String] ?? []).contains { $0.hasPrefix("--same-clock: ") && $0.contains("do not look like one clock") })
        let (_, shared, _) = try analyzeJSON([f.guest, f.console], extra: ["--same-clock", "--quiet"])
        #expect(!(shared["notes"] as? [String] ?? []).contains { $0.contains("do not look like one clock") })
    }

    @Test func emptyTimelineSelectionsAreUsageErrors() {
        let trace = sample("lab/sq-hang.txt")
        #expect(runCommand(["timeline", trace, "--queue", "sq9", "--quiet"]) == 64)
        #expect(runCommand(["timeline", trace, "--from", "50", "--to", "40", "--quiet"]) == 64)
        #expect(runCommand(["timeline", trace, "--queue", "sq1", "--from", "50", "--to", "60", "--quiet"]) == 64)
        #expect(runCommand(["timeline", trace, "--queue", "sq1", "--output", temporaryPath("tl.txt"), "--quiet"]) == 0)
    }

    /// A binary input's rows name a byte, not a line: `trace.dat@stream1+1631272` (it printed
    /// `trace.dat:1099513258860`, as if a line number).
    @Test func timelineRowsOfATraceDatNameBytes() throws {
        let dat = RealTraceTests.realDirectory.appendingPathComponent("dat-hang-sq2/trace.dat").path
        let out = temporaryPath("dat-rows-\(UUID().uuidString).csv")
        #expect(runCommand(["timeline", dat, "--queue", "sq2", "--from", "19.2", "--to", "19.23", "--format", "csv", "--output", out, "--quiet"]) == 0)
        let rows = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").dropFirst()
        #expect(!rows.isEmpty && rows.allSatisfy { $0.contains("trace.dat@") && !$0.contains("trace.dat:") })
    }

    /// Times on the analysis clock can be negative (a QEMU log's events before the guest
    /// booted, on the guest's clock), and `explain` suggests such ranges: `--from -5.2` is a
    /// value, not an option (it was "Missing value for '--to <seconds>'", exit 64).
    @Test func negativeTimelineBoundsAreValues() {
        let trace = sample("lab/sq-hang.txt")
        let out = temporaryPath("negative.txt")
        #expect(runCommand(["timeline", trace, "--queue", "sq1", "--from", "-5.2", "--to", "1000", "--output", out, "--quiet"]) == 0)
        #expect(((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("sq1"))
        #expect(runCommand(["timeline", trace, "--from=-5.2", "--to", "-6", "--quiet"]) == 64)
        #expect(runCommand(["timeline", trace, "--from", "-x", "--quiet"]) == 64)
    }
}
