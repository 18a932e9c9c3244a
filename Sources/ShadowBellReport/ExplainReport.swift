import ShadowBellAnalysis
import ShadowBellCore

/// `shadowbell explain`: the story of one finding in plain language, step by step, with the
/// input lines of its evidence.
public enum ExplainReport {
    /// - Parameters:
    ///   - number: the finding's 1-based number in report order.
    ///   - timeline: the recorded events of its queue around the window.
    ///   - inputLines: the text of evidence lines, by location.
    ///   - command: how to re-run with the same inputs, for the "next" hints (`shadowbell … PATHS`).
    public static func render(
        _ report: AnalysisReport, number: Int, timeline: FindingTimeline?, inputLines: [SourceLocation: String],
        paths: [String], width: Int = 100
    ) -> String {
        let r = report.result
        let f = r.findings[number - 1]
        let time = { (t: Int64) in report.formatTime(t, clockInput: f.clockInput) }
        var out = "Finding #\(number) of \(r.findings.count): \(f.kind.rawValue) (\(f.severity.rawValue)) on \(f.queue)\n"
        // Times that are counts of a clock not in nanoseconds give no duration.
        let timed = r.inputs.first(where: { $0.index == f.clockInput })?.clock.measuresTime != false
        var when = "  from \(time(f.start))"
        if let end = f.end {
            // A finding that is no wait (an info spanning the trace) has no resolution to name.
            let parts = (timed ? [formatDuration(end - f.start)] : []) + (f.resolution.map { ["ended by \($0.rawValue)"] } ?? [])
            when += " to \(time(end))" + (parts.isEmpty ? "" : " (\(parts.joined(separator: ", ")))")
        } else if f.resolution != nil {
            when += " to the end of the trace: unresolved, the wait was still going on"
            if timed, case .int(let d)? = f.value("duration_ns") { when += " after \(formatDuration(d))" }
        }
        if let cause = f.cause { when += "; cause: \(cause.rawValue)" }
        if f.inferred { when += "; " + inferredFrom(f) }
        out += wrap(when, indent: "", continuation: "  ", width: width)

        out += "\nIn short\n"
        out += wrap(f.message, indent: "  ", width: width)

        out += "\nWhat happened, step by step (events of \(f.queue))\n"
        var evidenceNumber: [SourceLocation: Int] = [:]
        for (k, e) in f.evidence.enumerated() where evidenceNumber[e.location] == nil { evidenceNumber[e.location] = k + 1 }
        if let timeline, !timeline.samples.isEmpty {
            var previous: StateSample?
            var step = 0
            var opened = false, closed = false, toldBeforeTheClock = false
            let isWindow = f.kind == .mutualWait
            for sample in timeline.samples {
                // A controller event placed before the reference clock's zero (the firmware's
                // I/O before the guest kernel booted, in QEMU's log) is said to be, once.
                if !toldBeforeTheClock, sample.time < 0, sample.event.source != f.clockInput {
                    toldBeforeTheClock = true
                    out += wrap(
                        "(times below 0 are before the reference clock began — on a guest trace's clock, before the guest kernel booted: the firmware's I/O in the controller's trace, placed by extending the clock offset beyond its causal pairs)",
                        indent: "       ", width: width)
                }
                if !opened, sample.time >= f.start {
                    opened = true
                    out += isWindow ? "      ---- the mutual-wait window opens ----\n" : "      ---- the finding starts here ----\n"
                }
                if !closed, let end = f.end, sample.time > end {
                    closed = true
                    out += "      ---- the window closes (\(f.resolution?.rawValue ?? "end")) ----\n"
                }
                step += 1
                let e = sample.event
                let location = report.render(SourceLocation(source: e.source, unit: unit(report, e.source), value: e.location))
                let mark = evidenceNumber[SourceLocation(source: e.source, unit: unit(report, e.source), value: e.location)].map { " [evidence \($0)]" } ?? ""
                out += "  \(pad(String(step), 3)). \(time(e.time))  \(location)\(mark)\n"
                out += wrap(narrate(sample, previous: previous), indent: "       ", width: width)
                out += "       state: " + state(sample, finding: f, number: number, among: r.findings) + "\n"
                previous = sample
            }
            if timeline.omitted > 0 { out += "  (\(timeline.omitted) events inside the window are not shown)\n" }
            if f.end == nil, f.resolution != nil {
                out += "      ---- nothing on this queue ends the wait before the trace stops ----\n"
            }
        } else {
            // (A console's timeout messages are no events of the queue's doorbells: a console
            // alone said "no event" and then listed five QID 2 messages as evidence.)
            out += f.evidence.isEmpty
                ? "  (no event of this queue was recorded around the finding)\n"
                : wrap("(no doorbell, fetch or completion of this queue is in the inputs around the finding: its evidence below is all there is)", indent: "  ", width: width)
        }

        out += "\nWhy this is a \(f.kind.rawValue)\n"
        out += wrap(f.explanation, indent: "  ", width: width)
        if f.kind == .mutualWait {
            out += conditions(f)
        }
        if let cause = f.cause {
            out += "\nCause: \(cause.rawValue)\n" + wrap(cause.meaning, indent: "  ", width: width)
        }
        if let earlier = f.recursAfter {
            out += "\nStory\n" + wrap("Recurs after the reset that ended #\(earlier) (see `explain --finding \(earlier)`).", indent: "  ", width: width)
        }
        if let bug = f.knownBug {
            let e = bug.entry
            out += "\nKnown bug: \(bug.rawValue)\n"
            out += wrap("\(e.title) — \(e.component). Affected: \(e.affected). Fixed: \(e.fixed)"
                        + (e.fixCommits.isEmpty ? "" : " (\(e.fixCommits.joined(separator: ", ")))") + ".", indent: "  ", width: width)
            out += wrap("Remedy: \(e.remedy)", indent: "  ", width: width)
            out += wrap("References: \(e.references.joined(separator: "; "))", indent: "  ", width: width)
        }
        for u in f.uncertainty { out += wrap("Uncertain: \(u)", indent: "  ", width: width) }

        out += "\nEvidence (the input lines)\n"
        if f.evidence.isEmpty { out += "  none recorded\n" }
        for (k, e) in f.evidence.enumerated() {
            out += "  [\(k + 1)] \(e.role)  \(report.render(e.location))  \(time(e.time))\n"
            out += wrap(e.summary, indent: "      ", width: width)
            if let line = inputLines[e.location] {
                out += "      > " + QuotedLine.escapingControlCharacters(line) + "\n"
            } else if e.location.unit == .byteOffset {
                let v = e.location.value
                let format = r.inputs.first { $0.index == e.location.source }?.format
                out += format == .pcap
                    ? "      (binary record at byte \(v) of the pcap: `tshark -r` shows it; it keeps the input it was converted from)\n"
                    : format == .qemuSimple
                    ? "      (binary record at byte \(v) of the simple trace: QEMU's simpletrace.py prints it)\n"
                    : v >= SourceLocation.streamStride
                    ? "      (binary record: CPU data stream \(v / SourceLocation.streamStride), byte \(v % SourceLocation.streamStride) of its decompressed data; `trace-cmd report` prints it in text)\n"
                    : "      (binary record at byte \(v): of the file, or of CPU data stream 0's decompressed data in a compressed trace.dat; `trace-cmd report` prints it in text)\n"
            }
        }

        let files = paths.map(shellQuote).joined(separator: " ")
        out += "\nNext\n"
        let from = f.start - 5_000_000, to = (f.end ?? f.start) + 5_000_000
        if timed {
            // A give-up told by the driver's ABORTs is on the admin queue (its ABORTs and the
            // reset's Delete SQ) as much as on its own.
            let admin = f.value("inferred_from") == .string("driver-aborts")
                ? " --queue \(QueueKey(controller: f.queue.controller, qid: 0, type: .sq))" : ""
            out += "  shadowbell timeline \(files) --queue \(f.queue)\(admin) --from \(formatSeconds(from)) --to \(formatSeconds(to))\n"
        } else {
            out += "  shadowbell timeline \(files) --queue \(f.queue)\n"
        }
        out += "  shadowbell report \(files) --output report.html\n"
        if paths.contains("-") {
            out += "  (standard input was read once and is used up: save what you piped to a file and name that file instead of -)\n"
        }
        return out
    }

