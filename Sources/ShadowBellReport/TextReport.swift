import ShadowBellAnalysis
import ShadowBellCore

/// The human report: inputs, one summary line per queue, each finding with its evidence and a
/// plain-language explanation, and the outcome.
public enum TextReport {
    public static func render(_ report: AnalysisReport, width: Int = 100) -> String {
        let r = report.result
        var out = ""
        let errors = r.findings.filter { $0.severity == .error }.count
        out += "ShadowBell \(AnalysisReport.toolVersion): \(r.inputs.count) input(s), \(r.queues.count) queue(s), "
            + "\(r.findings.count) finding(s), \(errors) error(s)\n"

        out += "\nInputs\n"
        for s in r.inputs {
            out += "  \(s.path): \(s.format.rawValue)\(s.recordedFormat.map { " (of \($0.rawValue))" } ?? ""), \(s.events) events, \(s.malformed) malformed, "
                + "\(s.skipped) other \(s.locationUnit == .line ? "lines" : "records") skipped"
            if s.clock == .orderOnly { out += ", no timestamps (order only)" }
            if s.clock == .counter { out += ", bare counts of a clock not in nanoseconds (order only)" }
            if let kernel = s.kernelVersion { out += ", guest Linux \(kernel)" }
            // (Said in the JSON's `out_of_order` only, it was missed: a simple trace's writer
            // threads, records swapped in a copy.)
            if s.outOfOrder > 0 { out += ", \(s.outOfOrder) event(s) earlier than the one before (taken in file order)" }
            out += "\n"
            for m in s.firstMalformed {
                out += "    malformed: \(report.render(m.location)): \(m.reason)\n"
            }
            if s.malformed > UInt64(s.firstMalformed.count) {
                out += "    … and \(s.malformed - UInt64(s.firstMalformed.count)) more malformed\n"
            }
            if s.dataLossMarkers > 0 {
                out += "    data loss: \(s.dataLossMarkers) marker(s)"
                    + (s.lostEvents > 0 ? ", \(s.lostEvents) events lost" : "")
                    + ": findings overlapping a gap are marked uncertain\n"
            }
        }
        for e in report.inputErrors { out += "  error: \(e.description)\n" }

        if r.alignment.contains(where: { $0.method != .reference }) {
            out += "\nClock alignment (times on the clock of \(report.name(of: r.alignment.first { $0.method == .reference }?.input ?? 0)))\n"
            for a in r.alignment where a.method != .reference {
                var line = "\(report.name(of: a.input)): \(a.method.rawValue)"
                if a.method == .estimated || a.method == .manual || a.method == .messages {
                    line += ", offset \(formatSignedSeconds(a.offset)) s"
                }
                if a.method == .estimated || a.method == .messages {
                    line += ", drift \(a.driftPPM) ppm, uncertainty ±\(formatDuration(a.uncertainty)), \(a.pairs) pairs in \(a.windows) windows"
                    if a.contradictions > 0 { line += ", \(a.contradictions) contradicting pairs" }
                }
                if a.heldEvents > 0 {
                    line += ", \(a.heldEvents) events held back up to \(formatDuration(a.largestHold)) to keep the file's order"
                }
                if a.extrapolatedBefore + a.extrapolatedAfter > 0 {
                    line += ", \(a.extrapolatedBefore + a.extrapolatedAfter) events outside the span of pairs (offset extrapolated)"
                }
                if !a.note.isEmpty { line += " (\(a.note))" }
                out += wrap(line, indent: "  ", continuation: "      ", width: width)
            }
        }

        if !r.queues.isEmpty {
            out += "\nQueues\n"
            // Without any controller event the controller's counts are not zeros to read (a
            // guest trace alone showed "fetched 0" on queues that completed thousands of commands).
            let controllerTraced = r.queues.contains { Self.controllerCounted($0.stats) }
            // And without any guest event the guest's submissions are unknown (a QEMU log alone
            // showed "submitted 0" beside "fetched 21602").
            let driverTraced = r.queues.contains { Self.driverCounted($0.stats) }
            for q in r.queues {
                out += wrap(queueLine(q, controllerTraced: controllerTraced, driverTraced: driverTraced), indent: "  ", continuation: "      ", width: width)
            }
            if !controllerTraced {
                out += wrap("(no controller event in the inputs: the controller's counts — shadow reads, EventIdx writes, fetches, completions queued, MMIO doorbells without the driver's probes, race exposure — are unknown (?), not 0)", indent: "  ", continuation: "  ", width: width)
            }
            if !driverTraced {
                out += wrap("(no guest trace among the inputs: the guest's submissions and the race exposure are unknown (?), not 0)", indent: "  ", continuation: "  ", width: width)
            }
            if r.queues.contains(where: { $0.stats.subThresholdWindows > 0 }) {
                out += wrap(shortWindowsNote(r.options), indent: "  ", continuation: "  ", width: width)
            }
        }

        let hung = r.queues.filter { $0.hangs != nil }
        if !hung.isEmpty {
            out += "\nHangs per queue\n"
            for q in hung {
                guard let h = q.hangs else { continue }
                let line = "\(q.key): \(h.count) hang(s), \(report.formatSpan(h.totalNs, clockInput: h.clockInput)) hung in total; first #\(h.firstID) at \(report.formatTime(h.firstStart, clockInput: h.clockInput))"
                    + (h.count > 1 ? ", last #\(h.lastID) at \(report.formatTime(h.lastStart, clockInput: h.clockInput))" : "")
                    + (h.onOtherClocks > 0 ? "; \(h.onOtherClocks) more told on another clock by an input not placed on this one (often the same hangs seen from its side: see the findings)" : "")
                out += wrap(line, indent: "  ", continuation: "      ", width: width)
            }
        }

        out += "\nFindings\n"
        if r.findings.isEmpty { out += "  none\n" }
        for (n, f) in r.findings.enumerated() {
            out += "\n  #\(n + 1) [\(f.severity.rawValue)] \(f.kind.rawValue) \(f.queue)"
            out += "  \(report.formatTime(f.start, clockInput: f.clockInput))"
            if f.resolution != nil || f.end != nil {
                out += " → " + (f.end.map { report.formatTime($0, clockInput: f.clockInput) } ?? "unresolved")
            }
            if let cause = f.cause { out += "  cause: \(cause.rawValue)" }
            if f.inferred { out += "  (inferred)" }
            if let bug = f.knownBug { out += "  known bug: \(bug.rawValue)" }
            if let earlier = f.recursAfter { out += "  recurs after #\(earlier)" }
            if !f.uncertainty.isEmpty { out += "  UNCERTAIN" }
            if report.baseline != nil { out += report.isKnown(n) ? "  KNOWN (baseline)" : "  NEW (not in the baseline)" }
            out += "\n"
            out += wrap(f.message, indent: "     ", width: width)
            out += wrap(f.explanation, indent: "     ", width: width)
            for u in f.uncertainty { out += "     uncertain: \(u)\n" }
            if !f.evidence.isEmpty {
                out += "     evidence:\n"
                for e in f.evidence {
                    out += "       \(report.render(e.location))  \(report.formatTime(e.time, clockInput: f.clockInput))  \(e.summary)\n"
                }
            }
        }
        for s in r.suppressed {
            let hangs = s.hangs > 0
                ? ", \(s.hangs) of them hangs past --max-hangs-per-queue (\(formatDuration(s.durationNs)) in all), counted in \"Hangs per queue\""
                : ""
            out += "\n  (+\(s.count) more \(s.kind.rawValue) on \(s.queue), counted in the queue statistics\(hangs))\n"
        }
        if !r.notes.isEmpty {
            out += "\nNotes\n"
            for note in r.notes { out += wrap(note, indent: "  ", width: width) }
        }
        out += "\nResult: " + outcome(report) + "\n"
        return out
    }

