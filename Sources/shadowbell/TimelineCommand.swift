import ArgumentParser
import ShadowBellAnalysis
import ShadowBellCore
import ShadowBellReport

enum TimelineFormat: String, ExpressibleByArgument, CaseIterable {
    case text, csv, json, svg
}

/// `sq1`, `cq2`, `nvme1:sq3`.
struct QueueSelector: ExpressibleByArgument, Hashable {
    var controller: UInt16?
    var qid: UInt16
    var type: QueueType

    init?(argument: String) {
        var text = Substring(argument.lowercased())
        if let colon = text.firstIndex(of: ":") {
            let ctrl = text[..<colon]
            guard ctrl.hasPrefix("nvme"), let n = UInt16(ctrl.dropFirst(4)) else { return nil }
            controller = n
            text = text[text.index(after: colon)...]
        }
        if text.hasPrefix("sq") { type = .sq } else if text.hasPrefix("cq") { type = .cq } else { return nil }
        guard let q = UInt16(text.dropFirst(2)) else { return nil }
        qid = q
    }

    func matches(_ key: QueueKey) -> Bool {
        key.qid == qid && key.type == type && (controller == nil || controller == key.controller)
    }
}

struct Timeline: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each queue's state, change by change.",
        discussion: """
            Each row is one event that touched a queue, with the state both sides believe in \
            after it: P (driver-published value), S (value the controller last saw), the \
            controller's EventIdx and the one the driver read, the controller's fetch index \
            (SQ) or tail (CQ), whether the controller waits, whether an MMIO doorbell is \
            pending, and the wait state: [MUTUAL WAIT #N] inside the window of reported finding \
            N, [short wait] where both sides waited but less than --min-wait (not a finding).

            Examples:
              shadowbell timeline SampleTraces/lab/sq-hang.txt --queue sq1
              shadowbell timeline trace.txt --queue cq2 --from 12.5 --to 12.6 --format csv
              shadowbell timeline trace.txt --queue sq1 --format svg -o sq1.svg

            --format svg draws one chart per queue (P, S, both EventIdx, MMIO doorbells, waits, \
            findings shaded red, short waits grey, a legend). Without --from/--to it draws the \
            events around the findings of the selected queues; with a range (or without \
            findings), at most --max-events events per queue; around the first --max-findings \
            findings (60). Text, CSV and JSON print the whole \
            trace unless a range is given.

            Exit status: 0 written (findings do not change it: `shadowbell analyze` fails on \
            them); 2 an input could not be read (no --output file is left behind); 64 usage \
            error, or no event matched the selected queues and range (said with what the \
            inputs hold).
            """
    )

    @OptionGroup var flags: AnalysisFlags

    @Option(name: .customLong("queue"), help: ArgumentHelp("Only these queues (sq1, cq2, nvme1:sq3); repeatable.", valueName: "queue"))
    var queues: [QueueSelector] = []

    // Times on the analysis clock may be negative (a host trace's events before the guest
    // booted, on the guest's clock): `--from -5.2` takes the value, not an option.
    @Option(parsing: .unconditional, help: ArgumentHelp("Start of the range, in seconds on the analysis clock (e.g. 5123.4; may be negative), or #N for an input without timestamps (positions as the report prints them).", valueName: "seconds"))
    var from: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("End of the range, in seconds on the analysis clock, or #N.", valueName: "seconds"))
    var to: String?

    @Option(help: "Output format.")
    var format: TimelineFormat = .text

    @Option(name: .shortAndLong, help: ArgumentHelp("Write here instead of standard output.", valueName: "file"))
    var output: String?

    @Option(name: .customLong("max-events"), parsing: .unconditional, help: ArgumentHelp("--format svg: events drawn per queue at most (1 or more).", valueName: "n"))
    var maxEvents: Int = 2000

    @Option(name: .customLong("max-findings"), parsing: .unconditional, help: ArgumentHelp("--format svg without --from/--to: draw around the first n findings of the selected queues (1 or more; the others are counted).", valueName: "n"))
    var maxFindings: Int = 60

    /// `12.5`, `-5.2` → nanoseconds; nil when not a number of seconds.
    static func seconds(_ text: String) -> Int64? {
        // `#N`: an event's position in an input without timestamps, as the report prints it
        // (its events' times are their ordinals).
        if text.hasPrefix("#") {
            guard let n = Int64(text.dropFirst()), n >= 0 else { return nil }
            return n
        }
        if text.hasPrefix("-") {
            return parseScaledDecimal(Substring(text.dropFirst()), scale: 1_000_000_000).map { -$0 }
        }
        return parseScaledDecimal(Substring(text), scale: 1_000_000_000)
    }

    func validate() throws {
        try flags.requirePaths("shadowbell timeline SampleTraces/lab/sq-hang.txt --queue sq1")
        if let from, Self.seconds(from) == nil {
            throw ValidationError("--from expects seconds, e.g. 12.5, or #N, an event's position in an input without timestamps as the report prints it (got '\(from)')")
        }
        if let to, Self.seconds(to) == nil {
            throw ValidationError("--to expects seconds, e.g. 12.6, or #N (got '\(to)')")
        }
        if maxEvents < 1 { throw ValidationError("--max-events \(maxEvents): give 1 or more (the events drawn per queue at most)") }
        if maxFindings < 1 { throw ValidationError("--max-findings \(maxFindings): give 1 or more (the findings drawn around at most)") }
        if let from, let to, from.hasPrefix("#") != to.hasPrefix("#") {
            throw ValidationError("--from \(from) and --to \(to) mix a position (#N, in an input without timestamps) with seconds: give both in one form")
        }
        if let from, let to, let lower = Self.seconds(from), let upper = Self.seconds(to), lower > upper {
            throw ValidationError("--from \(from) is after --to \(to): the range is empty")
        }
    }

    func run() throws {
        let lower = from.flatMap(Self.seconds) ?? Int64.min
        let upper = to.flatMap(Self.seconds) ?? Int64.max
        let ranged = from != nil || to != nil
        // A run folder or a folder's files stand for one run, notes skipped (as in `report`).
        let run = try RunPlanner.oneRun(flags.paths, command: "timeline", quiet: flags.quiet)
        try flags.requireClockOffsetsUsed(by: [run])
        try refuseOutputs([("--output", output)], overInputs: run.paths, notes: run.skipped.map(\.path))
        let paths = run.paths
        let options = flags.options(for: paths, notes: run.skipped.map(\.path))
        let sink = TimelineWriter(format: format, paths: paths, output: output)
        sink.maxEvents = maxEvents
        sink.ranged = ranged
        let selectors = queues
        let inputs: [AnalysisInput]
        do throws(InputError) {
            // Files are read twice (below): the second analysis reads their decoded events back.
            inputs = try flags.inputs(for: paths, readsTwice: paths.allSatisfy(isRegularFile))
        } catch {
            printError("error: \(error.description)")
            throw ExitCode(2)
        }
        var status: Int32 = 0
        var skipsNoted = false
        func analyse(_ options: AnalysisOptions, _ observer: ((Event, QueueSnapshot) -> Void)?) -> AnalysisResult {
            switch Result(catching: { () throws(AnalysisFailure) -> AnalysisResult in
                try AnalysisSession.run(inputs: inputs, options: options, observer: observer)
            }) {
            case .success(let r):
                return r
            case .failure(let failure):
                // As in `analyze`: among several files, one without any event is a note.
                let (errors, partial, skipped) = withoutEmptyInputs(failure, paths: paths)
                if !skipsNoted && !flags.quiet { for s in skipped { printError("note: skipped \(s.path): \(s.reason)") } }
                skipsNoted = true
                if errors.isEmpty { return partial }
                if status == 0 { for e in errors { printError("error: \(e.description)") } }
                status = 2
                sink.inputFailed = true
                return partial
            }
        }
        let selected: (QueueKey) -> Bool = { key in selectors.isEmpty || selectors.contains { $0.matches(key) } }
        let observer: (Event, QueueSnapshot) -> Void = { event, state in
            guard event.time >= lower, event.time <= upper, selected(state.key) else { return }
            sink.row(event, state)
        }
        // Files are analysed first, so that rows and pictures know the findings; standard
        // input and pipes are read once, and their rows only know that a window is open. An
        // SVG's samples need no finding: they are taken in the first analysis, and used unless
        // findings are drawn instead (then they are dropped, and the findings' windows are
        // recorded in a second analysis).
        var known: AnalysisResult?
        var sampled = false
        if paths.allSatisfy(isRegularFile) {
            sampled = format == .svg
            var sampling = options
            // Without a range, each queue's first events are drawn and the rest counted: the
            // analysis shows no more than that (when findings are drawn instead, it showed
            // little for nothing).
            if sampled, !ranged, maxEvents > 0 { sampling.observedEventsPerQueue = maxEvents }
            known = analyse(sampling, sampled ? observer : nil)
            if !flags.quiet, let known { for s in known.setAside { printError("note: \(s): its events are not drawn") } }
            if sampled, !ranged, maxEvents > 0, let known { sink.countUnshown(known, selected: selected) }
        }
        if let known {
            sink.units = Dictionary(known.inputs.map { ($0.index, $0.locationUnit) }, uniquingKeysWith: { a, _ in a })
            sink.untimed = Set(known.inputs.filter { $0.clock == .orderOnly || $0.clock == .counter }.map(\.index))
            sink.findings = Self.hangWindows(known, selected: selected)
            sink.poorlyAligned = known.alignment.flatMap(\.poorStretches)
            if format == .svg, !ranged {
                // The first --max-findings: a run of thousands of hangs drew every one in one
                // chart (a 4 GB run's: 25,631 windows, the drawing 1.6 times the analysis).
                let all = Self.findingsToDraw(known, selected: selected)
                let chosen = Array(all.prefix(maxFindings))
                if all.count > chosen.count {
                    sink.notDrawn = "\(all.count - chosen.count) more finding(s) on these queues are not drawn (the first \(chosen.count) are: --max-findings); draw others with --from/--to"
                    if !flags.quiet { printError("note: " + sink.notDrawn!) }
                }
                if !chosen.isEmpty {
                    sink.dropSVGSamples()
                    var recorder = WindowRecorder(result: known, findings: chosen)
                    // Queues asked for without a finding show their events in the findings' span.
                    let withFindings = Set(chosen.map { known.findings[$0].queue })
                    let span = Self.span(of: chosen.map { known.findings[$0] }, result: known)
                    // Only the queues drawn are shown to the observer.
                    var observed = recorder.queues
                    if !selectors.isEmpty { observed.formUnion(known.queues.map(\.key).filter(selected)) }
                    var drawing = options
                    drawing.observedQueues = observed
                    // The rows drawn lie in the findings' span, before the recorder is done.
                    recorder.stopsThePass(&drawing, result: known)
                    // The recorder (and the rows) take the events on a thread of their own.
                    let handOver = ObserverThread(observe: { [recorder] event, state in
                        recorder.observe(event, state)
                        guard !selectors.isEmpty, !withFindings.contains(state.key), selected(state.key),
                            event.time >= span.lowerBound, event.time <= span.upperBound
                        else { return }
                        sink.row(event, state)
                    }, domainStarts: { _ in })
                    _ = analyse(drawing, handOver.event)
                    handOver.finish()
                    if !recorder.isExact {
                        // A queue's time went back into a finished window: record again (the
                        // rows are written already), keeping every window to the end.
                        recorder = WindowRecorder(result: known, findings: chosen, retires: false)
                        var again = options
                        again.observedQueues = recorder.queues
                        let handOver = ObserverThread(observe: recorder.observe) { _ in }
                        _ = analyse(again, handOver.event)
                        handOver.finish()
                    }
                    sink.views = QueueView.merge(recorder.finish())
                    if (sink.views ?? []).allSatisfy({ $0.samples.isEmpty }) && sink.rows == 0 && status == 0 {
                        printError("error: " + Self.emptySelection(queues: selectors, from: from, to: to, result: known))
                        throw ExitCode(64)
                    }
                    try sink.finish()
                    if status != 0 { throw failed(status) }
                    return
                }
                sink.noFindingNote = true
            }
        }
        let result: AnalysisResult
        if sampled, let known { result = known } else { result = analyse(options, observer) }
        if known == nil {
            sink.findings = Self.hangWindows(result, selected: selected)
            sink.readOnce = true
        }
        if sink.rows == 0 && !sink.hasSVGSamples && status == 0 {
            printError("error: " + Self.emptySelection(queues: selectors, from: from, to: to, result: result))
            throw ExitCode(64)
        }
        try sink.finish()
        if status != 0 { throw failed(status) }
    }
}