    static func unit(_ report: AnalysisReport, _ source: UInt16) -> SourceLocation.Unit {
        report.result.inputs.first { $0.index == source }?.locationUnit ?? .line
    }

    static func opt(_ v: UInt32?) -> String { v.map(String.init) ?? "?" }

    /// A window open inside this finding's interval is the mutual wait it reports; one open
    /// inside another wait finding of the queue is that one (a lead-in that reaches back into
    /// the hang before, which was called a short wait); any other closed before --min-wait (a
    /// short wait, not a finding).
    static func state(_ s: StateSample, finding f: Finding, number: Int = 0, among findings: [Finding] = []) -> String {
        var text = "P=\(opt(s.published))\(s.publishedInferred ? " (inferred)" : "") S=\(opt(s.controllerSeen)) EventIdx: controller \(opt(s.controllerEventIdx))"
        if s.driverEventIdxRead != nil { text += ", driver read \(opt(s.driverEventIdxRead))" }
        text += s.controllerWaiting ? "; controller waiting" : "; controller busy"
        if s.windowOpen {
            // Inside a wait finding's span (a guest give-up is a hang, but not a mutual wait).
            func holds(_ g: Finding) -> Bool {
                ChartWindow.isHang(g) && !g.isGuestGiveUp && g.queue == f.queue && s.time >= g.start && s.time <= (g.end ?? .max)
            }
            if holds(f) {
                text += "; MUTUAL WAIT"
            } else if let k = findings.indices.first(where: { $0 != number - 1 && holds(findings[$0]) }) {
                text += "; MUTUAL WAIT of #\(k + 1)"
            } else {
                text += "; short wait (below --min-wait)"
            }
        }
        return text
    }

