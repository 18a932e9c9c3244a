import CTraceCmd
import CZlib
import CZstd
import ShadowBellCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A trace-cmd file that is damaged, or holds what ShadowBell does not read: what, and the
/// byte offset in the file where it was found.
struct TraceDatDamage: Error {
    var offset: UInt64
    var problem: String

    func inputError(path: String) -> InputError {
        .readFailed(
            path: path, offset: offset,
            reason: "trace-cmd file (trace.dat): \(problem); check it with `trace-cmd dump --summary`")
    }
}

/// The bytes of a trace-cmd file, read with `pread`: every offset and length is checked
/// against the file's size before it is read.
final class TraceDatBytes: @unchecked Sendable {
    let fd: Int32
    let size: UInt64

    init(path: String) throws(InputError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size >= 0 else {
            close(fd)
            throw .cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        self.fd = fd
        size = UInt64(st.st_size)
    }

    deinit { close(fd) }

    /// Whether `[offset, offset + count)` lies in the file.
    @inline(__always)
    func contains(_ offset: UInt64, _ count: UInt64) -> Bool {
        offset <= size && count <= size - offset
    }

    /// `what` (`count` bytes at `offset`) does not fit in the file. Where it begins past the
    /// end, the error is at the file's end (the place to look: a file cut short), naming the
    /// offset the file points to (a truncated file's error gave that offset, past its size).
    func pastTheEnd(_ what: String, _ count: UInt64, at offset: UInt64) -> TraceDatDamage {
        guard offset < size else {
            return TraceDatDamage(
                offset: size,
                problem: "the file ends at byte \(size), before \(what) (\(count) bytes at byte \(offset)) that it points to: it is cut short, or that offset is damaged")
        }
        return TraceDatDamage(offset: offset, problem: "\(what) (\(count) bytes) runs past the end of the file (\(size) bytes): it is cut short, or that length is damaged")
    }

    /// Reads `count` bytes at `offset` into `into` (which holds at least `count`).
    func read(_ offset: UInt64, _ count: Int, into: UnsafeMutableRawPointer, what: @autoclosure () -> String)
        throws(TraceDatDamage)
    {
        guard count >= 0 else { throw TraceDatDamage(offset: offset, problem: "\(what()) has a negative length (\(count) bytes)") }
        guard contains(offset, UInt64(count)) else { throw pastTheEnd(what(), UInt64(count), at: offset) }
        var done = 0
        while done < count {
            let n = pread(fd, into + done, count - done, off_t(offset + UInt64(done)))
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                throw TraceDatDamage(offset: offset + UInt64(done), problem: "\(what()) cannot be read: \(n < 0 ? String(cString: strerror(errno)) : "end of file")")
            }
            done += n
        }
    }

