import CTraceCmd
import ShadowBellCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A libtracecmd / libtraceevent call that failed: which function, and errno after it.
struct TraceCmdFailure: Error {
    var function: StaticString
    var code: Int32

    /// The one place a failure of the C libraries becomes an input error naming the file.
    func inputError(path: String) -> InputError {
        let reason = code != 0 ? ": \(String(cString: strerror(code)))" : ""
        return .unsupported(
            path: path,
            reason: "libtracecmd cannot read this trace-cmd file (\(function) failed\(reason)); it may be "
                + "truncated or damaged: check it with `trace-cmd dump --summary`")
    }
}

/// A trace-cmd file (trace.dat, format v6 or v7, compressed or not) opened with libtracecmd:
/// the records of its top-level buffer and of every instance buffer, as one stream in time
/// order. libtracecmd merges a buffer's per-CPU streams; the buffers are merged here. Every
/// call into the C libraries goes through this class, each wrapper named after the function
/// it calls.
final class TraceCmdFile {
    typealias Record = UnsafeMutablePointer<tep_record>
    typealias EventFormat = UnsafeMutablePointer<tep_event>
    typealias Field = UnsafeMutablePointer<tep_format_field>

    private struct Buffer {
        let handle: OpaquePointer
        let tep: OpaquePointer
        /// The buffer's next record, already taken from libtracecmd (owned here).
        var next: Record?
    }

    private let main: OpaquePointer
    @exclusivity(unchecked) private var instances: [OpaquePointer] = []
    /// The buffers that still have records.
    @exclusivity(unchecked) private var buffers: [Buffer] = []
    /// The top-level buffer's event formats (instances share them: one kernel, one file).
    let tep: OpaquePointer
    /// Buffer names, the top-level one first (`""`).
    @exclusivity(unchecked) private(set) var bufferNames: [String] = [""]

    /// libtraceevent and libtracecmd report problems on standard error; ShadowBell reports
    /// them itself.
    private static let quiet: Void = {
        tracecmd_set_loglevel(TEP_LOG_NONE)
        tep_set_loglevel(TEP_LOG_NONE)
    }()

    init(path: String) throws(TraceCmdFailure) {
        _ = Self.quiet
        errno = 0
        let flags = Int32(TRACECMD_FL_LOAD_NO_PLUGINS.rawValue | TRACECMD_FL_LOAD_NO_SYSTEM_PLUGINS.rawValue)
        guard let handle = tracecmd_open_head(path, flags) else {
            throw TraceCmdFailure(function: "tracecmd_open_head", code: errno)
        }
        errno = 0
        guard tracecmd_init_data(handle) >= 0 else {
            // libtracecmd 3.1.6's tracecmd_close crashes on a handle whose data did not load
            // (what tracecmd_open does on this failure, e.g. for a truncated v6 file); the
            // handle is left open, as `trace-cmd report` leaves it when it gives up.
            throw TraceCmdFailure(function: "tracecmd_init_data", code: errno)
        }
        main = handle
        guard let tep = tracecmd_get_tep(handle) else {
            tracecmd_close(handle)
            throw TraceCmdFailure(function: "tracecmd_get_tep", code: errno)
        }
        self.tep = tep
        buffers.append(Buffer(handle: handle, tep: tep, next: nil))
        let instanceCount = max(0, tracecmd_buffer_instances(handle))
        for i in 0..<instanceCount {
            errno = 0
            guard let instance = tracecmd_buffer_instance_handle(handle, i) else {
                throw TraceCmdFailure(function: "tracecmd_buffer_instance_handle", code: errno)
            }
            instances.append(instance)
            buffers.append(Buffer(handle: instance, tep: tracecmd_get_tep(instance) ?? tep, next: nil))
            bufferNames.append(tracecmd_buffer_instance_name(handle, i).map { String(cString: $0) } ?? "")
        }
        for b in buffers.indices { buffers[b].next = tracecmd_read_next_data(buffers[b].handle, nil) }
        buffers.removeAll { $0.next == nil }
    }

    deinit {
        for b in buffers {
            if let record = b.next { tracecmd_free_record(record) }
        }
        for instance in instances { tracecmd_close(instance) }
        tracecmd_close(main)
    }

    /// The earliest next record of all buffers (ties: the top-level buffer, then instances in
    /// file order), or nil once every buffer is read. The caller gives it back with `release`.
    /// Complexity: O(buffers).
    @inline(__always)
    func next() -> (record: Record, tep: OpaquePointer)? {
        if buffers.count == 1 {
            guard let record = buffers[0].next else { return nil }
            buffers[0].next = tracecmd_read_next_data(buffers[0].handle, nil)
            return (record, buffers[0].tep)
        }
        // Several buffers: the earliest of their next records.
        var best = -1
        var bestTime: UInt64 = .max
        for b in buffers.indices {
            if let r = buffers[b].next, best < 0 || r.pointee.ts < bestTime {
                best = b
                bestTime = r.pointee.ts
            }
        }
        guard best >= 0, let record = buffers[best].next else { return nil }
        buffers[best].next = tracecmd_read_next_data(buffers[best].handle, nil)
        return (record, buffers[best].tep)
    }

    /// `tracecmd_free_record`.
    @inline(__always)
    func release(_ record: Record) { tracecmd_free_record(record) }

    /// `tep_data_type`: the event id of a record.
    @inline(__always)
    static func eventID(_ tep: OpaquePointer, _ record: Record) -> Int32 { tep_data_type(tep, record) }

    /// `tep_find_event_by_name`.
    func event(system: String, name: String) -> EventFormat? { tep_find_event_by_name(tep, system, name) }

    /// `tep_find_field`: a field of the event's own format description, by name.
    static func field(_ event: EventFormat, _ name: String) -> Field? { tep_find_field(event, name) }

    /// `shadowbell_print_info` (`tep_print_event` with `TEP_PRINT_INFO`): the record as the
    /// event's print format shows it, into `text`.
    static func printInfo(_ tep: OpaquePointer, _ record: Record, into text: inout trace_seq) {
        trace_seq_reset(&text)
        shadowbell_print_info(tep, &text, record)
        trace_seq_terminate(&text)
    }
}

/// Where a field's bytes are in a record, checked against the record's size (a hostile file
/// may describe fields beyond its records).
struct FieldLocation {
    let offset: Int
    let size: Int
    let field: TraceCmdFile.Field

    init?(_ field: TraceCmdFile.Field?) {
        guard let field, field.pointee.offset >= 0, field.pointee.size >= 0 else { return nil }
        self.field = field
        offset = Int(field.pointee.offset)
        size = Int(field.pointee.size)
    }

    /// `tep_read_number_field` when the field lies inside the record; nil otherwise or when
    /// the field is not a 1-, 2-, 4- or 8-byte number.
    @inline(__always)
    func number(in record: TraceCmdFile.Record) -> UInt64? {
        guard offset + size <= Int(record.pointee.size), let data = record.pointee.data else { return nil }
        var value: UInt64 = 0
        return tep_read_number_field(field, data, &value) == 0 ? value : nil
    }

    /// The field's bytes inside the record (for arrays; a `buf[]` of size 0 runs to the
    /// record's end).
    @inline(__always)
    func bytes(in record: TraceCmdFile.Record) -> UnsafeRawBufferPointer? {
        let recordSize = Int(record.pointee.size)
        guard offset <= recordSize, let data = record.pointee.data else { return nil }
        let end = size == 0 ? recordSize : offset + size
        guard end <= recordSize else { return nil }
        return UnsafeRawBufferPointer(start: data + offset, count: end - offset)
    }
}
