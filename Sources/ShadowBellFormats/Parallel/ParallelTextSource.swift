#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellCore

/// A text input decoded on several threads: the bytes are cut into segments at line
/// boundaries, worker threads decode segments in parallel (each from a fresh decoder), and
/// `nextBatch` hands out the segments' events strictly in file order. Line numbers, counts and
/// decoder state are carried from segment to segment as the segments are handed out; a segment
/// whose decoding depended on earlier lines (`SegmentDecoding.continuing(after:)` is nil) is
/// decoded again, in order. The events, their order and the summary are therefore exactly those
/// of the sequential source.
///
/// Memory is bounded by `slots` segments in flight: a memory-mapped file is cut in place and
/// consumed pages are released; a pipe is read, in order, into the slots' buffers.
final class ParallelTextSource<Decoder: SegmentDecoding>: EventSource {
    @exclusivity(unchecked) private(set) var summary: InputSummary
    private let pipeline: SegmentPipeline<Decoder>
    @exclusivity(unchecked) private var state: Decoder
    @exclusivity(unchecked) private var lastEventTime = Int64.min
    @exclusivity(unchecked) private var linesBefore: UInt64 = 0
    /// The input's `DumpMarks` and its last event line, numbered in the input.
    @exclusivity(unchecked) private var dumpMarks = DumpMarks()
    @exclusivity(unchecked) private var lastEventLine: UInt64 = 0
    @exclusivity(unchecked) private var nextSegment = 0
    @exclusivity(unchecked) private var finished = false

    init(input: ByteInput, summary: InputSummary, threads: Int, segmentSize: Int, makeDecoder: @escaping () -> Decoder) {
        self.summary = summary
        state = makeDecoder()
        pipeline = SegmentPipeline(
            input: input, threads: max(threads, 1), segmentSize: max(segmentSize, 1), makeDecoder: makeDecoder)
        // The consumer decodes too whenever its next segment is not ready (`take`): one thread
        // fewer than decoders, so the threads never outnumber the cores they were sized for.
        pipeline.start(threads: max(threads - 1, 1))
    }

    deinit { pipeline.stop() }

    func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        buffer.removeAll(keepingCapacity: true)
        while !finished {
            guard var segment = pipeline.take(nextSegment) else {
                finished = true
                return false
            }
            if let error = segment.error {
                pipeline.give(back: segment)
                finished = true
                throw error
            }
            if let next = segment.decoder.continuing(after: state) {
                state = next
            } else {
                // A line's meaning depended on an earlier segment: decode it again, in order.
                var decoder = state
                segment.result.reset()
                decodeSegment(segment.bytes, decoder: &decoder, into: &segment.result, mapped: segment.mapped)
                state = decoder
            }
            account(&segment.result, mapped: segment.mapped)
            swap(&buffer, &segment.result.events)
            pipeline.give(back: segment)
            nextSegment += 1
            if !buffer.isEmpty { return true }
        }
        return false
    }

    /// Adds a decoded segment to the summary and puts its line numbers in file terms.
    private func account(_ r: inout DecodedSegment, mapped: Bool) {
        let offset = linesBefore
        // The segment's first line begins where the previous segment ended.
        if mapped, summary.bytes >= (summary.lineMarks.last?.offset ?? 0) &+ LineMark.spacing {
            summary.lineMarks.append(LineMark(line: offset &+ 1, offset: summary.bytes))
        }
        if offset != 0 {
            r.events.withUnsafeMutableBufferPointer { events in
                for i in events.indices { events[i].location &+= offset }
            }
        }
        if let first = r.firstEventTime, first < lastEventTime {
            summary.outOfOrder += 1
            summary.steppedBack(from: lastEventTime, to: first, at: r.firstEventLocation &+ offset)
        }
        if let step = r.largestStepBack { summary.steppedBack(from: step.from, to: step.to, at: step.at &+ offset) }
        if r.firstEventTime != nil { lastEventTime = r.lastEventTime }
        for start in r.processStarts {
            summary.noteProcessStart(at: start.line &+ offset, eventsBefore: summary.events &+ start.eventsBefore)
        }
        summary.records += r.lines
        summary.events += r.eventCount
        summary.skipped += r.skipped
        if let first = r.firstForeignLine { summary.noteForeign(r.foreignLinesSeen, first: first &+ offset, format: Decoder.foreignFormat) }
        if let first = r.firstGuestTimeoutPassedOver { summary.noteGuestTimeoutPassedOver(r.guestTimeoutsPassedOver, first: first &+ offset) }
        summary.dataLossMarkers += r.dataLossMarkers
        summary.addLostEvents(r.lostEvents)
        summary.outOfOrder += r.outOfOrder
        for m in r.firstMalformed where summary.firstMalformed.count < InputSummary.firstMalformedLimit {
            summary.noteMalformed(at: m.line + offset, m.reason)
            r.malformed -= 1
        }
        summary.malformed += r.malformed
        summary.bytes = r.endOffset
        summary.clock = state.clockKind ?? .timestamps
        if let line = r.unterminatedLine { summary.unterminatedLastLine = line + offset }
        if r.nulPadding > 0 { summary.nulPadding = r.nulPadding }
        summary.recordedUntil(atLeast: r.latestLineTime)
        summary.cpus |= state.cpusSeen
        if let start = r.dumpMarks.start, dumpMarks.start == nil { dumpMarks.start = start &+ offset }
        if r.dumpMarks.lastDelimiter > 0 { dumpMarks.lastDelimiter = r.dumpMarks.lastDelimiter &+ offset }
        if let last = r.events.last(where: { $0.kind != .dataLoss }) { lastEventLine = last.location }
        summary.endsInsideDump = dumpMarks.unclosed(lastEventLine: lastEventLine)
        linesBefore += r.lines
    }
}

