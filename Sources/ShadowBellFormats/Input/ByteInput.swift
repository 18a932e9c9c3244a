#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellCore

/// The bytes of one input, delivered in chunks. A regular file is memory-mapped and handed out
/// in windows of the mapping (no copy; consumed windows are released); a pipe, terminal or
/// standard input (`-`) is read into one reused buffer. An input that starts with the magic of
/// gzip, zstd or xz is decompressed on a thread of its own into a few bounded buffers
/// (`DecompressingStream`), and its chunks are the decompressed bytes: every reader sees the
/// content, never the compression. Memory stays flat whatever the size.
///
/// A chunk returned by `nextChunk()` stays valid until the next call.
public final class ByteInput {
    /// The path as given (`-` for standard input), or the name given to show instead.
    public var path: String { raw.path }
    /// The file that was opened (differs from `path` for a spooled copy).
    public let file: String
    /// The compression the input was stored with, if any (its chunks are decompressed).
    public let compression: Compression?
    /// Whether the input is memory-mapped (a regular, uncompressed file of known size).
    public var isMapped: Bool { mappedBytes != nil }

    /// Whether a reader that decodes this input on its own thread may be read beside another
    /// (`EventSource.readsOnOneThread`). A compressed input has a decompression thread too:
    /// two of them side by side keep four threads busy on two cores, which pays from about
    /// 8 MiB of stored bytes on (a 146 + 76 MB pair of zstd files: 15 % faster; 4.7 + 2.5 MB:
    /// the same; 1.0 + 1.7 MB: 7 % slower), so smaller ones are read one after another.
    public var readsSideBySide: Bool {
        compression == nil || (raw.mappedBytes?.count ?? 0) >= ByteInput.sideBySideCompressedBytes
    }
    static let sideBySideCompressedBytes = 8 << 20
    /// The whole mapping of a memory-mapped input (nil for pipes, standard input and
    /// compressed files). A reader that takes it instead of `nextChunk()` releases consumed
    /// pages itself (`release(upTo:)`).
    var mappedBytes: UnsafeRawBufferPointer? { stream == nil ? raw.mappedBytes : nil }
    /// Bytes (decompressed bytes, for a compressed input) delivered so far.
    public var offset: UInt64 { stream?.offset ?? raw.offset }

    public static let readChunkSize = 1 << 20
    public static let mappedWindowSize = 16 << 20
    /// How far a reader that jumps through a mapping moves on before it lets the pages behind
    /// it go (`release(upTo:)`).
    static let releaseStep = 4 << 20

    /// The stored bytes (read by the decompressing thread when `stream` is set).
    private let raw: RawInput
    private let stream: DecompressingStream?

    /// Opens `path` (`-` = standard input). Throws `.cannotOpen` (with the system's reason),
    /// `.isDirectory`, `.empty` when the input holds no byte at all (compressed or not), or
    /// `.readFailed` when a compressed input is corrupt from its start.
    public convenience init(path: String) throws(InputError) {
        try self.init(path: path, mappedWindowSize: ByteInput.mappedWindowSize)
    }

    /// Opens `file`, naming it `displayPath` in every diagnostic and summary (a spooled copy of
    /// standard input or of a pipe is shown as what the user gave). With `decompress: false`,
    /// compressed bytes are delivered as stored.
    public convenience init(path file: String, displayPath: String?, decompress: Bool = true) throws(InputError) {
        try self.init(
            path: file, displayPath: displayPath, mappedWindowSize: ByteInput.mappedWindowSize, decompress: decompress)
    }

    /// `mappedWindowSize`: bytes of a mapped file handed out per chunk.
    init(path file: String, displayPath: String? = nil, mappedWindowSize: Int, decompress: Bool = true)
        throws(InputError)
    {
        self.file = file
        let raw = try RawInput(file: file, path: displayPath ?? file, mappedWindowSize: mappedWindowSize)
        self.raw = raw
        if decompress, let compression = Compression(magic: raw.prefix(Compression.magicLength)) {
            self.compression = compression
            stream = try DecompressingStream(raw, compression: compression)
        } else {
            compression = nil
            stream = nil
        }
    }

    /// The first bytes of the input (at most `limit`, at least what the first chunk holds),
    /// without consuming them. Valid until the first `nextChunk()`.
    public func prefix(_ limit: Int) -> UnsafeRawBufferPointer {
        if let stream { return stream.prefix(limit) }
        return raw.prefix(limit)
    }

