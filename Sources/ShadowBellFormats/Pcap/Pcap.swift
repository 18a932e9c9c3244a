import CPcap
import ShadowBellCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A thin, typed layer over libpcap. Each wrapper names the C function it calls; the only
/// place that turns a libpcap failure into a Swift error is `PcapError.init`.
public enum Pcap {}

/// A libpcap failure: which C function failed, its return code and libpcap's own message.
public struct PcapError: Error, Sendable, Equatable, CustomStringConvertible {
    public var function: String
    public var code: Int32
    public var message: String

    public init(function: String, code: Int32, message: String) {
        self.function = function
        self.code = code
        self.message = message
    }

    /// From an error buffer filled by an open call.
    init(function: String, code: Int32 = -1, errbuf: UnsafePointer<CChar>) {
        self.init(function: function, code: code, message: String(cString: errbuf))
    }

    /// From a handle's last error (`pcap_geterr`).
    init(function: String, code: Int32, handle: OpaquePointer) {
        self.init(function: function, code: code, message: String(cString: pcap_geterr(handle)))
    }

    public var description: String { "\(function): \(message)" }

    /// libpcap says the file ends inside a record.
    public var isTruncation: Bool { message.contains("truncated") }
    /// libpcap's rejection of a pcapng whose interfaces have different link types.
    public var isMixedLinkTypes: Bool { message.contains("different from the type of the first interface") }
}

/// A data link type (LINKTYPE_/DLT_ value).
public struct LinkType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    public static let ethernet = LinkType(1)
    /// LINKTYPE_USER0: ShadowBell's default.
    public static let user0 = LinkType(147)
    /// LINKTYPE_USER2: reserved by another tool's convention; ShadowBell never uses it.
    public static let user2 = LinkType(149)
    /// LINKTYPE_USER0...USER15.
    public static let userRange: ClosedRange<Int32> = 147...162

    public var isUser: Bool { Self.userRange.contains(rawValue) }

    /// `147 (USER0)`; libpcap's name when it has one (`pcap_datalink_val_to_name`).
    public var description: String {
        if isUser { return "\(rawValue) (USER\(rawValue - 147))" }
        if let name = pcap_datalink_val_to_name(rawValue) { return "\(rawValue) (\(String(cString: name)))" }
        return "\(rawValue)"
    }
}

/// One packet as libpcap returned it. `data` is valid until the next read on the same reader.
public struct PcapPacket {
    /// Seconds and nanoseconds of the packet's timestamp (the reader asks for nanoseconds).
    public var seconds: Int64
    public var nanoseconds: Int64
    public var capturedLength: Int
    public var originalLength: Int
    public var data: UnsafeRawBufferPointer

    public var timeNanoseconds: Int64 { seconds &* 1_000_000_000 &+ nanoseconds }
}

/// A capture file opened for reading: pcap or pcapng, timestamps in nanoseconds.
public final class PcapReader {
    /// The libpcap handle, for readers in this module that call `pcap_next_ex` in their own loop.
    let handle: OpaquePointer
    public let path: String
    /// The stdio buffer of libpcap's `FILE` (freed after `pcap_close`), when we gave it one.
    @exclusivity(unchecked) private var streamBuffer: UnsafeMutableRawPointer?

    /// Bytes of the stdio buffer libpcap reads through: large enough that the file is read
    /// with few `read` system calls (glibc's default, the 4 KiB block size, costs one per
    /// 4 KiB: 0.1 s per GB).
    static let streamBufferSize = 256 << 10

    /// The decompressed input libpcap reads through a cookie `FILE` (a compressed file).
    @exclusivity(unchecked) private var cookie: PcapCookie?

    /// A failure of the decompressed input libpcap reads (corrupt or truncated compressed data,
    /// a failed read), which libpcap itself only sees as a read error.
    public var inputError: InputError? { cookie?.error }

    /// Decompressed bytes libpcap has read so far (nil for an uncompressed file).
    public var inputOffset: UInt64? { cookie?.input.offset }

    /// A file stored with gzip, zstd or xz compression is read decompressed, through
    /// `init(input:)`; any other as below (`init(plainPath:)`).
    public convenience init(path: String) throws(PcapError) {
        if path != "-", Compression.of(path: path) != nil {
            let input: ByteInput
            do {
                input = try ByteInput(path: path)
            } catch {
                throw PcapError(function: "decompress", code: -1, message: error.description)
            }
            try self.init(input: input)
        } else {
            try self.init(plainPath: path)
        }
    }

