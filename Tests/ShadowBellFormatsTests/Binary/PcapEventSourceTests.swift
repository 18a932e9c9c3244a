import Foundation
import ShadowBellCore
import Testing

@testable import ShadowBellFormats

@Suite struct PcapEventSourceTests {
    /// A few events of every kind, in time order.
    static func sampleEvents(count: Int = 3, seed: UInt64 = 42) -> [Event] {
        var rng = SplitMix64(seed: seed)
        var events: [Event] = []
        var t: Int64 = 1_700_000_000_123_456_789
        for _ in 0..<count {
            for kind in EventKind.allCases {
                var e = randomEvent(kind, using: &rng)
                t += Int64.random(in: 0...5000, using: &rng)
                e.time = t
                events.append(e)
            }
        }
        return events
    }

    @Test func writeThenReadRoundTripsEveryEvent() throws {
        let dir = TemporaryDirectory()
        let events = Self.sampleEvents()
        let out = dir.path("round.pcap")
        let result = try convertToPcap(sources: [ArraySource(index: 0, events: events)], output: out)
        // A recording-end record is written and read back, and counted as no event.
        let ends = events.filter { $0.kind == .recordingEnd }.count
        #expect(ends > 0)
        #expect(result.eventsWritten == UInt64(events.count - ends))

        let source = try PcapEventSource(path: out, index: 3)
        let read = try drainEvents(source)
        #expect(read.count == events.count)
        for (i, (got, want)) in zip(read, events).enumerated() {
            var expected = want
            expected.source = 3
            expected.location = UInt64(24 + i * (16 + 48) + 16)
            #expect(got == expected)
        }
        #expect(source.summary.events == UInt64(events.count - ends))
        #expect(source.summary.malformed == 0)
        #expect(source.summary.locationUnit == .byteOffset)
        #expect(source.summary.dataLossMarkers == UInt64(events.count / EventKind.allCases.count))
        // A data-loss record's count is its 64-bit `wide` (its 32-bit `a` when `wide` is 0),
        // summed without wrapping.
        #expect(source.summary.lostEvents == events.filter { $0.kind == .dataLoss }.reduce(UInt64(0)) { $0.saturatingAdding($1.lostEvents) })
    }

