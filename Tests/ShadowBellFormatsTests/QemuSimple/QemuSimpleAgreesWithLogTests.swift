import Foundation
import ShadowBellCore
import Testing

@testable import ShadowBellFormats

/// The simple backend and the log backend are two renderings of the same QEMU events: both
/// readers must produce the same `Event`s.
@Suite struct QemuSimpleAgreesWithLogTests {
    /// The log-backend payloads of `SimpleTraceScenario`'s decoded events, in order (the
    /// dropped-events record has no log rendering).
    static let logPayloads = [
        "pci_nvme_pci_reset PCI Function Level Reset",
        "pci_nvme_mmio_write addr 0x14 data 0x460001 size 4",
        "pci_nvme_mmio_start_success setting controller enable bit succeeded",
        "pci_nvme_mmio_write addr 0x1000 data 0x1 size 4",
        "pci_nvme_mmio_doorbell_sq sqid 0 new_tail 1",
        "pci_nvme_admin_cmd cid 12289 sqid 0 opc 0x7c opname 'NVME_ADM_CMD_DBBUF_CONFIG'",
        "pci_nvme_dbbuf_config dbs_addr=0xb8a6000 eis_addr=0x10b8a7000",
        "pci_nvme_enqueue_req_completion cid 12289 cqid 0 dw0 0x0 dw1 0x0 status 0x4002",
        "pci_nvme_irq_msix raising MSI-X IRQ vector 0",
        "pci_nvme_mmio_write addr 0x1004 data 0x1 size 4",
        "pci_nvme_mmio_doorbell_cq cqid 0 new_head 1",
        "pci_nvme_create_cq create completion queue, addr=0x109000, cqid=1, vector=1, qsize=1023, qflags=1, ien=1",
        "pci_nvme_create_sq create submission queue, addr=0x10a000, sqid=1, cqid=1, qsize=1023, qflags=1",
        "pci_nvme_shadow_doorbell_sq sqid 1 new_shadow_doorbell 17",
        "pci_nvme_io_cmd cid 12290 nsid 0x1 sqid 1 opc 0x2 opname 'NVME_NVM_CMD_READ'",
        "pci_nvme_eventidx_sq sqid 1 new_eventidx 17",
        "pci_nvme_shadow_doorbell_cq cqid 1 new_shadow_doorbell 9",
        "pci_nvme_eventidx_cq cqid 1 new_eventidx 9",
        "pci_nvme_irq_pin pulsing IRQ pin",
        "pci_nvme_del_sq deleting submission queue sqid=1",
        "pci_nvme_del_cq deleted completion queue, cqid=1",
        "pci_nvme_mmio_stopped cleared controller enable bit",
        "pci_nvme_mmio_shutdown_set shutdown bit set",
    ]

    @Test func simpleTraceEventsEqualLogDecoderEvents() throws {
        let scenario = SimpleTraceScenario(source: 1)
        let decoded = scenario.expected.filter { $0.kind != .dataLoss }
        #expect(decoded.count == Self.logPayloads.count)
        let decoder = QemuEventDecoder(controller: 0, source: 1)
        for (event, payload) in zip(decoded, Self.logPayloads) {
            let result = Array(payload.utf8).withUnsafeBytes {
                decoder.decode($0, time: event.time, location: event.location)
            }
            guard case .event(let fromLog) = result else {
                Issue.record("log decoder did not decode \(payload): \(result)")
                continue
            }
            #expect(fromLog == event, "\(payload)")
        }
    }

    @Test func openEventSourceRecognisesBinaryInputsByContent() throws {
        let dir = TemporaryDirectory()
        let scenario = SimpleTraceScenario()
        let simple = dir.write("no-extension", scenario.bytes)
        let source = try openEventSource(path: simple, index: 0)
        #expect(source.summary.format == .qemuSimple)
        #expect(try drainEvents(source) == scenario.expected)

        let pcap = dir.path("x.dat")
        try convertToPcap(sources: [ArraySource(index: 0, events: scenario.expected)], output: pcap)
        let pcapSource = try openEventSource(path: pcap, index: 0)
        #expect(pcapSource.summary.format == .pcap)
        #expect(try drainEvents(pcapSource).count == scenario.expected.count)

        let e = Event(kind: .interrupt, time: 7, a: 3)
        let ng = dir.write("y.bin", pcapngFile(interfaces: [147], packets: [(0, 7, record(e))]))
        let ngSource = try openEventSource(path: ng, index: 0)
        #expect(try drainEvents(ngSource).map(\.a) == [3])
    }

    @Test func sourceOptionsReachTheBinaryReaders() throws {
        let dir = TemporaryDirectory()
        var options = SourceOptions(controller: 3)
        options.binary.reorderWindow = 0
        var w = SimpleTraceWriter()
        w.mapping(id: 0, name: "pci_nvme_irq_msix")
        w.event(id: 0, time: 20, [.value(1)])
        w.event(id: 0, time: 10, [.value(2)])
        let path = dir.write("t", w.bytes)
        let events = try drainEvents(openEventSource(path: path, index: 0, options: options))
        #expect(events.map(\.a) == [1, 2])
        #expect(events.allSatisfy { $0.controller == 3 })

        let e = Event(kind: .interrupt, time: 7, a: 3)
        let pcap = dir.write("u.pcap", pcapFile(linkType: 150, packets: [(7, record(e))]))
        options.binary.pcapLinkTypes = [147]
        #expect(throws: InputError.self) { try openEventSource(path: pcap, index: 0, options: options) }
    }
}
