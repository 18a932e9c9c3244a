import Testing

@testable import ShadowBellReport

@Suite struct JSONParserTests {
    @Test func readsBackWhatTheWriterWrites() throws {
        let value: JSONValue = .object([
            ("a", .int(-12)), ("big", .int(1_795_663_303_426_699_000)), ("share", .decimal("0.8735")),
            ("s", .string("tab\tquote\" \u{1}é ✓")), ("n", .null), ("t", .bool(true)), ("list", .array([.int(1), .object([])])),
        ])
        for pretty in [true, false] {
            let back = try JSONParser.parse(value.rendered(pretty: pretty))
            // The writer adds `big_str` beside an integer beyond 2^53.
            #expect(back["big"]?.intValue == 1_795_663_303_426_699_000)
            #expect(back["big_str"]?.stringValue == "1795663303426699000")
            #expect(back["s"]?.stringValue == "tab\tquote\" \u{1}é ✓")
            #expect(back["share"] == .decimal("0.8735"))
            #expect(back["n"]?.isNull == true && back["t"]?.boolValue == true)
            #expect(back["list"]?.arrayValue?.count == 2)
        }
    }

    @Test func escapesNumbersAndHostileInput() throws {
        #expect(try JSONParser.parse(#""\ud83d\ude00 \u00e9""#) == .string("😀 é"))
        #expect(try JSONParser.parse("99999999999999999999") == .decimal("99999999999999999999"))
        #expect(try JSONParser.parse("-1.5e3") == .decimal("-1.5e3"))
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "tru", "\"open", "1 2", "-", "\"\\x\"", "{\"a\":1,}", "\"\u{1}\""] {
            #expect(throws: JSONParser.Failure.self, "\(bad)") { try JSONParser.parse(bad) }
        }
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(deep) }
    }

    @Test func documentsOfJSONLinesAndBatches() throws {
        let lines = "{\"findings\": []}\n\n{\"findings\": [1]}\n"
        #expect(try ReportDocuments.parse(Array(lines.utf8)).count == 2)
        let batch = try JSONParser.parse("{\"batch\": true, \"runs\": [{\"findings\": []}, {\"findings\": []}]}")
        #expect(ReportDocuments.runs(of: batch).count == 2)
        #expect(throws: JSONParser.Failure.self) { try ReportDocuments.parse(Array("{\"a\":1}\nnot json\n".utf8)) }
    }
}

@Suite struct BaselineTests {
    static func finding(_ kind: String, qid: Int, cause: String?, knownBug: String? = nil, start: Int) -> String {
        let bug = knownBug.map { "{\"id\": \"\($0)\", \"title\": \"t\"}" } ?? "null"
        return "{\"kind\": \"\(kind)\", \"queue\": {\"controller\": \"nvme0\", \"qid\": \(qid), \"type\": \"sq\"}, "
            + "\"start_ns\": \(start), \"cause\": \(cause.map { "\"\($0)\"" } ?? "null"), \"known_bug\": \(bug)}"
    }

    @Test func keysIgnoreTimesAndCountTheMostOfAnyRun() throws {
        let a = Self.finding("mutual-wait", qid: 2, cause: "driver-reorder", start: 5)
        let b = Self.finding("mutual-wait", qid: 2, cause: "driver-reorder", start: 900)
        let c = Self.finding("mutual-wait", qid: 2, cause: "driver-reorder", knownBug: "linux-2018-mb", start: 7)
        let jsonl = "{\"findings\": [\(a), \(b)]}\n{\"findings\": [\(a), \(c)]}\n"
        let baseline = try Baseline.read(path: "b.jsonl", bytes: Array(jsonl.utf8))
        let key = try #require(FindingKey(finding: try JSONParser.parse(a)))
        #expect(key == FindingKey(finding: try JSONParser.parse(b)))
        #expect(baseline.counts[key] == 2)
        let withBug = try #require(FindingKey(finding: try JSONParser.parse(c)))
        #expect(withBug.knownBug == "linux-2018-mb" && withBug != key)
        #expect(baseline.counts[withBug] == 1)
        #expect(throws: Baseline.ReadError.self) { try Baseline.read(path: "x", bytes: Array("{\"a\": 1}".utf8)) }
    }
}

