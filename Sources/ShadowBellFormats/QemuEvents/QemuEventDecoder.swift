import ShadowBellCore

/// Decodes one QEMU log-backend payload, `<event_name> <args>`, into an `Event`. Shared by the
/// QEMU log reader and by ftrace `tracing_mark_write:` lines (QEMU's ftrace backend writes the
/// same payload into the trace marker).
///
/// QEMU does not name the NVMe device in its events, so every event gets `controller`.
public struct QemuEventDecoder: Sendable {
    public enum Result {
        case event(Event)
        /// Not a QEMU NVMe event ShadowBell knows (another pci_nvme_* event or foreign text).
        case unknown
        /// A known event whose arguments do not parse.
        case malformed(DecodeFailure)
    }

    /// First MMIO doorbell register and the end of the doorbell range (DSTRD = 0: 8 bytes per
    /// queue pair, 65536 queue pairs).
    public static let doorbellBase: UInt64 = 0x1000
    public static let doorbellEnd: UInt64 = 0x1000 + 8 * 65536

    public var controller: UInt16
    public var source: UInt16

    public init(controller: UInt16 = 0, source: UInt16 = 0) {
        self.controller = controller
        self.source = source
    }

    /// Decodes `payload` (leading spaces allowed). Complexity: O(payload length).
    public func decode(_ payload: UnsafeRawBufferPointer, time: Int64, location: UInt64) -> Result {
        let start = ByteScanning.skipSpaces(payload, from: 0)
        let end = ByteScanning.firstIndex(of: ASCII.space, or: ASCII.tab, in: payload, from: start)
        guard let name = QemuEventName.identify(UnsafeRawBufferPointer(rebasing: payload[start..<end]))
        else { return .unknown }
        let args = UnsafeRawBufferPointer(rebasing: payload[end...])
        return decode(name, args: args, time: time, location: location)
    }

    /// Decodes the arguments of an already identified event.
    public func decode(
        _ name: QemuEventName, args: UnsafeRawBufferPointer, time: Int64, location: UInt64
    ) -> Result {
        var r = FieldReader(args, event: name.name)
        var e = Event(
            kind: name.kind, time: time, location: location, source: source, controller: controller)
        switch name {
        case .shadowDoorbellSQ:
            e.qid = r.u16("sqid ", field: "sqid")
            e.a = r.u32("new_shadow_doorbell ", field: "new_shadow_doorbell")
        case .updateSQTail:
            e.qid = r.u16("sqid ", field: "sqid")
            e.a = r.u32("new_tail ", field: "new_tail")
        case .shadowDoorbellCQ:
            e.queueType = .cq
            e.qid = r.u16("cqid ", field: "cqid")
            e.a = r.u32("new_shadow_doorbell ", field: "new_shadow_doorbell")
        case .updateCQHead:
            e.queueType = .cq
            e.qid = r.u16("cqid ", field: "cqid")
            e.a = r.u32("new_head ", field: "new_head")
        case .eventIdxSQ, .updateSQEventIdx:
            e.qid = r.u16("sqid ", field: "sqid")
            e.a = r.u32("new_eventidx ", field: "new_eventidx")
        case .eventIdxCQ, .updateCQEventIdx:
            e.queueType = .cq
            e.qid = r.u16("cqid ", field: "cqid")
            e.a = r.u32("new_eventidx ", field: "new_eventidx")
        case .mmioDoorbellSQ:
            e.qid = r.u16("sqid ", field: "sqid")
            e.a = r.u32("new_tail ", field: "new_tail")
        case .mmioDoorbellCQ:
            e.queueType = .cq
            e.qid = r.u16("cqid ", field: "cqid")
            e.a = r.u32("new_head ", field: "new_head")
        case .mmioWrite:
            let address = r.u64("addr ", field: "addr")
            let data = r.u64("data ", field: "data")
            if address >= Self.doorbellBase, address < Self.doorbellEnd {
                let offset = address - Self.doorbellBase
                e.kind = .mmioDoorbell
                e.qid = UInt16(truncatingIfNeeded: offset / 8)
                e.queueType = offset % 8 == 0 ? .sq : .cq
                e.a = UInt32(truncatingIfNeeded: data)
                e.flags = Event.rawRegisterWriteFlag
            } else {
                e.wide = address
                e.a = UInt32(truncatingIfNeeded: data)
            }
        case .dbbufConfig:
            e.wide = r.u64("dbs_addr=", field: "dbs_addr")
            let eventIdxAddress = r.u64("eis_addr=", field: "eis_addr")
            e.a = UInt32(truncatingIfNeeded: eventIdxAddress)
            e.b = UInt32(truncatingIfNeeded: eventIdxAddress >> 32)
        case .ioCmd, .adminCmd:
            e.a = r.u32("cid ", field: "cid")
            e.qid = r.u16("sqid ", field: "sqid")
            e.b = r.u32("opc ", field: "opc")
        case .enqueueReqCompletion:
            e.a = r.u32("cid ", field: "cid")
            e.qid = r.u16("cqid ", field: "cqid")
            e.b = r.u32("status ", field: "status")
        case .createSQ:
            e.wide = r.u64("addr=", field: "addr")
            e.qid = r.u16("sqid=", field: "sqid")
            e.b = r.u32("cqid=", field: "cqid")
            e.a = r.u32("qsize=", field: "qsize")
        case .createCQ:
            e.queueType = .cq
            e.wide = r.u64("addr=", field: "addr")
            e.qid = r.u16("cqid=", field: "cqid")
            e.b = r.u32("vector=", field: "vector")
            e.a = r.u32("qsize=", field: "qsize")
        case .delSQ:
            e.qid = r.u16("sqid=", field: "sqid")
        case .delCQ:
            e.queueType = .cq
            e.qid = r.u16("cqid=", field: "cqid")
        case .irqMSIX:
            e.a = r.u32("vector ", field: "vector")
        case .irqPin, .mmioStopped, .pciReset, .mmioShutdownSet, .mmioStartSuccess:
            e.a = name.argumentFreeValue ?? 0
        }
        if let failure = r.failure { return .malformed(failure) }
        return .event(e)
    }
}
