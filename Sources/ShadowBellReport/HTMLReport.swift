import ShadowBellAnalysis
import ShadowBellCore

/// `shadowbell report`: one self-contained HTML page (inline CSS and SVG, no script, no font or
/// image from elsewhere) with a summary of the analysis and, for each finding, a timeline of
/// its queue around the window and the evidence.
public enum HTMLReport {
    /// - Parameters:
    ///   - timelines: what `WindowRecorder` kept for the findings to draw.
    ///   - inputLines: the text of evidence lines, by location, to quote them.
    public static func render(
        _ report: AnalysisReport, timelines: [FindingTimeline], inputLines: [SourceLocation: String] = [:],
        title: String? = nil
    ) -> String {
        let r = report.result
        // An input cut short is both read and an input error: named once.
        var named: [String] = []
        for path in r.inputs.map(\.path) + report.inputErrors.map(\.path) where !named.contains(path) { named.append(path) }
        let name = title ?? named.joined(separator: ", ")
        var h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        h += "<title>ShadowBell report: \(esc(name))</title>\n<style>\n\(css)</style>\n</head>\n<body>\n"
        h += "<header><h1>ShadowBell report</h1><p class=\"sub\">\(esc(name))</p>\n"
        h += "<p class=\"outcome \(TextReport.isUndecided(report) ? "unsure" : report.exitStatus == 0 ? "ok" : "bad")\">\(esc(TextReport.outcome(report)))"
        h += " — \(r.findings.count) finding(s): \(count(r, .error)) error, \(count(r, .warning)) warning, \(count(r, .info)) info</p></header>\n"
        h += overview(report, timelines: timelines)
        h += summary(report)
        h += "<section id=\"findings\"><h2>Findings</h2>\n"
        if r.findings.isEmpty { h += "<p>No finding.</p>\n" }
        let byIndex = Dictionary(timelines.map { ($0.findingIndex, $0) }, uniquingKeysWith: { a, _ in a })
        for (i, f) in r.findings.enumerated() {
            h += finding(report, f, number: i + 1, timeline: byIndex[i], inputLines: inputLines)
        }
        h += "</section>\n"
        if !r.notes.isEmpty {
            h += "<section id=\"notes\"><h2>Notes</h2><ul>\n" + r.notes.map { "<li>\(esc($0))</li>\n" }.joined() + "</ul></section>\n"
        }
        h += "<footer>ShadowBell \(AnalysisReport.toolVersion). \(esc(clocksSentence(r)))</footer>\n"
        h += "</body>\n</html>\n"
        return h
    }

    /// Which clock the page's times are on: the one input whose clock the findings share (it
    /// said "the input named in each finding", and no finding names one).
    static func clocksSentence(_ r: AnalysisResult) -> String {
        let clocks = Set(r.findings.map(\.clockInput))
        if clocks.count == 1, let i = clocks.first, let input = r.inputs.first(where: { $0.index == i }) {
            return "Times are seconds on the clock of \(input.path)\(r.inputs.count > 1 ? " (the reference clock: see Alignment)" : "")."
        }
        if clocks.isEmpty { return "Times are seconds on the reference clock (see Alignment)." }
        return "Times are seconds on each finding's clock: the reference clock, or an input's own when it could not be aligned (see Alignment and the JSON report's clock_input)."
    }

    static func orderOnly(_ report: AnalysisReport, _ clockInput: UInt16) -> Bool {
        report.result.inputs.first { $0.index == clockInput }?.clock.measuresTime == false
    }

    /// The hangs first: per queue, one chart around all its hang findings (mutual waits and
    /// stalls), so that every stall is in view before any table.
    static func overview(_ report: AnalysisReport, timelines: [FindingTimeline]) -> String {
        let hangs = timelines.filter { ChartWindow.isHang($0.finding) && !$0.samples.isEmpty }
        guard !hangs.isEmpty else { return "" }
        var h = "<section id=\"overview\"><h2>Hangs at a glance</h2>\n"
        for view in QueueView.merge(hangs) {
            let count = view.windows.filter { $0.kind == .finding }.count
            let ordinals = orderOnly(report, view.clockInput)
            let title = "\(view.queue): \(count) hang(s) — " + view.windows.filter { $0.kind == .finding }.map { w in
                "<a href=\"#finding-\(w.finding ?? 0)\">\(esc(w.relabeled(orderOnly: ordinals).label))</a>"
            }.joined(separator: ", ")
            h += "<figure class=\"overview\">\n<figcaption class=\"head\">\(title)</figcaption>\n"
            h += view.chart(orderOnly: orderOnly(report, view.clockInput)).render(
                id: "overview-\(view.queue.controllerName)-\(view.queue.type.name)\(view.queue.qid)", title: "Hangs on \(view.queue)")
            h += "</figure>\n"
        }
        return h + "</section>\n"
    }