@Suite struct FleetSummaryTests {
    /// A baseline is no report (its findings made a hung run out of nothing), and a document
    /// that is no report among reports is said, not dropped without a word.
    @Test func baselinesAndOtherDocumentsAreSaidNotCounted() throws {
        var s = FleetSummary()
        let baseline = "{\"schema_version\": 1, \"baseline\": true, \"findings\": [{\"kind\": \"mutual-wait\", \"queue\": {\"controller\": \"nvme0\", \"qid\": 2, \"type\": \"sq\"}, \"count\": 2}]}"
        s.add(documents: try ReportDocuments.parse(Array(baseline.utf8)), source: "known.json")
        #expect(s.runs.isEmpty)
        #expect(s.problems.count == 1 && s.problems[0].hasPrefix("known.json: a baseline"))

        var t = FleetSummary()
        let lines = "{\"summary\": {\"exit_status\": 0}, \"findings\": []}\n{\"garbage\": 1}\n{\"summary\": {\"exit_status\": 0}, \"findings\": []}\n"
        t.add(documents: try ReportDocuments.parse(Array(lines.utf8)), source: "runs.jsonl")
        #expect(t.runs.count == 2)
        #expect(t.problems == ["runs.jsonl: 1 document(s) that are no report of analyze (line or document 2); the 2 report(s) in it are summarised"])
    }

    /// Reports of another schema_version or of several ShadowBell versions are counted and said
    /// (a report of schema 2 was summarised as if it were of 1, without a word).
    @Test func otherSchemasAndToolVersionsAreSaid() throws {
        func report(_ schema: Int, _ version: String, _ name: String) -> String {
            "{\"schema_version\": \(schema), \"tool\": {\"name\": \"shadowbell\", \"version\": \"\(version)\"}, \"run\": {\"name\": \"\(name)\"}, \"summary\": {\"exit_status\": 0}, \"findings\": []}\n"
        }
        var same = FleetSummary()
        same.add(documents: try ReportDocuments.parse(Array((report(1, "0.1.0", "a") + report(1, "0.1.0", "b")).utf8)), source: "r.jsonl")
        #expect(same.runs.count == 2 && same.notes.isEmpty)
        var mixed = FleetSummary()
        let lines = report(1, "0.1.0", "a") + report(2, "0.3.0", "b") + report(2, "0.3.0", "c")
        mixed.add(documents: try ReportDocuments.parse(Array(lines.utf8)), source: "r.jsonl")
        #expect(mixed.runs.count == 3)
        #expect(mixed.notes.count == 2)
        #expect(mixed.notes.contains { $0.hasPrefix("2 run(s) (b, c) have a report of schema_version 2; this summarize reads 1: members it does not know") })
        #expect(mixed.notes.contains { $0.contains("2 ShadowBell versions (0.1.0, 0.3.0)") })
    }

    @Test func hangsCountedPerRunAndGroupedByLabelsAndEnvironment() throws {
        let hung = """
            {"labels": {"kernel": "6.1"}, "environment": {"guest_kernel": "6.1.0-56-amd64"}, "summary": {"exit_status": 1},
             "clock_domains": [{"inputs": [0], "last_ns": 5000000000}],
             "findings": [{"kind": "mutual-wait", "queue": {"controller": "nvme0", "qid": 2, "type": "sq"}, "start_ns": 1000000000, "end_ns": null, "cause": "unknown", "clock_input": 0},
                          {"kind": "mutual-wait", "queue": {"controller": "nvme0", "qid": 2, "type": "sq"}, "start_ns": 10, "end_ns": 30, "cause": "driver-reorder"},
                          {"kind": "stuck-command", "queue": {"controller": "nvme0", "qid": 2, "type": "sq"}, "start_ns": 10, "end_ns": null, "cause": null}]}
            """
        let healthy = "{\"labels\": {\"kernel\": \"6.12\"}, \"summary\": {\"exit_status\": 0}, \"findings\": []}"
        var s = FleetSummary()
        s.add(documents: try ReportDocuments.parse(Array((hung.replacingOccurrences(of: "\n", with: " ") + "\n" + healthy + "\n").utf8)), source: "f")
        #expect(s.runs.count == 2 && s.problems.isEmpty)
        let t = s.total
        #expect(t.hung == 1 && t.hangs == 2 && t.unresolved == 1 && t.failed == 1)
        #expect(t.byQueue == ["nvme0:sq2": 1])
        #expect(t.byCause == ["unknown": 1, "driver-reorder": 1])
        // The unresolved hang lasts to the end of its clock domain: a lower bound.
        #expect(t.maxNs == 4_000_000_000)
        // Of two hangs, the median is their mean (it was the shorter one).
        #expect(t.medianNs == 2_000_000_010)
        #expect(s.groups(by: "kernel").map(\.value) == ["6.1", "6.12"])
        #expect(s.groups(by: "qemu").map(\.value) == [FleetSummary.none])
        #expect(s.defaultKeys == ["kernel", "qemu", "qemu-events"])
        #expect(FleetSummary.value(of: "kernel", in: s.runs[0]) == "6.1", "a label wins over the environment")
    }

