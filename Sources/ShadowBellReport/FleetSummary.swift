import ShadowBellAnalysis

/// `shadowbell summarize`: many runs' reports (`analyze --format json|jsonl`) folded into how
/// many runs hung, on which queues, for how long, with which cause and known bug, grouped by
/// the runs' labels and environment.
public struct FleetSummary: Sendable {
    /// One hang: a `mutual-wait` finding, an `unattributed-stall` (a stall the controller
    /// side shows but no one queue explains), a `controller-idle-with-work`, or a
    /// `stuck-command` the guest gave up on (`inferred_from` driver-aborts or guest-timeouts).
    public struct Hang: Sendable {
        public var queue: String
        public var kind: String
        public var durationNs: Int64
        /// Still going on when the trace ended: the duration is a lower bound.
        public var unresolved: Bool
        public var cause: String
        public var knownBug: String?
    }

    public struct Run: Sendable {
        /// The run's name (its `run.name`, else its inputs) and where its report was read.
        public var name: String
        public var source: String
        public var labels: [String: String]
        public var environment: [String: String]
        public var exitStatus: Int64
        public var findings: Int
        public var hangs: [Hang]
        /// Hang findings the report doubts (an uncertain warning: a damaged line before its
        /// evidence, a log of several controllers it cannot tell apart): not counted as hangs.
        public var possibleHangs: [Hang] = []
        /// What the report says it could not decide (its `summary.undecided`).
        public var undecidedReasons = 0
        public var hung: Bool { !hangs.isEmpty }
        /// Not hung, but not shown healthy either: a possible hang, or something the report
        /// says it could not decide (a healthy count must not take such runs in silently).
        public var undecided: Bool { !hung && (!possibleHangs.isEmpty || undecidedReasons > 0) }
    }

    /// Group keys that name the environment (a label of the same key wins).
    public static let environmentKeys: [(key: String, member: String)] = [
        ("kernel", "guest_kernel"), ("qemu", "qemu_version"), ("qemu-events", "qemu_event_names"),
    ]
    public static let none = "(none)"

    public var runs: [Run] = []
    /// Files that held no report (say so rather than count them as healthy).
    public var problems: [String] = []
    /// Reports read more than once (a results file given twice, or concatenated into another
    /// given too), by run name: counted once.
    public private(set) var repeated: [String: Int] = [:]
    private var seen: Set<UInt64> = []

    /// Runs by the `schema_version` of their report (-1: none), when it is not the one this
    /// summary reads.
    private var otherSchemas: [Int64: [String]] = [:]
    /// The ShadowBell versions that wrote the reports.
    private var toolVersions: Set<String> = []

    /// What was left out of the counts and why, and what the counts may not be (not a problem:
    /// exit status unchanged).
    public var notes: [String] {
        var out = repeated.keys.sorted().map { name in
            "run \(name): the same report read \(repeated[name]! + 1) times (identical copies: the same results given more than once); counted once"
        }
        for version in otherSchemas.keys.sorted() {
            let names = otherSchemas[version]!
            let shown = names.prefix(3).joined(separator: ", ") + (names.count > 3 ? ", …" : "")
            let newer = version > Int64(AnalysisReport.schemaVersion)
            let what = version < 0 ? "without a schema_version" : "of schema_version \(version)"
            out.append(
                "\(names.count) run(s) (\(shown)) have a report \(what); this summarize reads \(AnalysisReport.schemaVersion)"
                    + (newer ? ": members it does not know are not counted — summarize them with the ShadowBell that wrote them" : ""))
        }
        if toolVersions.count > 1 {
            out.append("the reports were written by \(toolVersions.count) ShadowBell versions (\(toolVersions.sorted().joined(separator: ", "))): a difference between groups may be the tool's, not the runs'")
        }
        return out
    }

    public init() {}

