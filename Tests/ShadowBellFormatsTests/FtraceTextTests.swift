import Testing
import ShadowBellCore
@testable import ShadowBellFormats

/// Decodes one ftrace line (as a whole file) and returns its only event.
private func single(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws
    -> Event
{
    let d = try decode(text)
    #expect(d.summary.format == .ftraceText, sourceLocation: sourceLocation)
    #expect(d.summary.malformed == 0, "\(d.summary.firstMalformed)", sourceLocation: sourceLocation)
    #expect(d.events.count == 1, sourceLocation: sourceLocation)
    return try #require(d.events.first, sourceLocation: sourceLocation)
}

private let nvmeSQ = "nvme_sq: nvme0: disk=nvme0n1, qid=1, head=12, tail=13"

@Suite struct FtraceLineVariantTests {
    @Test func commWithSpaces() throws {
        let e = try single("       CPU 0/KVM-4711    [001] d..2.  5123.456789: \(nvmeSQ)\n")
        #expect(e.kind == .driverSQHead)
        #expect(e.time == 5_123_456_789_000)
        #expect(e.qid == 1 && e.a == 12 && e.b == 13)
        #expect(e.location == 1 && e.source == 3 && e.controller == 0)
    }

    @Test func kworkerComm() throws {
        let e = try single(
            "  kworker/1:1H-123     [000] .....   100.000001: nvme_complete_rq: nvme1: disk=nvme1n1, qid=2, cmdid=12290, res=0x0, retries=0, flags=0x0, status=0x4004\n"
        )
        #expect(e.kind == .driverComplete)
        #expect(e.controller == 1 && e.qid == 2 && e.a == 12290 && e.b == 0x4004)
        #expect(e.time == 100_000_001_000)
    }

    @Test func idleComm() throws {
        let e = try single("          <idle>-0       [000] d.H1.     9.378744: \(nvmeSQ)\n")
        #expect(e.time == 9_378_744_000 && e.a == 12)
    }

    @Test func commWithBrackets() throws {
        // The first `[` is not the CPU column; neither is `[7]-x`.
        let e = try single("   foo[1] b-ar[7]-x-77  [002] ..... 1.000000: \(nvmeSQ)\n")
        #expect(e.time == 1_000_000_000 && e.b == 13)
    }

    @Test func tgidColumn() throws {
        let e = try single("             fio-1234    (   1230) [003] d..1.    12.000002: \(nvmeSQ)\n")
        #expect(e.time == 12_000_002_000)
        let unknown = try single("             fio-1234    (-------) [003] d..1.    12.000003: \(nvmeSQ)\n")
        #expect(unknown.time == 12_000_003_000)
    }

    @Test func noFlagsColumn() throws {
        let e = try single("             fio-1234  [003]    12.345678: \(nvmeSQ)\n")
        #expect(e.time == 12_345_678_000)
    }

    @Test func fourCharacterFlags() throws {
        let e = try single("             fio-1234  [003] d..2    12.345678: \(nvmeSQ)\n")
        #expect(e.time == 12_345_678_000)
    }

    @Test func nanosecondTimestamp() throws {
        let e = try single("             fio-1234  [003] .....    12.345678901: \(nvmeSQ)\n")
        #expect(e.time == 12_345_678_901)
    }

    @Test func bareIntegerTimestamp() throws {
        let e = try single("             fio-1234  [003] ..... 1234567890123: \(nvmeSQ)\n")
        #expect(e.time == 1_234_567_890_123)
    }

    @Test func traceCmdPadding() throws {
        let e = try single(
            "             fio-1234  [003]  5123.456789: nvme_setup_cmd:       nvme0: disk=nvme0n1, qid=1, cmdid=12290, nsid=1, flags=0x0, meta=0x0, cmd=(nvme_cmd_read slba=0, len=7, ctrl=0x0, dsmgmt=0, reftag=0)\n"
        )
        #expect(e.kind == .driverSubmit && e.qid == 1 && e.a == 12290 && e.flags == 0)
    }

    @Test func traceCmdPrintMarker() throws {
        let e = try single(
            "qemu-system-x86-4711 [002]  5123.456789: print:                tracing_mark_write: pci_nvme_mmio_doorbell_sq sqid 1 new_tail 17\n"
        )
        #expect(e.kind == .mmioDoorbell && e.queueType == .sq && e.qid == 1 && e.a == 17)
        #expect(e.time == 5_123_456_789_000)
    }

    @Test func tracingMarkWriteCarriesQemuEvents() throws {
        let d = try decode(
            """
            qemu-system-x86-4711 [002] ..... 5123.456789: tracing_mark_write: pci_nvme_mmio_doorbell_sq sqid 1 new_tail 17
            qemu-system-x86-4711 [002] ..... 5123.456790: tracing_mark_write: pci_nvme_update_sq_eventidx sqid 1 new_eventidx 17
                      init-1       [000] .....     8.067269: tracing_mark_write: === GUEST: fio start 8.10 5.76
            qemu-system-x86-4711 [002] ..... 5123.456791: tracing_mark_write: pci_nvme_map_prp trans_len 4096 len 8192

            """, options: SourceOptions(controller: 4))
        #expect(d.events.map(\.kind) == [.mmioDoorbell, .controllerEventIdxWrite])
        #expect(d.events.allSatisfy { $0.controller == 4 })
        #expect(d.events.map(\.location) == [1, 2])
        #expect(d.summary.skipped == 2 && d.summary.malformed == 0)
    }

    /// A time beyond what 64 bits of nanoseconds hold is damage of a known event, not noise:
    /// a QEMU marker with it vanished among the skipped lines.
    @Test func aTimeOutOfRangeIsMalformed() throws {
        let d = try decode(
            "          <idle>-0       [000] d.H1.     9.378744: \(nvmeSQ)\n"
                + "          <idle>-0       [000] d.H1. 9999999999.0: \(nvmeSQ)\n"
                + " qemu-system-x86-4711 [002] ..... 9999999999.0: tracing_mark_write: pci_nvme_mmio_doorbell_sq sqid 1 new_tail 3\n")
        #expect(d.events.count == 1)
        #expect(d.summary.malformed == 2, "\(d.summary.firstMalformed)")
    }

    @Test func crlfLineEnds() throws {
        let d = try decode(
            "# tracer: nop\r\n          <idle>-0       [000] d.H1.     9.378744: \(nvmeSQ)\r\n          <idle>-0       [000] d.H1.     9.378745: \(nvmeSQ)\r\n"
        )
        #expect(d.events.count == 2 && d.summary.malformed == 0)
        #expect(d.events.allSatisfy { $0.b == 13 })
        #expect(d.events.map(\.location) == [2, 3])
    }

    @Test func lastLineWithoutNewline() throws {
        let d = try decode(
            "          <idle>-0       [000] d.H1.     9.378744: \(nvmeSQ)\n          <idle>-0       [000] d.H1.     9.378745: nvme_sq: nvme0: qid=2, head=1, tail=2"
        )
        #expect(d.events.map(\.qid) == [1, 2])
        #expect(d.events.last?.b == 2)
    }

    @Test func lostEventMarkersAllForms() throws {
        let d = try decode(
            """
            # tracer: nop
                      <idle>-0       [000] d.H1.     9.000001: \(nvmeSQ)
                      <idle>-0       [000] d.H1.     9.000002: irq_handler_entry: irq=24 name=nvme0q0
            CPU:1 [LOST 1234 EVENTS]
                      <idle>-0       [001] d.H1.     9.000003: \(nvmeSQ)
              CPU:3 [LOST EVENTS]
            CPU:7 [204600 EVENTS DROPPED]
            CPU:0 [EVENTS DROPPED]
            CPU:0 [LOTS OF EVENTS]

            """)
        #expect(d.events.map(\.kind) == [.driverSQHead, .dataLoss, .driverSQHead, .dataLoss, .dataLoss, .dataLoss])
        let lost = d.events.filter { $0.kind == .dataLoss }
        #expect(lost.map(\.a) == [1234, 0, 204_600, 0])
        #expect(lost.map(\.b) == [1, 3, 7, 0])
        #expect(lost.map(\.time) == [9_000_002_000, 9_000_003_000, 9_000_003_000, 9_000_003_000])
        #expect(lost.map(\.location) == [4, 6, 7, 8])
        #expect(d.summary.dataLossMarkers == 4 && d.summary.lostEvents == 1234 + 204_600)
        #expect(d.summary.events == 2)
        #expect(d.summary.records == 9)
        #expect(d.summary.skipped == 3)
    }

    @Test func driverDoorbellProbes() throws {
        let d = try decode(
            """
                         fio-1234  [003] .....    12.000001: nvme_dbbuf_sq: nvme0: qid=1, old=11, new=12, eventidx=10, mmio=1
                         fio-1234  [003] .....    12.000002: nvme_dbbuf_cq: nvme2: qid=3, old=5, new=6, eventidx=4, mmio=0

            """)
        #expect(d.summary.malformed == 0)
        #expect(
            d.events == [
                .driverDoorbellUpdate(
                    .sq, qid: 1, old: 11, new: 12, eventIdx: 10, mmio: true, time: 12_000_001_000,
                    controller: 0, location: 1, source: 3),
                .driverDoorbellUpdate(
                    .cq, qid: 3, old: 5, new: 6, eventIdx: 4, mmio: false, time: 12_000_002_000,
                    controller: 2, location: 2, source: 3),
            ])
    }

    @Test func probePrintedWithTracePrintk() throws {
        let e = try single(
            "             fio-1234  [003] .....    12.000001: nvme_dbbuf_update_and_check_event: nvme_dbbuf_sq: nvme0: qid=1, old=11, new=12, eventidx=10, mmio=1\n")
        #expect(e == .driverDoorbellUpdate(
            .sq, qid: 1, old: 11, new: 12, eventIdx: 10, mmio: true, time: 12_000_001_000,
            controller: 0, location: 1, source: 3))
        let other = try decode("             fio-1234  [003] .....    12.000001: some_function: nvme_dbbuf is mentioned\n")
        #expect(other.events.isEmpty)
    }

    @Test func payloadWithoutControllerPrefix() throws {
        // Kernels before 4.18 print no `nvme<N>: `.
        let e = try single("             fio-1234  [003] .....    12.345678: nvme_sq: qid=2, head=3, tail=4\n")
        #expect(e.controller == 0 && e.qid == 2 && e.a == 3 && e.b == 4)
    }

    @Test func createQueueCommands() throws {
        let d = try decode(
            """
                kworker/u4:0-9       [001] .....     5.517112: nvme_setup_cmd: nvme0: qid=0, cmdid=4114, nsid=0, flags=0x0, meta=0x0, cmd=(nvme_admin_create_cq cqid=1, qsize=1023, cq_flags=0x3, irq_vector=1)
                kworker/u4:0-9       [001] .....     5.517619: nvme_setup_cmd: nvme0: qid=0, cmdid=4115, nsid=0, flags=0x0, meta=0x0, cmd=(nvme_admin_create_sq sqid=2, qsize=511, sq_flags=0x1, cqid=2)
                kworker/u4:0-9       [001] .....     5.517700: nvme_setup_cmd: nvme0: qid=0, cmdid=4116, nsid=0, flags=0x0, meta=0x0, cmd=(nvme_admin_delete_sq sqid=2)

            """)
        #expect(d.events.count == 3 && d.summary.malformed == 0)
        let cq = d.events[0], sq = d.events[1], other = d.events[2]
        #expect(cq.flags & Event.createsQueueFlag != 0 && cq.queueType == .cq && cq.b == 1 && cq.c == 1023)
        #expect(cq.qid == 0 && cq.a == 4114)
        #expect(sq.flags & Event.createsQueueFlag != 0 && sq.queueType == .sq && sq.b == 2 && sq.c == 511)
        #expect(other.flags & Event.createsQueueFlag == 0 && other.flags & Event.deletesQueueFlag != 0)
        #expect(other.queueType == .sq && other.b == 2)
    }

    @Test func abortAndDeleteQueueCommands() throws {
        // The driver's give-up: ABORT naming sqid 1 and cid 0x73c2 (cdw10's bytes, little-endian),
        // then the reset's Delete I/O SQ in both forms Linux has printed; a damaged ABORT stays a
        // plain submission.
        let d = try decode(
            """
                kworker/1:1H-44      [001] .....    30.455579: nvme_setup_cmd: nvme0: qid=0, cmdid=8216, nsid=0, flags=0x0, meta=0x0, cmd=(nvme_admin_abort_cmd cdw10=01 00 c2 73 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00)
                kworker/1:1H-44      [001] .....    45.527430: nvme_setup_cmd: nvme0: qid=0, cmdid=12313, nsid=0, flags=0x0, meta=0x0, cmd=(nvme_admin_delete_sq sqid=1)
                kworker/1:1H-44      [001] .....    45.527431: nvme_setup_cmd: nvme0: qid=0, cmdid=12314, nsid=0, flags=0x0, meta=0x0, cmd=(nvme_admin_delete_cq cdw10=03 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00)
                kworker/1:1H-44      [001] .....    45.527432: nvme_setup_cmd: nvme0: qid=0, cmdid=12315, nsid=0, flags=0x0, meta=0x0, cmd=(nvme_admin_abort_cmd cdw10=01 00 c2)
                kworker/1:1H-44      [001] .....    45.527433: nvme_setup_cmd: nvme0: disk=nvme0n1, qid=1, cmdid=5, nsid=1, flags=0x0, meta=0x0, cmd=(nvme_admin_abort_cmd cdw10=01 00 c2 73 00 00)

            """)
        #expect(d.events.count == 5 && d.summary.malformed == 0)
        let abort = d.events[0], deleteSQ = d.events[1], deleteCQ = d.events[2]
        #expect(abort.flags == Event.abortsCommandFlag && abort.b == 1 && abort.c == 0x73c2 && abort.a == 8216)
        #expect(deleteSQ.flags == Event.deletesQueueFlag && deleteSQ.queueType == .sq && deleteSQ.b == 1)
        #expect(deleteCQ.flags == Event.deletesQueueFlag && deleteCQ.queueType == .cq && deleteCQ.b == 3)
        #expect(d.events[3].flags == 0 && d.events[3].a == 12315)
        // Only the admin queue carries admin commands.
        #expect(d.events[4].flags == 0 && d.events[4].qid == 1)
    }

    @Test func otherEventsAreSkippedAndCounted() throws {
        let d = try decode(
            """
            # tracer: nop
            #
                kworker/u4:0-9       [001] .....     5.470866: block_rq_issue: 0,0 N 4096 () 0 + 0 [kworker/u4:0]
                      <idle>-0       [000] d.h1.     5.471525: irq_handler_entry: irq=24 name=nvme0q0
                      <idle>-0       [000] d.h1.     5.471754: nvme_sq: nvme0: qid=0, head=1, tail=1
            some foreign line

            """)
        #expect(d.events.count == 1)
        #expect(d.summary.skipped == 5 && d.summary.records == 6)
    }

    @Test func timestampsGoingBackwardsAreCounted() throws {
        let d = try decode(
            """
                      <idle>-0       [000] d.H1.     9.000003: \(nvmeSQ)
                      <idle>-0       [001] d.H1.     9.000001: \(nvmeSQ)
                      <idle>-0       [001] d.H1.     9.000002: \(nvmeSQ)

            """)
        #expect(d.summary.outOfOrder == 1)
    }

    @Test func batchesHoldAtMostBatchSizeEvents() throws {
        var text = ""
        for i in 0..<10 { text += "   <idle>-0 [000] d.H1. 9.\(100000 + i): \(nvmeSQ)\n" }
        let path = TempFile.write(text)
        defer { TempFile.remove(path) }
        let source = try openEventSource(path: path, index: 0, options: SourceOptions(batchSize: 4))
        var buffer: [Event] = []
        var sizes: [Int] = []
        while try source.nextBatch(into: &buffer) { sizes.append(buffer.count) }
        #expect(sizes == [4, 4, 2])
        #expect(buffer.isEmpty)
        #expect(try source.nextBatch(into: &buffer) == false)
    }

    /// The kernel's latency format (the `latency-format` trace option, `ftrace_dump()`'s lines
    /// without their printk prefix): the CPU glued to the flags, microseconds with a delay mark.
    /// Lines from the real sysrq-hang dump; the marks are each of the kernel's.
    @Test func latencyFormatLinesDecodeWithTheirMicroseconds() throws {
        let marks = [" ", "+", "!", "#", "*", "@", "$"]
        var text = """
            # tracer: nop
            #
            # nop latency trace v1.1.5 on 6.1.0-56-amd64
            #                    _------=> CPU#
            #  cmd     pid     |||||| time  |   caller
            #     \\   /        ||||||  \\    |    /

            """
        for (k, mark) in marks.enumerated() {
            text += "     fio-157       0..... \(9_093_376 + k)us\(mark): nvme_setup_cmd: nvme0: disk=nvme0n1, qid=1, cmdid=\(46027 + k), nsid=1, flags=0x0, meta=0x0, cmd=(nvme_cmd_write slba=330512, len=15, ctrl=0x0, dsmgmt=0, reftag=0)\n"
        }
        text += "kworker/-9         0d.h1. 233126us : nvme_sq: nvme0: qid=0, head=1, tail=1\n"
        let d = try decode(text)
        #expect(d.summary.malformed == 0, "\(d.summary.firstMalformed)")
        #expect(d.summary.clock == .timestamps)
        let times: [Int64] = (0..<7).map { (k: Int) -> Int64 in Int64(9_093_376 + k) * 1000 } + [233_126_000]
        let ids: [UInt32] = (0..<7).map { (k: Int) -> UInt32 in UInt32(46027 + k) }
        #expect(d.events.map(\.time) == times)
        #expect(Array(d.events.prefix(7).map(\.a)) == ids)
        // A count too large for nanoseconds is not read as a time.
        let huge = try? decode("     fio-157       0..... 99999999999999999us : nvme_setup_cmd: nvme0: qid=1, cmdid=1, nsid=1, flags=0x0, meta=0x0, cmd=(nvme_cmd_read slba=0, len=0, ctrl=0x0, dsmgmt=0, reftag=0)\n")
        #expect(huge?.events.isEmpty ?? true)
    }
}

