import Testing
import ShadowBellCore
@testable import ShadowBellFormats

/// The reference: split the whole text on `\n`, drop the empty piece after a final newline,
/// strip every trailing `\r` of a line (`\r\r\n`: a CRLF file converted again).
private func oracleLines(_ bytes: [UInt8]) -> [[UInt8]] {
    var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
    if bytes.last == 0x0A || bytes.isEmpty { lines.removeLast() }
    return lines.map { line in
        var line = line
        while line.last == 0x0D { line.removeLast() }
        return line
    }
}

/// Feeds `bytes` in chunks of `chunkSize` through one reused buffer that is scribbled over
/// after each chunk is drained, so a framer that kept a pointer into an old chunk would fail.
private func framedLines(_ bytes: [UInt8], chunkSize: Int, framer: LineFramer = LineFramer())
    -> [(UInt64, [UInt8])]
{
    var out: [(UInt64, [UInt8])] = []
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 1)
    defer { buffer.deallocate() }
    var start = 0
    while start < bytes.count {
        let n = min(chunkSize, bytes.count - start)
        for i in 0..<n { buffer[i] = bytes[start + i] }
        framer.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        while let line = framer.nextLine() { out.append((line.number, Array(line.bytes))) }
        for i in 0..<chunkSize { buffer[i] = 0xEE }
        start += n
    }
    if let last = framer.finish() { out.append((last.number, Array(last.bytes))) }
    #expect(framer.finish()?.number == nil)
    return out
}

private let sample: [UInt8] = {
    var text = "# tracer: nop\r\n#\r\n"
    text += "    kworker/u4:0-9       [001] .....     5.470378: nvme_setup_cmd: nvme0: qid=0\r\n"
    text += "\n\n\r\n"
    text += String(repeating: "long line with spaces ", count: 20) + "\n"
    text += "\r\n"
    text += "a\rb\r\n"  // a CR inside a line stays
    text += "[   30.157892] nvme nvme0: Abort status: 0x0\r\r\n"
    for i in 0..<12 { text += "line \(i) " + String(repeating: "x", count: i * 7) + (i % 3 == 0 ? "\r\n" : "\n") }
    text += "last line without newline"
    return Array(text.utf8)
}()

@Suite struct LineFramerTests {
    @Test func matchesOracleForEveryChunkSize() {
        for input in [sample, sample + [0x0A], sample + Array("\r\n".utf8), sample + [0x0D]] {
            let expected = oracleLines(input)
            #expect(input.count > 300)
            let numbers = (1...UInt64(expected.count)).map { $0 }
            var differing: [Int] = []
            for chunkSize in 1...300 {
                let got = framedLines(input, chunkSize: chunkSize)
                if got.map(\.1) != expected || got.map(\.0) != numbers { differing.append(chunkSize) }
            }
            #expect(differing.isEmpty, "chunk sizes whose lines differ from the oracle: \(differing)")
            #expect(framedLines(input, chunkSize: input.count).map(\.1) == expected)
        }
    }

    @Test func emptyAndNewlineOnlyInputs() {
        #expect(framedLines([], chunkSize: 4).isEmpty)
        #expect(framedLines([0x0A], chunkSize: 1).map(\.1) == [[]])
        #expect(framedLines(Array("\r\n\r\n".utf8), chunkSize: 1).map(\.1) == [[], []])
        #expect(framedLines(Array("x".utf8), chunkSize: 1).map(\.1) == [Array("x".utf8)])
    }

    @Test func overlongLinesAreMarkedAndNotHeld() {
        let long = [UInt8](repeating: 0x61, count: 1000)
        let fits = [UInt8](repeating: 0x62, count: 100)
        let input = long + [0x0A] + Array("short\n".utf8) + fits + Array("\r\n".utf8) + long
        for chunkSize in [1, 7, 64, 2000] {
            let framer = LineFramer(maxLineLength: 100)
            let lines = framedLines(input, chunkSize: chunkSize, framer: framer)
            #expect(lines.map(\.1.count) == [0, 5, 100, 0], "chunk size \(chunkSize)")
            #expect(lines.map(\.0) == [1, 2, 3, 4])
        }
        // Marked as such, in place or carried across chunks.
        let framer = LineFramer(maxLineLength: 100)
        let text = Array((String(repeating: "x", count: 300) + "\nok\n").utf8)
        text.withUnsafeBytes { bytes in
            framer.feed(UnsafeRawBufferPointer(rebasing: bytes[0..<150]))
            #expect(framer.nextLine() == nil)
            framer.feed(UnsafeRawBufferPointer(rebasing: bytes[150...]))
            let first = framer.nextLine()
            #expect(first?.overlong == true && first?.bytes.count == 0)
            #expect(framer.nextLine()?.overlong == false)
        }
        text.withUnsafeBytes { bytes in
            let inPlace = LineFramer(maxLineLength: 100)
            inPlace.feed(bytes)
            #expect(inPlace.nextLine()?.overlong == true)
        }
    }
}