    /// Adds the runs of one file's documents (a report, a batch, or JSON Lines).
    /// A document that is no report (a baseline, another tool's JSON, a line of something
    /// else in a JSON Lines file) is said, never counted: a baseline's findings counted as a run
    /// made a hung run out of nothing.
    public mutating func add(documents: [JSONValue], source: String) {
        var found = 0
        var others: [Int] = []
        var baselines = 0
        for (k, document) in documents.enumerated() {
            if document["baseline"]?.boolValue == true {
                baselines += 1
                continue
            }
            let reports = ReportDocuments.runs(of: document).filter { $0["findings"]?.arrayValue != nil }
            if reports.isEmpty { others.append(k + 1) }
            for run in reports {
                found += 1
                // Identical reports that name their run or inputs are one run read twice (two CI
                // jobs' reports of one name differ in their labels or findings).
                let named = run["run"] != nil || !(run["inputs"]?.arrayValue ?? []).isEmpty
                guard !named || seen.insert(Self.fingerprint(run.rendered(pretty: false))).inserted else {
                    let r = Self.run(run, source: "")
                    repeated[r.name, default: 0] += 1
                    continue
                }
                let added = Self.run(run, source: "\(source)#\(found)")
                runs.append(added)
                let schema = run["schema_version"]?.intValue
                if schema != Int64(AnalysisReport.schemaVersion) { otherSchemas[schema ?? -1, default: []].append(added.name) }
                if let version = run["tool"]?["version"]?.stringValue { toolVersions.insert(version) }
            }
        }
        if baselines > 0 {
            problems.append("\(source): a baseline (analyze --write-baseline), not a report: it is given to analyze --baseline, and summarize takes the output of analyze --format json or jsonl")
        }
        if found == 0, baselines == 0 {
            problems.append("\(source): no report with findings (not the output of analyze --format json or jsonl)")
        } else if found > 0, !others.isEmpty {
            let shown = others.prefix(5).map(String.init).joined(separator: ", ") + (others.count > 5 ? ", …" : "")
            problems.append("\(source): \(others.count) document(s) that are no report of analyze (\(documents.count > 1 ? "line or document" : "document") \(shown)); the \(found) report(s) in it are summarised")
        }
    }

