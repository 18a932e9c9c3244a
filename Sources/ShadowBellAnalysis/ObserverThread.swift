#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellCore

/// Shows an analysis's observer what it is shown, on a thread of its own: the analysis hands
/// over batches of events (with each queue's state) and goes on, so the work of an observer that
/// writes a document (the Perfetto export) overlaps the analysis on a second core. The observer
/// sees the domain starts and the events in the analysis's order, exactly as it would inline;
/// when no thread can be started, it is shown them on the analysis's thread.
public final class ObserverThread: @unchecked Sendable {
    /// Events and states kept as raw memory (both are plain values): appending one is two
    /// stores, without an array's uniqueness and capacity checks.
    private final class Batch {
        let events = UnsafeMutablePointer<Event>.allocate(capacity: ObserverThread.batch)
        let states = UnsafeMutablePointer<QueueSnapshot>.allocate(capacity: ObserverThread.batch)
        @exclusivity(unchecked) var count = 0
        /// The domains that start before `events[at]` (`at == count`: after the last).
        @exclusivity(unchecked) var domains: [(at: Int, start: DomainStart)] = []

        deinit {
            events.deallocate()
            states.deallocate()
        }
    }

    private let observe: (Event, QueueSnapshot) -> Void
    private let domainStarts: (DomainStart) -> Void
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // The analysis's side: the batch being filled, its memory held here too.
    @exclusivity(unchecked) private var filling = Batch()
    @exclusivity(unchecked) private var events: UnsafeMutablePointer<Event>
    @exclusivity(unchecked) private var states: UnsafeMutablePointer<QueueSnapshot>
    @exclusivity(unchecked) private var count = 0
    // Guarded by `mutex`.
    @exclusivity(unchecked) private var ready: [Batch] = []
    @exclusivity(unchecked) private var spares: [Batch] = []
    @exclusivity(unchecked) private var ended = false
    @exclusivity(unchecked) private var thread: pthread_t?
    static let batch = 4096
    /// Batches handed over and not yet shown: bounds the memory (about 0.5 MB each).
    static let depth = 4

    public init(observe: @escaping (Event, QueueSnapshot) -> Void, domainStarts: @escaping (DomainStart) -> Void) {
        self.observe = observe
        self.domainStarts = domainStarts
        events = filling.events
        states = filling.states
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
        if case .success(let t) = startThread({ [self] in consume() }) { thread = t }
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        changed.deallocate()
    }

    /// The analysis observer.
    public func event(_ e: Event, _ q: QueueSnapshot) {
        (events + count).initialize(to: e)
        (states + count).initialize(to: q)
        count += 1
        if count == Self.batch { handOver() }
    }

    /// The analysis's `domainStarts`.
    public func domainStart(_ d: DomainStart) {
        filling.domains.append((count, d))
    }

    /// Hands over what is left and waits until the observer has been shown everything.
    public func finish() {
        handOver()
        guard let thread else { return }
        pthread_mutex_lock(mutex)
        ended = true
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
        pthread_join(thread, nil)
        self.thread = nil
    }

    private func handOver() {
        guard count > 0 || !filling.domains.isEmpty else { return }
        filling.count = count
        count = 0
        guard thread != nil else {
            show(filling)
            filling.domains.removeAll(keepingCapacity: true)
            return
        }
        pthread_mutex_lock(mutex)
        while ready.count >= Self.depth { pthread_cond_wait(changed, mutex) }
        ready.append(filling)
        filling = spares.popLast() ?? Batch()
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
        events = filling.events
        states = filling.states
    }

    private func show(_ b: Batch) {
        var d = 0
        for k in 0..<b.count {
            while d < b.domains.count, b.domains[d].at <= k {
                domainStarts(b.domains[d].start)
                d += 1
            }
            observe(b.events[k], b.states[k])
        }
        for rest in b.domains[d...] { domainStarts(rest.start) }
    }

    /// The observer's thread: shows each batch handed over, in order, until `finish`.
    private func consume() {
        while true {
            pthread_mutex_lock(mutex)
            while ready.isEmpty && !ended { pthread_cond_wait(changed, mutex) }
            if ready.isEmpty {
                pthread_mutex_unlock(mutex)
                return
            }
            let b = ready.removeFirst()
            pthread_cond_broadcast(changed)
            pthread_mutex_unlock(mutex)
            show(b)
            b.count = 0
            b.domains.removeAll(keepingCapacity: true)
            pthread_mutex_lock(mutex)
            if spares.count < Self.depth { spares.append(b) }
            pthread_mutex_unlock(mutex)
        }
    }
}
