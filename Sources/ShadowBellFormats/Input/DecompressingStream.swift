#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellCore

/// The decompressed bytes of a compressed input. A thread of its own reads the stored bytes
/// (`RawInput`: mapped file or pipe) and decompresses them into a ring of `depth` buffers of
/// `ByteInput.readChunkSize` bytes; the reader takes filled buffers in order and gives each
/// back when it asks for the next. Memory is the ring plus the library's window, whatever the
/// size of the input. Errors (corrupt or truncated data, a failed read) reach the reader after
/// every byte decompressed before them, as an `InputError` naming the file and the byte offset
/// in the compressed file.
final class DecompressingStream {
    /// Decompressed bytes handed out so far.
    @exclusivity(unchecked) private(set) var offset: UInt64 = 0
    private let ring: DecompressionRing
    /// The buffer handed out last (given back at the next call), and the part of it not yet
    /// delivered (`receive`), or not yet handed out at all (`pending`: the first chunk).
    @exclusivity(unchecked) private var held: Int?
    @exclusivity(unchecked) private var chunk = UnsafeRawBufferPointer(start: nil, count: 0)
    @exclusivity(unchecked) private var delivered = 0
    @exclusivity(unchecked) private var pending = false

    /// Starts decompressing and waits for the first buffer. Throws `.empty` when the stream
    /// decompresses to no byte, the located error when it fails before its first byte.
    init(_ raw: RawInput, compression: Compression, depth: Int = 4) throws(InputError) {
        ring = DecompressionRing(depth: max(depth, 2), size: ByteInput.readChunkSize)
        let producer = DecompressionProducer(raw: raw, compression: compression, ring: ring)
        switch startThread({ producer.run() }) {
        case .success(let thread):
            // Nobody waits for it: it stops at its next buffer once the reader is gone
            // (`deinit`), or when the pipe it reads ends.
            pthread_detach(thread)
        case .failure(let error):
            throw .cannotOpen(path: raw.path, reason: "cannot start a decompression thread: \(ByteInput.systemError(error.code))")
        }
        guard try take() else { throw .empty(path: raw.path) }
        pending = true
    }

    deinit {
        if let held { ring.giveBack(held) }
        ring.stop()
    }

    /// The first bytes (at most `limit`; at least what the first buffer holds), not consumed.
    func prefix(_ limit: Int) -> UnsafeRawBufferPointer {
        guard pending else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(rebasing: chunk[0..<min(limit, chunk.count)])
    }

    func nextChunk() throws(InputError) -> UnsafeRawBufferPointer? {
        if pending || delivered < chunk.count {
            pending = false
            let rest = UnsafeRawBufferPointer(rebasing: chunk[delivered...])
            delivered = chunk.count
            offset += UInt64(rest.count)
            return rest
        }
        guard try take() else { return nil }
        delivered = chunk.count
        offset += UInt64(chunk.count)
        return chunk
    }

    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(InputError) -> Int {
        pending = false
        if delivered == chunk.count {
            guard try take() else { return 0 }
        }
        let n = min(buffer.count, chunk.count - delivered)
        buffer.baseAddress!.copyMemory(from: chunk.baseAddress! + delivered, byteCount: n)
        delivered += n
        offset += UInt64(n)
        return n
    }

    /// Gives the held buffer back and takes the next; false at the end of the stream.
    private func take() throws(InputError) -> Bool {
        if let held {
            ring.giveBack(held)
            self.held = nil
        }
        chunk = UnsafeRawBufferPointer(start: nil, count: 0)
        delivered = 0
        guard let (slot, bytes) = try ring.take() else { return false }
        held = slot
        chunk = bytes
        return true
    }
}

/// The decompressing thread's work: read, decompress, fill buffers, publish them in order.
private final class DecompressionProducer: @unchecked Sendable {
    let raw: RawInput
    let compression: Compression
    let ring: DecompressionRing

    init(raw: RawInput, compression: Compression, ring: DecompressionRing) {
        self.raw = raw
        self.compression = compression
        self.ring = ring
    }

