/// What identifies a finding across runs, the way a linter's baseline does: its kind, queue,
/// cause and known bug — not its times, values or evidence lines, which change from run to run.
public struct FindingKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var kind: String
    public var controller: String
    public var qid: Int64
    public var type: String
    public var cause: String?
    public var knownBug: String?

    /// The key of a finding as the JSON report writes it; nil when it lacks kind or queue.
    public init?(finding: JSONValue) {
        guard let kind = finding["kind"]?.stringValue, let queue = finding["queue"],
            let controller = queue["controller"]?.stringValue, let qid = queue["qid"]?.intValue,
            let type = queue["type"]?.stringValue
        else { return nil }
        self.kind = kind
        self.controller = controller
        self.qid = qid
        self.type = type
        cause = Self.name(finding["cause"])
        knownBug = Self.name(finding["known_bug"])
    }

    /// A string member, or the `id` of an object member (a known bug is an object with an id).
    static func name(_ value: JSONValue?) -> String? {
        guard let value else { return nil }
        if let s = value.stringValue { return s }
        return value["id"]?.stringValue ?? value["id"]?.intValue.map { String($0) }
    }

    /// The same kind on the same queue (cause and known bug aside).
    func sameFindingPlace(as other: FindingKey) -> Bool {
        kind == other.kind && controller == other.controller && qid == other.qid && type == other.type
    }

    public static func < (a: FindingKey, b: FindingKey) -> Bool {
        (a.kind, a.controller, a.qid, a.type, a.cause ?? "", a.knownBug ?? "")
            < (b.kind, b.controller, b.qid, b.type, b.cause ?? "", b.knownBug ?? "")
    }

    public var description: String {
        "\(kind) \(controller):\(type)\(qid)" + (cause.map { " cause \($0)" } ?? "") + (knownBug.map { " known bug \($0)" } ?? "")
    }

    var members: [(String, JSONValue)] {
        [
            ("kind", .string(kind)),
            ("queue", .object([("controller", .string(controller)), ("qid", .int(qid)), ("type", .string(type))])),
            ("cause", cause.map { .string($0) } ?? .null),
            ("known_bug", knownBug.map { .string($0) } ?? .null),
        ]
    }
}

/// `analyze --baseline FILE`: the findings a team already knows of. A run fails only on
/// findings beyond them: each key (`FindingKey`) is known as many times as the baseline holds
/// it, so a second hang on a queue that hung once before is new.
///
/// A baseline is read from what `--write-baseline` writes, or from any report of `analyze
/// --format json|jsonl` (one run, a batch, JSON Lines): a key is then known as often as the
/// most of any one run held it, since every run of a batch is compared with the baseline alone.
public struct Baseline: Sendable {
    public var path: String
    public var counts: [FindingKey: Int]

    public enum ReadError: Error, Sendable, CustomStringConvertible {
        case notJSON(path: String, reason: String)
        case noReport(path: String)

        public var description: String {
            switch self {
            case .notJSON(let path, let reason):
                return "\(path): not a ShadowBell report or baseline (\(reason)); write one with analyze --write-baseline FILE or --format json"
            case .noReport(let path):
                return "\(path): holds no ShadowBell report or baseline (no \"findings\" member); write one with analyze --write-baseline FILE"
            }
        }
    }

    public init(path: String, counts: [FindingKey: Int]) {
        self.path = path
        self.counts = counts
    }

    public static func read(path: String, bytes: [UInt8]) throws(ReadError) -> Baseline {
        let documents: [JSONValue]
        do {
            documents = try ReportDocuments.parse(bytes)
        } catch {
            throw .notJSON(path: path, reason: error.description)
        }
        var counts: [FindingKey: Int] = [:]
        var sawReport = false
        for document in documents {
            for run in ReportDocuments.runs(of: document) {
                guard let findings = run["findings"]?.arrayValue else { continue }
                sawReport = true
                var here: [FindingKey: Int] = [:]
                for f in findings {
                    guard let key = FindingKey(finding: f) else { continue }
                    here[key, default: 0] += Int(clamping: max(1, f["count"]?.intValue ?? 1))
                }
                counts.merge(here) { max($0, $1) }
            }
        }
        guard sawReport else { throw .noReport(path: path) }
        return Baseline(path: path, counts: counts)
    }