    /// The next chunk, or nil at the end of the input.
    public func nextChunk() throws(InputError) -> UnsafeRawBufferPointer? {
        if let stream { return try stream.nextChunk() }
        return try raw.nextChunk()
    }

    /// Reads a non-mapped input straight into `buffer` (a compressed one: copies decompressed
    /// bytes into it). Returns the byte count; 0 at the end.
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(InputError) -> Int {
        if let stream { return try stream.receive(into: buffer) }
        return try raw.receive(into: buffer)
    }

    /// Lets the kernel drop the mapped pages wholly before `end` (see `RawInput.release`).
    func release(upTo end: Int) {
        if stream == nil { raw.release(upTo: end) }
    }

    /// Lets the pages before `offset` go once it lies `step` or more past those let go before
    /// (see `RawInput.release(behind:step:)`).
    func release(behind offset: Int, step: Int) {
        if stream == nil { raw.release(behind: offset, step: step) }
    }

    /// `strerror` text for a C error number (the one place that turns errno into text).
    static func systemError(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }
}

/// The bytes of one file as stored: a regular file is memory-mapped and handed out in windows
/// of the mapping (no copy; consumed windows are released), a pipe, terminal or standard input
/// (`-`) is read into one reused buffer. Memory stays flat whatever the size.
final class RawInput {
    /// The path shown in diagnostics.
    let path: String
    var mappedBytes: UnsafeRawBufferPointer? { mapping }
    /// Bytes delivered so far.
    @exclusivity(unchecked) private(set) var offset: UInt64 = 0

    private let windowSize: Int

    private let fd: Int32
    private let ownsDescriptor: Bool
    @exclusivity(unchecked) private var mapping: UnsafeRawBufferPointer?
    @exclusivity(unchecked) private var releasedUpTo = 0
    @exclusivity(unchecked) private var readBuffer: UnsafeMutableRawBufferPointer?
    /// Bytes read but not yet handed out: `readBuffer[pendingStart..<pendingStart + pendingCount]`.
    @exclusivity(unchecked) private var pendingStart = 0
    @exclusivity(unchecked) private var pendingCount = 0
    @exclusivity(unchecked) private var atEOF = false

    /// Opens `file` (`-` = standard input), named `path` in diagnostics. Throws `.cannotOpen`
    /// (with the system's reason), `.isDirectory`, or `.empty` when it holds no byte at all.
    /// `mappedWindowSize`: bytes of a mapped file handed out per chunk.
    init(file: String, path: String, mappedWindowSize: Int) throws(InputError) {
        self.path = path
        windowSize = max(mappedWindowSize, 1)
        if file == "-" {
            fd = 0
            ownsDescriptor = false
        } else {
            let opened = open(file, O_RDONLY | O_CLOEXEC)
            guard opened >= 0 else {
                throw .cannotOpen(path: path, reason: ByteInput.systemError(errno))
            }
            fd = opened
            ownsDescriptor = true
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = ByteInput.systemError(errno)
            if ownsDescriptor { close(fd) }
            throw .cannotOpen(path: path, reason: reason)
        }
        let fileType = info.st_mode & S_IFMT
        if fileType == S_IFDIR {
            if ownsDescriptor { close(fd) }
            throw .isDirectory(path: path)
        }
        // Files of size 0 may still have content (procfs, tracefs): those are read, not mapped.
        if fileType == S_IFREG, info.st_size > 0 {
            let size = Int(info.st_size)
            if let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED {
                _ = madvise(base, size, Int32(MADV_SEQUENTIAL))
                mapping = UnsafeRawBufferPointer(start: base, count: size)
                return
            }
        }
        #if os(Linux)
            // A pipe moves 64 KiB per wake-up by default; a larger buffer halves the cost of
            // `zstd -dc big.zst | shadowbell analyze -` (best effort: the limit may be lower).
            if fileType == S_IFIFO { _ = fcntl(fd, 1031 /* F_SETPIPE_SZ */, Int32(ByteInput.readChunkSize)) }
        #endif
        let buffer = UnsafeMutableRawBufferPointer.allocate(
            byteCount: ByteInput.readChunkSize, alignment: 16)
        readBuffer = buffer
        do {
            pendingCount = try fill(buffer)
        } catch {
            buffer.deallocate()
            readBuffer = nil
            if ownsDescriptor { close(fd) }
            throw error
        }
        if pendingCount == 0 {
            buffer.deallocate()
            readBuffer = nil
            if ownsDescriptor { close(fd) }
            throw .empty(path: path)
        }
    }