    /// A run whose guest gave up (a guest trace's ABORTs and reset, or the console's timeout
    /// messages) hung, whatever its inputs tell of why: runs of guest traces alone read
    /// "hung: 0 (0.0 %), failed: 4". A stuck command no one gave up on that completed is no
    /// hang (a slow command).
    @Test func theGuestsGiveUpsAreHangs() throws {
        func run(_ from: String?) -> String {
            let inferred = from.map { ", \"inferred_from\": \"\($0)\"" } ?? ""
            return "{\"summary\": {\"exit_status\": 1}, \"findings\": [{\"kind\": \"stuck-command\", \"queue\": {\"controller\": \"nvme0\", \"qid\": 2, \"type\": \"sq\"}, \"start_ns\": 1000, \"end_ns\": 15000001000, \"duration_ns\": 15000000000, \"cause\": null\(inferred)}]}"
        }
        // An error stuck command still outstanding where its trace ends (a guest trace cut 10 s
        // into a hang) hung: its run read failed, not hung.
        let open = "{\"summary\": {\"exit_status\": 1}, \"findings\": [{\"kind\": \"stuck-command\", \"severity\": \"error\", \"queue\": {\"controller\": \"nvme0\", \"qid\": 2, \"type\": \"sq\"}, \"start_ns\": 1000, \"end_ns\": null, \"duration_ns\": 15000000000, \"cause\": null}]}"
        var s = FleetSummary()
        let text = [run("driver-aborts"), run("guest-timeouts"), run(nil), open].joined(separator: "\n") + "\n"
        s.add(documents: try ReportDocuments.parse(Array(text.utf8)), source: "f")
        #expect(s.runs.map(\.hung) == [true, true, false, true])
        #expect(s.total.hangs == 3 && s.total.byQueue == ["nvme0:sq2": 3] && s.total.medianNs == 15_000_000_000)
    }

    /// A hang finding its report doubts (an uncertain warning: a damaged line before its
    /// evidence, a log of several controllers) made a healthy run with one damaged line "hung".
    /// It is a possible hang; the run is undecided, as is one whose report says it could not
    /// decide. An uncertain error, and an unattributed stall (the guest gave up), still hang.
    @Test func doubtedHangsMakeARunUndecidedNotHung() throws {
        func run(_ kind: String, _ severity: String, uncertain: Bool, undecided: Int = 0) -> String {
            let reasons = Array(repeating: "\"why\"", count: undecided).joined(separator: ", ")
            return "{\"summary\": {\"exit_status\": 0, \"undecided\": [\(reasons)]}, \"findings\": [{\"kind\": \"\(kind)\", \"severity\": \"\(severity)\", \"uncertain\": \(uncertain), \"queue\": {\"controller\": \"nvme0\", \"qid\": 2, \"type\": \"sq\"}, \"start_ns\": 0, \"end_ns\": 3000, \"cause\": null}]}"
        }
        let runs = [
            run("controller-idle-with-work", "warning", uncertain: true, undecided: 1),
            run("mutual-wait", "warning", uncertain: true),
            run("mutual-wait", "error", uncertain: true),
            run("unattributed-stall", "warning", uncertain: true),
            run("controller-idle-with-work", "warning", uncertain: false),
            run("cq-eventidx-not-seen", "info", uncertain: false, undecided: 2),
            run("cq-eventidx-not-seen", "info", uncertain: false),
        ]
        var s = FleetSummary()
        s.add(documents: try ReportDocuments.parse(Array((runs.joined(separator: "\n") + "\n").utf8)), source: "f")
        #expect(s.runs.map(\.hung) == [false, false, true, true, true, false, false])
        #expect(s.runs.map(\.undecided) == [true, true, false, false, false, true, false])
        #expect(s.runs.map(\.possibleHangs.count) == [1, 1, 0, 0, 0, 0, 0])
        #expect(s.total.hung == 3 && s.total.undecided == 3 && s.total.hangs == 3)
        let text = FleetSummaryReport.text(s, keys: [])
        #expect(text.contains("undecided: 3 run(s) neither hung nor shown healthy"), "\(text)")
        let json = try JSONParser.parse(FleetSummaryReport.json(s, keys: []))
        #expect(json["total"]?["runs_undecided"]?.intValue == 3)
        #expect(json["runs"]?.arrayValue?.first?["possible_hangs"]?.arrayValue?.count == 1)
        #expect(FleetSummaryReport.html(s, keys: []).contains("<b>3 undecided</b>"))
    }

