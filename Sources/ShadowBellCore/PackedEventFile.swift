#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Events kept in an unlinked temporary file in `$TMPDIR`, packed: about 7–8 bytes per event
/// instead of the 48 of an `Event` in memory, once the file holds `packedFrom` bytes (before
/// that, events are kept as they are: packing costs about 130 instructions an event and
/// unpacking 155, which a small recording does not win back in the system's copies). Appended
/// in batches, read back in order. Memory stays flat whatever the count; the file goes away
/// with the object (or the process).
///
/// Each batch is one block: an 8-byte header (the block's body length and event count, both
/// little-endian UInt32; the count's top bit set for a block of events as they are) and its
/// body, the events one after another. A packed event is two bytes — the kind (5 bits), the
/// queue type, and whether flags and the wide argument follow; then which of a, b, c, qid
/// follow (those that are not 0) and whether the source or controller changed — then its time
/// and location as zigzag LEB128 differences from the block's previous event (the block starts
/// from 0), and the fields the two bytes announce, as LEB128. Blocks are read independently; a
/// block that does not decode exactly (a field past the body's end, an unknown kind, an
/// overlong number, fewer or more bytes than its header says) fails the read.
public final class PackedEventFile: @unchecked Sendable {
    public let fd: Int32
    /// Events written so far.
    @exclusivity(unchecked) public private(set) var count = 0
    /// Bytes written so far.
    @exclusivity(unchecked) public private(set) var size = 0
    @exclusivity(unchecked) private var scratch: UnsafeMutableRawBufferPointer?

    /// The most bytes one event packs into: 2 + time 10 + location 10 + flags 1 + wide 10 +
    /// a, b, c 5 each + qid, source, controller 3 each.
    public static let maxEventBytes = 2 + 10 + 10 + 1 + 10 + 15 + 9
    static let headerBytes = 8
    /// At most this many events per block (a batch longer than that is cut into blocks).
    public static let blockEvents = 4096

    /// Blocks are packed once the file holds this many bytes.
    public let packedFrom: Int
    static let rawFlag: UInt32 = 1 << 31

