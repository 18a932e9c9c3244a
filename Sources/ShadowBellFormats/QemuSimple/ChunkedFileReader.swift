import ShadowBellCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads a file front to back through a fixed window, so memory stays flat whatever the file's
/// size. Callers ask for `n` bytes at the cursor (`n` bounded by `capacity`, which the caller
/// checks before trusting any length field), read them with explicit byte order, and consume.
final class ChunkedFileReader {
    private let fd: Int32
    private let path: String
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var atEOF = false
    /// Absolute offset of the cursor.
    private(set) var offset: UInt64 = 0
    var swapped = false

    let capacity: Int

    init(path: String, capacity: Int = 1 << 20) throws(InputError) {
        let fd = path == "-" ? dup(0) : open(path, O_RDONLY)
        guard fd >= 0 else {
            throw InputError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        self.fd = fd
        self.path = path
        self.capacity = capacity
        self.buffer = .allocate(byteCount: capacity, alignment: 8)
    }

    deinit {
        buffer.deallocate()
        close(fd)
    }

    var available: Int { end - start }

    /// Makes `n` bytes (at most `capacity`) available at the cursor; `false` if the file ends first.
    func require(_ n: Int) throws(InputError) -> Bool {
        precondition(n <= capacity)
        if available >= n { return true }
        if start > 0 {
            let count = available
            if count > 0 { memmove(buffer.baseAddress!, buffer.baseAddress! + start, count) }
            start = 0
            end = count
        }
        while available < n && !atEOF {
            let got = read(fd, buffer.baseAddress! + end, capacity - end)
            if got < 0 {
                if errno == EINTR { continue }
                throw InputError.readFailed(path: path, offset: offset + UInt64(available),
                                            reason: String(cString: strerror(errno)))
            }
            if got == 0 { atEOF = true }
            end += got
        }
        return available >= n
    }

    /// True when nothing is left at the cursor and the file has ended.
    func isAtEnd() throws(InputError) -> Bool { try !require(1) }

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
