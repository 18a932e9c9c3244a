#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs another source's `nextBatch` on a thread of its own, a few batches ahead of the
/// consumer, so reading and decoding a binary input (libpcap, simple-trace records), or merging
/// a run's inputs by time, overlaps the analysis on a second core. Batches, their order and the
/// summary (as of each batch) are exactly those of the wrapped source.
public final class ReadAheadSource: EventSource {
    private let ring: BatchRing
    @exclusivity(unchecked) public private(set) var summary: InputSummary
    @exclusivity(unchecked) private var thread: pthread_t?

    public init(_ inner: any EventSource, depth: Int = 4) {
        summary = inner.summary
        ring = BatchRing(inner, depth: max(depth, 2))
        switch startThread({ [ring] in ring.produce() }) {
        case .success(let t): thread = t
        case .failure: ring.produceInline = true
        }
    }

    deinit {
        ring.stop()
        if let thread { pthread_join(thread, nil) }
    }

    public func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        let (more, snapshot, error) = ring.take(into: &buffer)
        if let snapshot { summary = snapshot }
        if let error { throw error }
        return more
    }
}

/// The batches in flight between the reading thread and the consumer.
final class BatchRing: @unchecked Sendable {
    private struct Slot {
        var events: [Event] = []
        var more = false
        var summary: InputSummary?
        var error: InputError?
    }

    private let inner: any EventSource
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by `mutex`.
    @exclusivity(unchecked) private var slots: [Slot]
    @exclusivity(unchecked) private var filled = 0
    @exclusivity(unchecked) private var head = 0
    @exclusivity(unchecked) private var stopping = false
    @exclusivity(unchecked) private var ended = false
    /// Set when no thread could be started: `take` reads on the caller's thread.
    @exclusivity(unchecked) var produceInline = false

    init(_ inner: any EventSource, depth: Int) {
        self.inner = inner
        slots = Array(repeating: Slot(), count: depth)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        changed.deallocate()
    }

    func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }

    /// The reading thread: fills free slots until the input ends, fails, or `stop()`.
    func produce() {
        var spare: [Event] = []
        while true {
            pthread_mutex_lock(mutex)
            while filled == slots.count && !stopping { pthread_cond_wait(changed, mutex) }
            if stopping {
                pthread_mutex_unlock(mutex)
                return
            }
            pthread_mutex_unlock(mutex)
            if !produceOne(&spare) { return }
        }
    }

    /// Reads one batch into the next free slot; false once the input has ended.
    private func produceOne(_ spare: inout [Event]) -> Bool {
        var slot = Slot()
        swap(&slot.events, &spare)
        do {
            slot.more = try inner.nextBatch(into: &slot.events)
        } catch {
            slot.error = error
        }
        slot.summary = inner.summary
        let last = !slot.more || slot.error != nil
        pthread_mutex_lock(mutex)
        let tail = (head + filled) % slots.count
        swap(&spare, &slots[tail].events)
        slots[tail].events = slot.events
        slots[tail].more = slot.more
        slots[tail].summary = slot.summary
        slots[tail].error = slot.error
        filled += 1
        if last { ended = true }
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
        return !last
    }

    /// The next batch (swapped into `buffer`), whether more may follow, the summary as of
    /// that batch, and the wrapped source's error, if it failed there.
    func take(into buffer: inout [Event]) -> (Bool, InputSummary?, InputError?) {
        buffer.removeAll(keepingCapacity: true)
        pthread_mutex_lock(mutex)
        if produceInline, filled == 0, !ended {
            pthread_mutex_unlock(mutex)
            var spare: [Event] = []
            _ = produceOne(&spare)
            pthread_mutex_lock(mutex)
        }
        while filled == 0 {
            if ended {
                pthread_mutex_unlock(mutex)
                return (false, nil, nil)
            }
            pthread_cond_wait(changed, mutex)
        }
        swap(&buffer, &slots[head].events)
        let result = (slots[head].more, slots[head].summary, slots[head].error)
        slots[head].summary = nil
        slots[head].error = nil
        head = (head + 1) % slots.count
        filled -= 1
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
        return result
    }
}