extension Timeline {
    /// The exit status of a failed run; its output file, if any, is removed (no half-made
    /// timeline is left behind).
    func failed(_ status: Int32) -> ExitCode {
        if let output, output != "-" { unlink(output) }
        return ExitCode(status)
    }

    /// The windows of the hang findings (mutual waits, stalls) on the selected queues.
    static func hangWindows(_ result: AnalysisResult, selected: (QueueKey) -> Bool) -> [QueueKey: [ChartWindow]] {
        var out: [QueueKey: [ChartWindow]] = [:]
        for (i, f) in result.findings.enumerated() where ChartWindow.isHang(f) && selected(f.queue) {
            out[f.queue, default: []].append(ChartWindow.of(f, number: i + 1))
        }
        return out
    }

    /// From the first finding's start to the last one's end (an unresolved one: the end of
    /// the trace).
    static func span(of findings: [Finding], result: AnalysisResult) -> ClosedRange<Int64> {
        let last = result.groups.map(\.lastTime).max() ?? .max
        let lower = findings.map(\.start).min() ?? .min
        let upper = findings.map { $0.end ?? ($0.resolution == nil ? $0.start : last) }.max() ?? .max
        return lower...max(lower, upper)
    }

    /// What `--format svg` draws without a range: the hangs on the selected queues, else their
    /// other errors and warnings.
    static func findingsToDraw(_ result: AnalysisResult, selected: (QueueKey) -> Bool) -> [Int] {
        let onQueues = result.findings.indices.filter { selected(result.findings[$0].queue) }
        let hangs = onQueues.filter { ChartWindow.isHang(result.findings[$0]) }
        return hangs.isEmpty ? onQueues.filter { result.findings[$0].severity > .info } : hangs
    }
}

