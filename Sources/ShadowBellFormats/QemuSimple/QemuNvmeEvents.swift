import ShadowBellCore

/// The QEMU NVMe trace events ShadowBell decodes (inputs.md §2), with their argument layouts
/// in QEMU's own declaration syntax. Both name generations (7.1–7.2 and 8.0+) map to the same
/// meaning.
public enum QemuNvmeEvent: UInt8, Sendable, CaseIterable {
    case shadowSQ, shadowCQ, eventIdxSQ, eventIdxCQ
    case mmioDoorbellSQ, mmioDoorbellCQ
    case dbbufConfig, ioCommand, adminCommand, completion
    case createSQ, createCQ, deleteSQ, deleteCQ
    case irqMSIX, irqPin, mmioWrite, mmioStopped, pciReset, mmioStart, mmioShutdown

    /// Declarations as in QEMU's hw/nvme/trace-events (7.2, plus the 8.0 renames).
    public static let declarations: [(QemuNvmeEvent, String)] = [
        (.shadowSQ, "pci_nvme_shadow_doorbell_sq(uint16_t sqid, uint16_t new_shadow_doorbell)"),
        (.shadowSQ, "pci_nvme_update_sq_tail(uint16_t sqid, uint16_t new_tail)"),
        (.shadowCQ, "pci_nvme_shadow_doorbell_cq(uint16_t cqid, uint16_t new_shadow_doorbell)"),
        (.shadowCQ, "pci_nvme_update_cq_head(uint16_t cqid, uint16_t new_head)"),
        (.eventIdxSQ, "pci_nvme_eventidx_sq(uint16_t sqid, uint16_t new_eventidx)"),
        (.eventIdxSQ, "pci_nvme_update_sq_eventidx(uint16_t sqid, uint16_t new_eventidx)"),
        (.eventIdxCQ, "pci_nvme_eventidx_cq(uint16_t cqid, uint16_t new_eventidx)"),
        (.eventIdxCQ, "pci_nvme_update_cq_eventidx(uint16_t cqid, uint16_t new_eventidx)"),
        (.mmioDoorbellSQ, "pci_nvme_mmio_doorbell_sq(uint16_t sqid, uint16_t new_tail)"),
        (.mmioDoorbellCQ, "pci_nvme_mmio_doorbell_cq(uint16_t cqid, uint16_t new_head)"),
        (.dbbufConfig, "pci_nvme_dbbuf_config(uint64_t dbs_addr, uint64_t eis_addr)"),
        (.ioCommand, "pci_nvme_io_cmd(uint16_t cid, uint32_t nsid, uint16_t sqid, uint8_t opcode, const char *opname)"),
        (.adminCommand, "pci_nvme_admin_cmd(uint16_t cid, uint16_t sqid, uint8_t opcode, const char *opname)"),
        (.completion, "pci_nvme_enqueue_req_completion(uint16_t cid, uint16_t cqid, uint32_t dw0, uint32_t dw1, uint16_t status)"),
        (.createSQ, "pci_nvme_create_sq(uint64_t addr, uint16_t sqid, uint16_t cqid, uint16_t qsize, uint16_t qflags)"),
        (.createCQ, "pci_nvme_create_cq(uint64_t addr, uint16_t cqid, uint16_t vector, uint16_t size, uint16_t qflags, int ien)"),
        (.deleteSQ, "pci_nvme_del_sq(uint16_t qid)"),
        (.deleteCQ, "pci_nvme_del_cq(uint16_t cqid)"),
        (.irqMSIX, "pci_nvme_irq_msix(uint32_t vector)"),
        (.irqPin, "pci_nvme_irq_pin(void)"),
        (.mmioWrite, "pci_nvme_mmio_write(uint64_t addr, uint64_t data, unsigned size)"),
        (.mmioStopped, "pci_nvme_mmio_stopped(void)"),
        (.pciReset, "pci_nvme_pci_reset(void)"),
        (.mmioStart, "pci_nvme_mmio_start_success(void)"),
        (.mmioShutdown, "pci_nvme_mmio_shutdown_set(void)"),
    ]