    /// One event in plain words.
    public static func narrate(_ s: StateSample, previous: StateSample?) -> String {
        let e = s.event
        let ring = "\(e.queueType.name)\(e.qid)"
        let slot = e.queueType == .sq ? "tail" : "head"
        switch e.kind {
        case .driverDoorbellUpdate:
            var text = "The driver wrote \(slot) \(e.b) into the shadow slot of \(ring) (it was \(e.a)) and read EventIdx \(e.c). "
            let need = needEvent(eventIdx: UInt16(truncatingIfNeeded: e.c), new: UInt16(truncatingIfNeeded: e.b), old: UInt16(truncatingIfNeeded: e.a))
            if e.rangMMIO {
                text += "It rang the MMIO doorbell" + (need ? " (need_event(\(e.c), \(e.b), \(e.a)) is true)." : " although need_event(\(e.c), \(e.b), \(e.a)) is false.")
            } else {
                text += "Since need_event(\(e.c), \(e.b), \(e.a)) is \(need ? "true" : "false"), it did not ring the MMIO doorbell"
                text += need ? " — it should have." : ": it counts on the controller to read the shadow slot."
            }
            return text
        case .driverSubmit where e.isDriverAbort:
            return "The driver gave up waiting for command \(e.c) of queue \(e.b): it submitted an ABORT of it (admin command \(e.a))."
        case .driverSubmit: return "The driver submitted command \(e.a) on queue \(e.qid)."
        case .driverComplete: return "The driver completed command \(e.a) (status 0x\(String(e.b, radix: 16)))."
        case .driverSQHead where s.publishedInferred:
            // A step of the CQ whose head it moves (no driver probe).
            return "The guest handled a completion entry of cq\(e.qid): the driver's CQ head moves to \(opt(s.published)) (inferred from the completions it handled: its CQ doorbell writes are not traced)."
        case .driverSQHead: return "A completion told the driver that the controller's \(ring) head is \(e.a)."
        case .controllerShadowRead:
            var text = "The controller read the shadow slot of \(ring): \(e.a)"
            if s.controllerWaiting && e.queueType == .sq {
                text += ", the \(slot) it had already consumed: nothing new, so its burst ends and it waits for an MMIO doorbell."
            } else if let p = previous?.controllerSeen, p == e.a {
                text += " (no change)."
            } else {
                text += ": new work to process."
            }
            return text
        case .controllerEventIdxWrite:
            return "The controller wrote EventIdx \(e.a) for \(ring): \"ring the MMIO doorbell once your \(slot) moves past \(e.a)\"."
        case .mmioDoorbell:
            return "An MMIO doorbell wrote \(e.a) to \(ring): the controller is told directly, whatever the shadow slot says."
        case .controllerFetch: return "The controller fetched command \(e.a) from \(ring)."
        case .controllerCompletion: return "The controller queued the completion of command \(e.a) on cq\(e.qid)."
        default: return describe(e).prefix(1).uppercased() + describe(e).dropFirst() + "."
        }
    }

