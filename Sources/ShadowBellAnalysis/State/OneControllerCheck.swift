import ShadowBellCore

/// Follows one input's I/O queues and doorbell buffer from creation or configuration to
/// deletion or controller reset, and finds the first event one controller cannot produce
/// (`QueueCreatedTwice`): QEMU's nvme trace events name no device, so a log of a VM with two
/// `-device nvme` holds both controllers' events under the same queue ids.
///
/// Only of an input that traces resets (a whole QEMU log does, from the machine's first): a
/// log of `pci_nvme_*sq*` alone holds creations and no reset between them, and an input that
/// leaves resets out may leave creations out too. One per input: the first is the evidence.
/// The alignment's first pass and the analysis keep one each, so both tell the same event.
struct OneControllerCheck {
    /// The I/O queues the input created and has not deleted or reset since, with where.
    private var live: [QueueKey: EventRef] = [:]
    /// The I/O queues a deletion or reset ended (their creation and the end), not created again.
    private var ended: [QueueKey: (created: EventRef, end: EventRef)] = [:]
    /// Per controller, its doorbell buffer configuration traced by the input and not reset since.
    private var configured: [UInt16: EventRef] = [:]
    /// Per controller, the configuration a traced reset ended, with the reset, not configured again.
    private var configEnded: [UInt16: (config: EventRef, reset: EventRef)] = [:]
    private var tracesResets = false
    /// The first event of the input one controller refuses.
    private(set) var found: QueueCreatedTwice?

    /// Whether a fetch, shadow read or EventIdx write can be evidence (false on a run's hot path
    /// almost always: queues come back right after a reset, and the buffer with them). Stored,
    /// not computed: read at those events, where a computed one copied the whole check out of
    /// the analysis's array (3 % of a QEMU log's instructions).
    private(set) var watching = false

    mutating func consume(_ e: Event) {
        guard found == nil else { return }
        defer { watching = found == nil && tracesResets && !(ended.isEmpty && configEnded.isEmpty) }
        switch e.kind {
        case .controllerReset:
            tracesResets = true
            // (Not a shutdown: QEMU keeps its queues and buffer until the controller is disabled
            // or reset; the guest deletes its queues around it, in either order.)
            guard e.a != ResetReason.shutdown.rawValue else { return }
            if let config = configured.removeValue(forKey: e.controller) {
                configEnded[e.controller] = (config, EventRef(e))
            }
            guard !live.isEmpty else { return }
            for (key, created) in live where key.controller == e.controller && ended.count < ClockGroupAnalyzer.queueLimit {
                ended[key] = (created, EventRef(e))
            }
            live = live.filter { $0.key.controller != e.controller }
        case .dbbufConfig:
            configEnded[e.controller] = nil
            if configured.count < ClockGroupAnalyzer.queueLimit { configured[e.controller] = EventRef(e) }
        case .queueCreate:
            guard e.qid != 0 else { return }
            let key = e.queue
            ended[key] = nil
            if tracesResets, let earlier = live[key] {
                found = QueueCreatedTwice(queue: key, first: earlier, again: EventRef(e))
            }
            // (Bounded as the analysis's queues are: hostile input naming millions of queues.)
            guard live[key] != nil || live.count < ClockGroupAnalyzer.queueLimit else { return }
            live[key] = EventRef(e)
        case .queueDelete:
            guard e.qid != 0 else { return }
            // QEMU traces a deletion only of a queue it has: one ended and not created again
            // is another controller's.
            // (Stamped after the end: a line written twice is no second controller's.)
            if tracesResets, let (created, end) = ended[e.queue], e.time > end.time {
                found = QueueCreatedTwice(queue: e.queue, first: created, again: EventRef(e), ended: end, evidence: .deletion)
                return
            }
            if let created = live.removeValue(forKey: e.queue), ended.count < ClockGroupAnalyzer.queueLimit { ended[e.queue] = (created, EventRef(e)) }
        case .controllerFetch:
            guard e.qid != 0, tracesResets, let (created, end) = ended[e.queue(.sq)] else { return }
            found = QueueCreatedTwice(queue: e.queue(.sq), first: created, again: EventRef(e), ended: end)
        case .controllerShadowRead, .controllerEventIdxWrite:
            // A controller reads and writes the doorbell buffer only while it is configured, and
            // QEMU forgets it at a reset: one read or written after the reset ended its
            // configuration, before the driver configures it again, is another controller's.
            guard e.qid != 0, tracesResets, let (config, reset) = configEnded[e.controller] else { return }
            found = QueueCreatedTwice(queue: e.queue, first: config, again: EventRef(e), ended: reset, evidence: .doorbellBuffer)
        default: return
        }
    }
}
