import CTraceCmd
import ShadowBellCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A trace-cmd file (`trace-cmd record` / `extract` output, KernelShark's input) as an
/// `EventSource`, read with libtracecmd.
///
/// Events are decoded by field name from the file's own format descriptions, whatever the
/// kernel's print format: `nvme:nvme_setup_cmd` / `nvme_complete_rq` / `nvme_sq` through
/// `NVMeTracepointFields` (as `trace-cmd report`'s `[FAILED TO PARSE]` text is), markers
/// (`ftrace:print`, the `buf` field) and `trace_printk` probes (`ftrace:bprint` / `bputs`) as
/// in ftrace text. A record after lost events (`missed_events`) is preceded by a `.dataLoss`
/// event stamped with the previous record's time, as text's `CPU:N [LOST M EVENTS]`.
/// Locations are byte offsets of records in the file (in its decompressed data for a
/// compressed v7 file).
public final class TraceDatEventSource: EventSource {
    @exclusivity(unchecked) public private(set) var summary: InputSummary
    public static let batchLimit = 4096

    private let file: TraceCmdFile
    private let wanted: [Wanted]
    private let markers: FtraceLineParser
    private let text = UnsafeMutablePointer<trace_seq>.allocate(capacity: 1)
    @exclusivity(unchecked) private var previousTime: Int64 = 0
    @exclusivity(unchecked) private var lastEventTime: Int64 = .min
    @exclusivity(unchecked) private var finished = false

    /// An event ShadowBell reads, by its id in this file.
    private struct Wanted {
        enum Decoding {
            case nvme(FtraceEventName, NVMeFieldLocations)
            case marker(buf: FieldLocation)
            case printed
        }

        let id: Int32
        let decoding: Decoding
    }

    /// The nvme tracepoints' fields that `NVMeTracepointFields` uses, where each event has them.
    private struct NVMeFieldLocations {
        var ctrlID, qid, cid, opcode, status, sqHead, sqTail, cdw10: FieldLocation?

        init(_ event: TraceCmdFile.EventFormat) {
            func field(_ name: String) -> FieldLocation? { FieldLocation(TraceCmdFile.field(event, name)) }
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
        func read(_ record: TraceCmdFile.Record) -> NVMeTracepointFields {
            var f = NVMeTracepointFields()
            f.ctrlID = ctrlID?.number(in: record) ?? 0
            f.qid = qid?.number(in: record)
            f.cid = cid?.number(in: record)
            f.opcode = opcode?.number(in: record)
            f.status = status?.number(in: record)
            f.sqHead = sqHead?.number(in: record)
            f.sqTail = sqTail?.number(in: record)
            if let bytes = cdw10?.bytes(in: record), bytes.count >= 4 {
                f.cdw10 = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
            }
            return f
        }
    }

    /// `displayPath` names the input in diagnostics when `path` is a spooled copy.
    public init(path: String, index: UInt16, options: SourceOptions = .init(), displayPath: String? = nil)
        throws(InputError)
    {
        let shownPath = displayPath ?? path
        do {
            file = try TraceCmdFile(path: path)
        } catch {
            throw error.inputError(path: shownPath)
        }
        var summary = InputSummary(index: index, path: shownPath, format: .traceDat)
        summary.locationUnit = .byteOffset
        summary.bytes = PcapEventSource.fileSize(path: path) ?? 0
        self.summary = summary
        markers = FtraceLineParser(source: index, qemuController: options.controller)
        trace_seq_init(text)

        var wanted: [Wanted] = []
        for name in [FtraceEventName.setupCmd, .completeRq, .sq] {
            if let event = file.event(system: "nvme", name: "\(name.name)") {
                wanted.append(Wanted(id: event.pointee.id, decoding: .nvme(name, NVMeFieldLocations(event))))
            }
        }
        if let print = file.event(system: "ftrace", name: "print"),
            let buf = FieldLocation(TraceCmdFile.field(print, "buf"))
        {
            wanted.append(Wanted(id: print.pointee.id, decoding: .marker(buf: buf)))
        }
        for name in ["bprint", "bputs"] {
            if let event = file.event(system: "ftrace", name: name) {
                wanted.append(Wanted(id: event.pointee.id, decoding: .printed))
            }
        }
        self.wanted = wanted
    }

    deinit {
        trace_seq_destroy(text)
        text.deallocate()
    }

    public func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        buffer.removeAll(keepingCapacity: true)
        guard !finished else { return false }
        buffer.reserveCapacity(Self.batchLimit + 1)
        let source = summary.index
        var records: UInt64 = 0
        var skipped: UInt64 = 0
        while buffer.count < Self.batchLimit {
            guard let (record, tep) = file.next() else {
                finished = true
                break
            }
            defer { file.release(record) }
            records &+= 1
            let time = Int64(clamping: min(record.pointee.ts, UInt64(Event.timeLimit)))
            let location = record.pointee.offset
            let missed = record.pointee.missed_events
            if missed != 0 {
                // -1: the ring buffer lost events but did not count them.
                buffer.append(
                    Event(
                        kind: .dataLoss, time: previousTime, location: location, source: source,
                        a: missed > 0 ? UInt32(clamping: missed) : 0, b: UInt32(clamping: record.pointee.cpu),
                        wide: missed > 0 ? UInt64(missed) : 0))
                summary.dataLossMarkers &+= 1
                summary.addLostEvents(missed > 0 ? UInt64(missed) : 0)
            }
            previousTime = time
            let id = TraceCmdFile.eventID(tep, record)
            var found = -1
            for k in wanted.indices where wanted[k].id == id {
                found = k
                break
            }
            guard found >= 0 else {
                skipped &+= 1
                continue
            }
            let entry = wanted[found]
            let outcome: LineOutcome
            switch entry.decoding {
            case .nvme(let name, let fields):
                do {
                    outcome = .event(try fields.read(record).event(name, time: time, location: location, source: source))
                } catch {
                    outcome = .malformed(error)
                }
            case .marker(let buf):
                guard let bytes = buf.bytes(in: record) else {
                    outcome = .malformed(DecodeFailure(event: "print", field: "buf", problem: .badShape))
                    break
                }
                outcome = markers.decodeMarker(Self.markerText(bytes), time: time, number: location)
            case .printed:
                TraceCmdFile.printInfo(tep, record, into: &text.pointee)
                let info = UnsafeRawBufferPointer(start: text.pointee.buffer, count: Int(text.pointee.len))
                outcome = Self.probeText(info).map { markers.decodeMarker($0, time: time, number: location) } ?? .skipped
            }
            switch outcome {
            case .event(let e):
                if e.time < lastEventTime { summary.outOfOrder &+= 1 }
                lastEventTime = e.time
                summary.events &+= 1
                buffer.append(e)
            case .dataLoss(let e):
                buffer.append(e)
            case .skipped:
                skipped &+= 1
            case .malformed(let failure):
                summary.noteMalformed(at: location, failure.description)
            }
        }
        summary.records &+= records
        summary.skipped &+= skipped
        return !buffer.isEmpty
    }

    /// A marker's text: up to its NUL, without the newline `echo` leaves.
    @inline(__always)
    static func markerText(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let base = bytes.baseAddress else { return bytes }
        var end = bytes.count
        if let nul = memchr(base, 0, bytes.count) { end = UnsafeRawPointer(nul) - base }
        while end > 0, bytes[end - 1] == ASCII.newline || bytes[end - 1] == ASCII.carriageReturn { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[0..<end])
    }

    /// A `trace_printk` line from its `nvme_dbbuf_` payload on (after the caller's name).
    static func probeText(_ info: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        let text = markerText(info)
        var i = 0
        while i + 11 <= text.count {
            if ByteScanning.hasPrefix(text, at: i, "nvme_dbbuf_") {
                return UnsafeRawBufferPointer(rebasing: text[i...])
            }
            i += 1
        }
        return nil
    }
}
