import ShadowBellCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Events kept packed in a temporary file (`PackedEventFile`).
struct PackedEventFileTests {
    /// Events whose every field takes values from 0 to its maximum, times and locations going
    /// back and forth, of every kind.
    static func randomEvents(_ count: Int, seed: UInt64) -> [Event] {
        var r = SplitMix64(seed: seed)
        var time: Int64 = Int64(r.next() % 1_000_000)
        var location: UInt64 = 1
        func pick(_ bits: UInt64) -> UInt64 {
            // Mostly small values (as in traces), sometimes zero, sometimes the whole range.
            let all = bits == 64 ? UInt64.max : (1 << bits) - 1
            switch r.next() % 8 {
            case 0: return 0
            case 1: return r.next() & all
            case 2: return all
            default: return min(r.next() % 300, all)
            }
        }
        return (0..<count).map { _ in
            switch r.next() % 16 {
            case 0: time = Int64(bitPattern: r.next())
            case 1: time = Int64.min &+ Int64(r.next() % 10)
            case 2: time &-= Int64(r.next() % 100_000)
            default: time &+= Int64(r.next() % 20_000)
            }
            location = r.next() % 32 == 0 ? r.next() : location &+ r.next() % 4
            let kinds = EventKind.allCases
            return Event(
                kind: kinds[Int(r.next() % UInt64(kinds.count))], time: time, location: location,
                source: UInt16(r.next() % 8 == 0 ? pick(16) : 1), controller: UInt16(r.next() % 8 == 0 ? pick(16) : 0),
                qid: UInt16(pick(16)), queueType: r.next() % 2 == 0 ? .sq : .cq, a: UInt32(pick(32)),
                b: UInt32(pick(32)), c: UInt32(pick(32)), wide: r.next() % 4 == 0 ? pick(64) : 0,
                flags: UInt8(pick(8)))
        }
    }

    static func readAll(_ file: PackedEventFile) -> [Event]? {
        var all: [Event] = []
        var buffer: [Event] = []
        var next = 0
        while next < file.size {
            guard let after = file.readBlock(at: next, into: &buffer) else { return nil }
            all += buffer
            next = after
        }
        return all
    }

    /// Packed from the start, from 100,000 bytes on (raw blocks, then packed ones), never.
    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64], [0, 100_000, Int.max])
    func everyFieldComesBackExactly(seed: UInt64, packedFrom: Int) throws {
        let file = try #require(PackedEventFile(packedFrom: packedFrom))
        let events = Self.randomEvents(20_000, seed: seed)
        var from = 0
        var r = SplitMix64(seed: seed &* 31)
        while from < events.count {
            // Batches of any length, longer than a block too.
            let n = min(events.count - from, Int(r.next() % 9_000) + 1)
            #expect(file.append(Array(events[from..<from + n])))
            from += n
        }
        #expect(file.count == events.count)
        #expect(Self.readAll(file) == events)
        if packedFrom == 0 { #expect(file.size < events.count * MemoryLayout<Event>.stride) }
        if packedFrom == .max { #expect(file.size > events.count * MemoryLayout<Event>.stride) }
    }

    @Test func traceLikeEventsTakeAFewBytesEach() throws {
        let file = try #require(PackedEventFile(packedFrom: 0))
        var events: [Event] = []
        for k in 0..<10_000 {
            let time = 1_000_000 + Int64(k) * 2_500
            let qid = UInt16(1 + k % 2)
            events.append(
                Event.queueValue(
                    .controllerShadowRead, .sq, qid: qid, value: UInt32(k % 64), time: time, location: UInt64(2 * k + 1),
                    source: 1))
        }
        #expect(file.append(events))
        #expect(file.size <= 10_000 * 8 + 8 * 3)
        #expect(Self.readAll(file) == events)
    }

    /// A block whose bytes were changed is refused as a whole, or reads back as other valid
    /// events — never a crash, never a read past its body.
    @Test func aDamagedBlockIsRefusedOrReadsWithinItsBytes() throws {
        let events = Self.randomEvents(300, seed: 9)
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: events.count * PackedEventFile.maxEventBytes, alignment: 16)
        defer { bytes.deallocate() }
        let length = events.withUnsafeBufferPointer { PackedEventFile.pack($0, into: bytes) }
        var out: [Event] = []
        #expect(PackedEventFile.unpack(UnsafeRawBufferPointer(start: bytes, count: length), count: events.count, into: &out))
        #expect(out == events)
        // Cut short, or told of one event more or fewer: refused.
        out = []
        #expect(!PackedEventFile.unpack(UnsafeRawBufferPointer(start: bytes, count: length - 1), count: events.count, into: &out))
        out = []
        #expect(!PackedEventFile.unpack(UnsafeRawBufferPointer(start: bytes, count: length), count: events.count + 1, into: &out))
        out = []
        #expect(!PackedEventFile.unpack(UnsafeRawBufferPointer(start: bytes, count: length), count: events.count - 1, into: &out))
        // Every byte changed to a few values: decodes or is refused, within the bytes given.
        let copy = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: 16)
        defer { copy.deallocate() }
        for k in 0..<min(length, 400) {
            for v: UInt8 in [0x00, 0x1F, 0x7F, 0x80, 0xFF] {
                copy.copyMemory(from: bytes, byteCount: length)
                copy.storeBytes(of: v, toByteOffset: k, as: UInt8.self)
                out = []
                if PackedEventFile.unpack(UnsafeRawBufferPointer(start: copy, count: length), count: events.count, into: &out) {
                    #expect(out.count == events.count)
                }
            }
        }
    }

    @Test(arguments: [0, Int.max])
    func aFileCutShortFailsTheReadWhereItIsCut(packedFrom: Int) throws {
        let file = try #require(PackedEventFile(packedFrom: packedFrom))
        #expect(file.append(Self.randomEvents(10_000, seed: 4)))
        var buffer: [Event] = []
        let second = try #require(file.readBlock(at: 0, into: &buffer))
        #expect(buffer.count == PackedEventFile.blockEvents)
        let third = try #require(file.readBlock(at: second, into: &buffer))
        #expect(ftruncate(file.fd, off_t(file.size - 3)) == 0)
        #expect(file.readBlock(at: third, into: &buffer) == nil && buffer.isEmpty)
        #expect(file.readBlock(at: file.size, into: &buffer) == nil)
        #expect(file.truncate() && file.count == 0 && file.size == 0)
        #expect(file.readBlock(at: 0, into: &buffer) == nil)
    }

    /// Events kept as they are: a block whose kind or queue type byte names none is refused.
    @Test func anUnpackedBlockWithAnUnknownKindIsRefused() throws {
        let file = try #require(PackedEventFile(packedFrom: .max))
        #expect(file.append(Self.randomEvents(100, seed: 2)))
        var buffer: [Event] = []
        #expect(file.readBlock(at: 0, into: &buffer) == file.size && buffer.count == 100)
        let kindAt = 8 + 37 * MemoryLayout<Event>.stride + MemoryLayout<Event>.offset(of: \Event.kind)!
        var bad: UInt8 = 0xFF
        #expect(pwrite(file.fd, &bad, 1, off_t(kindAt)) == 1)
        #expect(file.readBlock(at: 0, into: &buffer) == nil && buffer.isEmpty)
    }
}
