import Testing
import ShadowBellCore
@testable import ShadowBellFormats

/// `trace-cmd report` text in the shapes trace-cmd 3.1.6 prints (lines from the real
/// dat-hang-sq2 sample, some with changed values): the `[FAILED TO PARSE]` raw fields, `-R`,
/// `-l`, `--ts-diff`.
@Suite struct TraceCmdReportTextTests {
    static let setup =
        "    kworker/u4:1-25    [001]     7.076257: nvme_setup_cmd:       [FAILED TO PARSE] disk=nvme0n1 ctrl_id=0 qid=2 opcode=2 flags=0 fctype=1 cid=320 nsid=1 metadata=0 cdw10=ARRAY[00, 00, 00, 00, 00, 00, 00, 00, 07, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00]"
    static let complete =
        "          <idle>-0     [000]     6.982768: nvme_complete_rq:     [FAILED TO PARSE] disk= ctrl_id=0 qid=0 cid=20 result=0 retries=0 flags=0 status=0"
    static let sq =
        "          <idle>-0     [000]     6.982105: nvme_sq:              [FAILED TO PARSE] ctrl_id=0 disk= qid=0 sq_head=1 sq_tail=3"
    static let createCQ =
        "    kworker/u4:1-25    [001]     7.025385: nvme_setup_cmd:       [FAILED TO PARSE] disk= ctrl_id=0 qid=0 opcode=5 flags=0 fctype=0 cid=4118 nsid=0 metadata=0 cdw10=ARRAY[01, 00, ff, 03, 03, 00, 01, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00]"
    static let createSQ =
        "    kworker/u4:1-25    [001]     7.027432: nvme_setup_cmd:       [FAILED TO PARSE] disk= ctrl_id=3 qid=0 opcode=1 flags=0 fctype=0 cid=8213 nsid=0 metadata=0 cdw10=ARRAY[02, 00, ff, 03, 01, 00, 02, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00]"

    @Test func failedToParseFieldsDecodeLikeTheParsedForm() throws {
        let d = try decode("cpus=2\n\(Self.setup)\n\(Self.sq)\n\(Self.complete)\n")
        #expect(d.summary.format == .ftraceText)
        #expect(d.summary.malformed == 0, "\(d.summary.firstMalformed)")
        try #require(d.events.count == 3)
        let (s, h, c) = (d.events[0], d.events[1], d.events[2])
        #expect(s.kind == .driverSubmit && s.qid == 2 && s.a == 320 && s.controller == 0 && s.flags == 0)
        #expect(s.time == 7_076_257_000 && s.location == 2)
        #expect(h.kind == .driverSQHead && h.qid == 0 && h.a == 1 && h.b == 3)
        #expect(c.kind == .driverComplete && c.qid == 0 && c.a == 20 && c.b == 0)
    }

    @Test func abortAndDeleteQueueFromOpcodeAndCdw10() throws {
        let abort = "    kworker/1:1H-44    [001]    30.455579: nvme_setup_cmd:       [FAILED TO PARSE] disk= ctrl_id=0 qid=0 opcode=8 flags=0 fctype=0 cid=8216 nsid=0 metadata=0 cdw10=ARRAY[01, 00, c2, 73, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00]"
        let delete = "    kworker/1:1H-44    [001]    45.527430: nvme_setup_cmd:       [FAILED TO PARSE] disk= ctrl_id=0 qid=0 opcode=0 flags=0 fctype=0 cid=12313 nsid=0 metadata=0 cdw10=ARRAY[01, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00, 00]"
        let d = try decode("cpus=2\n\(abort)\n\(delete)\n")
        try #require(d.events.count == 2)
        #expect(d.events[0].flags == Event.abortsCommandFlag && d.events[0].b == 1 && d.events[0].c == 0x73c2)
        #expect(d.events[1].flags == Event.deletesQueueFlag && d.events[1].queueType == .sq && d.events[1].b == 1)
        // The parsed form of the same lines gives the same events.
        let parsed = try decode(
            "cpus=2\n    kworker/1:1H-44    [001]    30.455579: nvme_setup_cmd:       nvme0: qid=0, cmdid=8216, nsid=0, flags=0x0, meta=0x0, cmd=(nvme_admin_abort_cmd cdw10=01 00 c2 73 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00)\n"
                + "    kworker/1:1H-44    [001]    45.527430: nvme_setup_cmd:       nvme0: qid=0, cmdid=12313, nsid=0, flags=0x0, meta=0x0, cmd=(nvme_admin_delete_sq sqid=1)\n")
        #expect(parsed.events.map(\.flags) == d.events.map(\.flags))
        #expect(parsed.events.map(\.b) == d.events.map(\.b) && parsed.events.map(\.c) == d.events.map(\.c))
    }