extension Timeline {
    /// Why a selection drew no row: a queue the inputs do not have, or a range without events.
    static func emptySelection(queues: [QueueSelector], from: String?, to: String?, result: AnalysisResult) -> String {
        let present = result.queues.map(\.key)
        let missing = queues.filter { q in !present.contains { q.matches($0) } }
        // Consoles alone hold the driver's messages, no queue's events.
        let consoles = Set(result.inputs.map(\.effectiveFormat)) == [.consoleLog]
        let consoleOnly =
            ": a console log holds the driver's timeout, abort and reset messages only (`shadowbell analyze` tells its findings); give the run's guest ftrace or QEMU log to see the queues"
        if !missing.isEmpty {
            let list = present.map(\.description).joined(separator: ", ")
            return "no queue \(missing.map { "\($0.controller.map { "nvme\($0):" } ?? "")\($0.type.name)\($0.qid)" }.joined(separator: ", ")) in the inputs; they have \(list.isEmpty ? "none" : list)"
                + (list.isEmpty && consoles ? consoleOnly : "")
        }
        let first = result.groups.map(\.firstTime).min(), last = result.groups.map(\.lastTime).max()
        // Inputs without timestamps are spanned by their events' positions, given as #N.
        let untimed = !result.groups.isEmpty && result.groups.allSatisfy { !$0.clock.measuresTime }
        let span = first.flatMap { f in
            last.map { untimed ? "the inputs have no timestamps and span events #\(f) … #\($0) (give positions as #N)" : "the inputs span \(formatSeconds(f)) … \(formatSeconds($0)) s" }
        } ?? "the inputs have no event"
        if queues.isEmpty, from == nil, to == nil {
            // Nothing selected and nothing drawn: the inputs hold no queue's events.
            return "the inputs hold no doorbell, command or controller event to draw" + (consoles ? consoleOnly : "") + "; \(span)"
        }
        let positions = [from, to].contains { $0?.hasPrefix("#") == true } && !untimed
            ? " (#N positions are for inputs without timestamps; these have times: give seconds)" : ""
        return "no event of the selected queues between \(from ?? "the start") and \(to ?? "the end")\(consoles ? consoleOnly : ""); \(span)\(positions)"
    }
}

