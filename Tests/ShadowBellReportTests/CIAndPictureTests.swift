import Foundation
#if canImport(FoundationXML)
    import FoundationXML
#endif
import ShadowBellAnalysis
import ShadowBellCore
import ShadowBellTestSupport
import Testing
@testable import ShadowBellReport

let reportTestsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

/// Events of one SQ: a burst, a publication without MMIO that the controller misses, and an
/// MMIO doorbell at 5 ms that ends the wait. Line numbers are 1, 2, ….
private func resolvedHangEvents() -> [Event] {
    let us: (Int64) -> Int64 = { $0 * 1_000 }
    var events: [Event] = [
        Event(kind: .queueCreate, time: us(0), qid: 1, queueType: .sq, a: 15, b: 1),
        Event(kind: .dbbufConfig, time: us(1)),
        .driverDoorbellUpdate(.sq, qid: 1, old: 0, new: 1, eventIdx: 0, mmio: true, time: us(10)),
        .queueValue(.controllerShadowRead, .sq, qid: 1, value: 1, time: us(20)),
        Event(kind: .controllerFetch, time: us(21), qid: 1, a: 7),
        .driverDoorbellUpdate(.sq, qid: 1, old: 1, new: 2, eventIdx: 0, mmio: false, time: us(30)),
        .queueValue(.controllerEventIdxWrite, .sq, qid: 1, value: 1, time: us(40)),
        .queueValue(.controllerShadowRead, .sq, qid: 1, value: 1, time: us(41)),
        .queueValue(.mmioDoorbell, .sq, qid: 1, value: 2, time: us(5_000)),
        .queueValue(.controllerShadowRead, .sq, qid: 1, value: 2, time: us(5_010)),
    ]
    for i in events.indices { events[i].location = UInt64(i + 1) }
    return events
}

/// Runs the events through the analyzer; with `observer`, as the second pass would.
private func analyse(
    _ events: [Event], observer: ((Event, QueueSnapshot) -> Void)? = nil, domainStarts: ((DomainStart) -> Void)? = nil
) -> AnalysisReport {
    let analyzer = ClockGroupAnalyzer(options: AnalysisOptions(), sources: [0], clock: .timestamps)
    analyzer.observer = observer
    var input = InputSummary(index: 0, path: "lab/resolved.txt", format: .ftraceText)
    analyzer.firstEventObserver = { domainStarts?(DomainStart(index: 0, count: 1, inputs: [input], firstTime: $0)) }
    for e in events { analyzer.consume(e) }
    let group = analyzer.finish()
    input.events = group.events
    return AnalysisReport(result: AnalysisSession.combine(inputs: [input], groups: [group], notes: [], options: AnalysisOptions()))
}

private func timelines(_ events: [Event]) -> (AnalysisReport, [FindingTimeline]) {
    let report = analyse(events)
    let recorder = WindowRecorder(result: report.result)
    _ = analyse(events, observer: recorder.observe)
    return (report, recorder.finish())
}

/// Attributes of every element named `name` (a regex scan: the SVG is ours and regular).
func elements(_ name: String, in text: String) -> [[String: String]] {
    let tag = try! NSRegularExpression(pattern: "<\(name)\\s([^>]*)>")
    let attr = try! NSRegularExpression(pattern: "([a-zA-Z0-9-]+)=\"([^\"]*)\"")
    return tag.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { m in
        let body = String(text[Range(m.range(at: 1), in: text)!])
        var out: [String: String] = [:]
        for a in attr.matches(in: body, range: NSRange(body.startIndex..., in: body)) {
            out[String(body[Range(a.range(at: 1), in: body)!])] = String(body[Range(a.range(at: 2), in: body)!])
        }
        return out
    }
}

@Suite struct FailPolicyAndAnnotationTests {
    private func reportWithWarningOnly() -> AnalysisReport {
        var report = analyse(Array(resolvedHangEvents().prefix(5)))
        var warning = Finding(kind: .eventIdxRegression, queue: QueueKey(controller: 0, qid: 1, type: .sq), start: 40_000,
                              message: "EventIdx went back, to 0", explanation: "line one\nline two, with: 100% certainty")
        warning.evidence = [Evidence(role: "eventidx-write", location: SourceLocation(source: 0, unit: .line, value: 7), time: 40_000, summary: "x")]
        report.result.findings = [warning]
        return report
    }

    @Test func failOnDecidesWhichSeverityFails() {
        var report = reportWithWarningOnly()
        #expect(report.exitStatus == 0)
        report.failOn = .warning
        #expect(report.exitStatus == 1)
        report.failOn = .never
        #expect(report.exitStatus == 0)
        report.inputErrors = [.empty(path: "x")]
        #expect(report.exitStatus == 2)
    }