    @Test func writerUsesNanosecondMagicAndLinkType() throws {
        let dir = TemporaryDirectory()
        let out = dir.path("magic.pcap")
        try convertToPcap(
            sources: [ArraySource(index: 0, events: [Event(kind: .interrupt, time: 5)])], output: out,
            linkType: LinkType(150))
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: out)))
        #expect(Array(bytes[0..<4]) == [0x4D, 0x3C, 0xB2, 0xA1])
        #expect(Array(bytes[20..<24]) == [150, 0, 0, 0])
        #expect(try drainEvents(PcapEventSource(path: out, index: 0)).count == 1)
    }

    @Test func linkType149IsNeverWritten() {
        let dir = TemporaryDirectory()
        #expect(throws: ConvertError.self) {
            try convertToPcap(sources: [], output: dir.path("x.pcap"), linkType: .user2)
        }
    }

    @Test func mergesInputsByTimeAndKeepsFileOrder() throws {
        let dir = TemporaryDirectory()
        let first = [10, 30, 20, 50].map { Event(kind: .interrupt, time: Int64($0), source: 0, a: UInt32($0)) }
        let second = [15, 30, 40].map { Event(kind: .mmioDoorbell, time: Int64($0), source: 1, a: UInt32($0)) }
        let out = dir.path("merge.pcap")
        try convertToPcap(
            sources: [ArraySource(index: 0, events: first), ArraySource(index: 1, events: second)], output: out)
        let read = try drainEvents(PcapEventSource(path: out, index: 0))
        // 20 stays after 30 in its own file; at 30 the first input goes first.
        #expect(read.map { $0.a } == [10, 15, 30, 20, 30, 40, 50])
        #expect(read.map { $0.kind == .interrupt } == [true, false, true, true, false, false, true])
    }

    @Test func pcapOfSeveralInputsReopensAsOneSourcePerClockDomain() throws {
        let dir = TemporaryDirectory()
        let first = [10, 30, 20].map { Event(kind: .interrupt, time: Int64($0), source: 0, a: UInt32($0)) }
        let second = [15, 25].map { Event(kind: .mmioDoorbell, time: Int64($0), source: 1, a: UInt32($0)) }
        let out = dir.path("two.pcap")
        try convertToPcap(
            sources: [ArraySource(index: 0, events: first), ArraySource(index: 1, events: second, clock: .orderOnly)],
            output: out)
        let sources = try openEventSources(path: out, firstIndex: 4)
        #expect(sources.count == 2)
        let a = try drainEvents(sources[0])
        let b = try drainEvents(sources[1])
        #expect(a.map(\.a) == [10, 30, 20])
        #expect(b.map(\.a) == [15, 25])
        #expect(a.allSatisfy { $0.source == 4 } && b.allSatisfy { $0.source == 5 })
        #expect(sources[0].summary.clock == .timestamps && sources[1].summary.clock == .orderOnly)
        #expect(sources[0].summary.events == 3 && sources[1].summary.events == 2)
        // One source per file for anything else.
        #expect(try openEventSources(path: out, firstIndex: 0).count == 2)
        let single = dir.path("one.pcap")
        try convertToPcap(sources: [ArraySource(index: 0, events: first)], output: single)
        #expect(try openEventSources(path: single, firstIndex: 0).count == 1)
    }

    @Test func orderOnlyInputIsMarkedAndReadBackAsOrderOnly() throws {
        let dir = TemporaryDirectory()
        let out = dir.path("order.pcap")
        let events = (1...3).map { Event(kind: .controllerShadowRead, time: Int64($0), qid: 1, a: UInt32($0)) }
        try convertToPcap(sources: [ArraySource(index: 0, events: events, clock: .orderOnly)], output: out)
        let source = try PcapEventSource(path: out, index: 0)
        #expect(source.summary.clock == .orderOnly)  // known before the first batch
        _ = try drainEvents(source)
        #expect(source.summary.clock == .orderOnly)
    }

    @Test func readsPcapng() throws {
        let dir = TemporaryDirectory()
        let events = Self.sampleEvents(count: 1)
        let path = dir.write(
            "x.pcapng",
            pcapngFile(interfaces: [147], packets: events.map { (0, $0.time, record($0)) }))
        let source = try PcapEventSource(path: path, index: 0)
        let read = try drainEvents(source)
        #expect(read.count == events.count)
        // Locations are block offsets: the first EPB follows the SHB (28) and one IDB (32).
        // Non-optional operands: comparing an `UInt64?` inside `#expect` trips the address
        // sanitizer in swift-testing's own comparison thunk (a 9-byte read of an 8-byte value).
        try #require(read.count >= 2)
        #expect(read[0].location == 60)
        #expect(read[1].location == 60 + 32 + 48)
        for (got, want) in zip(read, events) {
            #expect(got.kind == want.kind && got.time == want.time && got.a == want.a && got.wide == want.wide)
        }
    }

    @Test func readsMicrosecondAndBigEndianPcaps() throws {
        let dir = TemporaryDirectory()
        let e = Event(kind: .controllerShadowRead, time: 0, qid: 2, a: 5)
        // Big-endian header, microsecond magic: 12 s + 345678 µs.
        var b = Bytes()
        b.bigEndian = true
        b.u32(0xA1B2_C3D4); b.u16(2); b.u16(4); b.u32(0); b.u32(0); b.u32(65535); b.u32(147)
        let bytes = record(e)
        b.u32(12); b.u32(345_678); b.u32(UInt32(bytes.count)); b.u32(UInt32(bytes.count)); b.raw(bytes)
        let path = dir.write("be-usec.pcap", b.data)
        let read = try drainEvents(PcapEventSource(path: path, index: 0))
        #expect(read.map(\.time) == [12_345_678_000])
        #expect(read.map(\.a) == [5])  // the record itself stays little-endian
    }

    // MARK: bad input

    @Test func truncatedPcapKeepsCompleteRecordsAndNamesTheOffset() throws {
        let dir = TemporaryDirectory()
        let events = (1...5).map { Event(kind: .mmioDoorbell, time: Int64($0) * 1000, qid: 1, a: UInt32($0)) }
        let full = pcapFile(packets: events.map { ($0.time, record($0)) })
        for cut in [full.count - 10, full.count - 48 - 10] {
            let path = dir.write("trunc\(cut).pcap", Array(full[0..<cut]))
            let source = try PcapEventSource(path: path, index: 0)
            let read = try drainEvents(source)
            #expect(read.count == 4)
            #expect(source.summary.malformed == 1)
            let offset = UInt64(24 + 4 * 64)
            let diagnostic = try #require(source.summary.firstMalformed.first)
            #expect(diagnostic.location.value == offset)
            #expect(diagnostic.reason.contains("truncated"))
            #expect(diagnostic.reason.contains("\(offset)"))
        }
    }

    @Test func truncatedPcapngKeepsCompleteRecords() throws {
        let dir = TemporaryDirectory()
        let events = (1...3).map { Event(kind: .mmioDoorbell, time: Int64($0) * 1000, qid: 1, a: UInt32($0)) }
        let full = pcapngFile(interfaces: [147], packets: events.map { (0, $0.time, record($0)) })
        let path = dir.write("trunc.pcapng", Array(full.dropLast(20)))
        let source = try PcapEventSource(path: path, index: 0)
        #expect(try drainEvents(source).map(\.a) == [1, 2])
        #expect(source.summary.malformed == 1)
        let diagnostic = try #require(source.summary.firstMalformed.first)
        #expect(diagnostic.reason.contains("truncated"))
        #expect(diagnostic.location.value == UInt64(28 + 32 + 2 * 80))  // start of the third block
    }

    @Test func wrongLinkTypeIsAnInputError() throws {
        let dir = TemporaryDirectory()
        let path = dir.write("eth.pcap", pcapFile(linkType: 1, packets: [(1, [UInt8](repeating: 0, count: 60))]))
        do {
            _ = try PcapEventSource(path: path, index: 0)
            Issue.record("an Ethernet capture was accepted")
        } catch {
            guard case .unsupported(_, let reason) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(reason.contains("link type 1"))
            #expect(reason.contains("147"))
        }
    }

    @Test func linkTypeIsConfigurable() throws {
        let dir = TemporaryDirectory()
        let e = Event(kind: .interrupt, time: 7, a: 3)
        let path = dir.write("u3.pcap", pcapFile(linkType: 150, packets: [(7, record(e))]))
        #expect(try drainEvents(PcapEventSource(path: path, index: 0)).count == 1)
        #expect(throws: InputError.self) {
            try PcapEventSource(path: path, index: 0, options: PcapReadOptions(linkTypes: [147]))
        }
    }

    @Test func pcapngWithMixedLinkTypesIsRejectedWithAdvice() throws {
        let dir = TemporaryDirectory()
        let e = Event(kind: .interrupt, time: 7, a: 3)
        let path = dir.write(
            "mixed.pcapng",
            pcapngFile(interfaces: [147, 1], packets: [(0, 7, record(e)), (1, 8, [UInt8](repeating: 0, count: 60))]))
        do {
            let source = try PcapEventSource(path: path, index: 0)
            _ = try drainEvents(source)
            Issue.record("a pcapng with mixed link types was read")
        } catch {
            guard case .unsupported(_, let reason) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(reason.contains("different link types"))
            #expect(reason.contains("libpcap cannot read"))
            #expect(reason.contains("editcap"))
        }
    }

    @Test func shortLongAndUnknownVersionRecordsAreMalformedCountedAndLocated() throws {
        let dir = TemporaryDirectory()
        let good = record(Event(kind: .mmioDoorbell, time: 1, qid: 1, a: 1))
        var future = good
        future[4] = 2
        let packets: [(time: Int64, bytes: [UInt8])] = [
            (1, good),
            (2, Array(good[0..<40])),  // shorter than version 1 says
            (3, good + [0xEE, 0xEE]),  // longer than version 1 says
            (4, future),  // unknown version
            (5, good),
        ]
        let path = dir.write("bad.pcap", pcapFile(packets: packets))
        let source = try PcapEventSource(path: path, index: 0)
        let read = try drainEvents(source)
        #expect(read.count == 2)
        #expect(source.summary.records == 5)
        #expect(source.summary.malformed == 3)
        let diagnostics = source.summary.firstMalformed
        let expectedOffsets: [UInt64] = [104, 160, 226]  // 24 + 64 + 16, then + 40 + 16, + 50 + 16
        #expect(diagnostics.map(\.location.value) == expectedOffsets)
        #expect(diagnostics[0].reason.contains("shorter"))
        #expect(diagnostics[1].reason.contains("longer"))
        #expect(diagnostics[2].reason.contains("unknown record version 2"))
    }

    @Test func notAPcapIsAnInputError() {
        let dir = TemporaryDirectory()
        let path = dir.write("text.pcap", Array("hello world, not a capture\n".utf8))
        #expect(throws: InputError.self) { try PcapEventSource(path: path, index: 0) }
    }

    /// The reader's fast path accepts exactly what `RecordCodec.decode` accepts: every value of
    /// every header byte (and of the source field) of a valid record, read from one file, gives
    /// the events and malformed count that decoding each packet gives.
    @Test func everyHeaderByteValueReadsAsRecordCodecDecodesIt() throws {
        let dir = TemporaryDirectory()
        var rng = SplitMix64(seed: 7)
        var packets: [(time: Int64, bytes: [UInt8])] = []
        var time: Int64 = 1_000_000_000
        for kind in EventKind.allCases {
            var event = randomEvent(kind, using: &rng)
            event.source = 3
            let good = record(event, flags: RecordCodec.timeIsOrdinalFlag)
            for position in Array(0..<12) + [28, 29] {
                for value in 0...255 {
                    var bytes = good
                    bytes[position] = UInt8(value)
                    time += 1
                    packets.append((time, bytes))
                }
            }
            time += 1
            packets.append((time, good + [0]))
            time += 1
            packets.append((time, Array(good.dropLast())))
        }
        let path = dir.write("flips.pcap", pcapFile(packets: packets))
        var expected: [Event] = []
        var ofSource3 = 0
        var malformed: UInt64 = 0
        var offset: UInt64 = 24
        for packet in packets {
            switch RecordCodec.decode(packet.bytes, time: packet.time) {
            case .success(let decoded):
                if decoded.event.source == 3 { ofSource3 += 1 }
                var event = decoded.event
                event.source = 2
                event.location = offset + 16
                expected.append(event)
            case .failure:
                malformed += 1
            }
            offset += 16 + UInt64(packet.bytes.count)
        }
        #expect(malformed > 0 && expected.count > ofSource3)
        let source = try PcapEventSource(path: path, index: 2)
        let read = try drainEvents(source)
        #expect(read == expected)
        #expect(source.summary.malformed == malformed)
        #expect(source.summary.events == UInt64(expected.filter { $0.kind != .recordingEnd }.count))
        #expect(source.summary.records == UInt64(packets.count))
        // One original source of the file: its valid records only.
        let filtered = try PcapEventSource(path: path, index: 0, options: PcapReadOptions(originalSource: 3))
        #expect(try drainEvents(filtered).count == ofSource3)
        #expect(filtered.summary.malformed == malformed)
    }

    /// A pcap of two original inputs whose second input's records all follow `leading` records
    /// of the first (as `convert` writes inputs on clocks far apart).
    static func lateSecondDomain(_ dir: TemporaryDirectory, leading: Int, name: String = "late.pcap") -> String {
        var packets: [(time: Int64, bytes: [UInt8])] = []
        for i in 0..<leading {
            packets.append((Int64(i + 1), record(Event(kind: .interrupt, time: 0, source: 0, a: UInt32(i)))))
        }
        for i in 0..<3 {
            packets.append((Int64(leading + i + 1), record(Event(kind: .mmioDoorbell, time: 0, source: 1, qid: 1, a: UInt32(i)))))
        }
        return dir.write(name, pcapFile(packets: packets))
    }

    /// The clock domains of a pcap are found in the whole file, by its record headers for an
    /// uncompressed classic pcap and through libpcap for any other (here: compressed), alike.
    @Test func clockDomainsAreFoundInTheWholeFile() throws {
        let dir = TemporaryDirectory()
        let path = Self.lateSecondDomain(dir, leading: 5000)
        #expect(PcapEventSource.scanClassic(path: path)?.sorted == [0, 1])
        #expect(PcapEventSource.originalSources(path: path) == [0, 1])
        let sources = try openEventSources(path: path, firstIndex: 0)
        #expect(try sources.map { try drainEvents($0).count } == [5000, 3])
        let single = Self.lateSecondDomain(dir, leading: 0, name: "one.pcap")
        #expect(PcapEventSource.originalSources(path: single) == [1])
        let plain = try PcapEventSource(path: path, index: 0)
        #expect(try drainEvents(plain).count == 5003)
        // Cut inside the last record: the records before it still count.
        let cut = dir.path("cut.pcap")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: cut))
        #expect(PcapEventSource.originalSources(path: cut) == [0, 1])
        let zst = dir.write("late.pcap.zst", try compressed(Array(bytes), .zstd))
        #expect(PcapEventSource.scanClassic(path: zst) == nil)
        #expect(PcapEventSource.originalSources(path: zst) == [0, 1])
    }
}
