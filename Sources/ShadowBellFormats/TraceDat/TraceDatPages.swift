import CTraceCmd
import CZstd
import ShadowBellCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where a field's bytes are in a record (from the event's format description), read after
/// checking it against the record's size: a hostile file may describe fields beyond its records.
struct TraceDatField {
    let offset: Int
    let size: Int

    init?(_ field: UnsafeMutablePointer<tep_format_field>?) {
        guard let field, field.pointee.offset >= 0, field.pointee.size >= 0 else { return nil }
        offset = Int(field.pointee.offset)
        size = Int(field.pointee.size)
    }

    init(offset: Int, size: Int) {
        self.offset = offset
        self.size = size
    }

    /// The field as a little-endian unsigned number of 1, 2, 4 or 8 bytes; nil when it lies
    /// outside the record or has another size.
    @inline(__always)
    func number(_ data: UnsafeRawPointer, _ count: Int) -> UInt64? {
        guard offset + size <= count else { return nil }
        let p = data + offset
        switch size {
        case 1: return UInt64(p.load(as: UInt8.self))
        case 2: return UInt64(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
        case 4: return UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
        case 8: return UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
        default: return nil
        }
    }

    /// The field's bytes (for arrays; a `buf[]` of size 0 runs to the record's end).
    @inline(__always)
    func bytes(_ data: UnsafeRawPointer, _ count: Int) -> UnsafeRawBufferPointer? {
        guard offset <= count else { return nil }
        let end = size == 0 ? count : offset + size
        guard end <= count else { return nil }
        return UnsafeRawBufferPointer(start: data + offset, count: end - offset)
    }
}

/// The events ShadowBell reads from a trace-cmd file, by their ids in that file, and where
/// their fields are: everything found once, at open, from the file's own format descriptions.
struct TraceDatEvents: @unchecked Sendable {
    enum Decoding {
        case nvme(FtraceEventName, NVMeFields)
        case marker(buf: TraceDatField)
        case printed
    }

    /// The nvme tracepoints' fields that `NVMeTracepointFields` uses, where each event has them.
    struct NVMeFields {
        var ctrlID, qid, cid, opcode, status, sqHead, sqTail, cdw10: TraceDatField?

        init(_ event: UnsafeMutablePointer<tep_event>) {
            func field(_ name: String) -> TraceDatField? { TraceDatField(tep_find_field(event, name)) }
            ctrlID = field("ctrl_id")
            qid = field("qid")
            cid = field("cid")
            opcode = field("opcode")
            status = field("status")
            sqHead = field("sq_head")
            sqTail = field("sq_tail")
            cdw10 = field("cdw10")
        }

        @inline(__always)
        func read(_ data: UnsafeRawPointer, _ count: Int) -> NVMeTracepointFields {
            var f = NVMeTracepointFields()
            f.ctrlID = ctrlID?.number(data, count) ?? 0
            f.qid = qid?.number(data, count)
            f.cid = cid?.number(data, count)
            f.opcode = opcode?.number(data, count)
            f.status = status?.number(data, count)
            f.sqHead = sqHead?.number(data, count)
            f.sqTail = sqTail?.number(data, count)
            if let bytes = cdw10?.bytes(data, count), bytes.count >= 4 {
                f.cdw10 = UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self))
            }
            return f
        }
    }

    var ids: [Int32] = []
    var decodings: [Decoding] = []
    /// `common_type`, the event id at the start of every record.
    var type = TraceDatField(offset: 0, size: 2)
    let tep: OpaquePointer

    init(tep: OpaquePointer) {
        self.tep = tep
        func add(_ event: UnsafeMutablePointer<tep_event>, _ decoding: Decoding) {
            ids.append(event.pointee.id)
            decodings.append(decoding)
            if let common = TraceDatField(tep_find_common_field(event, "common_type")) { type = common }
        }
        for name in [FtraceEventName.setupCmd, .completeRq, .sq] {
            if let event = tep_find_event_by_name(tep, "nvme", "\(name.name)") {
                add(event, .nvme(name, NVMeFields(event)))
            }
        }
        if let print = tep_find_event_by_name(tep, "ftrace", "print"), let buf = TraceDatField(tep_find_field(print, "buf")) {
            add(print, .marker(buf: buf))
        }
        for name in ["bprint", "bputs"] {
            if let event = tep_find_event_by_name(tep, "ftrace", name) { add(event, .printed) }
        }
    }
}

/// What one unit of a CPU's data (a run of its pages) decoded to: its events in page order,
/// with the counts the summary needs.
struct TraceDatUnit {
    var events: [Event] = []
    /// For each `.dataLoss` event, in order: the time of the record before it on the same CPU
    /// within this unit, `Int64.min` when that record lies in an earlier unit, `Int64.max` when
    /// the event's time is final (a marker that decoded to a data loss).
    var lossStamps: [Int64] = []
    var records: UInt64 = 0
    var skipped: UInt64 = 0
    var malformed: UInt64 = 0
    var firstMalformed: [(location: UInt64, reason: String)] = []
    var dataLossMarkers: UInt64 = 0
    var lostEvents: UInt64 = 0
    /// The time of the unit's last record, if it has one.
    var lastRecordTime: Int64?
    var error: TraceDatDamage?