/// Streams timeline rows; JSON is written as one array.
final class TimelineWriter {
    let format: TimelineFormat
    let paths: [String]
    let output: String?
    /// Each input's unit of place, once a first analysis told it (a line without one).
    var units: [UInt16: SourceLocation.Unit] = [:]
    /// Inputs without timestamps: their events' times are positions, written `#N` as the report
    /// writes them (and as --from/--to take them).
    var untimed: Set<UInt16> = []
    var text = ""
    var rows = 0

    init(format: TimelineFormat, paths: [String], output: String?) {
        self.format = format
        self.paths = paths
        self.output = output
        switch format {
        case .csv: text = "time_ns,location,queue,event,published,controller_seen,controller_eventidx,driver_eventidx_read,controller_index,controller_waiting,mmio_pending,unfetched,pending_completions,window_open,finding\n"
        case .json: text = "[\n"
        case .text, .svg: text = ""
        }
    }

    func opt(_ v: UInt32?) -> String { v.map(String.init) ?? "-" }

    /// `--format svg` with a range or without findings: each queue's first `maxEvents`
    /// samples, in the order the queues came; the queues past 16 are found through `svgIndex`.
    private var svgEntries: [TimelineSVGDocument.QueueSamples] = []
    private var svgIndex: [QueueKey: Int] = [:]
    var hasSVGSamples: Bool { !svgEntries.isEmpty }

