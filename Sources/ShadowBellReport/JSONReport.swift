import ShadowBellAnalysis
import ShadowBellCore

/// The `--format json` document (schema_version 1, see Docs/CLI.md). Keys may be added, never
/// renamed or removed within a schema version.
public enum JSONReport {
    public static func render(_ report: AnalysisReport, pretty: Bool = true) -> String {
        document(report).rendered(pretty: pretty)
    }

    public static func document(_ report: AnalysisReport) -> JSONValue {
        let r = report.result
        let severities = Dictionary(grouping: r.findings, by: \.severity).mapValues(\.count)
        // Once per report, not per queue (a report of thousands of queues was quadratic).
        let controllerTraced = r.queues.contains { $0.stats.controllerCounted }
        let driverTraced = r.queues.contains { $0.stats.driverCounted }
        return .object([
            ("schema_version", .int(Int64(AnalysisReport.schemaVersion))),
            ("tool", .object([("name", .string("shadowbell")), ("version", .string(AnalysisReport.toolVersion))])),
            ("options", .object([
                ("min_wait_ns", .int(r.options.minWait)),
                ("race_window_ns", .int(r.options.raceWindow)),
                ("timing_slack_ns", .int(r.options.timingSlack)),
                ("same_clock", .bool(r.options.sameClock)),
            ])),
            // In the order given, so that `clock_domains[].inputs`, `alignment[].input` and
            // `findings[].clock_input` index this array (each also carries its `index`).
            ("inputs", .array(r.inputs.sorted { $0.index < $1.index }.map { input(report, $0) })),
            ("input_errors", .array(report.inputErrors.map { .object([("path", .string($0.path)), ("message", .string($0.description))]) })),
            ("clock_domains", .array(r.groups.map { g in
                .object([
                    ("inputs", .array(g.sources.map { .int(Int64($0)) })),
                    ("clock", .string(g.clock.rawValue)),
                    ("first_ns", .int(g.firstTime)),
                    ("last_ns", .int(g.lastTime)),
                    ("events", .int(Int64(g.events))),
                    ("data_loss_markers", .int(Int64(g.dataLossTimes.count))),
                ])
            })),
            ("alignment", .array(r.alignment.map { a in
                .object([
                    ("input", .int(Int64(a.input))),
                    ("path", .string(report.path(of: a.input))),
                    ("method", .string(a.method.rawValue)),
                    ("offset_ns", .int(a.offset)),
                    ("drift_ppm", .int(a.driftPPM)),
                    ("uncertainty_ns", .int(a.uncertainty)),
                    ("pairs", .int(Int64(a.pairs))),
                    ("contradicting_pairs", .int(Int64(a.contradictions))),
                    ("windows", .int(Int64(a.windows))),
                    ("held_events", .int(Int64(clamping: a.heldEvents))),
                    ("largest_hold_ns", .int(a.largestHold)),
                    ("extrapolated_before", .int(Int64(clamping: a.extrapolatedBefore))),
                    ("extrapolated_after", .int(Int64(clamping: a.extrapolatedAfter))),
                    ("note", .string(a.note)),
                ])
            })),
            ("queues", .array(r.queues.map { queue($0, unknown: unknownCounts($0, controller: controllerTraced, driver: driverTraced)) })),
            ("findings", .array(r.findings.enumerated().map { finding(report, $0.element, id: $0.offset + 1) })),
            ("suppressed_findings", .array(r.suppressed.map { s in
                .object([("kind", .string(s.kind.rawValue)), ("queue", queueKey(s.queue)), ("count", .int(Int64(s.count)))]
                    + (s.kind == .mutualWait || s.hangs > 0 ? [("duration_ns", .int(s.durationNs))] : [])
                    + (s.kind != .mutualWait && s.hangs > 0 ? [("hangs", .int(Int64(s.hangs)))] : []))
            })),
            ("summary", .object([
                ("findings", .int(Int64(r.findings.count))),
                ("errors", .int(Int64(severities[.error] ?? 0))),
                ("warnings", .int(Int64(severities[.warning] ?? 0))),
                ("infos", .int(Int64(severities[.info] ?? 0))),
                ("exit_status", .int(Int64(report.exitStatus))),
                ("undecided", .array(r.undecided.map { .string($0) })),
            ] + (r.setAside.isEmpty ? [] : [("set_aside", .array(r.setAside.map { .string($0) }))]))),
            ("notes", .array(r.notes.map { .string($0) })),
        ] + FleetFields.members(report))
    }