    @Test func annotationsFollowTheGitHubWorkflowCommandFormat() throws {
        let warning = GitHubAnnotations.render(reportWithWarningOnly())
        #expect(warning == "::warning file=lab/resolved.txt,line=7,title=eventidx-regression nvme0%3Asq1::"
            + "EventIdx went back, to 0%0Aline one%0Aline two, with: 100%25 certainty\n")
        // A compressed file's line numbers are no place GitHub can show: the file alone.
        let compressed = GitHubAnnotations.render(reportWithWarningOnly(), compressed: { _ in true })
        #expect(compressed.hasPrefix("::warning file=lab/resolved.txt,title=eventidx-regression nvme0%3Asq1::"))
        // A run that passes without a verdict of health says so (it had no annotation at all).
        var undecided = reportWithWarningOnly()
        undecided.result.undecided = ["console.log: a console alone, no queue's events"]
        let said = GitHubAnnotations.render(undecided).split(separator: "\n").last.map(String.init) ?? ""
        #expect(said.hasPrefix("::warning ") && said.contains("title=shadowbell%3A no verdict of health::console.log: a console alone"), "\(said)")
        #expect(!GitHubAnnotations.render(reportWithWarningOnly()).contains("no verdict of health"))
        let (report, _) = timelines(resolvedHangEvents())
        let lines = GitHubAnnotations.render(report).split(separator: "\n")
        #expect(!lines.isEmpty)
        let pattern = try NSRegularExpression(pattern: "^::error file=[^,:]+,line=[0-9]+,title=[^:,]+::[^\\n]+$")
        for line in lines {
            let s = String(line)
            #expect(pattern.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil, "\(s)")
        }
    }
}

@Suite struct JUnitSchemaTests {
    /// Validates with xmllint against the JUnit XSD; fails when xmllint is missing
    /// (.ci/run installs libxml2-utils).
    static func validate(_ xml: String) throws -> (ok: Bool, output: String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("junit-\(UUID().uuidString).xml")
        try xml.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["xmllint", "--noout", "--schema", reportTestsDirectory.appendingPathComponent("Fixtures/junit.xsd").path, file.path]
        let pipe = Pipe()
        p.standardError = pipe
        p.standardOutput = pipe
        try p.run()
        let out = String(decoding: readAllRetrying(pipe.fileHandleForReading), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus == 0, out)
    }

    @Test func singleAndMultiRunOutputValidate() throws {
        let (hang, _) = timelines(resolvedHangEvents())
        var broken = analyse([])
        broken.inputErrors = [.unknownFormat(path: "run2/notes & <stuff>.txt", detail: "text")]
        let single = try Self.validate(JUnitReport.render(hang))
        #expect(single.ok, "\(single.output)")
        let runs = [RunReport(name: "run1", paths: ["run1/a.txt"], report: hang),
                    RunReport(name: "run2", paths: ["run2/notes & <stuff>.txt"], report: broken)]
        let xml = JUnitReport.render(runs: runs)
        let multi = try Self.validate(xml)
        #expect(multi.ok, "\(multi.output)")
        let doc = try XMLDocument(xmlString: xml)
        #expect(try doc.nodes(forXPath: "/testsuites/testsuite").count == 2)
        #expect(try doc.nodes(forXPath: "/testsuites/testsuite[@name='run2']/testcase/error").count == 1)
        // Each run's cases under a classname of their own.
        #expect(try doc.nodes(forXPath: "/testsuites/testsuite[@name='run1']/testcase[@classname='shadowbell.run1.nvme0']").count > 0)
        #expect(try doc.nodes(forXPath: "/testsuites/testsuite[@name='run2']/testcase[@classname='shadowbell.run2.inputs']").count == 1)
        // An input error's case is named inside its run, whatever folders the run lies in (the
        // path as given made a new case per CI workspace); the message keeps the whole path.
        #expect(try doc.nodes(forXPath: "/testsuites/testsuite[@name='run2']/testcase[@name='notes & <stuff>.txt']").count == 1)
        #expect(JUnitReport.inputCaseName("/ws/17/runs/vm-a", run: "/ws/17/runs/vm-a") == "run folder")
        #expect(JUnitReport.inputCaseName("/ws/17/runs/vm-a/sub/q.log", run: "/ws/17/runs/vm-a") == "sub/q.log")
        #expect(JUnitReport.inputCaseName("/elsewhere/q.log", run: "/ws/17/runs/vm-a") == "q.log")
        #expect(JUnitReport.className("vm-1.2/a") == "vm-1_2/a")
        // Classnames do not carry the folders every run lies in (a runner's workspace path).
        #expect(JUnitReport.classNames(["/ci/ws-17/runs/vm-a", "/ci/ws-17/runs/vm-b"]) == ["vm-a", "vm-b"])
        #expect(JUnitReport.classNames(["./caps/mq2"]) == ["mq2"] && JUnitReport.classNames(["/tmp/w/caps/mq2"]) == ["mq2"])
        #expect(JUnitReport.classNames(["a/x", "b/x", "a/y/z"]) == ["a/x", "b/x", "a/y/z"])
        #expect(JUnitReport.classNames(["runs/a", "runs/a/b"]) == ["a", "a/b"])
        // One folder by any spelling: resolved before the common folders are left out.
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("classnames-\(UUID().uuidString)").path
        for run in ["mq2", "single"] { try FileManager.default.createDirectory(atPath: "\(root)/caps/\(run)", withIntermediateDirectories: true) }
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(JUnitReport.classNames(["\(root)/caps/mq2", "\(root)/caps/../caps/./single/"]) == ["mq2", "single"])
    }