    /// Nil when no temporary file can be made. `packedFrom`: bytes kept unpacked first.
    public init?(packedFrom: Int = 32 << 20) {
        self.packedFrom = packedFrom
        var template = Array("\(temporaryFileDirectory())/shadowbell-events-XXXXXX".utf8CString)
        fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return nil }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
    }

    deinit {
        close(fd)
        scratch?.deallocate()
    }

    private func buffer(_ bytes: Int) -> UnsafeMutableRawPointer {
        if (scratch?.count ?? 0) < bytes {
            scratch?.deallocate()
            scratch = .allocate(byteCount: max(bytes, 64 << 10), alignment: 16)
        }
        return scratch!.baseAddress!
    }

    /// Empties the file for a new recording.
    public func truncate() -> Bool {
        count = 0
        size = 0
        return ftruncate(fd, 0) == 0
    }

    /// Appends `events`; false when the file cannot take them (the file then holds the blocks
    /// written before).
    public func append(_ events: [Event]) -> Bool {
        events.withUnsafeBufferPointer { all -> Bool in
            var from = 0
            while from < all.count {
                let n = min(Self.blockEvents, all.count - from)
                let out = buffer(Self.headerBytes + n * Self.maxEventBytes)
                let events = UnsafeBufferPointer(rebasing: all[from..<from + n])
                let raw = size < packedFrom
                let body: Int
                if raw {
                    body = n * MemoryLayout<Event>.stride
                    (out + Self.headerBytes).copyMemory(from: events.baseAddress!, byteCount: body)
                } else {
                    body = Self.pack(events, into: out + Self.headerBytes)
                }
                out.storeBytes(of: UInt32(body).littleEndian, toByteOffset: 0, as: UInt32.self)
                out.storeBytes(of: (UInt32(n) | (raw ? Self.rawFlag : 0)).littleEndian, toByteOffset: 4, as: UInt32.self)
                guard writeFully(fd, out, Self.headerBytes + body, at: size) else { return false }
                size += Self.headerBytes + body
                count += n
                from += n
            }
            return true
        }
    }

    /// Replaces `events` with the block at byte `offset` and returns the offset of the next
    /// block; nil when the block cannot be read or does not decode. `offset` must be 0 or an
    /// offset this method returned, below `size`.
    public func readBlock(at offset: Int, into events: inout [Event]) -> Int? {
        events.removeAll(keepingCapacity: true)
        guard offset >= 0, offset + Self.headerBytes <= size else { return nil }
        let head = buffer(Self.headerBytes)
        guard readFully(fd, head, Self.headerBytes, at: offset) else { return nil }
        let body = Int(UInt32(littleEndian: head.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
        let word = UInt32(littleEndian: head.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        let n = Int(word & ~Self.rawFlag)
        guard n > 0, n <= Self.blockEvents, offset + Self.headerBytes + body <= size else { return nil }
        if word & Self.rawFlag != 0 {
            guard body == n * MemoryLayout<Event>.stride else { return nil }
            let bytes = buffer(body)
            guard readFully(fd, bytes, body, at: offset + Self.headerBytes) else { return nil }
            // Events as they were: their kind and queue type bytes must name one (in memory an
            // enum without payloads holds the index of its case). (The layout's constants read
            // once: each is a lazily made global, checked at every access.)
            let kindOffset = Self.kindOffset, kindCount = Self.kindCount
            let queueTypeOffset = Self.queueTypeOffset, queueTypeCount = Self.queueTypeCount
            for k in 0..<n {
                let event = bytes + k * MemoryLayout<Event>.stride
                guard event.load(fromByteOffset: kindOffset, as: UInt8.self) < kindCount,
                    event.load(fromByteOffset: queueTypeOffset, as: UInt8.self) < queueTypeCount
                else { return nil }
            }
            events.append(contentsOf: UnsafeBufferPointer(start: bytes.bindMemory(to: Event.self, capacity: n), count: n))
            return offset + Self.headerBytes + body
        }
        guard body >= 2 * n, body <= n * Self.maxEventBytes else { return nil }
        let bytes = buffer(body + Self.padding + n * MemoryLayout<Event>.stride + MemoryLayout<Event>.alignment)
        guard readFully(fd, bytes, body, at: offset + Self.headerBytes) else { return nil }
        (bytes + body).initializeMemory(as: UInt8.self, repeating: 0, count: Self.padding)
        let decoded = (bytes + body + Self.padding).alignedUp(for: Event.self).bindMemory(to: Event.self, capacity: n)
        guard Self.unpack(bytes, length: body, count: n, into: decoded) else { return nil }
        events.append(contentsOf: UnsafeBufferPointer(start: decoded, count: n))
        return offset + Self.headerBytes + body
    }

    static let kindOffset = MemoryLayout<Event>.offset(of: \Event.kind)!
    static let queueTypeOffset = MemoryLayout<Event>.offset(of: \Event.queueType)!
    static let kindCount = UInt8(EventKind.allCases.count)
    static let queueTypeCount = UInt8(QueueType.allCases.count)

    // MARK: the codec

    /// Packs `events` at `out` (room for `maxEventBytes` each); returns the bytes written.
    @inline(__always)
    public static func pack(_ events: UnsafeBufferPointer<Event>, into out: UnsafeMutableRawPointer) -> Int {
        var p = out.assumingMemoryBound(to: UInt8.self)
        var time: Int64 = 0
        var location: UInt64 = 0
        var source: UInt16 = 0
        var controller: UInt16 = 0
        for e in events {
            var head = e.kind.rawValue | e.queueType.rawValue << 5
            if e.flags != 0 { head |= 0x40 }
            if e.wide != 0 { head |= 0x80 }
            var mask: UInt8 = 0
            if e.a != 0 { mask |= 1 }
            if e.b != 0 { mask |= 2 }
            if e.c != 0 { mask |= 4 }
            if e.qid != 0 { mask |= 8 }
            if e.source != source { mask |= 16 }
            if e.controller != controller { mask |= 32 }
            p[0] = head
            p[1] = mask
            p += 2
            writeVarint(zigzag(e.time &- time), &p)
            writeVarint(zigzag(Int64(bitPattern: e.location &- location)), &p)
            if e.flags != 0 {
                p[0] = e.flags
                p += 1
            }
            if e.wide != 0 { writeVarint(e.wide, &p) }
            if e.a != 0 { writeVarint(UInt64(e.a), &p) }
            if e.b != 0 { writeVarint(UInt64(e.b), &p) }
            if e.c != 0 { writeVarint(UInt64(e.c), &p) }
            if e.qid != 0 { writeVarint(UInt64(e.qid), &p) }
            if e.source != source { writeVarint(UInt64(e.source), &p) }
            if e.controller != controller { writeVarint(UInt64(e.controller), &p) }
            time = e.time
            location = e.location
            source = e.source
            controller = e.controller
        }
        return out.distance(to: UnsafeMutableRawPointer(p))
    }

    /// Bytes of zeros kept after a block's body while it is decoded: more than one event
    /// can take, so the decoder checks its position once per event instead of once per byte.
    static let padding = 64

    /// Appends the `count` events packed in `bytes` to `events`; false unless `bytes` holds
    /// exactly `count` well-formed events.
    public static func unpack(_ bytes: UnsafeRawBufferPointer, count: Int, into events: inout [Event]) -> Bool {
        let padded = UnsafeMutableRawPointer.allocate(byteCount: bytes.count + padding, alignment: 16)
        defer { padded.deallocate() }
        if let base = bytes.baseAddress { padded.copyMemory(from: base, byteCount: bytes.count) }
        (padded + bytes.count).initializeMemory(as: UInt8.self, repeating: 0, count: padding)
        let decoded = UnsafeMutablePointer<Event>.allocate(capacity: max(count, 1))
        defer { decoded.deallocate() }
        guard unpack(padded, length: bytes.count, count: count, into: decoded) else { return false }
        events.append(contentsOf: UnsafeBufferPointer(start: decoded, count: count))
        return true
    }

    /// Decodes the `count` events packed in the `length` bytes at `bytes`, followed by
    /// `padding` bytes of zeros, into `out`; false unless they are exactly `count` well-formed
    /// events (`out` then holds an unspecified prefix of them).
    static func unpack(_ bytes: UnsafeRawPointer, length: Int, count: Int, into out: UnsafeMutablePointer<Event>) -> Bool {
        var p = bytes.assumingMemoryBound(to: UInt8.self)
        let end = p + length
        var time: Int64 = 0
        var location: UInt64 = 0
        var source: UInt16 = 0
        var controller: UInt16 = 0
        // Whether every number fit its field (OR-ed, checked once per event).
        var bad = false
        for k in 0..<count {
            let head = p[0]
            let mask = p[1]
            p += 2
            guard let kind = EventKind(rawValue: head & 0x1F), mask & 0xC0 == 0 else { return false }
            time = time &+ unzigzag(varint(&p, &bad))
            location = location &+ UInt64(bitPattern: unzigzag(varint(&p, &bad)))
            var flags: UInt8 = 0
            if head & 0x40 != 0 {
                flags = p[0]
                p += 1
            }
            let wide = head & 0x80 != 0 ? varint(&p, &bad) : 0
            let a = mask & 1 != 0 ? varint(&p, &bad) : 0
            let b = mask & 2 != 0 ? varint(&p, &bad) : 0
            let c = mask & 4 != 0 ? varint(&p, &bad) : 0
            let qid = mask & 8 != 0 ? varint(&p, &bad) : 0
            if mask & 16 != 0 {
                let s = varint(&p, &bad)
                bad = bad || s > UInt64(UInt16.max)
                source = UInt16(truncatingIfNeeded: s)
            }
            if mask & 32 != 0 {
                let n = varint(&p, &bad)
                bad = bad || n > UInt64(UInt16.max)
                controller = UInt16(truncatingIfNeeded: n)
            }
            guard !bad, p <= end, (a | b | c) >> 32 == 0, qid >> 16 == 0 else { return false }
            (out + k).initialize(
                to: Event(
                    kind: kind, time: time, location: location, source: source, controller: controller,
                    qid: UInt16(truncatingIfNeeded: qid), queueType: head & 0x20 != 0 ? .cq : .sq,
                    a: UInt32(truncatingIfNeeded: a), b: UInt32(truncatingIfNeeded: b),
                    c: UInt32(truncatingIfNeeded: c), wide: wide, flags: flags))
        }
        return p == end
    }

    @inline(__always) static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
    @inline(__always) static func unzigzag(_ v: UInt64) -> Int64 { Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1) }

    @inline(__always)
    static func writeVarint(_ value: UInt64, _ p: inout UnsafeMutablePointer<UInt8>) {
        var v = value
        while v >= 0x80 {
            p[0] = UInt8(truncatingIfNeeded: v) | 0x80
            p += 1
            v >>= 7
        }
        p[0] = UInt8(v)
        p += 1
    }

    /// A LEB128 number at `p` (one or two bytes in the common case); `bad` set when it is longer than
    /// 10 bytes or does not fit 64 bits. Reads at most 10 bytes: within a block's padding.
    @inline(__always)
    static func varint(_ p: inout UnsafePointer<UInt8>, _ bad: inout Bool) -> UInt64 {
        let first = p[0]
        if first < 0x80 {
            p += 1
            return UInt64(first)
        }
        let second = p[1]
        if second < 0x80 {
            // Two bytes: a time difference of a few microseconds.
            p += 2
            return UInt64(first & 0x7F) | UInt64(second) << 7
        }
        p += 1
        return varintTail(UInt64(first & 0x7F), &p, &bad)
    }

    static func varintTail(_ low: UInt64, _ p: inout UnsafePointer<UInt8>, _ bad: inout Bool) -> UInt64 {
        var value = low
        var shift: UInt64 = 7
        while true {
            let byte = p[0]
            p += 1
            if shift == 63 {
                // The tenth byte: one bit left, and no continuation.
                if byte > 1 { bad = true }
                return value | UInt64(byte & 1) << 63
            }
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
    }
}
