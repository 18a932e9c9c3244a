#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An output file written from a reusable byte buffer: the renderers append bytes, never Strings.
final class ByteFile {
    private(set) var buffer: [UInt8] = []
    private let file: UnsafeMutablePointer<FILE>
    let path: String
    private(set) var written = 0
    private var failed: String? = nil
    /// Told the bytes written so far at each flush (a megabyte at a time).
    private let progress: ((Int) -> Void)?

    static let flushThreshold = 1 << 20

    init(path: String, progress: ((Int) -> Void)? = nil) throws(SimulatorError) {
        guard let f = fopen(path, "wb") else {
            throw .cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
        file = f
        self.path = path
        self.progress = progress
        buffer.reserveCapacity(Self.flushThreshold + 4096)
    }

    deinit { fclose(file) }

    @inline(__always)
    func maybeFlush() {
        if buffer.count >= Self.flushThreshold { flush() }
    }

    func flush() {
        guard !buffer.isEmpty else { return }
        let n = buffer.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        if n != buffer.count && failed == nil { failed = String(cString: strerror(errno)) }
        written += buffer.count
        buffer.removeAll(keepingCapacity: true)
        progress?(written)
    }

    func close() throws(SimulatorError) {
        flush()
        if fflush(file) != 0 && failed == nil { failed = String(cString: strerror(errno)) }
        if let failed { throw .cannotWrite(path: path, reason: failed) }
    }

    // MARK: appending

    @inline(__always)
    func put(_ s: StaticString) {
        s.withUTF8Buffer { buffer.append(contentsOf: $0) }
    }

    @inline(__always)
    func put(_ bytes: [UInt8]) { buffer.append(contentsOf: bytes) }

    @inline(__always)
    func put(byte: UInt8) { buffer.append(byte) }

    /// Decimal, no padding.
    @inline(__always)
    func put(_ value: UInt64) {
        if value < 10 {
            buffer.append(UInt8(truncatingIfNeeded: value) &+ 48)
            return
        }
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes of scratch
        var v = value
        var n = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            while v > 0 {
                raw[31 - n] = UInt8(truncatingIfNeeded: v % 10) &+ 48
                v /= 10
                n += 1
            }
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[(32 - n)...]))
        }
    }

    @inline(__always)
    func put(_ value: UInt32) { put(UInt64(value)) }

    /// Decimal, left-padded with `pad` to `width` characters.
    @inline(__always)
    func put(_ value: UInt64, width: Int, pad: UInt8) {
        var digits = 1
        var v = value
        while v >= 10 {
            v /= 10
            digits += 1
        }
        if digits < width {
            for _ in 0..<(width - digits) { buffer.append(pad) }
        }
        put(value)
    }

    /// Lower-case hexadecimal, no prefix, at least `width` digits (zero-padded).
    @inline(__always)
    func putHex(_ value: UInt64, width: Int = 1) {
        var digits = 1
        var v = value >> 4
        while v > 0 {
            v >>= 4
            digits += 1
        }
        if digits < width {
            for _ in 0..<(width - digits) { buffer.append(48) }
        }
        var shift = (digits - 1) * 4
        while shift >= 0 {
            let d = UInt8(truncatingIfNeeded: (value >> UInt64(shift)) & 0xF)
            buffer.append(d < 10 ? d &+ 48 : d &+ 87)
            shift -= 4
        }
    }

    /// Right-aligned text in `width` columns.
    @inline(__always)
    func put(_ bytes: [UInt8], rightAlignedIn width: Int) {
        if bytes.count < width {
            for _ in 0..<(width - bytes.count) { buffer.append(32) }
        }
        buffer.append(contentsOf: bytes)
    }
}

extension ByteFile {
    /// Drops the last `n` bytes not yet flushed.
    func truncateBuffer(by n: Int) -> Int {
        let k = min(n, buffer.count)
        buffer.removeLast(k)
        return k
    }
}
