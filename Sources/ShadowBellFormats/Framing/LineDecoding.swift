import ShadowBellCore

/// What one line of a text input turned out to be.
enum LineOutcome {
    case event(Event)
    /// A recorder's lost-events marker, already turned into a `.dataLoss` event.
    case dataLoss(Event)
    case skipped
    case malformed(DecodeFailure)
    /// A line that says a new process of the recorder begins here (libvirt's `starting up`
    /// line in a QEMU log it appends to): skipped, and its line kept.
    case processStart
    /// The guest's console message of a timeout (an nvme driver's `I/O … QID … timeout`) in an
    /// input of another recording (a QEMU log with the serial console in it, `-nographic 2>&1`):
    /// skipped, and counted with its first line (`InputSummary.guestTimeoutsPassedOver`).
    case guestTimeoutPassedOver
}

/// A per-format line decoder; a value type so a batch can keep it in a local variable.
protocol LineDecoding {
    mutating func parse(_ line: UnsafeRawBufferPointer, number: UInt64) -> LineOutcome
    /// The input's clock as decided so far (nil: not decided, read as timestamps).
    var decidedClock: ClockKind? { get }
    /// The latest time of any line this decoder read with a time of its own, an event of
    /// ShadowBell's or another (a scheduler event, another device's trace event): the input
    /// was recording until then, and a queue silent since its last NVMe event was silent
    /// that long (`.min` before any).
    var latestLineTime: Int64 { get }
    /// The CPUs of the lines read (bit n: CPU n), for inputs whose lines name one (ftrace).
    var cpusSeen: UInt64 { get }
    /// Whether a line this decoder skipped is an NVMe event of another text format (a QEMU
    /// log's line in a guest trace, a guest trace's in a QEMU log): `foreignFormat` names it.
    static func isForeignEvent(_ line: UnsafeRawBufferPointer) -> Bool
    static var foreignFormat: String { get }
    /// A kernel ftrace dump's lines read as this format (`DumpMarks`), numbered as the decoder
    /// numbers its lines.
    var dumpMarks: DumpMarks { get set }
}

/// Where an ftrace dump printed without printk stamps (`printk.time=0`, `dmesg -t`: read as
/// ftrace text) begins, and its last delimiter line (`-----…`, which opens and closes a dump):
/// event lines after the last delimiter are a dump the input stops inside.
struct DumpMarks {
    var start: UInt64?
    var lastDelimiter: UInt64 = 0

    /// The dump's first line when the input's events go on past its last delimiter (its last
    /// event line `lastEventLine`): the dump has no end.
    func unclosed(lastEventLine: UInt64) -> UInt64? {
        guard let start, lastEventLine > start, lastDelimiter < lastEventLine else { return nil }
        return start
    }
}

extension LineDecoding {
    var decidedClock: ClockKind? { nil }
    var latestLineTime: Int64 { .min }
    var cpusSeen: UInt64 { 0 }
    static func isForeignEvent(_ line: UnsafeRawBufferPointer) -> Bool { false }
    static var foreignFormat: String { "" }
    var dumpMarks: DumpMarks {
        get { DumpMarks() }
        set {}
    }

    /// The clock `decoder` decides from the whole lines of `prefix` (the start of an input:
    /// ftrace's first event line, a QEMU log's first event), nil when they do not decide it.
    /// The analysis must know it before the first event reaches it: it judges durations by it.
    static func clock(inPrefix prefix: UnsafeRawBufferPointer, decoder: Self) -> ClockKind? {
        var decoder = decoder
        var start = 0, number: UInt64 = 0
        while start < prefix.count {
            var end = start
            while end < prefix.count, prefix[end] != ASCII.newline { end += 1 }
            guard end < prefix.count else { return nil }  // a line cut by the prefix's end
            var length = end - start
            while length > 0, prefix[start + length - 1] == 0x0D { length -= 1 }
            number += 1
            _ = decoder.parse(UnsafeRawBufferPointer(rebasing: prefix[start..<start + length]), number: number)
            if let clock = decoder.decidedClock { return clock }
            start = end + 1
        }
        return nil
    }
}