    /// FNV-1a of a report's text (64 bits: two different reports alike by chance are not met
    /// among any fleet's runs).
    static func fingerprint(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    /// Whether a report's finding is a hang (`Finding.isHang`, as its JSON says it).
    static func isHang(_ f: JSONValue) -> Bool {
        guard let kind = f["kind"]?.stringValue else { return false }
        if Finding.hangKindNames.contains(kind) { return !isDoubted(f) }
        // A stuck command the guest gave up on, or an error one still outstanding where its
        // trace ends (a guest trace cut 10 s into a hang told its VM as failed, not hung); one
        // that completed late is a slow command, not a hang.
        guard kind == FindingKind.stuckCommand.rawValue else { return false }
        if f["inferred_from"]?.stringValue.map(Finding.giveUpSources.contains) == true { return true }
        if case .null? = f["end_ns"] { return f["severity"]?.stringValue == "error" }
        return false
    }

    /// A hang finding its report doubts: a warning marked uncertain (a damaged line before its
    /// evidence; a log of several controllers). The guest's give-up told by an
    /// `unattributed-stall` is no doubt about the hang, only about its queue.
    static func isDoubted(_ f: JSONValue) -> Bool {
        guard let kind = f["kind"]?.stringValue, Finding.hangKindNames.contains(kind),
            kind != FindingKind.unattributedStall.rawValue
        else { return false }
        return f["uncertain"]?.boolValue == true && f["severity"]?.stringValue == "warning"
    }

    static func run(_ doc: JSONValue, source: String) -> Run {
        let name = doc["run"]?["name"]?.stringValue
            ?? (doc["inputs"]?.arrayValue ?? []).compactMap { $0["path"]?.stringValue }.joined(separator: " + ")
        var labels: [String: String] = [:]
        for (k, v) in doc["labels"]?.objectMembers ?? [] { labels[k] = v.stringValue ?? "" }
        var environment: [String: String] = [:]
        for (k, v) in doc["environment"]?.objectMembers ?? [] { if let s = v.stringValue { environment[k] = s } }
        let domains = doc["clock_domains"]?.arrayValue ?? []
        let findings = doc["findings"]?.arrayValue ?? []
        var hangs: [Hang] = []
        var possible: [Hang] = []
        for f in findings {
            let doubted = Self.isDoubted(f)
            guard let kind = f["kind"]?.stringValue, doubted || Self.isHang(f) else { continue }
            let q = f["queue"]
            let queue = "\(q?["controller"]?.stringValue ?? "?"):\(q?["type"]?.stringValue ?? "?")\(q?["qid"]?.intValue ?? -1)"
            let start = f["start_ns"]?.intValue ?? 0
            let end = f["end_ns"]?.intValue
            var duration = f["duration_ns"]?.intValue ?? end.map { $0 &- start } ?? 0
            if end == nil, f["duration_ns"]?.intValue == nil {
                let input = f["clock_input"]?.intValue ?? 0
                let domain = domains.first { ($0["inputs"]?.arrayValue ?? []).contains { $0.intValue == input } }
                if let last = domain?["last_ns"]?.intValue, last >= start { duration = last - start }
            }
            let hang = Hang(
                queue: queue, kind: kind, durationNs: max(0, duration), unresolved: end == nil,
                cause: FindingKey.name(f["cause"]) ?? "unknown", knownBug: FindingKey.name(f["known_bug"]))
            if doubted { possible.append(hang) } else { hangs.append(hang) }
        }
        return Run(
            name: name, source: source, labels: labels, environment: environment,
            exitStatus: doc["summary"]?["exit_status"]?.intValue ?? 0, findings: findings.count, hangs: hangs,
            possibleHangs: possible, undecidedReasons: doc["summary"]?["undecided"]?.arrayValue?.count ?? 0)
    }

    /// The value of group key `key` for a run: its label, else the environment it names.
    public static func value(of key: String, in run: Run) -> String {
        if let v = run.labels[key] { return v }
        if let member = environmentKeys.first(where: { $0.key == key })?.member { return run.environment[member] ?? none }
        return none
    }

    /// The group keys used when none are asked for: every label key, then the environment's.
    public var defaultKeys: [String] {
        let labelKeys = Set(runs.flatMap(\.labels.keys)).sorted()
        return labelKeys + Self.environmentKeys.map(\.key).filter { !labelKeys.contains($0) }
    }

    /// Counts over a set of runs.
    public struct Stats: Sendable {
        public var runs = 0
        public var hung = 0
        /// Runs neither hung nor shown healthy (`Run.undecided`).
        public var undecided = 0
        public var failed = 0
        public var inputErrors = 0
        public var hangs = 0
        public var unresolved = 0
        public var durations: [Int64] = []
        /// Runs not hung whose inputs could not all be read, that failed on another error
        /// finding, or that are neither hung nor shown healthy: with `hung`, what is not green
        /// in a group's bar.
        public var unreadNotHung = 0
        public var failedNotHung = 0
        public var undecidedOnly = 0
        /// Runs shown healthy: none of the above.
        public var healthy: Int { runs - hung - unreadNotHung - failedNotHung - undecidedOnly }
        public var byQueue: [String: Int] = [:]
        public var byCause: [String: Int] = [:]
        public var byKnownBug: [String: Int] = [:]

        init(_ runs: [Run]) {
            self.runs = runs.count
            for r in runs {
                if r.hung { hung += 1 }
                if r.undecided { undecided += 1 }
                if r.exitStatus == 1 { failed += 1 }
                if r.exitStatus == 2 { inputErrors += 1 }
                // Queues, causes and known bugs count runs, not windows: "how many runs hung on sq2".
                for q in Set(r.hangs.map(\.queue)) { byQueue[q, default: 0] += 1 }
                for c in Set(r.hangs.map(\.cause)) { byCause[c, default: 0] += 1 }
                for b in Set(r.hangs.compactMap(\.knownBug)) { byKnownBug[b, default: 0] += 1 }
                if !r.hung {
                    switch r.exitStatus {
                    case 2: unreadNotHung += 1
                    case 1: failedNotHung += 1
                    default: if r.undecided { undecidedOnly += 1 }
                    }
                }
                for h in r.hangs {
                    hangs += 1
                    if h.unresolved { unresolved += 1 }
                    durations.append(h.durationNs)
                }
            }
            durations.sort()
        }

        /// The middle hang length; of an even number, the mean of the two middle ones (it took
        /// the lower: 30.343 s for six hangs whose median is 30.374 s).
        public var medianNs: Int64? {
            let n = durations.count
            guard n > 0 else { return nil }
            if n % 2 == 1 { return durations[n / 2] }
            let (a, b) = (durations[n / 2 - 1], durations[n / 2])
            return a / 2 + b / 2 + (a % 2 + b % 2) / 2
        }
        public var maxNs: Int64? { durations.last }
    }

    public var total: Stats { Stats(runs) }

    /// The runs split by the values of `key`, in value order: numbers inside a value compare as
    /// numbers (kernel 6.1, 6.6, 6.12; vm-2 before vm-10), the rest as text.
    public func groups(by key: String) -> [(value: String, stats: Stats)] {
        let grouped = Dictionary(grouping: runs) { Self.value(of: key, in: $0) }
        return grouped.keys.sorted(by: Self.naturalOrder).map { ($0, Stats(grouped[$0]!)) }
    }

    /// Whether `a` comes before `b` when runs of digits compare by their value.
    static func naturalOrder(_ a: String, _ b: String) -> Bool {
        var i = a.utf8[...], j = b.utf8[...]
        func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        while let x = i.first, let y = j.first {
            if isDigit(x), isDigit(y) {
                let da = i.prefix { isDigit($0) }, db = j.prefix { isDigit($0) }
                // Compared without leading zeros, by length, then digit by digit: no overflow.
                let na = da.drop { $0 == 0x30 }, nb = db.drop { $0 == 0x30 }
                if na.count != nb.count { return na.count < nb.count }
                if !na.elementsEqual(nb) { return na.lexicographicallyPrecedes(nb) }
                i = i.dropFirst(da.count)
                j = j.dropFirst(db.count)
                continue
            }
            if x != y { return x < y }
            i = i.dropFirst()
            j = j.dropFirst()
        }
        return i.isEmpty && !j.isEmpty || (i.isEmpty == j.isEmpty && a < b)
    }
}

/// The renderings of a `FleetSummary`.
public enum FleetSummaryReport {
    static func percent(_ part: Int, _ whole: Int) -> String {
        guard whole > 0 else { return "-" }
        let tenths = (part * 1000 + whole / 2) / whole
        return "\(tenths / 10).\(tenths % 10) %"
    }

