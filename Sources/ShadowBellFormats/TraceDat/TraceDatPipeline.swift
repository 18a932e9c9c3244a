import ShadowBellCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The CPU data of a trace-cmd file decoded on several threads. Each CPU's data (a "stream")
/// is cut into units of whole pages (for compressed data: whole chunks, decompressed by the
/// decoding thread into its own buffer); ring-buffer pages are independent, so units are
/// decoded in parallel and handed out per stream in order. Workers pick the stream whose
/// decoded data reaches least far in time, and never run more than `lookahead` units ahead
/// of the consumer on any stream: memory is bounded by streams × lookahead × unit, whatever
/// the file's size.
final class TraceDatPipeline: @unchecked Sendable {
    /// A stream's reading position (guarded by `fetching`: units are cut in order).
    private struct Cursor {
        var next: UInt64
        var end: UInt64
        /// Compressed data: chunks not read yet (nil until the chunk count is read).
        var chunksLeft: UInt32?
        /// Compressed data: bytes decompressed before `next`.
        var decompressed: UInt64 = 0
        var done = false
    }

    /// A stream's units between the workers and the consumer (guarded by `mutex`).
    private struct Flow {
        var claimed = 0
        var nextSeq = 0
        var deliverSeq = 0
        var ready: [Int: TraceDatUnit] = [:]
        var exhausted = false
        /// Time of the last record of the last unit decoded (which units are needed first).
        var frontier = Int64.min
    }

    /// A unit cut from a stream, ready to decode on the thread that cut it.
    private struct Job {
        var stream: Int
        var seq: Int
        var location: UInt64
        /// Plain data: bytes read into the decoder's `input`. Compressed: chunks in `input`
        /// (offset, compressed size) and their total decompressed size.
        var count: Int
        var chunks: [(at: Int, zsize: Int, usize: Int, file: UInt64)]
        var compressed: Bool
        var error: TraceDatDamage?
    }

    /// Largest decompressed chunk accepted (trace-cmd writes ten pages per chunk).
    static let chunkLimit = 64 << 20

    let layout: TraceDatLayout
    let streams: [TraceDatStream]
    let unitBytes: [Int]
    let lookahead: Int
    private let makeDecoder: () -> TraceDatPageDecoder
    @exclusivity(unchecked) private var cursors: [Cursor]
    @exclusivity(unchecked) private var flows: [Flow]
    @exclusivity(unchecked) private var waitingFor = -1
    @exclusivity(unchecked) private var stopping = false
    @exclusivity(unchecked) private var threads: [pthread_t] = []
    @exclusivity(unchecked) private var inline = true
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let fetching = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let consumerDecoder: TraceDatPageDecoder

    init(layout: TraceDatLayout, makeDecoder: @escaping () -> TraceDatPageDecoder) {
        self.layout = layout
        streams = layout.streams
        self.makeDecoder = makeDecoder
        let n = max(streams.count, 1)
        lookahead = max(2, min(4, 64 / n))
        // Units of at most 1 MiB, smaller with many CPUs (down to one page): about 16 MiB of
        // pages in flight in all.
        let budget = min(1 << 20, (16 << 20) / (n * lookahead))
        unitBytes = streams.map { max(1, budget / $0.pageSize) * $0.pageSize }
        // A compressed CPU's size (trace-cmd 3.1) leaves out the chunk count before its chunks.
        cursors = streams.map {
            Cursor(next: $0.offset, end: $0.compressed ? min(layout.file.size, $0.offset + $0.length + 4) : $0.offset + $0.length)
        }
        flows = Array(repeating: Flow(), count: streams.count)
        consumerDecoder = makeDecoder()
        pthread_mutex_init(mutex, nil)
        pthread_mutex_init(fetching, nil)
        pthread_cond_init(changed, nil)
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        pthread_mutex_destroy(fetching)
        mutex.deallocate()
        fetching.deallocate()
        changed.deallocate()
    }

    /// Starts `count` worker threads; with none, the consumer decodes every unit itself.
    func start(threads count: Int) {
        for _ in 0..<count {
            let decoder = makeDecoder()
            if case .success(let thread) = startThread({ [self] in work(decoder) }) { threads.append(thread) }
        }
        inline = threads.isEmpty
    }