    /// Counts as left out the events of each selected queue the analysis did not show
    /// (`AnalysisOptions.observedEventsPerQueue`): the first of them were drawn.
    func countUnshown(_ result: AnalysisResult, selected: (QueueKey) -> Bool) {
        for group in result.groups {
            for q in group.queues where q.observable > UInt64(maxEvents) && selected(q.key) {
                guard let i = svgEntry(of: q.key) else { continue }
                svgEntries[i].dropped += Int(q.observable - UInt64(maxEvents))
            }
        }
    }

    /// The entry of `key`'s samples: a few queues are compared in turn, more are looked up.
    @inline(__always)
    private func svgEntry(of key: QueueKey) -> Int? {
        if svgEntries.count <= 16 { return svgEntries.firstIndex { $0.queue == key } }
        return svgIndex[key]
    }

    /// Forgets the samples taken so far.
    func dropSVGSamples() {
        svgEntries = []
        svgIndex = [:]
    }
    var maxEvents = 2000
    /// A range was given (`--from`/`--to`).
    var ranged = false
    /// An input could not be read (said on standard error): no row is no sign that the
    /// selection matched nothing.
    var inputFailed = false
    /// What an SVG without a chart says.
    var emptySVG: String {
        inputFailed ? "nothing drawn: an input could not be read" : TimelineSVGDocument.noEventMatched
    }
    /// The hang findings' windows per queue; nil while unknown (an input read once).
    var findings: [QueueKey: [ChartWindow]]?
    /// Pictures around the findings (`--format svg` without a range).
    var views: [QueueView]?
    /// `--format svg` without a range found no finding to centre on.
    var noFindingNote = false
    /// The findings past --max-findings, said under the charts.
    var notDrawn: String?
    /// The rows were written before the findings were known (an input read once).
    var readOnce = false
    /// Where the clocks are poorly aligned (on the analysis clock): text rows there say so, as
    /// the findings opening or closing there do (the order of guest and controller rows there
    /// may be off by the offset's step).
    var poorlyAligned: [AlignmentReport.PoorStretch] = []
    /// The queues a controller event was shown of so far: before one, the controller's state
    /// is not known (a console or a guest trace alone printed `busy unfetched=16` on every row).
    var controllerShown: Set<QueueKey> = []

