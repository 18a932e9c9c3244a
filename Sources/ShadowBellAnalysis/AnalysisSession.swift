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
    /// How each input was placed on the reference clock (empty for single-clock runs).
    public var alignment: [AlignmentReport] = []

    public var worstSeverity: Severity? { findings.map(\.severity).max() }
    public var errorCount: Int { findings.filter { $0.severity == .error }.count }
}

/// One input to analyse: its path and a way to open it (again, for a second pass).
public struct AnalysisInput: Sendable {
    public var path: String
    /// Whether `open` can be called more than once (false for standard input).
    public var reopenable: Bool
    public var open: @Sendable () throws(InputError) -> any EventSource

    public init(path: String, reopenable: Bool = true, open: @escaping @Sendable () throws(InputError) -> any EventSource) {
        self.path = path
        self.reopenable = reopenable
        self.open = open
    }
}

/// Runs the pipeline: sources → clock domains → time-ordered merge → queue state → detectors.
public enum AnalysisSession {
    /// Analyses already opened sources in one pass: one clock domain per source, or one for
    /// all with `options.sameClock`. Throws when an input fails mid-read or holds no recognised
    /// event; every other input has been analysed by then, and `partial` holds that result.
    public static func run(
        sources: [any EventSource], options: AnalysisOptions = AnalysisOptions(),
        observer: ((Event, QueueState) -> Void)? = nil
    ) throws(AnalysisFailure) -> AnalysisResult {
        var notes: [String] = []
        let domains: [[Int]]
        if sources.isEmpty {
            domains = []
        } else if options.sameClock || sources.count == 1 {
            domains = [Array(sources.indices)]
        } else {
            domains = sources.indices.map { [$0] }
            notes.append(separateDomainsNote(sources.count))
        }
        let placed = sources.enumerated().map { (index: $0.offset, source: $0.element, clock: ClockMap.identity) }
        return try analyze(placed: placed, domains: domains, alignment: [], notes: notes, errors: [], options: options, observer: observer)
    }

    /// Analyses `inputs`, putting several on one time axis when their events allow: a first
    /// pass collects causal pairs (guest submission → controller fetch, controller completion →
    /// guest completion), a second pass merges the inputs on the first input's clock. Inputs that
    /// cannot be placed are analysed on their own clock, and the report says so.
    public static func run(
        inputs: [AnalysisInput], options: AnalysisOptions = AnalysisOptions(),
        observer: ((Event, QueueState) -> Void)? = nil
    ) throws(AnalysisFailure) -> AnalysisResult {
        var errors: [InputError] = []
        var notes: [String] = []
        guard inputs.count > 1, !options.sameClock else {
            var sources: [any EventSource] = []
            var opened: [Int] = []
            for (i, input) in inputs.enumerated() {
                do { sources.append(try input.open()); opened.append(i) } catch { errors.append(error) }
            }
            let placed = zip(opened, sources).map { (index: $0.0, source: $0.1, clock: ClockMap.identity) }
            let domains = sources.isEmpty ? [] : [Array(placed.indices)]
            return try analyze(placed: placed, domains: domains, alignment: [], notes: notes, errors: errors, options: options, observer: observer)
        }

        // Pass 1: anchors and what each input is.
        var anchors: [AnchorSet?] = Array(repeating: nil, count: inputs.count)
        var formats: [TraceFormat?] = Array(repeating: nil, count: inputs.count)
        var firstSources: [(any EventSource)?] = Array(repeating: nil, count: inputs.count)
        for (i, input) in inputs.enumerated() {
            do {
                let source = try input.open()
                formats[i] = source.summary.format
                if !input.reopenable || options.clockOffsets[i] != nil {
                    firstSources[i] = source
                    continue
                }
                var set = AnchorSet(capacity: 1 << 16)
                var buffer: [Event] = []
                while try source.nextBatch(into: &buffer) {
                    for e in buffer { set.consume(e) }
                }
                // Ordinals are no clock: such an input is analysed on its own.
                if source.summary.clock == .timestamps { anchors[i] = set }
            } catch {
                errors.append(error)
            }
        }
        let alive = inputs.indices.filter { formats[$0] != nil }
        guard let reference = alive.first else {
            return try analyze(placed: [], domains: [], alignment: [], notes: notes, errors: errors, options: options, observer: observer)
        }

        // Placement on the reference clock.
        var maps: [Int: ClockMap] = [reference: .identity]
        var reports: [Int: AlignmentReport] = [reference: AlignmentReport(input: UInt16(reference), method: .reference)]
        for i in alive where i != reference {
            if let offset = options.clockOffsets[i] {
                maps[i] = ClockMap(constant: offset)
                var r = AlignmentReport(input: UInt16(i), method: .manual)
                r.offset = offset
                reports[i] = r
            }
        }
        var progress = true
        while progress {
            progress = false
            for i in alive where maps[i] == nil {
                guard let mine = anchors[i] else { continue }
                for j in alive where maps[j] != nil && j != i {
                    guard let theirs = anchors[j] else { continue }
                    var placedMap: ClockMap?
                    var report: AlignmentReport?
                    if mine.isGuestSide && theirs.isHostSide, let est = ClockAlignment.estimate(guest: mine, host: theirs) {
                        placedMap = maps[j]!.composed(after: est.map)
                        report = est.report
                    } else if mine.isHostSide && theirs.isGuestSide, let est = ClockAlignment.estimate(guest: theirs, host: mine) {
                        placedMap = maps[j]!.composed(after: est.map.inverse)
                        report = est.report
                        report!.offset = -report!.offset
                        report!.driftPPM = -report!.driftPPM
                    }
                    if let placedMap, var report {
                        report.input = UInt16(i)
                        report.note = "aligned to \(inputs[j].path) from \(report.pairs) causal pairs"
                        maps[i] = placedMap
                        reports[i] = report
                        progress = true
                        break
                    }
                }
            }
        }
        // A guest console log shares the guest kernel's clock (seconds since boot).
        for i in alive where maps[i] == nil && formats[i] == .consoleLog {
            if let guest = alive.first(where: { maps[$0] != nil && anchors[$0]?.isGuestSide == true }) {
                maps[i] = maps[guest]
                var r = AlignmentReport(input: UInt16(i), method: .sameClock)
                r.note = "guest kernel log: same clock as \(inputs[guest].path)"
                reports[i] = r
            }
        }
        for i in alive where maps[i] == nil {
            var r = AlignmentReport(input: UInt16(i), method: .none)
            if !inputs[i].reopenable {
                r.note = "not aligned: it can be read only once; give --clock-offset or --same-clock"
            } else if anchors[i] == nil {
                r.note = "not aligned: it has no timestamps; analysed on its own, for order only"
            } else {
                r.note = "not aligned: no causal pair with the other inputs; analysed on its own clock"
            }
            reports[i] = r
            notes.append("\(inputs[i].path): \(r.note)")
        }

        // Pass 2: every input again, on its clock.
        var placed: [(index: Int, source: any EventSource, clock: ClockMap)] = []
        for i in alive {
            do throws(InputError) {
                let source: any EventSource
                if let first = firstSources[i] { source = first } else { source = try inputs[i].open() }
                placed.append((i, source, maps[i] ?? .identity))
            } catch {
                errors.append(error)
            }
        }
        let together = placed.indices.filter { maps[placed[$0].index] != nil }
        var domains = together.isEmpty ? [] : [together]
        domains += placed.indices.filter { maps[placed[$0].index] == nil }.map { [$0] }
        let alignment = alive.compactMap { reports[$0] }
        return try analyze(placed: placed, domains: domains, alignment: alignment, notes: notes, errors: errors, options: options, observer: observer)
    }

