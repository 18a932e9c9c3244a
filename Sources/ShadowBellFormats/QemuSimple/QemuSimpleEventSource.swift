import ShadowBellCore

/// Options for QEMU simple-backend traces.
public struct QemuSimpleOptions: Sendable {
    /// Argument layouts of events other than the built-in NVMe ones (from `--trace-events`).
    public var traceEvents: [String: TraceEventSignature]
    /// Events held back to put slightly out-of-order records (several writer threads) in time order.
    public var reorderWindow: Int
    /// Controller number given to the events (QEMU does not name the device).
    public var controller: UInt16

    public init(
        traceEvents: [String: TraceEventSignature] = [:], reorderWindow: Int = 256, controller: UInt16 = 0
    ) {
        self.traceEvents = traceEvents
        self.reorderWindow = max(0, reorderWindow)
        self.controller = controller
    }
}

/// An `EventSource` over a QEMU simple trace backend file, format version 4 (inputs.md §3).
///
/// Records are read in host byte order, detected from the header magic. Locations are byte
/// offsets of a record's first byte (its type word). Events come out in timestamp order
/// through a reorder window of `QemuSimpleOptions.reorderWindow` events; `summary.outOfOrder`
/// counts records whose timestamp went backwards in the file.
public final class QemuSimpleEventSource: EventSource {
    public static let headerEventID: UInt64 = 0xFFFF_FFFF_FFFF_FFFF
    public static let magic: UInt64 = 0xF2B1_77CB_0AA4_29B4
    public static let supportedVersion: UInt64 = 4
    public static let droppedEventID: UInt64 = 0xFFFF_FFFF_FFFF_FFFE
    static let mappingRecord: UInt64 = 0
    static let eventRecord: UInt64 = 1
    /// Event names longer than this are not QEMU's (its longest are well under 100 bytes).
    public static let maxNameLength = 4096
    /// Records longer than this cannot come from QEMU (its record buffer is far smaller).
    public static let maxEventLength = 64 * 1024
    /// The most non-string arguments an event may have (QEMU allows far fewer).
    static let maxArguments = 32
    public static let batchLimit = 4096

    public private(set) var summary: InputSummary
    private let reader: RecordReader
    private let options: QemuSimpleOptions
    private var mappings: [UInt64: Mapping] = [:]
    private var reportedUnmapped: Set<UInt64> = []
    private var pending = ReorderBuffer()
    private var sequence: UInt64 = 0
    private var previousTime: Int64 = .min
    private var inputDone = false
    private var arguments = [UInt64](repeating: 0, count: maxArguments)

    private struct Mapping {
        var name: String
        var builtin: QemuEventName?
        var signature: TraceEventSignature?
    }

    /// Reads the already opened `input` (any position-0 input: file, pipe, standard input).
    public init(input: ByteInput, index: UInt16, options: QemuSimpleOptions = .init()) throws(InputError) {
        self.reader = RecordReader(input: input)
        self.options = options
        var summary = InputSummary(index: index, path: input.path, format: .qemuSimple)
        summary.locationUnit = .byteOffset
        self.summary = summary
        try readHeader()
    }

    public convenience init(path: String, index: UInt16, options: QemuSimpleOptions = .init())
        throws(InputError)
    {
        try self.init(input: ByteInput(path: path), index: index, options: options)
    }

    private func readHeader() throws(InputError) {
        guard try reader.require(24) else {
            throw InputError.unsupported(
                path: summary.path, reason: "QEMU simple trace header is cut short (need 24 bytes)")
        }
        let first = reader.u64(at: 0)
        let magic = reader.u64(at: 8)
        if magic == Self.magic.byteSwapped { reader.swapped = true }
        guard first == Self.headerEventID, magic == Self.magic || magic == Self.magic.byteSwapped else {
            throw InputError.unsupported(
                path: summary.path,
                reason: "not a QEMU simple trace: bad header magic (want ffffffffffffffff f2b177cb0aa429b4)")
        }
        let version = reader.u64(at: 16)
        guard version == Self.supportedVersion else {
            throw InputError.unsupported(
                path: summary.path,
                reason: "QEMU simple trace format version \(version) is not supported (only version 4)")
        }
        reader.consume(24)
        summary.bytes = 24
    }

