/// Which ring of a queue pair an event is about.
public enum QueueType: UInt8, Sendable, Hashable, Comparable, CaseIterable {
    case sq = 0
    case cq = 1

    public var name: String { self == .sq ? "sq" : "cq" }

    public static func < (lhs: QueueType, rhs: QueueType) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A queue: (controller, qid, type). Controllers are numbered as Linux names them (`nvme<N>`).
public struct QueueKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var controller: UInt16
    public var qid: UInt16
    public var type: QueueType

    public init(controller: UInt16, qid: UInt16, type: QueueType) {
        self.controller = controller
        self.qid = qid
        self.type = type
    }

    public var controllerName: String { "nvme\(controller)" }

    /// `nvme0:sq1`.
    public var description: String { "\(controllerName):\(type.name)\(qid)" }

    public static func < (lhs: QueueKey, rhs: QueueKey) -> Bool {
        (lhs.controller, lhs.qid, lhs.type.rawValue) < (rhs.controller, rhs.qid, rhs.type.rawValue)
    }
}

/// Every event kind the analyzer understands. The field meaning of `Event.a/b/c/wide/flags`
/// depends on the kind and is documented on each case.
public enum EventKind: UInt8, Sendable, Hashable, CaseIterable {
    // MARK: driver (guest) side

    /// Driver probe `nvme_dbbuf_sq` / `nvme_dbbuf_cq`: `queueType`, `qid`,
    /// `a` = old, `b` = new, `c` = EventIdx read, `flags & Event.mmioFlag` = rang MMIO.
    case driverDoorbellUpdate = 1
    /// `nvme_setup_cmd`: `qid`, `a` = cmdid. For an admin Create I/O SQ/CQ command,
    /// `flags & Event.createsQueueFlag`, `queueType` = created type, `b` = created qid,
    /// `c` = created qsize (0-based). For an admin Delete I/O SQ/CQ command,
    /// `flags & Event.deletesQueueFlag`, `queueType` = deleted type, `b` = deleted qid. For an
    /// admin Abort (the driver giving up on a command it timed out),
    /// `flags & Event.abortsCommandFlag`, `b` = the aborted command's sqid, `c` = its cid.
    case driverSubmit = 2
    /// `nvme_complete_rq`: `qid`, `a` = cmdid, `b` = status.
    case driverComplete = 3
    /// `nvme_sq`: `qid`, `a` = SQ head reported by the CQE, `b` = driver's SQ tail.
    case driverSQHead = 4
    /// A guest kernel message about the NVMe controller (console / dmesg): `a` =
    /// `GuestMessageKind` raw value, `qid` (0 when the message names none), `b` = command tag or
    /// cmdid (`Event.noCommand` when none), `c` = status (`Abort status: 0x…`).
    case guestMessage = 5

    // MARK: controller (device) side

    /// Controller read the shadow slot: `queueType`, `qid`, `a` = value read.
    case controllerShadowRead = 10
    /// Controller wrote EventIdx: `queueType`, `qid`, `a` = value written.
    case controllerEventIdxWrite = 11
    /// An MMIO doorbell write the controller received: `queueType`, `qid`, `a` = value.
    /// `flags & Event.rawRegisterWriteFlag` when it came from a raw register write event.
    case mmioDoorbell = 12
    /// Controller fetched a command (`pci_nvme_io_cmd` / `pci_nvme_admin_cmd`):
    /// `qid` = sqid, `a` = cid, `b` = opcode.
    case controllerFetch = 13
    /// Controller queued a completion (`pci_nvme_enqueue_req_completion`): `qid` = cqid,
    /// `a` = cid, `b` = status.
    case controllerCompletion = 14
    /// Queue created: `queueType`, `qid`, `a` = qsize (0-based), `b` = cqid (SQ) or vector (CQ),
    /// `wide` = ring address.
    case queueCreate = 15
    /// Queue deleted: `queueType`, `qid`.
    case queueDelete = 16
    /// Doorbell Buffer Config: `wide` = shadow doorbell buffer address,
    /// `a`/`b` = EventIdx buffer address low/high 32 bits.
    case dbbufConfig = 17
    /// Controller reset or disable: `a` = `ResetReason` raw value.
    case controllerReset = 18
    /// Controller enable bit set.
    case controllerEnable = 19
    /// Interrupt raised: `a` = MSI-X vector (`Event.noVector` for a pin interrupt).
    case interrupt = 20
    /// Any other controller register write: `wide` = register offset, `a` = data (low 32 bits).
    case registerWrite = 21