/// Lines looked up in a mapped file from marks read as the framer reads them from the start.
@Suite struct MarkedLineLookupTests {
    @Test func linesFromMarksAreTheFramersLines() throws {
        var random = SystemRandomNumberGenerator()
        for round in 0..<40 {
            var bytes: [UInt8] = []
            var starts: [Int] = [0]
            let count = Int.random(in: 1...400, using: &random)
            for k in 0..<count {
                let length = Int.random(in: 0...(k % 17 == 0 ? 90 : 30), using: &random)
                bytes += (0..<length).map { _ in UInt8.random(in: 0x20...0x7E, using: &random) }
                // Carriage returns on the short lines only: the framer counts them against the
                // limit when a line is carried across chunks, not otherwise.
                if k % 17 != 0 {
                    if k % 5 == 0 { bytes += [0x0D] }
                    if k % 11 == 0 { bytes += [0x0D, 0x0D] }
                }
                if k < count - 1 || round % 2 == 0 {
                    bytes.append(0x0A)
                    starts.append(bytes.count)
                }
            }
            if starts.last == bytes.count { starts.removeLast() }
            let path = TempFile.write(bytes)
            defer { TempFile.remove(path) }
            let input = try ByteInput(path: path)
            var expected: [UInt64: [UInt8]] = [:]
            for (number, line) in framedLines(bytes, chunkSize: 64, framer: LineFramer(maxLineLength: 60)) { expected[number] = line }
            // Good marks, marks that begin no line (the file changed), and marks past the end.
            var marks = stride(from: 1, to: starts.count, by: Int.random(in: 1...9, using: &random)).map {
                LineMark(line: UInt64($0 + 1), offset: UInt64(starts[$0]))
            }
            // A stale mark: inside a line, where no line begins (the file changed since).
            if round % 3 == 0, marks.count > 2,
                let inside = (Int(marks[1].offset) + 1..<bytes.count).first(where: { bytes[$0 - 1] != 0x0A })
            {
                marks[1].offset = UInt64(inside)
            }
            if round % 4 == 0 { marks.append(LineMark(line: UInt64(count + 5), offset: UInt64(bytes.count + 10))) }
            let wanted = Array(Set((0..<12).map { _ in UInt64.random(in: 1...UInt64(count + 2), using: &random) })).sorted()
            var got: [UInt64: [UInt8]] = [:]
            #expect(input.lines(wanted, marks: marks, maxLineLength: 60) { got[$0] = Array($1) })
            #expect(got == expected.filter { wanted.contains($0.key) }, "round \(round)")
        }
    }

    /// Lines far apart in a file of many MiB: the pages passed over are let go as the search
    /// moves on (`ByteInput.releaseStep`), and what is read after that, or asked again of the
    /// same mapping, is still the file's text.
    @Test func linesFarApartAreReadAfterThePagesBeforeThemAreLetGo() throws {
        var bytes: [UInt8] = []
        var marks: [LineMark] = []
        let count = 140_000
        for k in 1...count {
            if k % 10_000 == 1 { marks.append(LineMark(line: UInt64(k), offset: UInt64(bytes.count))) }
            bytes += Array("line \(k) ".utf8) + [UInt8](repeating: UInt8(ascii: "a") + UInt8(k % 26), count: 90) + [0x0A]
        }
        #expect(bytes.count > 3 * ByteInput.releaseStep)
        let path = TempFile.write(bytes)
        defer { TempFile.remove(path) }
        let input = try ByteInput(path: path)
        func expected(_ k: UInt64) -> [UInt8] { Array("line \(k) ".utf8) + [UInt8](repeating: UInt8(ascii: "a") + UInt8(k % 26), count: 90) }
        let wanted: [UInt64] = [1, 2, 30_000, 30_001, 59_999, 60_000, 95_000, 139_999, 140_000]
        for pass in 0..<2 {
            var got: [UInt64: [UInt8]] = [:]
            #expect(input.lines(wanted, marks: pass == 0 ? marks : []) { got[$0] = Array($1) })
            #expect(got == Dictionary(uniqueKeysWithValues: wanted.map { ($0, expected($0)) }), "pass \(pass)")
        }
    }

    @Test func aCompressedFileIsNotLookedUp() throws {
        let path = TempFile.write(try compressed(Array("one\ntwo\n".utf8), .zstd))
        defer { TempFile.remove(path) }
        let input = try ByteInput(path: path)
        #expect(!input.lines([1], marks: []) { _, _ in })
    }
}