    func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
        for t in threads { pthread_join(t, nil) }
        threads.removeAll()
    }

    private func work(_ decoder: TraceDatPageDecoder) {
        while let job = claim(decoder, for: nil) { decode(job, decoder) }
    }

    /// The next unit of stream `s`, in order; nil once the stream is read to its end.
    /// While it is not ready the caller decodes units of that stream itself.
    func take(_ s: Int) -> TraceDatUnit? {
        pthread_mutex_lock(mutex)
        var mayHelp = true
        while true {
            let seq = flows[s].deliverSeq
            if let unit = flows[s].ready.removeValue(forKey: seq) {
                flows[s].deliverSeq += 1
                flows[s].claimed -= 1
                if waitingFor == s { waitingFor = -1 }
                pthread_cond_broadcast(changed)
                pthread_mutex_unlock(mutex)
                return unit
            }
            if flows[s].exhausted && flows[s].claimed == 0 {
                pthread_mutex_unlock(mutex)
                return nil
            }
            waitingFor = s
            if mayHelp, flows[s].claimed < lookahead, !flows[s].exhausted {
                pthread_mutex_unlock(mutex)
                if let job = claim(consumerDecoder, for: s) {
                    decode(job, consumerDecoder)
                } else {
                    mayHelp = false
                }
                pthread_mutex_lock(mutex)
                continue
            }
            pthread_cond_wait(changed, mutex)
            mayHelp = true
        }
    }

    /// Cuts the next unit: of stream `only` (the consumer, never waiting for another thread
    /// that is cutting), or of the stream needed soonest (a worker, waiting while there is
    /// nothing to cut). nil: nothing to cut (consumer), or stopped / all read (worker).
    private func claim(_ decoder: TraceDatPageDecoder, for only: Int?) -> Job? {
        if only != nil {
            guard pthread_mutex_trylock(fetching) == 0 else { return nil }
        } else {
            pthread_mutex_lock(fetching)
        }
        pthread_mutex_lock(mutex)
        var chosen = -1
        while true {
            if stopping { break }
            if let s = only {
                if flows[s].claimed < lookahead, !flows[s].exhausted { chosen = s }
                break
            }
            if waitingFor >= 0, flows[waitingFor].claimed < lookahead, !flows[waitingFor].exhausted {
                chosen = waitingFor
                break
            }
            var allRead = true
            for s in flows.indices where !flows[s].exhausted {
                allRead = false
                if flows[s].claimed < lookahead, chosen < 0 || flows[s].frontier < flows[chosen].frontier { chosen = s }
            }
            if chosen >= 0 || allRead { break }
            // Every stream is far enough ahead: wait for the consumer (without holding `fetching`).
            pthread_mutex_unlock(fetching)
            pthread_cond_wait(changed, mutex)
            pthread_mutex_unlock(mutex)
            pthread_mutex_lock(fetching)
            pthread_mutex_lock(mutex)
        }
        guard chosen >= 0 else {
            pthread_mutex_unlock(mutex)
            pthread_mutex_unlock(fetching)
            return nil
        }
        let seq = flows[chosen].nextSeq
        flows[chosen].nextSeq += 1
        flows[chosen].claimed += 1
        pthread_mutex_unlock(mutex)

        var job = Job(stream: chosen, seq: seq, location: 0, count: 0, chunks: [], compressed: streams[chosen].compressed)
        do {
            try cut(&job, decoder)
        } catch {
            job.error = error
            cursors[chosen].done = true
        }
        let done = cursors[chosen].done
        pthread_mutex_lock(mutex)
        if done { flows[chosen].exhausted = true }
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
        pthread_mutex_unlock(fetching)
        return job
    }

    /// Reads the next unit of `job.stream` into the decoder's `input` (under `fetching`).
    private func cut(_ job: inout Job, _ decoder: TraceDatPageDecoder) throws(TraceDatDamage) {
        let s = job.stream
        let stream = streams[s]
        let file = layout.file
        var c = cursors[s]
        defer { cursors[s] = c }
        if !stream.compressed {
            let count = Int(min(UInt64(unitBytes[s]), c.end - c.next))
            TraceDatPageDecoder.ensure(&decoder.input, count)
            try file.read(c.next, count, into: decoder.input.baseAddress!, what: "CPU \(stream.cpu)'s data")
            job.location = c.next
            job.count = count
            c.next += UInt64(count)
            c.done = c.next >= c.end
            return
        }
        if c.chunksLeft == nil {
            var count: UInt32 = 0
            try file.read(c.next, 4, into: &count, what: "CPU \(stream.cpu)'s chunk count")
            c.chunksLeft = UInt32(littleEndian: count)
            c.next += 4
        }
        var left = c.chunksLeft ?? 0
        let block = Int(min(c.end - c.next, UInt64(unitBytes[s] + (64 << 10))))
        TraceDatPageDecoder.ensure(&decoder.input, block)
        if block > 0 { try file.read(c.next, block, into: decoder.input.baseAddress!, what: "CPU \(stream.cpu)'s compressed data") }
        var position = 0
        var total = 0
        while left > 0 {
            let at = c.next + UInt64(position)
            guard position + 8 <= block else {
                if job.chunks.isEmpty {
                    throw TraceDatDamage(offset: at, problem: "CPU \(stream.cpu)'s data ends with \(left) compressed chunks missing")
                }
                break
            }
            let p = decoder.input.baseAddress! + position
            let zsize = Int(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
            let usize = Int(UInt32(littleEndian: (p + 4).loadUnaligned(as: UInt32.self)))
            guard usize <= Self.chunkLimit else {
                throw TraceDatDamage(offset: at, problem: "a compressed chunk of \(usize) bytes (at most \(Self.chunkLimit))")
            }
            guard usize % stream.pageSize == 0 || left == 1 else {
                throw TraceDatDamage(offset: at, problem: "a compressed chunk of \(usize) bytes, not whole pages of \(stream.pageSize)")
            }
            guard UInt64(zsize) <= c.end - at - 8 else {
                throw TraceDatDamage(offset: at, problem: "a compressed chunk of \(zsize) bytes runs past CPU \(stream.cpu)'s data")
            }
            if !job.chunks.isEmpty && (position + 8 + zsize > block || total + usize > unitBytes[s]) { break }
            if position + 8 + zsize > block {
                // One chunk larger than a unit: read it whole.
                TraceDatPageDecoder.ensure(&decoder.input, 8 + zsize)
                try file.read(at, 8 + zsize, into: decoder.input.baseAddress!, what: "a compressed chunk")
            }
            job.chunks.append((position + 8, zsize, usize, at))
            position += 8 + zsize
            total += usize
            left -= 1
        }
        job.location = UInt64(s) << 40 | c.decompressed
        job.count = total
        c.chunksLeft = left
        c.next += UInt64(position)
        c.decompressed += UInt64(total)
        c.done = left == 0
    }

    /// Decodes a cut unit and hands it to the consumer's side.
    private func decode(_ job: Job, _ decoder: TraceDatPageDecoder) {
        var unit = TraceDatUnit()
        unit.events.reserveCapacity(job.count / 64)
        let stream = streams[job.stream]
        if let error = job.error {
            unit.error = error
        } else {
            do throws(TraceDatDamage) {
                if job.compressed {
                    TraceDatPageDecoder.ensure(&decoder.output, job.count)
                    var at = 0
                    for chunk in job.chunks {
                        let z = UnsafeRawBufferPointer(start: decoder.input.baseAddress! + chunk.at, count: chunk.zsize)
                        guard decoder.decompress(z, to: at, chunk.usize) else {
                            throw TraceDatDamage(
                                offset: chunk.file,
                                problem: "CPU \(stream.cpu)'s compressed chunk does not decompress to its \(chunk.usize) bytes")
                        }
                        at += chunk.usize
                    }
                    try decoder.decode(
                        UnsafeRawBufferPointer(start: decoder.output.baseAddress, count: job.count), pageSize: stream.pageSize,
                        cpu: stream.cpu, location: job.location, into: &unit)
                } else {
                    try decoder.decode(
                        UnsafeRawBufferPointer(start: decoder.input.baseAddress, count: job.count), pageSize: stream.pageSize,
                        cpu: stream.cpu, location: job.location, into: &unit)
                }
            } catch {
                unit.error = error
            }
        }
        pthread_mutex_lock(mutex)
        if let last = unit.lastRecordTime { flows[job.stream].frontier = max(flows[job.stream].frontier, last) }
        if unit.error != nil { flows[job.stream].exhausted = true }
        flows[job.stream].ready[job.seq] = unit
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }
}
