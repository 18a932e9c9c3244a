import ShadowBellCore

/// Per-queue result across the whole input: statistics summed over clock domains.
public struct QueueReport: Sendable {
    public var key: QueueKey
    public var entries: UInt32
    public var probeMode: Bool
    public var stats: QueueStatistics
    /// The queue's mutual waits over the run (nil when it had none).
    public var hangs: HangSummary? = nil
}

/// How often and how long one queue hung: its mutual-wait findings.
public struct HangSummary: Sendable, Hashable {
    public var count: Int
    /// Sum of the windows' durations (unresolved ones up to the end of their input).
    public var totalNs: Int64
    /// Ids (report numbers) and start times of the first and last window.
    public var firstID: Int
    public var firstStart: Int64
    public var lastID: Int
    public var lastStart: Int64
    public var clockInput: UInt16
    /// Hangs of the queue told on another clock (an input that could not be placed on this
    /// one: often the same hangs, seen from its side), not counted above.
    public var onOtherClocks = 0
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
    /// Why "no error finding" is no verdict of health here: what the inputs leave undecided
    /// (a dump cut short, commands outstanding where a trace ends too soon, a queue the
    /// controller sleeps on at the end, completions left out, consoles alone), each in a few
    /// words; the notes tell more.
    public var undecided: [String] = []
    /// Inputs left out of the analysis, each in a few words with why: a controller's trace
    /// holding several controllers' events beside guest-side inputs that name each controller
    /// (the verdict is theirs); the notes tell more.
    public var setAside: [String] = []

    public var worstSeverity: Severity? { findings.map(\.severity).max() }
    public var errorCount: Int { findings.filter { $0.severity == .error }.count }
}

/// One input to analyse: its path and a way to open it (again, for a second pass).
public struct AnalysisInput: Sendable {
    public var path: String
    /// Whether `open` can be called more than once (false for standard input).
    public var reopenable: Bool
    public var open: @Sendable () throws(InputError) -> any EventSource
    /// Where the input's decoded events are kept for the passes after the first (nil: each
    /// pass decodes it again). A run of several inputs keeps them for its own second pass in
    /// any case; a caller that analyses the same inputs twice (`report`, `explain`) gives each
    /// input one, and the second analysis reads every input back from it.
    public var decoded: DecodedEvents?
    /// The format found when the input was looked at before it is read (nil: not known).
    public var format: TraceFormat?

    public init(
        path: String, reopenable: Bool = true, decoded: DecodedEvents? = nil, format: TraceFormat? = nil,
        open: @escaping @Sendable () throws(InputError) -> any EventSource
    ) {
        self.path = path
        self.reopenable = reopenable
        self.decoded = decoded
        self.format = format
        self.open = open
    }

    /// Which side's recording the input's format holds, for telling whether two inputs may be
    /// one recording in two forms: the guest's (ftrace text, trace.dat, a console, which may
    /// hold an ftrace dump), the controller's (QEMU log, simple trace); nil when it may hold
    /// either (a pcap) or is not known.
    var recordingSide: Int? {
        switch format {
        case .ftraceText?, .traceDat?, .consoleLog?: return 0
        case .qemuLog?, .qemuSimple?: return 1
        case .pcap?, nil: return nil
        }
    }

    /// The input's events: read back when they were kept whole, else opened and decoded (and
    /// kept, when there is a place for them).
    func events() throws(InputError) -> any EventSource {
        if let replay = decoded?.replay() { return replay }
        let source = try open()
        return decoded.map { $0.recording(source) } ?? source
    }
}

/// A clock domain of an analysis as its first event arrives, before the observer is shown any
/// of its events: a document written while the analysis runs (the Perfetto export) places
/// times by it.
public struct DomainStart: Sendable {
    /// The domain's position among the result's groups (`AnalysisResult.groups`).
    public var index: Int
    /// How many clock domains the analysis has.
    public var count: Int
    /// The domain's inputs, the one whose clock it is first.
    public var inputs: [InputSummary]
    /// The time of its first event on the analysis clock (`GroupResult.firstTime`).
    public var firstTime: Int64
    /// The inputs of the analysis that had already failed (in the first pass, or when opened):
    /// the analysis will end in an error.
    public var failedInputs: [String]

    public init(index: Int, count: Int, inputs: [InputSummary], firstTime: Int64, failedInputs: [String] = []) {
        self.index = index
        self.count = count
        self.inputs = inputs
        self.firstTime = firstTime
        self.failedInputs = failedInputs
    }
}

/// Runs the pipeline: sources → clock domains → time-ordered merge → queue state → detectors.
public enum AnalysisSession {
    /// One input of pass 2 on the reference clock: its map, and its kernel messages' map when
    /// they sit on another clock than its events (a console's ftrace dump placed by pairs).
    typealias Placement = (index: Int, source: any EventSource, clock: ClockMap, messageClock: ClockMap?)

    /// Analyses already opened sources in one pass: one clock domain per source, or one for
    /// all with `options.sameClock`. Throws when an input fails mid-read or holds no recognised
    /// event; every other input has been analysed by then, and `partial` holds that result.
    public static func run(
        sources: [any EventSource], options: AnalysisOptions = AnalysisOptions(),
        observer: ((Event, QueueSnapshot) -> Void)? = nil, domainStarts: ((DomainStart) -> Void)? = nil
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
        let placed = sources.enumerated().map { Placement(index: $0.offset, source: $0.element, clock: .identity, messageClock: nil) }
        return try analyze(placed: placed, domains: domains, alignment: [], notes: notes, errors: [], options: options, observer: observer, domainStarts: domainStarts)
    }

