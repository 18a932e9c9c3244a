import ShadowBellCore

/// `value-out-of-range` (error): a shadow, MMIO or EventIdx value outside the queue.
public enum ValueRangeDetector {
    public static let definition = """
        A shadow doorbell, MMIO doorbell or EventIdx value is greater than or equal to the queue's \
        entry count (qsize + 1, known from the queue's creation): one side wrote garbage or a \
        value in the wrong byte order, or reads a stale buffer. A queue size or command \
        identifier beyond NVMe's 16-bit fields is reported the same way.
        """
}

extension ClockGroupAnalyzer {
    func checkRange(_ q: inout QueueState, _ e: Event, value: UInt32, what: String) {
        guard q.entries > 0, value >= q.entries else { return }
        // The admin queue's shadow and EventIdx slots are the controller's copy, not the driver's.
        if q.key.qid == 0 && e.kind != .mmioDoorbell { return }
        q.stats.outOfRangeValues += 1
        let name = "\(q.key.type.name)\(q.key.qid)"
        var f = Finding(
            kind: .valueOutOfRange, queue: q.key, start: e.time,
            message: "\(q.key.controllerName) \(name): \(what) value \(value) is outside the queue (\(q.key.type == .sq ? "SQ" : "CQ") has \(q.entries) entries)",
            explanation: "Valid \(q.key.type == .sq ? "tail" : "head") and EventIdx values are 0...\(q.entries - 1). A value of \(value) means a corrupted or stale slot, a wrong byte order, or a queue-size mismatch between driver and controller.")
        f.values = [("value", .int(Int64(value))), ("entries", .int(Int64(q.entries))), ("field", .string(what))]
        // A value in CPU byte order on a big-endian side reads back byte-swapped.
        if value.byteSwapped < q.entries {
            f.values.append(("in_range_byte_swapped", .bool(true)))
            f.explanation += " Byte-swapped it reads \(value.byteSwapped), a valid index: one side wrote the slot in its own byte order, not little-endian."
        }
        f.evidence = [evidenceItem("value", EventRef(e), "\(what) \(name) = \(value)")]
        report(f)
    }

    /// The entry count of a queue created with `qsize` (0-based), or 0 (unknown) when the size
    /// cannot be an NVMe queue's: QSIZE is a 16-bit field, so a larger value is damage or garbage
    /// and is reported instead of trusted.
    func checkedEntries(_ q: inout QueueState, qsize: UInt32, _ e: Event) -> UInt32 {
        if qsize <= UInt32(UInt16.max) { return qsize + 1 }
        q.stats.outOfRangeValues += 1
        let name = "\(q.key.type.name)\(q.key.qid)"
        var f = Finding(
            kind: .valueOutOfRange, queue: q.key, start: e.time,
            message: "\(q.key.controllerName) \(name): created with qsize \(qsize), beyond the 16-bit queue-size field",
            explanation: "An NVMe queue has at most 65536 entries (qsize 0...65535). A qsize of \(qsize) means a corrupted or misdecoded record; the queue's size is treated as unknown.")
        f.values = [("value", .int(Int64(qsize))), ("field", .string("qsize"))]
        f.evidence = [evidenceItem("value", EventRef(e), "qsize \(name) = \(qsize)")]
        report(f)
        return 0
    }

    /// A submission whose command identifier does not fit NVMe's 16-bit field: reported, and
    /// tracked by its low 16 bits (`commandKey`), so one queue never holds more than 65,536.
    func reportCommandIDOutOfRange(_ q: inout QueueState, _ e: Event) {
        q.stats.outOfRangeValues += 1
        let name = "\(q.key.type.name)\(q.key.qid)"
        var f = Finding(
            kind: .valueOutOfRange, queue: q.key, start: e.time,
            message: "\(q.key.controllerName) \(name): command identifier \(e.a) is beyond the 16-bit field",
            explanation: "An NVMe command identifier is 16 bits (0...65535). A cmdid of \(e.a) means a corrupted or misdecoded record; the command is tracked by its low 16 bits (\(e.a & 0xFFFF)).")
        f.values = [("value", .int(Int64(e.a))), ("field", .string("cmdid"))]
        f.evidence = [evidenceItem("value", EventRef(e), "cmdid \(name) = \(e.a)")]
        report(f)
    }
}
