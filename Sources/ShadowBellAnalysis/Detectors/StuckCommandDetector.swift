import ShadowBellCore

/// `stuck-command` (error): a command the guest submitted and did not see completed within the
/// threshold.
public enum StuckCommandDetector {
    public static let definition = """
        A command submitted by the guest (nvme_setup_cmd) that was not completed \
        (nvme_complete_rq) within --stuck-after (5 s by default), or never. The finding says \
        whether the controller ever fetched it: an unfetched command points at a lost SQ \
        doorbell (see the queue's mutual-wait finding), a fetched one at a lost completion, \
        interrupt or CQ doorbell, or a slow device.
        """
}

extension ClockGroupAnalyzer {
    /// Called when the guest completes a command, and at the end for those never completed.
    func checkStuckCommand(controller: UInt16, qid: UInt16, cmdid: UInt32, record: CommandRecord,
                           completedAt end: EventRef?, status: UInt32?) {
        // A command still outstanding at the end is judged up to the last event of its input.
        let stop = end?.time ?? lastTime(ofSource: record.submittedAt.source) ?? lastTime
        let duration = stop - record.submittedAt.time
        guard duration >= options.stuckAfter, clock == .timestamps else { return }
        let key = QueueKey(controller: controller, qid: qid, type: .sq)
        let i = index(of: key)
        queues[i].stats.stuckCommands += 1
        var f = Finding(
            kind: .stuckCommand, queue: key, start: record.submittedAt.time,
            message: "", explanation: "")
        f.end = end?.time
        f.resolution = end == nil ? "end-of-trace" : "completed"
        f.values = [
            ("cmdid", .int(Int64(cmdid))),
            ("duration_ns", .int(duration)),
            ("fetched", .bool(record.fetched)),
            ("status", status.map { .int(Int64($0)) } ?? .null),
        ]
        let how = end == nil ? "never completed (\(formatDuration(duration)) until the end of the trace)"
            : "completed only after \(formatDuration(duration))" + (status.map { $0 != 0 ? ", status 0x\(String($0, radix: 16))" : "" } ?? "")
        f.message = "\(key.controllerName) qid \(qid): command \(cmdid) \(how)"
        if record.fetched {
            f.explanation = "The controller fetched command \(cmdid) from sq\(qid)"
                + (record.fetchedAt.map { " at \(formatDuration($0 - record.submittedAt.time)) after its submission" } ?? "")
                + ", but its completion did not reach the driver in time: a lost completion, interrupt or CQ doorbell, or a device that is slow or stuck."
        } else {
            f.explanation = "The controller never fetched command \(cmdid) from sq\(qid): the driver published it in the submission queue, but the controller did not see the new tail. This is what a lost SQ doorbell looks like; see the mutual-wait finding on the same queue."
        }
        f.evidence = [evidenceItem("driver-submit", record.submittedAt, "driver submitted cmdid \(cmdid) on qid \(qid)")]
        if let end { f.evidence.append(evidenceItem("driver-complete", end, "driver completed cmdid \(cmdid)")) }
        if dataLoss(from: record.submittedAt.time, to: stop) > 0 {
            f.uncertainty.append("the recorder lost events while the command was outstanding")
        }
        report(f)
    }

    func reportCommandsNeverCompleted() {
        for (key, record) in outstanding.entries.sorted(by: { ($0.value.submittedAt.time, $0.key) < ($1.value.submittedAt.time, $1.key) }) {
            checkStuckCommand(
                controller: UInt16(key >> 48), qid: UInt16(truncatingIfNeeded: key >> 32),
                cmdid: UInt32(truncatingIfNeeded: key), record: record, completedAt: nil, status: nil)
        }
    }
}
