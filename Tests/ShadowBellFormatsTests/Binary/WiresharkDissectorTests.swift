import Foundation
import ShadowBellCore
import ShadowBellTestSupport
import Testing

@testable import ShadowBellFormats

/// Runs tshark with the shipped Lua dissector (Docs/wireshark/shadowbell.lua) on a generated
/// capture and checks the decoded fields. CI installs tshark; without it this test fails.
@Suite struct WiresharkDissectorTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let script = repositoryRoot.appendingPathComponent("Docs/wireshark/shadowbell.lua").path

    static func findTshark() -> String? { findTool("tshark") }

    static func findTool(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") + ["/usr/bin", "/usr/local/bin"] {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// tshark's field output (`-T fields`), one row per packet.
    static func tsharkFields(_ pcap: String, _ fields: [String]) throws -> [[String]] {
        let tshark = try #require(findTshark(), "tshark is not installed (apt-get install tshark)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tshark)
        process.arguments = ["-X", "lua_script:\(script)", "-r", pcap, "-T", "fields", "-E", "separator=|"]
            + fields.flatMap { ["-e", $0] }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = readAllRetrying(out.fileHandleForReading)
        let errors = String(decoding: readAllRetrying(err.fileHandleForReading), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "tshark failed: \(errors)")
        #expect(!errors.contains("Lua: Error"), "\(errors)")
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map {
            $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        }
    }

    @Test func tsharkDecodesEveryFieldOfEveryKind() throws {
        #expect(FileManager.default.fileExists(atPath: Self.script))
        let dir = TemporaryDirectory()
        var rng = SplitMix64(seed: 7)
        var events: [Event] = []
        for (i, kind) in EventKind.allCases.enumerated() {
            var e = randomEvent(kind, using: &rng)
            e.time = 1_700_000_000_000_000_000 + Int64(i) * 1_001
            events.append(e)
        }
        let pcap = dir.path("sample.pcap")
        try convertToPcap(sources: [ArraySource(index: 0, events: events)], output: pcap)
        let fields = [
            "shadowbell.version", "shadowbell.kind", "shadowbell.side", "shadowbell.flags", "shadowbell.queue_type",
            "shadowbell.controller", "shadowbell.qid", "shadowbell.a", "shadowbell.b", "shadowbell.c",
            "shadowbell.source", "shadowbell.wide", "shadowbell.location", "frame.time_epoch",
        ]
        let rows = try Self.tsharkFields(pcap, fields)
        #expect(rows.count == events.count)
        for (row, e) in zip(rows, events) {
            guard row.count == fields.count else {
                Issue.record("row \(row)")
                continue
            }
            let seconds = e.time / 1_000_000_000
            let fraction = String(e.time % 1_000_000_000)
            let nanos = String(repeating: "0", count: 9 - fraction.count) + fraction
            // The source index written is the input's position among the converted sources (0 here).
            let expected = [
                "1", "\(e.kind.rawValue)", "\(e.kind.side.rawValue)", "0x" + hex(UInt64(e.flags), width: 2),
                "\(e.queueType.rawValue)", "\(e.controller)", "\(e.qid)", "\(e.a)", "\(e.b)", "\(e.c)",
                "0", "0x" + hex(e.wide, width: 16), "\(e.location)", "\(seconds).\(nanos)",
            ]
            #expect(row == expected)
        }
    }

    @Test func tsharkFlagsMalformedRecords() throws {
        let dir = TemporaryDirectory()
        let good = record(Event(kind: .mmioDoorbell, time: 1, qid: 1, a: 9))
        var future = good
        future[4] = 2
        let path = dir.write(
            "bad.pcap", pcapFile(packets: [(1, good), (2, Array(good[0..<40])), (3, future)]))
        let rows = try Self.tsharkFields(path, ["shadowbell.version", "shadowbell.qid", "_ws.col.Info"])
        #expect(rows.count == 3)
        #expect(rows.first == ["1", "1", "mmio-doorbell nvme0:sq1 value=9"])
        #expect(rows.dropFirst().first?.last?.contains("short") == true)
        #expect(rows.last?.last?.contains("unknown record version 2") == true)
    }

    /// The advice given for a pcapng with mixed link types works: editcap rewrites it as a
    /// USER0 pcap that ShadowBell reads, the foreign packets counted as malformed.
    @Test func editcapAdviceForMixedLinkTypesWorks() throws {
        let editcap = try #require(Self.findTool("editcap"), "editcap is not installed (apt-get install tshark)")
        let dir = TemporaryDirectory()
        let e = Event(kind: .interrupt, time: 7, a: 3)
        let mixed = dir.write(
            "mixed.pcapng",
            pcapngFile(interfaces: [147, 1], packets: [(0, 7, record(e)), (1, 8, [UInt8](repeating: 0, count: 60))]))
        let out = dir.path("fixed.pcap")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: editcap)
        process.arguments = ["-F", "pcap", "-T", "user0", mixed, out]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let source = try PcapEventSource(path: out, index: 0)
        #expect(try drainEvents(source).map(\.a) == [3])
        #expect(source.summary.malformed == 1)
    }

    func hex(_ v: UInt64, width: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}
