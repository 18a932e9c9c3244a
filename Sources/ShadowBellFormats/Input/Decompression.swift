import CLzma
import CZlib
import CZstd
import ShadowBellCore

/// A compression an input may be stored with, recognised by its magic (never by file name).
public enum Compression: String, Sendable, Hashable, CustomStringConvertible {
    case gzip, zstd, xz

    /// Bytes `init(magic:)` looks at.
    public static let magicLength = 6

    /// The compression whose magic starts `prefix`: gzip `1F 8B`, zstd `28 B5 2F FD` (or a
    /// skippable frame, `5? 2A 4D 18`, as pzstd writes first), xz `FD 37 7A 58 5A 00`.
    public init?(magic prefix: UnsafeRawBufferPointer) {
        if prefix.starts(with: [0x1F, 0x8B]) {
            self = .gzip
        } else if prefix.starts(with: [0x28, 0xB5, 0x2F, 0xFD]) {
            self = .zstd
        } else if prefix.count >= 4, prefix[0] & 0xF0 == 0x50, prefix[1] == 0x2A, prefix[2] == 0x4D, prefix[3] == 0x18 {
            self = .zstd
        } else if prefix.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) {
            self = .xz
        } else {
            return nil
        }
    }

    /// The compression of the regular file at `path` from its first bytes (nil: none, not a
    /// regular file — a pipe's bytes would be lost —, or unreadable).
    public static func of(path: String) -> Compression? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        var head = [UInt8](repeating: 0, count: magicLength)
        let n = head.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return head.withUnsafeBytes { Compression(magic: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
    }

    public var description: String { rawValue }

    /// A fresh decoder of this compression.
    func makeDecoder() throws(CodecFailure) -> any StreamDecoder {
        switch self {
        case .gzip: return try GzipDecoder()
        case .zstd: return try ZstdDecoder()
        case .xz: return try XzDecoder()
        }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a decoder did with one call.
struct DecodeStep {
    /// Compressed bytes consumed from the input given.
    var consumed: Int
    /// Decompressed bytes written to the output given.
    var produced: Int
    /// The stream is complete: the input has ended and every byte has been delivered.
    var finished: Bool
}

/// Why a decoder stopped: the library's message, and where in the call's input.
struct CodecFailure: Error {
    var message: String
    /// Compressed bytes of the call's input consumed before the failure.
    var consumed = 0
    /// Decompressed bytes the call wrote before the failure.
    var produced = 0
    /// The input ended inside a member or frame.
    var truncated = false
}

/// One streaming decompressor (zlib, libzstd or liblzma). `decode` consumes what it can of
/// `input` and fills what it can of `output`; `inputEnded` says that no byte follows `input`.
/// A decoder handles concatenated members (gzip) or frames (zstd, xz streams) itself, reports
/// `finished` only at the end of a complete one, and throws — never loops — on corrupt or
/// truncated data.
protocol StreamDecoder: AnyObject {
    func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, inputEnded: Bool)
        throws(CodecFailure) -> DecodeStep
}

/// gzip with zlib's `inflate`: one member after the other (`inflateReset` between them), as
/// `gzip -d` reads a file that `cat a.gz b.gz` made.
final class GzipDecoder: StreamDecoder {
    @exclusivity(unchecked) private var stream = z_stream()
    /// The last member ended (`Z_STREAM_END`): the next byte, if any, starts another.
    @exclusivity(unchecked) private var betweenMembers = false

    init() throws(CodecFailure) {
        let rc = shadowbell_inflate_init_gzip(&stream)
        guard rc == Z_OK else { throw CodecFailure(message: "zlib inflateInit2 failed (\(rc))") }
    }

    deinit { inflateEnd(&stream) }

    func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, inputEnded: Bool)
        throws(CodecFailure) -> DecodeStep
    {
        var consumed = 0
        var produced = 0
        while true {
            if betweenMembers {
                if consumed == input.count {
                    return DecodeStep(consumed: consumed, produced: produced, finished: inputEnded)
                }
                inflateReset(&stream)
                betweenMembers = false
            }
            let availableIn = input.count - consumed
            let availableOut = output.count - produced
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) + consumed })
            stream.avail_in = UInt32(clamping: availableIn)
            stream.next_out = output.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) + produced }
            stream.avail_out = UInt32(clamping: availableOut)
            let rc = inflate(&stream, Z_NO_FLUSH)
            let inUsed = min(availableIn, Int(UInt32(clamping: availableIn) - stream.avail_in))
            let outUsed = min(availableOut, Int(UInt32(clamping: availableOut) - stream.avail_out))
            consumed += inUsed
            produced += outUsed
            switch rc {
            case Z_STREAM_END:
                betweenMembers = true
                continue
            case Z_OK, Z_BUF_ERROR:
                // No progress with output room left and no more input: the member is cut short.
                if inputEnded, consumed == input.count, produced < output.count, inUsed == 0, outUsed == 0 {
                    throw CodecFailure(
                        message: "the gzip data ends inside a member (the file is truncated)", consumed: consumed,
                        produced: produced, truncated: true)
                }
                return DecodeStep(consumed: consumed, produced: produced, finished: false)
            default:
                let reason = stream.msg.map { String(cString: $0) } ?? "zlib error \(rc)"
                throw CodecFailure(message: "gzip data is corrupt (zlib: \(reason))", consumed: consumed, produced: produced)
            }
        }
    }
}

