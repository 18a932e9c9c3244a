import ShadowBellCore

@testable import ShadowBellFormats

/// A small controller-side scenario touching every built-in QEMU NVMe event, written as a QEMU
/// simple trace, together with the events ShadowBell must decode from it.
struct SimpleTraceScenario {
    var bytes: [UInt8]
    var expected: [Event]
    var recordCount: UInt64

    /// `newNames`: QEMU 8.0+ names for the shadow/EventIdx events. `idSeed` shuffles the
    /// event ids as different QEMU runs do. `source` is the input index the events carry.
    init(newNames: Bool = false, bigEndian: Bool = false, idSeed: UInt64 = 1, source: UInt16 = 0) {
        typealias A = SimpleTraceWriter.Argument
        var w = SimpleTraceWriter(bigEndian: bigEndian)
        var expected: [Event] = []
        var records: UInt64 = 0
        let names = [
            "pci_nvme_pci_reset", "pci_nvme_mmio_write", "pci_nvme_mmio_start_success",
            "pci_nvme_mmio_doorbell_sq", "pci_nvme_mmio_doorbell_cq", "pci_nvme_admin_cmd",
            "pci_nvme_dbbuf_config", "pci_nvme_enqueue_req_completion", "pci_nvme_irq_msix",
            "pci_nvme_create_cq", "pci_nvme_create_sq", "pci_nvme_io_cmd", "pci_nvme_irq_pin",
            "pci_nvme_del_sq", "pci_nvme_del_cq", "pci_nvme_mmio_stopped", "pci_nvme_mmio_shutdown_set",
            newNames ? "pci_nvme_update_sq_tail" : "pci_nvme_shadow_doorbell_sq",
            newNames ? "pci_nvme_update_cq_head" : "pci_nvme_shadow_doorbell_cq",
            newNames ? "pci_nvme_update_sq_eventidx" : "pci_nvme_eventidx_sq",
            newNames ? "pci_nvme_update_cq_eventidx" : "pci_nvme_eventidx_cq",
            "pci_nvme_mmio_read", "pci_nvme_rw_cb",
        ]
        var rng = SplitMix64(seed: idSeed)
        var ids: [String: UInt64] = [:]
        for (i, id) in Array(0..<UInt64(names.count)).map({ $0 * 3 + 5 }).shuffled(using: &rng).enumerated() {
            ids[names[i]] = id
        }
        for name in names {
            w.mapping(id: ids[name]!, name: name)
            records += 1
        }
        func emit(_ name: String, _ time: UInt64, _ args: [A], _ event: Event?) {
            let location = UInt64(w.count)
            w.event(id: ids[name]!, time: time, args)
            records += 1
            if var e = event {
                e.time = Int64(time)
                e.location = location
                e.source = source
                expected.append(e)
            }
        }
        func v(_ x: UInt64) -> A { .value(x) }
        func qv(_ kind: EventKind, _ t: QueueType, _ qid: UInt16, _ value: UInt32, flags: UInt8 = 0) -> Event {
            var e = Event.queueValue(kind, t, qid: qid, value: value, time: 0)
            e.flags = flags
            return e
        }
        let raw = Event.rawRegisterWriteFlag
        emit("pci_nvme_pci_reset", 1000, [], Event(kind: .controllerReset, time: 0, a: 0))
        emit("pci_nvme_mmio_write", 1100, [v(0x14), v(0x460001), v(4)],
             Event(kind: .registerWrite, time: 0, a: 0x460001, wide: 0x14))
        emit("pci_nvme_mmio_start_success", 1200, [], Event(kind: .controllerEnable, time: 0))
        emit("pci_nvme_mmio_read", 1250, [v(0x1c), v(4)], nil)
        emit("pci_nvme_mmio_write", 1300, [v(0x1000), v(1), v(4)], qv(.mmioDoorbell, .sq, 0, 1, flags: raw))
        emit("pci_nvme_mmio_doorbell_sq", 1310, [v(0), v(1)], qv(.mmioDoorbell, .sq, 0, 1))
        emit("pci_nvme_admin_cmd", 1400, [v(0x3001), v(0), v(0x7c), .string("NVME_ADM_CMD_DBBUF_CONFIG")],
             Event(kind: .controllerFetch, time: 0, qid: 0, a: 0x3001, b: 0x7c))
        emit("pci_nvme_dbbuf_config", 1500, [v(0xb8a_6000), v(0x1_0b8a_7000)],
             Event(kind: .dbbufConfig, time: 0, a: 0x0b8a_7000, b: 1, wide: 0xb8a_6000))
        emit("pci_nvme_enqueue_req_completion", 1600, [v(0x3001), v(0), v(0), v(0), v(0x4002)],
             Event(kind: .controllerCompletion, time: 0, qid: 0, a: 0x3001, b: 0x4002))
        emit("pci_nvme_irq_msix", 1700, [v(0)], Event(kind: .interrupt, time: 0, a: 0))
        emit("pci_nvme_mmio_write", 1800, [v(0x1004), v(1), v(4)], qv(.mmioDoorbell, .cq, 0, 1, flags: raw))
        emit("pci_nvme_mmio_doorbell_cq", 1810, [v(0), v(1)], qv(.mmioDoorbell, .cq, 0, 1))
        emit("pci_nvme_create_cq", 1900, [v(0x109000), v(1), v(1), v(1023), v(1), v(1)],
             Event(kind: .queueCreate, time: 0, qid: 1, queueType: .cq, a: 1023, b: 1, wide: 0x109000))
        emit("pci_nvme_create_sq", 2000, [v(0x10a000), v(1), v(1), v(1023), v(1)],
             Event(kind: .queueCreate, time: 0, qid: 1, queueType: .sq, a: 1023, b: 1, wide: 0x10a000))
        let droppedAt = UInt64(w.count)
        w.dropped(time: 2050, count: 7)
        records += 1
        expected.append(Event(kind: .dataLoss, time: 2050, location: droppedAt, source: source, a: 7, wide: 7))
        emit(names[17], 2100, [v(1), v(17)], qv(.controllerShadowRead, .sq, 1, 17))
        emit("pci_nvme_io_cmd", 2200, [v(12290), v(1), v(1), v(2), .string("NVME_NVM_CMD_READ")],
             Event(kind: .controllerFetch, time: 0, qid: 1, a: 12290, b: 2))
        emit("pci_nvme_rw_cb", 2250, [v(12290), .string("drive0")], nil)
        emit(names[19], 2300, [v(1), v(17)], qv(.controllerEventIdxWrite, .sq, 1, 17))
        emit(names[18], 2400, [v(1), v(9)], qv(.controllerShadowRead, .cq, 1, 9))
        emit(names[20], 2450, [v(1), v(9)], qv(.controllerEventIdxWrite, .cq, 1, 9))
        emit("pci_nvme_irq_pin", 2500, [], Event(kind: .interrupt, time: 0, a: Event.noVector))
        emit("pci_nvme_del_sq", 2600, [v(1)], Event(kind: .queueDelete, time: 0, qid: 1, queueType: .sq))
        emit("pci_nvme_del_cq", 2700, [v(1)], Event(kind: .queueDelete, time: 0, qid: 1, queueType: .cq))
        emit("pci_nvme_mmio_stopped", 2800, [], Event(kind: .controllerReset, time: 0, a: 1))
        emit("pci_nvme_mmio_shutdown_set", 2900, [], Event(kind: .controllerReset, time: 0, a: 2))
        self.bytes = w.bytes
        self.expected = expected
        self.recordCount = records
    }
}
