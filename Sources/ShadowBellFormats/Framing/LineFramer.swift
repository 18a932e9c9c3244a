#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellCore

/// One line of a text input, without its `\n` or `\r\n`. `bytes` stays valid until the next
/// call into the framer that produced it.
public struct FramedLine {
    public var bytes: UnsafeRawBufferPointer
    /// 1-based line number.
    public var number: UInt64
    /// The line was longer than the framer's `maxLineLength`: `bytes` is empty and the line is
    /// malformed (its bytes were not kept).
    public var overlong = false
}

/// Splits a byte stream delivered in arbitrary chunks into lines.
///
/// Feed a chunk, take lines with `nextLine()` until it returns nil, feed the next chunk; at the
/// end of the input `finish()` returns a last line that had no newline. A line inside one chunk
/// is returned in place (no copy); only a line that spans chunks is assembled in a carry buffer.
/// Each byte is searched for `\n` once: a partial line is never rescanned.
/// A line longer than `maxLineLength` is returned empty and marked `overlong`, its bytes not
/// held, so memory stays bounded whatever the input.
public final class LineFramer {
    public static let defaultMaxLineLength = 1 << 20

    public let maxLineLength: Int
    /// The diagnostic for an overlong line.
    public static let overlongReason = "line longer than \(defaultMaxLineLength >> 20) MiB, skipped"
    /// Number of the last line returned.
    @exclusivity(unchecked) public private(set) var lineNumber: UInt64 = 0

    @exclusivity(unchecked) private var chunk = UnsafeRawBufferPointer(start: nil, count: 0)
    @exclusivity(unchecked) private var offset = 0
    @exclusivity(unchecked) private var carry: UnsafeMutableRawPointer
    @exclusivity(unchecked) private var carryCapacity: Int
    @exclusivity(unchecked) private var carryCount = 0
    @exclusivity(unchecked) private var carryHandedOut = false
    /// The line being carried has outgrown `maxLineLength`; its further bytes are dropped.
    @exclusivity(unchecked) private var carryOverflowed = false

    public init(maxLineLength: Int = LineFramer.defaultMaxLineLength) {
        self.maxLineLength = max(maxLineLength, 1)
        carryCapacity = 4096
        carry = UnsafeMutableRawPointer.allocate(byteCount: carryCapacity, alignment: 16)
    }

    deinit { carry.deallocate() }

    /// Hands over the next chunk. The previous chunk must have been drained (`nextLine()`
    /// returned nil); `chunk` must stay valid until this framer asks for more.
    public func feed(_ chunk: UnsafeRawBufferPointer) {
        precondition(offset >= self.chunk.count, "feed before the previous chunk was drained")
        self.chunk = chunk
        offset = 0
    }

    /// The next complete line of the current chunk, or nil when the chunk is drained (its
    /// unterminated tail is kept for the next chunk).
    @inline(__always)
    public func nextLine() -> FramedLine? {
        if carryHandedOut {
            carryCount = 0
            carryHandedOut = false
            carryOverflowed = false
        }
        let remaining = chunk.count - offset
        guard remaining > 0, let base = chunk.baseAddress else { return nil }
        let start = base + offset
        guard let hit = memchr(start, Int32(ASCII_LF), remaining) else {
            appendToCarry(start, remaining)
            offset = chunk.count
            return nil
        }
        let length = UnsafeRawPointer(hit) - start
        offset += length + 1
        lineNumber += 1
        if carryCount == 0 && !carryOverflowed {
            return checked(Self.trimCR(start, length))
        }
        appendToCarry(start, length)
        carryHandedOut = true
        if carryOverflowed { return Self.overlongLine(lineNumber) }
        return checked(Self.trimCR(UnsafeRawPointer(carry), carryCount))
    }

    @inline(__always)
    private func checked(_ bytes: UnsafeRawBufferPointer) -> FramedLine {
        bytes.count > maxLineLength ? Self.overlongLine(lineNumber) : FramedLine(bytes: bytes, number: lineNumber)
    }

    private static func overlongLine(_ number: UInt64) -> FramedLine {
        FramedLine(bytes: UnsafeRawBufferPointer(start: nil, count: 0), number: number, overlong: true)
    }

    /// At the end of the input: the last line if it had no newline, else nil.
    public func finish() -> FramedLine? {
        if carryHandedOut {
            carryCount = 0
            carryHandedOut = false
            carryOverflowed = false
        }
        if offset < chunk.count, let base = chunk.baseAddress {
            appendToCarry(base + offset, chunk.count - offset)
            offset = chunk.count
        }
        guard carryCount > 0 || carryOverflowed else { return nil }
        lineNumber += 1
        carryHandedOut = true
        if carryOverflowed { return Self.overlongLine(lineNumber) }
        return checked(Self.trimCR(UnsafeRawPointer(carry), carryCount))
    }