    mutating func reset() {
        events.removeAll(keepingCapacity: true)
        lossStamps.removeAll(keepingCapacity: true)
        records = 0
        skipped = 0
        malformed = 0
        firstMalformed.removeAll()
        dataLossMarkers = 0
        lostEvents = 0
        lastRecordTime = nil
        error = nil
    }

    mutating func noteMalformed(at location: UInt64, _ reason: @autoclosure () -> String) {
        malformed &+= 1
        if firstMalformed.count < InputSummary.firstMalformedLimit { firstMalformed.append((location, reason())) }
    }
}

/// Decodes ring-buffer pages into events, on one thread (each decoding thread has its own):
/// the page walk of the kernel's ring-buffer format (page header: timestamp, commit with the
/// missed-events flags; event headers: type_len, time_delta; time extends, absolute stamps,
/// padding), every length checked against its page.
final class TraceDatPageDecoder {
    private static let commitMask: UInt64 = (1 << 27) - 1
    private static let missedEvents: UInt64 = 1 << 31
    private static let missedStored: UInt64 = 1 << 30
    private static let timeStampHighBits: UInt64 = 0xF8 << 56
    /// `tep_print_event` (for `trace_printk` probes) is called by one thread at a time: it
    /// fills libtraceevent's lookup caches.
    nonisolated(unsafe) private static let printing: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()

    private let layout: TraceDatLayout
    private let events: TraceDatEvents
    private let markers: FtraceLineParser
    private let source: UInt16
    private let text = UnsafeMutablePointer<trace_seq>.allocate(capacity: 1)
    private let zstd: OpaquePointer?
    /// Read and decompression buffers, reused from unit to unit.
    @exclusivity(unchecked) var input = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    @exclusivity(unchecked) var output = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    init(layout: TraceDatLayout, events: TraceDatEvents, markers: FtraceLineParser, source: UInt16) {
        self.layout = layout
        self.events = events
        self.markers = markers
        self.source = source
        trace_seq_init(text)
        zstd = layout.compression == .zstd ? ZSTD_createDCtx() : nil
    }

    deinit {
        trace_seq_destroy(text)
        text.deallocate()
        if let zstd { ZSTD_freeDCtx(zstd) }
        input.deallocate()
        output.deallocate()
    }