    static func formatSignedSeconds(_ ns: Int64) -> String {
        ns < 0 ? "-" + formatSeconds(-ns) : "+" + formatSeconds(ns)
    }

    static func outcome(_ report: AnalysisReport) -> String {
        // An input set aside (a QEMU log of several controllers beside the guest's trace) is
        // said with the verdict, which rests on the other inputs.
        let aside = report.result.setAside
        return verdict(report) + (aside.isEmpty ? "" : "; " + aside.joined(separator: "; ") + ": the verdict rests on the other inputs")
    }

    static func verdict(_ report: AnalysisReport) -> String {
        switch report.exitStatus {
        case 2:
            // The findings of the inputs that were read are still said: exit 2 wins over 1.
            let errors = report.result.errorCount
            return errors > 0 ? "input error (exit 2); \(errors) error finding(s) in the inputs read" : "input error (exit 2)"
        case 1:
            if report.failOn == .warning && report.result.errorCount == 0 {
                return "\(report.failingFindings) warning finding(s), failing on warnings (exit 1)"
            }
            if report.failingFindings == 0, report.failsUndecided, let first = report.result.undecided.first {
                let more = report.result.undecided.count - 1
                return "no error finding, but no verdict of health either: \(first)"
                    + (more > 0 ? " (and \(more) more: the notes and findings say more)" : " (the notes and findings say more)") + " (exit 1: --fail-on undecided)"
            }
            if let b = report.baseline {
                let known = b.known.filter { $0 }.count
                return "\(report.failingFindings) new error finding(s), not in the baseline (of all \(b.known.count) finding(s): \(known) known, \(b.known.count - known) new) (exit 1)"
            }
            return "\(report.result.errorCount) error finding(s) (exit 1)"
        default:
            if report.failOn == .never && report.result.errorCount > 0 {
                return "\(report.result.errorCount) error finding(s), not failing (--fail-on never, exit 0)"
            }
            if report.result.errorCount > 0, report.baseline != nil {
                return "\(report.result.errorCount) error finding(s), all known from the baseline: no new one (exit 0)"
            }
            if let first = report.result.undecided.first, report.result.errorCount == 0 {
                let more = report.result.undecided.count - 1
                return "no error finding, but no verdict of health either: \(first)"
                    + (more > 0 ? " (and \(more) more: the notes and findings say more)" : " (the notes and findings say more)") + " (exit 0)"
            }
            return "no error finding (exit 0)"
        }
    }