    static func input(_ report: AnalysisReport, _ s: InputSummary) -> JSONValue {
        .object([
            ("index", .int(Int64(s.index))),
            ("path", .string(s.path)),
            ("format", .string(s.format.rawValue)),
            ("recorded_format", s.recordedFormat.map { .string($0.rawValue) } ?? .null),
            ("clock", .string(s.clock.rawValue)),
            ("events", .count(s.events)),
            ("malformed", .count(s.malformed)),
            ("skipped", .count(s.skipped)),
            (s.locationUnit == .line ? "lines" : "records", .count(s.records)),
            ("bytes", .count(s.bytes)),
            ("data_loss_markers", .count(s.dataLossMarkers)),
            ("lost_events", .count(s.lostEvents)),
            ("out_of_order", .count(s.outOfOrder)),
            ("guest_kernel", s.kernelVersion.map { .string($0.description) } ?? .null),
            ("first_malformed", .array(s.firstMalformed.map { m in
                .object([("location", .string(report.render(m.location))), ("reason", .string(m.reason))])
            })),
        ])
    }

    static func queueKey(_ k: QueueKey) -> JSONValue {
        .object([("controller", .string(k.controllerName)), ("qid", .int(Int64(k.qid))), ("type", .string(k.type.name))])
    }

    /// The counts of a queue the inputs cannot show, by their member names: without any
    /// controller event, the controller's (and MMIO doorbells, unless the driver's probes tell
    /// them); without any guest event, the guest's; race exposure needs both. They are written
    /// as 0 (the schema's counts are integers): a guest trace alone gave `mmio_doorbells: 0`,
    /// and a query for runs that never exercised the race flagged it.
    static func unknownCounts(_ q: QueueReport, controller: Bool, driver: Bool) -> [String] {
        var unknown: [String] = []
        if !controller {
            unknown += ["controller_shadow_reads", "controller_eventidx_writes", "commands_fetched", "completions_queued"]
            if !q.probeMode { unknown.append("mmio_doorbells") }
        }
        if !driver { unknown += ["commands_submitted", "commands_completed", "driver_head_reports"] }
        if !controller || !driver { unknown.append("race_exposure") }
        return unknown
    }

    static func queue(_ q: QueueReport, unknown: [String] = []) -> JSONValue {
        let s = q.stats
        return .object([
            ("controller", .string(q.key.controllerName)),
            ("qid", .int(Int64(q.key.qid))),
            ("type", .string(q.key.type.name)),
            ("entries", q.entries == 0 ? .null : .int(Int64(q.entries))),
            ("driver_probes", .bool(q.probeMode)),
            ("controller_shadow_reads", .int(Int64(s.controllerShadowReads))),
            ("controller_eventidx_writes", .int(Int64(s.controllerEventIdxWrites))),
            ("mmio_doorbells", .int(Int64(s.mmioDoorbells))),
            ("driver_shadow_writes", .int(Int64(s.driverShadowWrites))),
            ("mmio_avoided_share", decimalRatio(s.driverUpdatesWithoutMMIO, s.driverShadowWrites)),
            ("commands_submitted", .int(Int64(s.commandsSubmitted))),
            ("commands_fetched", .int(Int64(s.commandsFetched))),
            ("completions_queued", .int(Int64(s.completionsQueued))),
            ("commands_completed", .int(Int64(s.commandsCompleted))),
            ("driver_head_reports", .int(Int64(s.driverHeadReports))),
            ("sub_threshold_windows", .int(Int64(s.subThresholdWindows))),
            ("race_exposure", .int(Int64(s.raceExposure))),
            ("missed_doorbells", .int(Int64(s.missedDoorbells))),
            ("needless_doorbells", .int(Int64(s.needlessDoorbells))),
            ("out_of_range_values", .int(Int64(s.outOfRangeValues))),
            ("eventidx_regressions", .int(Int64(s.eventIdxRegressions))),
            ("queue_resets", .int(Int64(s.resets))),
            ("stuck_commands", .int(Int64(s.stuckCommands))),
            ("stale_shadow_reads", .int(Int64(s.staleShadowReads))),
            ("hangs", q.hangs.map(hangs) ?? .null),
            ("counts_unknown", .array(unknown.map { .string($0) })),
        ])
    }

