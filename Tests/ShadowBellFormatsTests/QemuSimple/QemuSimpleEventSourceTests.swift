import ShadowBellCore
import Testing

@testable import ShadowBellFormats

@Suite struct QemuSimpleEventSourceTests {
    func read(_ bytes: [UInt8], options: QemuSimpleOptions = .init(), index: UInt16 = 0)
        throws -> (events: [Event], summary: InputSummary)
    {
        let dir = TemporaryDirectory()
        let path = dir.write("trace-4711", bytes)
        let source = try QemuSimpleEventSource(path: path, index: index, options: options)
        let events = try drainEvents(source)
        return (events, source.summary)
    }

    @Test(arguments: [false, true])
    func decodesEveryBuiltinEvent(newNames: Bool) throws {
        let scenario = SimpleTraceScenario(newNames: newNames, source: 2)
        let (events, summary) = try read(scenario.bytes, index: 2)
        #expect(events.count == scenario.expected.count)
        for (got, want) in zip(events, scenario.expected) { #expect(got == want) }
        #expect(summary.format == .qemuSimple)
        #expect(summary.locationUnit == .byteOffset)
        #expect(summary.events == UInt64(scenario.expected.count))
        #expect(summary.records == scenario.recordCount)
        #expect(summary.skipped == 2)
        #expect(summary.malformed == 0)
        #expect(summary.dataLossMarkers == 1)
        #expect(summary.lostEvents == 7)
        #expect(summary.bytes == UInt64(scenario.bytes.count))
    }

    @Test func bothNameGenerationsGiveTheSameEvents() throws {
        // Only the locations differ (the names' lengths shift the records).
        func withoutLocations(_ events: [Event]) -> [Event] { events.map { var e = $0; e.location = 0; return e } }
        let old = try read(SimpleTraceScenario(newNames: false).bytes).events
        let new = try read(SimpleTraceScenario(newNames: true).bytes).events
        #expect(old.count == 24)
        #expect(withoutLocations(old) == withoutLocations(new))
    }

    @Test func idsAreMappedPerFile() throws {
        let a = try read(SimpleTraceScenario(idSeed: 1).bytes).events
        let b = try read(SimpleTraceScenario(idSeed: 99).bytes).events
        #expect(a == b)
        #expect(SimpleTraceScenario(idSeed: 1).bytes != SimpleTraceScenario(idSeed: 99).bytes)
    }

    @Test func bigEndianFileDecodesLikeLittleEndian() throws {
        let little = SimpleTraceScenario(bigEndian: false)
        let big = SimpleTraceScenario(bigEndian: true)
        #expect(little.bytes != big.bytes)
        #expect(Array(big.bytes[8..<16]) == [0xF2, 0xB1, 0x77, 0xCB, 0x0A, 0xA4, 0x29, 0xB4])
        let (events, summary) = try read(big.bytes)
        #expect(events == little.expected)
        #expect(summary.malformed == 0)
    }

    @Test func droppedEventsBecomeDataLoss() throws {
        var w = SimpleTraceWriter()
        w.mapping(id: 3, name: "pci_nvme_irq_msix")
        w.event(id: 3, time: 10, [.value(1)])
        w.dropped(time: 20, count: 1234)
        w.dropped(time: 30, count: 5)
        let (events, summary) = try read(w.bytes)
        #expect(events.map(\.kind) == [.interrupt, .dataLoss, .dataLoss])
        #expect(events[1].a == 1234 && events[1].time == 20)
        #expect(summary.dataLossMarkers == 2)
        #expect(summary.lostEvents == 1239)
    }

    @Test func aTimestampBeyondTwoToThe62IsMalformedAndTheNextRecordIsRead() throws {
        var w = SimpleTraceWriter()
        w.mapping(id: 3, name: "pci_nvme_irq_msix")
        w.event(id: 3, time: UInt64.max, [.value(1)])
        w.event(id: 3, time: 10, [.value(2)])
        let (events, summary) = try read(w.bytes)
        #expect(events.map(\.a) == [2])
        #expect(summary.malformed == 1)
        #expect(summary.firstMalformed.first?.reason.contains("beyond 2^62 ns") == true)
    }

    @Test func hugeDroppedCountsAreKeptWholeAndTheirSumSaturates() throws {
        var w = SimpleTraceWriter()
        w.dropped(time: 20, count: 1 << 63)
        w.dropped(time: 30, count: (1 << 63) + 5)
        let (events, summary) = try read(w.bytes)
        #expect(events.map(\.lostEvents) == [UInt64(1) << 63, (UInt64(1) << 63) + 5])
        #expect(events[0].a == UInt32.max)
        #expect(summary.lostEvents == UInt64.max)
    }

    @Test func slightlyOutOfOrderRecordsComeOutInTimeOrder() throws {
        var w = SimpleTraceWriter()
        w.mapping(id: 0, name: "pci_nvme_irq_msix")
        for (vector, time) in [(1, 100), (2, 300), (3, 200), (4, 400), (5, 150), (6, 400)] {
            w.event(id: 0, time: UInt64(time), [.value(UInt64(vector))])
        }
        let (events, summary) = try read(w.bytes)
        #expect(events.map(\.time) == [100, 150, 200, 300, 400, 400])
        #expect(events.map(\.a) == [1, 5, 3, 2, 4, 6])  // equal times keep file order
        #expect(summary.outOfOrder == 2)
        // Without a window the file order is kept (and still counted).
        let (raw, _) = try read(w.bytes, options: QemuSimpleOptions(reorderWindow: 0))
        #expect(raw.map(\.a) == [1, 2, 3, 4, 5, 6])
    }

    @Test func manyEventsStreamAcrossBatchesInOrder() throws {
        var w = SimpleTraceWriter()
        w.mapping(id: 9, name: "pci_nvme_mmio_doorbell_sq")
        let n = QemuSimpleEventSource.batchLimit * 2 + 17
        for i in 0..<n {
            // pairs swapped: 1 0 3 2 5 4 ...
            let t = UInt64(i ^ 1)
            w.event(id: 9, time: t * 10, [.value(1), .value(t & 0xFFFF)])
        }
        let (events, summary) = try read(w.bytes)
        #expect(events.count == n)
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.time <= $1.time })
        #expect(summary.outOfOrder == UInt64(n / 2))
    }

    @Test func traceEventsFileGivesLayoutsOfOtherEvents() throws {
        let traceEvents = TraceEventSignature.parseFile(
            """
            # hw/nvme/trace-events
            pci_nvme_mmio_read(uint64_t addr, unsigned size) "addr 0x%"PRIx64" size %d"
            pci_nvme_rw_cb(uint16_t cid, const char *blkname) "cid %"PRIu16" blk '%s'"
            disable vcpu guest_cpu_enter(void)
            """)
        #expect(traceEvents["pci_nvme_rw_cb"]?.arguments.map(\.isString) == [false, true])
        #expect(traceEvents["guest_cpu_enter"]?.arguments.isEmpty == true)
        let scenario = SimpleTraceScenario()
        let (events, summary) = try read(scenario.bytes, options: QemuSimpleOptions(traceEvents: traceEvents))
        #expect(events == scenario.expected)
        #expect(summary.skipped == 2 && summary.malformed == 0)

        // A layout that does not fit the record is reported, and reading goes on.
        let wrong = TraceEventSignature.parseFile("pci_nvme_mmio_read(uint64_t addr) \"addr\"")
        let (again, bad) = try read(scenario.bytes, options: QemuSimpleOptions(traceEvents: wrong))
        #expect(again == scenario.expected)
        #expect(bad.malformed == 1)
        #expect(bad.firstMalformed.first?.reason.contains("pci_nvme_mmio_read") == true)
    }

    /// QEMU's installed trace-events-all, when the test machine has the shared copy of it.
    @Test func loadsTraceEventsFileFromDisk() throws {
        let dir = TemporaryDirectory()
        let path = dir.write(
            "trace-events-all",
            Array(
                """
                # See docs/devel/tracing.rst for syntax documentation.
                # hw/nvme/trace-events
                pci_nvme_irq_msix(uint32_t vector) "raising MSI-X IRQ vector %u"
                pci_nvme_rw_cb(uint16_t cid, const char *blkname) "cid %"PRIu16" blk '%s'"
                vcpu guest_mem_before(TCGv vaddr, uint16_t info) "info=%d"

                """.utf8))
        let table = try BinarySourceOptions.loadTraceEvents(path: path)
        #expect(table.count == 3)
        #expect(table["guest_mem_before"]?.arguments.map(\.name) == ["vaddr", "info"])
        let empty = dir.write("empty", Array("# nothing here\n".utf8))
        #expect(throws: InputError.self) { try BinarySourceOptions.loadTraceEvents(path: empty) }
        // A device or the trace itself given by mistake is refused at a bound, not read to its
        // end (`--trace-events /dev/zero` grew without end).
        #expect {
            try BinarySourceOptions.loadTraceEvents(path: "/dev/zero")
        } throws: { ($0 as? InputError)?.description.contains("not a QEMU trace-events file") == true }
    }

    @Test func parsesQemuTraceEventsSyntax() throws {
        let line = #"pci_nvme_io_cmd(uint16_t cid, uint32_t nsid, uint16_t sqid, uint8_t opcode, const char *opname) "cid %"PRIu16" nsid 0x%"PRIx32" sqid %"PRIu16" opc 0x%"PRIx8" opname '%s'""#
        let s = try #require(TraceEventSignature(line))
        #expect(s.name == "pci_nvme_io_cmd")
        #expect(s.arguments.map(\.name) == ["cid", "nsid", "sqid", "opcode", "opname"])
        #expect(s.arguments.map(\.isString) == [false, false, false, false, true])
        let p = try #require(TraceEventSignature("pci_nvme_getfeat_vwcache(const char* result) \"r=%s\""))
        #expect(p.arguments.map(\.isString) == [true])
        #expect(TraceEventSignature("# a comment(with parens)") == nil)
        #expect(TraceEventSignature("") == nil)
    }

    // MARK: bad input

    @Test func badMagicIsAnInputError() throws {
        let w = SimpleTraceWriter(magic: 0x1234_5678)
        #expect {
            _ = try read(w.bytes)
        } throws: { error in
            guard case InputError.unsupported(_, let reason) = error else { return false }
            return reason.contains("bad header magic")
        }
    }

    @Test func unsupportedVersionIsAnInputError() throws {
        let w = SimpleTraceWriter(version: 3)
        #expect {
            _ = try read(w.bytes)
        } throws: { error in
            guard case InputError.unsupported(_, let reason) = error else { return false }
            return reason.contains("version 3")
        }
    }

    @Test func absurdNameLengthStopsWithADiagnosticAndNoHugeAllocation() throws {
        var w = SimpleTraceWriter()
        w.mapping(id: 1, name: "pci_nvme_irq_msix")
        w.event(id: 1, time: 5, [.value(2)])
        let at = w.count
        w.mapping(id: 2, name: "x", declaredLength: 0xFFFF_FFF0)
        w.event(id: 1, time: 6, [.value(3)])
        let (events, summary) = try read(w.bytes)
        #expect(events.map(\.a) == [2])
        #expect(summary.malformed == 1)
        let diagnostic = try #require(summary.firstMalformed.first)
        #expect(diagnostic.location.value == UInt64(at))
        #expect(diagnostic.reason.contains("name length of 4294967280"))
    }

    @Test func eventWithoutMappingIsReportedAndSkipped() throws {
        var w = SimpleTraceWriter()
        w.mapping(id: 1, name: "pci_nvme_irq_msix")
        let at = w.count
        w.event(id: 42, time: 5, [.value(2), .value(3)])
        w.event(id: 1, time: 6, [.value(3)])
        let (events, summary) = try read(w.bytes)
        #expect(events.map(\.a) == [3])
        #expect(summary.malformed == 1)
        let diagnostic = try #require(summary.firstMalformed.first)
        #expect(diagnostic.location.value == UInt64(at))
        #expect(diagnostic.reason.contains("event id 42 has no mapping"))
    }

    @Test func builtinEventWithWrongArgumentsIsMalformed() throws {
        var w = SimpleTraceWriter()
        w.mapping(id: 1, name: "pci_nvme_mmio_doorbell_sq")
        w.event(id: 1, time: 5, [.value(1)])  // one argument short
        w.event(id: 1, time: 6, [.value(1), .value(4)])
        let (events, summary) = try read(w.bytes)
        #expect(events.map(\.a) == [4])
        #expect(summary.malformed == 1)
        #expect(summary.firstMalformed.first?.reason.contains("pci_nvme_mmio_doorbell_sq") == true)
    }

    @Test func impossibleRecordLengthOrTypeStops() throws {
        var w = SimpleTraceWriter()
        w.mapping(id: 1, name: "pci_nvme_irq_msix")
        w.event(id: 1, time: 5, [.value(2)])
        var bad = w
        bad.u64(1)
        bad.u64(1)
        bad.u64(6)
        bad.u32(8)  // shorter than the 24-byte record header
        bad.u32(0)
        let (events, summary) = try read(bad.bytes)
        #expect(events.count == 1)
        #expect(summary.firstMalformed.first?.reason.contains("record length 8") == true)

        var other = w
        other.u64(7)
        let (_, s2) = try read(other.bytes)
        #expect(s2.firstMalformed.first?.reason.contains("unknown record type 7") == true)
    }

    @Test func truncatedRecordIsReportedAfterTheCompleteOnes() throws {
        var w = SimpleTraceWriter()
        w.mapping(id: 1, name: "pci_nvme_irq_msix")
        w.event(id: 1, time: 5, [.value(2)])
        let at = w.count
        w.event(id: 1, time: 6, [.value(3)])
        let cut = Array(w.bytes.dropLast(3))
        let (events, summary) = try read(cut)
        #expect(events.map(\.a) == [2])
        #expect(summary.malformed == 1)
        #expect(summary.firstMalformed.first?.location.value == UInt64(at))
        #expect(summary.firstMalformed.first?.reason.contains("truncated") == true)
    }
}