    /// Whether the run passes with something left undecided (a dump cut short, a trace ending
    /// too soon): its outcome says so, and a batch counts it apart from the healthy runs.
    public static func isUndecided(_ report: AnalysisReport) -> Bool {
        report.exitStatus == 0 && report.result.errorCount == 0 && !report.result.undecided.isEmpty
    }

    /// What the queues' "short windows" count.
    static func shortWindowsNote(_ o: AnalysisOptions) -> String {
        "(short windows: both sides waited on each other, but the wait ended within --min-wait "
            + "\(formatDuration(o.minWait)) (--inferred-min-wait \(formatDuration(o.inferredMinWait)) without driver probes): "
            + "normal latency under load, counted and not reported)"
    }

    /// Whether the controller's side shows in a queue's counts.
    static func controllerCounted(_ s: QueueStatistics) -> Bool { s.controllerCounted }

    /// Whether the guest driver's side shows in a queue's counts.
    static func driverCounted(_ s: QueueStatistics) -> Bool { s.driverCounted }

    static func queueLine(_ q: QueueReport, controllerTraced: Bool = true, driverTraced: Bool = true) -> String {
        let s = q.stats
        var parts = ["\(q.key):"]
        parts.append(q.entries > 0 ? "entries \(q.entries)" : "entries ?")
        if controllerTraced {
            parts.append("shadow reads \(s.controllerShadowReads)")
            parts.append("EventIdx writes \(s.controllerEventIdxWrites)")
        }
        parts.append("MMIO \(controllerTraced || q.probeMode ? String(s.mmioDoorbells) : "?")")
        if q.probeMode {
            let share = s.driverShadowWrites > 0 ? (s.driverUpdatesWithoutMMIO * 100 + s.driverShadowWrites / 2) / s.driverShadowWrites : 0
            parts.append("driver writes \(s.driverShadowWrites) (\(share)% without MMIO)")
        }
        if q.key.type == .sq {
            parts.append("submitted \(driverTraced ? String(s.commandsSubmitted) : "?")")
            if controllerTraced { parts.append("fetched \(s.commandsFetched)") }
        } else if controllerTraced {
            parts.append("completions \(s.completionsQueued)")
        }
        parts.append("race exposure \(controllerTraced && driverTraced ? String(s.raceExposure) : "?")")
        if s.subThresholdWindows > 0 { parts.append("short windows \(s.subThresholdWindows)") }
        return parts[0] + " " + parts.dropFirst().joined(separator: ", ")
    }

    /// Greedy word wrap.
    static func wrap(_ text: String, indent: String, continuation: String? = nil, width: Int) -> String {
        // Works on UTF-8 bytes: splitting a String into Characters cost a report of a few
        // thousand findings more than the analysis of the trace. Widths count Unicode scalars.
        @inline(__always) func columns<S: Sequence>(_ bytes: S) -> Int where S.Element == UInt8 {
            bytes.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
        }
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + text.utf8.count / 8 + indent.utf8.count)
        var prefix = Array(indent.utf8)
        var prefixWidth = columns(prefix)
        out += prefix
        var lineWidth = prefixWidth
        var lineHasWord = false
        var bytes = Array(text.utf8)
        bytes.append(0x20)
        var wordStart = -1
        for i in bytes.indices {
            guard bytes[i] == 0x20 else {
                if wordStart < 0 { wordStart = i }
                continue
            }
            guard wordStart >= 0 else { continue }
            let word = bytes[wordStart..<i]
            wordStart = -1
            let wordWidth = columns(word)
            if lineHasWord && lineWidth + 1 + wordWidth > width {
                out.append(0x0A)
                if let continuation {
                    prefix = Array(continuation.utf8)
                    prefixWidth = columns(prefix)
                }
                out += prefix
                lineWidth = prefixWidth
                lineHasWord = false
            }
            if lineHasWord {
                out.append(0x20)
                lineWidth += 1
            }
            out += word
            lineWidth += wordWidth
            lineHasWord = true
        }
        guard lineHasWord else { return "" }
        out.append(0x0A)
        return String(decoding: out, as: UTF8.self)
    }
}