    /// A queue's run summary: its mutual waits, how long they lasted, the first and the last.
    static func hangs(_ h: HangSummary) -> JSONValue {
        .object([
            ("count", .int(Int64(h.count))),
            ("total_ns", .int(h.totalNs)),
            ("first_id", .int(Int64(h.firstID))),
            ("first_start_ns", .int(h.firstStart)),
            ("last_id", .int(Int64(h.lastID))),
            ("last_start_ns", .int(h.lastStart)),
            ("on_other_clocks", .int(Int64(h.onOtherClocks))),
        ])
    }

    /// The catalog entry of a known bug (Docs/KnownBugs.md).
    public static func knownBug(_ bug: KnownBug) -> JSONValue {
        let e = bug.entry
        return .object([
            ("id", .string(bug.rawValue)),
            ("title", .string(e.title)),
            ("component", .string(e.component)),
            ("affected", .string(e.affected)),
            ("fixed", .string(e.fixed)),
            ("fix_commits", .array(e.fixCommits.map { .string($0) })),
            ("remedy", .string(e.remedy)),
            ("references", .array(e.references.map { .string($0) })),
        ])
    }

    /// `id`: the finding's number in the report, the one `explain --finding` takes (1-based).
    static func finding(_ report: AnalysisReport, _ f: Finding, id: Int) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("id", .int(Int64(id))),
            ("kind", .string(f.kind.rawValue)),
            ("severity", .string(f.severity.rawValue)),
            ("queue", queueKey(f.queue)),
            ("start_ns", .int(f.start)),
            ("end_ns", f.end.map { .int($0) } ?? .null),
            ("resolution", f.resolution.map { .string($0.rawValue) } ?? .null),
            ("cause", f.cause.map { .string($0.rawValue) } ?? .null),
            ("inferred", .bool(f.inferred)),
            ("uncertain", .bool(!f.uncertainty.isEmpty)),
            ("uncertainty", .array(f.uncertainty.map { .string($0) })),
            ("clock_input", .int(Int64(f.clockInput))),
            ("known_bug", f.knownBug.map(knownBug) ?? .null),
            ("recurs_after", f.recursAfter.map { .int(Int64($0)) } ?? .null),
        ]
        for (key, value) in f.values { members.append((key, json(value))) }
        if report.baseline != nil { members.append(("baseline", .string(report.isKnown(id - 1) ? "known" : "new"))) }
        members.append(("message", .string(f.message)))
        members.append(("explanation", .string(f.explanation)))
        members.append(("evidence", .array(f.evidence.map { e in
            var m: [(String, JSONValue)] = [
                ("role", .string(e.role)),
                ("location", .string(report.render(e.location))),
                ("path", .string(report.path(of: e.location.source))),
            ]
            m.append((e.location.unit == .line ? "line" : "offset", .int(Int64(e.location.value))))
            m.append(("time_ns", .int(e.time)))
            m.append(("summary", .string(e.summary)))
            return .object(m)
        })))
        return .object(members)
    }

    static func json(_ v: FieldValue) -> JSONValue {
        switch v {
        case .int(let i): return .int(i)
        case .string(let s): return .string(s)
        case .bool(let b): return .bool(b)
        case .null: return .null
        case .array(let items): return .array(items.map(json))
        }
    }
}