    @Test func createQueueCommandsFromOpcodeAndCdw10() throws {
        let d = try decode("\(Self.createCQ)\n\(Self.createSQ)\n")
        try #require(d.events.count == 2)
        let (cq, sq) = (d.events[0], d.events[1])
        #expect(cq.flags & Event.createsQueueFlag != 0 && cq.queueType == .cq && cq.b == 1 && cq.c == 1023)
        #expect(sq.flags & Event.createsQueueFlag != 0 && sq.queueType == .sq && sq.b == 2 && sq.c == 1023)
        // An empty `disk=` names no controller: `ctrl_id` does, as `nvme<ctrl_id>:` does when parsed.
        #expect(sq.controller == 3 && cq.controller == 0)
        let parsed = try decode(
            "    kworker/u4:1-25      [001] .....     7.025385: nvme_setup_cmd: nvme0: qid=0, cmdid=4118, nsid=0, flags=0x0, meta=0x0, cmd=(nvme_admin_create_cq cqid=1, qsize=1023, cq_flags=0x3, irq_vector=1)\n")
        var expected = parsed.events.first
        expected?.location = 1
        #expect(expected == cq)
    }

    @Test func rawOptionLatencyColumnsAndTimeDeltas() throws {
        let text = """
            kworker/u4:1-25    [001]     6.979931: nvme_setup_cmd:        disk= ctrl_id=0 qid=0 opcode=6 flags=0 fctype=0 cid=20 nsid=0 metadata=0 cdw10=ARRAY[01, 00, 00, 00]
              <idle>-0       0d.h1.     6.982105: nvme_sq:              [FAILED TO PARSE] ctrl_id=0 disk= qid=0 sq_head=1 sq_tail=1
            kworker/-25      1.....     6.985359:          nvme_setup_cmd:       [FAILED TO PARSE] disk= ctrl_id=0 qid=0 opcode=2 flags=0 fctype=0 cid=21 nsid=0 metadata=0 cdw10=ARRAY[05, 00, ff, 03]
              <idle>-0     [000]     6.985765: (+406)   nvme_sq:              [FAILED TO PARSE] ctrl_id=0 disk= qid=0 sq_head=2 sq_tail=2

            """
        let d = try decode(text)
        #expect(d.summary.malformed == 0, "\(d.summary.firstMalformed)")
        #expect(d.events.map(\.time) == [6_979_931_000, 6_982_105_000, 6_985_359_000, 6_985_765_000])
        #expect(d.events.map(\.a) == [20, 1, 21, 2])
    }

    @Test func printMarkersInEveryShape() throws {
        let payload = "pci_nvme_mmio_doorbell_sq sqid 1 new_tail 17"
        let text = """
                    init-1     [000]    10.481937: print:                tracing_mark_write: \(payload)
                    init-1     [000]    10.481938: print:                 ip=tracing_mark_write buf=\(payload)
                    init-1     [000]    10.481939: print:                tracing_mark_write: nvme_dbbuf_sq: nvme1: qid=2, old=4, new=5, eventidx=4, mmio=1
                    init-1       [000] .....    10.481940: tracing_mark_write: === GUEST: fio start 10.45 7.21

            """
        let d = try decode(text)
        #expect(d.summary.malformed == 0, "\(d.summary.firstMalformed)")
        try #require(d.events.count == 3)
        #expect(d.events[0].kind == .mmioDoorbell && d.events[0].a == 17)
        #expect(d.events[1] == Event(kind: .mmioDoorbell, time: 10_481_938_000, location: 2, source: 3, qid: 1, a: 17))
        #expect(d.events[2] == .driverDoorbellUpdate(.sq, qid: 2, old: 4, new: 5, eventIdx: 4, mmio: true, time: 10_481_939_000, controller: 1, location: 3, source: 3))
    }

