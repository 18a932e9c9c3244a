import ShadowBellCore

/// `stuck-command` (error): a command the guest submitted and did not see completed within the
/// threshold, that no mutual-wait window explains.
public enum StuckCommandDetector {
    public static let definition = """
        A command submitted by the guest (nvme_setup_cmd) that was not completed \
        (nvme_complete_rq) within --stuck-after (5 s by default), or never, and that no \
        mutual-wait window on its queue explains (a window owns the commands outstanding on its \
        queue while it lasted, and lists their ids and kernel tags). Command ids are reused: a \
        fetch is matched to a command only while the command lives (until its completion, its \
        cancellation or its queue's deletion), and commands the driver requeues after a reset \
        come back with new ids. A completion with an abort status (NVMe generic 0x07/0x08, \
        Linux's host-aborted 0x371) is a cancellation by the driver, not the device's answer. \
        The finding says whether the controller fetched the command only when the trace has \
        the controller's events.
        """
}

/// A command outstanding longer than `--stuck-after`, judged at the end: a window may own it.
struct StuckCommand: Sendable {
    var controller: UInt16
    var qid: UInt16
    var cmdid: UInt32
    var record: ClockGroupAnalyzer.CommandRecord
    var end: EventRef?
    var status: UInt32?
    var duration: Int64

    var cancelled: Bool { status.map(NVMeStatus.isCancellation) ?? false }
}

extension ClockGroupAnalyzer {
    /// Called when the guest completes a command, and at the end for those never completed.
    func checkStuckCommand(controller: UInt16, qid: UInt16, cmdid: UInt32, record: CommandRecord,
                           completedAt end: EventRef?, status: UInt32?) {
        // A command still outstanding at the end is judged up to the last event of its input.
        let stop = end?.time ?? lastTime(ofSource: record.submittedAt.source) ?? lastTime
        let duration = stop - record.submittedAt.time
        guard duration >= options.stuckAfter, clock == .timestamps else { return }
        guard stuckCommands.count < Self.stuckCommandLimit else {
            suppressed[SuppressionKey(kind: .stuckCommand, queue: QueueKey(controller: controller, qid: qid, type: .sq)), default: 0] += 1
            return
        }
        stuckCommands.append(StuckCommand(
            controller: controller, qid: qid, cmdid: cmdid, record: record, end: end, status: status, duration: duration))
    }

    /// Stuck commands kept for judgement at the end (memory stays bounded).
    static var stuckCommandLimit: Int { 4096 }

    func reportCommandsNeverCompleted() {
        // Only commands outstanding for `--stuck-after` are judged (the rule of
        // `checkStuckCommand`): a full table is not copied and sorted to find none.
        let late = outstanding.entries { record in
            let stop = lastTime(ofSource: record.submittedAt.source) ?? lastTime
            return stop - record.submittedAt.time >= options.stuckAfter
        }
        for (key, record) in late.sorted(by: { ($0.value.submittedAt.time, $0.key) < ($1.value.submittedAt.time, $1.key) }) {
            checkStuckCommand(
                controller: UInt16(key >> 48), qid: UInt16(truncatingIfNeeded: key >> 32),
                cmdid: UInt32(truncatingIfNeeded: key), record: record, completedAt: nil, status: nil)
        }
    }

    /// Each stuck command goes to the mutual-wait window that was open on its queue pair while
    /// it was outstanding (its SQ, or the CQ its completion waits in once fetched); the others
    /// become `stuck-command` findings.
    func assignStuckCommands() {
        var owned: [Int: [StuckCommand]] = [:]
        for c in stuckCommands {
            queues[index(of: QueueKey(controller: c.controller, qid: c.qid, type: .sq))].stats.stuckCommands += 1
            let stop = c.end?.time ?? .max
            let owner = findings.indices.first { i in
                let f = findings[i]
                return (f.kind == .mutualWait || f.kind == .controllerIdleWithWork)
                    && f.queue.controller == c.controller && f.queue.qid == c.qid
                    && (f.queue.type == .sq || c.record.fetchedAt != nil)
                    && c.record.submittedAt.time <= (f.end ?? .max) && stop >= f.start
            }
            if let owner {
                owned[owner, default: []].append(c)
            } else {
                reportStuckCommand(c)
            }
        }
        for (i, commands) in owned { attach(commands, to: i) }
    }