    @Test func theSchemaRejectsWhatReportersRefuse() throws {
        let bad = JUnitReport.render(analyse(resolvedHangEvents())).replacingOccurrences(of: "<testcase ", with: "<testcase color=\"red\" ")
        #expect(try !Self.validate(bad).ok)
    }

    @Test func failOnWarningMakesWarningsFailures() throws {
        var report = analyse(Array(resolvedHangEvents().prefix(5)))
        report.result.findings = [Finding(kind: .eventIdxRegression, queue: QueueKey(controller: 0, qid: 1, type: .sq), start: 1, message: "m", explanation: "e")]
        #expect(!JUnitReport.render(report).contains("<failure"))
        report.failOn = .warning
        #expect(JUnitReport.render(report).contains("<failure type=\"eventidx-regression\""))
    }
}

@Suite struct JSONLinesTests {
    @Test func oneCompactObjectPerRunWithTheSingleRunSchema() throws {
        let (hang, _) = timelines(resolvedHangEvents())
        let runs = [RunReport(name: "a", paths: ["a/t.txt"], report: hang), RunReport(name: "b", paths: ["b/t.txt"], report: hang)]
        let text = BatchReport.jsonLines(runs)
        #expect(schemaProblems(ofJSON: text).isEmpty)
        #expect(schemaProblems(ofJSON: BatchReport.json(runs)).isEmpty)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3 && lines[2].isEmpty)
        let single = try JSONSerialization.jsonObject(with: Data(JSONReport.render(hang).utf8)) as! [String: Any]
        for (i, line) in lines.prefix(2).enumerated() {
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(Set(single.keys).isSubset(of: Set(obj.keys)))
            #expect((obj["run"] as? [String: Any])?["index"] as? Int == i)
            #expect((obj["findings"] as? [Any])?.count == (single["findings"] as? [Any])?.count)
        }
    }
}

@Suite struct TimelinePictureTests {
    @Test func windowRectangleSpansTheEventsThatOpenedAndClosedIt() throws {
        let (report, recorded) = timelines(resolvedHangEvents())
        let wait = try #require(report.result.findings.firstIndex { $0.kind == .mutualWait })
        let f = report.result.findings[wait]
        #expect(f.start == 41_000 && f.end == 5_000_000)
        let html = HTMLReport.render(report, timelines: recorded)
        let article = try #require(html.components(separatedBy: "<article").first { $0.contains("id=\"finding-\(wait + 1)\"") })
        let rect = try #require(elements("rect", in: article).first { $0["class"] == "window" })
        let x = try #require(Double(rect["x"] ?? "")), width = try #require(Double(rect["width"] ?? ""))
        #expect(rect["data-start-ns"] == "41000" && rect["data-end-ns"] == "5000000")
        let events = elements("g", in: article).filter { $0["class"] == "event" }
        let opening = try #require(events.first { $0["data-time-ns"] == "41000" })
        let closing = try #require(events.first { $0["data-time-ns"] == "5000000" })
        #expect(abs(x - Double(opening["data-x"]!)!) < 0.01)
        #expect(abs(x + width - Double(closing["data-x"]!)!) < 0.02)
        // The axis has a tick at both edges, and the labels give the finding's times.
        let ticks = elements("line", in: article).compactMap { $0["x1"].flatMap(Double.init) }
        #expect(ticks.contains { abs($0 - x) < 0.01 } && ticks.contains { abs($0 - (x + width)) < 0.02 })
        #expect(article.contains(">0.000041000<") && article.contains(">0.005000000<"))
        // Events are placed in order, left to right.
        let xs = events.compactMap { $0["data-x"].flatMap(Double.init) }
        #expect(xs == xs.sorted() && xs.count == resolvedHangEvents().count)
    }