    /// The state name of a row: inside a reported hang's window, the finding; a window open
    /// outside every finding is a short wait (it closed before --min-wait).
    func state(_ e: Event, _ q: QueueSnapshot) -> (text: String, finding: Int?) {
        guard let findings else { return (q.inMutualWait ? "[window open]" : "", nil) }
        if let w = findings[q.key]?.first(where: { w in
            e.time >= w.start && (w.end.map { e.time < $0 || $0 == w.start && e.time == $0 } ?? true)
        }) {
            return ("[\(w.label.contains("mutual wait") ? "MUTUAL WAIT" : "STALL") #\(w.finding ?? 0)]", w.finding)
        }
        return (q.inMutualWait ? "[short wait]" : "", nil)
    }

    func row(_ e: Event, _ q: QueueSnapshot) {
        if format == .svg {
            // Every event of the range passes here: the queue's entry is found without hashing
            // (a few queues) and changed in place.
            let i: Int
            if let known = svgEntry(of: q.key) {
                i = known
            } else {
                svgEntries.append(TimelineSVGDocument.QueueSamples(queue: q.key, samples: [], dropped: 0))
                i = svgEntries.count - 1
                svgIndex[q.key] = i
            }
            if svgEntries[i].samples.count < maxEvents { svgEntries[i].samples.append(StateSample(e, q)) } else { svgEntries[i].dropped += 1 }
            return
        }
        // A binary input's place is a byte offset (`path@offset`), a text input's a line.
        let place = SourceLocation(source: e.source, unit: units[e.source] ?? .line, value: e.location)
        let location = Int(e.source) < paths.count ? place.render(path: paths[Int(e.source)]) : "\(e.location)"
        let open = q.inMutualWait
        let state = state(e, q)
        switch format {
        case .text:
            text += "\(untimed.contains(e.source) ? "#\(e.time)" : formatSeconds(e.time))  \(q.key)  \(describe(e))\n"
            // Unknown is `?`, as `explain` and `analyze` print it (CSV writes `-`, JSON null).
            func known(_ v: UInt32?) -> String { v.map(String.init) ?? "?" }
            text += "    P=\(known(q.published)) S=\(known(q.controllerSeen)) EI(ctrl)=\(known(q.controllerEventIdx)) EI(drv)=\(known(q.driverEventIdxRead)) "
            if e.kind.side == .controller { controllerShown.insert(q.key) }
            if controllerShown.contains(q.key) {
                text += "idx=\(known(q.controllerIndex)) \(q.controllerWaiting ? "waiting" : "busy")\(q.mmioSinceLook ? " mmio-pending" : "")"
                if q.key.type == .sq && !q.probeMode && q.unfetched > 0 { text += " unfetched=\(q.unfetched)" }
            } else {
                text += "controller ?"
            }
            if q.key.type == .cq && q.pendingCompletions > 0 { text += " pending=\(q.pendingCompletions)" }
            text += (state.text.isEmpty ? "" : "  " + state.text)
            if let s = poorlyAligned.first(where: { $0.isNear(e.time) }) {
                text += "  [clocks poorly aligned here: up to \(formatDuration(s.worst))]"
            }
            text += "   (\(location))\n"
        case .csv:
            let fields = [
                String(e.time), location, q.key.description, "\"\(describe(e))\"", opt(q.published), opt(q.controllerSeen),
                opt(q.controllerEventIdx), opt(q.driverEventIdxRead), opt(q.controllerIndex), q.controllerWaiting ? "1" : "0",
                q.mmioSinceLook ? "1" : "0", String(q.unfetched), String(q.pendingCompletions), open ? "1" : "0",
                state.finding.map(String.init) ?? "",
            ]
            text += fields.joined(separator: ",") + "\n"
        case .svg:
            break
        case .json:
            func n(_ v: UInt32?) -> JSONValue { v.map { .int(Int64($0)) } ?? .null }
            let obj: JSONValue = .object([
                ("time_ns", .int(e.time)), ("location", .string(location)), ("queue", .string(q.key.description)),
                ("event", .string(describe(e))), ("published", n(q.published)), ("controller_seen", n(q.controllerSeen)),
                ("controller_eventidx", n(q.controllerEventIdx)), ("driver_eventidx_read", n(q.driverEventIdxRead)),
                ("controller_index", n(q.controllerIndex)), ("controller_waiting", .bool(q.controllerWaiting)),
                ("mmio_pending", .bool(q.mmioSinceLook)), ("unfetched", .int(Int64(q.unfetched))),
                ("pending_completions", .int(Int64(q.pendingCompletions))), ("window_open", .bool(open)),
                ("finding", state.finding.map { .int(Int64($0)) } ?? .null),
            ])
            text += (rows > 0 ? ",\n  " : "  ") + obj.rendered(pretty: false)
        }
        rows += 1
        flushIfFull()
    }