    // MARK: trace metadata

    /// The recorder lost events here: `wide` = number lost (0 when unknown), `a` = the same
    /// clamped to 32 bits, `b` = CPU. Read the count with `Event.lostEvents`.
    case dataLoss = 30
    /// The input was still recording here, past its last event (a pcap written by `convert`
    /// keeps where its input's recording ended: a guest trace's other lines, a QEMU log's
    /// other events). No fields.
    case recordingEnd = 31

    /// Which side of the protocol produced the event.
    public var side: Side {
        switch self {
        case .driverDoorbellUpdate, .driverSubmit, .driverComplete, .driverSQHead, .guestMessage: return .driver
        case .dataLoss, .recordingEnd: return .trace
        default: return .controller
        }
    }

    public enum Side: UInt8, Sendable { case driver, controller, trace }
}

/// What a guest kernel message says (Linux nvme-pci `nvme_timeout()` and friends).
public enum GuestMessageKind: UInt32, Sendable, CaseIterable {
    /// `I/O 12 QID 3 timeout, aborting` (all variants: with `tag … (100c) opcode … (Read)`,
    /// with `(I/O Cmd)`).
    case timeoutAborting = 0
    /// `I/O 64 QID 1 timeout, reset controller`.
    case timeoutReset = 1
    /// `I/O 64 QID 1 timeout, completion polled`: the CQE was in memory, only the interrupt or
    /// CQ doorbell was lost.
    case timeoutPolled = 2
    /// `Abort status: 0x0`.
    case abortStatus = 3
    /// `I/O … QID … timeout, disable controller` / controller reset messages.
    case timeoutDisable = 4
    /// `2/0/0 default/read/poll queues`: the controller came (back) up with its I/O queues.
    case queuesReady = 5

    public var name: String {
        switch self {
        case .timeoutAborting: return "timeout-aborting"
        case .timeoutReset: return "timeout-reset"
        case .timeoutPolled: return "timeout-completion-polled"
        case .abortStatus: return "abort-status"
        case .timeoutDisable: return "timeout-disable"
        case .queuesReady: return "queues-ready"
        }
    }

    /// The message as the kernel prints it, for command `tag` (`Event.noCommand`: none) on
    /// `qid`, with `status` (an ABORT's): `I/O 960 QID 1 timeout, aborting`.
    public func kernelWords(tag: UInt32, qid: UInt16, status: UInt32) -> String {
        let command = tag == Event.noCommand ? "I/O ? QID \(qid)" : "I/O \(tag) QID \(qid)"
        switch self {
        case .timeoutAborting: return "\(command) timeout, aborting"
        case .timeoutReset: return "\(command) timeout, reset controller"
        case .timeoutPolled: return "\(command) timeout, completion polled"
        case .timeoutDisable: return "\(command) timeout, disable controller"
        case .abortStatus: return "Abort status: 0x\(String(status, radix: 16))"
        case .queuesReady: return "…/…/… default/read/poll queues (I/O queues up)"
        }
    }
}

/// A Linux kernel version, `major.minor.patch`, packed into 32 bits (10 bits each).
public struct KernelVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var major: UInt32
    public var minor: UInt32
    public var patch: UInt32

    public init(_ major: UInt32, _ minor: UInt32, _ patch: UInt32) {
        self.major = min(major, 1023)
        self.minor = min(minor, 1023)
        self.patch = min(patch, 1023)
    }

    public init(packed: UInt32) {
        self.init(packed >> 20 & 1023, packed >> 10 & 1023, packed & 1023)
    }

    public var packed: UInt32 { major << 20 | minor << 10 | patch }
    public var description: String { "\(major).\(minor).\(patch)" }

    public static func < (a: KernelVersion, b: KernelVersion) -> Bool { a.packed < b.packed }
}

public enum ResetReason: UInt32, Sendable {
    case functionLevelReset = 0
    case enableCleared = 1
    case shutdown = 2
    /// A PCI function-level reset from another QEMU thread than the one of the log's previous
    /// one: a new QEMU process writing to the same log (a VM restarted), read as such from a
    /// QEMU log only.
    case newProcess = 3

    public var name: String {
        switch self {
        case .functionLevelReset: return "pci-reset"
        case .enableCleared: return "controller-disabled"
        case .shutdown: return "controller-shutdown"
        case .newProcess: return "qemu-restarted"
        }
    }
}