    @Test func htmlIsSelfContained() throws {
        let (report, recorded) = timelines(resolvedHangEvents())
        let html = HTMLReport.render(report, timelines: recorded, inputLines: [SourceLocation(source: 0, unit: .line, value: 8): "<script src=\"http://x\">"])
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(!html.lowercased().contains("<script"))
        #expect(!html.contains("<link") && !html.contains("@import") && !html.contains("url("))
        let external = try NSRegularExpression(pattern: "(src|href)\\s*=\\s*\"(https?:)?//", options: .caseInsensitive)
        #expect(external.firstMatch(in: html, range: NSRange(html.startIndex..., in: html)) == nil)
        #expect(html.contains("&lt;script src=&quot;http://x&quot;&gt;"))
        #expect(html.contains("<svg") && html.contains("<style>"))
        // The SVG parses as XML.
        let svg = try #require(html.components(separatedBy: "<figure>\n").dropFirst().first?.components(separatedBy: "<figcaption>").first)
        _ = try XMLDocument(xmlString: svg)
    }

    @Test func recorderMemoryIsBounded() {
        var events = resolvedHangEvents().prefix(8).map { $0 }
        events[0].a = 16_383
        // 10 000 publications inside the window, none seen by the controller.
        for i in 0..<10_000 {
            events.append(.driverDoorbellUpdate(.sq, qid: 1, old: UInt32(2 + i), new: UInt32(3 + i), eventIdx: 1, mmio: false,
                                                time: 100_000 + Int64(i) * 1_000, location: UInt64(100 + i)))
        }
        let (_, recorded) = timelines(events)
        let t = recorded.first { $0.finding.kind == .mutualWait }
        #expect(t != nil)
        #expect((t?.samples.count ?? 0) <= 16 + 120 + 40 + 6)
        #expect((t?.omitted ?? 0) > 9_000)
    }

    @Test func axisLogSpacingKeepsOrderAndFitsTheWidth() {
        let axis = EventAxis(times: [0, 1, 1, 1_000, 30_000_000_000], left: 100, right: 1000)
        #expect(axis.xs.first == 100 && abs((axis.xs.last ?? 0) - 1000) < 1e-9)
        #expect(zip(axis.xs, axis.xs.dropFirst()).allSatisfy { $0 < $1 })
        #expect(axis.x(atOrAfter: 1) == axis.xs[1])
        let ten: Double = ShadowBellReport.log2(1024), three: Double = ShadowBellReport.log2(3)
        #expect(abs(ten - 10) < 1e-9)
        #expect(abs(three - 1.584962500721156) < 1e-9)
    }
}

/// A queue under load: `shortWaits` waits that an MMIO doorbell ends after 50 µs (below
/// --min-wait), then one that lasts 5 ms (a finding), with guest messages. Labels crowd.
private func shortWaitsThenHangEvents(shortWaits: Int = 40, hangs: Int = 1) -> [Event] {
    let us: (Int64) -> Int64 = { $0 * 1_000 }
    var events: [Event] = [
        Event(kind: .queueCreate, time: us(0), qid: 1, queueType: .sq, a: 1023, b: 1),
        Event(kind: .dbbufConfig, time: us(1)),
        .driverDoorbellUpdate(.sq, qid: 1, old: 0, new: 1, eventIdx: 0, mmio: true, time: us(10)),
        .queueValue(.controllerShadowRead, .sq, qid: 1, value: 1, time: us(20)),
        Event(kind: .controllerFetch, time: us(21), qid: 1, a: 100),
    ]
    var v: UInt32 = 1
    var t: Int64 = 100
    func wait(_ length: Int64) {
        events.append(.driverDoorbellUpdate(.sq, qid: 1, old: v, new: v + 1, eventIdx: v - 1, mmio: false, time: us(t)))
        events.append(.queueValue(.controllerEventIdxWrite, .sq, qid: 1, value: v, time: us(t + 2)))
        events.append(.queueValue(.controllerShadowRead, .sq, qid: 1, value: v, time: us(t + 3)))
        events.append(.queueValue(.mmioDoorbell, .sq, qid: 1, value: v + 1, time: us(t + 3 + length)))
        events.append(.queueValue(.controllerShadowRead, .sq, qid: 1, value: v + 1, time: us(t + 4 + length)))
        events.append(Event(kind: .controllerFetch, time: us(t + 5 + length), qid: 1, a: 100 + v))
        v += 1
        t += length + 20
    }
    for _ in 0..<shortWaits { wait(50) }
    events.append(Event(kind: .guestMessage, time: us(t + 500), qid: 1, a: GuestMessageKind.timeoutAborting.rawValue, b: 12))
    wait(5_000)
    for _ in 1..<max(1, hangs) {
        for _ in 0..<shortWaits { wait(50) }
        wait(5_000)
    }
    events.append(Event(kind: .driverSubmit, time: us(t), qid: 1, a: 7))
    events.append(Event(kind: .controllerFetch, time: us(t + 5), qid: 1, a: 7))
    events.append(Event(kind: .driverComplete, time: us(t + 9), qid: 1, a: 7))
    for i in events.indices { events[i].location = UInt64(i + 1) }
    return events
}

