import CPcap
import ShadowBellCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Options for reading ShadowBell event records from a capture file.
public struct PcapReadOptions: Sendable, Hashable {
    /// Link types whose packets are read as ShadowBell records. Default: LINKTYPE_USER0–USER15
    /// except USER2 (149), which ShadowBell never uses.
    public var linkTypes: Set<Int32>
    /// Read only the records converted from this original input (one clock domain of a pcap
    /// written from several inputs); `nil` reads every record.
    public var originalSource: UInt16?
    /// Clock domains of the file that are not read (beyond `PcapEventSource.clockDomainLimit`):
    /// the reader that reports file diagnostics says so.
    public var clockDomainsLeftOut = 0
    /// Report malformed records and truncation (one reader per file should; see
    /// `openEventSources`).
    public var reportsFileDiagnostics: Bool

    public init(
        linkTypes: Set<Int32> = PcapReadOptions.defaultLinkTypes, originalSource: UInt16? = nil,
        reportsFileDiagnostics: Bool = true
    ) {
        self.linkTypes = linkTypes
        self.originalSource = originalSource
        self.reportsFileDiagnostics = reportsFileDiagnostics
    }

    public static let defaultLinkTypes: Set<Int32> = Set(LinkType.userRange).subtracting([LinkType.user2.rawValue])
}

/// An `EventSource` over a pcap or pcapng file of ShadowBell event records, read with libpcap.
///
/// Locations are byte offsets: in a pcap file the offset of the record's first byte, in a
/// pcapng file the offset of the block that carries it. Should libpcap not expose its file
/// position, locations fall back to the record's 1-based ordinal (`locationUnit == .line`).
public final class PcapEventSource: EventSource {
    @exclusivity(unchecked) public private(set) var summary: InputSummary
    public let isPcapng: Bool
    public static let batchLimit = 4096

    private let reader: PcapReader
    private let options: PcapReadOptions
    /// For pcapng block offsets: our own descriptor, to read a block's trailing length.
    @exclusivity(unchecked) private var blockFD: Int32 = -1
    @exclusivity(unchecked) private var pcapngBigEndian = false
    /// Offset just past the last complete packet (where a truncated one starts).
    @exclusivity(unchecked) private var lastEnd: UInt64
    @exclusivity(unchecked) private var previousTime: Int64 = .min
    @exclusivity(unchecked) private var finished = false
    /// Packets read so far (all of them, whatever `originalSource` selects).
    @exclusivity(unchecked) private var packets: UInt64 = 0
    /// Classic pcap with 16-byte record headers: the file offset after the last record, kept
    /// by arithmetic (`ftell` costs an lseek system call per packet).
    @exclusivity(unchecked) private var position: UInt64?
    /// The batch being decoded: events are written here, then appended to the caller's
    /// buffer in one copy. Allocated once the reader has opened: an initializer that throws
    /// before every stored property is set never runs `deinit`, and a buffer allocated in the
    /// property's declaration would leak with each input libpcap refuses.
    private let staging: UnsafeMutablePointer<Event>

