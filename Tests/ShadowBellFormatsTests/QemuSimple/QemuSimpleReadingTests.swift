import ShadowBellCore
import Testing

@testable import ShadowBellFormats

/// The simple-trace reader reads records in place inside a chunk and copies only those that
/// straddle two chunks; its reorder window is a ring. Both must be invisible in the result.
@Suite struct QemuSimpleReadingTests {
    /// A trace with string arguments (odd record lengths), a dropped-events record and records
    /// slightly out of order.
    func trace() -> [UInt8] {
        var w = SimpleTraceWriter()
        w.mapping(id: 3, name: "pci_nvme_mmio_doorbell_sq")
        w.mapping(id: 70_000, name: "pci_nvme_io_cmd")
        for i in 0..<3_000 {
            let t = UInt64(i % 7 == 3 ? i * 10 - 25 : i * 10)
            if i % 5 == 0 {
                w.event(id: 70_000, time: t, [.value(UInt64(i)), .value(1), .value(1), .value(2), .string(i % 2 == 0 ? "READ" : "NVME_NVM_CMD_WRITE")])
            } else {
                w.event(id: 3, time: t, [.value(1), .value(UInt64(i & 0xFFFF))])
            }
            if i == 1_500 { w.dropped(time: t, count: 4) }
        }
        return w.bytes
    }

    func read(_ path: String, window: Int, reorder: Int = 256) throws -> ([Event], InputSummary) {
        let input = try ByteInput(path: path, mappedWindowSize: window)
        let source = try QemuSimpleEventSource(input: input, index: 0, options: QemuSimpleOptions(reorderWindow: reorder))
        return (try drainEvents(source), source.summary)
    }

    @Test func smallChunksReadTheSameEventsAsOneChunk() throws {
        let dir = TemporaryDirectory()
        let path = dir.write("trace-4711", trace())
        let (whole, wholeSummary) = try read(path, window: 1 << 20)
        #expect(whole.count == 3_001)
        #expect(wholeSummary.malformed == 0)
        for window in [1, 7, 31, 64, 333, 4096] {
            let (events, summary) = try read(path, window: window)
            #expect(events == whole, "window \(window)")
            #expect(summary.records == wholeSummary.records && summary.events == wholeSummary.events)
            #expect(summary.bytes == wholeSummary.bytes && summary.outOfOrder == wholeSummary.outOfOrder)
        }
    }

    @Test(arguments: [0, 1, 3, 16, 256, 1000])
    func reorderWindowSortsWithinTheWindow(window: Int) {
        // Reference: hold `window` events, always release the earliest (stable on ties).
        var state: UInt64 = UInt64(window) &+ 99
        var times: [Int64] = []
        for i in 0..<5_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            times.append(Int64(i * 4) - Int64(state >> 60) * 3)  // up to 45 earlier than in order
        }
        var held: [(Int64, Int)] = []
        var expected: [Int] = []
        let buffer = ReorderBuffer(capacity: window + 2)
        var got: [Int] = []
        for (i, t) in times.enumerated() {
            held.append((t, i))
            var e = Event(kind: .interrupt, time: t, location: UInt64(i), source: 0, controller: 0)
            e.a = UInt32(i)
            buffer.push(e, sequence: UInt64(i))
            if held.count > window {
                let m = held.indices.min { held[$0] < held[$1] }!
                expected.append(held.remove(at: m).1)
                got.append(Int(buffer.popMin().a))
            }
        }
        while !held.isEmpty {
            let m = held.indices.min { held[$0] < held[$1] }!
            expected.append(held.remove(at: m).1)
            got.append(Int(buffer.popMin().a))
        }
        #expect(got == expected)
        #expect(buffer.count == 0)
    }
}