/// One decoded trace event. A small trivial struct, stored in contiguous arrays.
public struct Event: Sendable, Hashable {
    /// Nanoseconds on the clock of `source` (for order-only inputs: the event's ordinal).
    public var time: Int64
    /// Where the event came from: 1-based line number for text inputs, byte offset otherwise.
    public var location: UInt64
    /// A 64-bit argument (addresses), see `EventKind`.
    public var wide: UInt64
    public var a: UInt32
    public var b: UInt32
    public var c: UInt32
    public var kind: EventKind
    public var queueType: QueueType
    public var flags: UInt8
    /// Index of the input the event came from.
    public var source: UInt16
    /// Controller number (`nvme<N>`). Inputs that do not name the device use 0.
    public var controller: UInt16
    public var qid: UInt16

    /// The latest time a decoder hands on (2^62 ns, about 146 years from its clock's zero): the
    /// difference of two event times, and a time plus such a difference, always fit in `Int64`.
    /// Binary inputs whose clocks can say more (a 64-bit nanosecond count) report such a record
    /// as malformed or clamp it.
    public static let timeLimit: Int64 = 1 << 62

    public static let mmioFlag: UInt8 = 1
    public static let createsQueueFlag: UInt8 = 2
    public static let rawRegisterWriteFlag: UInt8 = 4
    /// On `driverSubmit` of qid 0: an Abort admin command (see `EventKind.driverSubmit`).
    public static let abortsCommandFlag: UInt8 = 8
    /// On `driverSubmit` of qid 0: a Delete I/O SQ/CQ admin command.
    public static let deletesQueueFlag: UInt8 = 16
    /// On `driverSubmit` of qid 0: a Doorbell Buffer Config admin command (the driver sending
    /// its shadow and EventIdx buffers).
    public static let dbbufConfigFlag: UInt8 = 32
    public static let noVector: UInt32 = 0xFFFF_FFFF
    public static let noCommand: UInt32 = 0xFFFF_FFFF

    public init(
        kind: EventKind, time: Int64, location: UInt64 = 0, source: UInt16 = 0,
        controller: UInt16 = 0, qid: UInt16 = 0, queueType: QueueType = .sq,
        a: UInt32 = 0, b: UInt32 = 0, c: UInt32 = 0, wide: UInt64 = 0, flags: UInt8 = 0
    ) {
        self.kind = kind
        self.time = time
        self.location = location
        self.source = source
        self.controller = controller
        self.qid = qid
        self.queueType = queueType
        self.a = a
        self.b = b
        self.c = c
        self.wide = wide
        self.flags = flags
    }

    public var queue: QueueKey { QueueKey(controller: controller, qid: qid, type: queueType) }
    public var rangMMIO: Bool { flags & Event.mmioFlag != 0 }
    /// The driver's ABORT admin command (`b` = the aborted command's sqid, `c` = its cid).
    public var isDriverAbort: Bool { kind == .driverSubmit && qid == 0 && flags & Event.abortsCommandFlag != 0 }
}

extension Event {
    /// Driver probe: the driver published `new` into the shadow slot and read `eventIdx` back.
    public static func driverDoorbellUpdate(
        _ type: QueueType, qid: UInt16, old: UInt32, new: UInt32, eventIdx: UInt32, mmio: Bool,
        time: Int64, controller: UInt16 = 0, location: UInt64 = 0, source: UInt16 = 0
    ) -> Event {
        Event(
            kind: .driverDoorbellUpdate, time: time, location: location, source: source,
            controller: controller, qid: qid, queueType: type, a: old, b: new, c: eventIdx,
            flags: mmio ? Event.mmioFlag : 0)
    }

    /// Controller-side queue event whose payload is one value (`shadow read`, `EventIdx write`,
    /// `MMIO doorbell`).
    public static func queueValue(
        _ kind: EventKind, _ type: QueueType, qid: UInt16, value: UInt32, time: Int64,
        controller: UInt16 = 0, location: UInt64 = 0, source: UInt16 = 0
    ) -> Event {
        Event(
            kind: kind, time: time, location: location, source: source, controller: controller,
            qid: qid, queueType: type, a: value)
    }
}

extension Event {
    /// For a `dataLoss` event: the number of events lost (0 when the recorder did not say). Older
    /// records carry only the 32-bit `a`.
    @inlinable
    public var lostEvents: UInt64 { wide != 0 ? wide : UInt64(a) }
}