    /// `count` bytes at `offset` (metadata: headers, options, formats).
    func bytes(_ offset: UInt64, _ count: UInt64, what: @autoclosure () -> String) throws(TraceDatDamage) -> [UInt8] {
        guard contains(offset, count) else { throw pastTheEnd(what(), count, at: offset) }
        var out = [UInt8](repeating: 0, count: Int(count))
        var failure: TraceDatDamage?
        out.withUnsafeMutableBytes { b in
            guard let base = b.baseAddress else { return }
            do throws(TraceDatDamage) {
                try read(offset, Int(count), into: base, what: what())
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return out
    }
}

/// Little-endian reads in a block of metadata, each checked against the block; errors carry
/// the file offset (`base` + position; for a decompressed section, the section's offset).
struct TraceDatCursor {
    let bytes: [UInt8]
    /// File offset of `bytes[0]`, or of the compressed section `bytes` came from.
    let base: UInt64
    let decompressed: Bool
    var position = 0

    init(_ bytes: [UInt8], base: UInt64, decompressed: Bool = false) {
        self.bytes = bytes
        self.base = base
        self.decompressed = decompressed
    }

    var offset: UInt64 { decompressed ? base : base + UInt64(position) }
    var remaining: Int { bytes.count - position }

    func damage(_ problem: String) -> TraceDatDamage {
        TraceDatDamage(offset: offset, problem: decompressed ? "\(problem) (byte \(position) of the decompressed section)" : problem)
    }

    mutating func number(_ width: Int, _ what: String) throws(TraceDatDamage) -> UInt64 {
        guard remaining >= width else { throw damage("\(what) is cut short") }
        var v: UInt64 = 0
        for i in 0..<width { v |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += width
        return v
    }

    mutating func u16(_ what: String) throws(TraceDatDamage) -> UInt16 { UInt16(try number(2, what)) }
    mutating func u32(_ what: String) throws(TraceDatDamage) -> UInt32 { UInt32(try number(4, what)) }
    mutating func u64(_ what: String) throws(TraceDatDamage) -> UInt64 { try number(8, what) }

    /// A NUL-terminated string.
    mutating func string(_ what: String) throws(TraceDatDamage) -> String {
        guard let end = bytes[position...].firstIndex(of: 0) else { throw damage("\(what) has no end") }
        let s = String(decoding: bytes[position..<end], as: UTF8.self)
        position = end + 1
        return s
    }

    /// The next `count` bytes (`count` from the file: checked).
    mutating func take(_ count: UInt64, _ what: String) throws(TraceDatDamage) -> ArraySlice<UInt8> {
        guard count <= UInt64(remaining) else { throw damage("\(what) (\(count) bytes) runs past its section") }
        let s = bytes[position..<(position + Int(count))]
        position += Int(count)
        return s
    }
}

/// How a file's CPU data and metadata sections are compressed (v7: the header names the
/// algorithm; "none" or v6: not at all).
enum TraceDatCompression: Equatable {
    case none, zstd, zlib

    /// Decompresses `input` into exactly `outputCount` bytes at `output`; false if the data
    /// does not decompress to that size.
    func decompress(
        _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer, _ outputCount: Int, zstd context: OpaquePointer?
    ) -> Bool {
        guard let base = input.baseAddress else { return outputCount == 0 }
        switch self {
        case .none:
            return false
        case .zstd:
            let n = context.map { ZSTD_decompressDCtx($0, output, outputCount, base, input.count) }
                ?? ZSTD_decompress(output, outputCount, base, input.count)
            return ZSTD_isError(n) == 0 && n == outputCount
        case .zlib:
            var length = uLongf(outputCount)
            let r = uncompress(output.assumingMemoryBound(to: Bytef.self), &length, base.assumingMemoryBound(to: Bytef.self), uLong(input.count))
            return r == Z_OK && Int(length) == outputCount
        }
    }
}

/// One CPU's data in one buffer (the top-level buffer or an instance): pages, stored as they
/// are or as a list of compressed chunks.
struct TraceDatStream {
    var buffer: Int
    var cpu: UInt32
    /// File offset and length of the CPU's data (for compressed data: the chunk list).
    var offset: UInt64
    var length: UInt64
    var pageSize: Int
    var compressed: Bool
}

/// Everything `TraceDatEventSource` needs from a trace-cmd file's header, options and
/// sections: the event formats (parsed by libtraceevent), the ring-buffer page layout, the
/// per-CPU data of every buffer and the timestamp adjustments. Kallsyms and the saved
/// command lines are skipped; of the event formats only those ShadowBell decodes are parsed.
final class TraceDatLayout {
    static let magic: [UInt8] = [0x17, 0x08, 0x44] + Array("tracing".utf8)
    /// The event formats ShadowBell decodes (system, event).
    static let formatsWanted: [(String, String)] = [
        ("nvme", "nvme_setup_cmd"), ("nvme", "nvme_complete_rq"), ("nvme", "nvme_sq"),
        ("ftrace", "print"), ("ftrace", "bprint"), ("ftrace", "bputs"),
    ]
    /// Largest metadata section read or decompressed (formats, printk strings, options).
    static let metadataLimit: UInt64 = 256 << 20
    /// Most CPU data streams (CPUs of all buffers) read: each holds a unit in memory.
    static let streamLimit = 4096

    let file: TraceDatBytes
    // Every stored property has its value once `tep` is allocated: a damaged file's error,
    // thrown from here on, runs `deinit`, which frees it.
    @exclusivity(unchecked) private(set) var version = 0
    @exclusivity(unchecked) private(set) var compression = TraceDatCompression.none
    /// `long` of the traced kernel: the size of a page's commit field.
    @exclusivity(unchecked) private(set) var commitSize = 8
    @exclusivity(unchecked) private(set) var pageSize = 4096
    let tep: OpaquePointer
    @exclusivity(unchecked) private(set) var streams: [TraceDatStream] = []
    /// Buffer names, the top-level one first (`""`).
    @exclusivity(unchecked) private(set) var bufferNames: [String] = [""]
    /// Timestamp adjustments of the options: TSC2NSEC (mult, shift), DATE and OFFSET (ns).
    @exclusivity(unchecked) private(set) var tscMult: UInt32 = 0
    @exclusivity(unchecked) private(set) var tscShift: UInt32 = 0
    @exclusivity(unchecked) private(set) var tsOffset: Int64 = 0

    @exclusivity(unchecked) private var cpuCount: UInt32 = 0
    @exclusivity(unchecked) private var v6BufferOffsets: [(name: String, offset: UInt64)] = []

    init(file: TraceDatBytes) throws(TraceDatDamage) {
        self.file = file
        guard let tep = tep_alloc() else { throw TraceDatDamage(offset: 0, problem: "libtraceevent cannot allocate") }
        self.tep = tep
        let head = try file.bytes(0, min(file.size, 4096), what: "the file header")
        var c = TraceDatCursor(head, base: 0)
        guard Array(try c.take(10, "the magic")) == Self.magic else {
            throw TraceDatDamage(offset: 0, problem: "no trace-cmd magic")
        }
        let versionText = try c.string("the version")
        guard let v = Int(versionText), v == 6 || v == 7 else {
            throw TraceDatDamage(offset: 10, problem: "file version \(versionText) (ShadowBell reads versions 6 and 7)")
        }
        version = v
        let endian = try c.number(1, "the endianness")
        guard endian == 0 else {
            throw TraceDatDamage(offset: c.offset - 1, problem: "a big-endian file (recorded on a big-endian machine); ShadowBell reads little-endian ones")
        }
        let longSize = try c.number(1, "the long size")
        guard longSize == 4 || longSize == 8 else { throw c.damage("long size \(longSize) (4 or 8 expected)") }
        commitSize = Int(longSize)
        let page = try c.u32("the page size")
        guard Self.validPageSize(UInt64(page)) else { throw c.damage("page size \(page)") }
        pageSize = Int(page)
        tep_set_file_bigendian(tep, TEP_LITTLE_ENDIAN)
        tep_set_local_bigendian(tep, TEP_LITTLE_ENDIAN)
        tep_set_long_size(tep, Int32(longSize))
        tep_set_page_size(tep, Int32(page))
        if version >= 7 {
            let name = try c.string("the compression name")
            _ = try c.string("the compression version")
            switch name {
            case "none", "": compression = .none
            case "zstd": compression = .zstd
            case "zlib": compression = .zlib
            default: throw c.damage("compression \"\(name)\" (ShadowBell reads zstd, zlib and none)")
            }
            let options = try c.u64("the offset of the options")
            try readV7(optionsAt: options)
        } else {
            compression = .none
            try readV6(from: UInt64(c.position))
        }
    }

    deinit { tep_free(tep) }

    static func validPageSize(_ size: UInt64) -> Bool { size >= 64 && size <= 64 << 20 }

    // MARK: Version 6: one sequence of headers, then options and the CPU data offsets.

    private func readV6(from start: UInt64) throws(TraceDatDamage) {
        var at = start
        at = try headerInfo(at)
        // ftrace formats, then the formats of each event system.
        at = try formats(at, system: "ftrace")
        let systems = try number(at, 4, "the number of event systems")
        at += 4
        for _ in 0..<systems {
            let name = try string(at, "an event system's name")
            at += UInt64(name.utf8.count + 1)
            at = try formats(at, system: name)
        }
        // kallsyms (skipped), printk formats, saved command lines (skipped).
        at = try past(at + 4, try number(at, 4, "the kallsyms size"), "the kallsyms")
        let printk = try number(at, 4, "the printk formats' size")
        try printkFormats(file.bytes(at + 4, printk, what: "the printk formats"))
        at += 4 + printk
        at = try past(at + 8, try number(at, 8, "the saved command lines' size"), "the saved command lines")
        cpuCount = UInt32(try number(at, 4, "the CPU count"))
        at += 4
        var kind = try file.bytes(at, 10, what: "the data kind")
        at += 10
        if kind.starts(with: Array("options".utf8)) {
            at = try optionsV6(at)
            kind = try file.bytes(at, 10, what: "the data kind")
            at += 10
        }
        try flyrecordV6(kind, at: at, buffer: 0)
        for (i, b) in v6BufferOffsets.enumerated() {
            bufferNames.append(b.name)
            let kind = try file.bytes(b.offset, 10, what: "buffer \(b.name)'s data kind")
            try flyrecordV6(kind, at: b.offset + 10, buffer: i + 1)
        }
    }

    private func flyrecordV6(_ kind: [UInt8], at: UInt64, buffer: Int) throws(TraceDatDamage) {
        if kind.starts(with: Array("latency".utf8)) {
            throw TraceDatDamage(offset: at - 10, problem: "a latency trace (text, not ring-buffer pages); read `trace-cmd report`'s text of it")
        }
        guard kind.starts(with: Array("flyrecord".utf8)) else {
            throw TraceDatDamage(offset: at - 10, problem: "neither flyrecord nor latency data")
        }
        guard UInt64(cpuCount) * 16 <= file.size else { throw TraceDatDamage(offset: at, problem: "\(cpuCount) CPUs") }
        let table = try file.bytes(at, UInt64(cpuCount) * 16, what: "the CPU data offsets")
        var c = TraceDatCursor(table, base: at)
        for cpu in 0..<cpuCount {
            let offset = try c.u64("CPU \(cpu)'s data offset")
            let length = try c.u64("CPU \(cpu)'s data size")
            try addStream(buffer: buffer, cpu: cpu, offset: offset, length: length, pageSize: pageSize, compressed: false, at: c.offset - 16)
        }
    }

    private func optionsV6(_ start: UInt64) throws(TraceDatDamage) -> UInt64 {
        var at = start
        while true {
            let id = try number(at, 2, "an option's id")
            at += 2
            if id == 0 { return at }
            let size = try number(at, 4, "an option's size")
            at += 4
            let data = try file.bytes(at, size, what: "option \(id)")
            try option(UInt16(id), TraceDatCursor(data, base: at))
            at += size
        }
    }

    // MARK: Version 7: sections, located by the options.

    private func readV7(optionsAt first: UInt64) throws(TraceDatDamage) {
        var next = first
        var seen = Set<UInt64>()
        var sections: [(id: UInt16, offset: UInt64)] = []
        var buffers: [(cursor: TraceDatCursor, text: Bool)] = []
        while next != 0 {
            guard seen.insert(next).inserted else { throw TraceDatDamage(offset: next, problem: "the options sections form a loop") }
            var c = try section(at: next, expecting: 0, "an options section")
            next = 0
            while c.remaining > 0 {
                let id = try c.u16("an option's id")
                let size = try c.u32("an option's size")
                let body = try c.take(UInt64(size), "option \(id)")
                var data =
                    c.decompressed
                    ? TraceDatCursor(Array(body), base: c.base, decompressed: true)
                    : TraceDatCursor(Array(body), base: c.offset - UInt64(size))
                switch id {
                case 0:
                    next = try data.u64("the next options' offset")
                case 3, 22:
                    buffers.append((data, id == 22))
                case 16...21:
                    sections.append((id, try data.u64("a section's offset")))
                default:
                    try option(id, data)
                }
                if id == 0 { break }
            }
        }
        for id: UInt16 in [16, 17, 18, 20] {
            guard let s = sections.last(where: { $0.id == id }) else {
                if id == 20 { continue }
                throw TraceDatDamage(offset: first, problem: "no section \(id) (\(["16": "ring-buffer header", "17": "ftrace formats", "18": "event formats"]["\(id)"] ?? ""))")
            }
            let c = try section(at: s.offset, expecting: id, "section \(id)")
            switch id {
            case 16: _ = try headerInfo(c)
            case 17: _ = try formats(c, system: "ftrace")
            case 18:
                var c = c
                let systems = try c.u32("the number of event systems")
                for _ in 0..<systems {
                    let name = try c.string("an event system's name")
                    c = try formats(c, system: name)
                }
            default:
                var c = c
                let size = try c.u32("the printk formats' size")
                try printkFormats(Array(try c.take(UInt64(size), "the printk formats")))
            }
        }
        for b in buffers {
            var c = b.cursor
            let offset = try c.u64("a buffer's data offset")
            let name = try c.string("a buffer's name")
            _ = try c.string("a buffer's clock")
            if b.text {
                throw TraceDatDamage(offset: offset, problem: "a latency trace (text, not ring-buffer pages); read `trace-cmd report`'s text of it")
            }
            let page = try c.u32("buffer \(name)'s page size")
            guard Self.validPageSize(UInt64(page)) else { throw c.damage("buffer \(name)'s page size \(page)") }
            let cpus = try c.u32("buffer \(name)'s CPU count")
            guard UInt64(cpus) * 20 <= UInt64(c.remaining) else { throw c.damage("buffer \(name)'s \(cpus) CPUs") }
            // The data section's header: whether the CPU data is compressed.
            let header = try file.bytes(offset, 16, what: "buffer \(name)'s data section")
            var h = TraceDatCursor(header, base: offset)
            _ = try h.u16("the section id")
            let flags = try h.u16("the section flags")
            let compressed = flags & 1 != 0
            if compressed && compression == .none {
                throw TraceDatDamage(offset: offset, problem: "buffer \(name)'s data is compressed but the file names no compression")
            }
            let index: Int
            if name.isEmpty, !streams.contains(where: { $0.buffer == 0 }) {
                index = 0
            } else {
                bufferNames.append(name)
                index = bufferNames.count - 1
            }
            for _ in 0..<cpus {
                let cpu = try c.u32("a CPU number")
                let at = c.offset
                let dataOffset = try c.u64("CPU \(cpu)'s data offset")
                let length = try c.u64("CPU \(cpu)'s data size")
                try addStream(buffer: index, cpu: cpu, offset: dataOffset, length: length, pageSize: Int(page), compressed: compressed, at: at)
            }
        }
        // The top-level buffer first, then instances in file order (as libtracecmd merges).
        streams.sort { ($0.buffer, $0.cpu) < ($1.buffer, $1.cpu) }
    }

    /// A section's contents at `offset` (header: id, flags, description, size), decompressed
    /// when its flags say so.
    private func section(at offset: UInt64, expecting id: UInt16, _ what: String) throws(TraceDatDamage) -> TraceDatCursor {
        var h = TraceDatCursor(try file.bytes(offset, 16, what: "\(what)'s header"), base: offset)
        let found = try h.u16("the section id")
        guard found == id else { throw TraceDatDamage(offset: offset, problem: "\(what) has id \(found)") }
        let flags = try h.u16("the section flags")
        _ = try h.u32("the section description")
        let size = try h.u64("the section size")
        guard size <= Self.metadataLimit else { throw TraceDatDamage(offset: offset, problem: "\(what) of \(size) bytes") }
        let data = try file.bytes(offset + 16, size, what: what)
        guard flags & 1 != 0 else { return TraceDatCursor(data, base: offset + 16) }
        var z = TraceDatCursor(data, base: offset + 16)
        let zsize = try z.u32("the compressed size")
        let usize = try z.u32("the decompressed size")
        guard UInt64(usize) <= Self.metadataLimit else { throw z.damage("\(what) decompresses to \(usize) bytes") }
        let compressed = try z.take(UInt64(zsize), "\(what)'s compressed data")
        var out = [UInt8](repeating: 0, count: Int(usize))
        let ok = compressed.withUnsafeBytes { input in
            out.withUnsafeMutableBytes { o in
                compression.decompress(input, into: o.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 1)!, Int(usize), zstd: nil)
            }
        }
        guard ok || usize == 0 else { throw TraceDatDamage(offset: offset, problem: "\(what) does not decompress (\(compression))") }
        return TraceDatCursor(out, base: offset, decompressed: true)
    }

    // MARK: Shared parts.

    private func addStream(
        buffer: Int, cpu: UInt32, offset: UInt64, length: UInt64, pageSize: Int, compressed: Bool, at: UInt64
    ) throws(TraceDatDamage) {
        guard length > 0 else { return }
        guard streams.count < Self.streamLimit else {
            throw TraceDatDamage(offset: at, problem: "more than \(Self.streamLimit) CPU data streams (CPUs × buffers)")
        }
        guard file.contains(offset, length) else { throw file.pastTheEnd("CPU \(cpu)'s data", length, at: offset) }
        streams.append(TraceDatStream(buffer: buffer, cpu: cpu, offset: offset, length: length, pageSize: pageSize, compressed: compressed))
    }

    /// The options ShadowBell uses: timestamp adjustments and (v6) instance buffers.
    private func option(_ id: UInt16, _ data: TraceDatCursor) throws(TraceDatDamage) {
        var c = data
        let data = c.bytes
        switch id {
        case 1, 7:  // DATE (µs, text), OFFSET (ns, text)
            let text = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self).trimmingSpaces
            let value: Int64? =
                text.hasPrefix("0x") || text.hasPrefix("0X") ? Int64(text.dropFirst(2), radix: 16)
                : text.hasPrefix("-0x") ? Int64(text.dropFirst(3), radix: 16).map { -$0 } : Int64(text)
            guard var v = value else { return }
            if id == 1 { v = v.multipliedReportingOverflow(by: 1000).partialValue }
            tsOffset = tsOffset &+ v
        case 3:  // v6 BUFFER: offset, name
            let offset = try c.u64("an instance buffer's offset")
            let name = try c.string("an instance buffer's name")
            v6BufferOffsets.append((name, offset))
        case 8:  // CPUCOUNT
            cpuCount = try c.u32("the CPU count")
        case 14:  // TSC2NSEC: mult, shift, offset
            guard c.remaining >= 16 else { return }
            tscMult = try c.u32("the TSC multiplier")
            tscShift = min(try c.u32("the TSC shift"), 63)
        default:
            break
        }
    }

    /// `header_page` (the commit field's size) and `header_event`.
    private func headerInfo(_ start: UInt64) throws(TraceDatDamage) -> UInt64 {
        let page = try file.bytes(start, 12, what: "the ring-buffer header")
        guard page == Array("header_page".utf8) + [0] else { throw TraceDatDamage(offset: start, problem: "no header_page") }
        let size = try number(start + 12, 8, "header_page's size")
        guard size <= Self.metadataLimit else { throw TraceDatDamage(offset: start, problem: "header_page of \(size) bytes") }
        try headerPage(try file.bytes(start + 20, size, what: "header_page"), at: start)
        let eventAt = start + 20 + size
        let event = try file.bytes(eventAt, 13, what: "header_event")
        guard event == Array("header_event".utf8) + [0] else { throw TraceDatDamage(offset: eventAt, problem: "no header_event") }
        let eventSize = try number(eventAt + 13, 8, "header_event's size")
        return try past(eventAt + 21, eventSize, "header_event")
    }

    /// The offset just past `size` bytes at `at`, when the file holds them (a size read from
    /// a damaged file may reach beyond it, or beyond 2^64: found by the `tracedat` fuzz target).
    private func past(_ at: UInt64, _ size: UInt64, _ what: String) throws(TraceDatDamage) -> UInt64 {
        guard file.contains(at, size) else { throw TraceDatDamage(offset: at, problem: "\(what) of \(size) bytes, beyond the file's end") }
        return at + size
    }

    private func headerInfo(_ cursor: TraceDatCursor) throws(TraceDatDamage) -> TraceDatCursor {
        var c = cursor
        guard Array(try c.take(12, "header_page")) == Array("header_page".utf8) + [0] else { throw c.damage("no header_page") }
        let size = try c.u64("header_page's size")
        try headerPage(Array(try c.take(size, "header_page")), at: c.offset)
        guard Array(try c.take(13, "header_event")) == Array("header_event".utf8) + [0] else { throw c.damage("no header_event") }
        _ = try c.take(try c.u64("header_event's size"), "header_event")
        return c
    }

    private func headerPage(_ text: [UInt8], at offset: UInt64) throws(TraceDatDamage) {
        var buf = text + [0]
        let ok = buf.withUnsafeMutableBufferPointer { b in
            b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) {
                tep_parse_header_page(tep, $0, UInt(text.count), Int32(commitSize))
            }
        }
        guard ok == 0 else { throw TraceDatDamage(offset: offset, problem: "header_page cannot be parsed") }
        let commit = tep_get_header_page_size(tep)
        guard commit == 4 || commit == 8 else { throw TraceDatDamage(offset: offset, problem: "a page commit field of \(commit) bytes") }
        commitSize = Int(commit)
        guard tep_get_header_timestamp_size(tep) == 8 else {
            throw TraceDatDamage(offset: offset, problem: "a page timestamp that is not 8 bytes")
        }
    }