    /// Analyses `inputs`, putting several on one time axis when their events allow: a first
    /// pass collects causal pairs (guest submission → controller fetch, controller completion →
    /// guest completion), a second pass merges the inputs on the reference clock (chosen by
    /// `Standing`, a rule of content: never the order or the names of the inputs). Inputs that
    /// cannot be placed are analysed on their own clock, and the report says so.
    public static func run(
        inputs: [AnalysisInput], options: AnalysisOptions = AnalysisOptions(),
        observer: ((Event, QueueSnapshot) -> Void)? = nil, domainStarts: ((DomainStart) -> Void)? = nil
    ) throws(AnalysisFailure) -> AnalysisResult {
        var errors: [InputError] = []
        var notes: [String] = []
        // One input, or inputs on one clock (`--same-clock`) none of which can be another's
        // recording in another form (at most one of each side, no pcap): one pass.
        let sides = inputs.map(\.recordingSide)
        let noCopies = !sides.contains(nil) && Set(sides).count == sides.count
        guard inputs.count > 1, !(options.sameClock && noCopies) else {
            var sources: [any EventSource] = []
            var opened: [Int] = []
            for (i, input) in inputs.enumerated() {
                do { sources.append(try input.events()); opened.append(i) } catch { errors.append(error) }
            }
            let placed = zip(opened, sources).map { Placement(index: $0.0, source: $0.1, clock: .identity, messageClock: nil) }
            let domains = sources.isEmpty ? [] : [Array(placed.indices)]
            return try analyze(placed: placed, domains: domains, alignment: [], notes: notes, errors: errors, options: options, observer: observer, domainStarts: domainStarts)
        }

        // Pass 1: anchors and what each input is.
        var anchors: [AnchorSet?] = Array(repeating: nil, count: inputs.count)
        var summaries: [InputSummary?] = Array(repeating: nil, count: inputs.count)
        var firstTimes: [Int64] = Array(repeating: .max, count: inputs.count)
        var lastTimes: [Int64] = Array(repeating: .min, count: inputs.count)
        var firstSources: [(any EventSource)?] = Array(repeating: nil, count: inputs.count)
        // Whether each input holds several controllers' events it does not tell apart (an I/O
        // queue created twice), and whether it names the controllers of the guest's commands
        // (its submissions; a console's timeout messages hold no queue's events, and beside a
        // console alone nothing would be left to draw a queue from): whatever its clock.
        var createdTwice: [QueueCreatedTwice?] = Array(repeating: nil, count: inputs.count)
        var namesControllers = Array(repeating: false, count: inputs.count)
        // Each input's decoded events are kept for pass 2 (in the input's own place when it has
        // one, so that a later analysis of the same inputs reads them back too).
        let inputs = inputs.map { input in
            var input = input
            if input.reopenable, input.decoded == nil { input.decoded = DecodedEvents() }
            return input
        }
        // An input decoded on one thread (a small file, a console log, a compressed input fed by
        // its decompression thread) is read beside the others of its kind, once the inputs that
        // keep the cores busy on their own were read; whatever the order of reading, errors are
        // reported in the order of the inputs.
        var failures: [InputError?] = Array(repeating: nil, count: inputs.count)
        var sideBySide: [(index: Int, source: any EventSource)] = []
        func record(_ i: Int, _ first: FirstPass) {
            // An input that fails mid-read is placed by what was read before its error (a
            // truncated QEMU log still holds the pairs up to where it ends); pass 2 reads it
            // again up to the same error.
            if let error = first.error { failures[i] = error }
            summaries[i] = first.summary
            // Ordinals are no clock: such an input is analysed on its own.
            anchors[i] = first.summary.clock == .timestamps ? first.anchors : nil
            firstTimes[i] = first.firstTime
            lastTimes[i] = first.lastTime
            createdTwice[i] = first.anchors.createdTwice
            namesControllers[i] = first.anchors.isGuestSide
            if let kept = inputs[i].decoded, kept.isComplete {
                kept.firstPass = (anchors[i], firstTimes[i], lastTimes[i], first.summary, createdTwice[i], namesControllers[i])
            }
        }
        for (i, input) in inputs.enumerated() {
            do {
                if input.reopenable, let kept = input.decoded, kept.isComplete,
                    let first = kept.firstPass
                {
                    // What pass 1 learns of an input kept whole is kept with it.
                    summaries[i] = first.summary
                    anchors[i] = first.anchors
                    firstTimes[i] = first.firstTime
                    lastTimes[i] = first.lastTime
                    createdTwice[i] = first.createdTwice
                    namesControllers[i] = first.namesControllers
                    continue
                }
                let source = try input.events()
                summaries[i] = source.summary
                // An input placed by --clock-offset is read in the first pass too: its causal
                // pairs check the offset given (and find a copy of another input).
                if !input.reopenable {
                    firstSources[i] = source
                    continue
                }
                if options.secondThread, source.readsOnOneThread {
                    sideBySide.append((i, source))
                    continue
                }
                record(i, FirstPass(source))
            } catch {
                failures[i] = error
            }
        }
        for (k, first) in FirstPass.sideBySide(sideBySide.map(\.source)).enumerated() {
            record(sideBySide[k].index, first)
        }
        errors += failures.compactMap { $0 }
        // The inputs in the order of the reference rule; it decides the reference clock, the
        // order of placement and which input wins a tie in the merge.
        // An input placed by a manual offset is never the reference.
        var order = inputs.indices.filter { summaries[$0] != nil }.sorted {
            let a = (options.clockOffsets[$0] != nil, Standing(summaries[$0]!, anchors[$0], firstTimes[$0]))
            let b = (options.clockOffsets[$1] != nil, Standing(summaries[$1]!, anchors[$1], firstTimes[$1]))
            return a.0 != b.0 ? !a.0 : a.1 < b.1
        }
        // One recording kept in two forms is analysed once (its first form by the rule).
        var duplicates: [Int: Int] = [:]
        // A pcap holds several recordings: the note names the one meant.
        func named(_ i: Int) -> String { summaries[i]?.name ?? inputs[i].path }
        for (i, kept, how) in Self.copies(
            order: order, anchors: anchors, formats: summaries.map { $0?.effectiveFormat }, cpus: summaries.map { $0?.cpus ?? 0 },
            pcaps: summaries.map { $0?.format == .pcap })
        {
            duplicates[i] = kept
            notes.append("\(named(i)): \(how.replacing("KEPT", with: named(kept))); analysed once, from \(inputs[kept].path)")
        }
        order.removeAll { duplicates[$0] != nil }
        // A controller's trace holding several controllers' events (QEMU's nvme events name no
        // device) beside guest-side inputs that name each controller: set aside, and the run is
        // analysed from those (a healthy run of two controllers read with its QEMU log failed on
        // the mix, and a hang of nvme1 lost its known bug). Kept when nothing names them.
        var setAside: [String] = []
        // (Not where a damaged line of the input lies between the end and the use: the event
        // that would have made it one controller's may be the one lost.)
        for i in createdTwice.indices where createdTwice[i].map({ twice in summaries[i].map { Self.damagedBetween(twice, $0) } ?? false }) == true {
            createdTwice[i] = nil
        }
        let namers = order.filter { namesControllers[$0] && createdTwice[$0] == nil }
        for i in order where !namesControllers[i] && !namers.isEmpty {
            guard let twice = createdTwice[i] else { continue }
            let (note, short) = Self.setAsideNote(twice, path: named(i), unit: summaries[i]!.locationUnit, from: namers.map(named))
            notes.append(note)
            setAside.append(short)
        }
        order.removeAll { !namesControllers[$0] && !namers.isEmpty && createdTwice[$0] != nil }
        if options.sameClock {
            // One clock by the user's word: every input on it as it is, in the order given; one
            // recording kept in several forms is still read once (three copies of the guest's
            // commands would make each one seem submitted three times).
            var placed: [Placement] = []
            for i in inputs.indices where order.contains(i) {
                do throws(InputError) {
                    let source: any EventSource
                    if let first = firstSources[i] { source = first } else { source = try inputs[i].events() }
                    placed.append(Placement(index: i, source: source, clock: .identity, messageClock: nil))
                } catch {
                    if !errors.contains(error) { errors.append(error) }
                }
            }
            let domains = placed.isEmpty ? [] : [Array(placed.indices)]
            return try analyze(placed: placed, domains: domains, alignment: [], notes: notes, errors: errors, options: options, setAside: setAside, observer: observer, domainStarts: domainStarts)
        }
        guard let reference = order.first else {
            return try analyze(placed: [], domains: [], alignment: [], notes: notes, errors: errors, options: options, setAside: setAside, observer: observer, domainStarts: domainStarts)
        }
        let formats = summaries.map { $0?.effectiveFormat }
        let standing = Standing(summaries[reference]!, anchors[reference], firstTimes[reference])

        // Placement on the reference clock.
        var maps: [Int: ClockMap] = [reference: .identity]
        var referenceReport = AlignmentReport(input: UInt16(reference), method: .reference)
        referenceReport.note = standing.reason
        var reports: [Int: AlignmentReport] = [reference: referenceReport]
        for i in order where i != reference {
            if let offset = options.clockOffsets[i] {
                maps[i] = ClockMap(constant: offset)
                var r = AlignmentReport(input: UInt16(i), method: .manual)
                r.offset = offset
                reports[i] = r
            }
        }
        // A guest console log shares the guest kernel's clock (seconds since boot): it is
        // placed on a guest trace's clock once one is placed — unless its timeout messages
        // contradict the trace's own aborts (another run's console made one story of two runs).
        var refusedConsoles: Set<Int> = []
        /// Input `i` on the clock of the placed input `j`, with why.
        func placeOnTheClock(of j: Int, _ i: Int, note: String) {
            maps[i] = maps[j]
            var r = AlignmentReport(input: UInt16(i), method: .sameClock)
            r.note = note
            reports[i] = r
        }
        // A controller's trace placed by a console's timeout messages whose commands, on that
        // placement, span the same time as a placed guest trace's for a second or more while no
        // causal pair links the two: the console and the controller's trace are another run's
        // (the console of hang-sq2 put its QEMU log beside mq2's guest trace, one story of two
        // runs). Why, or nil.
        func commandsClash(_ i: Int, _ mine: AnchorSet, on candidate: ClockMap) -> String? {
            guard mine.isHostSide, let hostSpan = mine.span else { return nil }
            let low = candidate.map(hostSpan.lowerBound), high = candidate.map(hostSpan.upperBound)
            for g in order where maps[g] != nil && formats[g] != .consoleLog {
                guard let guest = anchors[g], guest.isGuestSide, let span = guest.span else { continue }
                let (overlap, overflow) = min(high, maps[g]!.map(span.upperBound)).subtractingReportingOverflow(max(low, maps[g]!.map(span.lowerBound)))
                guard !overflow, overlap >= 1_000_000_000, ClockAlignment.estimate(guest: guest, host: mine, parallel: options.secondThread) == nil
                else { continue }
                return "on that placement its commands span the same \(formatDuration(overlap)) as those of \(named(g)), and none of them pairs with a command of \(named(g))"
            }
            return nil
        }
        /// A placed guest trace on the boot clock, printk's (not one in the latency format, whose
        /// times count from its ring buffer's start).
        func bootClockGuest() -> Int? {
            order.first {
                maps[$0] != nil && formats[$0] != .consoleLog && anchors[$0]?.isGuestSide == true && summaries[$0]?.timesSinceBufferStart != true
            }
        }
        func placeOnTheGuestClock(_ i: Int, why: String = "") -> Bool {
            guard let guest = bootClockGuest() else { return false }
            if let mismatch = Self.anotherBootsConsole(anchors[i], guest: anchors[guest], from: firstTimes[guest], to: lastTimes[guest]) {
                if refusedConsoles.insert(i).inserted {
                    notes.append("\(named(i)): not on the clock of \(named(guest)): \(mismatch) — the console of another run or boot? It is placed by its own pairs, if any.")
                }
                return false
            }
            placeOnTheClock(
                of: guest, i,
                note: "guest kernel log: same clock as \(named(guest)), taken as printk's\(why)\(anchors[i]?.hasGuestNotices == true ? "" : " (no timeout message pairs with the trace's ABORTs to check it: with trace_clock=local, Linux's default, the two can differ by tenths of a second; the order of its messages against the trace's events is that close at best)")")
            if let off = Self.consoleClockShift(anchors[i], guest: anchors[guest], from: firstTimes[guest], to: lastTimes[guest]) {
                // Its timeout messages all lie well before (or after) the ABORTs they led to:
                // printk's clock is not the trace's (`trace_clock=local`, the default, is not
                // printk's local_clock: 0.26 s apart on a Linux 6.12 guest, where "I/O tag 512
                // QID 2 timeout, aborting" was told 14.93 s into a wait the 15 s timeout ended).
                maps[i] = maps[guest]!.shifted(by: off.shift)
                reports[i]!.method = .messages
                reports[i]!.consoleOnGuestTrace = true
                reports[i]!.windows = 1
                reports[i]!.offset = off.shift
                reports[i]!.pairs = off.pairs
                // The pairs bound the shift from above only (a message comes before its ABORT,
                // by as much as a slow serial console holds the submission back): each message
                // may lie up to `consoleLatency` earlier than placed.
                reports[i]!.uncertainty = max(off.spread, Self.consoleLatency)
                let behind = off.shift >= 0
                reports[i]!.note = "aligned to \(named(guest)): a guest kernel log on another clock: its printk stamps run \(formatDuration(abs(off.shift))) \(behind ? "behind" : "ahead of") the trace's, by its \(off.pairs) `timeout, aborting` message(s) and the ABORTs they led to in the trace, and it is placed \(behind ? "that much later" : "that much earlier") (each message at or before its ABORT, up to \(formatDuration(Self.consoleLatency)) earlier in truth) — `trace_clock=local`, Linux's default, is not printk's clock; `trace_clock=global` shares it\(why)"
            }
            return true
        }
        // One guest trace kept per CPU (`per_cpu/cpuN/trace`, `trace-cmd report --cpu N`): ftrace
        // texts of disjoint CPU sets whose commands span overlapping times are one recording on
        // one clock (two runs' traces both hold CPU 0). Commands submitted on one CPU complete
        // on another: analysed apart, every admin command looked stuck.
        func placeAsAnotherCPUsPart(_ i: Int) -> Bool {
            guard formats[i] == .ftraceText, let mine = summaries[i], mine.cpus != 0, mine.clock == .timestamps else { return false }
            guard let part = order.first(where: { j in
                guard j != i, maps[j] != nil, formats[j] == .ftraceText, let theirs = summaries[j], theirs.cpus != 0,
                    theirs.cpus & mine.cpus == 0, theirs.clock == mine.clock
                else { return false }
                // Their I/O commands overlap in time; a part without any (a CPU that only
                // submitted admin commands) begins within 10 s of the other.
                if let span = anchors[i]?.span, let other = anchors[j]?.span { return span.overlaps(other) }
                return firstTimes[i] != .max && firstTimes[j] != .max && abs(firstTimes[i] &- firstTimes[j]) <= 10_000_000_000
            }) else { return false }
            placeOnTheClock(of: part, i, note: "the same guest trace as \(named(part)), its other CPUs (\(Self.cpuList(mine.cpus)) against \(Self.cpuList(summaries[part]!.cpus))): same clock")
            return true
        }
        // One recording kept in pieces (a QEMU log rotated or cut with `split`, a guest trace
        // saved in parts): inputs of one format whose events each come after the previous one's
        // last are one recording on one clock (the guest's clock starts again at a boot: a later
        // boot's trace begins before an earlier one ends; the files of one QEMU process share
        // thread ids). Nothing pairs a QEMU log with a QEMU log: analysed apart, a stall across
        // the cut was two halves each too short to report, and a hung run passed. Each piece
        // takes the anchors of all of them, so that the other side is placed by the pairs of
        // the whole recording (placed by one piece's pairs and extrapolated over the next, a
        // guest trace's second piece was off by up to 0.1 s), and the pieces share the clock of
        // the first of them placed.
        var pieceOf: [Int: [Int]] = [:]
        for format in Set(order.compactMap { formats[$0] }).subtracting([.pcap]).sorted(by: { $0.rawValue < $1.rawValue }) {
            let pieces = order.filter {
                formats[$0] == format && anchors[$0] != nil && firstTimes[$0] != .max && lastTimes[$0] != .min
                    && options.clockOffsets[$0] == nil
            }.sorted { (firstTimes[$0], $0) < (firstTimes[$1], $1) }
            var chain: [Int] = []
            func close() {
                if chain.count > 1 {
                    let merged = chain.dropFirst().reduce(anchors[chain[0]]!) { $0.followed(by: anchors[$1]!) }
                    for piece in chain {
                        anchors[piece] = merged
                        pieceOf[piece] = chain
                    }
                }
                chain = []
            }
            for g in pieces {
                // (One CPU's part of a trace is no piece of another CPU's; two QEMU processes
                // share no thread.)
                if let last = chain.last {
                    let (a, b) = (summaries[g]!.cpus, summaries[last]!.cpus)
                    let (t, u) = (summaries[g]!.threads, summaries[last]!.threads)
                    // (A trace in the latency format counts from its ring buffer's start, not
                    // from boot: no piece of a trace that counts from boot.)
                    if firstTimes[g] < lastTimes[last] || (a != 0 && b != 0 && a & b == 0)
                        || (!t.isEmpty && !u.isEmpty && Set(t).isDisjoint(with: u))
                        || summaries[g]!.timesSinceBufferStart != summaries[last]!.timesSinceBufferStart
                    {
                        close()
                    }
                }
                chain.append(g)
            }
            close()
        }
        // One guest trace kept per CPU (`placeAsAnotherCPUsPart` below): each part takes the
        // anchors of all of them, as pieces do, so the controller's trace is placed by the whole
        // trace's pairs and a console is checked against all its ABORTs (checked against CPU 0's
        // alone, hang-sq2's console was "not on the clock" and each hang told twice).
        var cpuParts: [[Int]] = []
        for i in order where formats[i] == .ftraceText && pieceOf[i] == nil && options.clockOffsets[i] == nil {
            guard let mine = summaries[i], mine.cpus != 0, mine.clock == .timestamps, let span = anchors[i]?.span else { continue }
            if let k = cpuParts.firstIndex(where: { group in
                group.allSatisfy { j in
                    summaries[j]!.cpus & mine.cpus == 0 && anchors[j]?.span.map { $0.overlaps(span) } == true
                }
            }) {
                cpuParts[k].append(i)
            } else {
                cpuParts.append([i])
            }
        }
        for group in cpuParts where group.count > 1 {
            let merged = group.dropFirst().reduce(anchors[group[0]]!) { $0.interleaved(with: anchors[$1]!) }
            for part in group { anchors[part] = merged }
        }
        func placeAsAPiece(_ i: Int) -> Bool {
            guard let chain = pieceOf[i], let placed = chain.first(where: { maps[$0] != nil }) else { return false }
            placeOnTheClock(of: placed, i, note: "the same \(formats[i]!.rawValue) as \(named(placed)), in another file: its events all \(firstTimes[i] >= lastTimes[placed] ? "after" : "before") those of \(named(placed)); same clock (a recording kept in pieces; give --clock-offset if it is another run's)")
            return true
        }
        var progress = true
        while progress {
            progress = false
            for i in order where maps[i] == nil {
                guard let mine = anchors[i] else { continue }
                if placeAsAPiece(i) {
                    progress = true
                    continue
                }
                // One that holds an ftrace dump is placed on its own pairs instead: the dump's
                // events sit on the printk clock only approximately (Docs/Formats.md).
                if formats[i] == .consoleLog, !mine.isGuestSide, placeOnTheGuestClock(i) {
                    progress = true
                    continue
                }
                if placeAsAnotherCPUsPart(i) {
                    progress = true
                    continue
                }
                for j in order where maps[j] != nil && j != i {
                    guard let theirs = anchors[j] else { continue }
                    var placedMap: ClockMap?
                    var report: AlignmentReport?
                    // An estimate between two inputs kept whole is made once: a second analysis of
                    // the same inputs (`report`, `explain`) finds it in the guest side's keeping.
                    func estimate(
                        _ method: UInt8, _ g: Int, _ h: Int, _ make: () -> (map: ClockMap, report: AlignmentReport)?
                    ) -> (map: ClockMap, report: AlignmentReport)? {
                        guard let mineKept = inputs[g].decoded, mineKept.isComplete, let theirsKept = inputs[h].decoded,
                            theirsKept.isComplete
                        else { return make() }
                        let key = DecodedEvents.EstimateKey(method: method, other: ObjectIdentifier(theirsKept))
                        if let known = mineKept.estimates[key] { return known }
                        let made = make()
                        mineKept.estimates[key] = .some(made)
                        return made
                    }
                    if mine.isGuestSide && theirs.isHostSide, let est = estimate(0, i, j, { ClockAlignment.estimate(guest: mine, host: theirs, parallel: options.secondThread) }) {
                        placedMap = maps[j]!.composed(after: est.map)
                        report = est.report
                        report!.poorStretches = Self.onTheReferenceClock(report!.poorStretches, placedMap!)
                    } else if mine.isHostSide && theirs.isGuestSide, let est = estimate(0, j, i, { ClockAlignment.estimate(guest: theirs, host: mine, parallel: options.secondThread) }) {
                        placedMap = maps[j]!.composed(after: est.map.inverse)
                        report = est.report
                        report!.offset = -report!.offset
                        report!.driftPPM = -report!.driftPPM
                        report!.poorStretches = Self.onTheReferenceClock(report!.poorStretches, maps[j]!)
                    } else if !mine.isGuestSide, mine.hasGuestNotices, theirs.hasHostNotices,
                        let est = estimate(1, i, j, { MessageAlignment.estimate(console: mine, host: theirs) })
                    {
                        placedMap = maps[j]!.composed(after: est.map)
                        report = est.report
                    } else if mine.hasHostNotices, !theirs.isGuestSide, theirs.hasGuestNotices,
                        let est = estimate(1, j, i, { MessageAlignment.estimate(console: theirs, host: mine) })
                    {
                        let candidate = maps[j]!.composed(after: est.map.inverse)
                        if let clash = commandsClash(i, mine, on: candidate) {
                            if refusedConsoles.insert(i).inserted {
                                notes.append("\(named(i)): not placed by the timeout messages of \(named(j)): \(clash) — another run's? It is analysed on its own clock.")
                            }
                        } else {
                            placedMap = candidate
                            report = est.report
                            report!.offset = -report!.offset
                            report!.driftPPM = -report!.driftPPM
                        }
                    }
                    if let placedMap, var report {
                        report.input = UInt16(i)
                        report.placedBy = UInt16(j)
                        // The offset onto the reference clock (the estimate's is onto input j's).
                        report.offset = placedMap.knots[0].offset
                        report.note = report.method == .messages
                            ? "aligned to \(named(j)) from \(report.pairs) pair(s) of the guest's messages with the controller's actions (a timeout with its Abort's fetch, an `Abort status` with its completion, a reset with the controller's disable)"
                            : "aligned to \(named(j)) from \(report.pairs) causal pairs"
                        if !report.poorStretches.isEmpty {
                            let worst = report.poorStretches.sorted { $0.worst > $1.worst }.prefix(3)
                                .map { "\(formatDuration($0.worst)) \($0.to > $0.from ? "between \(formatSeconds($0.from)) and \(formatSeconds($0.to))" : "at \(formatSeconds($0.from))") s" }
                            report.note += "; poorly aligned where the offset steps (a paused VM, a debugger stop) beyond the uncertainty: \(worst.joined(separator: ", "))\(report.poorStretches.count > 3 ? ", …" : "")"
                        }
                        maps[i] = placedMap
                        reports[i] = report
                        progress = true
                        break
                    }
                }
            }
            // A console holding an ftrace dump that no pair places (no controller trace beside
            // it) is still the guest kernel's log: on the guest trace's clock, its dump only
            // approximately so, rather than on a clock of its own, where its messages would
            // tell the guest trace's stalls a second time.
            if !progress, let i = order.first(where: { maps[$0] == nil && formats[$0] == .consoleLog && anchors[$0]?.isGuestSide == true }) {
                progress = placeOnTheGuestClock(
                    i, why: " (no controller trace to place its ftrace dump by pairs: the dump sits on the printk clock as Docs/Formats.md describes, within about 0.1 s)")
            }
        }
        for i in order where maps[i] == nil {
            var r = AlignmentReport(input: UInt16(i), method: .none)
            if !inputs[i].reopenable {
                r.note = "not aligned: it can be read only once; give --clock-offset or --same-clock"
            } else if anchors[i] == nil {
                r.note = summaries[i]?.clock == .counter
                    ? "not aligned: its times are counts of a clock not in nanoseconds; analysed on its own, for order only"
                    : "not aligned: it has no timestamps; analysed on its own, for order only"
            } else {
                r.note = "not aligned: no causal pairs with the other inputs that agree (none, or pairs that would put the clocks drifting more than 5 % apart: commands of another run); analysed on its own clock"
                    + Self.controllerHint(i, anchors: anchors)
            }
            reports[i] = r
            // A counter clock's own note (below) says it is not aligned.
            if summaries[i]?.clock != .counter { notes.append("\(inputs[i].path): \(r.note)") }
        }

        // An offset given by hand is checked against the causal pairs, when they are many and
        // agree: one they miss by more than a millisecond (or their uncertainty) is said in the
        // alignment, the notes, and on each finding that rests on the order of both sides.
        for i in order where reports[i]?.method == .manual {
            guard let given = options.clockOffsets[i], let mine = anchors[i], let span = mine.span,
                let (j, estimated, report) = Self.pairsPlacement(of: i, mine, among: order, anchors: anchors, maps: maps, reports: reports, parallel: options.secondThread)
            else { continue }
            let worst = Self.misses(given: given, estimated: estimated, over: span)
            guard worst > max(1_000_000, 4 * report.uncertainty) else { continue }
            let first = estimated.offset(at: span.lowerBound), last = estimated.offset(at: span.upperBound)
            let at = first == last
                ? "\(Self.signed(first)) s"
                : "\(Self.signed(first)) s at its start, \(Self.signed(last)) s at its end (drift \(report.driftPPM) ppm)"
            let text = "the offset given misses the \(report.pairs) causal pairs with \(named(j)) by up to \(formatDuration(worst)): they put it at \(at), ±\(formatDuration(report.uncertainty)); guest and controller events closer than that may be in the wrong order. Without --clock-offset it is placed by those pairs"
            reports[i]!.note = text
            reports[i]!.givenOffsetMisses = worst
            notes.append("--clock-offset \(inputs[i].path)=\(Self.signed(given)): the causal pairs say this offset is off by up to \(formatDuration(worst)) (see the clock alignment); the findings that rest on the order of guest and controller events are marked uncertain.")
        }

        // A console placed by its ftrace dump's pairs: the dump's events sit on the printk clock
        // only approximately (placed late by the time between the last recorded event and the
        // dump, and extrapolated past the dump's last pair), while its messages carry printk
        // stamps, the guest kernel's own clock. Those go where that clock is known better: a
        // guest trace's clock (the same clock), else the timeout messages' pairs with the
        // controller's aborts; the dump's events stay where their pairs put them.
        var messageMaps: [Int: ClockMap] = [:]
        for i in order where formats[i] == .consoleLog && anchors[i]?.isGuestSide == true && maps[i] != nil
            && reports[i]?.method == .estimated
        {
            if let guest = order.first(where: {
                maps[$0] != nil && formats[$0] != .consoleLog && anchors[$0]?.isGuestSide == true && summaries[$0]?.timesSinceBufferStart != true
            }) {
                messageMaps[i] = maps[guest]
                reports[i]!.note += "; its kernel messages on the printk clock, the same as \(named(guest))'s"
            } else if let mine = anchors[i], mine.hasGuestNotices,
                let j = order.first(where: { maps[$0] != nil && $0 != i && anchors[$0]?.hasHostNotices == true }),
                let est = MessageAlignment.estimate(console: mine, host: anchors[j]!)
            {
                messageMaps[i] = maps[j]!.composed(after: est.map)
                reports[i]!.note += "; its kernel messages placed from \(est.report.pairs) timeout messages paired with the controller's aborts (±\(formatDuration(est.report.uncertainty)))"
            }
        }

        // Pass 2: every input again, on its clock, in the order of the rule.
        var placed: [Placement] = []
        for i in order {
            do throws(InputError) {
                let source: any EventSource
                if let first = firstSources[i] { source = first } else { source = try inputs[i].events() }
                placed.append(Placement(index: i, source: source, clock: maps[i] ?? .identity, messageClock: messageMaps[i]))
            } catch {
                if !errors.contains(error) { errors.append(error) }
            }
        }
        let together = placed.indices.filter { maps[placed[$0].index] != nil }
        var domains = together.isEmpty ? [] : [together]
        domains += placed.indices.filter { maps[placed[$0].index] == nil }.map { [$0] }
        let alignment = inputs.indices.compactMap { reports[$0] }
        return try analyze(placed: placed, domains: domains, alignment: alignment, notes: notes, errors: errors, options: options, setAside: setAside, observer: observer, domainStarts: domainStarts)
    }

    /// Where the causal pairs of input `i` with an input placed by any other means than a
    /// given offset put it on the reference clock: that input, the map and the estimate's report;
    /// nil without such an input, or with fewer than 32 pairs or more than a tenth contradicting.
    static func pairsPlacement(
        of i: Int, _ mine: AnchorSet, among order: [Int], anchors: [AnchorSet?], maps: [Int: ClockMap],
        reports: [Int: AlignmentReport], parallel: Bool
    ) -> (Int, ClockMap, AlignmentReport)? {
        for j in order where j != i && maps[j] != nil && reports[j]?.method != .manual {
            guard let theirs = anchors[j] else { continue }
            let placed: (ClockMap, AlignmentReport)?
            if mine.isHostSide, theirs.isGuestSide, let est = ClockAlignment.estimate(guest: theirs, host: mine, parallel: parallel) {
                var report = est.report
                report.driftPPM = -report.driftPPM
                placed = (maps[j]!.composed(after: est.map.inverse), report)
            } else if mine.isGuestSide, theirs.isHostSide, let est = ClockAlignment.estimate(guest: mine, host: theirs, parallel: parallel) {
                placed = (maps[j]!.composed(after: est.map), est.report)
            } else {
                placed = nil
            }
            guard let (map, report) = placed, report.pairs >= 32, report.contradictions * 10 <= report.pairs else { continue }
            return (j, map, report)
        }
        return nil
    }

    /// How far a constant offset `given` lies from the map `estimated` over `span` (the input's
    /// own times): at the span's ends and at every knot of the map inside it.
    static func misses(given: Int64, estimated: ClockMap, over span: ClosedRange<Int64>) -> Int64 {
        var times = [span.lowerBound, span.upperBound]
        times += estimated.knots.map(\.time).filter { span.contains($0) }
        return times.map { t -> Int64 in
            let d = estimated.offset(at: t).subtractingReportingOverflow(given)
            return d.overflow || d.partialValue == .min ? .max : abs(d.partialValue)
        }.max() ?? 0
    }

    static func signed(_ ns: Int64) -> String { (ns < 0 ? "" : "+") + formatSeconds(ns) }

    /// Stretches of poor alignment on the reference clock (they were on the guest input's).
    static func onTheReferenceClock(_ stretches: [AlignmentReport.PoorStretch], _ map: ClockMap) -> [AlignmentReport.PoorStretch] {
        stretches.map { var s = $0; s.from = map.map(s.from); s.to = max(s.from, map.map(s.to)); return s }
    }

    /// Where an input stands in the reference rule: a guest trace (ftrace text or any input
    /// with the guest's command submissions) first, then the controller's trace (QEMU log or
    /// simple trace, anything with the controller's fetches), then the guest console, then the
    /// rest; within a class the input with more events, then the earlier first event, then
    /// more bytes. Only content decides: never the order of the inputs or their names (the
    /// path breaks a tie only between inputs whose content looks alike in all of these).
    struct Standing: Comparable {
        var rank: Int
        var events: UInt64
        var firstTime: Int64
        var bytes: UInt64
        var path: String

        init(_ summary: InputSummary, _ anchors: AnchorSet?, _ firstTime: Int64) {
            if summary.effectiveFormat != .consoleLog, anchors?.isGuestSide == true {
                rank = 0
            } else if anchors?.isHostSide == true || anchors?.hasHostNotices == true {
                rank = 1
            } else if summary.effectiveFormat == .consoleLog {
                rank = 2
            } else {
                rank = 3
            }
            events = summary.events
            self.firstTime = firstTime
            bytes = summary.bytes
            path = summary.path
        }

        var reason: String {
            switch rank {
            case 0: return "reference clock: the guest trace (a guest trace is preferred to the controller's trace and the console)"
            case 1: return "reference clock: the controller's trace (no guest trace among the inputs; preferred to the console)"
            case 2: return "reference clock: the guest console (no guest or controller trace could be read)"
            default: return "reference clock: the input with the most events (none carries the guest's or the controller's commands)"
            }
        }

        static func < (a: Standing, b: Standing) -> Bool {
            (a.rank, b.events, a.firstTime, b.bytes, a.path) < (b.rank, a.events, b.firstTime, a.bytes, b.path)
        }
    }

    /// With `--same-clock`: inputs whose events are an hour or more apart (a guest trace in
    /// seconds since boot, a QEMU log in seconds since 1970) do not share a clock; the note
    /// says so, since their findings are then judged on times that do not meet.
    static func notOneClock(_ spans: [UInt16: ClosedRange<Int64>], placed: [Placement]) -> String? {
        let sorted = spans.sorted { $0.key < $1.key }
        for (k, a) in sorted.enumerated() {
            for b in sorted[(k + 1)...] {
                let gap = max(b.value.lowerBound - a.value.upperBound, a.value.lowerBound - b.value.upperBound)
                guard gap >= 3_600_000_000_000 else { continue }
                func name(_ i: UInt16) -> String { placed.first { $0.index == Int(i) }?.source.summary.path ?? "input \(i)" }
                return "--same-clock: \(name(a.key)) and \(name(b.key)) have no event within \(formatDuration(gap)) of each other: they do not look like one clock (without --same-clock they are aligned from their events)"
            }
        }
        return nil
    }

    /// With `--clock-offset`: an input the offset puts where no event of the others is (a sign
    /// left out, seconds for microseconds) shares no time with them, and every finding that
    /// needs both sides is judged on times that do not meet; the note says so.
    static func offsetPlacesApart(_ manual: [Int], _ spans: [UInt16: ClosedRange<Int64>], placed: [Placement]) -> String? {
        func name(_ i: Int) -> String { placed.first { $0.index == i }?.source.summary.path ?? "input \(i)" }
        for i in manual {
            guard let mine = spans[UInt16(i)] else { continue }
            let others = spans.filter { !manual.contains(Int($0.key)) }
            guard let low = others.values.map(\.lowerBound).min(), let high = others.values.map(\.upperBound).max() else { continue }
            let gap = mine.lowerBound > high ? mine.lowerBound - high : low > mine.upperBound ? low - mine.upperBound : 0
            guard gap > 0 else { continue }
            let offset = placed.first { $0.index == i }?.clock.knots.first?.offset ?? 0
            let names = others.keys.sorted().map { name(Int($0)) }.joined(separator: ", ")
            return "--clock-offset \(name(i))=\(offset < 0 ? "" : "+")\(formatSeconds(offset)) puts its events \(formatDuration(gap)) \(mine.lowerBound > high ? "after the last" : "before the first") of \(names): they share no time, so no finding can rest on both sides' events. Check the offset: it is added to the file's times (a sign left out, or the wrong unit, moves every event); without --clock-offset the inputs are aligned from their causal pairs."
        }
        return nil
    }

    /// Where an estimated input's causal pairs lie on the reference clock, and which input they
    /// were made with.
    struct PairSpan {
        var span: ClosedRange<Int64>
        var drift: Int64
        var path: String
        /// A console whose kernel messages are placed by another clock than its ftrace dump.
        var messagesElsewhere: Bool
        var placedBy: UInt16?
    }

    /// A finding judged from the order of both sides whose evidence from an estimated input
    /// lies more than a second beyond that input's causal pairs (a guest trace that ends early,
    /// a QEMU log that begins late), near evidence of another input it was not ordered against
    /// by pairs: its offset there is extrapolated from the pairs, and its order against that
    /// evidence may be off by more than the stated uncertainty (hang-sq2 with its guest trace
    /// cut short: an ABORT placed 155 ms after the guest's message that sent it, said by
    /// nothing). Near means within a twentieth of the distance to the pairs (at least a second):
    /// the offset of a guest clock against the host's moves by drift and by the VM's pauses,
    /// which this takes to be less than 5 % of the time between. Evidence of an input placed
    /// by pairs with the extrapolated one, inside those pairs' span, is ordered against it by
    /// them (sysrq-hang: the QEMU log placed from the guest trace's pairs 30 s after its first
    /// stall, and the console's ftrace dump placed from its pairs with the QEMU log: the
    /// stall's evidence from both is ordered by the dump's pairs).
    static func extrapolatedEvidence(_ f: Finding, _ spans: [UInt16: PairSpan]) -> String? {
        /// How far an item lies beyond its input's pairs; 0 within them (or for an input not
        /// estimated: the reference, one placed by hand, and a console's kernel messages placed
        /// on another clock than its dump's).
        func beyond(_ e: Evidence) -> Int64 {
            guard let input = spans[e.location.source], !(input.messagesElsewhere && e.role == "guest-timeout") else { return 0 }
            let s = input.span
            return e.time < s.lowerBound ? apart(s.lowerBound, e.time) : e.time > s.upperBound ? apart(e.time, s.upperBound) : 0
        }
        /// `a - b` for `a ≥ b`, at most `Int64.max` (times come from the inputs).
        func apart(_ a: Int64, _ b: Int64) -> Int64 {
            let d = a.subtractingReportingOverflow(b)
            return d.overflow ? .max : d.partialValue
        }
        /// Placed as one: the same input (its kernel messages apart from its dump's events).
        func sameInput(_ a: Evidence, _ b: Evidence) -> Bool {
            guard a.location.source == b.location.source else { return false }
            guard spans[a.location.source]?.messagesElsewhere == true else { return true }
            return (a.role == "guest-timeout") == (b.role == "guest-timeout")
        }
        var worst: (distance: Int64, source: UInt16)?
        for e in f.evidence {
            let d = beyond(e)
            guard d > 1_000_000_000, d > (worst?.distance ?? 0) else { continue }
            let near = max(1_000_000_000, d / 20)
            let unordered = f.evidence.contains { other in
                guard !sameInput(e, other), apart(max(other.time, e.time), min(other.time, e.time)) <= near else { return false }
                // Placed by its pairs with this input, within them.
                if let theirs = spans[other.location.source], theirs.placedBy == e.location.source, beyond(other) <= 1_000_000_000,
                    !(theirs.messagesElsewhere && other.role == "guest-timeout")
                {
                    return false
                }
                return true
            }
            if unordered { worst = (d, e.location.source) }
        }
        guard let worst, let input = spans[worst.source] else { return nil }
        return "its evidence from \(input.path) lies up to \(formatDuration(worst.distance)) beyond the causal pairs that place that input, near other inputs' evidence: its offset there is extrapolated (drift \(input.drift) ppm), so its order against the other inputs' events may be off by more than the stated uncertainty"
    }

    /// Findings told from counting a queue's events (fetch and doorbell indexes, values).
    /// Whether the guest gave up on I/O of `f`'s controller inside its window: its own
    /// evidence, or a give-up the host side could not tie to one queue.
    static func guestGaveUp(inside f: Finding, among story: [Finding]) -> Bool {
        let window = f.start...max(f.start, f.end ?? .max)
        return story.contains { g in
            g.queue.controller == f.queue.controller
                && g.evidence.contains { ($0.role == "guest-abort" || $0.role == "guest-timeout") && window.contains($0.time) }
        }
    }

    /// A finding whose queue hung whatever else is in doubt: the guest gave up inside it, or
    /// it owns commands outstanding beyond --stuck-after.
    static func hungWhatever(_ f: Finding, among story: [Finding]) -> Bool {
        if guestGaveUp(inside: f, among: story) { return true }
        if case .int(let stuck)? = f.value("commands_outstanding_over_threshold"), stuck > 0 { return true }
        return false
    }

    static let restsOnCounts: Set<FindingKind> = [.controllerIdleWithWork, .eventIdxRegression, .valueOutOfRange, .missedDoorbell, .needlessDoorbell]

    static let consoleAloneNote = "The inputs are guest console logs with no NVMe timeout, abort or reset in them, and no input holds a queue's events: the guest did not give up on I/O, but nothing here shows its queues; the guest's ftrace or QEMU's trace log would."

    static func separateDomainsNote(_ n: Int) -> String {
        "\(n) inputs are separate clock domains; each was analysed on its own clock "
            + "(use --same-clock if they share one). Finding times are on the clock of the input named by clock_input."
    }

    /// Merges each domain's sources by time into one analyzer and combines the results.
    static func analyze(
        placed: [Placement], domains: [[Int]],
        alignment: [AlignmentReport], notes: [String], errors: [InputError], options: AnalysisOptions, setAside: [String] = [],
        observer: ((Event, QueueSnapshot) -> Void)?, domainStarts: ((DomainStart) -> Void)?
    ) throws(AnalysisFailure) -> AnalysisResult {
        var alignment = alignment
        var errors = errors
        var notes = notes
        var groups: [GroupResult] = []
        for (d, members) in domains.enumerated() {
            let units = Dictionary(uniqueKeysWithValues: members.map { (UInt16(placed[$0].index), placed[$0].source.summary.locationUnit) })
            // Order only when any member does not count nanoseconds (its first such kind).
            let clock = members.lazy.map { placed[$0].source.summary.clock }.first { !$0.measuresTime } ?? .timestamps
            let uncertainty = alignment.filter { r in !r.consoleOnGuestTrace && members.contains { placed[$0].index == Int(r.input) } }
                .map(\.uncertainty).max() ?? 0
            let analyzer = ClockGroupAnalyzer(
                options: options, sources: members.map { UInt16(placed[$0].index) }, clock: clock, locationUnits: units)
            analyzer.alignmentUncertainty = members.count > 1 && !options.sameClock ? uncertainty : nil
            analyzer.poorAlignment = alignment.filter { r in members.contains { placed[$0].index == Int(r.input) } }
                .flatMap(\.poorStretches).sorted { $0.from < $1.from }
            analyzer.observer = observer
            let manual = members.filter { m in alignment.contains { Int($0.input) == placed[m].index && $0.method == .manual } }
            analyzer.tracksTimeSpans = options.sameClock || (!manual.isEmpty && members.count > 1)
            if let domainStarts {
                let failed = errors.map(\.path)
                analyzer.firstEventObserver = { time in
                    domainStarts(DomainStart(
                        index: d, count: domains.count, inputs: members.map { placed[$0].source.summary }, firstTime: time,
                        failedInputs: failed))
                }
            }
            let sources: [any EventSource] = members.map {
                placed[$0].clock.isIdentity && placed[$0].messageClock == nil
                    ? placed[$0].source : MappedEventSource(placed[$0].source, clock: placed[$0].clock, messageClock: placed[$0].messageClock)
            }
            // An input that fails mid-read ends there; the others of its domain are read to
            // their end (the analysis judges waits only up to where every input records).
            let merged = sources.count > 1 ? sources.map { CutShortSource($0) } : []
            do {
                try merge(
                    merged.isEmpty ? sources : merged, into: analyzer, ahead: options.secondThread,
                    until: domains.count == 1 ? options.observationEnd : nil)
            } catch {
                // An input that failed in the first pass fails again where it did: one error.
                if !errors.contains(error) { errors.append(error) }
            }
            for error in merged.compactMap(\.error) where !errors.contains(error) { errors.append(error) }
            for (k, source) in sources.enumerated() {
                guard let mapped = source as? MappedEventSource,
                    let r = alignment.firstIndex(where: { Int($0.input) == placed[members[k]].index })
                else { continue }
                alignment[r].heldEvents = mapped.heldEvents
                alignment[r].largestHold = mapped.largestHold
                alignment[r].extrapolatedBefore = mapped.extrapolatedBefore
                alignment[r].extrapolatedAfter = mapped.extrapolatedAfter
            }
            var notOneClock: String?
            if options.sameClock, members.count > 1, let note = Self.notOneClock(analyzer.timeSpanBySource, placed: placed) {
                notes.append(note)
                notOneClock = note
            }
            // Where each estimated input's causal pairs lie on the reference clock: beyond them
            // its offset is extrapolated, and the stated uncertainty does not hold.
            var pairSpans: [UInt16: PairSpan] = [:]
            for m in members {
                let p = placed[m]
                guard let r = alignment.first(where: { Int($0.input) == p.index && $0.method == .estimated }),
                    let first = p.clock.knots.first, let last = p.clock.knots.last
                else { continue }
                let a = p.clock.map(first.time), b = p.clock.map(last.time)
                pairSpans[UInt16(p.index)] = PairSpan(
                    span: min(a, b)...max(a, b), drift: r.driftPPM, path: p.source.summary.path, messagesElsewhere: p.messageClock != nil,
                    placedBy: r.placedBy)
            }
            let apart = manual.isEmpty || members.count < 2 ? nil : Self.offsetPlacesApart(manual.map { placed[$0].index }, analyzer.timeSpanBySource, placed: placed)
            if let apart { notes.append(apart) }
            for m in members {
                if let until = placed[m].source.summary.recordedUntil {
                    analyzer.recorded(source: UInt16(placed[m].index), until: placed[m].clock.map(until))
                }
            }
            var result = analyzer.finish()
            for i in result.findings.indices where ClockGroupAnalyzer.restsOnOrder.contains(result.findings[i].kind) {
                if let far = Self.extrapolatedEvidence(result.findings[i], pairSpans) {
                    result.findings[i].uncertainty.append(far)
                }
            }
            for r in alignment where r.givenOffsetMisses > 0 && members.contains(where: { placed[$0].index == Int(r.input) }) {
                let path = placed.first { $0.index == Int(r.input) }?.source.summary.path ?? "input \(r.input)"
                for i in result.findings.indices where ClockGroupAnalyzer.restsOnOrder.contains(result.findings[i].kind) {
                    result.findings[i].uncertainty.append(
                        "the offset given for \(path) (--clock-offset) misses its causal pairs by up to \(formatDuration(r.givenOffsetMisses)) (see the clock alignment): the order of guest and controller events this finding rests on may be off by that much")
                }
            }
            if apart != nil {
                for i in result.findings.indices {
                    result.findings[i].uncertainty.append(
                        "an input placed by --clock-offset does not overlap the others in time (see the notes): this finding was judged on times that do not meet — check the offset")
                }
            }
            if notOneClock != nil {
                // Every finding was judged on times that do not meet: it says so where it is
                // read, not only in a note at the end (four stale-shadow errors named a known
                // bug on a guest trace and a QEMU log 1.8·10⁹ s apart).
                for i in result.findings.indices {
                    result.findings[i].uncertainty.append(
                        "--same-clock was given, but the inputs' events lie an hour or more apart (see the notes): they are not on one clock, and this finding was judged on times that do not meet — analyse them without --same-clock")
                }
            }
            // Durations a finding tells (an I/O timeout, a reset N s later) are counts there. A
            // console log learns it only where its ftrace dump begins (a dump on such a clock:
            // its events' distances are counts, its messages' stamps are not).
            let counted = clock == .counter || members.contains { placed[$0].source.summary.clock == .counter }
            if counted, let why = ClockKind.counter.withoutDurations {
                for i in result.findings.indices where !result.findings[i].uncertainty.contains(why) {
                    result.findings[i].uncertainty.append(why)
                }
            }
            // A console of several boots: its messages may be another boot's.
            for m in members {
                let input = placed[m].source.summary
                guard let boots = Self.severalBoots(input) else { continue }
                for i in result.findings.indices where result.findings[i].evidence.contains(where: { Int($0.location.source) == input.index }) {
                    result.findings[i].uncertainty.append(
                        "\(boots) (see the notes): its evidence from that log may be another boot's")
                }
            }
            // A QEMU log of several QEMU runs: evidence before its last run's start is an
            // earlier run's, read as if one controller ran on.
            for m in members {
                let input = placed[m].source.summary
                guard let runs = Self.severalQemuRuns(input) else { continue }
                for i in result.findings.indices {
                    let lines = result.findings[i].evidence.filter { Int($0.location.source) == input.index }.map(\.location.value)
                    guard let first = lines.min(), first < runs.last else { continue }
                    // The run its evidence begins in, to give alone (advice to keep the last
                    // run only would drop a hang of an earlier one).
                    let from = runs.starts.last { $0 <= first } ?? 1
                    let to = (runs.starts.first { $0 > first } ?? runs.last) - 1
                    result.findings[i].uncertainty.append(
                        "\(runs.text): its evidence from that log before line \(runs.last), where the last run begins, is an earlier QEMU run's, read as if one controller ran on; give the run it begins in alone: \(Self.linesCommand(input, from: from, to: to))")
                }
            }
            // An input whose events go back in time by 100 ms or more holds pieces put one
            // after another; its events were taken in the order of the file.
            for m in members {
                guard let why = Self.steppingBack(placed[m].source.summary) else { continue }
                for i in result.findings.indices {
                    result.findings[i].uncertainty.append(
                        "\(why.text) (see the notes): the analysis takes an input's events in the order of its file, so this finding may come from that order, not from the queue")
                }
            }
            let clockInput = UInt16(placed[members[0]].index)
            for i in result.findings.indices { result.findings[i].clockInput = clockInput }
            groups.append(result)
        }
        let inputs = placed.map(\.source.summary)
        for input in inputs where input.events == 0 && !errors.contains(where: { $0.path == input.path }) {
            errors.append(.noRecognisedEvents(path: input.path, format: input.format))
        }
        for input in inputs {
            switch input.clock {
            case .timestamps: break
            case .orderOnly: notes.append("\(input.path): no timestamps; analysed for order only (durations and --min-wait do not apply).")
            case .counter:
                notes.append("\(input.path): its times are bare counts of a clock that does not count nanoseconds (ftrace's x86-tsc, counter or uptime clock; the trace does not say which, nor its rate); analysed for order only (durations and --min-wait do not apply), and not aligned with other inputs. Record with a nanosecond clock (local, global, mono, boot) to have both.")
            }
        }
        for input in inputs {
            guard let line = input.dumpWithoutStart else { continue }
            notes.append("\(input.path):\(line): an ftrace dump's event lines begin here without the dump's `Dumping ftrace buffer:` line (the console was captured or copied from inside the dump): they are read as a dump, placed before this line's stamp as a dump is before its first line's. Events printed before the capture began are not in the input.")
        }
        var undecided: [String] = []
        for input in inputs {
            guard let line = input.endsInsideDump else { continue }
            // The I/O commands the dump leaves outstanding: at any instant of busy I/O some
            // are, so they are no hang, but a healthy verdict cannot rest on them either.
            let open = groups.flatMap(\.outstandingAtEnd).filter { Int($0.source) == input.index }
            let total = open.reduce(0) { $0 + $1.count }
            let which = open.map { "\($0.queue.controllerName) qid \($0.queue.qid): \($0.count)" }.joined(separator: ", ")
            notes.append("\(input.path):\(line): the ftrace dump that begins here has no end: the console stops while it was printed (the VM died, or the capture stopped). What the buffer recorded after the last line printed is not in the input: commands submitted near that line may have waited long after it, and cannot be judged from this input."
                + (total == 0 ? "" : " Where it stops, \(total) I/O command(s) are outstanding (\(which)): whether they completed is not in the input."))
            undecided.append("\(input.path): its ftrace dump (from line \(line)) is cut short"
                + (total == 0 ? "" : ", \(total) I/O command(s) outstanding where it stops (\(which))"))
        }
        for input in inputs where input.nulPadding > 0 {
            notes.append("\(input.path): the file ends in \(input.nulPadding) NUL byte(s) after its last line: space the file system had allocated when the writer stopped (the VM or the host went down while the file was written). The lines before them were read; what was recorded after the last one is not in the file.")
            // As a last line cut short: what followed is not in the file (a console's serial
            // capture keeps NULs where the line was reopened, and ends as it likes).
            if input.format != .consoleLog {
                undecided.append("\(input.path) ends in \(input.nulPadding) NUL byte(s) where its writer stopped: what followed is not in the file")
            }
        }
        for input in inputs {
            guard let at = input.cutShortAt else { continue }
            // A pcap keeps its inputs' events in one time order (a converted run: the guest's
            // clock first, the host's after), so a cut takes the end of every part with it, or
            // a whole part: half of a healthy run's pcap kept its guest events and a quarter of
            // its QEMU log's, and read as healthy without a word.
            notes.append("\(input.path)@\(at): the file ends inside a record: it was cut short while it was written or copied. The records before it were read; whatever followed is not in the file, and a hang there cannot be seen.")
            undecided.append("\(input.path) is cut short at byte \(at): what followed is not in the file")
        }
        for input in inputs {
            guard let line = input.unterminatedLastLine else { continue }
            notes.append("\(input.path):\(line): the last line has no newline: the file looks cut short while it was written or copied. That line was read as it stands (a number cut short reads as another), and the input may end before the run did.")
            // A recorder writes whole lines: a trace that ends inside one was copied or cut
            // while the run went on, and a hang after it is not in the file (a QEMU log cut
            // inside a hang, before the guest gave up, reads as an idle queue). A console's last
            // line is often a prompt without one (`login: `).
            if input.format != .consoleLog {
                undecided.append("\(input.path) ends inside its line \(line): what followed is not in the file")
            }
        }
        for input in inputs {
            guard let why = Self.steppingBack(input) else { continue }
            notes.append(
                "\(why.text): recorders keep their events in time order, so this input holds pieces put one after another — a trace's `per_cpu/cpu*/trace` files concatenated, or two recordings in one file. The analysis takes an input's events in the order of its file: from there on its queues' timelines mix the pieces, and a hang may be missed or one found that did not happen. Give the pieces as separate files (one trace's per-CPU files are merged by time), or keep the trace's `trace` file or trace.dat.")
            undecided.append("\(why.short): its pieces were taken in file order")
        }
        for input in inputs {
            guard let (text, short) = Self.foreignLines(input) else { continue }
            // Another input holds that format (a host syslog read as a console beside the QEMU
            // log itself): its events may be those passed over, and are analysed there.
            // (Not a pcap: it holds either side's events, or both.)
            let formats: Set<TraceFormat> = input.foreignFormat == InputSummary.foreignGuestTrace ? [.ftraceText, .traceDat] : [.qemuLog, .qemuSimple]
            if let other = inputs.first(where: { $0.index != input.index && formats.contains($0.format) }) {
                notes.append(text + " (\(other.path), among the inputs, may hold them.)")
                continue
            }
            notes.append(text)
            undecided.append(short)
        }
        let consoleGiven = inputs.contains { $0.format == .consoleLog }
        for input in inputs {
            guard let (text, short) = Self.guestTimeoutsPassedOver(input, consoleGiven: consoleGiven) else { continue }
            notes.append(text)
            if let short { undecided.append(short) }
        }
        for input in inputs {
            guard let boots = Self.severalBoots(input) else { continue }
            let last = input.bootBanners.last ?? 0
            notes.append(
                "\(boots): the VM was started again and its console appended to the same file. Each boot's kernel clock starts again at 0, so their messages share times, and read as one log they mix: a timeout of one boot is placed among another's events. Give the boot of the run alone — the last one from line \(last) (`tail -n +\(last) \(input.path)`), or the lines up to the next banner.")
            undecided.append("\(boots): their messages mix")
        }
        for input in inputs {
            guard let runs = Self.severalQemuRuns(input) else { continue }
            notes.append(
                "\(runs.text): libvirt appends each start of the VM to one log, and the log is read as one run of one controller: its queues' counts add the runs' together, and an earlier run's events are placed on the other inputs' clock by the pairs of the run they pair with. Give one run's part alone — the last from line \(runs.last): \(runs.keep) —, or the lines up to the next `starting up`.")
        }
        var result = combine(inputs: inputs, groups: groups, notes: notes, options: options)
        result.undecided = undecided + result.undecided
        result.alignment = alignment
        result.setAside = setAside
        // Console logs that tell no timeout, abort or reset, and no input with a queue's events:
        // "no finding" alone would read as healthy queues that nothing here has seen. (Not an
        // input error: such a console is a healthy run's, and says so as far as it can.)
        if errors.isEmpty, result.queues.isEmpty, result.findings.isEmpty, !inputs.isEmpty,
            inputs.allSatisfy({ $0.format == .consoleLog })
        {
            result.notes.append(Self.consoleAloneNote)
            result.undecided.append("console logs only: no input holds a queue's events")
        }
        if !errors.isEmpty { throw AnalysisFailure(errors: errors, partial: result) }
        return result
    }

    /// One input of several merged: when it fails mid-read it ends there, its error kept for
    /// the report, and the merge goes on with the others (read on the merge's thread; the error
    /// is read once the merge has ended).
    final class CutShortSource: EventSource {
        let inner: any EventSource
        @exclusivity(unchecked) private(set) var error: InputError?

        init(_ inner: any EventSource) { self.inner = inner }

        var summary: InputSummary { inner.summary }
        var readsOnOneThread: Bool { inner.readsOnOneThread }

        func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
            if error == nil {
                do throws(InputError) {
                    return try inner.nextBatch(into: &buffer)
                } catch {
                    self.error = error
                }
            }
            buffer.removeAll(keepingCapacity: true)
            return false
        }
    }

    /// Why a console is not of the boot a guest trace recorded, or nil when nothing says so: of
    /// its `I/O N QID q timeout, aborting` messages within the trace's times, fewer than half
    /// have an ABORT of a command of queue q in the trace within a second after (the kernel
    /// prints the message, then submits the ABORT), where the trace records admin commands.
    /// A step back in time from one event to the next this large is no recorder's reordering
    /// (a QEMU log's threads and ftrace's CPUs stay within microseconds; a console's `dmesg`
    /// listing is put in place by its reader): the input is pieces put one after another.
    static let stepBackLimit: Int64 = 100_000_000

    /// What to say of `input` when its events step back in time by `stepBackLimit` or more.
    static func steppingBack(_ input: InputSummary) -> (text: String, short: String)? {
        guard input.clock == .timestamps, let step = input.largestStepBack, step.by >= stepBackLimit else { return nil }
        let at = SourceLocation(source: input.index, unit: input.locationUnit, value: step.at).render(path: input.name)
        let more = input.outOfOrder > 1 ? " (\(input.outOfOrder) events go back in all; this is the largest step)" : ""
        return (
            "\(at): the events go back in time by \(formatDuration(step.by)), from \(formatSeconds(step.from)) s to \(formatSeconds(step.to)) s\(more)",
            "\(at): the events go back in time by \(formatDuration(step.by))"
        )
    }

    /// Sampled lines of another format's NVMe events that make an input two recordings in one.
    static let foreignLinesLimit: UInt64 = 4

    /// What to say of a text input that holds another format's NVMe events among the lines its
    /// reading skips (two recordings put one after the other in one file or stream).
    static func foreignLines(_ input: InputSummary) -> (text: String, short: String)? {
        guard input.foreignLinesSeen >= foreignLinesLimit, let first = input.firstForeignLine, let other = input.foreignFormat else {
            return nil
        }
        let at = SourceLocation(source: input.index, unit: .line, value: first).render(path: input.name)
        let about = input.foreignLinesSeen &* InputSummary.foreignSampleStep
        return (
            "\(at): this \(input.format.rawValue) input holds \(other)'s lines too, about \(about) NVMe events of it from here on, and its reading passes over them: two recordings put into one file or stream (`cat guest.txt qemu.log`, `zstd -dc a.zst b.zst | shadowbell analyze -`). Only its \(input.format.rawValue) events were analysed, and what the other recording shows is not in this report. Give each recording as its own input (`shadowbell analyze guest.txt qemu.log`).",
            "\(at): \(other)'s lines in the same input were passed over"
        )
    }

    /// What to say of a QEMU log with the guest console's timeout messages among the lines its
    /// reading skips (`InputSummary.guestTimeoutsPassedOver`); undecided (`short`) unless a
    /// console is among the inputs: the guest gave up, and the log alone may not show why.
    static func guestTimeoutsPassedOver(_ input: InputSummary, consoleGiven: Bool) -> (text: String, short: String?)? {
        guard input.guestTimeoutsPassedOver > 0, let first = input.firstGuestTimeoutPassedOver else { return nil }
        let at = SourceLocation(source: input.index, unit: .line, value: first).render(path: input.name)
        let count = "\(input.guestTimeoutsPassedOver) nvme timeout message(s) of the guest's console"
        if consoleGiven {
            return ("\(at): \(count) are in this \(input.format.rawValue) input too (its console written into the same file); they were read from the console given.", nil)
        }
        let extract = linesCommand(input, "grep -aE 'nvme nvme|Linux version'", stdin: "its lines")
        return (
            "\(at): this \(input.format.rawValue) input holds \(count), the first here — the serial console and QEMU's trace written to one file (`-nographic 2>&1 | tee`) —, and its reading passes over them: the guest gave up on commands, and this report does not read which, when or why. Give the console's lines as an input of their own: \(extract) into a file (`… > console.log`), then `shadowbell analyze \(input.path == "-" ? "qemu.log" : input.path) console.log`.",
            "\(at): the guest console's \(input.guestTimeoutsPassedOver) timeout message(s) in it were passed over (give them as a console)"
        )
    }

    /// A shell command running `filter` (`tail -n +N`, `sed -n 'A,Bp'`) on `input`'s lines
    /// (decompressed when it is), or, for standard input, `stdin` (the lines, in words) and the
    /// filter to pipe it into.
    static func linesCommand(_ input: InputSummary, _ filter: String, stdin: String) -> String {
        switch (input.path, input.compression) {
        case ("-", _): return "\(stdin) (`… | \(filter)`)"
        case (_, "gzip"?): return "`zcat \(input.path) | \(filter)`"
        case (_, "zstd"?): return "`zstdcat \(input.path) | \(filter)`"
        case (_, "xz"?): return "`xzcat \(input.path) | \(filter)`"
        default: return "`\(filter) \(input.path)`"
        }
    }

    /// The lines `from`…`to` of `input` (`linesCommand`).
    static func linesCommand(_ input: InputSummary, from: UInt64, to: UInt64) -> String {
        linesCommand(input, "sed -n '\(from),\(to)p'", stdin: "the lines \(from) to \(to) of standard input")
    }

    /// What to say of a QEMU log holding the events of several QEMU runs (libvirt's log of the
    /// VM, appended at each start), the line its last run with events begins at, the command
    /// keeping that run, and the lines each run with events begins at; nil for one.
    static func severalQemuRuns(_ input: InputSummary) -> (text: String, last: UInt64, keep: String, starts: [UInt64])? {
        let between = input.startsBetweenRuns
        guard let last = between.last?.line else { return nil }
        // Each run with events begins at the last start before its first event (runs without
        // events between them are passed over).
        var starts: [UInt64] = []
        for (k, s) in input.processStarts.enumerated() where s.eventsBefore < input.events {
            let next = input.processStarts.dropFirst(k + 1).first
            if next == nil || next!.eventsBefore != s.eventsBefore { starts.append(s.line) }
        }
        let lines = starts.prefix(4).map(String.init).joined(separator: ", ") + (starts.count > 4 || input.processStartCount > UInt64(input.processStarts.count) ? ", …" : "")
        let keep = linesCommand(input, "tail -n +\(last)", stdin: "the lines of standard input from line \(last) on")
        return ("\(input.path == "-" ? "standard input" : input.path) holds the events of \(Set(between.map(\.eventsBefore)).count + 1) QEMU runs (libvirt's `starting up` line at line(s) \(lines))", last, keep, starts)
    }

    /// What to say of a console holding several boots, nil for one.
    static func severalBoots(_ input: InputSummary) -> String? {
        guard input.bootBanners.count > 1 else { return nil }
        let lines = input.bootBanners.prefix(4).map(String.init).joined(separator: ", ") + (input.bootBanners.count > 4 ? ", …" : "")
        return "\(input.path) holds \(input.bootBanners.count) boots (the kernel's `Linux version` banner at lines \(lines))"
    }

    /// How long a guest may take from printing `timeout, aborting` to submitting the ABORT
    /// (printing to a slow serial console holds it back): a console placed by those pairs is
    /// this uncertain, and one less far from the trace is taken to share its clock.
    static let consoleLatency: Int64 = 30_000_000

    /// How far a console's printk clock lies from a guest trace's clock, from the console's
    /// `timeout, aborting` messages within the trace's span (`from`...`to`, ±1 s) and the
    /// trace's ABORTs of the commands they name within a second: nil unless every such message
    /// has one and they put the console at least `consoleLatency` early (a message is printed
    /// just before its ABORT is submitted) or any later than its ABORT. The shift places each
    /// message at or before its ABORT; `spread` is how far the pairs disagree.
    static func consoleClockShift(_ console: AnchorSet?, guest: AnchorSet?, from: Int64, to: Int64) -> (shift: Int64, pairs: Int, spread: Int64)? {
        guard let console, let guest, !guest.driverAborts.isEmpty, from <= to else { return nil }
        let low = from.subtractingReportingOverflow(1_000_000_000), high = to.addingReportingOverflow(1_000_000_000)
        let span = (low.overflow ? Int64.min : low.partialValue)...(high.overflow ? Int64.max : high.partialValue)
        var differences: [Int64] = []
        for t in console.notices where t.kind == .guestAborting && span.contains(t.time) {
            // The ABORT of the command it names (its queue and kernel tag), the nearest.
            let nearest = guest.driverAborts.lazy.filter { $0.qid == t.qid && $0.tag == t.tag }.map { $0.time &- t.time }
                .filter { $0.magnitude <= 1_000_000_000 }.min { $0.magnitude < $1.magnitude }
            guard let d = nearest else { return nil }
            differences.append(d)
        }
        guard let least = differences.min(), let most = differences.max() else { return nil }
        guard least >= consoleLatency || most < 0 else { return nil }
        return (least, differences.count, most - least)
    }

    static func anotherBootsConsole(_ console: AnchorSet?, guest: AnchorSet?, from: Int64, to: Int64) -> String? {
        guard let console, let guest, guest.adminSubmits > 0, from <= to else { return nil }
        let timeouts = console.notices.filter { $0.kind == .guestAborting && $0.time >= from && $0.time <= to }
        guard let first = timeouts.first else { return nil }
        let agreeing = timeouts.count { t in
            guest.driverAborts.contains { $0.qid == t.qid && $0.time >= t.time &- 1_000_000_000 && $0.time <= t.time &+ 1_000_000_000 }
        }
        guard agreeing * 2 < timeouts.count else { return nil }
        let aborts = guest.driverAborts.filter { $0.time >= from && $0.time <= to }
        return "\(timeouts.count - agreeing) of its \(timeouts.count) timeout message(s) within the trace's times (the first, QID \(first.qid) at \(formatSeconds(first.time)) s) have no ABORT of that queue's commands in the trace within a second"
            + (aborts.isEmpty ? ", which holds none" : ", which holds \(aborts.count) elsewhere (the first, of QID \(aborts[0].qid) at \(formatSeconds(aborts[0].time)) s)")
    }

    /// Whether a sign of several controllers that rests on a deletion or reset (`ended`) has a
    /// damaged line of its input between that end and the use: the event one controller shows
    /// there (a Doorbell Buffer Config, a creation) may be the line lost (a QEMU log with its
    /// second `pci_nvme_dbbuf_config` cut short was "two or more NVMe controllers").
    static func damagedBetween(_ twice: QueueCreatedTwice, _ summary: InputSummary) -> Bool {
        guard let ended = twice.ended, summary.malformed > 0 else { return false }
        let lines = summary.firstMalformed.map(\.location.value)
        if lines.contains(where: { $0 > ended.location && $0 <= twice.again.location }) { return true }
        // More than the first few listed: they may lie anywhere past the last one listed.
        return summary.malformed > UInt64(lines.count) && (lines.last ?? 0) < twice.again.location
    }

    /// The note on a controller's trace set aside for holding several controllers' events
    /// (`twice`), with the guest-side inputs (`from`) the run is analysed from; and its few words.
    static func setAsideNote(_ twice: QueueCreatedTwice, path: String, unit: SourceLocation.Unit, from: [String]) -> (note: String, short: String) {
        func at(_ r: EventRef) -> String { unit == .line ? "line \(r.location)" : "byte \(r.location)" }
        // `--controller N` names every event of the log nvmeN's: it cannot split the log.
        let controller = twice.queue.controller == 0 ? "" : " --controller \(twice.queue.controller) cannot split it: it gives every event of the log to nvme\(twice.queue.controller)."
        let note = "\(path): set aside: it \(twice.described(at)), which one controller refuses: it holds the events of two or more NVMe controllers, and QEMU's nvme trace events do not say which (one queue id and one command id space for all). Read as one controller, its queues' counts add the controllers and its findings may come from mixing them.\(controller) The run is analysed without it, from \(from.joined(separator: ", ")), which name each controller, and its verdict is theirs; a QEMU log of one controller needs a VM with one."
        let short = "\(path) set aside: it holds several NVMe controllers' events (\(twice.short(at)))"
        return (note, short)
    }

    /// `0,2-3` for CPUs 0, 2 and 3.
    static func cpuList(_ mask: UInt64) -> String {
        var parts: [String] = []
        var cpu = 0
        while cpu < 64 {
            guard mask & (1 << cpu) != 0 else {
                cpu += 1
                continue
            }
            var last = cpu
            while last + 1 < 64, mask & (1 << (last + 1)) != 0 { last += 1 }
            parts.append(last == cpu ? "\(cpu)" : "\(cpu)-\(last)")
            cpu = last + 1
        }
        return parts.joined(separator: ",")
    }

    /// When input `i` and the others hold commands of different controllers only — the guest's
    /// disk is nvme1 while a QEMU log's events are read as nvme0 (`--controller`, default 0) —
    /// which `--controller` would let them meet.
    static func controllerHint(_ i: Int, anchors: [AnchorSet?]) -> String {
        func controllers(_ a: AnchorSet?, guest: Bool) -> Set<UInt16> {
            guard let a else { return [] }
            return Set((guest ? a.submits : a.fetches).prefix(4096).map { UInt16(truncatingIfNeeded: $0.key >> 48) })
        }
        let guestSide = anchors[i]?.isGuestSide == true
        let mine = controllers(anchors[i], guest: guestSide)
        let theirs = anchors.indices.filter { $0 != i }.reduce(into: Set<UInt16>()) { $0.formUnion(controllers(anchors[$1], guest: !guestSide)) }
        guard !mine.isEmpty, !theirs.isEmpty, mine.isDisjoint(with: theirs) else { return "" }
        let guest = (guestSide ? mine : theirs).sorted(), host = (guestSide ? theirs : mine).sorted()
        guard guest.count == 1, let only = guest.first, host.count == 1, let read = host.first else { return "" }
        return ". The guest's commands are all on nvme\(only) and the controller's trace is read as nvme\(read): if that QEMU emulated nvme\(only), give --controller \(only)"
    }

    /// Time-ordered merge of the sources of one clock domain (ties keep input order), on a
    /// thread of its own when `ahead`: reading the inputs back, mapping their times and merging
    /// them overlaps the analysis.
    /// `until`: the analysis stops after the first batch that goes past its time.
    static func merge(_ sources: [any EventSource], into analyzer: ClockGroupAnalyzer, ahead: Bool, until end: ObservationEnd? = nil) throws(InputError) {
        let source: any EventSource
        if sources.count == 1 {
            source = sources[0]
        } else {
            source = ahead ? ReadAheadSource(MergedEventSource(sources)) : MergedEventSource(sources)
        }
        var buffer: [Event] = []
        buffer.reserveCapacity(MergedEventSource.batch)
        while try source.nextBatch(into: &buffer) {
            for e in buffer { analyzer.consume(e) }
            if let end, let last = buffer.last, last.time > end.time { break }
        }
    }

    /// A controller trace without timestamps (a QEMU log without `-msg timestamp=on`) is a clock
    /// domain of its own beside a console log's: the console's stuck commands and the log's hangs on
    /// the same queue were the same hangs told twice (hang-sq2: 4 errors for 2 hangs), and the
    /// console's story said QEMU's trace "would tell", though it was an input. Where a queue's
    /// hangs in the log and the console's stuck commands on it are as many, they are matched by
    /// their order: the log's finding tells the console's side (its timeouts, with their lines)
    /// and the console's finding is dropped. Where the counts differ, the console's story says
    /// why the log could not be placed beside it.
    static func toldOnceByOrder(_ findings: [(group: Int, finding: Finding)], groups: [GroupResult], inputs: [InputSummary])
        -> [(group: Int, finding: Finding)]
    {
        let untimed = Set(groups.indices.filter { !groups[$0].clock.measuresTime && groups[$0].controllerEventsSeen })
        guard !untimed.isEmpty else { return findings }
        let hangKinds: Set<FindingKind> = [.mutualWait, .controllerIdleWithWork]
        func isHang(_ k: Int) -> Bool {
            untimed.contains(findings[k].group) && hangKinds.contains(findings[k].finding.kind) && findings[k].finding.severity == .error
        }
        // (A console's: a guest trace's stuck commands keep their own finding, with the times
        // and commands the console does not have.)
        func isConsoleStuck(_ k: Int) -> Bool {
            let g = groups[findings[k].group]
            return !untimed.contains(findings[k].group) && !g.controllerEventsSeen && findings[k].finding.kind == .stuckCommand
                && g.sources.allSatisfy { s in inputs.first { $0.index == Int(s) }?.effectiveFormat == .consoleLog }
        }
        let paths = untimed.flatMap { g in groups[g].sources.compactMap { s in inputs.first { $0.index == Int(s) }?.path } }.sorted()
        var out = findings
        var dropped = Set<Int>()
        for queue in Set(findings.indices.filter(isHang).map { findings[$0].finding.queue }).sorted(by: { $0.description < $1.description }) {
            let hangs = findings.indices.filter { isHang($0) && findings[$0].finding.queue == queue }
            let stuck = findings.indices.filter { isConsoleStuck($0) && findings[$0].finding.queue == queue }
            guard !stuck.isEmpty, stuck.count == hangs.count else { continue }
            for (n, (h, s)) in zip(hangs, stuck).enumerated() {
                let console = findings[s].finding
                let lines = console.evidence.prefix(4).map { e in
                    let path = inputs.first { $0.index == Int(e.location.source) }?.path ?? "input \(e.location.source)"
                    return "\(e.summary) (\(path):\(e.location.value))"
                }
                out[h].finding.explanation += " The guest's side of it is in \(inputs.first { $0.index == Int(console.evidence.first?.location.source ?? 0) }?.path ?? "the console"): \(console.message)"
                    + (lines.isEmpty ? "" : " — \(lines.joined(separator: "; "))")
                    + ". It is matched to this window by order (the \(n + 1)\(n == 0 ? "st" : n == 1 ? "nd" : n == 2 ? "rd" : "th") of \(hangs.count) hang(s) on \(queue) in each input): \(paths.joined(separator: ", ")) has no timestamps to place the console's lines on its order."
                dropped.insert(s)
            }
        }
        for k in out.indices where isConsoleStuck(k) && !dropped.contains(k) {
            out[k].finding.explanation = out[k].finding.explanation.replacing(
                "QEMU's trace (pci_nvme_*) of the same run would.",
                with: "QEMU's trace among the inputs (\(paths.joined(separator: ", "))) has no timestamps to place beside it, and its hangs could not be matched to these by order.")
        }
        return out.indices.filter { !dropped.contains($0) }.map { out[$0] }
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
        // Groups come in the order of the reference rule, so their position (not the inputs'
        // indices, which follow the command line) orders findings of different clocks.
        var findings = groups.enumerated().flatMap { g in g.element.findings.map { (group: g.offset, finding: $0) } }.sorted {
            ($0.group, $0.finding.start, $0.finding.queue, $0.finding.kind.rawValue, $0.finding.end ?? Int64.max)
                < ($1.group, $1.finding.start, $1.finding.queue, $1.finding.kind.rawValue, $1.finding.end ?? Int64.max)
        }
        var notes = notes
        for g in groups where g.eventsBeyondQueueLimit > 0 {
            notes.append(
                "\(g.eventsBeyondQueueLimit) event(s) left out: they name more than \(ClockGroupAnalyzer.queueLimit) queues in one clock domain (the limit keeps memory bounded)")
        }
        for g in groups where g.submissionsBeyondCommandLimit > 0 {
            notes.append(
                "\(g.submissionsBeyondCommandLimit) submission(s) left out: they came while \(ClockGroupAnalyzer.outstandingCommandLimit) commands were outstanding in one clock domain (the limit keeps memory bounded)")
        }
        var undecided: [String] = []
        // A controller's trace in a clock domain of its own beside the driver's in another:
        // their events are in no common order, so no wait between the two sides is judged (an
        // untimed QEMU log beside a hung run's guest trace read as healthy without a word).
        if groups.contains(where: { $0.driverEventsSeen && !$0.controllerEventsSeen }) {
            for g in groups where g.controllerEventsSeen && !g.driverEventsSeen {
                let paths = g.sources.compactMap { s in inputs.first { $0.index == Int(s) }?.path }
                guard !paths.isEmpty else { continue }
                undecided.append("\(paths.joined(separator: ", ")) is not placed on the guest trace's clock (its alignment says why): the controller's events and the driver's are in no common order, so a wait between the two sides is not judged")
            }
        }
        for g in groups {
            for late in g.lateCommands {
                undecided.append("\(late.queue.controllerName) qid \(late.queue.qid): \(late.count) command(s) outstanding where the input ends, the oldest for \(formatDuration(late.oldest)): too soon to tell")
                notes.append(
                    "\(late.queue.controllerName) qid \(late.queue.qid): \(late.count) command(s) still outstanding where the input ends, the oldest for \(formatDuration(late.oldest)) — below --stuck-after (\(formatDuration(options.stuckAfter))), so not reported as stuck: the trace ends too soon to tell whether they would have completed (--stuck-after \(formatDuration(ClockGroupAnalyzer.lateCommandAge)) reports them)")
            }
        }
        for g in groups {
            guard let after = g.afterControllerEnd else { continue }
            let total = after.queues.reduce(0) { $0 + $1.count }
            let which = after.queues.map { "\($0.queue.controllerName) qid \($0.queue.qid): \($0.count)" }.joined(separator: ", ")
            let gap = formatDuration(after.guestEnd - after.controllerEnd)
            notes.append("The controller's trace ends \(gap) before the guest's (at \(formatSeconds(after.controllerEnd)) s): \(total) I/O command(s) (\(which)) are still outstanding where the guest's trace ends, with no completion on their queue since the controller's trace ended. Whether the controller slept on them (a hang: it logs nothing while it sleeps) or its log stopped is not in the inputs; a controller trace that goes on as long would tell.")
            undecided.append("\(total) I/O command(s) (\(which)) still outstanding where the guest's trace ends, \(gap) after the controller's, with no completion on their queue since")
        }
        for g in groups {
            for q in g.silentQueues {
                let others = q.running.isEmpty ? "" : " while \(q.running.map(\.description).joined(separator: ", ")) kept being fetched from"
                if let reset = q.machineReset, q.sameProcess {
                    undecided.append("\(q.queue): the controller asleep on it for \(formatDuration(q.silence)) when the VM was reset at \(formatSeconds(reset)) s, sooner than the guest's I/O timeout would show a hang: not judged")
                    notes.append(
                        "\(q.queue): the controller was asleep on it for \(formatDuration(q.silence)) (since \(formatSeconds(q.since)) s)\(others) when a PCI function-level reset at \(formatSeconds(reset)) s reset the VM with the queue alive, inside the same QEMU process (`virsh reset`, `system_reset`, a watchdog). The guest gives up on I/O (an ABORT, which would show here) only after its I/O timeout, 30 s by default: a reset this soon cannot tell an idle queue from a doorbell the controller missed. The guest's trace or console would.")
                    continue
                }
                if let reset = q.machineReset {
                    undecided.append("\(q.queue): the controller asleep on it for the last \(formatDuration(q.silence)) of a QEMU run that another process's start (at \(formatSeconds(reset)) s) ended, with no ABORT before: not judged")
                    notes.append(
                        "\(q.queue): the controller was asleep on it for the last \(formatDuration(q.silence)) of a QEMU run (since \(formatSeconds(q.since)) s, to its last fetch)\(others), with the queue alive; then another QEMU process began on the same log (its PCI reset at \(formatSeconds(reset)) s, from another thread than the last one's): the VM was killed, or stopped, and started again — a hung VM restarted, or a run cut short. The guest had not given up first (no ABORT in the trace). From the controller's side alone a queue left idle and a doorbell it missed look alike; the guest's trace or console of that run would tell.")
                    continue
                }
                undecided.append("\(q.queue): the controller asleep on it for the last \(formatDuration(q.silence)) of the trace, other queues running: too soon to tell")
                notes.append(
                    "\(q.queue): the controller was asleep on it for the last \(formatDuration(q.silence)) of the trace (since \(formatSeconds(q.since)) s) while \(q.running.map(\.description).joined(separator: ", ")) kept being fetched from. From the controller's side alone a queue left idle and a doorbell it missed look alike, and the guest gives up on I/O (its ABORT, which would show here) only after its timeout, 30 s by default: a trace that ends this soon cannot tell. The guest's trace or console would.")
            }
        }
        for g in groups {
            for q in g.silencesBeforeTeardown {
                let since = q.sinceTraceStart ? "since the trace began (\(formatSeconds(q.since)) s)" : "since \(formatSeconds(q.since)) s"
                undecided.append("\(q.queue): silent for \(formatDuration(q.silence)) until the guest tore it down at \(formatSeconds(q.teardown)) s, other queues running, and commands resubmitted on it after: the trace holds no ABORT to tell the hang")
                notes.append(
                    "\(q.queue): the controller did not look at it for \(formatDuration(q.silence)) (\(since)) while \(q.running.map(\.description).joined(separator: ", ")) kept being fetched from; then the guest tore it down (\(formatSeconds(q.teardown)) s) and, \(formatDuration(q.resubmitted - q.teardown)) later, the controller fetched commands on it again: the guest resubmitted commands that had waited on it through that silence. A guest gives up on I/O after its timeout with ABORT commands, and the trace holds none before this teardown (it begins after them, lost lines there, or does not trace admin commands): whether the controller missed a doorbell or the queue's commands were stuck elsewhere, it cannot tell. The guest's trace or console would.")
            }
        }
        for g in groups {
            for giveUp in g.unexplainedGiveUps {
                let name = "nvme\(giveUp.controller)"
                let reset = giveUp.reset.map { " and reset it at \(formatSeconds($0)) s" } ?? ""
                undecided.append("\(name): the guest aborted \(giveUp.aborts) command(s) at \(formatSeconds(giveUp.firstAbort)) s\(reset), and no queue had been silent before long enough to hold what timed out: what it gave up on is not in the inputs")
                notes.append("\(name): the guest aborted \(giveUp.aborts) command(s) from \(formatSeconds(giveUp.firstAbort)) s\(reset): its I/O timeout expired for them. No queue of the controller had been silent before the first ABORT long enough to hold a command that timed out (--min-wait, \(formatDuration(options.minWait)), or a tenth of the I/O timeout that its reset measures, from the first ABORT), and no finding covers that time: the controller kept working, or was slower than the guest's I/O timeout (a lowered nvme_core.io_timeout, a simulation's scaled one). The guest's trace or console would tell which commands it gave up on.")
            }
        }
        for g in groups {
            guard let missing = g.completionsMissing else { continue }
            undecided.append("the guest trace holds \(missing.completed) completion(s) for \(missing.submitted) I/O submission(s): its completions were left out")
            notes.append("The guest trace holds \(missing.completed) completion(s) for \(missing.submitted) I/O submission(s): its completions were left out — `trace-cmd report -I` or `-S` drops the hardirq or softirq context nvme_complete_rq runs in, or the event was not enabled. Stuck commands and waits inferred from the guest's submissions are marked uncertain; give the report without -I/-S, or the trace.dat.")
        }
        if groups.contains(where: \.ioWithoutTracedDoorbells) {
            notes.append("The controller fetched I/O commands but the trace shows no MMIO doorbell for any I/O queue: QEMU with ioeventfd=on (`-device nvme,ioeventfd=on`; off by default) handles I/O-queue doorbells without a trace event. A wait that a doorbell ended cannot be told from one the controller's own re-read ended; a stall shows only by the controller's silence.")
        }
        findings = Self.toldOnceByOrder(findings, groups: groups, inputs: inputs)
        var story = findings.map(\.finding)
        // A wait open where the input ends, shorter than --min-wait only because the trace
        // stopped (MutualWaitDetector): a warning and no verdict of health, unless it owns
        // commands outstanding beyond --stuck-after or the guest gave up inside it — then the
        // queue hung, whatever the trace's end (as a warning it took those commands' error with
        // it, and hung simulated runs passed).
        for i in story.indices where story[i].kind == .mutualWait && story[i].value("cut_short_by_end_of_trace") != nil {
            if Self.hungWhatever(story[i], among: story) {
                story[i].uncertainty.removeAll { $0.contains("after this wait began, before --min-wait") || $0.contains("after this wait began, and has no durations") }
                continue
            }
            story[i].lowered = .warning
            let open = story[i].value("duration_ns").flatMap { v -> Int64? in if case .int(let n) = v { return n } else { return nil } } ?? 0
            // (An input without timestamps counts the wait's length in events.)
            let clock = groups[findings[i].group].clock
            let span = formatSpan(open, clock: clock)
            let soon = clock.measuresTime ? "before --min-wait" : "the input has no durations"
            // The story said the hang was still going on: the trace cannot tell that here.
            story[i].explanation = story[i].explanation.replacing(
                Resolution.endOfTrace.sentence,
                with: "Neither side moved again before the trace ended, \(span) after the window opened, \(soon): whether this was the start of a hang or a wait that would soon have ended, the trace cannot tell.")
            undecided.append("\(story[i].queue): a mutual wait open where the input ends, \(span) after it began (\(soon)): too soon to tell")
        }
        // A guest trace of one CPU of several (per_cpu/cpu1/trace, `trace-cmd report --cpu 1`,
        // a grep of one CPU's lines): a command submitted on it may complete on another, so
        // its stuck commands may be none (single's CPU 1 alone showed 16 admin commands stuck).
        for (k, g) in groups.enumerated() {
            let parts = g.sources.compactMap { s in inputs.first { $0.index == s && $0.effectiveFormat == .ftraceText } }
            let covered = parts.reduce(UInt64(0)) { $0 | $1.cpus }
            let count = parts.map(\.cpuCount).max() ?? 0
            guard covered.nonzeroBitCount == 1, count > 1 || covered != 1 else { continue }
            // Without a command of the driver's (a trace of no NVMe event) there is nothing to
            // mark uncertain, and the note would say what does not apply.
            guard g.queues.contains(where: { $0.stats.commandsSubmitted > 0 || $0.stats.commandsCompleted > 0 }) else { continue }
            let cpu = covered.trailingZeroBitCount
            let said = count > 1 ? "of the \(count) its header counts" : "and not CPU 0, which every machine has"
            notes.append("\(parts.map(\.path).joined(separator: ", ")): the guest trace holds the events of CPU \(cpu) only, \(said): one CPU's part of a trace kept per CPU (per_cpu/cpu\(cpu)/trace, trace-cmd report --cpu \(cpu), a grep of its lines)? A command submitted on one CPU completes on another: stuck commands are marked uncertain. Give every CPU's file together (they are read as one trace).")
            var lowered = 0
            // Aborted commands whose submission is not in the trace were submitted on a CPU it
            // leaves out as likely as before it began (CPU 0's part said only "before").
            for i in story.indices where findings[i].group == k {
                story[i].explanation = story[i].explanation.replacing(
                    StuckCommandDetector.submittedBeforeTheTrace, with: "were not submitted within the trace: on a CPU it leaves out, or before it begins")
            }
            for i in story.indices where findings[i].group == k && story[i].kind == .stuckCommand && !story[i].inferred {
                // (A give-up the driver's ABORTs tell is no command waiting for its completion.)
                if case .string(let how)? = story[i].value("inferred_from"), how == "driver-aborts" { continue }
                story[i].uncertainty.append("the guest trace holds one CPU's events only (CPU \(cpu)): the command's completion may be on another CPU's")
                // Without the guest giving up on it, nothing says it did not complete there: a
                // warning (a healthy run's CPU part failed on 16 admin commands).
                story[i].lowered = .warning
                lowered += 1
            }
            if lowered > 0 {
                undecided.append("\(parts.map(\.path).joined(separator: ", ")) holds CPU \(cpu)'s events only: \(lowered) stuck-command finding(s) whose completion may be on another CPU's (warnings)")
            }
        }
        // A guest trace that completes I/O but holds none of the admin queue's completions: an
        // I/O queue works only once the admin commands that created it completed, so they were
        // left out — a grep of one queue's lines (`qid=2`) keeps the admin commands that name
        // it (`sqid=2`) without their completions. Its admin commands are not known stuck.
        for (k, g) in groups.enumerated() where !g.adminCompletionsLeftOut.isEmpty {
            let submitted = g.queues.filter { $0.key.type == .sq && $0.key.qid == 0 && g.adminCompletionsLeftOut.contains($0.key.controller) }
                .reduce(UInt64(0)) { $0 &+ $1.stats.commandsSubmitted }
            let why = "the guest trace holds none of the admin queue's completions, yet a queue whose creation it submitted answered I/O after it: the admin completions were left out (a grep of one queue's lines keeps the admin commands that name it, without their completions)"
            var lowered = 0
            for i in story.indices where findings[i].group == k && story[i].kind == .stuckCommand && story[i].queue.qid == 0
                && g.adminCompletionsLeftOut.contains(story[i].queue.controller) && !story[i].inferred
            {
                if case .string(let how)? = story[i].value("inferred_from"), how == "driver-aborts" { continue }
                story[i].uncertainty.append(why)
                story[i].lowered = .warning
                lowered += 1
            }
            notes.append("The guest trace holds \(submitted) admin command(s) and none of their completions, yet a queue whose creation it submitted answered I/O after it, which needs that creation to have completed: the admin queue's completions were left out of the trace (a `grep` of one queue's lines keeps the admin commands that name that queue — `sqid=2` — and none of their completions, or `nvme_complete_rq` was filtered by queue). Admin commands are not shown stuck\(lowered > 0 ? " (\(lowered) stuck-command finding(s) lowered to warnings)" : ""); give the whole trace.")
            if lowered > 0 {
                undecided.append("the guest trace holds no admin completion: \(lowered) stuck-command finding(s) on the admin queue whose completions were left out (warnings)")
            }
        }
        // A stuck command whose completion the trace lacks — its completions left out (`trace-cmd
        // report -I/-S`), or its id submitted again with none between — is no hang by itself:
        // the completion may be what is missing (`-S` put an error on a queue that kept running,
        // 164 commands "stuck"). A warning, unless the guest gave up on it (its ABORTs, its
        // timeout messages), and the verdict undecided.
        var lackingCompletions = 0
        for i in story.indices where story[i].kind == .stuckCommand && story[i].severity == .error && story[i].lowered == nil && !story[i].inferred {
            guard story[i].uncertainty.contains(where: {
                $0 == ClockGroupAnalyzer.completionsMissingWhy || $0.contains(StuckCommandDetector.resubmittedMark)
                    || $0.hasPrefix(StuckCommandDetector.lacksCompletionsMark)
            })
            else { continue }
            if case .string(let how)? = story[i].value("inferred_from"), how == "driver-aborts" { continue }
            guard !story[i].evidence.contains(where: { $0.role == "guest-timeout" || $0.role == "guest-abort" }) else { continue }
            story[i].lowered = .warning
            lackingCompletions += 1
        }
        if lackingCompletions > 0 {
            undecided.append("\(lackingCompletions) stuck-command finding(s) rest on commands whose completions the trace lacks (warnings)")
        }
        // A console of several boots beside the run's traces: a finding told by its messages
        // alone may be another boot's hang (a healthy run's trace beside a console whose
        // earlier boot hung failed on that boot's timeouts). A warning, and undecided.
        for (k, g) in groups.enumerated() {
            let consoles = Set(inputs.filter { g.sources.contains($0.index) && Self.severalBoots($0) != nil }.map(\.index))
            guard !consoles.isEmpty, g.sources.contains(where: { !consoles.contains($0) }) else { continue }
            var lowered = 0
            for i in story.indices where findings[i].group == k && story[i].severity == .error && !story[i].evidence.isEmpty
                && story[i].evidence.allSatisfy({ consoles.contains($0.location.source) })
            {
                story[i].lowered = .warning
                lowered += 1
            }
            if lowered > 0 {
                undecided.append("\(lowered) finding(s) told by the messages of a console of several boots alone, which may be another boot's (warnings)")
            }
        }
        // A controller's trace holding several controllers' events (QEMU's nvme trace events
        // name no device: two `-device nvme` share one log, one queue id and one command id
        // space): its queues mix the controllers, and what its events alone tell may be the mix
        // (two healthy controllers' log read as one controller idle with work, thrice). Said;
        // its findings are uncertain, and those no guest-side give-up stands behind are warnings.
        var unmatched: [Int: String] = [:]
        for (k, g) in groups.enumerated() {
            for twice in g.queuesCreatedTwice {
                guard let input = inputs.first(where: { $0.index == Int(twice.again.source) }), !Self.damagedBetween(twice, input) else { continue }
                func at(_ r: EventRef) -> String { input.locationUnit == .line ? "line \(r.location)" : "byte \(r.location)" }
                let what = "\(input.path) \(twice.described(at)), which one controller refuses: it holds the events of two or more NVMe controllers, and QEMU's nvme trace events do not say which (one queue id and one command id space for all)"
                notes.append("\(what). Its queues' counts add the controllers, and findings from its events may come from mixing them. The guest's trace names each controller (nvme0, nvme1) and its console tells which one gave up; a QEMU log of one controller needs a VM with one.")
                var lowered = 0
                for i in story.indices where findings[i].group == k && story[i].evidence.contains(where: { $0.location.source == twice.again.source }) {
                    story[i].uncertainty.append("\(what): this finding's evidence from it may be another controller's")
                    // Its queue is a queue id of any of them: the name is only the one all the
                    // log's events are read under (a 5 ms wait told on nvme0's SQ 1 was nvme1's).
                    let q = story[i].queue
                    let name = "\(q.type.name.uppercased()) \(q.qid)"
                    story[i].explanation += " Which controller's \(name) this was cannot be told: \(input.path) holds several controllers' events and names none, and \(q.controllerName) is only the name all its events are read under (--controller sets it); the guest's trace or console names the controller."
                    // Nor is a known bug named: the counts and order that would match one may
                    // mix the controllers' events (two healthy controllers read as one matched
                    // qemu-overcommitted-sq).
                    if unmatched[i] == nil {
                        unmatched[i] = "the counts and the order of events that would match one may mix several controllers' events"
                    }
                    // Kept an error where the guest gave up (its timeout messages, its ABORTs in
                    // its trace or in this log: an ABORT is the guest's, whichever controller
                    // it went to), which no mix of the controllers' events makes up.
                    let gaveUp = story[i].evidence.contains {
                        ($0.location.source != twice.again.source && $0.role == "guest-timeout") || $0.role == "guest-abort"
                    }
                    if story[i].severity == .error, !gaveUp {
                        story[i].lowered = .warning
                        lowered += 1
                    }
                }
                undecided.append("\(input.path) holds several controllers' events it does not tell apart\(lowered > 0 ? ": \(lowered) finding(s) resting on them alone are warnings" : "")")
            }
        }
        // An error resting on an event an input lost is a warning, unless the queue hung
        // whatever the event was.
        func lowerUnlessItHung(_ i: Int, _ lost: String) {
            guard story[i].severity == .error else { return }
            // The guest gave up on it (its ABORT or timeout messages among the evidence):
            // a hang whatever the lost event was (a damaged fetch line of a real hang's QEMU
            // log alone made its 30 s stall a warning).
            if Self.guestGaveUp(inside: story[i], among: story) {
                story[i].uncertainty.append("whatever that event was, the guest gave up on the queue's I/O: the queue hung; only why is in doubt")
            } else if case .int(let stuck)? = story[i].value("commands_outstanding_over_threshold"), stuck > 0 {
                // Its commands stayed outstanding whatever the lost event was: the queue
                // hung, only the why is in doubt (one damaged fetch line of a 30 s hang
                // made it a warning, and the run passed).
                story[i].uncertainty.append(
                    "whatever that event was, \(stuck) command(s) stayed outstanding beyond \(formatDuration(options.stuckAfter)): the queue hung; only why is in doubt")
            } else {
                // Nothing then says the queue misbehaved rather than lost an event: a
                // warning (a healthy run failed on one damaged io_cmd line).
                story[i].lowered = .warning
                undecided.append("\(story[i].kind.rawValue) on \(story[i].queue) may rest on \(lost) (a warning)")
            }
        }
        // A finding that rests on counting a queue's events, after a damaged line of an input
        // its evidence is in: the event lost there may be the one it misses (one damaged
        // io_cmd line of a healthy queue read as a controller idle with work, and a QEMU bug).
        // Its known bug is not named: the count that would match it may be the lost event's.
        for i in story.indices where Self.restsOnCounts.contains(story[i].kind) {
            for input in inputs where input.malformed > 0 {
                let lines = story[i].evidence.filter { Int($0.location.source) == input.index }.map(\.location.value)
                guard let last = lines.max(), let damaged = input.firstMalformed.first(where: { $0.location.value < last }) else { continue }
                if unmatched[i] == nil { unmatched[i] = "what would match one may be the event lost in the damaged line" }
                story[i].uncertainty.append(
                    "\(input.path) has a damaged line before this finding's evidence (\(damaged.location.render(path: input.path)): \(damaged.reason)): the event lost there — a fetch, a doorbell, a shadow read — may be the one this finding misses")
                lowerUnlessItHung(i, "an event lost in a damaged line of \(input.path)")
                break
            }
        }
        // So for one whose window holds a gap its input's recorder or log keeper said it left
        // (journald's `Suppressed 353621 messages`: a rate-limited QEMU log read as a controller
        // idle with work, and a QEMU bug named).
        // (Its detector marked the gap: `the recorder lost events … during the window`.)
        for i in story.indices where Self.restsOnCounts.contains(story[i].kind) && story[i].lowered == nil
            && story[i].uncertainty.contains(where: { $0.hasPrefix("the recorder lost events") })
        {
            if unmatched[i] == nil { unmatched[i] = "what would match one may be among the events lost" }
            lowerUnlessItHung(i, "events its input lost")
        }
        for f in story where f.kind == .unattributedStall {
            undecided.append("\(f.queue.controllerName): the guest gave up on I/O, and the controller's side cannot tell which queue hung (unattributed-stall, a warning)")
        }
        FindingStory.link(&story, groups: findings.map(\.group), results: groups, inputs: inputs, qemu: options.qemuVersion, unmatched: unmatched)
        // Per queue: its mutual waits, and the guest's give-ups (a guest trace or console
        // alone tells a hang by them: "Hangs per queue" left such a run out).
        // Inputs that could not be placed on one clock tell the same hangs each on its own
        // (a QEMU log without times beside the guest trace: 4 hangs for 2, and ordinals added to
        // seconds): a queue's summary is of one clock — the first that measures time — and
        // counts the others apart.
        var summaryClock: [QueueKey: UInt16] = [:], timedClock: [QueueKey: UInt16] = [:]
        for (k, f) in story.enumerated() where f.kind == .mutualWait || f.isGuestGiveUp {
            if summaryClock[f.queue] == nil { summaryClock[f.queue] = f.clockInput }
            let g = findings[k].group
            if timedClock[f.queue] == nil, groups.indices.contains(g), groups[g].clock == .timestamps { timedClock[f.queue] = f.clockInput }
        }
        summaryClock.merge(timedClock) { $1 }
        var otherClocks: [QueueKey: Int] = [:]
        for (k, f) in story.enumerated() where f.kind == .mutualWait || f.isGuestGiveUp {
            guard var r = byKey[f.queue], case .int(let d)? = f.value("duration_ns") else { continue }
            if summaryClock[f.queue] != f.clockInput {
                otherClocks[f.queue, default: 0] += 1
                continue
            }
            if var h = r.hangs {
                h.count += 1
                h.totalNs += d
                h.lastID = k + 1
                h.lastStart = f.start
                r.hangs = h
            } else {
                r.hangs = HangSummary(count: 1, totalNs: d, firstID: k + 1, firstStart: f.start, lastID: k + 1,
                                      lastStart: f.start, clockInput: f.clockInput)
            }
            byKey[f.queue] = r
        }
        for (queue, n) in otherClocks { byKey[queue]?.hangs?.onOtherClocks = n }
        // The hangs left out past --max-hangs-per-queue are hangs of the queue all the same.
        for g in groups {
            for s in g.suppressed where s.hangs > 0 {
                guard var h = byKey[s.queue]?.hangs else { continue }
                h.count += s.hangs
                h.totalNs &+= s.durationNs
                byKey[s.queue]?.hangs = h
            }
        }
        return AnalysisResult(
            inputs: inputs, groups: groups, queues: byKey.values.sorted { $0.key < $1.key },
            findings: story, suppressed: groups.flatMap(\.suppressed), notes: notes, options: options, undecided: undecided)
    }
}

/// One or more inputs failed; `partial` holds the analysis of everything that could be read.
public struct AnalysisFailure: Error, Sendable {
    public var errors: [InputError]
    public var partial: AnalysisResult
}

/// Several sources of one clock as one, by time: the earliest next event of any source first,
/// a tie to the source listed first. An input that fails ends the merge there: the events
/// merged before the failure are delivered, then its error.
final class MergedEventSource: EventSource {
    static let batch = 4096
    private let sources: [any EventSource]
    @exclusivity(unchecked) private var buffers: [[Event]]
    @exclusivity(unchecked) private var positions: [Int]
    @exclusivity(unchecked) private var live: [Bool]
    @exclusivity(unchecked) private var started = false
    @exclusivity(unchecked) private var ended = false
    @exclusivity(unchecked) private var pendingError: InputError?