    static func count(_ r: AnalysisResult, _ s: Severity) -> Int { r.findings.filter { $0.severity == s }.count }

    static func summary(_ report: AnalysisReport) -> String {
        let r = report.result
        var h = "<section id=\"summary\"><h2>Summary</h2>\n"
        h += "<h3>Inputs</h3>\n<table class=\"inputs\"><thead><tr><th>#</th><th>file</th><th>format</th><th>clock</th><th>events</th><th>malformed</th><th>data loss</th></tr></thead><tbody>\n"
        // In the order given (numbered from 1), whatever the order of the reference rule.
        for s in r.inputs.sorted(by: { $0.index < $1.index }) {
            h += "<tr><td>\(Int(s.index) + 1)</td><td class=\"path\">\(esc(s.path))</td><td>\(s.format.rawValue)</td><td>\(s.clock.rawValue)</td>"
            h += "<td class=\"num\">\(s.events)</td><td class=\"num\">\(s.malformed)</td><td class=\"num\">\(s.dataLossMarkers)</td></tr>\n"
        }
        for e in report.inputErrors {
            h += "<tr class=\"error\"><td></td><td class=\"path\">\(esc(e.path))</td><td colspan=\"5\">\(esc(e.description))</td></tr>\n"
        }
        h += "</tbody></table>\n"
        // Numbers missing from the table are inputs read once as a copy of another (the notes
        // name them): the gaps read as lost inputs.
        let shown = Set(r.inputs.map(\.index))
        if let last = shown.max(), shown.count < Int(last) + 1 {
            h += "<p># is the input's place among those given; a number missing is an input analysed once, from another form of the same recording (the notes say which), or one that could not be read (its row says why).</p>\n"
        }
        h += "<h3>Alignment</h3>\n"
        if r.alignment.isEmpty {
            h += "<p>\(r.inputs.count <= 1 ? "One input: one clock." : "All inputs on one clock.")</p>\n"
        } else {
            h += "<table class=\"alignment\"><thead><tr><th>file</th><th>method</th><th>offset</th><th>drift</th><th>uncertainty</th><th>pairs</th><th>note</th></tr></thead><tbody>\n"
            for a in r.alignment {
                h += "<tr><td class=\"path\">\(esc(report.path(of: a.input)))</td><td>\(a.method.rawValue)</td>"
                h += "<td class=\"num\">\(a.method == .reference ? "—" : esc(TextReport.formatSignedSeconds(a.offset)) + " s")</td>"
                h += "<td class=\"num\">\(a.driftPPM) ppm</td><td class=\"num\">±\(esc(formatDuration(a.uncertainty)))</td><td class=\"num\">\(a.pairs)</td><td>\(esc(a.note))</td></tr>\n"
            }
            h += "</tbody></table>\n"
        }
        h += "<h3>Queues</h3>\n<table class=\"queues\"><thead><tr><th>queue</th><th>entries</th><th>driver writes</th><th>MMIO doorbells</th>"
        h += "<th>shadow reads</th><th>EventIdx writes</th><th>commands</th><th>race exposure</th><th>short waits</th><th>findings</th></tr></thead><tbody>\n"
        // Without any controller event the controller's counts are unknown, not zeros.
        let controllerTraced = r.queues.contains { TextReport.controllerCounted($0.stats) }
        func controllerCount(_ n: UInt64) -> String { controllerTraced ? String(n) : "—" }
        let driverTraced = r.queues.contains { TextReport.driverCounted($0.stats) }
        for q in r.queues {
            let s = q.stats
            let findings = r.findings.filter { $0.queue == q.key }
            h += "<tr\(findings.contains { $0.severity == .error } ? " class=\"error\"" : "")><td>\(q.key)</td><td class=\"num\">\(q.entries > 0 ? String(q.entries) : "?")</td>"
            h += "<td class=\"num\">\(q.probeMode ? String(s.driverShadowWrites) : "—")</td><td class=\"num\">\(controllerTraced || q.probeMode ? String(s.mmioDoorbells) : "—")</td>"
            h += "<td class=\"num\">\(controllerCount(s.controllerShadowReads))</td><td class=\"num\">\(controllerCount(s.controllerEventIdxWrites))</td>"
            h += "<td class=\"num\">\(q.key.type == .sq ? (driverTraced ? String(s.commandsSubmitted) : "—") : controllerCount(s.completionsQueued))</td><td class=\"num\">\(controllerTraced && driverTraced ? String(s.raceExposure) : "—")</td>"
            h += "<td class=\"num\">\(s.subThresholdWindows)</td><td class=\"num\">\(findings.count)</td></tr>\n"
        }
        h += "</tbody></table>\n"
        if !controllerTraced {
            h += "<p class=\"note\">No controller event in the inputs: the controller's counts (shadow reads, EventIdx writes, completions queued, MMIO doorbells without the driver's probes, race exposure) are unknown (—), not 0.</p>\n"
        }
        if !driverTraced {
            h += "<p class=\"note\">No guest trace among the inputs: the guest's submissions and the race exposure are unknown (—), not 0.</p>\n"
        }
        if r.queues.contains(where: { $0.stats.subThresholdWindows > 0 }) {
            h += "<p class=\"note\">\(esc(String(TextReport.shortWindowsNote(r.options).dropFirst().dropLast()).replacingFirst("short windows", with: "Short waits")))</p>\n"
        }
        h += "<h3>Findings</h3>\n"
        if r.findings.isEmpty {
            h += "<p>None.</p>\n"
        } else {
            h += "<table class=\"findings\"><thead><tr><th>#</th><th>severity</th><th>kind</th><th>queue</th><th>start</th><th>end</th><th>duration</th><th>cause</th><th>known bug</th></tr></thead><tbody>\n"
            for (i, f) in r.findings.enumerated() {
                h += "<tr class=\"\(f.severity.rawValue)\"><td><a href=\"#finding-\(i + 1)\">#\(i + 1)</a></td><td><span class=\"sev \(f.severity.rawValue)\">\(f.severity.rawValue)</span></td>"
                h += "<td>\(f.kind.rawValue)</td><td>\(f.queue)</td><td class=\"num\">\(report.formatTime(f.start, clockInput: f.clockInput))</td>"
                // (The text's UNCERTAIN and known bug were missing from the table.)
                let uncertain = f.uncertainty.isEmpty ? "" : " <span class=\"uncertain-mark\" title=\"\(esc(f.uncertainty.joined(separator: " · ")))\">uncertain</span>"
                h += "<td class=\"num\">\(endText(report, f))</td><td class=\"num\">\(durationText(report, f))</td><td>\(esc(f.cause?.rawValue ?? ""))\(uncertain)</td>"
                h += "<td>\(f.knownBug.map { esc($0.rawValue) } ?? "")\(f.recursAfter.map { " (recurs after <a href=\"#finding-\($0)\">#\($0)</a>)" } ?? "")</td></tr>\n"
            }
            h += "</tbody></table>\n"
        }
        h += "</section>\n"
        return h
    }

    static func endText(_ report: AnalysisReport, _ f: Finding) -> String {
        if let end = f.end { return report.formatTime(end, clockInput: f.clockInput) }
        return f.resolution == nil ? "—" : "unresolved"
    }

    static func durationText(_ report: AnalysisReport, _ f: Finding) -> String {
        if case .int(let d)? = f.value("duration_ns") { return esc(report.formatSpan(d, clockInput: f.clockInput)) + (f.end == nil && f.resolution != nil ? "+" : "") }
        if let end = f.end { return esc(report.formatSpan(end - f.start, clockInput: f.clockInput)) }
        return "—"
    }

    static func finding(
        _ report: AnalysisReport, _ f: Finding, number: Int, timeline: FindingTimeline?, inputLines: [SourceLocation: String]
    ) -> String {
        var h = "<article class=\"finding \(f.severity.rawValue)\" id=\"finding-\(number)\">\n"
        h += "<h3>#\(number) <span class=\"sev \(f.severity.rawValue)\">\(f.severity.rawValue)</span> \(f.kind.rawValue) on \(f.queue)"
        if let bug = f.knownBug { h += " · known bug \(esc(bug.rawValue))" }
        if !f.uncertainty.isEmpty { h += " <span class=\"uncertain-mark\">uncertain</span>" }
        h += "</h3>\n"
        h += "<p class=\"when\">\(report.formatTime(f.start, clockInput: f.clockInput)) → \(endText(report, f))"
        if let resolution = f.resolution { h += " (\(esc(resolution.rawValue)))" }
        if let cause = f.cause { h += " · cause: <b>\(esc(cause.rawValue))</b> — \(esc(cause.headline))" }
        if f.inferred { h += " · " + esc(ExplainReport.inferredFrom(f)) }
        h += "</p>\n<p class=\"message\">\(esc(f.message))</p>\n<p>\(esc(f.explanation))</p>\n"
        if let earlier = f.recursAfter { h += "<p class=\"story\">Recurs after the reset that ended <a href=\"#finding-\(earlier)\">#\(earlier)</a>.</p>\n" }
        if let bug = f.knownBug {
            let e = bug.entry
            h += "<p class=\"known-bug\">Known bug <b>\(esc(bug.rawValue))</b>: \(esc(e.title)) — \(esc(e.component)); fixed in \(esc(e.fixed))"
            h += e.fixCommits.isEmpty ? "" : " (\(esc(e.fixCommits.joined(separator: ", "))))"
            h += ". Remedy: \(esc(e.remedy))</p>\n"
        }
        if let cause = f.cause, cause != .unknown { h += "<p class=\"cause\">Cause <b>\(esc(cause.rawValue))</b>: \(esc(cause.meaning))</p>\n" }
        for u in f.uncertainty { h += "<p class=\"uncertain\">Uncertain: \(esc(u))</p>\n" }
        if let timeline, !timeline.samples.isEmpty {
            var badges: [SourceLocation: Int] = [:]
            for (k, e) in f.evidence.enumerated() where badges[e.location] == nil { badges[e.location] = k + 1 }
            var view = QueueView.merge([timeline])[0]
            // The other hangs of the queue on its clock that the picture reaches are drawn as
            // what they are (the hang before a recurrence was a grey "short wait").
            let others = report.result.findings.enumerated().filter { k, other in
                k + 1 != number && ChartWindow.isHang(other) && other.queue == f.queue && other.clockInput == f.clockInput
            }.map { ChartWindow.of($0.element, number: $0.offset + 1) }
            let mine = view.windows.filter { $0.kind == .finding && $0.finding == number }
            let first = view.samples.first?.time ?? f.start, last = view.samples.last?.time ?? f.start
            let shown = others.filter { $0.start <= last && ($0.end ?? .max) >= first }
            view.windows = ChartWindow.shortWaits(in: view.samples, outside: mine + others) + shown + mine
            // A point finding that is not a hang: no short waits around it to explain.
            if !ChartWindow.isHang(f) { view.windows.removeAll { $0.kind == .shortWait } }
            var chart = view.chart(orderOnly: orderOnly(report, f.clockInput))
            chart.badges = badges
            chart.origin = f.start
            h += "<figure>\n" + chart.render(id: "timeline-\(number)", title: "Finding #\(number): \(f.kind.rawValue) on \(f.queue)")
            h += "<figcaption>Events of \(f.queue) in order; the space between two events grows with the time between them "
            h += "(not to scale), labels give times relative to the window start. Hover a mark for the event.</figcaption>\n</figure>\n"
        }
        if timeline?.samples.isEmpty ?? true, ChartWindow.isHang(f) {
            h += "<p class=\"uncertain\">No picture: the inputs hold no doorbell, command or controller event of \(esc(f.queue.description)) on this clock to draw"
            h += f.evidence.allSatisfy({ $0.role.hasPrefix("guest-") }) ? " (a guest console tells the driver's messages only; the run's guest ftrace or QEMU log would show the queue).</p>\n" : ".</p>\n"
        }
        if !f.evidence.isEmpty {
            h += "<h4>Evidence</h4>\n<ol class=\"evidence\">\n"
            for e in f.evidence {
                h += "<li><span class=\"loc\">\(esc(report.render(e.location)))</span> <span class=\"t\">\(report.formatTime(e.time, clockInput: f.clockInput))</span> "
                h += "<span class=\"role\">\(esc(e.role))</span> \(esc(e.summary))"
                if let line = inputLines[e.location] { h += "<pre>\(esc(line))</pre>" }
                h += "</li>\n"
            }
            h += "</ol>\n"
        }
        h += "</article>\n"
        return h
    }

    static let css = """
        body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1180px; padding: 0 20px 40px; color: #1d1d24; }
        header { border-bottom: 2px solid #dde; margin-bottom: 8px; }
        h1 { margin: 18px 0 0; font-size: 24px; } .sub { margin: 2px 0; color: #555; word-break: break-all; }
        h2 { margin-top: 28px; border-bottom: 1px solid #e4e4ee; } h3 { margin: 18px 0 6px; } h4 { margin: 12px 0 4px; }
        .outcome { font-weight: bold; padding: 6px 10px; border-radius: 4px; display: inline-block; }
        .outcome.ok { background: #e6f4ea; color: #1e6b34; } .outcome.bad { background: #fde8e8; color: #9b1c1c; }
        .outcome.unsure { background: #fff4d6; color: #7a4b00; }
        table { border-collapse: collapse; margin: 4px 0 10px; font-size: 13px; }
        th, td { border: 1px solid #dde; padding: 3px 8px; text-align: left; vertical-align: top; }
        th { background: #f2f3f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; } td.path { word-break: break-all; }
        tr.error td { background: #fff5f5; }
        .sev { font-size: 12px; font-weight: bold; padding: 1px 6px; border-radius: 3px; color: #fff; }
        .sev.error { background: #c62828; } .sev.warning { background: #b26a00; } .sev.info { background: #5c6b7a; }
        article.finding { border: 1px solid #dde; border-left: 5px solid #c62828; border-radius: 4px; padding: 4px 16px 10px; margin: 16px 0; }
        article.finding.warning { border-left-color: #b26a00; } article.finding.info { border-left-color: #5c6b7a; }
        .when { color: #444; margin: 0; } .message { font-weight: 600; }
        .uncertain { color: #8a5a00; } .uncertain-mark { font-size: 11px; font-weight: bold; color: #8a5a00; border: 1px solid #c9a227; border-radius: 3px; padding: 0 4px; } .note { font-size: 12px; color: #555; margin-top: 0; }
        figure { margin: 10px 0; overflow-x: auto; } svg.timeline { display: block; background: #fff; }
        figcaption { font-size: 12px; color: #444; margin-top: 4px; } figcaption.head { font-size: 14px; font-weight: 600; color: #1d1d24; margin: 0 0 4px; }
        .key { white-space: nowrap; margin-right: 12px; }
        .key i { display: inline-block; width: 22px; height: 0; border-top: 3px solid; vertical-align: middle; margin-right: 4px; }
        .key i.shade { height: 10px; border: 1px dashed #d62728; background: rgba(214,39,40,.12); }
        .key b.dot { display: inline-block; width: 15px; height: 15px; border-radius: 50%; background: #222; color: #fff; font-size: 10px; text-align: center; line-height: 15px; }
        ol.evidence li { margin-bottom: 4px; } .loc { font-family: ui-monospace, monospace; } .t { color: #555; font-variant-numeric: tabular-nums; }
        .role { font-size: 12px; background: #eef; padding: 0 4px; border-radius: 3px; }
        pre { background: #f6f7f9; border: 1px solid #e4e4ee; padding: 4px 8px; margin: 3px 0; white-space: pre-wrap; word-break: break-all; font-size: 12px; }
        footer { margin-top: 30px; color: #777; font-size: 12px; }

        """
}
