import ShadowBellCore

/// A short, human description of an event, for timelines and evidence.
public func describe(_ e: Event) -> String {
    let q = "\(e.queueType.name)\(e.qid)"
    switch e.kind {
    case .driverDoorbellUpdate:
        return "driver published \(q) \(e.a) -> \(e.b), read EventIdx \(e.c), mmio=\(e.rangMMIO ? 1 : 0)"
    case .driverSubmit:
        if e.flags & Event.createsQueueFlag != 0 {
            return "driver submitted cmdid \(e.a) on qid \(e.qid): create \(e.queueType.name)\(e.b) qsize \(e.c)"
        }
        return "driver submitted cmdid \(e.a) on qid \(e.qid)"
    case .driverComplete: return "driver completed cmdid \(e.a) on qid \(e.qid), status 0x\(String(e.b, radix: 16))"
    case .driverSQHead: return "driver saw sq\(e.qid) head \(e.a), tail \(e.b)"
    case .guestMessage:
        guard let kind = GuestMessageKind(rawValue: e.a) else { return "guest kernel: message QID \(e.qid)" }
        return "guest kernel: \(kind.kernelWords(tag: e.b, qid: e.qid, status: e.c))"
    case .controllerShadowRead: return "controller read shadow \(q) = \(e.a)"
    case .controllerEventIdxWrite: return "controller wrote EventIdx \(q) = \(e.a)"
    case .mmioDoorbell: return "MMIO doorbell \(q) = \(e.a)"
    case .controllerFetch: return "controller fetched cid \(e.a) from sq\(e.qid)"
    case .controllerCompletion: return "controller queued completion cid \(e.a) on cq\(e.qid)"
    case .queueCreate: return "controller created \(q), \(UInt64(e.a) + 1) entries"
    case .queueDelete: return "controller deleted \(q)"
    case .dbbufConfig: return "Doorbell Buffer Config (shadow 0x\(String(e.wide, radix: 16)))"
    case .controllerReset: return "controller reset: \(ResetReason(rawValue: e.a)?.name ?? "reset")"
    case .controllerEnable: return "controller enabled"
    case .interrupt: return e.a == Event.noVector ? "pin interrupt" : "MSI-X interrupt vector \(e.a)"
    case .registerWrite: return "register write 0x\(String(e.wide, radix: 16)) = 0x\(String(e.a, radix: 16))"
    case .dataLoss:
        // (A log keeper's rate limit names no CPU.)
        if e.b == Event.noCommand { return "the log dropped \(e.lostEvents) line(s) here (a rate limit)" }
        return e.a > 0 ? "recorder lost \(e.a) events (cpu \(e.b))" : "recorder lost events (cpu \(e.b))"
    case .recordingEnd: return "the input was still recording (its last line, past its last event)"
    }
}
