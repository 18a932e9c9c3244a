#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Plain values (no references: events, snapshots) kept in an unlinked temporary file in
/// `$TMPDIR`: appended in batches, read back in batches from any record on. Memory stays flat
/// whatever the count; the file goes away with the object (or the process).
public final class RecordFile<Record>: @unchecked Sendable {
    public let fd: Int32
    /// Records written so far.
    @exclusivity(unchecked) public private(set) var count = 0
    static var stride: Int { MemoryLayout<Record>.stride }

    /// Nil when no temporary file can be made.
    public init?() {
        precondition(_isPOD(Record.self), "a record file keeps plain values only")
        var template = Array("\(temporaryFileDirectory())/shadowbell-records-XXXXXX".utf8CString)
        fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return nil }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
    }

    @exclusivity(unchecked) private var scratch: UnsafeMutableRawBufferPointer?

    deinit {
        close(fd)
        scratch?.deallocate()
    }

    /// Empties the file for a new recording.
    public func truncate() -> Bool {
        count = 0
        return ftruncate(fd, 0) == 0
    }

    /// Appends `records`; false when the file cannot take them (what was written stays).
    public func append(_ records: [Record]) -> Bool {
        let ok = records.withUnsafeBytes { raw in
            raw.isEmpty || writeFully(fd, raw.baseAddress!, raw.count, at: count * Self.stride)
        }
        if ok { count += records.count }
        return ok
    }

    /// Replaces `buffer` with up to `limit` records from record `index` on; false when the
    /// file cannot be read there. One read at a time: the bytes pass through one buffer kept
    /// from read to read.
    public func read(from index: Int, limit: Int, into buffer: inout [Record]) -> Bool {
        buffer.removeAll(keepingCapacity: true)
        let n = max(0, min(limit, count - index))
        guard n > 0 else { return true }
        let bytes = n * Self.stride
        if (scratch?.count ?? 0) < bytes {
            scratch?.deallocate()
            scratch = .allocate(byteCount: bytes, alignment: MemoryLayout<Record>.alignment)
        }
        let into = scratch!.baseAddress!
        guard readFully(fd, into, bytes, at: index * Self.stride) else { return false }
        buffer.append(contentsOf: UnsafeBufferPointer(start: into.assumingMemoryBound(to: Record.self), count: n))
        return true
    }
}

/// Writes `length` bytes at byte `offset` of `fd`, through short writes and interruptions;
/// false when the file takes no more.
func writeFully(_ fd: Int32, _ bytes: UnsafeRawPointer, _ length: Int, at offset: Int) -> Bool {
    transferFully(length) { done in pwrite(fd, bytes + done, length - done, off_t(offset + done)) }
}

/// Reads `length` bytes from byte `offset` of `fd`, through short reads and interruptions;
/// false when the file ends or fails before.
func readFully(_ fd: Int32, _ into: UnsafeMutableRawPointer, _ length: Int, at offset: Int) -> Bool {
    transferFully(length) { done in pread(fd, into + done, length - done, off_t(offset + done)) }
}

/// Repeats `step` (given the bytes done, returning the bytes it moved or -1) until `length`
/// bytes moved; an interrupted step is tried again, any other failure or end gives false.
@inline(__always)
private func transferFully(_ length: Int, _ step: (Int) -> Int) -> Bool {
    var done = 0
    while done < length {
        let n = step(done)
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return false }
        done += n
    }
    return true
}