    func run() {
        guard var slot = ring.acquire() else { return }
        var filled = 0
        var consumedTotal: UInt64 = 0
        var producedTotal: UInt64 = 0
        do throws(InputError) {
            let decoder: any StreamDecoder
            do {
                decoder = try compression.makeDecoder()
            } catch {
                throw .unsupported(path: raw.path, reason: error.message)
            }
            var input = UnsafeRawBufferPointer(start: nil, count: 0)
            var inputEnded = false
            var idleCalls = 0
            while true {
                if input.isEmpty && !inputEnded {
                    if let next = try raw.nextChunk() {
                        input = next
                    } else {
                        inputEnded = true
                    }
                }
                let output = ring.buffer(slot)
                let step: DecodeStep
                do {
                    step = try decoder.decode(
                        input, into: UnsafeMutableRawBufferPointer(rebasing: output[filled...]), inputEnded: inputEnded)
                } catch {
                    filled += error.produced
                    producedTotal += UInt64(error.produced)
                    throw located(error, at: consumedTotal + UInt64(error.consumed), decompressed: producedTotal)
                }
                input = UnsafeRawBufferPointer(rebasing: input[step.consumed...])
                consumedTotal += UInt64(step.consumed)
                filled += step.produced
                producedTotal += UInt64(step.produced)
                if step.finished { break }
                // A decoder that neither reads nor writes though it could: liblzma needs a
                // second such call to say why; a third is a stream that cannot go on.
                if step.consumed == 0 && step.produced == 0 && (inputEnded || !input.isEmpty) && filled < output.count {
                    idleCalls += 1
                    if idleCalls >= 3 {
                        throw located(
                            CodecFailure(message: "the \(compression) data ends early or cannot be decoded", truncated: true),
                            at: consumedTotal, decompressed: producedTotal)
                    }
                } else {
                    idleCalls = 0
                }
                if filled == output.count {
                    ring.publish(slot, count: filled)
                    filled = 0
                    guard let next = ring.acquire() else { return }
                    slot = next
                }
            }
            if filled > 0 { ring.publish(slot, count: filled) } else { ring.giveBack(slot) }
            ring.finish(error: nil)
        } catch {
            if filled > 0 { ring.publish(slot, count: filled) } else { ring.giveBack(slot) }
            ring.finish(error: error)
        }
    }

    private func located(_ failure: CodecFailure, at offset: UInt64, decompressed: UInt64) -> InputError {
        .readFailed(path: raw.path, offset: offset, reason: "\(failure.message), after \(decompressed) decompressed bytes")
    }
}

/// The buffers between the decompressing thread and the reader, under one mutex.
final class DecompressionRing: @unchecked Sendable {
    private let buffers: [UnsafeMutableRawBufferPointer]
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by `mutex`.
    @exclusivity(unchecked) private var free: [Int]
    @exclusivity(unchecked) private var filled: [(slot: Int, count: Int)] = []
    @exclusivity(unchecked) private var finished = false
    @exclusivity(unchecked) private var error: InputError?
    @exclusivity(unchecked) private var stopping = false

    init(depth: Int, size: Int) {
        buffers = (0..<depth).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16) }
        free = Array(0..<depth)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
    }

    deinit {
        for b in buffers { b.deallocate() }
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        changed.deallocate()
    }

    func buffer(_ slot: Int) -> UnsafeMutableRawBufferPointer { buffers[slot] }

    /// Producer: a free buffer, waiting for one; nil once the reader has stopped.
    func acquire() -> Int? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while free.isEmpty && !stopping { pthread_cond_wait(changed, mutex) }
        return stopping ? nil : free.removeLast()
    }

    /// Producer: `count` bytes of `slot` are ready, after those published before.
    func publish(_ slot: Int, count: Int) {
        pthread_mutex_lock(mutex)
        filled.append((slot, count))
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }

    /// Producer: no buffer follows; `error` (if any) is what the reader gets after the last one.
    func finish(error: InputError?) {
        pthread_mutex_lock(mutex)
        finished = true
        self.error = error
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }

    /// Reader: the next filled buffer, waiting for it; nil at the end; the error after the
    /// last buffer, if the stream failed.
    func take() throws(InputError) -> (Int, UnsafeRawBufferPointer)? {
        pthread_mutex_lock(mutex)
        while filled.isEmpty && !finished { pthread_cond_wait(changed, mutex) }
        if !filled.isEmpty {
            let (slot, count) = filled.removeFirst()
            pthread_mutex_unlock(mutex)
            return (slot, UnsafeRawBufferPointer(rebasing: buffers[slot][0..<count]))
        }
        let error = self.error
        pthread_mutex_unlock(mutex)
        if let error { throw error }
        return nil
    }

    /// A buffer back to the producer.
    func giveBack(_ slot: Int) {
        pthread_mutex_lock(mutex)
        free.append(slot)
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }

    /// Reader gone: the producer stops at its next buffer.
    func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }
}