    /// Name → (event, layout), built once.
    public static let byName: [String: (event: QemuNvmeEvent, signature: TraceEventSignature)] = {
        var table: [String: (QemuNvmeEvent, TraceEventSignature)] = [:]
        for (event, declaration) in declarations {
            let signature = TraceEventSignature(declaration)!
            table[signature.name] = (event, signature)
        }
        return table
    }()

    /// Offset of the first doorbell register in BAR0; SQ y tail at 0x1000 + 8y, CQ y head at +4
    /// (QEMU's controller has a doorbell stride of 4 bytes, CAP.DSTRD = 0).
    public static let doorbellBase: UInt64 = 0x1000

    /// The event for this trace event, given its non-string arguments in declaration order
    /// (strings are skipped and do not take a slot); `v` holds as many as the declaration has.
    public func event(arguments v: UnsafeBufferPointer<UInt64>, time: Int64, location: UInt64, source: UInt16)
        -> Event
    {
        func u16(_ i: Int) -> UInt16 { UInt16(truncatingIfNeeded: v[i]) }
        func u32(_ i: Int) -> UInt32 { UInt32(truncatingIfNeeded: v[i]) }
        func queue(_ kind: EventKind, _ type: QueueType) -> Event {
            Event.queueValue(kind, type, qid: u16(0), value: u32(1), time: time, location: location, source: source)
        }
        var e = Event(kind: .dataLoss, time: time, location: location, source: source)
        switch self {
        case .shadowSQ: return queue(.controllerShadowRead, .sq)
        case .shadowCQ: return queue(.controllerShadowRead, .cq)
        case .eventIdxSQ: return queue(.controllerEventIdxWrite, .sq)
        case .eventIdxCQ: return queue(.controllerEventIdxWrite, .cq)
        case .mmioDoorbellSQ: return queue(.mmioDoorbell, .sq)
        case .mmioDoorbellCQ: return queue(.mmioDoorbell, .cq)
        case .dbbufConfig:
            e.kind = .dbbufConfig
            e.wide = v[0]
            e.a = UInt32(truncatingIfNeeded: v[1])
            e.b = UInt32(truncatingIfNeeded: v[1] >> 32)
        case .ioCommand:
            e.kind = .controllerFetch
            e.qid = u16(2)
            e.a = u32(0) & 0xFFFF
            e.b = u32(3) & 0xFF
        case .adminCommand:
            e.kind = .controllerFetch
            e.qid = u16(1)
            e.a = u32(0) & 0xFFFF
            e.b = u32(2) & 0xFF
        case .completion:
            e.kind = .controllerCompletion
            e.qid = u16(1)
            e.a = u32(0) & 0xFFFF
            e.b = u32(4) & 0xFFFF
        case .createSQ, .createCQ:
            e.kind = .queueCreate
            e.queueType = self == .createSQ ? .sq : .cq
            e.wide = v[0]
            e.qid = u16(1)
            e.a = u32(3) & 0xFFFF
            e.b = u32(2) & 0xFFFF
        case .deleteSQ, .deleteCQ:
            e.kind = .queueDelete
            e.queueType = self == .deleteSQ ? .sq : .cq
            e.qid = u16(0)
        case .irqMSIX:
            e.kind = .interrupt
            e.a = u32(0)
        case .irqPin:
            e.kind = .interrupt
            e.a = Event.noVector
        case .mmioWrite:
            let address = v[0]
            let data = u32(1)
            if address >= Self.doorbellBase, (address - Self.doorbellBase) % 4 == 0,
                (address - Self.doorbellBase) / 8 <= UInt64(UInt16.max)
            {
                let offset = address - Self.doorbellBase
                e = Event.queueValue(
                    .mmioDoorbell, offset % 8 == 0 ? .sq : .cq, qid: UInt16(offset / 8), value: data,
                    time: time, location: location, source: source)
                e.flags = Event.rawRegisterWriteFlag
            } else {
                e.kind = .registerWrite
                e.wide = address
                e.a = data
            }
        case .mmioStopped:
            e.kind = .controllerReset
            e.a = ResetReason.enableCleared.rawValue
        case .pciReset:
            e.kind = .controllerReset
            e.a = ResetReason.functionLevelReset.rawValue
        case .mmioShutdown:
            e.kind = .controllerReset
            e.a = ResetReason.shutdown.rawValue
        case .mmioStart:
            e.kind = .controllerEnable
        }
        return e
    }
}
