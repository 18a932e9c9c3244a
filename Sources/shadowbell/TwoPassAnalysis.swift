import ArgumentParser
import FoundationEssentials
#if canImport(Glibc)
    import Glibc
#endif
import ShadowBellAnalysis
import ShadowBellCore
import ShadowBellFormats
import ShadowBellReport

/// The analysis of the command line's inputs, and a second pass that records the state of the
/// findings' queues around their windows (`report`, `explain`). Memory stays bounded: only a
/// few hundred samples per finding are kept.
struct TwoPassAnalysis {
    var report: AnalysisReport
    var timelines: [FindingTimeline]
    /// The inputs analysed (a directory stands for its traces).
    var paths: [String]
    /// The text of the input lines asked for by `quoting` (evidence lines).
    var inputLines: [SourceLocation: String] = [:]

    /// - Parameter findings: which findings to record (indices in report order); nil = the first `limit`.
    /// - Parameter choose: picks the findings from the first pass's report instead (and may
    ///   refuse, throwing), so that a command that needs the findings to know what to record
    ///   still reads its inputs once.
    /// - Parameter quoting: the input lines to quote (`inputLines`), given the first pass's
    ///   report; they are read from the inputs on a thread of their own beside the second pass.
    static func run(
        flags: AnalysisFlags, command: String, findings: [Int]? = nil, limit: Int = 60, quietNotes: Bool = false,
        limits: (leadIn: Int, insideHead: Int, insideTail: Int, after: Int) = (16, 120, 40, 6),
        writing outputs: [(flag: String, path: String?)] = [],
        choose: ((AnalysisReport) throws -> [Int])? = nil, quoting: ((AnalysisReport) -> [SourceLocation])? = nil
    ) throws -> TwoPassAnalysis {
        var flags = flags
        var notes: [String] = []
        // A folder or a folder's files stand for one run (notes skipped); a file named alone
        // that is notes is an input error.
        let run = try RunPlanner.oneRun(flags.paths, command: command, quiet: flags.quiet || quietNotes)
        try flags.requireClockOffsetsUsed(by: [run])
        try refuseOutputs(outputs, overInputs: run.paths, notes: run.skipped.map(\.path))
        flags.paths = run.paths
        notes = run.skipped.map(\.path)
        guard let (inputs, report) = firstPass(flags, notes: notes) else { throw ExitCode(2) }
        // An input left out of the analysis is said where the output may not say it.
        if !flags.quiet { for s in report.result.setAside { printError("note: \(s); the notes say more") } }
        let chosen = try choose?(report) ?? findings ?? Array(report.result.findings.indices.prefix(limit))
        let quote = { quoting.map { readInputLines($0(report), report: report) } ?? [:] }
        guard !chosen.isEmpty else { return TwoPassAnalysis(report: report, timelines: [], paths: flags.paths, inputLines: quote()) }
        func record(retires: Bool) -> WindowRecorder {
            let recorder = WindowRecorder(
                result: report.result, findings: chosen, leadIn: limits.leadIn, insideHead: limits.insideHead,
                insideTail: limits.insideTail, after: limits.after, retires: retires)
            var options = flags.options
            options.observedQueues = recorder.queues
            if retires { recorder.stopsThePass(&options, result: report.result) }
            // The recorder takes the events on a thread of its own (its copies of states cost a
            // quarter of the analysis's work on the analysis's thread).
            let handOver = ObserverThread(observe: recorder.observe) { _ in }
            _ = try? AnalysisSession.run(inputs: inputs, options: options, observer: handOver.event)
            handOver.finish()
            return recorder
        }
        var (recorder, lines) = inParallel({ record(retires: true) }, quote)
        // A queue's time went back into a finished window: record again, keeping every window.
        if !recorder.isExact { recorder = record(retires: false) }
        return TwoPassAnalysis(report: report, timelines: recorder.finish(), paths: flags.paths, inputLines: lines)
    }
}