    public func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        buffer.removeAll(keepingCapacity: true)
        while buffer.count < Self.batchLimit {
            if pending.count > options.reorderWindow || (inputDone && pending.count > 0) {
                buffer.append(pending.popMin())
                continue
            }
            if inputDone { break }
            if let event = try readRecord() { push(event) }
        }
        return !buffer.isEmpty
    }

    private func push(_ event: Event) {
        if event.time < previousTime { summary.outOfOrder += 1 }
        previousTime = max(previousTime, event.time)
        pending.push(event, sequence: sequence)
        sequence += 1
    }

    /// Reads one record; returns its event if it is one ShadowBell knows. Sets `inputDone` at the
    /// end of the file or when the file cannot be followed any further.
    private func readRecord() throws(InputError) -> Event? {
        let recordStart = reader.offset
        guard try reader.require(8) else {
            if reader.available > 0 { truncated(at: recordStart) }
            inputDone = true
            return nil
        }
        summary.records += 1
        let type = reader.u64(at: 0)
        switch type {
        case Self.mappingRecord: return try readMapping(at: recordStart)
        case Self.eventRecord: return try readEvent(at: recordStart)
        default:
            stop(at: recordStart, "unknown record type \(type) (0 = mapping, 1 = event); cannot find the next record")
            return nil
        }
    }

    private func readMapping(at recordStart: UInt64) throws(InputError) -> Event? {
        guard try reader.require(20) else { return truncated(at: recordStart) }
        let id = reader.u64(at: 8)
        let length = Int(reader.u32(at: 16))
        guard length <= Self.maxNameLength else {
            stop(at: recordStart,
                 "mapping record for event id \(id) claims a name length of \(length) bytes "
                    + "(at most \(Self.maxNameLength) is plausible); cannot find the next record")
            return nil
        }
        guard try reader.require(20 + length) else { return truncated(at: recordStart) }
        let name = String(decoding: reader.bytes(at: 20, count: length), as: UTF8.self)
        let builtin = QemuSimpleLayouts.byName[name]
        mappings[id] = Mapping(
            name: name, builtin: builtin?.name, signature: builtin?.signature ?? options.traceEvents[name])
        consume(20 + length)
        return nil
    }

    private func readEvent(at recordStart: UInt64) throws(InputError) -> Event? {
        // type, id, timestamp, length, pid
        guard try reader.require(32) else { return truncated(at: recordStart) }
        let id = reader.u64(at: 8)
        let timestamp = reader.u64(at: 16)
        let length = Int(reader.u32(at: 24))
        guard length >= 24, length <= Self.maxEventLength else {
            stop(at: recordStart,
                 "event record length \(length) is outside 24...\(Self.maxEventLength); cannot find the next record")
            return nil
        }
        let total = 8 + length
        guard try reader.require(total) else { return truncated(at: recordStart) }
        defer { consume(total) }
        let payload = reader.bytes(at: 32, count: length - 24)
        let time = Int64(truncatingIfNeeded: timestamp)

        if id == Self.droppedEventID {
            guard payload.count >= 8 else {
                summary.noteMalformed(at: recordStart, "dropped-events record without its count")
                return nil
            }
            let count = reader.u64(at: 32)
            summary.dataLossMarkers += 1
            summary.lostEvents &+= count
            summary.events += 1
            return Event(kind: .dataLoss, time: time, location: recordStart, source: summary.index,
                         controller: options.controller, a: UInt32(clamping: count))
        }
        guard let mapping = mappings[id] else {
            summary.noteMalformed(
                at: recordStart,
                "event id \(id) has no mapping record before it (ids differ per run and must be mapped)")
            return nil
        }
        guard let signature = mapping.signature else {
            summary.skipped += 1  // an event we have no layout for: its length is enough to skip it
            return nil
        }
        guard let count = decodeArguments(payload, signature) else {
            if mapping.builtin != nil {
                summary.noteMalformed(
                    at: recordStart, "\(mapping.name): arguments do not fit the record's \(payload.count) bytes")
            } else {
                summary.noteMalformed(
                    at: recordStart,
                    "\(mapping.name): arguments per the trace-events file do not fit the record's "
                        + "\(payload.count) bytes (is the trace-events file from the same QEMU build?)")
            }
            return nil
        }
        guard let builtin = mapping.builtin else {
            summary.skipped += 1
            return nil
        }
        summary.events += 1
        return arguments.withUnsafeBufferPointer { all in
            QemuSimpleLayouts.event(
                builtin, arguments: UnsafeBufferPointer(rebasing: all[0..<count]), time: time,
                location: recordStart, source: summary.index, controller: options.controller)
        }
    }

    /// Walks the arguments: non-strings are 8 bytes, strings a u32 length and bytes. Stores the
    /// non-string values in `arguments`; returns how many, or `nil` if the layout does not
    /// use exactly the payload's bytes.
    private func decodeArguments(_ payload: UnsafeRawBufferPointer, _ signature: TraceEventSignature) -> Int? {
        var at = 0
        var count = 0
        for argument in signature.arguments {
            if argument.isString {
                guard payload.count - at >= 4 else { return nil }
                var raw = payload.loadUnaligned(fromByteOffset: at, as: UInt32.self)
                if reader.swapped { raw = raw.byteSwapped }
                at += 4
                guard payload.count - at >= Int(raw) else { return nil }
                at += Int(raw)
            } else {
                guard payload.count - at >= 8, count < Self.maxArguments else { return nil }
                var raw = payload.loadUnaligned(fromByteOffset: at, as: UInt64.self)
                if reader.swapped { raw = raw.byteSwapped }
                arguments[count] = raw
                count += 1
                at += 8
            }
        }
        return at == payload.count ? count : nil
    }

    private func consume(_ n: Int) {
        reader.consume(n)
        summary.bytes = reader.offset
    }

    @discardableResult
    private func truncated(at recordStart: UInt64) -> Event? {
        summary.noteMalformed(
            at: recordStart, "file is truncated: the record starting at byte \(recordStart) is cut short")
        inputDone = true
        return nil
    }

    private func stop(at recordStart: UInt64, _ reason: String) {
        summary.noteMalformed(at: recordStart, reason)
        inputDone = true
    }
}

/// A binary min-heap on (time, arrival order): pops events in time order, stable for equal times.
struct ReorderBuffer {
    private var heap: [(time: Int64, sequence: UInt64, event: Event)] = []

    var count: Int { heap.count }

    /// O(log n).
    mutating func push(_ event: Event, sequence: UInt64) {
        heap.append((event.time, sequence, event))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(child, parent) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// O(log n). The heap must not be empty.
    mutating func popMin() -> Event {
        let top = heap[0].event
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < heap.count && less(left, smallest) { smallest = left }
                if right < heap.count && less(right, smallest) { smallest = right }
                if smallest == parent { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }

    private func less(_ i: Int, _ j: Int) -> Bool {
        (heap[i].time, heap[i].sequence) < (heap[j].time, heap[j].sequence)
    }
}
