import Testing
import ShadowBellCore
@testable import ShadowBellFormats

private let decoder = QemuEventDecoder(controller: 2, source: 5)

private func decodePayload(_ text: String) -> QemuEventDecoder.Result {
    Array(text.utf8).withUnsafeBytes { decoder.decode($0, time: 77, location: 9) }
}

private func event(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> Event? {
    guard case .event(let e) = decodePayload(text) else {
        Issue.record("not decoded: \(text)", sourceLocation: sourceLocation)
        return nil
    }
    #expect(e.time == 77 && e.location == 9 && e.source == 5 && e.controller == 2, sourceLocation: sourceLocation)
    return e
}

private func expected(
    _ kind: EventKind, _ type: QueueType = .sq, qid: UInt16 = 0, a: UInt32 = 0, b: UInt32 = 0,
    wide: UInt64 = 0, flags: UInt8 = 0
) -> Event {
    Event(
        kind: kind, time: 77, location: 9, source: 5, controller: 2, qid: qid, queueType: type, a: a, b: b,
        wide: wide, flags: flags)
}

@Suite struct QemuEventDecoderTests {
    /// Every event of both name generations: (7.1–7.2 payload, 8.0+ payload, expected event).
    static let generations: [(String, String?, Event)] = [
        (
            "pci_nvme_shadow_doorbell_sq sqid 1 new_shadow_doorbell 17", "pci_nvme_update_sq_tail sqid 1 new_tail 17",
            expected(.controllerShadowRead, .sq, qid: 1, a: 17)
        ),
        (
            "pci_nvme_shadow_doorbell_cq cqid 3 new_shadow_doorbell 9", "pci_nvme_update_cq_head cqid 3 new_head 9",
            expected(.controllerShadowRead, .cq, qid: 3, a: 9)
        ),
        (
            "pci_nvme_eventidx_sq sqid 1 new_eventidx 10", "pci_nvme_update_sq_eventidx sqid 1 new_eventidx 10",
            expected(.controllerEventIdxWrite, .sq, qid: 1, a: 10)
        ),
        (
            "pci_nvme_eventidx_cq cqid 2 new_eventidx 4", "pci_nvme_update_cq_eventidx cqid 2 new_eventidx 4",
            expected(.controllerEventIdxWrite, .cq, qid: 2, a: 4)
        ),
        ("pci_nvme_mmio_doorbell_sq sqid 1 new_tail 17", nil, expected(.mmioDoorbell, .sq, qid: 1, a: 17)),
        ("pci_nvme_mmio_doorbell_cq cqid 1 new_head 9", nil, expected(.mmioDoorbell, .cq, qid: 1, a: 9)),
        (
            "pci_nvme_dbbuf_config dbs_addr=0x1000000 eis_addr=0x1234567000",
            nil, expected(.dbbufConfig, a: 0x3456_7000, b: 0x12, wide: 0x100_0000)
        ),
        (
            "pci_nvme_io_cmd cid 12290 nsid 0x1 sqid 1 opc 0x2 opname 'NVME_NVM_CMD_READ'", nil,
            expected(.controllerFetch, qid: 1, a: 12290, b: 2)
        ),
        (
            "pci_nvme_admin_cmd cid 4114 sqid 0 opc 0x5 opname 'NVME_ADM_CMD_CREATE_CQ'", nil,
            expected(.controllerFetch, qid: 0, a: 4114, b: 5)
        ),
        (
            "pci_nvme_enqueue_req_completion cid 12290 cqid 1 dw0 0x0 dw1 0x0 status 0x4004", nil,
            expected(.controllerCompletion, qid: 1, a: 12290, b: 0x4004)
        ),
        (
            "pci_nvme_create_sq create submission queue, addr=0x10a000, sqid=1, cqid=3, qsize=1023, qflags=1", nil,
            expected(.queueCreate, .sq, qid: 1, a: 1023, b: 3, wide: 0x10_a000)
        ),
        (
            "pci_nvme_create_cq create completion queue, addr=0x109000, cqid=1, vector=4, qsize=255, qflags=1, ien=1",
            nil, expected(.queueCreate, .cq, qid: 1, a: 255, b: 4, wide: 0x10_9000)
        ),
        ("pci_nvme_del_sq deleting submission queue sqid=1", nil, expected(.queueDelete, .sq, qid: 1)),
        ("pci_nvme_del_cq deleted completion queue, cqid=6", nil, expected(.queueDelete, .cq, qid: 6)),
        ("pci_nvme_irq_msix raising MSI-X IRQ vector 1", nil, expected(.interrupt, a: 1)),
        ("pci_nvme_irq_pin pulsing IRQ pin", nil, expected(.interrupt, a: Event.noVector)),
        (
            "pci_nvme_mmio_write addr 0x1008 data 0x11 size 4", nil,
            expected(.mmioDoorbell, .sq, qid: 1, a: 0x11, flags: Event.rawRegisterWriteFlag)
        ),
        (
            "pci_nvme_mmio_write addr 0x100c data 0x2 size 4", nil,
            expected(.mmioDoorbell, .cq, qid: 1, a: 2, flags: Event.rawRegisterWriteFlag)
        ),
        (
            "pci_nvme_mmio_write addr 0x1000 data 0x1f size 4", nil,
            expected(.mmioDoorbell, .sq, qid: 0, a: 0x1F, flags: Event.rawRegisterWriteFlag)
        ),
        (
            "pci_nvme_mmio_write addr 0x80ffc data 0x7 size 4", nil,
            expected(.mmioDoorbell, .cq, qid: 65535, a: 7, flags: Event.rawRegisterWriteFlag)
        ),
        ("pci_nvme_mmio_write addr 0x81000 data 0x7 size 4", nil, expected(.registerWrite, a: 7, wide: 0x81000)),
        (
            "pci_nvme_mmio_write addr 0x14 data 0x1ffff00460001 size 8", nil,
            expected(.registerWrite, a: 0x0046_0001, wide: 0x14)
        ),
        (
            "pci_nvme_mmio_stopped cleared controller enable bit", nil,
            expected(.controllerReset, a: ResetReason.enableCleared.rawValue)
        ),
        (
            "pci_nvme_pci_reset PCI Function Level Reset", nil,
            expected(.controllerReset, a: ResetReason.functionLevelReset.rawValue)
        ),
        (
            "pci_nvme_mmio_shutdown_set shutdown bit set", nil,
            expected(.controllerReset, a: ResetReason.shutdown.rawValue)
        ),
        ("pci_nvme_mmio_start_success setting controller enable bit succeeded", nil, expected(.controllerEnable)),
    ]

    @Test(arguments: 0..<QemuEventDecoderTests.generations.count)
    func decodesEveryEventOfBothGenerations(_ index: Int) {
        let (old, new, want) = Self.generations[index]
        #expect(event(old) == want, "\(old)")
        if let new { #expect(event(new) == want, "\(new)") }
    }

    @Test func everyKnownNameIsCovered() {
        var covered = Set<QemuEventName>()
        for (old, new, _) in Self.generations {
            for text in [old, new].compactMap({ $0 }) {
                let name = text.split(separator: " ")[0]
                Array(name.utf8).withUnsafeBytes { if let n = QemuEventName.identify($0) { covered.insert(n) } }
            }
        }
        #expect(covered == Set(QemuEventName.allCases))
    }

    @Test func namesRoundTrip() {
        for name in QemuEventName.allCases {
            let found = name.name.withUTF8Buffer { QemuEventName.identify(UnsafeRawBufferPointer($0)) }
            #expect(found == name)
        }
    }

    @Test func unknownNamesAndForeignText() {
        for text in [
            "pci_nvme_map_prp trans_len 4096 len 8192", "pci_nvme_io_cmdx cid 1 sqid 1 opc 0x2",
            "pci_nvme_io_cm", "=== GUEST: fio start", "", "virtio_blk_req_complete req 0x0 status 0",
            "qemu-system-x86_64: terminating on signal 15",
        ] {
            guard case .unknown = decodePayload(text) else {
                Issue.record("expected unknown: \(text)")
                continue
            }
        }
    }

    @Test func malformedKnownEventsSayWhatIsWrong() {
        let cases: [(String, String)] = [
            ("pci_nvme_eventidx_sq sqid 1", "pci_nvme_eventidx_sq: missing new_eventidx"),
            ("pci_nvme_eventidx_sq sqid 1 new_eventidx", "pci_nvme_eventidx_sq: missing new_eventidx"),
            ("pci_nvme_update_sq_tail sqid x new_tail 3", "pci_nvme_update_sq_tail: bad number in sqid"),
            ("pci_nvme_mmio_doorbell_sq sqid 70000 new_tail 3", "pci_nvme_mmio_doorbell_sq: value out of range in sqid"),
            ("pci_nvme_io_cmd cid 1 nsid 0x1 sqid 1 opc 0xzz", "pci_nvme_io_cmd: bad number in opc"),
            ("pci_nvme_mmio_write addr 0x1008", "pci_nvme_mmio_write: missing data"),
            ("pci_nvme_irq_msix raising MSI-X IRQ", "pci_nvme_irq_msix: missing vector"),
            ("pci_nvme_create_cq create completion queue, addr=0x1, cqid=1, vector=1", "pci_nvme_create_cq: missing qsize"),
        ]
        for (text, reason) in cases {
            guard case .malformed(let failure) = decodePayload(text) else {
                Issue.record("expected malformed: \(text)")
                continue
            }
            #expect(failure.description == reason)
        }
    }
}

@Suite struct QemuLogShapeTests {
    private static let body = """
        pci_nvme_mmio_doorbell_sq sqid 1 new_tail 17
        pci_nvme_map_prp trans_len 4096 len 8192
        pci_nvme_shadow_doorbell_sq sqid 1 new_shadow_doorbell 18
        """

    @Test func pidAndTimestamp() throws {
        let d = try decode(
            """
            4711@1690000000.123456:pci_nvme_mmio_doorbell_sq sqid 1 new_tail 17
            4711@1690000000.123457:pci_nvme_map_prp trans_len 4096 len 8192
            qemu-system-x86_64: -device nvme: some warning
            4712@1690000000.123400:pci_nvme_update_sq_tail sqid 1 new_tail 18

            """, options: SourceOptions(controller: 1))
        #expect(d.summary.format == .qemuLog && d.summary.clock == .timestamps)
        #expect(d.events.map(\.time) == [1_690_000_000_123_456_000, 1_690_000_000_123_400_000])
        #expect(d.events.map(\.location) == [1, 4])
        #expect(d.events.allSatisfy { $0.controller == 1 && $0.source == 3 })
        #expect(d.summary.skipped == 2 && d.summary.outOfOrder == 1 && d.summary.records == 4)
    }

    @Test func bareLinesAreOrderOnly() throws {
        let d = try decode(Self.body + "\n")
        #expect(d.summary.format == .qemuLog && d.summary.clock == .orderOnly)
        #expect(d.events.map(\.kind) == [.mmioDoorbell, .controllerShadowRead])
        #expect(d.events.map(\.time) == [1, 2])
        #expect(d.events.map(\.location) == [1, 3])
    }

    @Test func iso8601Timestamps() throws {
        let d = try decode(
            """
            2025-07-21T18:43:28.089797Z pci_nvme_mmio_doorbell_sq sqid 1 new_tail 17
            2025-07-21T18:43:28.089800Z qemu-system-x86_64: info: something
            2025-07-21T18:43:29.000001Z pci_nvme_update_cq_eventidx cqid 1 new_eventidx 4
            """)
        #expect(d.summary.clock == .timestamps)
        #expect(d.events.map(\.time) == [1_753_123_408_089_797_000, 1_753_123_409_000_001_000])
        #expect(d.events.last?.queueType == .cq)
        #expect(d.summary.skipped == 1)
    }

    @Test func mixedShapesDoNotCrash() throws {
        let d = try decode(
            """
            4711@10.000001:pci_nvme_mmio_doorbell_sq sqid 1 new_tail 1
            pci_nvme_mmio_doorbell_sq sqid 1 new_tail 2
            2025-07-21T18:43:28.089797Z pci_nvme_mmio_doorbell_sq sqid 1 new_tail 3

            """)
        #expect(d.events.map(\.a) == [1, 2, 3])
        #expect(d.events.map(\.time) == [10_000_001_000, 10_000_001_000, 1_753_123_408_089_797_000])
        let bareFirst = try decode(
            "pci_nvme_mmio_doorbell_sq sqid 1 new_tail 1\n4711@10.000001:pci_nvme_mmio_doorbell_sq sqid 1 new_tail 2\n")
        #expect(bareFirst.summary.clock == .orderOnly)
        #expect(bareFirst.events.map(\.time) == [1, 2])
    }

    /// The journal's and rsyslog's word that their rate limit dropped lines is a gap of that
    /// many events, at the time of the event before it.
    @Test func aLogKeepersDroppedLinesAreAGap() throws {
        let d = try decode(
            """
            Dec  5 20:17:45 host qemu-system-x86_64[4711]: 4711@10.000001:pci_nvme_mmio_doorbell_sq sqid 1 new_tail 1
            Dec  5 20:17:45 host systemd-journald[312]: Suppressed 12345 messages from qemu-vm.service
            Dec  5 20:17:46 host qemu-system-x86_64[4711]: 4711@10.000002:pci_nvme_mmio_doorbell_sq sqid 1 new_tail 2
            Dec  5 20:17:46 host systemd-journald[312]: Suppressed 77 messages from machine-qemu\\x2d1\\x2dvm.scope
            Dec  5 20:17:47 host rsyslogd: imjournal: 9 messages lost due to rate-limiting (20000 allowed within 600 seconds)
            Dec  5 20:17:47 host systemd-journald[312]: Suppressed 12 messages from cron.service
            Dec  5 20:17:47 host sshd[99]: Accepted publickey for root: 3 messages from a friend

            """)
        // (Another unit's suppressed lines are not QEMU's.)
        #expect(d.events.map(\.kind) == [.mmioDoorbell, .dataLoss, .mmioDoorbell, .dataLoss, .dataLoss])
        #expect(d.events.filter { $0.kind == .dataLoss }.map(\.lostEvents) == [12345, 77, 9])
        #expect(d.events.filter { $0.kind == .dataLoss }.map(\.time) == [10_000_001_000, 10_000_002_000, 10_000_002_000])
        #expect(d.summary.dataLossMarkers == 3 && d.summary.lostEvents == 12_431)
    }

    @Test func malformedQemuLinesAreCounted() throws {
        let d = try decode(
            """
            4711@10.000001:pci_nvme_mmio_doorbell_sq sqid 1 new_tail 1
            4711@10.000002:pci_nvme_eventidx_sq sqid 1
            4711@10.000003:pci_nvme_mmio_doorbell_cq cqid 1 new_head 2
            4711@10.00000x:pci_nvme_mmio_doorbell_cq cqid 1 new_head 3
            2025-07-21T18:43:28.0897Q pci_nvme_update_sq_tail sqid 1 new_tail 17
            4711@10.00000x:pci_nvme_map_prp trans_len 4096 len 8192
            4711@99999999999.000001:pci_nvme_mmio_doorbell_cq cqid 1 new_head 4

            """)
        #expect(d.events.count == 2 && d.summary.malformed == 4 && d.summary.skipped == 1)
        #expect(d.summary.firstMalformed.map(\.location.value) == [2, 4, 5, 7])
        #expect(
            d.summary.firstMalformed.map(\.reason) == [
                "pci_nvme_eventidx_sq: missing new_eventidx",
                "pci_nvme_mmio_doorbell_cq: unexpected text at line prefix",
                "pci_nvme_update_sq_tail: unexpected text at line prefix",
                // More seconds than 64-bit nanoseconds hold: said, not "unexpected text".
                "pci_nvme_mmio_doorbell_cq: value out of range in timestamp",
            ])
    }
    /// A line cut inside a known event's name (`pci_nvme_shadow_do`, the rest lost or split off
    /// by other output) is a lost event: it was skipped as another event of QEMU's ("0
    /// malformed"), and a finding after it rested on it unsaid. Other events' names, whole,
    /// and lines of other events that begin alike stay skipped.
    @Test func aLineCutInsideAnEventNameIsMalformed() throws {
        let d = try decode(
            """
            4711@10.000001:pci_nvme_mmio_doorbell_sq sqid 1 new_tail 1
            4711@10.000002:pci_nvme_shadow_do
            4711@10.000003:pci_nvme_map_prp trans_len 4096 len 8192
            4711@10.000004:pci_nvme_rw_cb
            4711@10.000005:pci_nvme_mmio_doorbell_cq cqid 1 new_head 2

            """)
        #expect(d.events.count == 2 && d.summary.malformed == 1 && d.summary.skipped == 2)
        #expect(d.summary.firstMalformed.map(\.reason) == ["a pci_nvme_ event: line cut short inside its name"])
        #expect(d.summary.firstMalformed.map(\.location.value) == [2])
    }
}