    /// Reads `input` (its chunks: the decompressed content) through a `FILE` whose reads call
    /// back into it (Linux: `fopencookie`), with
    /// `pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO, errbuf)`.
    /// `ftell` on that `FILE` gives the offset in the decompressed content. With
    /// `history` > 0, the last `history` bytes read are kept for `readBack`.
    public init(input: ByteInput, history: Int = 0) throws(PcapError) {
        #if os(Linux)
            let cookie = PcapCookie(input, history: history)
            let context = Unmanaged.passRetained(cookie).toOpaque()
            var functions = shadowbell_cookie_io_functions()
            functions.read = { context, buffer, size in
                Unmanaged<PcapCookie>.fromOpaque(context!).takeUnretainedValue().read(buffer!, size)
            }
            functions.seek = { context, offset, whence in
                // Only `ftell` (SEEK_CUR by 0): the position is known, nothing moves.
                guard whence == SEEK_CUR, let offset, offset.pointee == 0 else {
                    errno = ESPIPE
                    return -1
                }
                offset.pointee = Int64(Unmanaged<PcapCookie>.fromOpaque(context!).takeUnretainedValue().input.offset)
                return 0
            }
            functions.close = { context in
                Unmanaged<PcapCookie>.fromOpaque(context!).release()
                return 0
            }
            guard let file = shadowbell_fopencookie(context, "rb", functions) else {
                Unmanaged<PcapCookie>.fromOpaque(context).release()
                throw PcapError(function: "fopencookie", code: -1, message: ByteInput.systemError(errno))
            }
            let buffer = malloc(Self.streamBufferSize)
            if let buffer {
                _ = setvbuf(file, buffer.assumingMemoryBound(to: CChar.self), _IOFBF, Self.streamBufferSize)
            }
            _ = __fsetlocking(file, Int32(FSETLOCKING_BYCALLER))
            var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
            let opened = pcap_fopen_offline_with_tstamp_precision(file, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errbuf)
            guard let opened else {
                fclose(file)
                free(buffer)
                if let error = cookie.error {
                    throw PcapError(function: "decompress", code: -1, message: error.description)
                }
                throw errbuf.withUnsafeBufferPointer {
                    PcapError(function: "pcap_fopen_offline_with_tstamp_precision", errbuf: $0.baseAddress!)
                }
            }
            self.handle = opened
            self.path = input.path
            self.streamBuffer = buffer
            self.cookie = cookie
        #else
            throw PcapError(
                function: "fopencookie", code: -1,
                message: "a compressed capture is read decompressed only on Linux; decompress \(input.path) first")
        #endif
    }

    /// `fopen` + `setvbuf` (a large stdio buffer) + `__fsetlocking` (Linux: no stdio locks) +
    /// `pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO, errbuf)`;
    /// should `fopen` fail (or for `-`, standard input),
    /// `pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf)`,
    /// which says why in libpcap's words.
    public init(plainPath path: String) throws(PcapError) {
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        if path != "-", let file = fopen(path, "rb") {
            let buffer = malloc(Self.streamBufferSize)
            if let buffer {
                _ = setvbuf(file, buffer.assumingMemoryBound(to: CChar.self), _IOFBF, Self.streamBufferSize)
            }
            #if os(Linux)
                // The reader is used by one thread at a time (a read-ahead thread hands batches
                // over under a lock of its own): no stdio lock per `fread` — two per packet,
                // each an atomic instruction pair once the process has a second thread.
                _ = __fsetlocking(file, Int32(FSETLOCKING_BYCALLER))
            #endif
            let opened = pcap_fopen_offline_with_tstamp_precision(file, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errbuf)
            guard let opened else {
                fclose(file)
                free(buffer)
                throw errbuf.withUnsafeBufferPointer {
                    PcapError(function: "pcap_fopen_offline_with_tstamp_precision", errbuf: $0.baseAddress!)
                }
            }
            self.handle = opened
            self.path = path
            self.streamBuffer = buffer
            return
        }
        let opened = pcap_open_offline_with_tstamp_precision(
            path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errbuf)
        guard let opened else {
            throw errbuf.withUnsafeBufferPointer {
                PcapError(function: "pcap_open_offline_with_tstamp_precision", errbuf: $0.baseAddress!)
            }
        }
        self.handle = opened
        self.path = path
    }

    deinit {
        pcap_close(handle)  // pcap_close (closes the FILE)
        free(streamBuffer)
    }

    /// Bytes `[offset, offset + buffer.count)` of a decompressed input, from the history kept
    /// (`init(input:history:)`); false when they are not (or no longer) in it.
    func readBack(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        cookie?.readBack(at: offset, into: buffer) ?? false
    }

    /// `pcap_datalink`.
    public var linkType: LinkType { LinkType(pcap_datalink(handle)) }

    /// `pcap_snapshot`.
    public var snapshotLength: Int { Int(pcap_snapshot(handle)) }

    /// `pcap_file` + `ftell`: the byte offset libpcap's reader has reached, when known.
    public var fileOffset: UInt64? {
        guard let file = pcap_file(handle) else { return nil }
        let offset = ftell(file)
        return offset >= 0 ? UInt64(offset) : nil
    }