/// What one segment decoded to, with line numbers counted from the segment's first line.
struct DecodedSegment {
    var events: [Event] = []
    var lines: UInt64 = 0
    var eventCount: UInt64 = 0
    var skipped: UInt64 = 0
    var malformed: UInt64 = 0
    var firstMalformed: [(line: UInt64, reason: String)] = []
    var dataLossMarkers: UInt64 = 0
    var lostEvents: UInt64 = 0
    /// Backward steps between events of the segment.
    var outOfOrder: UInt64 = 0
    var firstEventTime: Int64?
    /// The first event's line, counted from the segment's first line.
    var firstEventLocation: UInt64 = 0
    /// The segment's largest step back between its own events (lines counted from its first).
    var largestStepBack: InputSummary.StepBack?
    var lastEventTime = Int64.min
    /// The latest time of any line of the segment (`LineDecoding.latestLineTime`).
    var latestLineTime = Int64.min
    /// Input bytes up to the end of this segment.
    var endOffset: UInt64 = 0
    /// The segment's last line, when no newline ends it (only an input's last segment).
    var unterminatedLine: UInt64?
    /// The length of the NUL bytes after the segment's last newline that end the input.
    var nulPadding: UInt64 = 0
    /// The lines where a new process of the recorder begins, with the events of the segment
    /// before each (`InputSummary.processStarts`).
    var processStarts: [InputSummary.ProcessStart] = []
    /// `InputSummary.foreignLinesSeen` and the first of them (counted from the segment's first line).
    var foreignLinesSeen: UInt64 = 0
    var firstForeignLine: UInt64?
    /// `InputSummary.guestTimeoutsPassedOver` and the first of them.
    var guestTimeoutsPassedOver: UInt64 = 0
    var firstGuestTimeoutPassedOver: UInt64?
    /// The decoder's `DumpMarks` of the segment (lines counted from its first).
    var dumpMarks = DumpMarks()

    mutating func reset() {
        foreignLinesSeen = 0
        firstForeignLine = nil
        guestTimeoutsPassedOver = 0
        firstGuestTimeoutPassedOver = nil
        events.removeAll(keepingCapacity: true)
        lines = 0
        eventCount = 0
        skipped = 0
        malformed = 0
        firstMalformed.removeAll()
        dataLossMarkers = 0
        lostEvents = 0
        outOfOrder = 0
        unterminatedLine = nil
        nulPadding = 0
        processStarts.removeAll()
        firstEventTime = nil
        largestStepBack = nil
        lastEventTime = Int64.min
        latestLineTime = Int64.min
    }
}

