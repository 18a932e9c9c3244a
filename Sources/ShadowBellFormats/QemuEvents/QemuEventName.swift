import ShadowBellCore

/// The QEMU hw/nvme trace events ShadowBell decodes, both name generations (7.1–7.2 and 8.0+).
public enum QemuEventName: UInt8, Sendable, CaseIterable {
    case shadowDoorbellSQ, updateSQTail
    case shadowDoorbellCQ, updateCQHead
    case eventIdxSQ, updateSQEventIdx
    case eventIdxCQ, updateCQEventIdx
    case mmioDoorbellSQ, mmioDoorbellCQ
    case mmioWrite
    case dbbufConfig
    case ioCmd, adminCmd
    case enqueueReqCompletion
    case createSQ, createCQ
    case delSQ, delCQ
    case irqMSIX, irqPin
    case mmioStopped, pciReset, mmioShutdownSet, mmioStartSuccess

    /// The event's name as QEMU prints it.
    public var name: StaticString {
        switch self {
        case .shadowDoorbellSQ: return "pci_nvme_shadow_doorbell_sq"
        case .updateSQTail: return "pci_nvme_update_sq_tail"
        case .shadowDoorbellCQ: return "pci_nvme_shadow_doorbell_cq"
        case .updateCQHead: return "pci_nvme_update_cq_head"
        case .eventIdxSQ: return "pci_nvme_eventidx_sq"
        case .updateSQEventIdx: return "pci_nvme_update_sq_eventidx"
        case .eventIdxCQ: return "pci_nvme_eventidx_cq"
        case .updateCQEventIdx: return "pci_nvme_update_cq_eventidx"
        case .mmioDoorbellSQ: return "pci_nvme_mmio_doorbell_sq"
        case .mmioDoorbellCQ: return "pci_nvme_mmio_doorbell_cq"
        case .mmioWrite: return "pci_nvme_mmio_write"
        case .dbbufConfig: return "pci_nvme_dbbuf_config"
        case .ioCmd: return "pci_nvme_io_cmd"
        case .adminCmd: return "pci_nvme_admin_cmd"
        case .enqueueReqCompletion: return "pci_nvme_enqueue_req_completion"
        case .createSQ: return "pci_nvme_create_sq"
        case .createCQ: return "pci_nvme_create_cq"
        case .delSQ: return "pci_nvme_del_sq"
        case .delCQ: return "pci_nvme_del_cq"
        case .irqMSIX: return "pci_nvme_irq_msix"
        case .irqPin: return "pci_nvme_irq_pin"
        case .mmioStopped: return "pci_nvme_mmio_stopped"
        case .pciReset: return "pci_nvme_pci_reset"
        case .mmioShutdownSet: return "pci_nvme_mmio_shutdown_set"
        case .mmioStartSuccess: return "pci_nvme_mmio_start_success"
        }
    }

    /// The event kind this name decodes to.
    /// The value of `Event.a` for events without arguments (interrupt pin, resets, enable);
    /// nil for events whose values come from their arguments.
    public var argumentFreeValue: UInt32? {
        switch self {
        case .irqPin: return Event.noVector
        case .mmioStopped: return ResetReason.enableCleared.rawValue
        case .pciReset: return ResetReason.functionLevelReset.rawValue
        case .mmioShutdownSet: return ResetReason.shutdown.rawValue
        case .mmioStartSuccess: return 0
        default: return nil
        }
    }

    public var kind: EventKind {
        switch self {
        case .shadowDoorbellSQ, .updateSQTail, .shadowDoorbellCQ, .updateCQHead:
            return .controllerShadowRead
        case .eventIdxSQ, .updateSQEventIdx, .eventIdxCQ, .updateCQEventIdx:
            return .controllerEventIdxWrite
        case .mmioDoorbellSQ, .mmioDoorbellCQ: return .mmioDoorbell
        case .mmioWrite: return .registerWrite  // or .mmioDoorbell for a doorbell address
        case .dbbufConfig: return .dbbufConfig
        case .ioCmd, .adminCmd: return .controllerFetch
        case .enqueueReqCompletion: return .controllerCompletion
        case .createSQ, .createCQ: return .queueCreate
        case .delSQ, .delCQ: return .queueDelete
        case .irqMSIX, .irqPin: return .interrupt
        case .mmioStopped, .pciReset, .mmioShutdownSet: return .controllerReset
        case .mmioStartSuccess: return .controllerEnable
        }
    }

    /// Identifies an event name by its bytes: one length switch and at most a few byte
    /// comparisons, no allocation.
    @inlinable
    public static func identify(_ name: UnsafeRawBufferPointer) -> QemuEventName? {
        guard name.count > 9, ByteScanning.hasPrefix(name, at: 0, "pci_nvme_") else { return nil }
        let s = UnsafeRawBufferPointer(rebasing: name[9...])
        @inline(__always) func eq(_ literal: StaticString) -> Bool { ByteScanning.equals(s, literal) }
        switch s.count {
        case 6:
            if eq("io_cmd") { return .ioCmd }
            if eq("del_sq") { return .delSQ }
            if eq("del_cq") { return .delCQ }
        case 7:
            if eq("irq_pin") { return .irqPin }
        case 8:
            if eq("irq_msix") { return .irqMSIX }
        case 9:
            if eq("admin_cmd") { return .adminCmd }
            if eq("create_sq") { return .createSQ }
            if eq("create_cq") { return .createCQ }
            if eq("pci_reset") { return .pciReset }
        case 10:
            if eq("mmio_write") { return .mmioWrite }
        case 11:
            if eq("eventidx_sq") { return .eventIdxSQ }
            if eq("eventidx_cq") { return .eventIdxCQ }
        case 12:
            if eq("dbbuf_config") { return .dbbufConfig }
            if eq("mmio_stopped") { return .mmioStopped }
        case 14:
            if eq("update_sq_tail") { return .updateSQTail }
            if eq("update_cq_head") { return .updateCQHead }
        case 16:
            if eq("mmio_doorbell_sq") { return .mmioDoorbellSQ }
            if eq("mmio_doorbell_cq") { return .mmioDoorbellCQ }
        case 17:
            if eq("mmio_shutdown_set") { return .mmioShutdownSet }
        case 18:
            if eq("shadow_doorbell_sq") { return .shadowDoorbellSQ }
            if eq("shadow_doorbell_cq") { return .shadowDoorbellCQ }
            if eq("update_sq_eventidx") { return .updateSQEventIdx }
            if eq("update_cq_eventidx") { return .updateCQEventIdx }
            if eq("mmio_start_success") { return .mmioStartSuccess }
        case 22:
            if eq("enqueue_req_completion") { return .enqueueReqCompletion }
        default:
            break
        }
        return nil
    }
}