    static func counts(_ d: [String: Int]) -> String {
        d.isEmpty ? "-" : d.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }

    public static func text(_ s: FleetSummary, keys: [String]) -> String {
        let t = s.total
        var out = "shadowbell summary of \(t.runs) run(s)\n"
        out += "  hung: \(t.hung) (\(percent(t.hung, t.runs))), failed: \(t.failed), input errors: \(t.inputErrors), hangs: \(t.hangs) (\(t.unresolved) unresolved)\n"
        if t.undecided > 0 {
            out += "  undecided: \(t.undecided) run(s) neither hung nor shown healthy (a possible hang their reports doubt, or what they could not decide): \(undecidedNames(s))\n"
        }
        if let median = t.medianNs, let max = t.maxNs {
            out += "  hang length: median \(formatDuration(median)), longest \(formatDuration(max))\n"
        }
        out += "  runs hung by queue: \(counts(t.byQueue))\n"
        out += "  runs hung by cause: \(counts(t.byCause))\n"
        out += "  runs hung by known bug: \(counts(t.byKnownBug))\n"
        for p in s.problems { out += "  warning: \(p)\n" }
        for n in s.notes { out += "  note: \(n)\n" }
        for key in keys {
            out += "\nby \(key):\n"
            let rows = s.groups(by: key)
            let width = max(key.count, rows.map(\.value.count).max() ?? 0)
            func pad(_ x: String, _ n: Int) -> String { x + String(repeating: " ", count: max(0, n - x.count)) }
            out += "  \(pad(key, width))  runs  hung  share    failed  input errors  undecided  hangs  median      longest     queues / causes / known bugs\n"
            for (value, st) in rows {
                out += "  \(pad(value, width))  \(pad(String(st.runs), 4))  \(pad(String(st.hung), 4))  \(pad(percent(st.hung, st.runs), 7))  "
                out += "\(pad(String(st.failed), 6))  \(pad(String(st.inputErrors), 12))  \(pad(String(st.undecided), 9))  "
                out += "\(pad(String(st.hangs), 5))  \(pad(st.medianNs.map(formatDuration) ?? "-", 10))  \(pad(st.maxNs.map(formatDuration) ?? "-", 10))  "
                out += "\(counts(st.byQueue)) / \(counts(st.byCause)) / \(counts(st.byKnownBug))\n"
            }
        }
        return out
    }