/// What a streamed segment holds in place of a line longer than `LineFramer.defaultMaxLineLength`
/// (whose bytes are dropped as they are read): decoded as that line's malformed diagnostic.
let overlongPlaceholder: [UInt8] = Array("\u{0}shadowbell: overlong line\u{0}".utf8)

/// Decodes every line of `bytes` (a whole number of lines; the last may lack its newline) with
/// the same bookkeeping as `fillBatch`.
/// `mapped`: the bytes are a file's mapping, whose pages an overlong line gives back as it is
/// scanned.
func decodeSegment<D: LineDecoding>(
    _ bytes: UnsafeRawBufferPointer, decoder: inout D, into r: inout DecodedSegment, mapped: Bool = false
) {
    guard var p = bytes.baseAddress, bytes.count > 0 else { return }
    let end = p + bytes.count
    var number: UInt64 = 0
    var lastEventTime = Int64.min
    decoder.dumpMarks = DumpMarks()
    defer { r.dumpMarks = decoder.dumpMarks }
    while p < end {
        let hit = findNewline(p, end, releasingLongLines: mapped)
        let lineEnd = hit ?? end
        var length = lineEnd - p
        while length > 0, p.load(fromByteOffset: length - 1, as: UInt8.self) == 0x0D { length -= 1 }
        number += 1
        if length > LineFramer.defaultMaxLineLength || (length == overlongPlaceholder.count && memcmp(p, overlongPlaceholder, length) == 0) {
            r.malformed += 1
            if r.firstMalformed.count < InputSummary.firstMalformedLimit {
                r.firstMalformed.append((number, LineFramer.overlongReason))
            }
            p = hit == nil ? end : lineEnd + 1
            continue
        }
        switch decoder.parse(UnsafeRawBufferPointer(start: p, count: length), number: number) {
        case .event(let event):
            if r.firstEventTime == nil {
                r.firstEventTime = event.time
                r.firstEventLocation = event.location
            } else if event.time < lastEventTime {
                r.outOfOrder += 1
                InputSummary.StepBack.keepLargest(&r.largestStepBack, from: lastEventTime, to: event.time, at: event.location)
            }
            lastEventTime = event.time
            r.eventCount += 1
            r.events.append(event)
        case .dataLoss(let event):
            r.dataLossMarkers += 1
            r.lostEvents = r.lostEvents.saturatingAdding(event.lostEvents)
            r.events.append(event)
        case .skipped:
            r.skipped += 1
            if r.skipped % InputSummary.foreignSampleStep == 0, D.isForeignEvent(UnsafeRawBufferPointer(start: p, count: length)) {
                r.foreignLinesSeen += 1
                if r.firstForeignLine == nil { r.firstForeignLine = number }
            }
        case .guestTimeoutPassedOver:
            r.skipped += 1
            r.guestTimeoutsPassedOver += 1
            if r.firstGuestTimeoutPassedOver == nil { r.firstGuestTimeoutPassedOver = number }
        case .processStart:
            r.skipped += 1
            if r.processStarts.count < InputSummary.processStartLimit {
                r.processStarts.append(InputSummary.ProcessStart(line: number, eventsBefore: r.eventCount))
            }
        case .malformed(let failure):
            r.malformed += 1
            if r.firstMalformed.count < InputSummary.firstMalformedLimit {
                r.firstMalformed.append((number, failure.description))
            }
        }
        if hit == nil {
            let rest = UnsafeRawBufferPointer(start: p, count: lineEnd - p)
            if isNULPadding(rest) { r.nulPadding = UInt64(rest.count) } else { r.unterminatedLine = number }
        }
        p = hit == nil ? end : lineEnd + 1
    }
    r.lines = number
    r.lastEventTime = lastEventTime
    r.latestLineTime = decoder.latestLineTime
}