    /// `input` (or `output`) with room for at least `count` bytes, and an address even for none
    /// (a damaged file's chunk may claim 0 bytes: found by the `tracedat` fuzz target).
    static func ensure(_ buffer: inout UnsafeMutableRawBufferPointer, _ count: Int) {
        guard buffer.count < count || buffer.baseAddress == nil else { return }
        buffer.deallocate()
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 64 << 10), alignment: 16)
    }

    /// Decompresses `zdata` to `output` at `at`: exactly `count` bytes, or false.
    func decompress(_ zdata: UnsafeRawBufferPointer, to at: Int, _ count: Int) -> Bool {
        layout.compression.decompress(zdata, into: output.baseAddress! + at, count, zstd: zstd)
    }

    /// Decodes the pages in `data` (whole pages of `pageSize`, the last possibly shorter);
    /// `location` is the location of `data`'s first byte.
    func decode(
        _ data: UnsafeRawBufferPointer, pageSize: Int, cpu: UInt32, location: UInt64, into u: inout TraceDatUnit
    ) throws(TraceDatDamage) {
        guard let base = data.baseAddress else { return }
        let commitSize = layout.commitSize
        let header = 8 + commitSize
        var page = 0
        while page < data.count {
            let length = min(pageSize, data.count - page)
            if length < header { break }
            let p = base + page
            let pageTime = UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
            let flags =
                commitSize == 8
                ? UInt64(littleEndian: (p + 8).loadUnaligned(as: UInt64.self))
                : UInt64(UInt32(littleEndian: (p + 8).loadUnaligned(as: UInt32.self)))
            let size = Int(flags & Self.commitMask)
            guard size <= length - header else {
                throw TraceDatDamage(
                    offset: location + UInt64(page),
                    problem: "CPU \(cpu)'s ring-buffer page says it holds \(size) bytes, more than its \(length - header)")
            }
            var missed: Int64 = 0
            if flags & Self.missedEvents != 0 {
                missed = -1
                if flags & Self.missedStored != 0, size + commitSize <= length - header {
                    let q = p + header + size
                    missed =
                        commitSize == 8
                        ? Int64(bitPattern: UInt64(littleEndian: q.loadUnaligned(as: UInt64.self)))
                        : Int64(Int32(bitPattern: UInt32(littleEndian: q.loadUnaligned(as: UInt32.self))))
                }
            }
            let d = p + header
            var ts = pageTime
            var i = 0
            while i + 4 <= size {
                let word = UInt32(littleEndian: (d + i).loadUnaligned(as: UInt32.self))
                let typeLen = word & 31
                let delta = UInt64(word >> 5)
                var start = i + 4
                var count: Int
                switch typeLen {
                case 29:  // padding: the rest of the page, or array[0] bytes
                    if delta == 0 || i + 8 > size {
                        i = size
                        continue
                    }
                    ts &+= delta
                    i = i + 4 + Int(UInt32(littleEndian: (d + i + 4).loadUnaligned(as: UInt32.self)))
                    continue
                case 30, 31:  // time extend, absolute time stamp
                    guard i + 8 <= size else {
                        throw TraceDatDamage(offset: location + UInt64(page + header + i), problem: "CPU \(cpu)'s time stamp is cut short")
                    }
                    let extended = UInt64(UInt32(littleEndian: (d + i + 4).loadUnaligned(as: UInt32.self))) << 27 &+ delta
                    ts = typeLen == 30 ? ts &+ extended : extended | (pageTime & Self.timeStampHighBits)
                    i += 8
                    continue
                case 0:
                    guard i + 8 <= size else {
                        throw TraceDatDamage(offset: location + UInt64(page + header + i), problem: "CPU \(cpu)'s record length is cut short")
                    }
                    let stored = Int(UInt32(littleEndian: (d + i + 4).loadUnaligned(as: UInt32.self)))
                    guard stored >= 4 else {
                        throw TraceDatDamage(offset: location + UInt64(page + header + i), problem: "CPU \(cpu)'s record of length \(stored)")
                    }
                    count = (stored - 4 + 3) & ~3
                    start = i + 8
                default:
                    count = Int(typeLen) * 4
                }
                guard count <= size - start else {
                    throw TraceDatDamage(
                        offset: location + UInt64(page + header + i),
                        problem: "CPU \(cpu)'s record of \(count) bytes runs past its page's \(size)")
                }
                ts &+= delta
                record(
                    d + start, count, time: Int64(clamping: min(layout.adjust(ts), UInt64(Event.timeLimit))),
                    location: location + UInt64(page + header + i), cpu: cpu, missed: missed, into: &u)
                missed = 0
                i = start + count
            }
            page += pageSize
        }
    }

    @inline(__always)
    private func record(
        _ data: UnsafeRawPointer, _ count: Int, time: Int64, location: UInt64, cpu: UInt32, missed: Int64,
        into u: inout TraceDatUnit
    ) {
        u.records &+= 1
        if missed != 0 {
            // -1: the ring buffer lost events but did not count them.
            let lost = missed > 0 ? UInt64(missed) : 0
            u.events.append(
                Event(kind: .dataLoss, time: time, location: location, source: source, a: UInt32(clamping: lost), b: cpu, wide: lost))
            u.lossStamps.append(u.lastRecordTime ?? .min)
            u.dataLossMarkers &+= 1
            u.lostEvents = u.lostEvents.saturatingAdding(lost)
        }
        u.lastRecordTime = time
        guard let id = events.type.number(data, count) else {
            u.noteMalformed(at: location, "a record of \(count) bytes, too short for its event id")
            return
        }
        var found = -1
        for k in events.ids.indices where events.ids[k] == Int32(truncatingIfNeeded: id) {
            found = k
            break
        }
        guard found >= 0 else {
            u.skipped &+= 1
            return
        }
        let outcome: LineOutcome
        switch events.decodings[found] {
        case .nvme(let name, let fields):
            do {
                outcome = .event(try fields.read(data, count).event(name, time: time, location: location, source: source))
            } catch {
                outcome = .malformed(error)
            }
        case .marker(let buf):
            guard let bytes = buf.bytes(data, count) else {
                outcome = .malformed(DecodeFailure(event: "print", field: "buf", problem: .badShape))
                break
            }
            outcome = markers.decodeMarker(TraceDatEventSource.markerText(bytes), time: time, number: location)
        case .printed:
            outcome = printed(data, count, cpu: cpu, time: time, location: location)
        }
        switch outcome {
        case .event(let e):
            u.events.append(e)
        case .dataLoss(let e):
            u.events.append(e)
            u.lossStamps.append(.max)
            u.dataLossMarkers &+= 1
            u.lostEvents = u.lostEvents.saturatingAdding(e.lostEvents)
        case .skipped, .processStart, .guestTimeoutPassedOver:
            u.skipped &+= 1
        case .malformed(let failure):
            u.noteMalformed(at: location, failure.description)
        }
    }

    /// A `trace_printk` probe: the record as its print format shows it (`tep_print_event`).
    private func printed(_ data: UnsafeRawPointer, _ count: Int, cpu: UInt32, time: Int64, location: UInt64) -> LineOutcome {
        var record = tep_record()
        record.ts = UInt64(time)
        record.data = UnsafeMutableRawPointer(mutating: data)
        record.size = Int32(count)
        record.cpu = Int32(truncatingIfNeeded: cpu)
        pthread_mutex_lock(Self.printing)
        trace_seq_reset(text)
        shadowbell_print_info(events.tep, text, &record)
        trace_seq_terminate(text)
        pthread_mutex_unlock(Self.printing)
        let info = UnsafeRawBufferPointer(start: text.pointee.buffer, count: Int(text.pointee.len))
        return TraceDatEventSource.probeText(info).map { markers.decodeMarker($0, time: time, number: location) } ?? .skipped
    }
}
