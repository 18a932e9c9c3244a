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

    @exclusivity(unchecked) public private(set) var summary: InputSummary
    private let reader: RecordReader
    private let options: QemuSimpleOptions
    /// The mapped event ids: `mappingIndex` (dense for small ids, as QEMU numbers them) or
    /// `sparseMappingIndex` lead to a flat `Layout` (read per record without reference counting)
    /// and its `Mapping` (names and signature, for messages and unusual layouts).
    @exclusivity(unchecked) private var mappings: [Mapping] = []
    @exclusivity(unchecked) private var layouts: [Layout] = []
    @exclusivity(unchecked) private var mappingIndex = [Int32](repeating: -1, count: 1 << 12)
    @exclusivity(unchecked) private var sparseMappingIndex: [UInt64: Int] = [:]
    private let pending: ReorderBuffer
    @exclusivity(unchecked) private var sequence: UInt64 = 0
    @exclusivity(unchecked) private var previousTime: Int64 = .min
    @exclusivity(unchecked) private var inputDone = false
    private let arguments = UnsafeMutablePointer<UInt64>.allocate(capacity: maxArguments)

    private struct Mapping {
        var name: String
        var builtin: QemuEventName?
        var signature: TraceEventSignature?
    }

    /// A mapping's argument layout as plain values.
    private struct Layout {
        var builtin: QemuEventName?
        /// A signature is known (built in or from `--trace-events`).
        var known: Bool
        /// Arguments in declaration order; bit i of `stringMask`: argument i is a string.
        /// `argumentCount` is -1 when the signature has more than 64 arguments (then it is
        /// walked from `Mapping.signature`).
        var argumentCount: Int
        var stringMask: UInt64
    }

    /// Reads the already opened `input` (any position-0 input: file, pipe, standard input).
    public init(input: ByteInput, index: UInt16, options: QemuSimpleOptions = .init()) throws(InputError) {
        self.reader = RecordReader(input: input)
        self.options = options
        self.pending = ReorderBuffer(capacity: options.reorderWindow + 2)
        var summary = InputSummary(index: index, path: input.path, format: .qemuSimple)
        summary.locationUnit = .byteOffset
        self.summary = summary
        try readHeader()
    }

    deinit { arguments.deallocate() }

    private func mappingSlot(_ id: UInt64) -> Int? {
        if id < UInt64(mappingIndex.count) {
            let i = mappingIndex[Int(id)]
            return i >= 0 ? Int(i) : nil
        }
        return sparseMappingIndex[id]
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
        if event.time < previousTime {
            summary.outOfOrder += 1
            summary.steppedBack(from: previousTime, to: event.time, at: event.location)
        }
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
        let mapping = Mapping(
            name: name, builtin: builtin?.name, signature: builtin?.signature ?? options.traceEvents[name])
        var layout = Layout(builtin: mapping.builtin, known: mapping.signature != nil, argumentCount: 0, stringMask: 0)
        if let arguments = mapping.signature?.arguments {
            if arguments.count <= 64 {
                layout.argumentCount = arguments.count
                for (i, argument) in arguments.enumerated() where argument.isString { layout.stringMask |= 1 << UInt64(i) }
            } else {
                layout.argumentCount = -1
            }
        }
        // A later mapping of the same id replaces the earlier one (memory stays per id).
        if let slot = mappingSlot(id) {
            mappings[slot] = mapping
            layouts[slot] = layout
        } else {
            mappings.append(mapping)
            layouts.append(layout)
            if id < UInt64(mappingIndex.count) {
                mappingIndex[Int(id)] = Int32(mappings.count - 1)
            } else {
                sparseMappingIndex[id] = mappings.count - 1
            }
        }
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
        guard timestamp <= UInt64(Event.timeLimit) else {
            summary.noteMalformed(at: recordStart, "timestamp \(timestamp) ns is beyond 2^62 ns")
            return nil
        }
        let time = Int64(timestamp)

        if id == Self.droppedEventID {
            guard payload.count >= 8 else {
                summary.noteMalformed(at: recordStart, "dropped-events record without its count")
                return nil
            }
            let count = reader.u64(at: 32)
            summary.dataLossMarkers += 1
            summary.addLostEvents(count)
            summary.events += 1
            return Event(kind: .dataLoss, time: time, location: recordStart, source: summary.index,
                         controller: options.controller, a: UInt32(clamping: count), wide: count)
        }
        guard let slot = mappingSlot(id) else {
            summary.noteMalformed(
                at: recordStart,
                "event id \(id) has no mapping record before it (ids differ per run and must be mapped)")
            return nil
        }
        let layout = layouts[slot]
        guard layout.known else {
            summary.skipped += 1  // an event we have no layout for: its length is enough to skip it
            summary.recordedUntil(atLeast: time)  // QEMU was recording until then
            return nil
        }
        let decoded = layout.argumentCount >= 0
            ? decodeArguments(payload, count: layout.argumentCount, stringMask: layout.stringMask)
            : decodeArguments(payload, mappings[slot].signature!)
        guard let count = decoded else {
            let mapping = mappings[slot]
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
        guard let builtin = layout.builtin else {
            summary.skipped += 1
            summary.recordedUntil(atLeast: time)
            return nil
        }
        summary.events += 1
        return QemuSimpleLayouts.event(
            builtin, arguments: UnsafeBufferPointer(start: arguments, count: count), time: time,
            location: recordStart, source: summary.index, controller: options.controller)
    }

    /// `decodeArguments` for a layout given as a count and a string mask (no array walk).
    @inline(__always)
    private func decodeArguments(_ payload: UnsafeRawBufferPointer, count n: Int, stringMask: UInt64) -> Int? {
        var at = 0
        var count = 0
        let swapped = reader.swapped
        for i in 0..<n {
            if stringMask >> UInt64(i) & 1 != 0 {
                guard payload.count - at >= 4 else { return nil }
                var raw = payload.loadUnaligned(fromByteOffset: at, as: UInt32.self)
                if swapped { raw = raw.byteSwapped }
                at += 4
                guard payload.count - at >= Int(raw) else { return nil }
                at += Int(raw)
            } else {
                guard payload.count - at >= 8, count < Self.maxArguments else { return nil }
                var raw = payload.loadUnaligned(fromByteOffset: at, as: UInt64.self)
                if swapped { raw = raw.byteSwapped }
                arguments[count] = raw
                count += 1
                at += 8
            }
        }
        return at == payload.count ? count : nil
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
        summary.cutShortAt = recordStart
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

/// A reorder window on (time, arrival order): pops events in time order, stable for equal times.
/// A ring of plain values: in-order input (the common case) writes one slot per push and reads
/// one per pop, with no array bookkeeping.
final class ReorderBuffer {
    private struct Entry {
        var time: Int64
        var sequence: UInt64
        var event: Event
    }

    @exclusivity(unchecked) private var storage: UnsafeMutablePointer<Entry>
    @exclusivity(unchecked) private var capacity: Int
    @exclusivity(unchecked) private var head = 0
    @exclusivity(unchecked) private(set) var count = 0

    init(capacity: Int = 512) {
        var slots = 16
        while slots < capacity { slots <<= 1 }
        self.capacity = slots
        storage = .allocate(capacity: slots)
    }

    deinit { storage.deallocate() }  // Entry is a plain value: nothing to deinitialize

    @inline(__always)
    private func slot(_ logical: Int) -> Int { (head + logical) & (capacity - 1) }

    /// O(1) for an event not earlier than the latest one; otherwise O(n) (a binary search and
    /// a shift of at most the window's events).
    @inline(__always)
    func push(_ event: Event, sequence: UInt64) {
        if count == capacity { grow() }
        let entry = Entry(time: event.time, sequence: sequence, event: event)
        if count > 0 {
            let last = storage[slot(count - 1)]
            if (event.time, sequence) < (last.time, last.sequence) {
                insertEarly(entry)
                return
            }
        }
        (storage + slot(count)).initialize(to: entry)
        count += 1
    }

    private func insertEarly(_ entry: Entry) {
        var lo = 0
        var hi = count
        while lo < hi {
            let mid = (lo + hi) / 2
            let e = storage[slot(mid)]
            if (e.time, e.sequence) < (entry.time, entry.sequence) { lo = mid + 1 } else { hi = mid }
        }
        var i = count
        while i > lo {
            (storage + slot(i)).initialize(to: storage[slot(i - 1)])
            i -= 1
        }
        (storage + slot(lo)).initialize(to: entry)
        count += 1
    }

    private func grow() {
        let bigger = UnsafeMutablePointer<Entry>.allocate(capacity: capacity * 2)
        for i in 0..<count { (bigger + i).initialize(to: storage[slot(i)]) }
        storage.deallocate()
        storage = bigger
        capacity *= 2
        head = 0
    }

    /// O(1). The buffer must not be empty.
    @inline(__always)
    func popMin() -> Event {
        precondition(count > 0)
        let top = storage[head].event
        head = (head + 1) & (capacity - 1)
        count -= 1
        return top
    }
}
