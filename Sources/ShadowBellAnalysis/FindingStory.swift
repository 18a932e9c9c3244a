import ShadowBellCore

/// What ties findings together once they are numbered: the known bug each one's evidence
/// matches, and the window that a previous window's reset caused.
enum FindingStory {
    /// How long after a window's teardown the Doorbell Buffer Config of the recovery may come.
    static let recoveryLimit: Int64 = 10_000_000_000

    /// `findings` in report order; `groups[k]` is the clock group of `findings[k]`. Those in
    /// `unmatched` rest on counts a damaged line may have cut, or on a log that mixes several
    /// controllers: no known bug is named for them, and the explanation says why (the value).
    static func link(
        _ findings: inout [Finding], groups: [Int], results: [GroupResult], inputs: [InputSummary], qemu: KernelVersion? = nil,
        unmatched: [Int: String] = [:]
    ) {
        // The guest kernel the console's banner names: one of the finding's own clock group
        // first, else any (inputs are in index order, so the choice does not depend on timing).
        let consoles = inputs.filter { $0.kernelVersion != nil }
        for k in findings.indices {
            let own = consoles.first { results[groups[k]].sources.contains($0.index) }
            let kernel = (own ?? consoles.first)?.kernelVersion
            let driverFormat = findings[k].evidence.first { $0.role == "driver-publish" }
                .flatMap { e in inputs.first { $0.index == e.location.source }?.effectiveFormat }
            let context = KnownBugMatcher.Context(kernel: kernel, qemu: qemu, driverEventsFormat: driverFormat)
            var caveat = ""
            var bug = KnownBugMatcher.match(findings[k], context)
            if bug != nil, let why = unmatched[k] {
                findings[k].explanation += " No known bug is named: \(why)."
                bug = nil
            }
            if bug == nil, let order = resetOrdering(findings[k], results[groups[k]]), !KnownBug.linuxResetOrdering.excluded(by: kernel, qemu: qemu) {
                // The guest's side of the reset-ordering bug: its trace alone showed a plain
                // stuck command after the reset, though the driver's order was in it.
                bug = .linuxResetOrdering
                let config = order.config.map { "re-sent Doorbell Buffer Config only at \(formatSeconds($0)) s" } ?? "had not re-sent Doorbell Buffer Config where the trace ends"
                caveat = "From the guest's side: after re-creating its I/O queues at \(formatSeconds(order.recreated)) s (a reset), the driver submitted I/O on qid \(order.qid) at \(formatSeconds(order.firstIO.time)) s and \(config) — the order of the bug. A controller that does not initialise EventIdx at Doorbell Buffer Config (QEMU does not) then waits for a doorbell the driver does not ring; the controller's trace would show the EventIdx left unwritten. "
                let unit = inputs.first { $0.index == order.firstIO.source }?.locationUnit ?? .line
                // The give-up whose reset this was: the earlier finding on the queue that ended
                // at most the recovery limit before the re-creation.
                if let earlier = findings.indices.prefix(k).last(where: { i in
                    groups[i] == groups[k] && findings[i].queue == findings[k].queue && findings[i].severity == .error
                        && (findings[i].end.map { $0 <= order.recreated && order.recreated - $0 <= recoveryLimit } ?? false)
                }) {
                    findings[k].recursAfter = earlier + 1
                    findings[k].message += "; recurs after the reset that ended #\(earlier + 1)"
                    caveat += "It recurs after the reset that ended #\(earlier + 1). "
                }
                findings[k].evidence.append(Evidence(role: "driver-io-before-dbbuf-config", location: SourceLocation(source: order.firstIO.source, unit: unit, value: order.firstIO.location), time: order.firstIO.time,
                    summary: "driver submitted I/O on qid \(order.qid) after re-creating the queues, before re-sending Doorbell Buffer Config"))
            }
            if let bug {
                findings[k].knownBug = bug
                findings[k].message += "; known bug: \(bug.rawValue)"
                var s = " This matches the known bug \(bug.rawValue) (\(bug.entry.title); \(bug.entry.component); fixed in \(bug.entry.fixed))"
                if let kernel, bug.fixed(inKernel: kernel) == false { s += "; the guest console shows Linux \(kernel), which does not have the fix" }
                if let qemu, bug.fixed(inQemu: qemu) == false { s += "; the run's notes name QEMU \(qemu), which does not have the fix" }
                findings[k].explanation += s + ". " + caveat + KnownBugMatcher.caveat(bug, context) + "Remedy: \(bug.entry.remedy)"
            }
            // The QEMU version the run's notes name settles the either-or of an untraced CQ
            // EventIdx (hang-sq2's notes name 7.2.22, and the story still asked).
            if findings[k].kind == .cqEventIdxNotSeen, findings[k].knownBug == nil, let qemu,
                let fixed = KnownBug.qemuCQEventIdxNeverWritten.fixed(inQemu: qemu)
            {
                findings[k].explanation += fixed
                    ? " The run's notes name QEMU \(qemu), which writes the CQ EventIdx (fixed in 7.2.1): the write is only missing from the trace (Debian's 7.2 backport does not trace it; later QEMUs trace it as pci_nvme_update_cq_eventidx when that event is enabled) — nothing to fix."
                    : " The run's notes name QEMU \(qemu), which never writes the CQ EventIdx (\(KnownBug.qemuCQEventIdxNeverWritten.rawValue), fixed in 7.2.1): the driver's CQ-head decisions read a stale value."
            }
            linkRecurrence(&findings, k, groups: groups)
        }
    }

    /// The driver's reset order a guest-side stall on its queue follows: I/O submitted on the
    /// queue after the driver re-created its queues and before it re-sent Doorbell Buffer
    /// Config, the stall starting from then to the recovery limit after the config.
    static func resetOrdering(_ f: Finding, _ result: GroupResult) -> IOBeforeDbbufConfig? {
        guard f.kind == .stuckCommand || f.kind == .unattributedStall else { return nil }
        // Only without the controller's events: with them, the wait itself tells the bug.
        guard !result.controllerEventsSeen else { return nil }
        return result.ioBeforeDbbufConfig.first { o in
            o.controller == f.queue.controller && o.qid == f.queue.qid && f.start >= o.recreated
                && f.start - (o.config ?? o.firstIO.time) <= recoveryLimit
        }
    }

    /// A window whose EventIdx was never written since a Doorbell Buffer Config that came right
    /// after an earlier window's teardown recurs because of that reset.
    private static func linkRecurrence(_ findings: inout [Finding], _ k: Int, groups: [Int]) {
        let f = findings[k]
        guard f.kind == .mutualWait, case .int(let config)? = f.value("dbbuf_config_ns") else { return }
        let earlier = findings.indices.prefix(k).last { i in
            let w = findings[i]
            guard w.kind == .mutualWait, groups[i] == groups[k], w.queue.controller == f.queue.controller,
                let end = w.end, end <= config, config - end <= recoveryLimit, end <= f.start
            else { return false }
            switch w.resolution {
            case .queueDeleted?, .queueRecreated?, .controllerReset?, .commandsCancelled?: return true
            default: return false
            }
        }
        guard let earlier else { return }
        findings[k].recursAfter = earlier + 1
        findings[k].message += "; recurs after the reset that ended #\(earlier + 1)"
        findings[k].explanation += " It recurs after the reset that ended #\(earlier + 1): the Doorbell Buffer Config of that recovery left this queue's EventIdx unwritten."
    }
}
