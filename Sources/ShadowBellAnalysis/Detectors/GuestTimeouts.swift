import ShadowBellCore

/// Guest kernel timeout messages (console / dmesg) are not findings of their own: they are
/// linked, as evidence, to the mutual-wait window open on their queue when they were printed.
struct GuestTimeout: Sendable {
    var at: EventRef
    var kind: GuestMessageKind
    var tag: UInt32
}

extension ClockGroupAnalyzer {
    func guestMessage(_ e: Event) {
        guard let kind = GuestMessageKind(rawValue: e.a) else { return }
        switch kind {
        case .timeoutAborting, .timeoutReset, .timeoutPolled, .timeoutDisable:
            let key = UInt32(e.controller) << 16 | UInt32(e.qid)
            var list = guestTimeouts[key, default: []]
            if list.count >= 64 { list.removeFirst() }
            list.append(GuestTimeout(at: EventRef(e), kind: kind, tag: e.b))
            guestTimeouts[key] = list
        case .abortStatus, .queuesReady:
            break
        }
    }

    /// The guest's timeout messages for `queue`'s qid printed in `[from, to]`.
    func guestTimeouts(for queue: QueueKey, from: Int64, to: Int64) -> [GuestTimeout] {
        let key = UInt32(queue.controller) << 16 | UInt32(queue.qid)
        return (guestTimeouts[key] ?? []).filter { $0.at.time >= from && $0.at.time <= to }
    }

    static func describe(_ t: GuestTimeout, qid: UInt16) -> String {
        let what: String
        switch t.kind {
        case .timeoutAborting: what = "timeout, aborting"
        case .timeoutReset: what = "timeout, reset controller"
        case .timeoutPolled: what = "timeout, completion polled"
        case .timeoutDisable: what = "timeout, disable controller"
        default: what = t.kind.name
        }
        return "guest kernel: I/O \(t.tag) QID \(qid) \(what)"
    }
}
