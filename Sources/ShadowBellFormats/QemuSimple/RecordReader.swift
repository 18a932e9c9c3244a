import ShadowBellCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads an input front to back through a fixed window, so memory stays flat whatever the
/// input's size. Callers ask for `n` bytes at the cursor (`n` bounded by `capacity`, which the
/// caller checks before trusting any length field), read them in the file's byte order, and
/// consume them.
///
/// Records are read in place in the input's chunk (a memory-mapped window or the read buffer)
/// whenever they lie wholly inside it; only a record that straddles two chunks is copied, into
/// the reader's own buffer.
final class RecordReader {
    private let input: ByteInput
    @exclusivity(unchecked) private var buffer: UnsafeMutableRawBufferPointer
    /// The readable window: `base[start..<end]`, in the current chunk or in `buffer`.
    @exclusivity(unchecked) private var base: UnsafeRawPointer
    @exclusivity(unchecked) private var start = 0
    @exclusivity(unchecked) private var end = 0
    @exclusivity(unchecked) private var chunk = UnsafeRawBufferPointer(start: nil, count: 0)
    @exclusivity(unchecked) private var chunkPosition = 0
    @exclusivity(unchecked) private var atEOF = false
    /// Absolute offset of the cursor.
    @exclusivity(unchecked) private(set) var offset: UInt64 = 0
    /// The file's byte order differs from the host's.
    @exclusivity(unchecked) var swapped = false

    let capacity: Int

    init(input: ByteInput, capacity: Int = 1 << 20) {
        self.input = input
        self.capacity = capacity
        self.buffer = .allocate(byteCount: capacity, alignment: 8)
        self.base = UnsafeRawPointer(buffer.baseAddress!)
    }

    deinit { buffer.deallocate() }

    var available: Int { end - start }

    /// Makes `n` bytes (at most `capacity`) available at the cursor; `false` if the input ends
    /// first. Complexity: O(1) inside a chunk, O(n) copying across chunks.
    @inline(__always)
    func require(_ n: Int) throws(InputError) -> Bool {
        if end - start >= n { return true }
        return try refill(n)
    }

    private func refill(_ n: Int) throws(InputError) -> Bool {
        precondition(n <= capacity)
        // Keep what is left of the window at the start of the own buffer: the chunk it may
        // point into is about to be replaced.
        let owned = UnsafeRawPointer(buffer.baseAddress!)
        let count = available
        if count > 0, base != owned || start > 0 { memmove(buffer.baseAddress!, base + start, count) }
        base = owned
        start = 0
        end = count
        while available < n {
            if chunkPosition == chunk.count {
                if atEOF { break }
                guard let next = try input.nextChunk() else {
                    atEOF = true
                    break
                }
                chunk = next
                chunkPosition = 0
                continue
            }
            if end == 0, chunk.count - chunkPosition >= n {
                // Nothing carried over and the chunk holds the request: read it in place.
                base = chunk.baseAddress!
                start = chunkPosition
                end = chunk.count
                chunkPosition = chunk.count
                return true
            }
            let copied = min(chunk.count - chunkPosition, capacity - end)
            memcpy(buffer.baseAddress! + end, chunk.baseAddress! + chunkPosition, copied)
            chunkPosition += copied
            end += copied
        }
        return available >= n
    }

    @inline(__always)
    func u32(at relative: Int) -> UInt32 {
        let raw = base.loadUnaligned(fromByteOffset: start + relative, as: UInt32.self)
        return swapped ? raw.byteSwapped : raw
    }

    @inline(__always)
    func u64(at relative: Int) -> UInt64 {
        let raw = base.loadUnaligned(fromByteOffset: start + relative, as: UInt64.self)
        return swapped ? raw.byteSwapped : raw
    }

    /// Bytes at the cursor (valid until the next `require`).
    @inline(__always)
    func bytes(at relative: Int, count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + start + relative, count: count)
    }

    @inline(__always)
    func consume(_ n: Int) {
        precondition(n <= available)
        start += n
        offset += UInt64(n)
    }
}
