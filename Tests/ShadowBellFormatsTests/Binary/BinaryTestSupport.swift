import Foundation
import ShadowBellCore

@testable import ShadowBellFormats

/// Deterministic generator for property-style tests (SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A fresh directory under the system temporary directory, removed by `cleanup()`.
final class TemporaryDirectory {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("shadowbell-binary-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let p = path(name)
        _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// An event of `kind` with random field values (any bit pattern the record can hold).
func randomEvent(_ kind: EventKind, using rng: inout SplitMix64) -> Event {
    Event(
        kind: kind, time: Int64.random(in: 0...(Int64(UInt32.max) * 1_000_000_000), using: &rng),
        location: rng.next(), source: UInt16.random(in: .min ... .max, using: &rng),
        controller: UInt16.random(in: .min ... .max, using: &rng),
        qid: UInt16.random(in: .min ... .max, using: &rng),
        queueType: Bool.random(using: &rng) ? .sq : .cq,
        a: UInt32.random(in: .min ... .max, using: &rng), b: UInt32.random(in: .min ... .max, using: &rng),
        c: UInt32.random(in: .min ... .max, using: &rng), wide: rng.next(),
        flags: UInt8.random(in: .min ... .max, using: &rng))
}

/// An in-memory event source (for converter tests).
final class ArraySource: EventSource {
    var summary: InputSummary
    private var events: [Event]
    private var done = false
    init(index: UInt16, path: String = "memory", events: [Event], clock: ClockKind = .timestamps,
         unit: SourceLocation.Unit = .line) {
        summary = InputSummary(index: index, path: path, format: .ftraceText)
        summary.clock = clock
        summary.locationUnit = unit
        self.events = events
    }
    func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        buffer.removeAll()
        if done { return false }
        done = true
        buffer = events
        summary.events = UInt64(events.count)
        return !buffer.isEmpty
    }
}

/// Reads every event of a source.
func drainEvents(_ source: any EventSource) throws(InputError) -> [Event] {
    var all: [Event] = []
    var batch: [Event] = []
    while try source.nextBatch(into: &batch) { all += batch }
    return all
}

/// Little-endian byte builder for hand-made files.
struct Bytes {
    var data: [UInt8] = []
    var bigEndian = false
    mutating func u8(_ v: UInt8) { data.append(v) }
    mutating func u16(_ v: UInt16) { put(v) }
    mutating func u32(_ v: UInt32) { put(v) }
    mutating func u64(_ v: UInt64) { put(v) }
    mutating func raw(_ bytes: [UInt8]) { data += bytes }
    mutating func put<T: FixedWidthInteger>(_ v: T) {
        let x = bigEndian ? v.bigEndian : v.littleEndian
        withUnsafeBytes(of: x) { data += $0 }
    }
}

/// A classic nanosecond pcap file (little-endian) with the given packets.
func pcapFile(linkType: UInt32 = 147, packets: [(time: Int64, bytes: [UInt8])]) -> [UInt8] {
    var b = Bytes()
    b.u32(0xA1B2_3C4D)
    b.u16(2)
    b.u16(4)
    b.u32(0)
    b.u32(0)
    b.u32(65535)
    b.u32(linkType)
    for p in packets {
        b.u32(UInt32(p.time / 1_000_000_000))
        b.u32(UInt32(p.time % 1_000_000_000))
        b.u32(UInt32(p.bytes.count))
        b.u32(UInt32(p.bytes.count))
        b.raw(p.bytes)
    }
    return b.data
}

/// A pcapng file: one section, the given interfaces (link types, nanosecond resolution) and
/// enhanced packet blocks `(interface, time ns, bytes)`.
func pcapngFile(interfaces: [UInt16], packets: [(interface: UInt32, time: Int64, bytes: [UInt8])]) -> [UInt8] {
    var b = Bytes()
    // Section Header Block
    b.u32(0x0A0D_0D0A); b.u32(28); b.u32(0x1A2B_3C4D); b.u16(1); b.u16(0); b.u64(UInt64.max); b.u32(28)
    for linkType in interfaces {
        // Interface Description Block with if_tsresol = 9 (nanoseconds)
        b.u32(1); b.u32(32); b.u16(linkType); b.u16(0); b.u32(65535)
        b.u16(9); b.u16(1); b.u8(9); b.u8(0); b.u8(0); b.u8(0)
        b.u16(0); b.u16(0)
        b.u32(32)
    }
    for p in packets {
        let padded = (p.bytes.count + 3) & ~3
        let total = UInt32(32 + padded)
        b.u32(6); b.u32(total); b.u32(p.interface)
        let t = UInt64(p.time)
        b.u32(UInt32(t >> 32)); b.u32(UInt32(t & 0xFFFF_FFFF))
        b.u32(UInt32(p.bytes.count)); b.u32(UInt32(p.bytes.count))
        b.raw(p.bytes); b.raw([UInt8](repeating: 0, count: padded - p.bytes.count))
        b.u32(total)
    }
    return b.data
}

func record(_ event: Event, flags: UInt8 = 0) -> [UInt8] {
    RecordCodec.encode(RecordCodec.Record(event: event, recordFlags: flags))
}
