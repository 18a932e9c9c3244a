import ShadowBellCore

/// Per-queue result across the whole input: statistics summed over clock domains.
public struct QueueReport: Sendable {
    public var key: QueueKey
    public var entries: UInt32
    public var probeMode: Bool
    public var stats: QueueStatistics
}

/// Everything one `analyze` run produced.
public struct AnalysisResult: Sendable {
    public var inputs: [InputSummary]
    public var groups: [GroupResult]
    public var queues: [QueueReport]
    public var findings: [Finding]
    public var suppressed: [SuppressedFindings]
    public var notes: [String]
    public var options: AnalysisOptions

    public var worstSeverity: Severity? { findings.map(\.severity).max() }
    public var errorCount: Int { findings.filter { $0.severity == .error }.count }
}

/// Runs the pipeline: sources → clock domains → time-ordered merge → queue state → detectors.
public enum AnalysisSession {
    /// Drains `sources` (already opened, indices 0..<n in order) and analyses them. Throws the
    /// first input error (an input that fails mid-read or holds no recognised event); every
    /// other input has been analysed by then, and `partial` receives that result.
    public static func run(
        sources: [any EventSource], options: AnalysisOptions = AnalysisOptions(),
        observer: ((Event, QueueState) -> Void)? = nil
    ) throws(AnalysisFailure) -> AnalysisResult {
        var errors: [InputError] = []
        var notes: [String] = []
        var groupsOfSources: [[Int]]
        if sources.isEmpty {
            groupsOfSources = []
        } else if options.sameClock || sources.count == 1 {
            groupsOfSources = [Array(sources.indices)]
        } else {
            groupsOfSources = sources.indices.map { [$0] }
            notes.append(
                "\(sources.count) inputs are separate clock domains; each was analysed on its own clock "
                    + "(use --same-clock if they share one). Finding times are on the clock of the input named by clock_input.")
        }
        var groups: [GroupResult] = []
        for members in groupsOfSources {
            let units = Dictionary(uniqueKeysWithValues: members.map { (UInt16($0), sources[$0].summary.locationUnit) })
            let clock: ClockKind = members.contains { sources[$0].summary.clock == .orderOnly } ? .orderOnly : .timestamps
            let analyzer = ClockGroupAnalyzer(
                options: options, sources: members.map { UInt16($0) }, clock: clock, locationUnits: units)
            analyzer.observer = observer
            do {
                try merge(members.map { sources[$0] }, into: analyzer)
            } catch {
                errors.append(error)
            }
            var result = analyzer.finish()
            let clockInput = UInt16(members[0])
            for i in result.findings.indices { result.findings[i].clockInput = clockInput }
            groups.append(result)
        }
        let inputs = sources.map(\.summary)
        for input in inputs where input.events == 0 && !errors.contains(where: { $0.path == input.path }) {
            errors.append(.noRecognisedEvents(path: input.path, format: input.format))
        }
        for input in inputs where input.clock == .orderOnly {
            notes.append("\(input.path): no timestamps; analysed for order only (durations and --min-wait do not apply).")
        }
        let result = combine(inputs: inputs, groups: groups, notes: notes, options: options)
        if !errors.isEmpty { throw AnalysisFailure(errors: errors, partial: result) }
        return result
    }

    /// Time-ordered merge of the sources of one clock domain; ties keep input order.
    static func merge(_ sources: [any EventSource], into analyzer: ClockGroupAnalyzer) throws(InputError) {
        if sources.count == 1 {
            var buffer: [Event] = []
            buffer.reserveCapacity(4096)
            while try sources[0].nextBatch(into: &buffer) {
                for e in buffer { analyzer.consume(e) }
            }
            return
        }
        var buffers = [[Event]](repeating: [], count: sources.count)
        var positions = [Int](repeating: 0, count: sources.count)
        var live = [Bool](repeating: true, count: sources.count)
        func refill(_ i: Int) throws(InputError) {
            positions[i] = 0
            while live[i] {
                if try !sources[i].nextBatch(into: &buffers[i]) {
                    live[i] = false
                    buffers[i].removeAll()
                } else if !buffers[i].isEmpty {
                    return
                }
            }
        }
        for i in sources.indices { try refill(i) }
        while true {
            var best = -1
            var bestTime = Int64.max
            for i in sources.indices where positions[i] < buffers[i].count {
                let t = buffers[i][positions[i]].time
                if t < bestTime {
                    bestTime = t
                    best = i
                }
            }
            if best < 0 { return }
            analyzer.consume(buffers[best][positions[best]])
            positions[best] += 1
            if positions[best] == buffers[best].count { try refill(best) }
        }
    }

    static func combine(inputs: [InputSummary], groups: [GroupResult], notes: [String], options: AnalysisOptions)
        -> AnalysisResult
    {
        var byKey: [QueueKey: QueueReport] = [:]
        for g in groups {
            for q in g.queues {
                var r = byKey[q.key] ?? QueueReport(key: q.key, entries: 0, probeMode: false, stats: QueueStatistics())
                r.stats += q.stats
                r.entries = max(r.entries, q.entries)
                r.probeMode = r.probeMode || q.probeMode
                byKey[q.key] = r
            }
        }
        let findings = groups.flatMap(\.findings).sorted {
            ($0.clockInput, $0.start, $0.queue, $0.kind.rawValue, $0.end ?? Int64.max)
                < ($1.clockInput, $1.start, $1.queue, $1.kind.rawValue, $1.end ?? Int64.max)
        }
        return AnalysisResult(
            inputs: inputs, groups: groups, queues: byKey.values.sorted { $0.key < $1.key },
            findings: findings, suppressed: groups.flatMap(\.suppressed), notes: notes, options: options)
    }
}

/// One or more inputs failed; `partial` holds the analysis of everything that could be read.
public struct AnalysisFailure: Error, Sendable {
    public var errors: [InputError]
    public var partial: AnalysisResult
}
