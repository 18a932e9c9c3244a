import ShadowBellCore
import Testing

/// Plain values kept in a temporary file (`RecordFile`).
struct RecordFileTests {
    struct Pair: Equatable {
        var a: Int64
        var b: UInt16
    }

    @Test func recordsComeBackFromAnyIndexInBatches() throws {
        let file = try #require(RecordFile<Pair>())
        let all = (0..<10_000).map { Pair(a: Int64($0) * 7, b: UInt16($0 & 0xFFFF)) }
        for start in stride(from: 0, to: all.count, by: 3_333) {
            #expect(file.append(Array(all[start..<min(start + 3_333, all.count)])))
        }
        #expect(file.count == all.count)
        var read: [Pair] = []
        var buffer: [Pair] = []
        var next = 0
        while next < file.count {
            #expect(file.read(from: next, limit: 4096, into: &buffer))
            read += buffer
            next += buffer.count
        }
        #expect(read == all)
        #expect(file.read(from: 9_990, limit: 4096, into: &buffer) && buffer == Array(all[9_990...]))
        #expect(file.read(from: 10_000, limit: 4096, into: &buffer) && buffer.isEmpty)
        #expect(file.truncate() && file.count == 0)
        #expect(file.read(from: 0, limit: 10, into: &buffer) && buffer.isEmpty)
    }
}