    /// `pcap_next_ex`: the next packet, or `nil` at the end of the file.
    public func next() throws(PcapError) -> PcapPacket? {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        let rc = pcap_next_ex(handle, &header, &data)
        switch rc {
        case 1:
            guard let header else { return nil }
            let h = header.pointee
            let length = Int(h.caplen)
            return PcapPacket(
                seconds: Int64(h.ts.tv_sec), nanoseconds: Int64(h.ts.tv_usec),
                capturedLength: length, originalLength: Int(h.len),
                data: UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : length))
        case PCAP_ERROR_BREAK:  // -2: no more packets in a savefile
            return nil
        default:
            throw PcapError(function: "pcap_next_ex", code: rc, handle: handle)
        }
    }
}

/// The input behind a cookie `FILE`: libpcap's reads become `ByteInput.receive` calls. The
/// `FILE` holds one reference (released by its close function).
final class PcapCookie {
    let input: ByteInput
    /// The input's failure, kept for the reader (libpcap gets -1 and EIO).
    @exclusivity(unchecked) private(set) var error: InputError?
    /// The last bytes read, as a ring indexed by offset modulo its size (empty: none kept).
    private let history: UnsafeMutableRawBufferPointer

    init(_ input: ByteInput, history: Int) {
        self.input = input
        self.history = .allocate(byteCount: max(history, 0), alignment: 16)
    }

    deinit { history.deallocate() }

    func read(_ buffer: UnsafeMutablePointer<CChar>, _ size: Int) -> Int {
        guard error == nil, size > 0 else { return error == nil ? 0 : -1 }
        let start = input.offset
        let n: Int
        do {
            n = try input.receive(into: UnsafeMutableRawBufferPointer(start: buffer, count: size))
        } catch {
            self.error = error
            errno = EIO
            return -1
        }
        if history.count > 0 {
            // Only the last `history.count` bytes of this read can stay in the ring.
            let kept = min(n, history.count)
            var offset = start + UInt64(n - kept)
            var source = UnsafeRawPointer(buffer) + (n - kept)
            var left = kept
            while left > 0 {
                let at = Int(offset % UInt64(history.count))
                let piece = min(left, history.count - at)
                (history.baseAddress! + at).copyMemory(from: source, byteCount: piece)
                offset += UInt64(piece)
                source += piece
                left -= piece
            }
        }
        return n
    }

    func readBack(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        let end = input.offset
        guard history.count > 0, buffer.count <= history.count, offset + UInt64(buffer.count) <= end,
            end - offset <= UInt64(history.count)
        else { return false }
        for i in 0..<buffer.count {
            buffer[i] = history[Int((offset + UInt64(i)) % UInt64(history.count))]
        }
        return true
    }
}

/// A pcap file opened for writing with nanosecond timestamps (libpcap writes pcap, not pcapng).
public final class PcapWriter {
    private let dead: OpaquePointer
    private let dumper: OpaquePointer
    public let path: String
    public let linkType: LinkType
    @exclusivity(unchecked) private var closed = false

    /// `pcap_open_dead_with_tstamp_precision(linkType, snaplen, PCAP_TSTAMP_PRECISION_NANO)`
    /// then `pcap_dump_open(dead, path)`.
    public init(path: String, linkType: LinkType, snapshotLength: Int32 = 65535) throws(PcapError) {
        guard
            let dead = pcap_open_dead_with_tstamp_precision(
                linkType.rawValue, snapshotLength, UInt32(PCAP_TSTAMP_PRECISION_NANO))
        else {
            throw PcapError(
                function: "pcap_open_dead_with_tstamp_precision", code: -1,
                message: "cannot create a capture handle for link type \(linkType)")
        }
        guard let dumper = pcap_dump_open(dead, path) else {
            let error = PcapError(function: "pcap_dump_open", code: -1, handle: dead)
            pcap_close(dead)
            throw error
        }
        self.dead = dead
        self.dumper = dumper
        self.path = path
        self.linkType = linkType
    }

    deinit { close() }

    /// `pcap_dump`: one packet whose timestamp is `seconds` + `nanoseconds`.
    public func write(seconds: UInt32, nanoseconds: UInt32, _ bytes: UnsafeRawBufferPointer) {
        var header = pcap_pkthdr()
        header.ts.tv_sec = .init(seconds)
        header.ts.tv_usec = .init(nanoseconds)  // nanoseconds: the handle's precision is nano
        header.caplen = UInt32(bytes.count)
        header.len = UInt32(bytes.count)
        let user = UnsafeMutableRawPointer(dumper).assumingMemoryBound(to: UInt8.self)
        pcap_dump(user, &header, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self))
    }

    /// `pcap_dump_flush`.
    public func flush() throws(PcapError) {
        let rc = pcap_dump_flush(dumper)
        // It fails as fflush does: the reason is in errno, not in the handle.
        if rc != 0 { throw PcapError(function: "pcap_dump_flush", code: rc, message: String(cString: strerror(errno))) }
    }

    /// `pcap_dump_close` + `pcap_close`. Safe to call more than once.
    public func close() {
        guard !closed else { return }
        closed = true
        pcap_dump_close(dumper)
        pcap_close(dead)
    }
}
