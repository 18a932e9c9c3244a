/// Why a mutual wait happened, as far as the evidence tells. Raw values are the JSON strings
/// (Docs/Findings.md lists them); `meaning` is the one place that writes each one's prose.
public enum Cause: String, Sendable, Hashable, CaseIterable {
    /// The controller's read returning the old value is stamped after the driver's publication.
    case driverReorder = "driver-reorder"
    /// The driver read an EventIdx the controller had replaced by a write stamped before the read.
    case controllerReorder = "controller-reorder"
    /// The controller's last EventIdx write demanded a doorbell for the driver's next step and
    /// none followed: the driver acted on another EventIdx value.
    case skippedDemandedDoorbell = "skipped-demanded-doorbell"
    /// Doorbell Buffer Config without any EventIdx write for the queue since, while its tail moved.
    case eventIdxNotInitialised = "eventidx-not-initialised"
    /// The queue's shadow slot held a value nobody published since its reset or re-creation.
    case staleShadowAfterReset = "stale-shadow-after-reset"
    case unknown

    /// A few words for headings and one-line messages.
    public var headline: String {
        switch self {
        case .driverReorder: return "the driver's EventIdx load overtook its shadow store"
        case .controllerReorder: return "the controller's shadow load overtook its EventIdx store"
        case .skippedDemandedDoorbell: return "the driver skipped a doorbell the controller's last EventIdx demanded"
        case .eventIdxNotInitialised: return "EventIdx never written since the Doorbell Buffer Config"
        case .staleShadowAfterReset: return "a stale shadow value after the queue's reset or re-creation"
        case .unknown: return "the evidence does not tell"
        }
    }

    /// What the cause means, in full (explain's "Cause" paragraph, the HTML's cause row).
    public var meaning: String {
        switch self {
        case .driverReorder:
            return "The controller's read that returned the old value is stamped after the driver published the new one: the driver's store to the shadow slot was still invisible after the driver had loaded EventIdx. The driver let its load overtake its store — a full memory barrier is missing between the shadow store and the EventIdx load (the 2018 Linux mb() fix)."
        case .controllerReorder:
            return "The driver read an EventIdx the controller had already replaced, although the controller's newer write is stamped before that read: the controller's EventIdx store was still invisible after it re-read the shadow slot. The controller let its load overtake its store — a barrier is missing on the controller side."
        case .skippedDemandedDoorbell:
            return "The controller wrote EventIdx = e well before the driver's next step, and that step moved the tail from old to new with need_event(e, new, old) true: a correct driver that read e had to ring the MMIO doorbell, and no doorbell followed. The driver acted on another EventIdx value than the one the controller wrote — overwritten (by the driver itself, e.g. zeroed at a reset), stale (a cached or never re-read value), or not read at all."
        case .eventIdxNotInitialised:
            return "Doorbell Buffer Config switched shadow doorbells on while the queue's tail had moved, and the controller never wrote the queue's EventIdx afterwards: the slot still holds what the driver left there (zero after a reset), so need_event(0, N+1, N) is false and the driver never rings. This is the Linux reset-ordering bug's signature: I/O queues restarted before Doorbell Buffer Config is re-sent, on a controller that does not initialise EventIdx at config time (QEMU)."
        case .staleShadowAfterReset:
            return "After the queue's reset or re-creation its shadow slot held a value nobody published since: the buffers were not cleared, and the controller or the driver decided from a stale tail or head (the Linux 2020 fix that clears them at reset, SPDK issue #1795)."
        case .unknown:
            return "Neither side's reorder can be proven beyond the timing uncertainty of the trace stamps (see --timing-slack), and the values recorded do not show a skipped doorbell, an uninitialised EventIdx or a stale shadow value: the stamps are taken near, not at, the memory operations."
        }
    }
}

/// How a finding's interval ended. Raw values are the JSON strings.
public enum Resolution: String, Sendable, Hashable, CaseIterable {
    case mmioDoorbell = "mmio-doorbell"
    case controllerRead = "controller-read"
    case controllerFetch = "controller-fetch"
    /// A successful completion proves a fetch the trace does not show.
    case fetchNotTraced = "fetch-not-traced"
    /// The driver completed the stuck commands with an abort/cancel status.
    case commandsCancelled = "commands-cancelled"
    case queueDeleted = "queue-deleted"
    case queueRecreated = "queue-recreated"
    case controllerReset = "controller-reset"
    case dbbufConfig = "dbbuf-config"
    case stateChange = "state-change"
    case endOfTrace = "end-of-trace"
    /// A command completed with a success or device status.
    case completed
    /// A command completed with an abort/cancel status (NVMe generic status 0x07 or 0x371 …).
    case cancelled

    /// The sentence that says how the interval ended.
    public var sentence: String {
        switch self {
        case .endOfTrace: return "Neither side moved again before the trace ended: the hang was still going on."
        case .commandsCancelled: return "It ended when the driver gave up and cancelled the stuck commands (a timeout-driven controller reset)."
        case .queueDeleted, .controllerReset, .queueRecreated: return "It ended only when the queue was torn down (\(rawValue)): the driver had to reset the controller."
        case .mmioDoorbell: return "It ended with an MMIO doorbell on the queue."
        case .controllerRead: return "It ended when the controller read the queue again and found the new value."
        case .controllerFetch: return "It ended when the controller fetched from the queue again."
        case .fetchNotTraced: return "It ended with a successful completion: the controller had fetched the command although the trace does not show the fetch."
        case .dbbufConfig: return "It ended at a new Doorbell Buffer Config."
        case .stateChange: return "The wait ended by a change of the queue's state."
        case .completed: return "The command completed."
        case .cancelled: return "The command was cancelled: the driver completed it with an abort status, not the device."
        }
    }
}

/// NVMe completion status as the Linux `nvme_complete_rq` tracepoint prints it: bits 0–7 the
/// status code, 8–10 the status code type, 13 "more", 14 "do not retry".
public enum NVMeStatus {
    /// Generic status 0x07 Command Abort Requested, 0x08 Aborted due to SQ Deletion,
    /// 0x371 is Linux's NVME_SC_HOST_ABORTED_CMD (path-related type 3, code 0x71) that the
    /// driver sets on the commands it cancels at a reset; 0x370 NVME_SC_HOST_PATH_ERROR.
    /// Linux's NVME_SC_HOST_ABORTED_CMD: what `nvme_cancel_request` completes every command
    /// outstanding at a controller reset (or teardown) with.
    public static let hostAborted: UInt32 = 0x371

    public static func isCancellation(_ status: UInt32) -> Bool {
        let sct = (status >> 8) & 0x7, sc = status & 0xFF
        if sct == 0 { return sc == 0x07 || sc == 0x08 }
        if sct == 3 { return sc == 0x70 || sc == 0x71 }
        return false
    }

    /// `Abort Requested`, `host aborted`, …; nil for other values.
    public static func name(_ status: UInt32) -> String? {
        let sct = (status >> 8) & 0x7, sc = status & 0xFF
        switch (sct, sc) {
        case (0, 0x07): return "Command Abort Requested"
        case (0, 0x08): return "Command Aborted due to SQ Deletion"
        case (3, 0x70): return "host path error"
        case (3, 0x71): return "cancelled by the host (NVME_SC_HOST_ABORTED_CMD)"
        default: return nil
        }
    }
}