/// The command line's inputs (for a second pass: standard input and pipes are read from a copy,
/// `InputSpool`) and their analysis report; input errors are printed and kept in the report.
/// Nil (after saying why) when an input cannot be opened.
func firstPass(
    _ flags: AnalysisFlags, notes: [String] = [], readsTwice: Bool = true, observer: ((Event, QueueSnapshot) -> Void)? = nil,
    domainStarts: ((DomainStart) -> Void)? = nil
) -> (inputs: [AnalysisInput], report: AnalysisReport)? {
    do {
        let (inputs, outcome) = try flags.analyzeInputs(
            flags.paths, readsTwice: readsTwice, notes: notes, observer: observer, domainStarts: domainStarts)
        switch outcome {
        case .success(let result):
            return (inputs, AnalysisReport(result: result))
        case .failure(let error):
            // As in `analyze`: among several files, one that decodes to no event is a note
            // when another has events.
            let (errors, partial, skipped) = withoutEmptyInputs(error, paths: flags.paths)
            if !flags.quiet { for s in skipped { printError("note: skipped \(s.path): \(s.reason)") } }
            for e in errors { printError("error: \(e.description)") }
            return (inputs, errors.isEmpty ? AnalysisReport(result: partial) : AnalysisReport(result: partial, inputErrors: errors))
        }
    } catch {
        printError("error: \(error.description)")
        return nil
    }
}

/// The text of the given lines of the inputs (line-located evidence): a mapped file entered at
/// the line mark its decoding left before each line (`InputSummary.lineMarks`); a compressed
/// file decompressed, and read in order up to the last line wanted; an input that could be
/// read only once from its copy (`InputSpool`). Lines longer than `maxLength` are cut.
func readInputLines(_ locations: [SourceLocation], report: AnalysisReport, maxLength: Int = 500) -> [SourceLocation: String] {
    var out: [SourceLocation: String] = [:]
    let bySource = Dictionary(grouping: locations.filter { $0.unit == .line }, by: \.source)
    for (source, wanted) in bySource {
        let path = report.path(of: source)
        let file = InputSpool.shared.existingCopy(of: path) ?? path
        guard file != "-", let input = try? ByteInput(path: file) else { continue }
        // Line numbers only grow: the next one wanted is compared, not looked up.
        let lines = Array(Set(wanted.map(\.value))).sorted()
        guard let last = lines.last else { continue }
        func keep(_ number: UInt64, _ bytes: UnsafeRawBufferPointer) {
            var text = QuotedLine.text(of: bytes)
            if text.count > maxLength { text = String(text.prefix(maxLength)) + "…" }
            out[SourceLocation(source: source, unit: .line, value: number)] = text
        }
        // A file read from its mapping is entered at the line mark the first pass left nearest
        // before each line (a hang's evidence near the end of a gigabyte log was read from its
        // first byte).
        let marks = report.result.inputs.first { $0.index == source }?.lineMarks ?? []
        if input.lines(lines, marks: marks, keep) { continue }
        var next = 0
        let framer = LineFramer()
        func take(_ line: FramedLine) {
            while next < lines.count, lines[next] < line.number { next += 1 }
            guard next < lines.count, lines[next] == line.number else { return }
            keep(line.number, line.bytes)
        }
        reading: while let chunk = try? input.nextChunk() {
            framer.feed(chunk)
            while let line = framer.nextLine() {
                take(line)
                if line.number >= last { break reading }
            }
        }
        if framer.lineNumber < last, let line = framer.finish() { take(line) }
    }
    return out
}

/// Every evidence location of the findings.
func evidenceLocations(_ findings: [Finding]) -> [SourceLocation] {
    findings.flatMap { $0.evidence.map(\.location) }
}

extension WindowRecorder {
    /// Lets the pass it records stop once every finding is behind it: no later event can come
    /// back into a window by more than an input of `result` steps back in time or its clock
    /// map's offset steps (`margin`: twice that, at least a second).
    func stopsThePass(_ options: inout AnalysisOptions, result: AnalysisResult) {
        let stepsBack = result.inputs.compactMap { $0.largestStepBack?.by }.max() ?? 0
        let offsetSteps = result.alignment.flatMap(\.poorStretches).map(\.worst).max() ?? 0
        let (sum, overflow) = stepsBack.addingReportingOverflow(offsetSteps)
        guard !overflow, sum >= 0, sum < Int64.max / 4 else { return }
        margin = max(1_000_000_000, 2 * sum)
        options.observationEnd = end
    }
}
