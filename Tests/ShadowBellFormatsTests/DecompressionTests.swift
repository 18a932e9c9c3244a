import Foundation
import ShadowBellTestSupport
import Testing
import ShadowBellCore
@testable import ShadowBellFormats

/// The package root, found from this file's path.
let packageRoot: URL = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
    }
    fatalError("Package.swift not found above \(#filePath)")
}()

/// `tool arguments` with `input` on standard input; its standard output.
func run(_ tool: String, _ arguments: [String], input: [UInt8]) throws -> [UInt8] {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [tool] + arguments
    let stdin = Pipe(), stdout = Pipe()
    p.standardInput = stdin
    p.standardOutput = stdout
    try p.run()
    let writer = Thread { writeAllRetrying(stdin.fileHandleForWriting, Data(input)) }
    writer.start()
    let out = readAllRetrying(stdout.fileHandleForReading)
    p.waitUntilExit()
    #expect(p.terminationStatus == 0, "\(tool) \(arguments) failed")
    return Array(out)
}

/// The compressed form of `bytes` as each tool writes it.
func compressed(_ bytes: [UInt8], _ compression: Compression) throws -> [UInt8] {
    switch compression {
    case .gzip: return try run("gzip", ["-c", "-n"], input: bytes)
    case .zstd: return try run("zstd", ["-q", "-c", "--check"], input: bytes)
    case .xz: return try run("xz", ["-c", "--check=crc64"], input: bytes)
    }
}

/// Every byte of `path` through `ByteInput` with mapped windows of `window` bytes (so the
/// compressed bytes reach the decoder in chunks of that size), or the error that ended it,
/// with the bytes delivered before it.
private func readAll(_ path: String, window: Int = ByteInput.mappedWindowSize) -> (bytes: [UInt8], error: InputError?) {
    var out: [UInt8] = []
    do {
        let input = try ByteInput(path: path, mappedWindowSize: window)
        while let chunk = try input.nextChunk() { out += chunk }
        return (out, nil)
    } catch {
        return (out, error)
    }
}

/// A few KiB of trace text: several lines, repeated but not uniform.
private let smallText: [UInt8] = {
    var text = ""
    for i in 0..<120 {
        text += "  fio-\(1000 + i % 7)  [00\(i % 4)] .....  \(100 + i / 50).\(String(100_000 + i * 37)): nvme_sq: nvme0: qid=\(i % 3 + 1), head=\(i % 64), tail=\((i * 5) % 64)\n"
    }
    return Array(text.utf8)
}()

@Suite struct DecompressionTests {
    static let all: [Compression] = [.gzip, .zstd, .xz]

    /// The decompressed bytes equal the original whatever the chunks the compressed bytes come
    /// in: every window size from 1 byte (a chunk boundary after every byte) to the whole file.
    @Test(arguments: DecompressionTests.all)
    func everyChunkBoundaryGivesTheOriginal(_ compression: Compression) throws {
        let packed = try compressed(smallText, compression)
        let path = TempFile.write(packed)
        defer { TempFile.remove(path) }
        #expect(Compression.of(path: path) == compression)
        for window in 1...packed.count {
            let (bytes, error) = readAll(path, window: window)
            #expect(error == nil, "\(compression), window \(window): \(String(describing: error))")
            #expect(bytes == smallText, "\(compression), window \(window)")
            if bytes != smallText { break }
        }
    }

    /// Output larger than the ring of decompressed buffers: flows through, in order.
    @Test(arguments: DecompressionTests.all)
    func outputLargerThanTheRingComesInOrder(_ compression: Compression) throws {
        // More than the ring's 4 buffers of 1 MiB; compressible but not uniform.
        var original = [UInt8](repeating: 0x20, count: 5 << 20 + 12345)
        var state: UInt32 = 12345
        original.withUnsafeMutableBufferPointer { bytes in
            for i in stride(from: 0, to: bytes.count, by: 16) {
                state = state &* 1_103_515_245 &+ 12345
                bytes[i] = 0x61 &+ UInt8(truncatingIfNeeded: state >> 27)
                bytes[i + 1] = 0x0A
            }
        }
        let path = TempFile.write(try compressed(original, compression))
        defer { TempFile.remove(path) }
        let (bytes, error) = readAll(path, window: 4096)
        #expect(error == nil)
        #expect(bytes.count == original.count)
        #expect(bytes == original)
    }

    /// `cat a.gz b.gz` (and the same for zstd frames and xz streams) reads as the two contents
    /// one after the other, as the tools decompress it.
    @Test(arguments: DecompressionTests.all)
    func concatenatedMembersAreReadOneAfterTheOther(_ compression: Compression) throws {
        let cut = 1500
        let first = Array(smallText[..<cut]), second = Array(smallText[cut...])
        let joined = try compressed(first, compression) + compressed(second, compression)
        let path = TempFile.write(joined)
        defer { TempFile.remove(path) }
        let tool: String
        switch compression {
        case .gzip: tool = "gzip"
        case .zstd: tool = "zstd"
        case .xz: tool = "xz"
        }
        #expect(try run(tool, ["-d", "-c"], input: joined) == smallText)
        for window in [1, 7, 100, joined.count] {
            let (bytes, error) = readAll(path, window: window)
            #expect(error == nil)
            #expect(bytes == smallText, "\(compression), window \(window)")
        }
    }

    /// pzstd starts its files with a skippable frame: still zstd, still read.
    @Test func zstdSkippableFrameIsSkipped() throws {
        let skippable: [UInt8] = [0x50, 0x2A, 0x4D, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]
        let path = TempFile.write(skippable + (try compressed(smallText, .zstd)))
        defer { TempFile.remove(path) }
        #expect(Compression.of(path: path) == .zstd)
        let (bytes, error) = readAll(path)
        #expect(error == nil)
        #expect(bytes == smallText)
    }

