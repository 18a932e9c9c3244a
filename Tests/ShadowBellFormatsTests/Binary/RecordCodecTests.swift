import ShadowBellCore
import Testing

@testable import ShadowBellFormats

@Suite struct RecordCodecTests {
    @Test(arguments: EventKind.allCases)
    func everyKindRoundTripsBitExactly(kind: EventKind) throws {
        var rng = SplitMix64(seed: 0x5EED_0000 | UInt64(kind.rawValue))
        for _ in 0..<500 {
            let event = randomEvent(kind, using: &rng)
            let flags = UInt8.random(in: 0...3, using: &rng)
            let bytes = record(event, flags: flags)
            #expect(bytes.count == RecordCodec.recordLengthV1)
            let decoded = try RecordCodec.decode(bytes, time: event.time).get()
            #expect(decoded.event == event)
            #expect(decoded.recordFlags == flags)
            // Encoding the decoded record gives the same bytes.
            #expect(record(decoded.event, flags: decoded.recordFlags) == bytes)
        }
    }

    @Test func layoutIsLittleEndianAtDocumentedOffsets() {
        let event = Event(
            kind: .driverDoorbellUpdate, time: 0, location: 0x0102_0304_0506_0708, source: 0x0A0B,
            controller: 0x1122, qid: 0x3344, queueType: .cq, a: 0xA1A2_A3A4, b: 0xB1B2_B3B4,
            c: 0xC1C2_C3C4, wide: 0xD1D2_D3D4_D5D6_D7D8, flags: 0x05)
        let bytes = record(event, flags: RecordCodec.locationIsLineFlag)
        #expect(Array(bytes[0..<4]) == Array("SBEV".utf8))
        #expect(bytes[4] == 1)
        #expect(bytes[5] == 48)
        #expect(bytes[6] == 0)  // driver side
        #expect(bytes[7] == 1)  // driverDoorbellUpdate
        #expect(bytes[8] == 0x05)
        #expect(bytes[9] == 1)  // cq
        #expect(bytes[10] == 2)
        #expect(bytes[11] == 0)
        #expect(Array(bytes[12..<16]) == [0x22, 0x11, 0x44, 0x33])
        #expect(Array(bytes[16..<20]) == [0xA4, 0xA3, 0xA2, 0xA1])
        #expect(Array(bytes[20..<24]) == [0xB4, 0xB3, 0xB2, 0xB1])
        #expect(Array(bytes[24..<28]) == [0xC4, 0xC3, 0xC2, 0xC1])
        #expect(Array(bytes[28..<32]) == [0x0B, 0x0A, 0, 0])
        #expect(Array(bytes[32..<40]) == [0xD8, 0xD7, 0xD6, 0xD5, 0xD4, 0xD3, 0xD2, 0xD1])
        #expect(Array(bytes[40..<48]) == [8, 7, 6, 5, 4, 3, 2, 1])
    }

    @Test func everyShortPrefixIsRejectedWithoutReadingPastTheEnd() {
        let bytes = record(Event(kind: .mmioDoorbell, time: 1, qid: 1, a: 7))
        for n in 0..<bytes.count {
            let result = RecordCodec.decode(Array(bytes[0..<n]), time: 1)
            guard case .failure(let error) = result else {
                Issue.record("prefix of \(n) bytes decoded")
                continue
            }
            #expect(error == .short(have: n, need: n < 6 ? 6 : 48))
        }
    }

    @Test func longerRecordIsRejected() {
        let bytes = record(Event(kind: .mmioDoorbell, time: 1)) + [0, 0, 0, 0]
        #expect(RecordCodec.decode(bytes, time: 1) == .failure(.long(have: 52, expected: 48)))
    }

    @Test func unknownVersionAndBadFieldsAreRejected() {
        let good = record(Event(kind: .controllerShadowRead, time: 1))
        var v = good
        v[4] = 9
        #expect(RecordCodec.decode(v, time: 1) == .failure(.unknownVersion(9)))
        var m = good
        m[0] = 0x58
        #expect(RecordCodec.decode(m, time: 1) == .failure(.badMagic))
        var k = good
        k[7] = 99
        #expect(RecordCodec.decode(k, time: 1) == .failure(.unknownKind(99)))
        var s = good
        s[6] = 0
        #expect(RecordCodec.decode(s, time: 1) == .failure(.sideMismatch(kind: .controllerShadowRead, side: 0)))
        var q = good
        q[9] = 2
        #expect(RecordCodec.decode(q, time: 1) == .failure(.badQueueType(2)))
        var l = good
        l[5] = 40
        #expect(RecordCodec.decode(l, time: 1) == .failure(.lengthMismatch(declared: 40, expected: 48)))
        var f = good
        f[10] = 0x80
        #expect(RecordCodec.decode(f, time: 1) == .failure(.unknownRecordFlags(0x80)))
    }
}