/// The first `\n` in `[p, end)`. With `releasingLongLines` (`p` lies in a file's read-only
/// mapping), a line longer than `LineFramer.defaultMaxLineLength` is scanned window by window
/// and the windows' pages are given back, so it is never resident whole.
func findNewline(_ p: UnsafeRawPointer, _ end: UnsafeRawPointer, releasingLongLines: Bool) -> UnsafeRawPointer? {
    guard releasingLongLines else { return memchr(p, 0x0A, end - p).map { UnsafeRawPointer($0) } }
    let window = LineFramer.defaultMaxLineLength
    var from = p
    while from < end {
        let n = min(window, end - from)
        if let hit = memchr(from, 0x0A, n) { return UnsafeRawPointer(hit) }
        if from - p >= window {
            let page = Int(getpagesize())
            let first = (Int(bitPattern: from) + page - 1) & ~(page - 1)
            let last = (Int(bitPattern: from) + n) & ~(page - 1)
            if last > first { _ = madvise(UnsafeMutableRawPointer(bitPattern: first), last - first, Int32(MADV_DONTNEED)) }
        }
        from += n
    }
    return nil
}

/// One segment in flight: its bytes, and once decoded, its result and final decoder state.
struct Segment<Decoder> {
    var index = -1
    var bytes = UnsafeRawBufferPointer(start: nil, count: 0)
    /// `bytes` lie in the input's mapping (not in a buffer of ours).
    var mapped = false
    var result = DecodedSegment()
    var decoder: Decoder
    var error: InputError?
}

/// The worker threads and the bounded ring of segments they fill.
final class SegmentPipeline<Decoder: SegmentDecoding>: @unchecked Sendable {
    private enum SlotState { case free, decoding, ready }

    private let input: ByteInput
    private let segmentSize: Int
    private let makeDecoder: () -> Decoder
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// Held while cutting the next segment (reading a pipe may block): segments are cut in
    /// order, while `mutex` stays free for the consumer and the other workers.
    private let fetching = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    @exclusivity(unchecked) private var threads: [pthread_t] = []
    /// `slots.count`, for use outside `mutex`: reading the array itself there raced with the
    /// workers' stores into it (thread sanitizer).
    private let slotCount: Int

    // Guarded by `mutex`.
    @exclusivity(unchecked) private var slots: [Segment<Decoder>]
    @exclusivity(unchecked) private var slotStates: [SlotState]
    @exclusivity(unchecked) private var nextFetch = 0
    @exclusivity(unchecked) private var segmentCount: Int?
    @exclusivity(unchecked) private var stopping = false

    // Fetch state, used only under `fetching` (segments are cut in order).
    @exclusivity(unchecked) private var nextStart = 0
    @exclusivity(unchecked) private var streamBuffers: [UnsafeMutableRawBufferPointer]
    @exclusivity(unchecked) private var carry: UnsafeMutableRawBufferPointer
    @exclusivity(unchecked) private var carryCount = 0
    @exclusivity(unchecked) private var streamEnded = false
    @exclusivity(unchecked) private var fetchedBytes: UInt64 = 0

    init(input: ByteInput, threads: Int, segmentSize: Int, makeDecoder: @escaping () -> Decoder) {
        self.input = input
        self.segmentSize = segmentSize
        self.makeDecoder = makeDecoder
        slotCount = threads * 2
        slots = (0..<slotCount).map { _ in Segment(decoder: makeDecoder()) }
        slotStates = Array(repeating: .free, count: slotCount)
        let mapped = input.mappedBytes != nil
        streamBuffers = (0..<(mapped ? 0 : slotCount)).map { _ in
            UnsafeMutableRawBufferPointer.allocate(byteCount: segmentSize + ByteInput.readChunkSize, alignment: 16)
        }
        carry = UnsafeMutableRawBufferPointer.allocate(byteCount: mapped ? 0 : segmentSize, alignment: 16)
        pthread_mutex_init(mutex, nil)
        pthread_mutex_init(fetching, nil)
        pthread_cond_init(changed, nil)
    }

    /// Starts `count` worker threads; with none, `take` decodes on the caller's thread.
    func start(threads count: Int) {
        for _ in 0..<count {
            if case .success(let thread) = startThread({ [self] in work() }) { threads.append(thread) }
        }
        // The workers read `inline` under `mutex`.
        pthread_mutex_lock(mutex)
        inline = threads.isEmpty
        pthread_mutex_unlock(mutex)
    }

    @exclusivity(unchecked) private var inline = false

    deinit {
        for b in streamBuffers { b.deallocate() }
        carry.deallocate()
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        pthread_mutex_destroy(fetching)
        mutex.deallocate()
        fetching.deallocate()
        changed.deallocate()
    }