    /// A file cut anywhere is a read failure located in the file (never a crash, a hang or a
    /// silent end), after delivering only bytes of the original, in order.
    @Test(arguments: DecompressionTests.all)
    func truncationAnywhereIsALocatedError(_ compression: Compression) throws {
        let packed = try compressed(smallText, compression)
        for length in 1..<packed.count {
            let path = TempFile.write(Array(packed[..<length]))
            defer { TempFile.remove(path) }
            // Too short to carry the magic: read as it is (not compressed).
            if Compression.of(path: path) != compression { continue }
            let (bytes, error) = readAll(path, window: 64)
            #expect(Array(smallText.prefix(bytes.count)) == bytes, "\(compression) cut at \(length)")
            guard case .readFailed(let errorPath, let offset, let reason)? = error else {
                Issue.record("\(compression) cut at \(length) of \(packed.count): \(String(describing: error))")
                continue
            }
            #expect(errorPath == path)
            #expect(offset <= UInt64(length), "\(compression) cut at \(length): offset \(offset)")
            #expect(reason.contains(compression.rawValue), "\(reason)")
        }
    }

    /// A flipped byte in the middle of the data is caught (by the format's check at the latest)
    /// and located.
    @Test(arguments: DecompressionTests.all)
    func corruptDataIsALocatedError(_ compression: Compression) throws {
        var packed = try compressed(smallText, compression)
        packed[packed.count / 2] ^= 0x5A
        let path = TempFile.write(packed)
        defer { TempFile.remove(path) }
        let (_, error) = readAll(path, window: 100)
        guard case .readFailed(let errorPath, let offset, let reason)? = error else {
            Issue.record("\(compression): corruption not reported: \(String(describing: error))")
            return
        }
        #expect(errorPath == path)
        #expect(offset <= UInt64(packed.count))
        #expect(reason.contains("corrupt") || reason.contains("ends inside"), "\(reason)")
        #expect(error!.description.hasPrefix("\(path)@\(offset): read failed: "))
    }

    /// A compressed file whose content is empty is an empty input.
    @Test(arguments: DecompressionTests.all)
    func emptyContentIsAnEmptyInput(_ compression: Compression) throws {
        let path = TempFile.write(try compressed([], compression))
        defer { TempFile.remove(path) }
        #expect(throws: InputError.empty(path: path)) { try ByteInput(path: path) }
    }

    /// Dropping a compressed input after its first chunk neither hangs nor leaks its thread's
    /// work: many in a row finish promptly.
    @Test func abandonedInputsStopTheirThreads() throws {
        let big = [UInt8](repeating: 0x41, count: 32 << 20)
        let path = TempFile.write(try compressed(big, .zstd))
        defer { TempFile.remove(path) }
        for _ in 0..<50 {
            let input = try ByteInput(path: path)
            #expect(try input.nextChunk()?.count == ByteInput.readChunkSize)
        }
    }

    /// Standard input or a pipe carrying compressed bytes is decompressed too.
    @Test func aPipeOfCompressedBytesIsDecompressed() throws {
        let packed = try compressed(smallText, .xz)
        let pipe = Pipe()
        let writer = Thread { writeAllRetrying(pipe.fileHandleForWriting, Data(packed)) }
        writer.start()
        let (bytes, error) = readAll("/dev/fd/\(pipe.fileHandleForReading.fileDescriptor)")
        #expect(error == nil)
        #expect(bytes == smallText)
    }

    /// Every input format reads the same events compressed as plain (pcap through libpcap's
    /// cookie FILE, the simple trace through its record reader, text through the parallel
    /// decoder).
    @Test(arguments: [
        "lab/sq-hang.txt", "real-single/qemu-trace.log", "binary/trace-4711", "binary/qemu-single-excerpt.pcap",
    ])
    func everyFormatReadsTheSameEventsCompressed(_ sample: String) throws {
        let plain = packageRoot.appendingPathComponent("SampleTraces/\(sample)").path
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: plain)))
        // Three decoding threads: two for a compressed input (its decompressing thread counts
        // as one), so the segments of the parallel decoder are read from the decompressed stream.
        var options = SourceOptions()
        options.decodeThreads = 3
        options.streamSegmentSize = 64 << 10
        let expected = try drain(openEventSource(path: plain, index: 0, options: options))
        for compression in Self.all {
            let path = TempFile.write(try compressed(original, compression))
            defer { TempFile.remove(path) }
            #expect(try detectFormat(path: path) == detectFormat(path: plain))
            let got = try drain(openEventSource(path: path, index: 0, options: options, displayPath: plain))
            #expect(got.events == expected.events, "\(sample) as \(compression)")
            #expect(got.summary.bytes == expected.summary.bytes)
            #expect(got.summary.path == plain)
            #expect(got.summary.malformed == expected.summary.malformed)
            var sequential = options
            sequential.decodeThreads = 1
            #expect(try drain(openEventSource(path: path, index: 0, options: sequential)).events == expected.events)
        }
    }

    /// A compressed pcapng reads the same records at the same offsets (block starts, from the
    /// block lengths the reader keeps a history of).
    @Test func compressedPcapngReadsTheSameRecords() throws {
        let plain = packageRoot.appendingPathComponent("SampleTraces/binary/qemu-single-excerpt-first600.pcapng").path
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: plain)))
        let expected = try drain(openEventSource(path: plain, index: 0))
        for compression in Self.all {
            let path = TempFile.write(try compressed(original, compression))
            defer { TempFile.remove(path) }
            let got = try drain(openEventSource(path: path, index: 0))
            #expect(got.events == expected.events, "\(compression)")
        }
    }
}
