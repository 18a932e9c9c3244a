import ShadowBellCore

/// What ties findings together once they are numbered: the known bug each one's evidence
/// matches, and the window that a previous window's reset caused.
enum FindingStory {
    /// How long after a window's teardown the Doorbell Buffer Config of the recovery may come.
    static let recoveryLimit: Int64 = 10_000_000_000

    /// `findings` in report order; `groups[k]` is the clock group of `findings[k]`.
    static func link(
        _ findings: inout [Finding], groups: [Int], results: [GroupResult], inputs: [InputSummary], qemu: KernelVersion? = nil
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
            if let bug = KnownBugMatcher.match(findings[k], context) {
                findings[k].knownBug = bug
                findings[k].message += "; known bug: \(bug.rawValue)"
                var s = " This matches the known bug \(bug.rawValue) (\(bug.entry.title); \(bug.entry.component); fixed in \(bug.entry.fixed))"
                if let kernel, bug.fixed(inKernel: kernel) == false { s += "; the guest console shows Linux \(kernel), which does not have the fix" }
                if let qemu, bug.fixed(inQemu: qemu) == false { s += "; the run's notes name QEMU \(qemu), which does not have the fix" }
                findings[k].explanation += s + ". " + KnownBugMatcher.caveat(bug, context) + "Remedy: \(bug.entry.remedy)"
            }
            linkRecurrence(&findings, k, groups: groups)
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