    @Test func theLogAxisIsMonotonic() {
        var last = -1
        for ns: Int64 in [0, 1_000, 1_500, 3_000, 9_999, 10_000, 30_000_000, 999_999_999_999, 5_000_000_000_000] {
            let x = FleetSummaryReport.x(ns, left: 0, width: 540)
            #expect(x >= last, "\(ns)")
            last = x
        }
        #expect(FleetSummaryReport.x(30_000_000_000, left: 0, width: 540) > FleetSummaryReport.x(20_000_000_000, left: 0, width: 540))
    }
}

@Suite struct FleetGroupCountTests {
    /// A night's runs: hung, failed on another error, not hung with an input error, undecided,
    /// healthy. Each group's row counts them, and its bar paints only the healthy ones green
    /// (every run not hung was green: a night of lost traces looked healthy).
    @Test func eachGroupSaysWhatIsNotHealthyAndItsBarShowsIt() throws {
        let hang = BaselineTests.finding("mutual-wait", qid: 2, cause: "unknown", start: 5)
            .replacingOccurrences(of: "\"start_ns\": 5", with: "\"start_ns\": 5, \"end_ns\": 30000000005, \"severity\": \"error\", \"duration_ns\": 30000000000")
        let other = "{\"kind\": \"value-out-of-range\", \"severity\": \"error\", \"queue\": {\"controller\": \"nvme0\", \"qid\": 1, \"type\": \"sq\"}, \"start_ns\": 9}"
        func run(_ name: String, exit: Int, findings: [String], undecided: [String] = []) -> String {
            "{\"run\": {\"name\": \"\(name)\"}, \"labels\": {\"night\": \"n1\"}, \"findings\": [\(findings.joined(separator: ", "))], "
                + "\"summary\": {\"exit_status\": \(exit), \"undecided\": [\(undecided.map { "\"\($0)\"" }.joined(separator: ", "))]}}"
        }
        let lines = [
            run("hung", exit: 1, findings: [hang]), run("failed", exit: 1, findings: [other]), run("lost", exit: 2, findings: []),
            run("unsure", exit: 0, findings: [], undecided: ["a console alone"]), run("fine", exit: 0, findings: []),
        ].joined(separator: "\n")
        var summary = FleetSummary()
        summary.add(documents: try ReportDocuments.parse(Array(lines.utf8)), source: "n1.jsonl")
        let st = try #require(summary.groups(by: "night").first?.stats)
        #expect((st.runs, st.hung, st.failedNotHung, st.unreadNotHung, st.undecidedOnly, st.healthy) == (5, 1, 1, 1, 1, 1))
        let text = FleetSummaryReport.text(summary, keys: ["night"])
        #expect(text.contains("failed  input errors  undecided"), "\(text)")
        let row = try #require(text.split(separator: "\n").first { $0.hasPrefix("  n1") })
        #expect(row.split(separator: " ").prefix(7) == ["n1", "5", "1", "20.0", "%", "2", "1"], "\(row)")
        let html = FleetSummaryReport.html(summary, keys: ["night"])
        for title in ["1 of 5 hung", "1 of 5 failed on another error finding", "1 of 5 not hung, but with inputs that could not be read",
                      "1 of 5 undecided: neither hung nor shown healthy", "1 of 5 shown healthy"] {
            #expect(html.contains("<title>\(title)</title>"), "\(title)")
        }
    }
}

@Suite struct FleetGroupOrderTests {
    /// Groups are in version order: kernel 6.1, 6.6, 6.12 (text order put 6.12 before 6.6).
    @Test func numbersInsideValuesCompareAsNumbers() {
        let values = ["6.12.1", "6.1", "(none)", "6.6.59", "6.12", "vm-10", "vm-2", "6.01", "a", "6.6"]
        #expect(values.sorted(by: FleetSummary.naturalOrder) == ["(none)", "6.01", "6.1", "6.6", "6.6.59", "6.12", "6.12.1", "a", "vm-2", "vm-10"])
        let digits = String(repeating: "9", count: 40)
        #expect(FleetSummary.naturalOrder("v" + digits, "v1" + digits) && !FleetSummary.naturalOrder("x", "x"))
    }
}