    init(_ sources: [any EventSource]) {
        self.sources = sources
        buffers = Array(repeating: [], count: sources.count)
        positions = Array(repeating: 0, count: sources.count)
        live = Array(repeating: true, count: sources.count)
    }

    var summary: InputSummary { sources[0].summary }

    private func refill(_ i: Int) throws(InputError) {
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

    func nextBatch(into out: inout [Event]) throws(InputError) -> Bool {
        out.removeAll(keepingCapacity: true)
        if let error = pendingError {
            pendingError = nil
            ended = true
            throw error
        }
        guard !ended else { return false }
        do throws(InputError) {
            if !started {
                started = true
                for i in sources.indices { try refill(i) }
            }
            while out.count < Self.batch {
                // The source with the earliest next event (the first listed among equals), and
                // the next event of any other: the first source's events before that one are
                // taken as one run.
                var best = -1, second = -1
                var bestTime = Int64.max, secondTime = Int64.max
                for i in sources.indices where positions[i] < buffers[i].count {
                    let t = buffers[i][positions[i]].time
                    if t < bestTime {
                        (second, secondTime) = (best, bestTime)
                        (best, bestTime) = (i, t)
                    } else if t < secondTime {
                        (second, secondTime) = (i, t)
                    }
                }
                if best < 0 {
                    ended = true
                    return !out.isEmpty
                }
                let from = positions[best]
                // The run is found in the buffer's memory: indexing `buffers[best]` retained and
                // released the buffer at every event.
                let (to, count) = buffers[best].withUnsafeBufferPointer { run in
                    let available = min(run.count, from + Self.batch - out.count)
                    var to = from + 1
                    while to < available {
                        let t = run[to].time
                        guard t < secondTime || (t == secondTime && best < second) else { break }
                        to += 1
                    }
                    out.append(contentsOf: run[from..<to])
                    return (to, run.count)
                }
                positions[best] = to
                if to == count { try refill(best) }
            }
            return true
        } catch {
            guard !out.isEmpty else {
                ended = true
                throw error
            }
            pendingError = error
            return true
        }
    }
}

extension AnalysisSession {
    /// Which of `sources` are another's recording in another form, by the rule `analyze` uses
    /// (Docs/Alignment.md) on their first `limit` events: copy, the one kept (the first by the
    /// reference rule, a pcap after the other forms) and what they share (`KEPT` standing for
    /// the one kept). For `convert`, which writes each input's events as
    /// read (a run folder holding ftrace text, `trace-cmd report` text and trace.dat wrote every
    /// guest event three times). The sources are read only that far.
    public static func copies(among sources: [any EventSource], limit: Int = 1 << 16) -> [(copy: Int, kept: Int, how: String)] {
        let first = sources.map { FirstPass(LimitedSource($0, limit: limit)) }
        let anchors = first.map { $0.summary.clock == .timestamps ? $0.anchors : nil }
        let order = sources.indices.sorted {
            Standing(first[$0].summary, anchors[$0], first[$0].firstTime) < Standing(first[$1].summary, anchors[$1], first[$1].firstTime)
        }
        return copies(
            order: order, anchors: anchors, formats: first.map { $0.summary.effectiveFormat }, cpus: first.map(\.summary.cpus),
            pcaps: first.map { $0.summary.format == .pcap })
    }