/// zstd with libzstd's streaming decoder; consecutive frames (and skippable frames) are read
/// one after the other, as `zstd -d` does.
final class ZstdDecoder: StreamDecoder {
    private let stream: OpaquePointer
    /// The last call ended exactly at the end of a frame (libzstd returned 0).
    @exclusivity(unchecked) private var atFrameEnd = true

    init() throws(CodecFailure) {
        guard let stream = ZSTD_createDStream() else { throw CodecFailure(message: "ZSTD_createDStream failed") }
        self.stream = stream
        let rc = ZSTD_initDStream(stream)
        if ZSTD_isError(rc) != 0 {
            ZSTD_freeDStream(stream)
            throw CodecFailure(message: "ZSTD_initDStream: \(String(cString: ZSTD_getErrorName(rc)))")
        }
    }

    deinit { ZSTD_freeDStream(stream) }

    func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, inputEnded: Bool)
        throws(CodecFailure) -> DecodeStep
    {
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var outBuffer = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
        // Frames are decoded until the output is full or the input is used up.
        while outBuffer.pos < outBuffer.size {
            let before = (inBuffer.pos, outBuffer.pos)
            if inBuffer.pos == inBuffer.size && atFrameEnd { break }
            let rc = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
            if ZSTD_isError(rc) != 0 {
                throw CodecFailure(
                    message: "zstd data is corrupt (libzstd: \(String(cString: ZSTD_getErrorName(rc))))",
                    consumed: inBuffer.pos, produced: outBuffer.pos)
            }
            atFrameEnd = rc == 0
            if before == (inBuffer.pos, outBuffer.pos) { break }
        }
        let drained = inBuffer.pos == inBuffer.size && outBuffer.pos < outBuffer.size
        if inputEnded, drained {
            guard atFrameEnd else {
                throw CodecFailure(
                    message: "the zstd data ends inside a frame (the file is truncated)", consumed: inBuffer.pos,
                    produced: outBuffer.pos, truncated: true)
            }
            return DecodeStep(consumed: inBuffer.pos, produced: outBuffer.pos, finished: true)
        }
        return DecodeStep(consumed: inBuffer.pos, produced: outBuffer.pos, finished: false)
    }
}

/// xz with liblzma's stream decoder (`LZMA_CONCATENATED`: several .xz streams one after the
/// other, and stream padding, as `xz -d` reads them).
final class XzDecoder: StreamDecoder {
    @exclusivity(unchecked) private var stream = lzma_stream()

    init() throws(CodecFailure) {
        let rc = lzma_stream_decoder(&stream, UInt64.max, shadowbell_lzma_concatenated)
        guard rc == LZMA_OK else { throw CodecFailure(message: "lzma_stream_decoder failed (\(rc.rawValue))") }
    }

    deinit { lzma_end(&stream) }

    func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, inputEnded: Bool)
        throws(CodecFailure) -> DecodeStep
    {
        stream.next_in = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        stream.avail_in = input.count
        stream.next_out = output.baseAddress?.assumingMemoryBound(to: UInt8.self)
        stream.avail_out = output.count
        let rc = lzma_code(&stream, inputEnded ? LZMA_FINISH : LZMA_RUN)
        let consumed = input.count - stream.avail_in
        let produced = output.count - stream.avail_out
        switch rc {
        case LZMA_STREAM_END:
            return DecodeStep(consumed: consumed, produced: produced, finished: true)
        case LZMA_OK:
            return DecodeStep(consumed: consumed, produced: produced, finished: false)
        case LZMA_BUF_ERROR:
            // No progress possible: with LZMA_FINISH, the input ended inside a stream.
            if inputEnded {
                throw CodecFailure(
                    message: "the xz data ends inside a stream (the file is truncated)", consumed: consumed,
                    produced: produced, truncated: true)
            }
            return DecodeStep(consumed: consumed, produced: produced, finished: false)
        default:
            throw CodecFailure(message: "xz data is corrupt (liblzma: \(Self.describe(rc)))", consumed: consumed, produced: produced)
        }
    }

    private static func describe(_ rc: lzma_ret) -> String {
        switch rc {
        case LZMA_FORMAT_ERROR: return "file format not recognized"
        case LZMA_OPTIONS_ERROR: return "unsupported options"
        case LZMA_DATA_ERROR: return "compressed data is corrupt"
        case LZMA_MEM_ERROR, LZMA_MEMLIMIT_ERROR: return "cannot allocate memory"
        default: return "error \(rc.rawValue)"
        }
    }
}