    /// Which findings of `report` the baseline holds, in report order. Exact keys first; then a
    /// finding marked uncertain (its cause read from an order of guest and controller events
    /// the clock alignment cannot vouch for, Docs/Alignment.md) takes a known finding of its
    /// kind on its queue whatever the cause and known bug: one stall read as `unknown` in one
    /// run and `skipped-demanded-doorbell` in the next was NEW against its own baseline. So does
    /// a finding whose cause is `unknown`, or that meets a known finding of cause `unknown`,
    /// unless it names a known bug the baseline's finding does not.
    public func match(_ report: AnalysisReport) -> BaselineMatch {
        var left = counts
        var unmarked = report
        unmarked.baseline = nil
        let findings = report.result.findings
        let keys = findings.indices.map { FindingKey(finding: JSONReport.finding(unmarked, findings[$0], id: $0 + 1)) }
        var known = Array(repeating: false, count: findings.count)
        for (i, key) in keys.enumerated() {
            guard let key, let n = left[key], n > 0 else { continue }
            left[key] = n - 1
            known[i] = true
        }
        for (i, key) in keys.enumerated() where !known[i] {
            guard let key else { continue }
            // A cause the evidence does not tell (`unknown`), on either side, contradicts no
            // other: the same stall read as `unknown` where the clocks leave the order open
            // and as `skipped-demanded-doorbell` where they do not (dat-hang-sq2, hang-sq2).
            // A known bug the finding names that the baseline's does not is news all the same.
            let uncertain = !findings[i].uncertainty.isEmpty
            guard let other = left.keys.sorted().first(where: {
                $0.sameFindingPlace(as: key) && left[$0]! > 0
                    && (uncertain || ((key.cause == "unknown" || $0.cause == "unknown") && (key.knownBug == nil || key.knownBug == $0.knownBug)))
            })
            else { continue }
            left[other]! -= 1
            known[i] = true
        }
        return BaselineMatch(path: path, known: known)
    }

    /// `--write-baseline`: every finding's key with how often it occurs (the most of any run),
    /// sorted, with its severity and a message for the reader.
    public static func render(_ runs: [RunReport]) -> String {
        var counts: [FindingKey: Int] = [:]
        var example: [FindingKey: (severity: String, message: String)] = [:]
        for run in runs {
            var here: [FindingKey: Int] = [:]
            var unmarked = run.report
            unmarked.baseline = nil
            for (i, f) in unmarked.result.findings.enumerated() {
                guard let key = FindingKey(finding: JSONReport.finding(unmarked, f, id: i + 1)) else { continue }
                here[key, default: 0] += 1
                if example[key] == nil { example[key] = (f.severity.rawValue, f.message) }
            }
            counts.merge(here) { max($0, $1) }
        }
        let doc: JSONValue = .object([
            ("schema_version", .int(Int64(AnalysisReport.schemaVersion))),
            ("tool", .object([("name", .string("shadowbell")), ("version", .string(AnalysisReport.toolVersion))])),
            ("baseline", .bool(true)),
            ("findings", .array(counts.keys.sorted().map { key in
                .object(key.members + [
                    ("severity", .string(example[key]!.severity)),
                    ("count", .int(Int64(counts[key]!))),
                    ("message", .string(example[key]!.message)),
                ])
            })),
        ])
        return doc.rendered(pretty: true)
    }
}

/// The report documents of a file of `analyze --format json` (one run or a batch) or
/// `--format jsonl` (one run per line).
public enum ReportDocuments {
    /// One JSON value, or one per non-blank line.
    public static func parse(_ bytes: [UInt8]) throws(JSONParser.Failure) -> [JSONValue] {
        let parsed = try parse(bytes, allowingACutLastLine: false)
        return parsed.documents
    }

    /// One JSON value, or one per non-blank line; with `allowingACutLastLine`, JSON Lines whose
    /// last non-blank line is no JSON (a job killed while it wrote it) give the lines before it
    /// and that line's number and why.
    public static func parse(_ bytes: [UInt8], allowingACutLastLine: Bool) throws(JSONParser.Failure)
        -> (documents: [JSONValue], cutLine: (number: Int, reason: String)?)
    {
        do {
            return ([try JSONParser.parse(bytes)], nil)
        } catch let whole {
            var documents: [JSONValue] = []
            var cut: (number: Int, reason: String, offset: Int)?
            var start = 0, lineNumber = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != 0x0a { end += 1 }
                lineNumber += 1
                let line = Array(bytes[start..<end])
                if line.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0d }) {
                    if let cut { throw JSONParser.Failure(offset: cut.offset, reason: "line \(cut.number): \(cut.reason)") }
                    do {
                        documents.append(try JSONParser.parse(line))
                    } catch {
                        if documents.isEmpty { throw whole }
                        cut = (lineNumber, error.reason, start + error.offset)
                    }
                }
                start = end + 1
            }
            if documents.isEmpty { throw whole }
            if let cut {
                guard allowingACutLastLine else { throw JSONParser.Failure(offset: cut.offset, reason: "line \(cut.number): \(cut.reason)") }
                return (documents, (cut.number, cut.reason))
            }
            return (documents, nil)
        }
    }

    /// The run documents of a report: the elements of a batch's `runs`, or the document itself.
    public static func runs(of document: JSONValue) -> [JSONValue] {
        document["runs"]?.arrayValue ?? [document]
    }
}