    deinit {
        if let mapping { munmap(UnsafeMutableRawPointer(mutating: mapping.baseAddress), mapping.count) }
        readBuffer?.deallocate()
        if ownsDescriptor { close(fd) }
    }

    /// The first bytes of the input (at most `limit`, at least what the first chunk holds),
    /// without consuming them. Valid until the first `nextChunk()`.
    func prefix(_ limit: Int) -> UnsafeRawBufferPointer {
        if let mapping {
            return UnsafeRawBufferPointer(rebasing: mapping[0..<min(limit, mapping.count)])
        }
        guard let readBuffer else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(rebasing: readBuffer[pendingStart..<pendingStart + min(limit, pendingCount)])
    }

    /// The next chunk, or nil at the end of the input.
    func nextChunk() throws(InputError) -> UnsafeRawBufferPointer? {
        if let mapping {
            let start = Int(offset)
            // The previous window is no longer referenced: let the kernel drop its pages.
            release(behind: start, step: ByteInput.mappedWindowSize)
            guard start < mapping.count else { return nil }
            let end = min(start + windowSize, mapping.count)
            offset = UInt64(end)
            return UnsafeRawBufferPointer(rebasing: mapping[start..<end])
        }
        guard let readBuffer else { return nil }
        if pendingCount == 0 {
            if atEOF { return nil }
            pendingStart = 0
            pendingCount = try fill(readBuffer)
            if pendingCount == 0 { return nil }
        }
        let chunk = UnsafeRawBufferPointer(rebasing: readBuffer[pendingStart..<pendingStart + pendingCount])
        offset += UInt64(pendingCount)
        pendingCount = 0
        return chunk
    }

    /// Reads a non-mapped input straight into `buffer`, without the copy through the chunk
    /// buffer: first what opening the input read ahead, then one `read` of the descriptor (as
    /// much as the pipe holds, up to `buffer.count`). Returns the byte count; 0 at the end.
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(InputError) -> Int {
        precondition(mapping == nil && buffer.count > 0)
        if pendingCount > 0, let readBuffer {
            let n = min(pendingCount, buffer.count)
            buffer.baseAddress!.copyMemory(from: readBuffer.baseAddress! + pendingStart, byteCount: n)
            pendingStart += n
            pendingCount -= n
            offset += UInt64(n)
            return n
        }
        while !atEOF {
            let n = read(fd, buffer.baseAddress!, buffer.count)
            if n > 0 {
                offset += UInt64(n)
                return n
            }
            if n == 0 {
                atEOF = true
            } else if errno != EINTR {
                throw .readFailed(path: path, offset: offset, reason: ByteInput.systemError(errno))
            }
        }
        return 0
    }

    /// Lets the kernel drop the mapped pages wholly before `end` (consumed; they are read back
    /// from the page cache if touched again). Keeps resident memory flat on huge files.
    func release(upTo end: Int) {
        guard let mapping else { return }
        let pageAligned = min(end, mapping.count) & ~(Int(getpagesize()) - 1)
        guard pageAligned > releasedUpTo else { return }
        _ = madvise(
            UnsafeMutableRawPointer(mutating: mapping.baseAddress! + releasedUpTo),
            pageAligned - releasedUpTo, Int32(MADV_DONTNEED))
        releasedUpTo = pageAligned
    }

    /// `release(upTo: offset)` once `offset` lies `step` or more past what was released:
    /// a reader moving through the mapping lets its pages go every `step` bytes, not at
    /// every page.
    func release(behind offset: Int, step: Int) {
        if offset - releasedUpTo >= step { release(upTo: offset) }
    }

    /// Reads until the buffer is full or the input ends; returns the byte count.
    private func fill(_ buffer: UnsafeMutableRawBufferPointer) throws(InputError) -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = read(fd, buffer.baseAddress! + filled, buffer.count - filled)
            if n > 0 {
                filled += n
            } else if n == 0 {
                atEOF = true
                break
            } else if errno != EINTR {
                throw .readFailed(
                    path: path, offset: offset + UInt64(filled), reason: ByteInput.systemError(errno))
            }
        }
        return filled
    }

}