/// Every `<text>` of an SVG with the box `LabelPlacer` gives it.
private func textBoxes(_ svg: String) -> [(text: String, box: LabelPlacer.Box)] {
    let pattern = try! NSRegularExpression(pattern: "<text\\s([^>]*)>([^<]*)</text>")
    return pattern.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)).map { m in
        let attrs = elements("text", in: "<text " + svg[Range(m.range(at: 1), in: svg)!] + ">")[0]
        let text = String(svg[Range(m.range(at: 2), in: svg)!])
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
        let anchor = LabelPlacer.Anchor(rawValue: attrs["text-anchor"] ?? "start") ?? .start
        let box = LabelPlacer.box(
            x: Double(attrs["x"] ?? "0") ?? 0, y: Double(attrs["y"] ?? "0") ?? 0, text: text, anchor: anchor,
            size: Double(attrs["font-size"] ?? "11") ?? 11, bold: attrs["font-weight"] == "bold")
        return (text, box)
    }
}

/// The inline charts of an HTML report.
private func charts(in html: String) -> [String] {
    html.components(separatedBy: "<svg ").dropFirst().map { "<svg " + ($0.components(separatedBy: "</svg>").first ?? "") }
}

@Suite struct PictureLayoutTests {
    @Test func theScenarioHasOneHangAndManyShortWaits() {
        let report = analyse(shortWaitsThenHangEvents())
        #expect(report.result.findings.filter { $0.kind == .mutualWait }.count == 1)
        #expect(report.result.queues.first { $0.key.qid == 1 && $0.key.type == .sq }?.stats.subThresholdWindows == 40)
    }

    @Test func noTwoTextsOverlap() throws {
        for events in [resolvedHangEvents(), shortWaitsThenHangEvents(), shortWaitsThenHangEvents(shortWaits: 150)] {
            let (report, recorded) = timelines(events)
            let svgs = charts(in: HTMLReport.render(report, timelines: recorded))
            #expect(!svgs.isEmpty)
            for svg in svgs {
                let boxes = textBoxes(svg)
                #expect(boxes.count > 10)
                for i in boxes.indices {
                    for j in boxes.indices where j > i {
                        #expect(!boxes[i].box.overlaps(boxes[j].box), "'\(boxes[i].text)' overlaps '\(boxes[j].text)'")
                    }
                }
            }
        }
    }

