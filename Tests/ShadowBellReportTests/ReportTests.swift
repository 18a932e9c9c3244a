import Foundation
#if canImport(FoundationXML)
    import FoundationXML
#endif
import ShadowBellAnalysis
import ShadowBellCore
import Testing
import ShadowBellTestSupport
@testable import ShadowBellReport

/// A result with one unresolved SQ hang, built from hand-made events.
private func hangReport() -> AnalysisReport {
    let analyzer = ClockGroupAnalyzer(options: AnalysisOptions(), sources: [0], clock: .timestamps)
    let us: (Int64) -> Int64 = { $0 * 1_000 }
    var line: UInt64 = 0
    func feed(_ e: Event) {
        line += 1
        var e = e
        e.location = line
        analyzer.consume(e)
    }
    feed(Event(kind: .queueCreate, time: us(0), qid: 1, queueType: .sq, a: 15, b: 1))
    feed(Event(kind: .dbbufConfig, time: us(1)))
    feed(.driverDoorbellUpdate(.sq, qid: 1, old: 0, new: 1, eventIdx: 0, mmio: true, time: us(10)))
    feed(.queueValue(.controllerShadowRead, .sq, qid: 1, value: 1, time: us(20)))
    feed(Event(kind: .controllerFetch, time: us(21), qid: 1, a: 7))
    feed(.driverDoorbellUpdate(.sq, qid: 1, old: 1, new: 2, eventIdx: 0, mmio: false, time: us(30)))
    feed(.queueValue(.controllerEventIdxWrite, .sq, qid: 1, value: 1, time: us(40)))
    feed(.queueValue(.controllerShadowRead, .sq, qid: 1, value: 1, time: us(41)))
    feed(Event(kind: .interrupt, time: us(5_000), a: 1))
    let group = analyzer.finish()
    var input = InputSummary(index: 0, path: "dir/trace \"one\".txt", format: .ftraceText)
    input.events = group.events
    let result = AnalysisSession.combine(inputs: [input], groups: [group], notes: [], options: AnalysisOptions())
    return AnalysisReport(result: result)
}

@Suite struct JSONReportTests {
    @Test func contractKeysAndTypes() throws {
        let text = JSONReport.render(hangReport())
        #expect(schemaProblems(ofJSON: text).isEmpty)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(json["schema_version"] as? Int == 1)
        let input = try #require((json["inputs"] as? [[String: Any]])?.first)
        #expect(input["path"] as? String == "dir/trace \"one\".txt")
        for key in ["format", "events", "malformed"] { #expect(input[key] != nil, "inputs[].\(key)") }
        let queue = try #require((json["queues"] as? [[String: Any]])?.first)
        for key in ["controller", "qid", "type", "controller_shadow_reads", "controller_eventidx_writes", "mmio_doorbells", "driver_shadow_writes"] {
            #expect(queue[key] != nil, "queues[].\(key)")
        }
        let finding = try #require((json["findings"] as? [[String: Any]])?.first)
        #expect(finding["kind"] as? String == "mutual-wait")
        #expect(finding["severity"] as? String == "error")
        #expect(finding["start_ns"] as? Int == 41_000)
        #expect(finding["end_ns"] is NSNull)
        #expect(finding["resolution"] as? String == "end-of-trace")
        #expect(finding["cause"] as? String == "driver-reorder")
        #expect((finding["evidence"] as? [Any])?.count == 3)
        #expect((json["summary"] as? [String: Any])?["exit_status"] as? Int == 1)
    }

    @Test func renderingIsByteIdenticalAcrossRuns() {
        #expect(JSONReport.render(hangReport()) == JSONReport.render(hangReport()))
    }

    @Test func stringsAreEscaped() {
        let v = JSONValue.object([("k\"", .string("a\\b\n\u{1}é"))])
        #expect(v.rendered(pretty: false) == "{\"k\\\"\":\"a\\\\b\\n\\u0001é\"}")
    }

    @Test func ratiosUseFixedDecimalsWithoutFloatingPoint() {
        #expect(decimalRatio(2, 3) == .decimal("0.6667"))
        #expect(decimalRatio(5, 5) == .decimal("1.0000"))
        #expect(decimalRatio(0, 0) == .null)
        #expect(formatSeconds(100_002_014_000) == "100.002014000")
        #expect(formatSeconds(-1) == "-0.000000001")
    }
}

/// A baseline matches a finding by kind, queue, cause and known bug; a finding marked uncertain
/// (its cause read where the clocks are poorly aligned) matches one of its kind on its queue
/// whatever the cause, after the exact matches.
@Suite struct BaselineMatchTests {
    static func key(cause: String?) throws -> FindingKey {
        let json = "{\"kind\": \"mutual-wait\", \"queue\": {\"controller\": \"nvme0\", \"qid\": 1, \"type\": \"sq\"}, \"cause\": \(cause.map { "\"\($0)\"" } ?? "null"), \"known_bug\": null}"
        return try #require(FindingKey(finding: try JSONParser.parse(Array(json.utf8))))
    }

    @Test func anUncertainCauseIsNoNewFinding() throws {
        var report = hangReport()
        let wait = try #require(report.result.findings.firstIndex { $0.kind == .mutualWait })
        #expect(report.result.findings[wait].cause == .driverReorder)
        let other = Baseline(path: "b.json", counts: [try Self.key(cause: "skipped-demanded-doorbell"): 1])
        // Certain: another cause is another finding.
        #expect(other.match(report).known[wait] == false)
        // Uncertain: the same stall whatever cause this run read.
        report.result.findings[wait].uncertainty = ["the clocks are poorly aligned near its start"]
        #expect(other.match(report).known[wait] == true)
        // Exact keys are taken first, and a key is known as often as the baseline holds it.
        let exact = Baseline(path: "b.json", counts: [try Self.key(cause: "driver-reorder"): 1])
        #expect(exact.match(report).known[wait] == true)
        #expect(Baseline(path: "b.json", counts: [:]).match(report).known[wait] == false)
    }
}