    /// `displayPath` names the input in diagnostics when `path` is a spooled copy.
    public init(
        path: String, index: UInt16, options: PcapReadOptions = .init(), displayPath: String? = nil
    ) throws(InputError) {
        let shownPath = displayPath ?? path
        var head = [UInt8](repeating: 0, count: 12)
        let headCount: Int
        let compressed = path != "-" && Compression.of(path: path) != nil
        do {
            if compressed {
                // libpcap reads the decompressed content, streamed through a cookie FILE.
                let input = try ByteInput(path: path, displayPath: shownPath)
                let first = input.prefix(head.count)
                headCount = first.count
                head.withUnsafeMutableBytes { $0.copyMemory(from: first) }
                let pcapng = headCount >= 4 && head[0] == 0x0A && head[1] == 0x0D && head[2] == 0x0D && head[3] == 0x0A
                do {
                    // A pcapng's record is located by its block's length, read back from its
                    // end: keep what libpcap's stdio buffer may be ahead of it, and more.
                    self.reader = try PcapReader(input: input, history: pcapng ? 2 * PcapReader.streamBufferSize : 0)
                } catch {
                    throw InputError.unsupported(path: shownPath, reason: "libpcap cannot read it: \(error.message)")
                }
            } else {
                headCount = PcapEventSource.readPrefix(path: path, into: &head)
                do {
                    self.reader = try PcapReader(plainPath: path)
                } catch {
                    throw InputError.unsupported(path: shownPath, reason: "libpcap cannot read it: \(error.message)")
                }
            }
        }
        self.isPcapng = headCount >= 4 && head[0] == 0x0A && head[1] == 0x0D && head[2] == 0x0D && head[3] == 0x0A
        self.options = options
        var summary = InputSummary(index: index, path: shownPath, format: .pcap)
        summary.locationUnit = .byteOffset
        // A compressed file's content size is known once it has been read (`nextBatch`).
        summary.bytes = compressed ? 0 : PcapEventSource.fileSize(path: path) ?? 0
        self.summary = summary
        self.lastEnd = reader.fileOffset ?? 0
        // Every stored property is set from here on: a throw below runs `deinit`.
        self.staging = .allocate(capacity: PcapEventSource.batchLimit)
        let linkType = reader.linkType
        guard options.linkTypes.contains(linkType.rawValue) else {
            let expected = options.linkTypes.sorted().map { String($0) }
            let expectedText = expected.count == 1 ? expected[0] : "one of \(expected.joined(separator: ", "))"
            throw InputError.unsupported(
                path: shownPath,
                reason: "link type \(linkType) is not a ShadowBell event link type (expected \(expectedText)); "
                    + "this capture does not hold ShadowBell event records")
        }
        if reader.fileOffset == nil { self.summary.locationUnit = .line }
        if options.reportsFileDiagnostics, options.clockDomainsLeftOut > 0 {
            self.summary.noteMalformed(
                at: 0,
                "\(options.clockDomainsLeftOut) further clock domain(s) (original inputs) not analysed: at most "
                    + "\(PcapEventSource.clockDomainLimit) per file, each read in a pass of its own")
        }
        // Analysers read `summary.clock` before the first batch: take it from the first record.
        if let first = PcapEventSource.firstRecord(path: path, originalSource: options.originalSource) {
            self.summary.clock = first.timeIsOrdinal ? .orderOnly : .timestamps
            self.summary.recordedFormat = first.originalFormat
        }
        let classicMagics: Set<UInt32> = [0xA1B2_C3D4, 0xA1B2_3C4D, 0xD4C3_B2A1, 0x4D3C_B2A1]
        if headCount >= 4, classicMagics.contains(UInt32(head[0]) | UInt32(head[1]) << 8 | UInt32(head[2]) << 16 | UInt32(head[3]) << 24),
            self.summary.locationUnit == .byteOffset
        {
            position = lastEnd
        }
        if isPcapng {
            pcapngBigEndian = headCount >= 12 && head[8] == 0x1A && head[9] == 0x2B
            // A compressed pcapng's block lengths are read back from the reader's history.
            if !compressed { blockFD = open(path, O_RDONLY) }
        }
    }

    deinit {
        if blockFD >= 0 { close(blockFD) }
        staging.deallocate()
    }