    static func conditions(_ f: Finding) -> String {
        func v(_ name: String) -> String {
            switch f.value(name) {
            case .int(let i)?: return String(i)
            case .string(let s)?: return s
            default: return "?"
            }
        }
        var out = "\n  The three conditions, with the values at the window start:\n"
        let hostSide = f.value("inferred_from") == .string("host-side")
        // A value the trace does not hold is said to be unknown, not compared ("P = ? … P ≠ S").
        let first = hostSide
            ? "1. the driver had published work the controller had not seen (S = \(v("controller_seen"))): inferred from the guest giving up (ABORT, reset), its publications are not in the trace;"
            : v("published") == "?"
                ? "1. the driver had submitted commands the controller had not fetched (the controller had last seen S = \(v("controller_seen"))): work is waiting; the driver's shadow doorbell writes are not traced, so this is inferred from its submissions;"
                : "1. the driver had published P = \(v("published")) and the controller had last seen S = \(v("controller_seen")): P ≠ S, work is waiting;"
        let needEvent = v("driver_eventidx_read") == "?"
            ? "the driver's need_event is not traced; the controller had written EventIdx \(v("controller_eventidx"))"
            : "the driver's need_event said no: it read EventIdx \(v("driver_eventidx_read")), the controller had written \(v("controller_eventidx"))"
        let items = [
            first,
            "2. no MMIO doorbell had been written since the controller last looked at \(f.queue.type.name)\(f.queue.qid) (\(needEvent));",
            "3. the controller was waiting for a doorbell: its last look at the queue brought nothing new.",
        ]
        for item in items { out += wrap(item, indent: "    ", continuation: "       ", width: 100) }
        out += "  Each side waits for the other; nothing in the protocol wakes either of them.\n"
        return out
    }

    /// How an inferred finding's condition 1 was inferred.
    public static func inferredFrom(_ f: Finding) -> String {
        switch f.value("inferred_from") {
        case .string("host-side")?:
            return "inferred from the controller side (no guest trace: the guest gave up with ABORT commands and a reset)"
        case .string("guest-timeouts")?:
            // (Its commands may come from the guest's trace or a console's ftrace dump: said
            // "no driver event" over evidence that was the driver's submissions.)
            let driver = f.evidence.contains { $0.role.hasPrefix("driver") }
            let controller = f.evidence.contains { $0.role.hasPrefix("controller") }
            switch (driver, controller) {
            case (true, true): return "inferred from the guest kernel's timeout messages, with the driver's and the controller's events of its commands"
            case (true, false): return "inferred from the guest kernel's timeout messages, with the driver's events of its commands (no controller event for this time)"
            case (false, true): return "inferred from the guest kernel's timeout messages, with the controller's events (no driver event for this time)"
            case (false, false): return "inferred from the guest kernel's timeout messages (no driver or controller event for this time)"
            }
        default:
            return f.queue.type == .cq
                ? "inferred from the completions the guest handled (no driver probes)"
                : "inferred from guest submissions (no driver probes)"
        }
    }

    static func pad(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }

    static func wrap(_ text: String, indent: String, continuation: String? = nil, width: Int) -> String {
        TextReport.wrap(text, indent: indent, continuation: continuation, width: width)
    }

    public static func shellQuote(_ s: String) -> String {
        s.allSatisfy { $0.isLetter || $0.isNumber || "/._-+:=,".contains($0) } ? s : "'" + s.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }
}
