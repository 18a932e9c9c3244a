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
            pending, and whether a mutual-wait window is open.

            Examples:
              shadowbell timeline SampleTraces/lab/sq-hang.txt --queue sq1
              shadowbell timeline trace.txt --queue cq2 --from 12.5 --to 12.6 --format csv
              shadowbell timeline trace.txt --queue sq1 --format svg -o sq1.svg

            --format svg draws one chart per queue (P, S, both EventIdx, MMIO doorbells, waits, \
            open windows shaded); at most --max-events events per queue are drawn.
            """
    )

    @OptionGroup var flags: AnalysisFlags

    @Option(name: .customLong("queue"), help: ArgumentHelp("Only these queues (sq1, cq2, nvme1:sq3); repeatable.", valueName: "queue"))
    var queues: [QueueSelector] = []

    @Option(help: ArgumentHelp("Start of the range, in seconds on the analysis clock (e.g. 5123.4).", valueName: "seconds"))
    var from: String?

    @Option(help: ArgumentHelp("End of the range, in seconds on the analysis clock.", valueName: "seconds"))
    var to: String?

    @Option(help: "Output format.")
    var format: TimelineFormat = .text

    @Option(name: .shortAndLong, help: ArgumentHelp("Write here instead of standard output.", valueName: "file"))
    var output: String?

    @Option(name: .customLong("max-events"), help: ArgumentHelp("--format svg: events drawn per queue at most.", valueName: "n"))
    var maxEvents: Int = 2000

    func validate() throws {
        try flags.requirePaths("shadowbell timeline SampleTraces/lab/sq-hang.txt --queue sq1")
        if let from, parseScaledDecimal(Substring(from), scale: 1_000_000_000) == nil {
            throw ValidationError("--from expects seconds, e.g. 12.5 (got '\(from)')")
        }
        if let to, parseScaledDecimal(Substring(to), scale: 1_000_000_000) == nil {
            throw ValidationError("--to expects seconds, e.g. 12.6 (got '\(to)')")
        }
        if let from, let to, let lower = parseScaledDecimal(Substring(from), scale: 1_000_000_000),
            let upper = parseScaledDecimal(Substring(to), scale: 1_000_000_000), lower > upper
        {
            throw ValidationError("--from \(from) is after --to \(to): the range is empty")
        }
    }

    func run() throws {
        let lower = from.flatMap { parseScaledDecimal(Substring($0), scale: 1_000_000_000) } ?? Int64.min
        let upper = to.flatMap { parseScaledDecimal(Substring($0), scale: 1_000_000_000) } ?? Int64.max
        let paths = flags.paths
        let sink = TimelineWriter(format: format, paths: paths, output: output)
        sink.maxEvents = maxEvents
        let selectors = queues
        let observer: (Event, QueueState) -> Void = { event, state in
            guard event.time >= lower, event.time <= upper else { return }
            guard selectors.isEmpty || selectors.contains(where: { $0.matches(state.key) }) else { return }
            sink.row(event, state)
        }
        var status: Int32 = 0
        let inputs: [AnalysisInput]
        do throws(InputError) {
            inputs = try flags.inputs()
        } catch {
            printError("error: \(error.description)")
            throw ExitCode(2)
        }
        let result: AnalysisResult
        switch Result(catching: { () throws(AnalysisFailure) -> AnalysisResult in
            try AnalysisSession.run(inputs: inputs, options: flags.options, observer: observer)
        }) {
        case .success(let r):
            result = r
        case .failure(let error):
            for e in error.errors { printError("error: \(e.description)") }
            status = 2
            result = error.partial
        }
        if sink.rows == 0 && sink.svgQueues.isEmpty && status == 0 {
            printError("error: " + Self.emptySelection(queues: selectors, from: from, to: to, result: result))
            throw ExitCode(64)
        }
        try sink.finish()
        if status != 0 { throw ExitCode(status) }
    }
}

extension Timeline {
    /// Why a selection drew no row: a queue the inputs do not have, or a range without events.
    static func emptySelection(queues: [QueueSelector], from: String?, to: String?, result: AnalysisResult) -> String {
        let present = result.queues.map(\.key)
        let missing = queues.filter { q in !present.contains { q.matches($0) } }
        if !missing.isEmpty {
            let list = present.map(\.description).joined(separator: ", ")
            return "no queue \(missing.map { "\($0.controller.map { "nvme\($0):" } ?? "")\($0.type.name)\($0.qid)" }.joined(separator: ", ")) in the inputs; they have \(list.isEmpty ? "none" : list)"
        }
        let first = result.groups.map(\.firstTime).min(), last = result.groups.map(\.lastTime).max()
        let span = first.flatMap { f in last.map { "the inputs span \(formatSeconds(f)) … \(formatSeconds($0)) s" } } ?? "the inputs have no event"
        return "no event of the selected queues between \(from ?? "the start") and \(to ?? "the end"); \(span)"
    }
}

/// Streams timeline rows; JSON is written as one array.
final class TimelineWriter {
    let format: TimelineFormat
    let paths: [String]
    let output: String?
    var text = ""
    var rows = 0

    init(format: TimelineFormat, paths: [String], output: String?) {
        self.format = format
        self.paths = paths
        self.output = output
        switch format {
        case .csv: text = "time_ns,location,queue,event,published,controller_seen,controller_eventidx,driver_eventidx_read,controller_index,controller_waiting,mmio_pending,unfetched,pending_completions,window_open\n"
        case .json: text = "[\n"
        case .text, .svg: text = ""
        }
    }

    func opt(_ v: UInt32?) -> String { v.map(String.init) ?? "-" }

    var svgQueues: [QueueKey: TimelineSVGDocument.QueueSamples] = [:]
    var maxEvents = 2000

    func row(_ e: Event, _ q: QueueState) {
        if format == .svg {
            var entry = svgQueues[q.key] ?? TimelineSVGDocument.QueueSamples(queue: q.key, samples: [], dropped: 0)
            if entry.samples.count < maxEvents { entry.samples.append(StateSample(e, q)) } else { entry.dropped += 1 }
            svgQueues[q.key] = entry
            return
        }
        let location = Int(e.source) < paths.count ? "\(paths[Int(e.source)]):\(e.location)" : "\(e.location)"
        let open = q.inMutualWait
        switch format {
        case .text:
            text += "\(formatSeconds(e.time))  \(q.key)  \(describe(e))\n"
            text += "    P=\(opt(q.published)) S=\(opt(q.controllerSeen)) EI(ctrl)=\(opt(q.controllerEventIdx)) EI(drv)=\(opt(q.driverEventIdxRead)) "
            text += "idx=\(opt(q.controllerIndex)) \(q.controllerWaiting ? "waiting" : "busy")\(q.mmioSinceLook ? " mmio-pending" : "")"
            if q.key.type == .sq && !q.probeMode && q.unfetched > 0 { text += " unfetched=\(q.unfetched)" }
            if q.key.type == .cq && q.pendingCompletions > 0 { text += " pending=\(q.pendingCompletions)" }
            text += open ? "  [MUTUAL WAIT]\n" : "   (\(location))\n"
        case .csv:
            let fields = [
                String(e.time), location, q.key.description, "\"\(describe(e))\"", opt(q.published), opt(q.controllerSeen),
                opt(q.controllerEventIdx), opt(q.driverEventIdxRead), opt(q.controllerIndex), q.controllerWaiting ? "1" : "0",
                q.mmioSinceLook ? "1" : "0", String(q.unfetched), String(q.pendingCompletions), open ? "1" : "0",
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
            ])
            text += (rows > 0 ? ",\n  " : "  ") + obj.rendered(pretty: false)
        }
        rows += 1
        if text.utf8.count > 1 << 20 { flush() }
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

    func appendToFile(_ chunk: String) {
        guard let path = output else { return }
        if let f = fopen(path, wroteAny ? "a" : "w") {
            var bytes = Array(chunk.utf8)
            fwrite(&bytes, 1, bytes.count, f)
            fclose(f)
        }
        wroteAny = true
    }

    func finish() throws {
        if format == .svg {
            text = TimelineSVGDocument.render(svgQueues.values.sorted { $0.queue < $1.queue }.map { $0 })
            flush()
            return
        }
        if format == .json { text += rows > 0 ? "\n]\n" : "]\n" }
        if format == .text && rows == 0 { text += "no event matched the selected queues and time range\n" }
        flush()
    }
}

#if canImport(Glibc)
    import Glibc
#endif