    /// The undecided runs by name (the first five).
    static func undecidedNames(_ s: FleetSummary) -> String {
        let names = s.runs.filter(\.undecided).map(\.name)
        return names.prefix(5).joined(separator: ", ") + (names.count > 5 ? ", …" : "")
    }

    static func hangJSON(_ h: FleetSummary.Hang) -> JSONValue {
        .object([
            ("queue", .string(h.queue)), ("kind", .string(h.kind)), ("duration_ns", .int(h.durationNs)),
            ("unresolved", .bool(h.unresolved)), ("cause", .string(h.cause)),
            ("known_bug", h.knownBug.map { .string($0) } ?? .null),
        ])
    }

    static func stats(_ st: FleetSummary.Stats) -> [(String, JSONValue)] {
        func dict(_ d: [String: Int]) -> JSONValue { .object(d.keys.sorted().map { ($0, .int(Int64(d[$0]!))) }) }
        return [
            ("runs", .int(Int64(st.runs))),
            ("runs_hung", .int(Int64(st.hung))),
            ("runs_undecided", .int(Int64(st.undecided))),
            ("runs_failed", .int(Int64(st.failed))),
            ("runs_with_input_errors", .int(Int64(st.inputErrors))),
            ("hangs", .int(Int64(st.hangs))),
            ("hangs_unresolved", .int(Int64(st.unresolved))),
            ("hang_median_ns", st.medianNs.map { .int($0) } ?? .null),
            ("hang_max_ns", st.maxNs.map { .int($0) } ?? .null),
            ("runs_hung_by_queue", dict(st.byQueue)),
            ("runs_hung_by_cause", dict(st.byCause)),
            ("runs_hung_by_known_bug", dict(st.byKnownBug)),
        ]
    }