    private func appendToCarry(_ source: UnsafeRawPointer, _ count: Int) {
        // One byte beyond the limit (a `\r` the line may end with) tells an overlong line.
        let room = maxLineLength + 1 - carryCount
        if count > room || carryOverflowed {
            carryOverflowed = true
            carryCount = 0
            return
        }
        let n = count
        guard n > 0 else { return }
        if carryCount + n > carryCapacity {
            var newCapacity = carryCapacity * 2
            while newCapacity < carryCount + n { newCapacity *= 2 }
            let grown = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
            grown.copyMemory(from: carry, byteCount: carryCount)
            carry.deallocate()
            carry = grown
            carryCapacity = newCapacity
        }
        (carry + carryCount).copyMemory(from: source, byteCount: n)
        carryCount += n
    }

    @inline(__always)
    private static func trimCR(_ start: UnsafeRawPointer, _ length: Int) -> UnsafeRawBufferPointer {
        var n = length
        // Every carriage return before the newline: a serial console log saved through another
        // CRLF conversion ends its lines with `\r\r\n` (its nvme messages were malformed).
        while n > 0, start.load(fromByteOffset: n - 1, as: UInt8.self) == 0x0D { n -= 1 }
        return UnsafeRawBufferPointer(start: start, count: n)
    }
}

private let ASCII_LF: UInt8 = 0x0A

/// Whether `bytes` (the text after an input's last newline) is NUL bytes only: the file system's
/// allocation past what the writer wrote before it stopped, not a line cut short.
func isNULPadding(_ bytes: UnsafeRawBufferPointer) -> Bool {
    !bytes.isEmpty && !bytes.contains { $0 != 0 }
}

extension ByteInput {
    /// The lines numbered `numbers` (1-based, ascending) of a memory-mapped text file, each
    /// handed to `body` as `LineFramer` frames it (carriage returns before the newline trimmed;
    /// a line longer than `maxLineLength` empty), found from the nearest of `marks` before it
    /// rather than from the file's first byte. A mark that does not begin a line (the file
    /// changed since it was taken) is passed over. False, with nothing read, when the input is
    /// not mapped (a pipe, a compressed file): read it in order instead.
    public func lines(
        _ numbers: [UInt64], marks: [LineMark], maxLineLength: Int = LineFramer.defaultMaxLineLength,
        _ body: (UInt64, UnsafeRawBufferPointer) -> Void
    ) -> Bool {
        guard let mapping = mappedBytes else { return false }
        guard let base = mapping.baseAddress.map(UnsafeRawPointer.init) else { return true }
        let end = base + mapping.count
        var line: UInt64 = 1
        var p = base
        var k = 0
        for wanted in numbers where wanted >= line {
            // The last mark before the line, and only its byte is read to check it: reading
            // the byte before every mark passed over touched a page of the mapping at each
            // (and the pages the kernel maps around each fault), not let go by the search — `report`
            // of a 4 GB run rose by 100–290 MB for a few ms at each input, 500 MB at its peak.
            var nearest: LineMark?
            while k < marks.count, marks[k].line <= wanted {
                let mark = marks[k]
                k += 1
                if mark.line > line, mark.offset > 0, mark.offset < UInt64(mapping.count) { nearest = mark }
            }
            if let mark = nearest, base.load(fromByteOffset: Int(mark.offset) - 1, as: UInt8.self) == ASCII_LF {
                line = mark.line
                p = base + Int(mark.offset)
            }
            while line < wanted {
                guard p < end, let hit = memchr(p, Int32(ASCII_LF), end - p) else { return true }
                p = UnsafeRawPointer(hit) + 1
                line += 1
            }
            guard p < end else { return true }
            // The pages passed over are let go as the search moves on: entered at a mark a
            // MiB or so before each line quoted, the search touched a gigabyte log's pages
            // from one line to the next and kept them (`report` of a 2.7 GB run peaked at
            // 336 MB, 231 MB of it the mapping).
            release(behind: p - base, step: ByteInput.releaseStep)
            let lineEnd = memchr(p, Int32(ASCII_LF), end - p).map { UnsafeRawPointer($0) } ?? end
            var count = lineEnd - p
            while count > 0, p.load(fromByteOffset: count - 1, as: UInt8.self) == 0x0D { count -= 1 }
            body(wanted, UnsafeRawBufferPointer(start: p, count: count > maxLineLength ? 0 : count))
        }
        return true
    }
}