    /// The rule: among inputs in the reference rule's `order`, each that is one recording with
    /// an earlier one not itself a copy — the same guest commands at the same times, the same
    /// events at the same times, or QEMU's log and its simple trace holding the same events at
    /// the same spacing on two clocks. `how` names the kept input `KEPT`.
    static func copies(order: [Int], anchors: [AnchorSet?], formats: [TraceFormat?], cpus: [UInt64], pcaps: [Bool]) -> [(copy: Int, kept: Int, how: String)] {
        var found: [(copy: Int, kept: Int, how: String)] = []
        // A pcap written by `convert` beside the files it was made of is the copy: the files'
        // lines are what the evidence quotes (`guest-ftrace.txt:36188`, not `run.pcap@1276328`).
        let order = order.filter { !pcaps[$0] } + order.filter { pcaps[$0] }
        for (k, i) in order.enumerated() {
            guard let mine = anchors[i] else { continue }
            let twoBackends = { (j: Int) in Set([formats[i], formats[j]]) == [.qemuLog, .qemuSimple] }
            guard let kept = order[..<k].first(where: { j in
                !found.contains { $0.copy == j }
                    && anchors[j].map { mine.sameRecording(as: $0) || (twoBackends(j) && mine.sameEventsOnAnotherClock(as: $0)) } == true
            }) else { continue }
            found.append((i, kept,
                mine.isGuestSide
                    ? "the same guest recording as KEPT (same commands at the same times)"
                    : !mine.sameRecording(as: anchors[kept]!)
                        ? "the same recording as KEPT on another clock (the same events at the same spacing: QEMU writing its log and its simple trace)"
                        : "the same recording as KEPT (same events at the same times)"))
        }
        // A console's ftrace dump cut out into a file of its own (its printk prefixes taken
        // off: ftrace text in the latency format) beside the console: the same commands at the
        // same spacing, the file on the ring buffer's clock and the dump placed on printk's.
        // The console is kept, which holds the messages too (read twice, each stall was told
        // on both placements: 20 errors where sysrq-hang has 2).
        for i in order where formats[i] == .ftraceText && !found.contains(where: { $0.copy == i || $0.kept == i }) {
            guard let mine = anchors[i], let console = order.first(where: { j in
                formats[j] == .consoleLog && !found.contains { $0.copy == j } && anchors[j].map { mine.sameGuestCommandsOnAnotherClock(as: $0) } == true
            }) else { continue }
            found.append((i, console, "the ftrace dump in KEPT, cut out into a file of its own (the same commands at the same spacing, on the ring buffer's clock)"))
        }
        // An excerpt of a QEMU log beside it (`grep 'sqid 2' qemu.log > sq2.log` left in the
        // run's folder): the same events at the same times, read twice.
        for i in order where formats[i] == .qemuLog && !found.contains(where: { $0.copy == i }) {
            guard let mine = anchors[i], let whole = order.first(where: { j in
                j != i && formats[j] == .qemuLog && !found.contains { $0.copy == j } && anchors[j].map { mine.isExcerpt(of: $0) } == true
            }) else { continue }
            for k in found.indices where found[k].kept == i { found[k].kept = whole }
            found.append((i, whole, "an excerpt of KEPT (its controller's commands are KEPT's at the same times)"))
        }
        // One CPU's part of a guest trace beside the trace of all of them (tracefs's `trace` and
        // `per_cpu/cpuN/trace` copied together): its commands were read twice, each a second
        // time on the same clock, and every one of them seemed submitted twice.
        for i in order where cpus[i] != 0 && !found.contains(where: { $0.copy == i }) {
            guard let mine = anchors[i], let whole = order.first(where: { j in
                j != i && cpus[j] != 0 && cpus[i] & ~cpus[j] == 0 && cpus[i] != cpus[j]
                    && !found.contains { $0.copy == j } && anchors[j].map { mine.isPart(of: $0) } == true
            }) else { continue }
            for k in found.indices where found[k].kept == i { found[k].kept = whole }
            found.append((i, whole, "CPU(s) \(cpuList(cpus[i])) of the guest trace KEPT (CPUs \(cpuList(cpus[whole]))): the same commands at the same times"))
        }
        return found
    }
}

/// A source read no further than its first `limit` events (whole batches).
final class LimitedSource: EventSource {
    let inner: any EventSource
    let limit: Int
    @exclusivity(unchecked) var delivered = 0
    init(_ inner: any EventSource, limit: Int) {
        self.inner = inner
        self.limit = limit
    }
    var summary: InputSummary { inner.summary }
    func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        guard delivered < limit else {
            buffer.removeAll(keepingCapacity: true)
            return false
        }
        let more = try inner.nextBatch(into: &buffer)
        delivered += buffer.count
        return more
    }
}

/// What the first pass learns of one input: its causal-pair anchors, its first event's time
/// and its summary — up to its end, or up to its error.
struct FirstPass {
    var anchors: AnchorSet
    var firstTime: Int64
    /// The latest time of its events (`Int64.min` without any).
    var lastTime: Int64 = .min
    var summary: InputSummary
    /// The error that ended the read early (the rest is what was read before it).
    var error: InputError?