    public static func json(_ s: FleetSummary, keys: [String]) -> String {
        let doc: JSONValue = .object([
            ("schema_version", .int(Int64(AnalysisReport.schemaVersion))),
            ("tool", .object([("name", .string("shadowbell")), ("version", .string(AnalysisReport.toolVersion))])),
            ("fleet_summary", .bool(true)),
            ("total", .object(stats(s.total))),
            ("groups", .array(keys.map { key in
                .object([
                    ("key", .string(key)),
                    ("values", .array(s.groups(by: key).map { g in .object([("value", .string(g.value))] + stats(g.stats)) })),
                ])
            })),
            ("runs", .array(s.runs.map { r in
                .object([
                    ("name", .string(r.name)),
                    ("source", .string(r.source)),
                    ("labels", .object(r.labels.keys.sorted().map { ($0, .string(r.labels[$0]!)) })),
                    ("exit_status", .int(r.exitStatus)),
                    ("findings", .int(Int64(r.findings))),
                    ("hangs", .array(r.hangs.map(hangJSON))),
                    ("undecided", .bool(r.undecided)),
                    ("possible_hangs", .array(r.possibleHangs.map(hangJSON))),
                ])
            })),
            ("problems", .array(s.problems.map { .string($0) })),
            ("notes", .array(s.notes.map { .string($0) })),
        ])
        return doc.rendered(pretty: true)
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// One self-contained page: the totals, then per group key a table and a plot (inline SVG,
    /// no script, nothing from the network): a bar per group value with its hung share, and
    /// every hang as a dot on a logarithmic time axis (hollow when unresolved: a lower bound).
    public static func html(_ s: FleetSummary, keys: [String]) -> String {
        let t = s.total
        var out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ShadowBell fleet summary</title>\n"
        out += "<style>body{font:14px sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}th{background:#eee}.n{text-align:right;white-space:nowrap}.key span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}</style></head><body>\n"
        out += "<h1>ShadowBell fleet summary</h1>\n<p>\(t.runs) run(s); <b>\(t.hung) hung</b> (\(percent(t.hung, t.runs))); \(t.failed) failed; \(t.inputErrors) with input errors; \(t.hangs) hang(s), \(t.unresolved) unresolved"
        if t.undecided > 0 { out += "; <b>\(t.undecided) undecided</b> (neither hung nor shown healthy: \(escape(undecidedNames(s))))" }
        if let m = t.medianNs, let x = t.maxNs { out += "; median \(formatDuration(m)), longest \(formatDuration(x))" }
        out += ".</p>\n<p>Runs hung by queue: \(escape(counts(t.byQueue)))<br>by cause: \(escape(counts(t.byCause)))<br>by known bug: \(escape(counts(t.byKnownBug)))</p>\n"
        for p in s.problems { out += "<p>warning: \(escape(p))</p>\n" }
        for n in s.notes { out += "<p>note: \(escape(n))</p>\n" }
        for key in keys {
            let rows = s.groups(by: key)
            out += "<h2>By \(escape(key))</h2>\n" + plot(s, key: key, rows: rows)
            out += "<p class=key>Runs:<span style=\"background:#d9534f\"></span>hung<span style=\"background:#e8833a\"></span>failed on another error<span style=\"background:#9e9e9e\"></span>not hung, inputs not all read<span style=\"background:#f0ad4e\"></span>undecided<span style=\"background:#cfe8cf\"></span>shown healthy. Dots: each hang's length (hollow: unresolved, at least that long).</p>\n"
            out += "<table><tr><th>\(escape(key))</th><th>runs</th><th>hung</th><th>share</th><th>failed</th><th>input errors</th><th>undecided</th><th>hangs</th><th>median</th><th>longest</th><th>queues</th><th>causes</th><th>known bugs</th></tr>\n"
            for (value, st) in rows {
                out += "<tr><td>\(escape(value))</td><td class=n>\(st.runs)</td><td class=n>\(st.hung)</td><td class=n>\(percent(st.hung, st.runs))</td>"
                out += "<td class=n>\(st.failed)</td><td class=n>\(st.inputErrors)</td><td class=n>\(st.undecided)</td><td class=n>\(st.hangs)</td>"
                out += "<td>\(st.medianNs.map(formatDuration) ?? "-")</td><td>\(st.maxNs.map(formatDuration) ?? "-")</td>"
                out += "<td>\(escape(counts(st.byQueue)))</td><td>\(escape(counts(st.byCause)))</td><td>\(escape(counts(st.byKnownBug)))</td></tr>\n"
            }
            out += "</table>\n"
        }
        out += "</body></html>\n"
        return out
    }

    /// Decades from 1 µs to 1000 s on the duration axis.
    static let decades: [(ns: Int64, label: String)] = [
        (1_000, "1µs"), (10_000, "10µs"), (100_000, "100µs"), (1_000_000, "1ms"), (10_000_000, "10ms"),
        (100_000_000, "100ms"), (1_000_000_000, "1s"), (10_000_000_000, "10s"), (100_000_000_000, "100s"), (1_000_000_000_000, "1000s"),
    ]

    /// The x position of a duration on the log axis: the decade by integer comparison, the
    /// place within it by the logarithm (rounded to a pixel).
    static func x(_ ns: Int64, left: Int, width: Int) -> Int {
        let step = width / (decades.count - 1)
        guard ns > decades[0].ns else { return left }
        for i in 1..<decades.count where ns <= decades[i].ns {
            let lo = decades[i - 1].ns
            let within = log2(Double(ns) / Double(lo)) / log2(10) * Double(step)
            return left + (i - 1) * step + Int(within.rounded())
        }
        return left + width
    }

    static func plot(_ s: FleetSummary, key: String, rows: [(value: String, stats: FleetSummary.Stats)]) -> String {
        let rowHeight = 24, labelWidth = 180, barWidth = 160, gap = 20, axisWidth = 540
        let axisLeft = labelWidth + barWidth + gap
        let height = rows.count * rowHeight + 40
        let width = axisLeft + axisWidth + 20
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-size=\"11\" role=\"img\" aria-label=\"hung runs and hang lengths by \(escape(key))\">\n"
        for (i, d) in decades.enumerated() {
            let gx = axisLeft + i * (axisWidth / (decades.count - 1))
            svg += "<line x1=\"\(gx)\" y1=\"10\" x2=\"\(gx)\" y2=\"\(height - 20)\" stroke=\"#ddd\"/><text x=\"\(gx)\" y=\"\(height - 6)\" text-anchor=\"middle\">\(d.label)</text>\n"
        }
        for (i, row) in rows.enumerated() {
            let y = 10 + i * rowHeight
            svg += "<text x=\"\(labelWidth - 6)\" y=\"\(y + 15)\" text-anchor=\"end\">\(escape(String(row.value.prefix(28))))</text>\n"
            // The bar in parts: hung (red), failed otherwise (orange), not hung with an input
            // error (grey), undecided (amber), shown healthy (green). Only the last is green:
            // every run not hung was.
            let st = row.stats
            var at = 0
            for (count, fill, what) in [
                (st.hung, "#d9534f", "hung"), (st.failedNotHung, "#e8833a", "failed on another error finding"),
                (st.unreadNotHung, "#9e9e9e", "not hung, but with inputs that could not be read"),
                (st.undecidedOnly, "#f0ad4e", "undecided: neither hung nor shown healthy"), (st.healthy, "#cfe8cf", "shown healthy"),
            ] where count > 0 && st.runs > 0 {
                let end = (at + count) * barWidth / st.runs, start = at * barWidth / st.runs
                svg += "<rect x=\"\(labelWidth + start)\" y=\"\(y + 4)\" width=\"\(end - start)\" height=\"14\" fill=\"\(fill)\"><title>\(count) of \(st.runs) \(what)</title></rect>"
                at += count
            }
            svg += "\n"
            let runs = s.runs.filter { FleetSummary.value(of: key, in: $0) == row.value }
            for r in runs {
                for h in r.hangs {
                    let cx = x(h.durationNs, left: axisLeft, width: axisWidth)
                    let fill = h.unresolved ? "none" : "#d9534f"
                    svg += "<circle cx=\"\(cx)\" cy=\"\(y + 11)\" r=\"4\" fill=\"\(fill)\" stroke=\"#a02622\"><title>\(escape(r.name)) \(escape(h.queue)) \(formatDuration(h.durationNs))\(h.unresolved ? " or more (unresolved)" : "") \(escape(h.cause))</title></circle>\n"
                }
            }
        }
        svg += "</svg>\n"
        return svg
    }
}