    static func separateDomainsNote(_ n: Int) -> String {
        "\(n) inputs are separate clock domains; each was analysed on its own clock "
            + "(use --same-clock if they share one). Finding times are on the clock of the input named by clock_input."
    }

    /// Merges each domain's sources by time into one analyzer and combines the results.
    static func analyze(
        placed: [(index: Int, source: any EventSource, clock: ClockMap)], domains: [[Int]],
        alignment: [AlignmentReport], notes: [String], errors: [InputError], options: AnalysisOptions,
        observer: ((Event, QueueState) -> Void)?
    ) throws(AnalysisFailure) -> AnalysisResult {
        var errors = errors
        var notes = notes
        var groups: [GroupResult] = []
        for members in domains {
            let units = Dictionary(uniqueKeysWithValues: members.map { (UInt16(placed[$0].index), placed[$0].source.summary.locationUnit) })
            let clock: ClockKind = members.contains { placed[$0].source.summary.clock == .orderOnly } ? .orderOnly : .timestamps
            let uncertainty = alignment.filter { r in members.contains { placed[$0].index == Int(r.input) } }.map(\.uncertainty).max() ?? 0
            let analyzer = ClockGroupAnalyzer(
                options: options, sources: members.map { UInt16(placed[$0].index) }, clock: clock, locationUnits: units)
            analyzer.alignmentUncertainty = members.count > 1 && !options.sameClock ? uncertainty : nil
            analyzer.observer = observer
            let sources: [any EventSource] = members.map {
                placed[$0].clock.isIdentity ? placed[$0].source : MappedEventSource(placed[$0].source, clock: placed[$0].clock)
            }
            do {
                try merge(sources, into: analyzer)
            } catch {
                errors.append(error)
            }
            var result = analyzer.finish()
            let clockInput = UInt16(placed[members[0]].index)
            for i in result.findings.indices { result.findings[i].clockInput = clockInput }
            groups.append(result)
        }
        let inputs = placed.map(\.source.summary)
        for input in inputs where input.events == 0 && !errors.contains(where: { $0.path == input.path }) {
            errors.append(.noRecognisedEvents(path: input.path, format: input.format))
        }
        for input in inputs where input.clock == .orderOnly {
            notes.append("\(input.path): no timestamps; analysed for order only (durations and --min-wait do not apply).")
        }
        var result = combine(inputs: inputs, groups: groups, notes: notes, options: options)
        result.alignment = alignment
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

    public static func combine(inputs: [InputSummary], groups: [GroupResult], notes: [String], options: AnalysisOptions)
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