    /// A count of formats, each a size and its text; those ShadowBell decodes are parsed.
    private func formats(_ start: UInt64, system: String) throws(TraceDatDamage) -> UInt64 {
        var at = start
        let count = try number(at, 4, "the number of \(system) formats")
        at += 4
        for _ in 0..<count {
            let size = try number(at, 8, "a \(system) format's size")
            at += 8
            guard file.contains(at, size) else { throw TraceDatDamage(offset: at - 8, problem: "a \(system) format of \(size) bytes") }
            if wants(system) {
                try parseFormat(file.bytes(at, size, what: "a \(system) format")[...], system: system, at: at)
            }
            at += size
        }
        return at
    }

    private func formats(_ cursor: TraceDatCursor, system: String) throws(TraceDatDamage) -> TraceDatCursor {
        var c = cursor
        let count = try c.u32("the number of \(system) formats")
        for _ in 0..<count {
            let size = try c.u64("a \(system) format's size")
            let at = c.offset
            let text = try c.take(size, "a \(system) format")
            if wants(system) { try parseFormat(text, system: system, at: at) }
        }
        return c
    }

    private func wants(_ system: String) -> Bool { Self.formatsWanted.contains { $0.0 == system } }

    /// `tep_parse_event` for a format whose `name:` is one ShadowBell decodes.
    private func parseFormat(_ text: ArraySlice<UInt8>, system: String, at offset: UInt64) throws(TraceDatDamage) {
        let prefix = Array("name: ".utf8)
        guard text.starts(with: prefix) else { return }
        let nameEnd = text[(text.startIndex + prefix.count)...].firstIndex { $0 == 0x0A || $0 == 0x0D || $0 == 0 } ?? text.endIndex
        let name = String(decoding: text[(text.startIndex + prefix.count)..<nameEnd], as: UTF8.self)
        guard Self.formatsWanted.contains(where: { $0 == (system, name) }), Self.isWellFormedFormat(text) else { return }
        let buf = Array(text) + [0]
        let r = buf.withUnsafeBufferPointer { b in
            b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) {
                tep_parse_event(tep, $0, UInt(text.count), system)
            }
        }
        // A format libtraceevent cannot parse leaves that event unread (as libtracecmd does).
        _ = r
        _ = offset
    }

    /// Whether an event format has the shape the kernel writes: printable ASCII lines, `name:`,
    /// `ID:`, `format:`, field lines `\tfield:…;\toffset:N;\tsize:N;\tsigned:N;` and a last
    /// `print fmt:` line. Only such a format reaches libtraceevent: its parser dereferences a
    /// null pointer on a format cut inside a field line (found by the `tracedat` fuzz target).
    /// A format of any other shape leaves its event unread, as one libtraceevent refuses does.
    static func isWellFormedFormat(_ text: ArraySlice<UInt8>) -> Bool {
        var body = text
        while let last = body.last, last == 0 || last == 0x0A { body.removeLast() }
        guard body.allSatisfy({ $0 == 0x09 || $0 == 0x0A || (0x20...0x7E).contains($0) }) else { return false }
        let lines = body.split(separator: 0x0A, omittingEmptySubsequences: true)
        guard lines.count >= 4, lines[lines.startIndex].starts(with: Array("name: ".utf8)),
            lines[lines.startIndex + 1].starts(with: Array("ID: ".utf8)),
            lines[lines.startIndex + 2].elementsEqual("format:".utf8),
            lines[lines.endIndex - 1].starts(with: Array("print fmt: ".utf8)),
            !hasDivision(lines[lines.endIndex - 1].dropFirst(11))
        else { return false }
        let field = Array("\tfield:".utf8)
        for line in lines.dropFirst(3).dropLast() {
            guard line.starts(with: field) else { return false }
            let parts = line.dropFirst(field.count).split(separator: 0x3B, omittingEmptySubsequences: false)  // ';'
            // declaration; offset; size; signed; and what follows the last ';'
            guard parts.count == 5, !parts[0].isEmpty, parts[4].allSatisfy({ $0 == 0x20 || $0 == 0x09 }) else { return false }
            for (k, label) in ["\toffset:", "\tsize:", "\tsigned:"].enumerated() {
                let part = parts[k + 1]
                guard part.starts(with: Array(label.utf8)) else { return false }
                let digits = part.dropFirst(label.utf8.count)
                guard !digits.isEmpty, digits.count <= 10, digits.allSatisfy({ (0x30...0x39).contains($0) }) else { return false }
            }
        }
        return true
    }

    /// Whether a print format's arguments (outside its string and character literals) divide:
    /// libtraceevent evaluates constant operands while it parses, and a division by zero
    /// there stops the process with SIGFPE (`R/C->buf`, found by the `tracedat` fuzz target).
    /// The events ShadowBell reads (nvme, ftrace print) never divide in their arguments.
    static func hasDivision(_ printFmt: ArraySlice<UInt8>) -> Bool {
        var quote: UInt8? = nil
        var escaped = false
        for b in printFmt {
            if let q = quote {
                if escaped {
                    escaped = false
                } else if b == 0x5C {  // backslash
                    escaped = true
                } else if b == q {
                    quote = nil
                }
            } else if b == 0x22 || b == 0x27 {
                quote = b
            } else if b == 0x2F || b == 0x25 {  // '/' or '%'
                return true
            }
        }
        return false
    }

    /// The printk formats (`0xADDR : "format"` lines), for `trace_printk` probes. Only lines of
    /// exactly that shape, with a format of at least two bytes, reach libtraceevent: its parser
    /// reads before the start of a shorter format and past the end of a line without ` : `
    /// (found by the `tracedat` fuzz target).
    private func printkFormats(_ text: [UInt8]) throws(TraceDatDamage) {
        let kept = Self.wellFormedPrintkLines(text)
        guard !kept.isEmpty else { return }
        var buf = kept + [0]
        buf.withUnsafeMutableBufferPointer { b in
            b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { _ = tep_parse_printk_formats(tep, $0) }
        }
    }

    /// The lines of `text` shaped `0x<hex> : "<format>"` (format ≥ 2 bytes, no NUL), each ended
    /// by a newline.
    static func wellFormedPrintkLines(_ text: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for line in text.split(separator: 0x0A, omittingEmptySubsequences: true) {
            let l = Array(line)
            guard l.count >= 3, l[0] == UInt8(ascii: "0"), l[1] == UInt8(ascii: "x"), !l.contains(0) else { continue }
            var i = 2
            while i < l.count, (l[i] >= UInt8(ascii: "0") && l[i] <= UInt8(ascii: "9")) || (l[i] | 0x20 >= UInt8(ascii: "a") && l[i] | 0x20 <= UInt8(ascii: "f")) { i += 1 }
            // ` : "` then at least two bytes and a closing quote, nothing after it.
            guard i > 2, i + 3 < l.count, l[i] == UInt8(ascii: " "), l[i + 1] == UInt8(ascii: ":"), l[i + 2] == UInt8(ascii: " "),
                l[i + 3] == UInt8(ascii: "\""), l.count - (i + 4) >= 3, l[l.count - 1] == UInt8(ascii: "\"")
            else { continue }
            out += l
            out.append(0x0A)
        }
        return out
    }

    private func number(_ at: UInt64, _ width: Int, _ what: String) throws(TraceDatDamage) -> UInt64 {
        var c = TraceDatCursor(try file.bytes(at, UInt64(width), what: what), base: at)
        return try c.number(width, what)
    }

    private func string(_ at: UInt64, _ what: String) throws(TraceDatDamage) -> String {
        let chunk = try file.bytes(at, min(256, file.size - min(at, file.size)), what: what)
        var c = TraceDatCursor(chunk, base: at)
        return try c.string(what)
    }

    /// A record's timestamp as libtracecmd reports it: TSC cycles to ns when the file says
    /// how, then the DATE / OFFSET options' offset.
    @inline(__always)
    func adjust(_ ts: UInt64) -> UInt64 {
        var t = ts
        if tscMult != 0 {
            let p = t.multipliedFullWidth(by: UInt64(tscMult))
            t = tscShift == 0 ? p.low : (p.low >> UInt64(tscShift)) | (p.high << (64 - UInt64(tscShift)))
        }
        return t &+ UInt64(bitPattern: tsOffset)
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\n" || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\n" || l == "\t" { s.removeLast() }
        return String(s)
    }
}