    /// Dense MMIO doorbells: no text covers an arrow (labels of one doorbell were drawn over
    /// the next ones' arrows).
    @Test func noTextCoversAnMMIOArrow() throws {
        for events in [shortWaitsThenHangEvents(), shortWaitsThenHangEvents(shortWaits: 150)] {
            let (report, recorded) = timelines(events)
            for svg in charts(in: HTMLReport.render(report, timelines: recorded)) {
                let arrows = elements("line", in: svg).filter { $0["stroke"] == "#a01010" && $0["stroke-width"] == "2.5" }
                    .compactMap { $0["x1"].flatMap(Double.init) }
                #expect(!arrows.isEmpty)
                // (An evidence badge's number sits on its mark on purpose: not a label.)
                let texts = textBoxes(svg).filter { !$0.text.allSatisfy(\.isNumber) }
                #expect(texts.contains { $0.text.hasPrefix("MMIO ") })
                for x in arrows {
                    for b in [TimelineChart.arrowShaft(at: x), TimelineChart.arrowHead(at: x)] {
                        for t in texts { #expect(!t.box.overlaps(b), "'\(t.text)' covers the arrow at x=\(x)") }
                    }
                }
            }
        }
    }

    @Test func shortWaitsAreDrawnApartFromTheFindingAndExplainedInTheLegend() throws {
        let (report, recorded) = timelines(shortWaitsThenHangEvents())
        let wait = try #require(report.result.findings.firstIndex { $0.kind == .mutualWait })
        let html = HTMLReport.render(report, timelines: recorded)
        let article = try #require(html.components(separatedBy: "<article").first { $0.contains("id=\"finding-\(wait + 1)\"") })
        let windows = elements("rect", in: article).filter { $0["class"] == "window" }
        #expect(windows.count == 1 && windows[0]["data-finding"] == String(wait + 1) && windows[0]["stroke"] == "#d62728")
        let short = elements("rect", in: article).filter { $0["class"] == "short-wait" }
        #expect(!short.isEmpty)
        // Grey, unlabelled, without the finding's red border.
        #expect(short.allSatisfy { $0["stroke"] == nil && $0["fill"] != windows[0]["fill"] })
        #expect(short.allSatisfy { Int64($0["data-end-ns"] ?? "") ?? .max < report.result.findings[wait].start })
        let legend = textBoxes(article).map(\.text)
        #expect(legend.contains { $0.hasPrefix("short wait: both sides waited less than --min-wait") })
        #expect(legend.contains { $0.hasPrefix("finding window") })
        #expect(!article.contains(">mutual wait<"))
        // Only the finding's window carries a label.
        let labels = elements("text", in: article).filter { $0["class"] == "window-label" }
        #expect(labels.count == 1)
    }

    /// The legend keys the marks a chart draws and none it does not: a host-side trace has no
    /// driver's shadow writes (no P line, no P=n triangles), and every series named is drawn.
    @Test(arguments: [false, true])
    func theLegendKeysWhatIsDrawn(withoutDriverWrites: Bool) throws {
        var events = shortWaitsThenHangEvents()
        if withoutDriverWrites { events.removeAll { $0.kind == .driverDoorbellUpdate } }
        let (report, recorded) = timelines(events)
        let svgs = charts(in: HTMLReport.render(report, timelines: recorded))
        try #require(!svgs.isEmpty)
        for svg in svgs {
            let drawn = Set(elements("path", in: svg).compactMap { $0["data-series"] })
            let legend = textBoxes(svg).map(\.text)
            let keyedSeries = Set(TimelineChart.series.map(\.name).filter { legend.contains($0) })
            #expect(keyedSeries == drawn, "\(keyedSeries) vs \(drawn)")
            #expect(drawn.contains("P driver-published") == !withoutDriverWrites)
            #expect(legend.contains("driver wrote the shadow doorbell (P=n)") == !withoutDriverWrites)
            #expect(legend.contains("MMIO doorbell") == svg.contains("class=\"mmio\""))
            #expect(legend.contains { $0.hasPrefix("short wait") } == svg.contains("class=\"short-wait\""))
        }
    }

    @Test func aGuestMessageIsLabelledWithWhatTheDriverDid() {
        #expect(TimelineChart.guestMessageLabel(.timeoutAborting) == "timeout: abort")
        #expect(TimelineChart.guestMessageLabel(.timeoutReset) == "timeout: reset")
    }

    @Test func theOverviewShowsEveryHangOfAQueueInOneChart() throws {
        let events = shortWaitsThenHangEvents(shortWaits: 8, hangs: 2)
        let (report, recorded) = timelines(events)
        let hangs = report.result.findings.enumerated().filter { $0.element.kind == .mutualWait }
        #expect(hangs.count == 2)
        let html = HTMLReport.render(report, timelines: recorded)
        let overview = try #require(html.components(separatedBy: "<section id=\"overview\">").dropFirst().first?.components(separatedBy: "</section>").first)
        #expect(html.range(of: "id=\"overview\"")!.lowerBound < html.range(of: "id=\"summary\"")!.lowerBound)
        let windows = elements("rect", in: overview).filter { $0["class"] == "window" }
        #expect(windows.compactMap { $0["data-finding"] }.sorted() == hangs.map { String($0.offset + 1) }.sorted())
        #expect(windows.map { $0["data-start-ns"] } == hangs.map { String($0.element.start) })
        #expect(overview.contains("events left out"))
    }

    @Test func aLargeDocumentIsHandedOnInPiecesAsItIsDrawn() {
        // 1,500 waits of 6 events: about 9,000 marks, a few megabytes of SVG in one chart.
        let events = shortWaitsThenHangEvents(shortWaits: 1_500)
        var samples: [StateSample] = []
        _ = analyse(events, observer: { e, q in if q.key.qid == 1 && q.key.type == .sq { samples.append(StateSample(e, q)) } })
        let queue = TimelineSVGDocument.QueueSamples(queue: QueueKey(controller: 0, qid: 1, type: .sq), samples: samples, dropped: 0)
        var pieces: [Int] = []
        var written = ""
        TimelineSVGDocument.write([queue]) { pieces.append($0.utf8.count); written += $0 }
        #expect(written == TimelineSVGDocument.render([queue]))
        #expect(written.utf8.count > 3 << 20)
        #expect(pieces.count > 3)
        // No piece holds much more than a megabyte of marks, whatever the chart's size.
        #expect(pieces.max()! < (1 << 20) + 8_192)
    }

    @Test func theHealthyPartOfAQueueHasNoFindingWindow() {
        var events = shortWaitsThenHangEvents()
        events.removeLast(8)
        let (report, _) = timelines(events)
        #expect(report.result.findings.allSatisfy { $0.kind != .mutualWait })
        var samples: [StateSample] = []
        let recorder = { (e: Event, q: QueueSnapshot) in if q.key.qid == 1 && q.key.type == .sq { samples.append(StateSample(e, q)) } }
        _ = analyse(events, observer: recorder)
        let svg = TimelineSVGDocument.render([.init(queue: QueueKey(controller: 0, qid: 1, type: .sq), samples: samples, dropped: 0)])
        #expect(elements("rect", in: svg).filter { $0["class"] == "window" }.isEmpty)
        #expect(elements("rect", in: svg).filter { $0["class"] == "short-wait" }.count == 40)
    }
}

@Suite struct PerfettoTraceTests {
    private func document(_ events: [Event]) throws -> (report: AnalysisReport, doc: [String: Any], trace: [[String: Any]]) {
        var out = ""
        let writer = PerfettoTraceWriter { out += $0 }
        let report = analyse(events, observer: writer.observe, domainStarts: writer.start)
        writer.finish(result: report.result)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        return (report, doc, try #require(doc["traceEvents"] as? [[String: Any]]))
    }

    @Test func documentParsesWithTracksCountersAndFindingSlices() throws {
        let (report, _, trace) = try document(resolvedHangEvents())
        let threads = trace.filter { $0["name"] as? String == "thread_name" }.compactMap { ($0["args"] as? [String: Any])?["name"] as? String }
        #expect(Set(threads).isSuperset(of: ["sq1 driver", "sq1 controller", "sq1 findings"]))
        let counters = Set(trace.filter { $0["ph"] as? String == "C" }.compactMap { $0["name"] as? String })
        #expect(counters.isSuperset(of: ["sq1 P (driver-published)", "sq1 S (controller-seen)", "sq1 EventIdx (controller)"]))
        let slices = trace.filter { $0["ph"] as? String == "X" }
        #expect(slices.count == report.result.findings.count)
        let wait = try #require(slices.first { ($0["name"] as? String)?.hasSuffix("mutual-wait") == true })
        // The first event (at 0) is the origin.
        #expect((wait["ts"] as? Double).map { abs($0 - 41.0) < 1e-9 } == true)
        #expect((wait["dur"] as? Double).map { abs($0 - 4959.0) < 1e-9 } == true)
        let mmio = try #require(trace.first { ($0["name"] as? String) == "MMIO doorbell" && $0["ph"] as? String == "i" })
        #expect((mmio["args"] as? [String: Any])?["value"] as? Int == 2)
        #expect(PerfettoTraceWriter.microseconds(-1) == .decimal("-0.001"))
    }

    /// Commands on more queues than get a table of their own (`commandTableLimit`) open and
    /// close as on the others.
    @Test func commandsOnManyQueuesOpenAndClose() throws {
        let queues = PerfettoTraceWriter.commandTableLimit + 4
        var events: [Event] = []
        for k in 0..<50 {
            for qid in 1...queues {
                let t = Int64(k * 1_000 + qid * 10)
                events.append(Event(kind: .driverSubmit, time: t, qid: UInt16(qid), a: UInt32(k * 7 + qid)))
                events.append(Event(kind: .driverComplete, time: t + 5, qid: UInt16(qid), a: UInt32(k * 7 + qid), b: 0))
            }
        }
        let (_, _, trace) = try document(events)
        let slices = trace.filter { $0["cat"] as? String == "command" }
        let begun = slices.filter { $0["ph"] as? String == "b" }.compactMap { $0["id"] as? String }
        let ended = slices.filter { $0["ph"] as? String == "e" }
        #expect(begun.count == 50 * queues && Set(begun).count == begun.count)
        #expect(Set(ended.compactMap { $0["id"] as? String }) == Set(begun))
        #expect(ended.allSatisfy { ($0["args"] as? [String: Any])?["ended"] as? String == "completed" })
        let names = Set(slices.compactMap { $0["name"] as? String })
        #expect(names == Set((1...queues).map { "sq\($0) command" }))
    }

    @Test func namesAreStableAndValuesAreArgs() throws {
        let (_, _, trace) = try document(shortWaitsThenHangEvents())
        let instants = trace.filter { $0["ph"] as? String == "i" }
        let names = Set(instants.compactMap { $0["name"] as? String })
        #expect(names.isSubset(of: ["doorbell update", "shadow read", "EventIdx write", "MMIO doorbell", "submit", "fetch", "complete",
                                    "queue created", "Doorbell Buffer Config", "timeout-aborting"]))
        #expect(names.count >= 8)
        for e in instants {
            let args = try #require(e["args"] as? [String: Any])
            #expect(args["location"] is String && args["queue"] is String)
        }
        let reads = instants.filter { $0["name"] as? String == "shadow read" }.compactMap { ($0["args"] as? [String: Any])?["value"] as? Int }
        #expect(reads.count > 80 && reads.contains(41))
        let update = try #require(instants.first { $0["name"] as? String == "doorbell update" }?["args"] as? [String: Any])
        #expect(update["old"] is Int && update["new"] is Int && update["eventidx_read"] is Int && update["mmio"] is Bool)
    }

    @Test func commandsAreSlicesGuestMessagesInstantsOneFindingsTrackPerQueue() throws {
        var events = shortWaitsThenHangEvents()
        // Shift everything before the clock's zero: timestamps stay non-negative.
        for i in events.indices { events[i].time -= 7_000_000_000 }
        let (report, doc, trace) = try document(events)
        // Every command slice ends; the submitted one at its completion, 9 µs later. Commands
        // only fetched (no submission in the trace) run to the end of the trace.
        let begins = trace.filter { $0["ph"] as? String == "b" }, ends = trace.filter { $0["ph"] as? String == "e" }
        #expect(begins.count == 43 && Set(begins.compactMap { $0["id"] as? String }) == Set(ends.compactMap { $0["id"] as? String }))
        #expect(begins.allSatisfy { $0["name"] as? String == "sq1 command" && $0["cat"] as? String == "command" })
        let submitted = try #require(begins.first { ($0["args"] as? [String: Any])?["cid"] as? Int == 7 })
        let completed = try #require(ends.first { $0["id"] as? String == submitted["id"] as? String })
        #expect((completed["args"] as? [String: Any])?["ended"] as? String == "completed")
        let b = try #require(submitted["ts"] as? Double), e = try #require(completed["ts"] as? Double)
        #expect(abs(e - b - 9) < 1e-9)
        // The guest's message is on the guest track.
        let guestTid = trace.first { $0["name"] as? String == "thread_name" && ($0["args"] as? [String: Any])?["name"] as? String == "guest kernel" }?["tid"] as? Int
        let message = try #require(trace.first { $0["cat"] as? String == "guest" })
        #expect(message["tid"] as? Int == guestTid && message["name"] as? String == "timeout-aborting")
        #expect((message["args"] as? [String: Any])?["tag"] as? Int == 12)
        // One findings thread per queue, whatever the findings' overlaps.
        let findingThreads = trace.filter { $0["name"] as? String == "thread_name" }.compactMap { ($0["args"] as? [String: Any])?["name"] as? String }.filter { $0.hasSuffix("findings") }
        #expect(findingThreads.count == Set(report.result.findings.map(\.queue)).count)
        // Never negative; the origin is stated.
        #expect(trace.compactMap { $0["ts"] as? Double }.allSatisfy { $0 >= 0 })
        let origins = try #require((doc["otherData"] as? [String: Any])?["time_origins"] as? [[String: Any]])
        #expect(origins.count == 1 && (origins[0]["origin_ns"] as? Int) == Int(events.map(\.time).min()!))
        let wait = try #require(trace.first { ($0["name"] as? String)?.hasSuffix("mutual-wait") == true })
        let f = try #require(report.result.findings.first { $0.kind == .mutualWait })
        let ts = try #require(wait["ts"] as? Double)
        #expect(abs(ts * 1000 + Double(origins[0]["origin_ns"] as! Int) - Double(f.start)) < 1)
    }
}