    /// Reads `source` to its end or its first error.
    init(_ source: any EventSource) {
        var set = AnchorSet(capacity: 1 << 16)
        var first = Int64.max
        var last = Int64.min
        var buffer: [Event] = []
        do {
            while try source.nextBatch(into: &buffer) {
                if let t = buffer.first?.time { first = min(first, t) }
                if let t = buffer.last?.time { last = max(last, t) }
                set.consume(buffer)
            }
        } catch {
            self.error = error
        }
        anchors = set
        firstTime = first
        lastTime = last
        summary = source.summary
    }

    /// The first passes of `sources`, read on this thread and one more, each source by one
    /// thread (the next source goes to whichever thread is free first); in the order of
    /// `sources`.
    static func sideBySide(_ sources: [any EventSource]) -> [FirstPass] {
        guard sources.count > 1 else { return sources.map { FirstPass($0) } }
        final class Work: @unchecked Sendable {
            let sources: [any EventSource]
            var outcomes: [FirstPass?]
            var next = 0
            let lock = PthreadLock()
            init(_ sources: [any EventSource]) {
                self.sources = sources
                outcomes = Array(repeating: nil, count: sources.count)
            }
            func run() {
                while true {
                    lock.lock()
                    let k = next
                    next += 1
                    lock.unlock()
                    guard k < sources.count else { return }
                    let outcome = FirstPass(sources[k])
                    lock.lock()
                    outcomes[k] = outcome
                    lock.unlock()
                }
            }
        }
        let work = Work(sources)
        _ = inParallel({ work.run() }, { work.run() })
        return work.outcomes.map { $0! }
    }
}