    private var wroteAny = false

    func flush() {
        if output == nil || output == "-" {
            print(text, terminator: "")
        } else {
            appendToFile(text)
        }
        text = ""
    }

    /// Adds `chunk` to what is written, writing once a megabyte is waiting (an SVG of hundreds
    /// of charts is written as they are drawn, not held whole).
    func emit(_ chunk: String) {
        text += chunk
        flushIfFull()
    }

    private func flushIfFull() {
        if text.utf8.count > 1 << 20 { flush() }
    }

    /// Why the output file could not be written (the first failure), told by `finish`.
    private var writeFailure: String?

    func appendToFile(_ chunk: String) {
        guard let path = output, writeFailure == nil else { return }
        guard let f = fopen(path, wroteAny ? "a" : "w") else {
            writeFailure = String(cString: strerror(errno))
            return
        }
        var chunk = chunk
        let written = chunk.withUTF8 { fwrite($0.baseAddress, 1, $0.count, f) == $0.count }
        // A full disk may show only when the buffered rest is written out.
        if fclose(f) != 0 || !written { writeFailure = String(cString: strerror(errno)) }
        wroteAny = true
    }

    /// A write that failed is an error (exit 2), not a cut timeline with the findings' status.
    private func checkWritten() throws {
        guard let writeFailure, let output else { return }
        printError("error: cannot write \(output): \(writeFailure)")
        throw ExitCode(2)
    }

    func finish() throws {
        if format == .svg {
            if let views {
                var charts = views.map { v in ("\(v.queue): \(v.samples.count) event(s) \(v.findingsText)", v) }
                for q in svgEntries {
                    charts.append(TimelineSVGDocument.rangeChart(q, note: "no finding on this queue: its events while the findings last"))
                }
                charts.sort { $0.1.queue < $1.1.queue }
                self.views = nil
                TimelineSVGDocument.write(charts: charts, empty: emptySVG, leftOut: notDrawn, to: emit)
            } else {
                var queues = svgEntries.sorted { $0.queue < $1.queue }
                svgEntries = []
                for i in queues.indices {
                    queues[i].windows = findings?[queues[i].queue] ?? []
                }
                TimelineSVGDocument.write(queues, note: noFindingNote ? "no finding on these queues: the first events" : nil, ranged: ranged, empty: emptySVG, to: emit)
            }
            flush()
            try checkWritten()
            return
        }
        if format == .json { text += rows > 0 ? "\n]\n" : "]\n" }
        if format == .text && rows == 0 && !inputFailed { text += TimelineSVGDocument.noEventMatched + "\n" }
        if format == .text, readOnce, let findings, !findings.isEmpty {
            // The rows could not be marked: say where the hangs were.
            let windows = findings.flatMap { key, ws in ws.map { (key, $0) } }.sorted { ($0.1.finding ?? 0) < ($1.1.finding ?? 0) }
            text += "\nfindings on these queues (the input was read once, so the rows above are not marked with them):\n"
            for (key, w) in windows {
                text += "  \(w.label)  \(key)  \(formatSeconds(w.start)) → \(w.end.map(formatSeconds) ?? "end of trace")\n"
            }
        }
        flush()
        try checkWritten()
    }
}

#if canImport(Glibc)
    import Glibc
#endif
