import Foundation
import ShadowBellAnalysis
import ShadowBellCore
import ShadowBellFormats
import Testing

/// Hostile inputs that once made memory grow with the input: each meets its cap and says so.
@Suite struct BoundsTests {
    /// A pcap of `count` MMIO doorbells; `vary` gives each record's (source, controller, qid).
    static func pcap(_ name: String, count: Int, _ vary: (Int) -> (source: UInt16, controller: UInt16, qid: UInt16)) throws -> String {
        let path = temporaryPath(name)
        let writer = try PcapWriter(path: path, linkType: .user0)
        var bytes = [UInt8](repeating: 0, count: RecordCodec.recordLengthV1)
        for i in 0..<count {
            let (source, controller, qid) = vary(i)
            let event = Event(kind: .mmioDoorbell, time: 1_000_000_000 + Int64(i) * 1000, source: source, controller: controller, qid: qid, a: 1)
            bytes.withUnsafeMutableBytes { RecordCodec.encode(RecordCodec.Record(event: event), into: $0) }
            bytes.withUnsafeBytes { writer.write(seconds: UInt32(event.time / 1_000_000_000), nanoseconds: UInt32(event.time % 1_000_000_000), $0) }
        }
        writer.close()
        return path
    }

    @Test func aPcapOfManyClockDomainsAnalysesTheFirstAndReportsTheRest() throws {
        let limit = PcapEventSource.clockDomainLimit
        let path = try Self.pcap("domains-\(UUID().uuidString).pcap", count: limit + 40) { (UInt16($0), 0, 1) }
        let (status, json, _) = try analyzeJSON([path])
        #expect(status == 0)
        let inputs = json["inputs"] as? [[String: Any]] ?? []
        #expect(inputs.count == limit)
        let reasons = (inputs.first?["first_malformed"] as? [[String: Any]])?.compactMap { $0["reason"] as? String } ?? []
        #expect(reasons.contains { $0.hasPrefix("40 further clock domain(s)") }, "\(reasons)")
        // Sources opened by content for conversion keep the same bound.
        let sources = try openEventSources(path: path, firstIndex: 0)
        #expect(sources.count == limit)
    }

    @Test func queuesBeyondTheLimitAreLeftOutAndCounted() throws {
        let limit = ClockGroupAnalyzer.queueLimit
        let path = try Self.pcap("queues-\(UUID().uuidString).pcap", count: limit + 500) { (0, UInt16($0 >> 12), UInt16($0 & 0xFFF)) }
        let (status, json, _) = try analyzeJSON([path])
        #expect(status == 0)
        #expect((json["queues"] as? [Any])?.count == limit)
        let notes = json["notes"] as? [String] ?? []
        #expect(notes.contains { $0.hasPrefix("500 event(s) left out: they name more than \(limit) queues") }, "\(notes)")
    }
}