@Suite struct FtraceMalformedTests {
    @Test func malformedLinesAreCountedWithLineNumbersAndParsingGoesOn() throws {
        let d = try decode(
            """
            # tracer: nop
                      <idle>-0       [000] d.H1.     9.000001: nvme_sq: nvme0: qid=1, head=1, tail=2
                      <idle>-0       [000] d.H1.     9.000002: nvme_sq: nvme0: qid=1x, head=1, tail=2
                      <idle>-0       [000] d.H1.     9.000003: nvme_sq: nvme0: qid=1, head=1
                      <idle>-0       [000] ..s1.     9.000004: nvme_complete_rq: nvme0: disk=nvme0n1, qid=1, cmdid=
                      <idle>-0       [000] d.H1.     9.000005: nvme_sq: nvme0: qid=70000, head=1, tail=2
                 qemu-4711       [000] .....     9.000006: tracing_mark_write: pci_nvme_eventidx_sq sqid 1
                      <idle>-0       [000] d.H1.     9.0000x7: nvme_sq: nvme0: qid=1, head=1, tail=2
                      <idle>-0       [000] d.H1.     9.000008: nvme_sq: nvmeX: qid=1, head=1, tail=2
                      <idle>-0       [000] d.H1.     9.000009: nvme_sq: nvme0: qid=1, head=3, tail=4
                      <idle>-0       [000] d.H1. 99999999999.000010: nvme_sq: nvme0: qid=1, head=4, tail=5

            """)
        #expect(d.events.map(\.a) == [1, 3])
        #expect(d.events.map(\.location) == [2, 10])
        #expect(d.summary.malformed == 8)
        #expect(d.summary.firstMalformed.map(\.location.value) == [3, 4, 5, 6, 7, 8, 9, 11])
        #expect(d.summary.firstMalformed.allSatisfy { $0.location.unit == .line && $0.location.source == 3 })
        #expect(
            d.summary.firstMalformed.map(\.reason) == [
                "nvme_sq: bad number in qid",
                "nvme_sq: missing tail",
                "nvme_complete_rq: missing cmdid",
                "nvme_sq: value out of range in qid",
                "pci_nvme_eventidx_sq: missing new_eventidx",
                "nvme_sq: unexpected text at line header",
                "nvme_sq: unexpected text at nvme<N>:",
                "nvme_sq: value out of range in timestamp",
            ])
        #expect(d.summary.records == 11 && d.summary.skipped == 1)
    }

    @Test func onlyTheFirstFewMalformedAreKept() throws {
        var text = ""
        for _ in 0..<25 { text += "   <idle>-0 [000] d.H1. 9.000001: nvme_sq: nvme0: qid=1\n" }
        let d = try decode(text)
        #expect(d.summary.malformed == 25)
        #expect(d.summary.firstMalformed.count == InputSummary.firstMalformedLimit)
        #expect(d.summary.firstMalformed.last?.location.value == UInt64(InputSummary.firstMalformedLimit))
    }
}