    @Test(arguments: [
        ("nvme_sq: [FAILED TO PARSE] ctrl_id=0 disk= qid=70000 sq_head=1 sq_tail=1", "nvme_sq: value out of range in qid"),
        ("nvme_sq: [FAILED TO PARSE] ctrl_id=0 disk= qid=1 sq_tail=1", "nvme_sq: missing sq_head"),
        ("nvme_complete_rq: [FAILED TO PARSE] disk= ctrl_id=0 qid=1 cid=-1 status=0", "nvme_complete_rq: bad number in cid"),
        ("nvme_setup_cmd: [FAILED TO PARSE] disk= ctrl_id=0 qid=0 opcode=1 cid=3 cdw10=ARRAY[01, 00]", "nvme_setup_cmd: missing cdw10"),
        ("nvme_setup_cmd: [FAILED TO PARSE] disk= ctrl_id=0 qid=0 opcode=1 cid=3 cdw10=ARRAY[01, zz]", "nvme_setup_cmd: bad number in cdw10"),
        ("nvme_setup_cmd: [FAILED TO PARSE] disk= ctrl_id=99999 qid=1 cid=3", "nvme_setup_cmd: value out of range in ctrl_id"),
    ])
    func damagedRawFieldsAreMalformed(_ line: String, _ reason: String) throws {
        let d = try decode("          <idle>-0     [000]     6.982105: \(line)\n")
        #expect(d.events.isEmpty)
        #expect(d.summary.malformed == 1)
        #expect(d.summary.firstMalformed.first?.reason == reason)
    }
}

/// `perf script` text of the nvme tracepoints (`perf record -e 'nvme:*'`) reads like ftrace.
@Suite struct PerfScriptTextTests {
    @Test func perfScriptLinesDecode() throws {
        let text = """
                         fio  1234 [001] 12345.678901: nvme:nvme_setup_cmd: nvme0: disk=nvme0n1, qid=1, cmdid=25, nsid=1, flags=0x0, meta=0x0, cmd=(nvme_cmd_read slba=0, len=7, ctrl=0x0, dsmgmt=0, reftag=0)
                     swapper     0 [000] 12345.679001: nvme:nvme_sq: nvme0: disk=nvme0n1, qid=1, head=1, tail=1
                     swapper 0/0 [000] 12345.679010: nvme:nvme_complete_rq: nvme0: disk=nvme0n1, qid=1, cmdid=25, res=0x0, retries=0, flags=0x0, status=0x0
                         fio  1234 [001] 12345.679100: block:block_rq_issue: 259,0 R 8192 () 0 + 16 [fio]

            """
        let d = try decode(text)
        #expect(d.summary.format == .ftraceText)
        #expect(d.summary.malformed == 0 && d.summary.skipped == 1)
        #expect(d.events.map(\.kind) == [.driverSubmit, .driverSQHead, .driverComplete])
        #expect(d.events.map(\.time) == [12_345_678_901_000, 12_345_679_001_000, 12_345_679_010_000])
        #expect(d.events[0].a == 25 && d.events[0].qid == 1)
    }

    static let padding = [UInt8](repeating: 0, count: 64)
    static let others: [([UInt8], String)] = [
        (Array("PERFILE2".utf8), "perf script"),
        ([0xC1, 0x1F, 0xFC, 0xC1], "CTF"),
        ([0x07, 0x74, 0x61, 0x65], "blktrace"),
        // A run folder packed (a .tgz reads as its tar once decompressed): "first bytes are binary".
        (Array(repeating: 0x61, count: 100) + Array(repeating: 0, count: 157) + Array("ustar\u{0}00".utf8), "tar xf"),
        ([0x50, 0x4B, 0x03, 0x04], "unzip"),
    ]

    @Test(arguments: others)
    func otherTraceFormatsSayWhatToRun(_ magic: [UInt8], _ hint: String) throws {
        let path = TempFile.write(magic + Self.padding)
        defer { TempFile.remove(path) }
        #expect(throws: InputError.self) { _ = try openEventSource(path: path, index: 0) }
        do {
            _ = try openEventSource(path: path, index: 0)
        } catch {
            #expect(error.description.contains(hint), "\(error)")
            #expect(error.path == path)
        }
    }
}
