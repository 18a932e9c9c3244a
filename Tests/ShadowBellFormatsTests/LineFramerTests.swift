import Testing
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
