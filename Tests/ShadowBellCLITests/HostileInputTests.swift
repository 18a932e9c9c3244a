import Foundation
import Testing

/// Small hostile inputs, made here: each runs the real executable (a trap would end the child,
/// not the tests) and must end with a contract status and a located message.
@Suite struct HostileInputTests {
    func write(_ name: String, _ text: String) throws -> String {
        let path = temporaryPath(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static let ftraceHeader = "# tracer: nop\n#\n"

    @Test(arguments: [
        ("marker.txt", ftraceHeader
            + " qemu-system-x86-4711 [001] .....   100.000110: tracing_mark_write: pci_nvme_create_sq create submission queue, addr=0x10a000, sqid=1, cqid=1, qsize=4294967295, qflags=1\n"),
        ("admin.txt", ftraceHeader
            + "    kworker/u4:0-9       [001] .....     4.769677: nvme_setup_cmd: nvme0: qid=0, cmdid=4119, nsid=0, flags=0x0, meta=0x0, cmd=(nvme_admin_create_sq sqid=1, qsize=4294967295, sq_flags=0x1, cqid=1)\n"),
        ("qemu.log",
         "15650@1795660157.117049:pci_nvme_create_sq create submission queue, addr=0x3ffd5000, sqid=1, cqid=1, qsize=4294967295, qflags=1\n"),
    ])
    func aQueueSizeBeyondSixteenBitsIsReportedNotTrusted(name: String, text: String) throws {
        let path = try write(name, text)
        let r = try runProcess(["analyze", path, "--format", "json"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stdout.contains("\"value-out-of-range\""))
        #expect(r.stdout.contains("created with qsize 4294967295"))
        #expect(r.stdout.contains("\(name):"), "the finding names the input line")
    }

    @Test func lostEventCountsAreAddedWholeAndSaturate() throws {
        let path = try write(
            "lost.txt",
            Self.ftraceHeader + "CPU:0 [LOST 5000000000 EVENTS]\n"
                + "             fio-2201 [000] .....   100.001002: nvme_dbbuf_sq: nvme0: qid=1, old=0, new=1, eventidx=0, mmio=1\n")
        let r = try runProcess(["analyze", path, "--format", "json"])
        #expect([0, 1].contains(r.status), "\(r.stderr)")
        #expect(r.stdout.contains("\"lost_events\": 5000000000"))
        let huge = try write(
            "lost-huge.txt",
            Self.ftraceHeader + "CPU:0 [LOST 18446744073709551615 EVENTS]\nCPU:1 [LOST 18446744073709551615 EVENTS]\n"
                + "             fio-2201 [000] .....   100.001002: nvme_dbbuf_sq: nvme0: qid=1, old=0, new=1, eventidx=0, mmio=1\n")
        let h = try runProcess(["analyze", huge, "--format", "json"])
        #expect([0, 1].contains(h.status), "\(h.stderr)")
        #expect(h.stdout.contains("\"lost_events\": 18446744073709551615"))
    }

    @Test func aTraceAfterManyBlankLinesIsStillRecognised() throws {
        let trace = try String(contentsOfFile: sample("lab/sq-hang.txt"), encoding: .utf8)
        let path = try write("blank-then-trace.txt", String(repeating: "\n", count: 300 << 10) + trace)
        let r = try runProcess(["analyze", path, "--format", "json"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stdout.contains("\"mutual-wait\""))
    }

    @Test func eachRunOfABatchFailsAlone() throws {
        let root = temporaryPath("hostile-batch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: sample("lab/sq-hang.txt"), toPath: root + "/a-good.txt")
        // Once a trap that ended the whole batch.
        try Data((Self.ftraceHeader
            + " qemu-system-x86-4711 [001] .....   100.000110: tracing_mark_write: pci_nvme_create_sq create submission queue, addr=0x10a000, sqid=1, cqid=1, qsize=4294967295, qflags=1\n").utf8)
            .write(to: URL(fileURLWithPath: root + "/b-qsize.txt"))
        // A pcap header and then garbage: libpcap refuses it.
        try Data([0xD4, 0xC3, 0xB2, 0xA1] + [UInt8](repeating: 0xFF, count: 60)).write(to: URL(fileURLWithPath: root + "/c-broken.pcap"))
        let r = try runProcess(["analyze", root, "--group-by", "file", "--format", "jsonl"])
        #expect(r.status == 2, "\(r.stderr)")
        let docs = r.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let statuses = docs.map { ($0["summary"] as? [String: Any])?["exit_status"] as? Int }
        #expect(statuses == [1, 1, 2], "\(r.stdout)")
    }
}