    /// Stops the workers (at the end of the input, or when the source is dropped early).
    func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
        for t in threads { pthread_join(t, nil) }
        threads.removeAll()
    }

    /// Segment `index`, once decoded; nil after the last segment. Give it back with `give(back:)`.
    /// While segment `index` is not ready, the caller decodes the next segment to be cut (when a
    /// slot is free and no worker is cutting one) instead of sleeping.
    func take(_ index: Int) -> Segment<Decoder>? {
        if inline { decodeNext() }
        let s = index % slotCount
        var mayHelp = true
        pthread_mutex_lock(mutex)
        while true {
            if slotStates[s] == .ready, slots[s].index == index {
                var segment = Segment(decoder: slots[s].decoder)
                swap(&segment, &slots[s])
                slotStates[s] = .decoding  // held by the consumer
                pthread_mutex_unlock(mutex)
                return segment
            }
            if let count = segmentCount, index >= count {
                pthread_mutex_unlock(mutex)
                return nil
            }
            if mayHelp, !inline, !stopping, segmentCount == nil, slotStates[nextFetch % slotCount] == .free {
                pthread_mutex_unlock(mutex)
                let decoded = decodeNext(helping: true)
                pthread_mutex_lock(mutex)
                // Conditions are checked again before any wait; after a failed attempt (a
                // worker was cutting) the next try waits for the next change.
                mayHelp = decoded
                continue
            }
            pthread_cond_wait(changed, mutex)
            mayHelp = true
        }
    }

    /// Returns a consumed segment's slot (and its buffers, for reuse) to the workers.
    func give(back segment: Segment<Decoder>) {
        let s = segment.index % slotCount
        let end = Int(segment.result.endOffset)
        pthread_mutex_lock(mutex)
        slots[s] = segment
        slotStates[s] = .free
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
        input.release(upTo: end)
    }

    private func work() {
        while decodeNext() {}
    }

    /// Fetches and decodes the next segment; false when there is none (or on stop). `helping`
    /// (the consumer, between two segments of its own): only if no worker is cutting a segment
    /// and a slot is free, never waiting; false when it did nothing.
    @discardableResult
    private func decodeNext(helping: Bool = false) -> Bool {
        if helping {
            guard pthread_mutex_trylock(fetching) == 0 else { return false }
        } else {
            pthread_mutex_lock(fetching)
        }
        pthread_mutex_lock(mutex)
        var s = 0
        while true {
            if stopping || segmentCount != nil {
                pthread_mutex_unlock(mutex)
                pthread_mutex_unlock(fetching)
                return false
            }
            s = nextFetch % slotCount
            if slotStates[s] == .free { break }
            if helping {
                pthread_mutex_unlock(mutex)
                pthread_mutex_unlock(fetching)
                return false
            }
            if inline {
                pthread_mutex_unlock(mutex)
                pthread_mutex_unlock(fetching)
                return true
            }
            pthread_cond_wait(changed, mutex)
        }
        var segment = Segment(decoder: slots[s].decoder)
        swap(&segment, &slots[s])
        slotStates[s] = .decoding
        let index = nextFetch
        pthread_mutex_unlock(mutex)

        // Cut (or read) the segment outside `mutex`; `fetching` keeps the cuts in order.
        segment.index = index
        segment.error = nil
        segment.mapped = input.mappedBytes != nil
        segment.result.reset()
        var ended = false
        do {
            if let bytes = try fetch(slot: s) {
                segment.bytes = bytes
            } else {
                ended = true
            }
        } catch {
            segment.error = error
            segment.bytes = UnsafeRawBufferPointer(start: nil, count: 0)
        }
        segment.result.endOffset = fetchedBytes

        pthread_mutex_lock(mutex)
        if ended {
            segmentCount = index
            slots[s] = segment
            slotStates[s] = .free
        } else {
            if segment.error != nil { segmentCount = index + 1 }
            nextFetch = index + 1
        }
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
        pthread_mutex_unlock(fetching)
        if ended { return false }

        if segment.error == nil {
            var decoder = makeDecoder()
            decodeSegment(segment.bytes, decoder: &decoder, into: &segment.result, mapped: segment.mapped)
            segment.decoder = decoder
        }

        pthread_mutex_lock(mutex)
        slots[s] = segment
        slotStates[s] = .ready
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
        return true
    }

    /// The bytes of the next segment: whole lines, about `segmentSize` of them. Called under
    /// `fetching`, so segments are cut in order.
    private func fetch(slot: Int) throws(InputError) -> UnsafeRawBufferPointer? {
        if let mapping = input.mappedBytes {
            guard nextStart < mapping.count, let base = mapping.baseAddress else { return nil }
            let start = nextStart
            var end = start + segmentSize
            if end >= mapping.count {
                end = mapping.count
            } else if let hit = findNewline(base + end - 1, base + mapping.count, releasingLongLines: true) {
                end = hit - UnsafeRawPointer(base) + 1
            } else {
                end = mapping.count
            }
            nextStart = end
            fetchedBytes = UInt64(end)
            return UnsafeRawBufferPointer(rebasing: mapping[start..<end])
        }
        // The slot's buffer is passed `inout` (a local captured by a closure or a `defer` would
        // be checked for exclusive access at run time on every use).
        var buffer = streamBuffers[slot]
        let read: Result<UnsafeRawBufferPointer?, InputError>
        do throws(InputError) {
            read = .success(try readSegment(into: &buffer))
        } catch {
            read = .failure(error)
        }
        streamBuffers[slot] = buffer
        return try read.get()
    }

    /// `fetch` from a stream: the carried-over start of a line, then reads up to a line end
    /// past `segmentSize`, into `buffer` (grown when a line needs it).
    private func readSegment(into buffer: inout UnsafeMutableRawBufferPointer) throws(InputError) -> UnsafeRawBufferPointer? {
        var count = carryCount
        if count > buffer.count {
            let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: max(buffer.count * 2, count), alignment: 16)
            buffer.deallocate()
            buffer = grown
        }
        if count > 0 { buffer.baseAddress!.copyMemory(from: carry.baseAddress!, byteCount: count) }
        carryCount = 0
        var searchedUpTo = 0
        var cut: Int?
        // Reading past the rest of an overlong line, which is dropped, not held.
        var discarding = false
        while !streamEnded {
            if count >= segmentSize {
                // Cut after the last newline; a line longer than the buffer keeps it growing.
                var i = count
                while i > searchedUpTo, buffer[i - 1] != 0x0A { i -= 1 }
                if i > searchedUpTo {
                    cut = i
                    break
                }
                searchedUpTo = count
                if count > LineFramer.defaultMaxLineLength {
                    // No newline in the whole buffer: one line longer than any a trace holds.
                    // A placeholder stands for it (it keeps the line numbers), the rest of it
                    // is read and dropped.
                    overlongPlaceholder.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                    count = overlongPlaceholder.count
                    searchedUpTo = count
                    discarding = true
                }
            }
            // Read the pipe straight into the segment's buffer (one copy, the kernel's).
            if buffer.count - count < ByteInput.readChunkSize {
                let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 16)
                grown.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: count)
                buffer.deallocate()
                buffer = grown
            }
            let n = try input.receive(into: UnsafeMutableRawBufferPointer(rebasing: buffer[count...]))
            if n == 0 {
                streamEnded = true
                break
            }
            if discarding {
                guard let hit = memchr(buffer.baseAddress! + count, 0x0A, n) else { continue }
                let newline = UnsafeRawPointer(hit) - UnsafeRawPointer(buffer.baseAddress!)
                let kept = count + n - newline
                memmove(buffer.baseAddress! + count, buffer.baseAddress! + newline, kept)
                count += kept
                discarding = false
                continue
            }
            count += n
        }
        if let cut, cut < count {
            let tail = count - cut
            if tail > carry.count {
                carry.deallocate()
                carry = UnsafeMutableRawBufferPointer.allocate(byteCount: tail, alignment: 16)
            }
            carry.baseAddress!.copyMemory(from: buffer.baseAddress! + cut, byteCount: tail)
            carryCount = tail
            count = cut
        }
        guard count > 0 else { return nil }
        fetchedBytes += UInt64(count)
        return UnsafeRawBufferPointer(start: buffer.baseAddress, count: count)
    }
}
