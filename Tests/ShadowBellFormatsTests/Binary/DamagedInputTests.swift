import ShadowBellCore
import Testing

@testable import ShadowBellFormats

/// Damaged binary inputs never crash a reader: every prefix of a file and random byte flips
/// give either an input error or a prefix of the events with diagnostics.
@Suite struct DamagedInputTests {
    @Test func everyPrefixOfASimpleTrace() throws {
        let dir = TemporaryDirectory()
        let scenario = SimpleTraceScenario()
        for cut in stride(from: 1, to: scenario.bytes.count, by: 1) {
            let path = dir.write("cut", Array(scenario.bytes[0..<cut]))
            guard let source = try? QemuSimpleEventSource(path: path, index: 0) else {
                #expect(cut < 24, "header was complete at \(cut) bytes")
                continue
            }
            let events = try drainEvents(source)
            // Events come out in time order, so compare as sets of complete records.
            #expect(events.count <= scenario.expected.count)
            #expect(events.allSatisfy { scenario.expected.contains($0) })
        }
    }

    @Test func randomByteFlipsInASimpleTrace() throws {
        let dir = TemporaryDirectory()
        let scenario = SimpleTraceScenario()
        var rng = SplitMix64(seed: 11)
        for _ in 0..<300 {
            var bytes = scenario.bytes
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let at = Int.random(in: 24..<bytes.count, using: &rng)
                bytes[at] = UInt8.random(in: 0...255, using: &rng)
            }
            let path = dir.write("flip", bytes)
            let source = try QemuSimpleEventSource(path: path, index: 0)
            _ = try drainEvents(source)
            #expect(source.summary.events <= source.summary.records)  // no phantom events
        }
    }

    @Test func everyPrefixOfAPcap() throws {
        let dir = TemporaryDirectory()
        let events = (1...6).map { Event(kind: .mmioDoorbell, time: Int64($0) * 1000, qid: 1, a: UInt32($0)) }
        let full = pcapFile(packets: events.map { ($0.time, record($0)) })
        for cut in 1..<full.count {
            let path = dir.write("cut.pcap", Array(full[0..<cut]))
            guard let source = try? PcapEventSource(path: path, index: 0) else {
                #expect(cut < 24, "header was complete at \(cut) bytes")
                continue
            }
            let read = try drainEvents(source)
            let complete = max(0, (cut - 24) / 64)
            #expect(read.map(\.a) == events.prefix(complete).map(\.a))
            let cutInsideRecord = (cut - 24) % 64 != 0
            #expect(source.summary.malformed == (cutInsideRecord ? 1 : 0))
        }
    }

    @Test func randomByteFlipsInAPcap() throws {
        let dir = TemporaryDirectory()
        var rng = SplitMix64(seed: 5)
        let events = (1...6).map { randomEvent(EventKind.allCases[$0 % EventKind.allCases.count], using: &rng) }
        let full = pcapFile(packets: events.enumerated().map { (Int64($0.offset), record($0.element)) })
        for _ in 0..<300 {
            var bytes = full
            let at = Int.random(in: 24..<bytes.count, using: &rng)
            bytes[at] = UInt8.random(in: 0...255, using: &rng)
            let path = dir.write("flip.pcap", bytes)
            // A flipped packet header may make libpcap refuse the rest: an error, never a crash.
            guard let source = try? PcapEventSource(path: path, index: 0) else { continue }
            var batch: [Event] = []
            while (try? source.nextBatch(into: &batch)) == true {}
            #expect(source.summary.events + source.summary.malformed <= 6)
        }
    }
}
