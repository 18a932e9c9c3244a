import Foundation
import ShadowBellTestSupport
import Testing
import ShadowBellCore
@testable import ShadowBellFormats

/// A few megabytes of ftrace text with every decoded event kind, so that reads span chunks.
private let bigTrace: String = {
    var text = "# tracer: nop\n"
    var t = 5_000_000
    for i in 0..<24_000 {
        t += 3
        let ts = "\(t / 1_000_000).\(String(t % 1_000_000).leftPadded(to: 6))"
        switch i % 4 {
        case 0: text += "             fio-1234  [001] .....  \(ts): nvme_setup_cmd: nvme0: disk=nvme0n1, qid=1, cmdid=\(i % 65536), nsid=1, flags=0x0, meta=0x0, cmd=(nvme_cmd_read slba=0, len=7, ctrl=0x0, dsmgmt=0, reftag=0)\n"
        case 1: text += "             fio-1234  [001] .....  \(ts): nvme_dbbuf_sq: nvme0: qid=1, old=\(i % 1024), new=\((i + 1) % 1024), eventidx=3, mmio=\(i % 2)\n"
        case 2: text += "          <idle>-0     [000] d.h1.  \(ts): irq_handler_entry: irq=24 name=nvme0q1\n"
        default: text += "          <idle>-0     [000] ..s1.  \(ts): nvme_complete_rq: nvme0: disk=nvme0n1, qid=1, cmdid=\(i % 65536), res=0x0, retries=0, flags=0x0, status=0x0\r\n"
        }
    }
    return text + "CPU:0 [LOST 7 EVENTS]\n          <idle>-0     [000] d.h1.  9.000000: nvme_sq: nvme0: qid=1, head=1, tail=2"
}()

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}

@Suite struct ByteInputTests {
    @Test func mappedWindowsAndPipeReadsGiveTheSameEvents() throws {
        let bytes = Array(bigTrace.utf8)
        #expect(bytes.count > 3 * ByteInput.readChunkSize)
        let path = TempFile.write(bytes)
        defer { TempFile.remove(path) }

        let whole = try drain(try openEventSource(path: path, index: 1))
        #expect(whole.summary.bytes == UInt64(bytes.count))
        #expect(whole.summary.events == 18_001 && whole.summary.malformed == 0)
        #expect(whole.summary.dataLossMarkers == 1 && whole.summary.lostEvents == 7)
        #expect(whole.batches == 5)

        // Small mapped windows: many lines straddle window boundaries.
        for window in [4096, 65_537] {
            let input = try ByteInput(path: path, mappedWindowSize: window)
            #expect(input.isMapped)
            let windowed = try drain(FtraceTextSource(input: input, index: 1, options: .init()))
            #expect(windowed.events == whole.events, "window \(window)")
        }

        // A pipe: read in chunks, not mapped.
        let pipe = Pipe()
        let writer = Thread { writeAllRetrying(pipe.fileHandleForWriting, Data(bytes)) }
        writer.start()
        let piped = try drain(
            try openEventSource(path: "/dev/fd/\(pipe.fileHandleForReading.fileDescriptor)", index: 1))
        #expect(piped.events == whole.events)
        #expect(piped.summary.bytes == UInt64(bytes.count))
        #expect(piped.summary.records == whole.summary.records)
    }

    @Test func emptyPipeIsEmpty() throws {
        let pipe = Pipe()
        try pipe.fileHandleForWriting.close()
        let path = "/dev/fd/\(pipe.fileHandleForReading.fileDescriptor)"
        #expect(throws: InputError.empty(path: path)) { try ByteInput(path: path) }
    }

    @Test func chunksCoverTheFileExactlyOnce() throws {
        let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let path = TempFile.write(bytes)
        defer { TempFile.remove(path) }
        let input = try ByteInput(path: path, mappedWindowSize: 4096)
        #expect(Array(input.prefix(16)) == Array(bytes.prefix(16)))
        var seen: [UInt8] = []
        while let chunk = try input.nextChunk() { seen += Array(chunk) }
        #expect(seen == bytes)
        #expect(input.offset == 10_000)
    }
}