    /// The window lists the commands it owns: ids, the kernel tags (cid & 0xfff: Linux puts a
    /// generation counter in the top bits), and how many the driver cancelled.
    private func attach(_ commands: [StuckCommand], to i: Int) {
        var f = findings[i]
        let ids = commands.map(\.cmdid)
        var known = Set<UInt32>()
        var merged: [FieldValue] = []
        if case .array(let existing)? = f.value("stuck_command_ids") {
            for case .int(let v) in existing where v >= 0 && v <= Int64(UInt32.max) { known.insert(UInt32(v)); merged.append(.int(v)) }
        }
        for id in ids where !known.contains(id) {
            known.insert(id)
            merged.append(.int(Int64(id)))
        }
        let tags = Set(known.map { $0 & 0xFFF }).sorted()
        let cancelled = commands.filter(\.cancelled).count
        set(&f, "stuck_command_ids", .array(merged))
        set(&f, "kernel_tags", .array(tags.map { .int(Int64($0)) }))
        set(&f, "commands_outstanding_over_threshold", .int(Int64(commands.count)))
        set(&f, "commands_cancelled", .int(Int64(cancelled)))
        if f.queue.type == .cq {
            // A CQ window's `stuck_commands` counts the completions it holds.
        } else if case .int(let stuck)? = f.value("stuck_commands"), stuck < Int64(known.count) {
            set(&f, "stuck_commands", .int(Int64(known.count)))
        } else if f.value("stuck_commands") == .null {
            set(&f, "stuck_commands", .int(Int64(known.count)))
        }
        let list = ids.prefix(8).map(String.init).joined(separator: ", ") + (ids.count > 8 ? ", …" : "")
        f.explanation += " This window owns \(commands.count) command(s) outstanding beyond \(formatDuration(options.stuckAfter)) on qid \(f.queue.qid) (cid \(list); kernel tags \(tags.prefix(8).map(String.init).joined(separator: ", ")))"
        f.explanation += cancelled > 0 ? "; the driver cancelled \(cancelled) of them (abort status) after giving up." : "."
        findings[i] = f
    }

    private func set(_ f: inout Finding, _ name: String, _ value: FieldValue) {
        if let k = f.values.firstIndex(where: { $0.0 == name }) { f.values[k].1 = value } else { f.values.append((name, value)) }
    }

    private func reportStuckCommand(_ c: StuckCommand) {
        let key = QueueKey(controller: c.controller, qid: c.qid, type: .sq)
        let record = c.record
        var f = Finding(kind: .stuckCommand, queue: key, start: record.submittedAt.time, message: "", explanation: "")
        f.end = c.end?.time
        f.resolution = c.end == nil ? .endOfTrace : c.cancelled ? .cancelled : .completed
        let observed = controllerEventsSeen
        f.values = [
            ("cmdid", .int(Int64(c.cmdid))),
            ("kernel_tag", .int(Int64(c.cmdid & 0xFFF))),
            ("duration_ns", .int(c.duration)),
            ("fetched", observed ? .bool(record.fetchedAt != nil) : .null),
            ("status", c.status.map { .int(Int64($0)) } ?? .null),
        ]
        let statusText = c.status.map { s in "0x\(String(s, radix: 16))" + (NVMeStatus.name(s).map { " (\($0))" } ?? "") }
        let how: String
        if c.end == nil {
            how = "never completed (\(formatDuration(c.duration)) until the end of the trace)"
        } else if c.cancelled {
            how = "cancelled by the driver after \(formatDuration(c.duration)), status \(statusText ?? "?")"
        } else {
            how = "completed only after \(formatDuration(c.duration))" + ((c.status ?? 0) != 0 ? ", status \(statusText ?? "?")" : "")
        }
        f.message = "\(key.controllerName) qid \(c.qid): command \(c.cmdid) (kernel tag \(c.cmdid & 0xFFF)) \(how)"
        var s: String
        if !observed {
            s = "The trace has no controller events for this clock: it cannot tell whether the controller fetched command \(c.cmdid)."
        } else if let fetchedAt = record.fetchedAt {
            s = "The controller fetched command \(c.cmdid) from sq\(c.qid) \(formatDuration(fetchedAt - record.submittedAt.time)) after its submission"
            s += c.cancelled ? " and did not complete it before the driver gave up." : ", but its completion reached the driver only late or never: a lost completion, interrupt or CQ doorbell, or a device that is slow or stuck."
        } else if let deleted = record.queueDeletedAt {
            s = "The controller did not fetch command \(c.cmdid) before its queue was deleted \(formatDuration(deleted - record.submittedAt.time)) after the submission (a later fetch of the same cid belongs to another command)."
        } else {
            s = "The controller did not fetch command \(c.cmdid) from sq\(c.qid) while it was outstanding: the controller did not see the new tail (a lost SQ doorbell), or it could not take the command."
        }
        if c.cancelled {
            s += " Status \(statusText ?? "?") is a cancellation: the driver ended the command itself (abort or reset), the device did not answer it."
        }
        f.explanation = s
        f.evidence = [evidenceItem("driver-submit", record.submittedAt, "driver submitted cmdid \(c.cmdid) on qid \(c.qid)")]
        if let end = c.end {
            f.evidence.append(evidenceItem(c.cancelled ? "driver-cancel" : "driver-complete", end,
                                           "driver completed cmdid \(c.cmdid)" + (statusText.map { ", status \($0)" } ?? "")))
        }
        if dataLoss(from: record.submittedAt.time, to: record.submittedAt.time + c.duration) > 0 {
            f.uncertainty.append("the recorder lost events while the command was outstanding")
        }
        report(f)
    }
}
