import ShadowBellCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A trace-cmd file (`trace-cmd record` / `extract` output, KernelShark's input) as an
/// `EventSource`.
///
/// ShadowBell reads the file itself (`TraceDatLayout`: v6 headers, v7 sections and options,
/// zstd- or zlib-compressed chunks) and walks the kernel's ring-buffer pages
/// (`TraceDatPageDecoder`) on several threads (`TraceDatPipeline`); libtraceevent parses the
/// file's format descriptions of the events ShadowBell decodes, once, at open. Events are
/// decoded by field name from those descriptions, whatever the kernel's print format:
/// `nvme:nvme_setup_cmd` / `nvme_complete_rq` / `nvme_sq` through `NVMeTracepointFields` (as
/// `trace-cmd report`'s `[FAILED TO PARSE]` text is), markers (`ftrace:print`, the `buf` field)
/// and `trace_printk` probes (`ftrace:bprint` / `bputs`) as in ftrace text. The CPUs of every
/// buffer (top-level first, then instances in file order) are merged by time, ties in that
/// order, as libtracecmd merges them. A record after lost events (a page's missed-events flag)
/// is preceded by a `.dataLoss` event stamped with the time of the record before it (the later
/// of the same CPU's previous record and the previous event of any CPU), as text's
/// `CPU:N [LOST M EVENTS]`. Locations are byte offsets of records in the file; in compressed
/// data, CPU stream n's decompressed byte k is n·2⁴⁰ + k.
public final class TraceDatEventSource: EventSource {
    @exclusivity(unchecked) public private(set) var summary: InputSummary
    public static let batchLimit = 4096

    private let layout: TraceDatLayout
    private let pipeline: TraceDatPipeline
    private let path: String
    /// The unit each stream is being read from, and where.
    private struct Head {
        var stream: Int
        var unit: TraceDatUnit
        var index = 0
        var lossIndex = 0
        /// The time of the stream's last record before `unit`.
        var lastRecordBefore: Int64?
    }
    @exclusivity(unchecked) private var heads: [Head] = []
    @exclusivity(unchecked) private var started = false
    @exclusivity(unchecked) private var previousTime: Int64 = 0
    @exclusivity(unchecked) private var lastEventTime: Int64 = .min

    /// `displayPath` names the input in diagnostics when `path` is a spooled copy.
    public init(path: String, index: UInt16, options: SourceOptions = .init(), displayPath: String? = nil)
        throws(InputError)
    {
        let shownPath = displayPath ?? path
        self.path = shownPath
        let file: TraceDatBytes
        do {
            file = try TraceDatBytes(path: path)
        } catch {
            throw .cannotOpen(path: shownPath, reason: "\(error)")
        }
        do {
            layout = try TraceDatLayout(file: file)
        } catch {
            throw error.inputError(path: shownPath)
        }
        var summary = InputSummary(index: index, path: shownPath, format: .traceDat)
        summary.locationUnit = .byteOffset
        summary.bytes = file.size
        self.summary = summary
        let events = TraceDatEvents(tep: layout.tep)
        let markers = FtraceLineParser(source: index, qemuController: options.controller)
        pipeline = TraceDatPipeline(layout: layout) { [layout] in
            TraceDatPageDecoder(layout: layout, events: events, markers: markers, source: index)
        }
        // The consumer decodes too whenever its next unit is not ready: one worker fewer than
        // decoding threads, as for text.
        pipeline.start(threads: options.decodeThreads > 1 ? options.decodeThreads - 1 : 0)
    }

    deinit { pipeline.stop() }

    /// The next unit of `stream` with events, its counts added to the summary; nil at the
    /// stream's end.
    private func nextUnit(_ stream: Int, lastRecord: inout Int64?) throws(InputError) -> TraceDatUnit? {
        while let unit = pipeline.take(stream) {
            if let error = unit.error { throw error.inputError(path: path) }
            summary.records &+= unit.records
            summary.skipped &+= unit.skipped
            summary.dataLossMarkers &+= unit.dataLossMarkers
            summary.addLostEvents(unit.lostEvents)
            var malformed = unit.malformed
            for m in unit.firstMalformed where summary.firstMalformed.count < InputSummary.firstMalformedLimit {
                summary.noteMalformed(at: m.location, m.reason)
                malformed -= 1
            }
            summary.malformed &+= malformed
            // Records of every event (the scheduler's, other devices'): the recording went on.
            if let t = unit.lastRecordTime { summary.recordedUntil(atLeast: t) }
            if !unit.events.isEmpty { return unit }
            if let t = unit.lastRecordTime { lastRecord = t }
        }
        return nil
    }

    public func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        buffer.removeAll(keepingCapacity: true)
        if !started {
            started = true
            for s in pipeline.streams.indices {
                var last: Int64?
                if let unit = try nextUnit(s, lastRecord: &last) {
                    heads.append(Head(stream: s, unit: unit, lastRecordBefore: last))
                }
            }
        }
        if heads.count == 1, heads[0].index == 0 {
            // One stream left and a whole unit ahead: the unit's events are the batch, as
            // decoded (as a text segment's are).
            swap(&buffer, &heads[0].unit.events)
            heads[0].index = buffer.count
            settle(&buffer, &heads[0])
            try advance(0)
            return true
        }
        buffer.reserveCapacity(Self.batchLimit)
        while buffer.count < Self.batchLimit && !heads.isEmpty {
            // The earliest head; ties: the stream listed first.
            var k = 0
            if heads.count > 1 {
                var best = heads[0].unit.events[heads[0].index].time
                for h in 1..<heads.count {
                    let t = heads[h].unit.events[heads[h].index].time
                    if t < best {
                        best = t
                        k = h
                    }
                }
            }
            emit(from: &heads[k], into: &buffer, onlyHead: heads.count == 1)
            if heads[k].index == heads[k].unit.events.count { try advance(k) }
        }
        return !buffer.isEmpty
    }

    /// Moves head `k` to its stream's next unit with events, or drops it at the stream's end.
    private func advance(_ k: Int) throws(InputError) {
        var last = heads[k].unit.lastRecordTime ?? heads[k].lastRecordBefore
        if let unit = try nextUnit(heads[k].stream, lastRecord: &last) {
            heads[k].unit = unit
            heads[k].index = 0
            heads[k].lossIndex = 0
            heads[k].lastRecordBefore = last
        } else {
            heads.remove(at: k)
        }
    }

    /// Stamps the data-loss events of a whole unit taken as a batch and counts its events, as
    /// `emit` does one by one.
    private func settle(_ events: inout [Event], _ head: inout Head) {
        var previous = previousTime
        var last = lastEventTime
        var outOfOrder: UInt64 = 0
        var count: UInt64 = 0
        events.withUnsafeMutableBufferPointer { e in
            for i in e.indices {
                if e[i].kind == .dataLoss {
                    let stamp = head.unit.lossStamps[head.lossIndex]
                    head.lossIndex += 1
                    if stamp != .max { e[i].time = max(stamp == .min ? head.lastRecordBefore ?? 0 : stamp, previous) }
                    continue
                }
                let t = e[i].time
                if t < last {
                    outOfOrder &+= 1
                    summary.steppedBack(from: last, to: t, at: e[i].location)
                }
                last = t
                previous = t
                count &+= 1
            }
        }
        previousTime = previous
        lastEventTime = last
        summary.outOfOrder &+= outOfOrder
        summary.events &+= count
    }

    /// Emits the head's next event (all of its unit, up to the batch's end, when it is the
    /// only stream left).
    @inline(__always)
    private func emit(from head: inout Head, into buffer: inout [Event], onlyHead: Bool) {
        let end = onlyHead ? min(head.unit.events.count, head.index + Self.batchLimit - buffer.count) : head.index + 1
        while head.index < end {
            var e = head.unit.events[head.index]
            head.index += 1
            if e.kind == .dataLoss {
                let stamp = head.unit.lossStamps[head.lossIndex]
                head.lossIndex += 1
                if stamp != .max {
                    let sameCPU = stamp == .min ? head.lastRecordBefore ?? 0 : stamp
                    e.time = max(sameCPU, previousTime)
                }
                buffer.append(e)
                continue
            }
            if e.time < lastEventTime {
                summary.outOfOrder &+= 1
                summary.steppedBack(from: lastEventTime, to: e.time, at: e.location)
            }
            lastEventTime = e.time
            previousTime = e.time
            summary.events &+= 1
            buffer.append(e)
        }
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
