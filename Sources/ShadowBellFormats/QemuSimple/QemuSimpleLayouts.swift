import ShadowBellCore

/// Argument layouts of the QEMU NVMe events ShadowBell decodes from simple-backend traces, in
/// QEMU's own declaration syntax (hw/nvme/trace-events of 7.2, plus the 8.0 renames, whose
/// arguments are identical), and their translation into `Event`s — the same events
/// `QemuEventDecoder` produces from the log backend's text.
public enum QemuSimpleLayouts {
    public static let declarations: [(QemuEventName, String)] = [
        (.shadowDoorbellSQ, "pci_nvme_shadow_doorbell_sq(uint16_t sqid, uint16_t new_shadow_doorbell)"),
        (.updateSQTail, "pci_nvme_update_sq_tail(uint16_t sqid, uint16_t new_tail)"),
        (.shadowDoorbellCQ, "pci_nvme_shadow_doorbell_cq(uint16_t cqid, uint16_t new_shadow_doorbell)"),
        (.updateCQHead, "pci_nvme_update_cq_head(uint16_t cqid, uint16_t new_head)"),
        (.eventIdxSQ, "pci_nvme_eventidx_sq(uint16_t sqid, uint16_t new_eventidx)"),
        (.updateSQEventIdx, "pci_nvme_update_sq_eventidx(uint16_t sqid, uint16_t new_eventidx)"),
        (.eventIdxCQ, "pci_nvme_eventidx_cq(uint16_t cqid, uint16_t new_eventidx)"),
        (.updateCQEventIdx, "pci_nvme_update_cq_eventidx(uint16_t cqid, uint16_t new_eventidx)"),
        (.mmioDoorbellSQ, "pci_nvme_mmio_doorbell_sq(uint16_t sqid, uint16_t new_tail)"),
        (.mmioDoorbellCQ, "pci_nvme_mmio_doorbell_cq(uint16_t cqid, uint16_t new_head)"),
        (.mmioWrite, "pci_nvme_mmio_write(uint64_t addr, uint64_t data, unsigned size)"),
        (.dbbufConfig, "pci_nvme_dbbuf_config(uint64_t dbs_addr, uint64_t eis_addr)"),
        (.ioCmd, "pci_nvme_io_cmd(uint16_t cid, uint32_t nsid, uint16_t sqid, uint8_t opcode, const char *opname)"),
        (.adminCmd, "pci_nvme_admin_cmd(uint16_t cid, uint16_t sqid, uint8_t opcode, const char *opname)"),
        (.enqueueReqCompletion,
         "pci_nvme_enqueue_req_completion(uint16_t cid, uint16_t cqid, uint32_t dw0, uint32_t dw1, uint16_t status)"),
        (.createSQ, "pci_nvme_create_sq(uint64_t addr, uint16_t sqid, uint16_t cqid, uint16_t qsize, uint16_t qflags)"),
        (.createCQ,
         "pci_nvme_create_cq(uint64_t addr, uint16_t cqid, uint16_t vector, uint16_t size, uint16_t qflags, int ien)"),
        (.delSQ, "pci_nvme_del_sq(uint16_t qid)"),
        (.delCQ, "pci_nvme_del_cq(uint16_t cqid)"),
        (.irqMSIX, "pci_nvme_irq_msix(uint32_t vector)"),
        (.irqPin, "pci_nvme_irq_pin(void)"),
        (.mmioStopped, "pci_nvme_mmio_stopped(void)"),
        (.pciReset, "pci_nvme_pci_reset(void)"),
        (.mmioShutdownSet, "pci_nvme_mmio_shutdown_set(void)"),
        (.mmioStartSuccess, "pci_nvme_mmio_start_success(void)"),
    ]

    /// Name → (event, layout), built once.
    public static let byName: [String: (name: QemuEventName, signature: TraceEventSignature)] = {
        var table: [String: (QemuEventName, TraceEventSignature)] = [:]
        for (name, declaration) in declarations {
            let signature = TraceEventSignature(declaration)!
            table[signature.name] = (name, signature)
        }
        return table
    }()

    /// The event for `name`, given its non-string arguments in declaration order (strings take
    /// no slot); `v` holds exactly as many as the declaration has.
    public static func event(
        _ name: QemuEventName, arguments v: UnsafeBufferPointer<UInt64>, time: Int64, location: UInt64,
        source: UInt16, controller: UInt16
    ) -> Event {
        func u16(_ i: Int) -> UInt16 { UInt16(truncatingIfNeeded: v[i]) }
        func u32(_ i: Int) -> UInt32 { UInt32(truncatingIfNeeded: v[i]) }
        var e = Event(kind: name.kind, time: time, location: location, source: source, controller: controller)
        switch name {
        case .shadowDoorbellSQ, .updateSQTail, .eventIdxSQ, .updateSQEventIdx, .mmioDoorbellSQ:
            e.qid = u16(0)
            e.a = u32(1)
        case .shadowDoorbellCQ, .updateCQHead, .eventIdxCQ, .updateCQEventIdx, .mmioDoorbellCQ:
            e.queueType = .cq
            e.qid = u16(0)
            e.a = u32(1)
        case .mmioWrite:
            let address = v[0]
            if address >= QemuEventDecoder.doorbellBase, address < QemuEventDecoder.doorbellEnd {
                let offset = address - QemuEventDecoder.doorbellBase
                e.kind = .mmioDoorbell
                e.qid = UInt16(truncatingIfNeeded: offset / 8)
                e.queueType = offset % 8 == 0 ? .sq : .cq
                e.a = u32(1)
                e.flags = Event.rawRegisterWriteFlag
            } else {
                e.wide = address
                e.a = u32(1)
            }
        case .dbbufConfig:
            e.wide = v[0]
            e.a = UInt32(truncatingIfNeeded: v[1])
            e.b = UInt32(truncatingIfNeeded: v[1] >> 32)
        case .ioCmd:
            e.a = u32(0)
            e.qid = u16(2)
            e.b = u32(3)
        case .adminCmd:
            e.a = u32(0)
            e.qid = u16(1)
            e.b = u32(2)
        case .enqueueReqCompletion:
            e.a = u32(0)
            e.qid = u16(1)
            e.b = u32(4)
        case .createSQ:
            e.wide = v[0]
            e.qid = u16(1)
            e.b = u32(2)
            e.a = u32(3)
        case .createCQ:
            e.queueType = .cq
            e.wide = v[0]
            e.qid = u16(1)
            e.b = u32(2)
            e.a = u32(3)
        case .delSQ:
            e.qid = u16(0)
        case .delCQ:
            e.queueType = .cq
            e.qid = u16(0)
        case .irqMSIX:
            e.a = u32(0)
        case .irqPin, .mmioStopped, .pciReset, .mmioShutdownSet, .mmioStartSuccess:
            e.a = name.argumentFreeValue ?? 0
        }
        return e
    }
}