@Suite struct TextAndJUnitReportTests {
    @Test func textReportNamesEvidenceLocationsAndOutcome() {
        let text = TextReport.render(hangReport())
        #expect(text.contains("[error] mutual-wait nvme0:sq1"))
        #expect(text.contains("dir/trace \"one\".txt:8"))
        #expect(text.contains("cause: driver-reorder"))
        #expect(text.contains("Result: 1 error finding(s) (exit 1)"))
        #expect(text.split(separator: "\n").allSatisfy { $0.count <= 140 })
    }

    /// With no controller event in the inputs, the queue lines leave out the controller's
    /// counts and say they are unknown (a guest trace alone showed "fetched 0" on busy queues).
    @Test func queueLinesShowControllerCountsOnlyWhenTheControllerIsTraced() {
        let traced = TextReport.render(hangReport())
        #expect(traced.contains("nvme0:sq1: entries 16, shadow reads 2, EventIdx writes 1"))
        #expect(traced.contains("fetched 1"))
        #expect(!traced.contains("no controller event in the inputs"))

        let analyzer = ClockGroupAnalyzer(options: AnalysisOptions(), sources: [0], clock: .timestamps)
        for cid in UInt32(0)..<20 {
            analyzer.consume(Event(kind: .driverSubmit, time: Int64(cid) * 1000, qid: 1, a: cid))
            analyzer.consume(Event(kind: .driverComplete, time: Int64(cid) * 1000 + 500, qid: 1, a: cid))
        }
        let group = analyzer.finish()
        var input = InputSummary(index: 0, path: "guest.txt", format: .ftraceText)
        input.events = group.events
        let guestReport = AnalysisReport(result: AnalysisSession.combine(inputs: [input], groups: [group], notes: [], options: AnalysisOptions()))
        let guestOnly = TextReport.render(guestReport)
        let html = HTMLReport.render(guestReport, timelines: [])
        #expect(html.contains("<tr><td>nvme0:sq1</td><td class=\"num\">?</td><td class=\"num\">—</td><td class=\"num\">—</td><td class=\"num\">—</td><td class=\"num\">—</td><td class=\"num\">20</td><td class=\"num\">—</td>"))
        #expect(html.contains("No controller event in the inputs"))
        #expect(!HTMLReport.render(hangReport(), timelines: []).contains("No controller event in the inputs"))
        // MMIO doorbells and the race exposure need the controller's side too (a guest trace
        // alone said "MMIO 0, race exposure 0", and JSON the same, with nothing to tell them).
        #expect(guestOnly.contains("nvme0:sq1: entries ?, MMIO ?, submitted 20, race exposure ?"))
        let json = JSONReport.render(guestReport, pretty: false)
        #expect(json.contains("\"counts_unknown\":[\"controller_shadow_reads\",\"controller_eventidx_writes\",\"commands_fetched\",\"completions_queued\",\"mmio_doorbells\",\"race_exposure\"]"), "\(json)")
        #expect(JSONReport.render(hangReport(), pretty: false).contains("\"counts_unknown\":[]"))
        #expect(!guestOnly.contains("fetched 0"))
        #expect(!guestOnly.contains("shadow reads 0"))
        #expect(guestOnly.contains("no controller event in the inputs: the controller's counts"))
    }

    @Test func junitIsWellFormedWithOneFailurePerErrorFinding() throws {
        let xml = JUnitReport.render(hangReport())
        let doc = try XMLDocument(xmlString: xml)
        let suites = try doc.nodes(forXPath: "/testsuites/testsuite")
        #expect(suites.count == 1)
        let failures = try doc.nodes(forXPath: "//testcase/failure")
        #expect(failures.count == 1)
        #expect((failures.first as? XMLElement)?.attribute(forName: "type")?.stringValue == "mutual-wait")
        let root = doc.rootElement()
        #expect(root?.attribute(forName: "failures")?.stringValue == "1")
        #expect(try doc.nodes(forXPath: "//testcase").count == 1)
    }
}