@Suite struct ExplainTests {
    @Test func aWaitOutsideTheFindingIsAShortWaitNotAMutualWait() throws {
        let (report, recorded) = timelines(shortWaitsThenHangEvents())
        let wait = try #require(report.result.findings.firstIndex { $0.kind == .mutualWait })
        let f = report.result.findings[wait]
        let t = try #require(recorded.first { $0.findingIndex == wait })
        let text = ExplainReport.render(report, number: wait + 1, timeline: t, inputLines: [:], paths: ["lab/resolved.txt"])
        let states = text.components(separatedBy: "\n").filter { $0.contains("state: ") }
        #expect(states.count == t.samples.count)
        for (sample, line) in zip(t.samples, states) where sample.windowOpen {
            let inside = sample.time >= f.start && sample.time <= f.end!
            #expect(line.hasSuffix(inside ? "; MUTUAL WAIT" : "; short wait (below --min-wait)"), "\(sample.time): \(line)")
        }
        #expect(states.contains { $0.hasSuffix("short wait (below --min-wait)") } && states.contains { $0.hasSuffix("; MUTUAL WAIT") })
    }

    @Test func storyNamesTheStepsAndQuotesTheLines() throws {
        let (report, recorded) = timelines(resolvedHangEvents())
        let wait = try #require(report.result.findings.firstIndex { $0.kind == .mutualWait })
        let t = try #require(recorded.first { $0.findingIndex == wait })
        let lines = [SourceLocation(source: 0, unit: .line, value: 8): "RAW LINE EIGHT"]
        let text = ExplainReport.render(report, number: wait + 1, timeline: t, inputLines: lines, paths: ["lab/resolved.txt"])
        #expect(text.contains("mutual-wait (error) on nvme0:sq1"))
        #expect(text.contains("---- the mutual-wait window opens ----"))
        #expect(text.contains("---- the window closes (mmio-doorbell) ----") || text.contains("the window closes"))
        #expect(text.contains("> RAW LINE EIGHT"))
        #expect(text.contains("did not ring the MMIO doorbell"))
        #expect(text.contains("shadowbell timeline lab/resolved.txt --queue nvme0:sq1"))
    }
}
