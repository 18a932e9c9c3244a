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
final class RecordReader {
    private let input: ByteInput
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var chunk = UnsafeRawBufferPointer(start: nil, count: 0)
    private var chunkPosition = 0
    private var atEOF = false
    /// Absolute offset of the cursor.
    private(set) var offset: UInt64 = 0
    /// The file's byte order differs from the host's.
    var swapped = false

    let capacity: Int

    init(input: ByteInput, capacity: Int = 1 << 20) {
        self.input = input
        self.capacity = capacity
        self.buffer = .allocate(byteCount: capacity, alignment: 8)
    }

    deinit { buffer.deallocate() }

    var available: Int { end - start }

    /// Makes `n` bytes (at most `capacity`) available at the cursor; `false` if the input ends
    /// first. Complexity: O(n) copying.
    func require(_ n: Int) throws(InputError) -> Bool {
        precondition(n <= capacity)
        if available >= n { return true }
        if start > 0 {
            let count = available
            if count > 0 { memmove(buffer.baseAddress!, buffer.baseAddress! + start, count) }
            start = 0
            end = count
        }
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
            let count = min(chunk.count - chunkPosition, capacity - end)
            memcpy(buffer.baseAddress! + end, chunk.baseAddress! + chunkPosition, count)
            chunkPosition += count
            end += count
        }
        return available >= n
    }

    func u32(at relative: Int) -> UInt32 {
        let raw = buffer.loadUnaligned(fromByteOffset: start + relative, as: UInt32.self)
        return swapped ? raw.byteSwapped : raw
    }

    func u64(at relative: Int) -> UInt64 {
        let raw = buffer.loadUnaligned(fromByteOffset: start + relative, as: UInt64.self)
        return swapped ? raw.byteSwapped : raw
    }

    /// Bytes at the cursor (valid until the next `require`).
    func bytes(at relative: Int, count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: buffer[(start + relative)..<(start + relative + count)])
    }

    func consume(_ n: Int) {
        precondition(n <= available)
        start += n
        offset += UInt64(n)
    }
}