/// The state of a text source read line by line on one thread: the lines, the decoder and the
/// running summary. The three text sources are thin classes around it.
struct LineBatcher<Decoder: LineDecoding> {
    var summary: InputSummary
    private let lines: TextLines
    private var decoder: Decoder
    private var lastEventTime = Int64.min
    /// The line of the last event delivered (`DumpMarks.unclosed`).
    private var lastEventLine: UInt64 = 0
    private let batchSize: Int
    private var exhausted = false
    /// The lines are decoded on the reader's thread (a compressed input's decompression
    /// thread only feeds it bytes): read side by side with others (`ByteInput.readsSideBySide`).
    let readsOnOneThread: Bool

    /// `clock`: the input's clock when known before its lines are read (else the decoder's).
    init(input: ByteInput, index: UInt16, format: TraceFormat, decoder: Decoder, batchSize: Int, clock: ClockKind? = nil) {
        summary = InputSummary(index: index, path: input.path, format: format)
        summary.compression = input.compression?.rawValue
        summary.clock = clock ?? decoder.decidedClock ?? .timestamps
        lines = TextLines(input)
        readsOnOneThread = input.readsSideBySide
        self.decoder = decoder
        self.batchSize = batchSize
    }

    mutating func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        buffer.removeAll(keepingCapacity: true)
        guard !exhausted else { return false }
        buffer.reserveCapacity(batchSize)
        defer { summary.clock = decoder.decidedClock ?? .timestamps }
        exhausted = try fillBatch(
            &decoder, lines: lines, summary: &summary, lastEventTime: &lastEventTime,
            into: &buffer, limit: batchSize)
        if let last = buffer.last(where: { $0.kind != .dataLoss }) { lastEventLine = last.location }
        summary.endsInsideDump = decoder.dumpMarks.unclosed(lastEventLine: lastEventLine)
        return !buffer.isEmpty
    }
}

/// The shared batch loop of the text sources: decodes lines until `buffer` holds `limit`
/// events or the input ends, keeping `summary` up to date. Returns true at the end of input.
///
/// `summary.events` counts decoded NVMe events; data-loss markers are delivered as
/// `.dataLoss` events too but counted in `dataLossMarkers` / `lostEvents` only, so an input
/// holding nothing but markers still reads as "no recognised event".
@inline(__always)
func fillBatch<Decoder: LineDecoding>(
    _ decoder: inout Decoder, lines: TextLines, summary: inout InputSummary,
    lastEventTime: inout Int64, into buffer: inout [Event], limit: Int
) throws(InputError) -> Bool {
    var exhausted = false
    while buffer.count < limit {
        guard let line = try lines.next() else {
            exhausted = true
            break
        }
        summary.records += 1
        if line.overlong {
            summary.noteMalformed(at: line.number, LineFramer.overlongReason)
            continue
        }
        switch decoder.parse(line.bytes, number: line.number) {
        case .event(let event):
            if event.time < lastEventTime {
                summary.outOfOrder += 1
                summary.steppedBack(from: lastEventTime, to: event.time, at: event.location)
            }
            lastEventTime = event.time
            summary.events += 1
            buffer.append(event)
        case .dataLoss(let event):
            summary.dataLossMarkers += 1
            summary.addLostEvents(event.lostEvents)
            buffer.append(event)
        case .skipped:
            summary.skipped += 1
            if summary.skipped % InputSummary.foreignSampleStep == 0, Decoder.isForeignEvent(line.bytes) {
                summary.noteForeign(1, first: line.number, format: Decoder.foreignFormat)
            }
        case .guestTimeoutPassedOver:
            summary.skipped += 1
            summary.noteGuestTimeoutPassedOver(1, first: line.number)
        case .processStart:
            summary.skipped += 1
            summary.noteProcessStart(at: line.number, eventsBefore: summary.events)
        case .malformed(let failure):
            if summary.firstMalformed.count < InputSummary.firstMalformedLimit {
                summary.noteMalformed(at: line.number, failure.description)
            } else {
                summary.malformed += 1
            }
        }
    }
    summary.bytes = lines.bytesRead
    if let line = lines.unterminatedLine { summary.unterminatedLastLine = line }
    if lines.nulPadding > 0 { summary.nulPadding = lines.nulPadding }
    summary.recordedUntil(atLeast: decoder.latestLineTime)
    summary.cpus |= decoder.cpusSeen
    return exhausted
}