    /// Reads up to `batchLimit` events. Each packet comes from `pcap_next_ex`; a valid
    /// version-1 record of a classic pcap (the common case) is checked and decoded straight into
    /// the batch, anything else goes through `RecordCodec.decode` and its diagnostics.
    public func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        buffer.removeAll(keepingCapacity: true)
        guard !finished else { return false }
        let pcap = reader.handle
        let index = summary.index
        let wanted = options.originalSource.map(Int.init) ?? -1
        let kinds = RecordCodec.kindTable
        var count = 0
        // Counters kept in registers and added to the summary once per batch.
        var records: UInt64 = 0
        var outOfOrder: UInt64 = 0
        var dataLoss: UInt64 = 0
        var ends = 0
        var lost: UInt64 = 0
        var previous = previousTime
        var failure: PcapError?
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var bytes: UnsafePointer<UInt8>?
        while count < Self.batchLimit {
            let rc = pcap_next_ex(pcap, &header, &bytes)
            guard rc == 1, let h = header else {
                finished = true
                if rc != PCAP_ERROR_BREAK && rc != 1 {  // -2: no more packets in a savefile
                    failure = PcapError(function: "pcap_next_ex", code: rc, handle: pcap)
                }
                break
            }
            packets &+= 1
            let captured = Int(h.pointee.caplen)
            let time = Int64(h.pointee.ts.tv_sec) &* 1_000_000_000 &+ Int64(h.pointee.ts.tv_usec)
            let data = UnsafeRawBufferPointer(start: bytes, count: bytes == nil ? 0 : captured)
            let location: UInt64
            if let p = position, UInt32(captured) == h.pointee.len {
                location = p &+ 16
                let end = location &+ UInt64(captured)
                position = end
                lastEnd = end
            } else {
                location = slowLocation(captured: captured, originalLength: Int(h.pointee.len))
            }
            // The fast path: exactly the records `RecordCodec.decode` accepts.
            if captured == RecordCodec.recordLengthV1, let base = data.baseAddress {
                let head = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
                let entry = kinds[Int(truncatingIfNeeded: head >> 56)]
                let queueType = base.load(fromByteOffset: 9, as: UInt8.self)
                let recordFlags = base.load(fromByteOffset: 10, as: UInt8.self)
                if head & 0x0000_FFFF_FFFF_FFFF == RecordCodec.fixedPrefixV1,
                    entry.sidePlusOne == UInt8(truncatingIfNeeded: head >> 48) &+ 1, entry.sidePlusOne != 0,
                    queueType <= 1, recordFlags & ~RecordCodec.knownRecordFlags == 0
                {
                    let source = UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 28, as: UInt16.self))
                    if wanted >= 0 && Int(source) != wanted { continue }
                    records &+= 1
                    let a = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
                    (staging + count).initialize(
                        to: Event(
                            kind: entry.kind, time: time, location: location, source: index,
                            controller: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 12, as: UInt16.self)),
                            qid: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 14, as: UInt16.self)),
                            queueType: queueType == 0 ? .sq : .cq, a: a,
                            b: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 20, as: UInt32.self)),
                            c: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 24, as: UInt32.self)),
                            wide: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 32, as: UInt64.self)),
                            flags: base.load(fromByteOffset: 8, as: UInt8.self)))
                    count += 1
                    if time < previous {
                        outOfOrder &+= 1
                        summary.steppedBack(from: previous, to: time, at: location)
                    }
                    previous = time
                    if entry.kind == .recordingEnd { ends &+= 1 }
                    if entry.kind == .dataLoss {
                        dataLoss &+= 1
                        let wide = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
                        lost = lost.saturatingAdding(wide != 0 ? wide : UInt64(a))
                    }
                    continue
                }
            }
            switch RecordCodec.decode(data, time: time) {
            case .failure(let reason):
                guard options.reportsFileDiagnostics else { continue }
                records &+= 1
                summary.noteMalformed(at: location, reason.description)
            case .success(let record):
                // Not reached for records of the fast path's shape; kept for any the fast path
                // leaves out.
                if wanted >= 0 && Int(record.event.source) != wanted { continue }
                records &+= 1
                var event = record.event
                event.source = index
                event.location = location
                if event.time < previous {
                    outOfOrder &+= 1
                    summary.steppedBack(from: previous, to: event.time, at: location)
                }
                previous = event.time
                if event.kind == .recordingEnd { ends &+= 1 }
                if event.kind == .dataLoss {
                    dataLoss &+= 1
                    lost = lost.saturatingAdding(event.lostEvents)
                }
                (staging + count).initialize(to: event)
                count += 1
            }
        }
        previousTime = previous
        summary.records &+= records
        // A recording-end record is where the input went on recording, not an event of it.
        summary.events &+= UInt64(count - ends)
        summary.outOfOrder &+= outOfOrder
        summary.dataLossMarkers &+= dataLoss
        summary.addLostEvents(lost)
        buffer.append(contentsOf: UnsafeBufferPointer(start: staging, count: count))
        if let read = reader.inputOffset { summary.bytes = read }
        if let error = reader.inputError { throw error }
        if let failure { try handle(failure) }
        return !buffer.isEmpty
    }

    /// The location of a record the offset arithmetic does not cover (pcapng, a record cut to
    /// the snapshot length, or no file position), and `lastEnd` / `position` after it.
    private func slowLocation(captured: Int, originalLength: Int) -> UInt64 {
        let end: UInt64?
        if let p = position, captured == originalLength {
            end = p + 16 + UInt64(captured)
        } else {
            // A record cut to the snapshot length may have been longer on disk: ask libpcap.
            end = reader.fileOffset
        }
        if position != nil { position = end }
        let location = recordLocation(capturedLength: captured, end: end)
        lastEnd = end ?? lastEnd
        return location
    }

    /// Truncation ends the input with a diagnostic (everything before it stays analysed);
    /// anything else libpcap cannot read is an input error.
    private func handle(_ error: PcapError) throws(InputError) {
        if error.isTruncation {
            guard options.reportsFileDiagnostics else { return }
            summary.cutShortAt = lastEnd
            summary.noteMalformed(
                at: lastEnd,
                "file is truncated: the record starting at byte \(lastEnd) is cut short by the end of "
                    + "the file (libpcap: \(error.message))")
            return
        }
        if error.isMixedLinkTypes {
            throw InputError.unsupported(
                path: summary.path,
                reason: "this pcapng has interfaces of different link types, which libpcap cannot read "
                    + "(libpcap: \(error.message)). Rewrite it as a pcap of one link type with editcap: "
                    + "`editcap -F pcap -T user0 IN.pcapng OUT.pcap` (packets of the other interfaces "
                    + "then show up as malformed records), or record the ShadowBell events on their own interface")
        }
        throw InputError.readFailed(path: summary.path, offset: lastEnd, reason: "libpcap: \(error.message)")
    }

    private func recordLocation(capturedLength: Int, end: UInt64?) -> UInt64 {
        guard summary.locationUnit == .byteOffset, let end else { return packets }
        if !isPcapng { return end &- UInt64(capturedLength) }
        // pcapng: the block ends at `end`; its total length is repeated in its last 4 bytes.
        var raw: UInt32 = 0
        guard end >= 4 else { return end }
        if blockFD >= 0 {
            guard pread(blockFD, &raw, 4, off_t(end - 4)) == 4 else { return end }
        } else {
            guard withUnsafeMutableBytes(of: &raw, { reader.readBack(at: end - 4, into: $0) }) else { return end }
        }
        let length = UInt64(pcapngBigEndian ? UInt32(bigEndian: raw) : UInt32(littleEndian: raw))
        return length <= end ? end - length : end
    }

    /// Clock domains (original inputs) of one pcap analysed at most: each is read in a pass over
    /// the whole file with a reader of its own, so time grows with their number.
    public static let clockDomainLimit = 32

    /// The original source indices of the records in `path`, ascending: a pcap converted from
    /// k inputs holds k clock domains, one per original input. The whole file is looked at: an
    /// uncompressed classic pcap by its record headers alone (`scanClassic`, no libpcap pass),
    /// any other through libpcap.
    public static func originalSources(path: String) -> [UInt16] {
        if Compression.of(path: path) == nil, let found = scanClassic(path: path) { return found.sorted }
        var seen = SourceSet()
        guard let reader = try? PcapReader(path: path) else { return [] }
        let handle = reader.handle
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var bytes: UnsafePointer<UInt8>?
        while pcap_next_ex(handle, &header, &bytes) == 1, let h = header {
            seen.insert(record: UnsafeRawBufferPointer(start: bytes, count: bytes == nil ? 0 : Int(h.pointee.caplen)))
        }
        return seen.sorted
    }

    /// The original sources of an uncompressed classic pcap, from its record headers and the
    /// first 30 bytes of each record, read in 1 MiB blocks; nil when `path` is no such file (a
    /// pcapng, a compressed file) or its records run past its end where libpcap would say why.
    static func scanClassic(path: String) -> SourceSet? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let blockSize = 1 << 20
        let block = UnsafeMutableRawPointer.allocate(byteCount: blockSize, alignment: 8)
        defer { block.deallocate() }
        var seen = SourceSet()
        // File offset of `block`'s first byte and the bytes in it.
        var blockStart = 0
        var filled = 0
        func fill(from offset: Int) -> Bool {
            blockStart = offset
            filled = 0
            while filled < blockSize {
                let n = pread(fd, block + filled, blockSize - filled, off_t(offset + filled))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                filled += n
            }
            return filled > 0
        }
        guard fill(from: 0), filled >= 24 else { return nil }
        let magic = block.loadUnaligned(as: UInt32.self)
        let swapped: Bool
        switch magic {
        case 0xA1B2_C3D4, 0xA1B2_3C4D: swapped = false
        case 0xD4C3_B2A1, 0x4D3C_B2A1: swapped = true
        default: return nil
        }
        var offset = 24
        let need = RecordCodec.recordLengthV1
        while true {
            let available = blockStart + filled - offset
            // A record's header and what `originalSource` looks at, whole in the block: else
            // the next block starts at the record (unless the file ended in this one).
            if available < 16 + need && filled == blockSize {
                guard fill(from: offset) else { break }
                continue
            }
            guard available >= 16 else { break }  // the end (a cut header: the reader says so)
            let at = block + (offset - blockStart)
            let raw = at.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
            let captured = Int(swapped ? raw.byteSwapped : raw)
            // Beyond any snapshot length libpcap accepts: it refuses the file and says why.
            guard captured <= 0x0100_0000 else { return nil }
            if captured == need {
                guard available >= 16 + need else { break }  // cut short by the end
                seen.insert(record: UnsafeRawBufferPointer(start: at + 16, count: need))
            }
            offset += 16 + captured
        }
        return seen
    }

    /// Original source indices seen, as a bitmap (no hashing per record).
    struct SourceSet {
        private var bits = [UInt64](repeating: 0, count: 1024)
        private(set) var count = 0

        @inline(__always)
        mutating func insert(record bytes: UnsafeRawBufferPointer) {
            guard let source = RecordCodec.originalSource(of: bytes) else { return }
            let word = Int(source >> 6)
            let bit: UInt64 = 1 << UInt64(source & 63)
            if bits[word] & bit == 0 {
                bits[word] |= bit
                count += 1
            }
        }

        var sorted: [UInt16] {
            var result: [UInt16] = []
            for (word, value) in bits.enumerated() where value != 0 {
                for bit in 0..<64 where value & (1 << UInt64(bit)) != 0 { result.append(UInt16(word * 64 + bit)) }
            }
            return result
        }
    }

    /// The first valid record of `path` (of `originalSource` when given), without disturbing
    /// the main reader. Reads as few packets as it must.
    static func firstRecord(path: String, originalSource: UInt16?) -> RecordCodec.Record? {
        guard let reader = try? PcapReader(path: path) else { return nil }
        while let packet = try? reader.next() {
            guard case .success(let record) = RecordCodec.decode(packet.data, time: packet.timeNanoseconds)
            else { continue }
            if let wanted = originalSource, record.event.source != wanted { continue }
            return record
        }
        return nil
    }

    static func readPrefix(path: String, into buffer: inout [UInt8]) -> Int {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        let count = buffer.count
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, count) }
        return max(0, n)
    }

    static func fileSize(path: String) -> UInt64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return UInt64(info.st_size)
    }
}
