#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One line of a text input, without its `\n` or `\r\n`. `bytes` stays valid until the next
/// call into the framer that produced it.
public struct FramedLine {
    public var bytes: UnsafeRawBufferPointer
    /// 1-based line number.
    public var number: UInt64
}

/// Splits a byte stream delivered in arbitrary chunks into lines.
///
/// Feed a chunk, take lines with `nextLine()` until it returns nil, feed the next chunk; at the
/// end of the input `finish()` returns a last line that had no newline. A line inside one chunk
/// is returned in place (no copy); only a line that spans chunks is assembled in a carry buffer.
/// Each byte is searched for `\n` once: a partial line is never rescanned.
/// A line longer than `maxLineLength` is cut at that length, so memory stays bounded.
public final class LineFramer {
    public static let defaultMaxLineLength = 16 << 20

    public let maxLineLength: Int
    /// Number of the last line returned.
    public private(set) var lineNumber: UInt64 = 0

    private var chunk = UnsafeRawBufferPointer(start: nil, count: 0)
    private var offset = 0
    private var carry: UnsafeMutableRawPointer
    private var carryCapacity: Int
    private var carryCount = 0
    private var carryHandedOut = false

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
        if carryCount == 0 {
            return FramedLine(bytes: Self.trimCR(start, length), number: lineNumber)
        }
        appendToCarry(start, length)
        carryHandedOut = true
        return FramedLine(bytes: Self.trimCR(UnsafeRawPointer(carry), carryCount), number: lineNumber)
    }

    /// At the end of the input: the last line if it had no newline, else nil.
    public func finish() -> FramedLine? {
        if carryHandedOut {
            carryCount = 0
            carryHandedOut = false
        }
        if offset < chunk.count, let base = chunk.baseAddress {
            appendToCarry(base + offset, chunk.count - offset)
            offset = chunk.count
        }
        guard carryCount > 0 else { return nil }
        lineNumber += 1
        carryHandedOut = true
        return FramedLine(bytes: Self.trimCR(UnsafeRawPointer(carry), carryCount), number: lineNumber)
    }

    private func appendToCarry(_ source: UnsafeRawPointer, _ count: Int) {
        let room = maxLineLength - carryCount
        let n = min(count, room)
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
        if n > 0, start.load(fromByteOffset: n - 1, as: UInt8.self) == 0x0D { n -= 1 }
        return UnsafeRawBufferPointer(start: start, count: n)
    }
}

private let ASCII_LF: UInt8 = 0x0A
