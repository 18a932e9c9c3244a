import ShadowBellCore

/// A guest serial console capture or a `dmesg` dump as an `EventSource`.
///
/// Reads the NVMe driver's timeout, abort and bring-up messages
/// (`[   30.156309] nvme nvme0: I/O 768 (I/O Cmd) QID 2 timeout, aborting`, `Abort status: 0x0`,
/// `2/0/0 default/read/poll queues`) as `.guestMessage` events stamped with the printk clock
/// (seconds since boot, in nanoseconds) — the clock of the guest's ftrace `local`/`global`
/// clocks. The same message seen twice (live on the console, then in a `dmesg` dump) is
/// delivered once; the repeat is counted as skipped. A `I/O …` or `Abort status:` message that
/// does not parse, or has no `[seconds]` timestamp, is malformed.
///
/// The kernel's ftrace dump (`Dumping ftrace buffer:` … SysRq-z, `ftrace_dump_on_oops`) is read
/// as ftrace events with the ftrace text decoder's payload decoding, placed on the printk clock
/// (`FtraceDump`); its `CPU:N [LOST M EVENTS]` lines become `.dataLoss` events. Every other line
/// is skipped and counted. Locations are 1-based line numbers.
///
/// Events come out in time order: a dump's events are older than the messages printed before
/// it, so messages are held back until the next dump has been read (or the log ends) and merged
/// with its events. At most `holdCapacity` messages are held (beyond that the oldest go out, and
/// a later dump event older than them counts as out of order); a dump is held whole, which the
/// ring buffer's size bounds, up to `dumpCapacity` events (the rest of a longer one is placed
/// with the offset known by then). Messages that only a `dmesg` listing holds (below the console
/// log level) are put in their place among the held ones; only those older than messages
/// already delivered (past the hold) are counted in `summary.outOfOrder`.
public final class ConsoleLogSource: EventSource {
    @exclusivity(unchecked) public private(set) var summary: InputSummary

    static let holdCapacity = 1 << 16
    static let dumpCapacity = 1 << 23

    private let lines: TextLines
    @exclusivity(unchecked) private var messages: ConsoleLogLineParser
    @exclusivity(unchecked) private var dumpEvents: FtraceLineParser
    private let batchSize: Int
    /// The lines are decoded on the reader's thread (a compressed input's decompression
    /// thread only feeds it bytes): read side by side with others (`ByteInput.readsSideBySide`).
    public let readsOnOneThread: Bool
    private let holdCapacity: Int
    private let dumpCapacity: Int

    /// Messages decoded but not delivered, in file order.
    @exclusivity(unchecked) private var held: [Event] = []
    /// The dump being read.
    @exclusivity(unchecked) private var dump: FtraceDump?
    /// Stamps of the dumps read so far (a dump printed again is recognised by its stamp).
    @exclusivity(unchecked) private var dumpStamps: Set<Int64> = []
    @exclusivity(unchecked) private var lastDumpStamp: Int64?
    /// Events ready to deliver, from `readyHead` on.
    @exclusivity(unchecked) private var ready: [Event] = []
    @exclusivity(unchecked) private var readyHead = 0
    @exclusivity(unchecked) private var lastDeliveredTime = Int64.min
    @exclusivity(unchecked) private var finished = false

    public convenience init(path: String, index: UInt16, options: SourceOptions = .init())
        throws(InputError)
    {
        self.init(input: try ByteInput(path: path), index: index, options: options)
    }

    init(
        input: ByteInput, index: UInt16, options: SourceOptions,
        holdCapacity: Int = ConsoleLogSource.holdCapacity, dumpCapacity: Int = ConsoleLogSource.dumpCapacity
    ) {
        summary = InputSummary(index: index, path: input.path, format: .consoleLog)
        lines = TextLines(input)
        readsOnOneThread = input.readsSideBySide
        messages = ConsoleLogLineParser(source: index)
        dumpEvents = FtraceLineParser(source: index, qemuController: options.controller, readsConsoleEvents: false)
        batchSize = options.batchSize
        self.holdCapacity = max(holdCapacity, 1)
        self.dumpCapacity = max(dumpCapacity, 1)
    }

    public func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        buffer.removeAll(keepingCapacity: true)
        buffer.reserveCapacity(batchSize)
        while buffer.count < batchSize {
            if readyHead < ready.count {
                let n = min(batchSize - buffer.count, ready.count - readyHead)
                for e in ready[readyHead..<readyHead + n] { deliver(e, into: &buffer) }
                readyHead += n
                continue
            }
            if !ready.isEmpty {
                ready.removeAll(keepingCapacity: ready.count <= batchSize)
                readyHead = 0
            }
            if finished { break }
            if let line = try lines.next() {
                if line.overlong {
                    summary.noteMalformed(at: line.number, LineFramer.overlongReason)
                    continue
                }
                consume(line)
            } else {
                if let open = dump, open.opened, !open.isRepeat { summary.endsInsideDump = dumpStartLine }
                finishDump()
                ready.append(contentsOf: Self.inTimeOrder(held))
                held.removeAll()
                finished = true
            }
        }
        summary.bytes = lines.bytesRead
        return !buffer.isEmpty
    }

    @inline(__always)
    private func deliver(_ e: Event, into buffer: inout [Event]) {
        if e.kind != .dataLoss {
            if e.time < lastDeliveredTime {
                summary.outOfOrder += 1
                summary.steppedBack(from: lastDeliveredTime, to: e.time, at: e.location)
            }
            lastDeliveredTime = e.time
        }
        buffer.append(e)
    }

    /// A line without its terminal escape sequences, when it has any.
    @exclusivity(unchecked) private var plain: [UInt8] = []

    private func consume(_ line: FramedLine) {
        // `dmesg --color=always`, journalctl on a terminal and a console typed at a tty colour
        // the stamp and the `nvme nvme0:` prefix: read the line as it looks on the screen.
        if line.bytes.contains(ASCII.escape) {
            plain.removeAll(keepingCapacity: true)
            TerminalEscapes.strip(line.bytes, into: &plain)
            plain.withUnsafeBytes { consumePlain(FramedLine(bytes: $0, number: line.number)) }
        } else {
            consumePlain(line)
        }
    }

    private func consumePlain(_ line: FramedLine) {
        summary.records += 1
        guard dump != nil else {
            let start = FtraceDumpLine.start(line.bytes)
            if start.found {
                dumpStartLine = line.number
                beginDump(stamp: start.stamp)
                summary.skipped += 1
            } else if !sawDump, case .event = FtraceDumpLine.classify(line.bytes) {
                // A dump's event line before any dump: the console was captured (or copied)
                // from inside the dump, its `Dumping ftrace buffer:` line left out. Every dumped
                // event happened before this line was printed: its stamp bounds them as the
                // missing line's would (it was refused as holding no NVMe event). After a dump,
                // such lines are a `dmesg` listing repeating its tail: skipped.
                let textStart = FtraceDumpLine.kernelTextStart(line.bytes)
                dumpStartLine = line.number
                if summary.dumpWithoutStart == nil { summary.dumpWithoutStart = line.number }
                beginDump(stamp: ConsoleLogLineParser.timestampBefore(line.bytes, textStart))
                dump!.opened = true
                consumeDumpLine(line)
            } else {
                consumeMessage(line)
            }
            return
        }
        consumeDumpLine(line)
    }

    /// A line read while a dump is open.
    private func consumeDumpLine(_ line: FramedLine) {
        switch FtraceDumpLine.classify(line.bytes) {
        case .start(let stamp):
            finishDump()
            dumpStartLine = line.number
            beginDump(stamp: stamp)
            summary.skipped += 1
        case .delimiter:
            if dump!.opened {
                finishDump()
            } else {
                dump!.opened = true
            }
            summary.skipped += 1
        case .empty:
            summary.skipped += 1
        case .lostEvents(let cpu, let lost):
            guard !dump!.isRepeat else {
                summary.skipped += 1
                return
            }
            summary.dataLossMarkers += 1
            summary.addLostEvents(lost)
            dump!.append(
                Event(
                    kind: .dataLoss, time: dump!.lastLineTime, location: line.number, source: summary.index,
                    a: UInt32(clamping: lost), b: UInt32(clamping: cpu), wide: lost))
        case .event(let header, let text):
            dump!.sawLine(at: header.time)
            // A dump on a clock that does not count nanoseconds: its events' distances are
            // counts, so the whole input is read for order only (as such ftrace text is).
            if header.bareCount { summary.clock = .counter }
            guard !dump!.isRepeat else {
                summary.skipped += 1
                return
            }
            let outcome = dumpEvents.decodeEvent(
                name: UnsafeRawBufferPointer(rebasing: text[header.nameStart..<header.nameEnd]),
                payload: UnsafeRawBufferPointer(rebasing: text[header.payloadStart...]), time: header.time,
                number: line.number)
            switch outcome {
            case .event(let e):
                summary.events += 1
                dump!.append(e)
                if dump!.count >= dumpCapacity {
                    let rest = dump!.split()
                    finishDump()
                    dump = rest
                }
            case .dataLoss(let e):
                summary.dataLossMarkers += 1
                summary.addLostEvents(e.lostEvents)
                dump!.append(e)
            case .skipped, .processStart, .guestTimeoutPassedOver:
                summary.skipped += 1
            case .malformed(let failure):
                summary.noteMalformed(at: line.number, failure.description)
            }
        case .other:
            consumeMessage(line)
        }
    }

    private func consumeMessage(_ line: FramedLine) {
        switch messages.parse(line.bytes, number: line.number) {
        case .event(let e):
            summary.events += 1
            hold(e)
        case .dataLoss(let e):
            summary.dataLossMarkers += 1
            summary.addLostEvents(e.lostEvents)
            hold(e)
        case .skipped, .processStart, .guestTimeoutPassedOver:
            summary.skipped += 1
            // Another recording's NVMe events among the lines passed over (a host syslog's
            // kernel lines, then QEMU's trace; a serial console and QEMU's trace in one file):
            // said, as a trace's reading says of another format's lines.
            if summary.skipped % InputSummary.foreignSampleStep == 0, let other = Self.foreignFormat(of: line.bytes) {
                summary.noteForeign(1, first: line.number, format: other)
            }
            if let v = messages.banner.version { summary.kernelVersion = v }
            if messages.banner.lines.count != summary.bootBanners.count { summary.bootBanners = messages.banner.lines }
        case .malformed(let failure):
            summary.noteMalformed(at: line.number, failure.description)
        }
    }

    /// The trace format whose NVMe event `line` is (a QEMU log's, timed or not, or a guest
    /// ftrace trace's), nil for none.
    static func foreignFormat(of line: UnsafeRawBufferPointer) -> String? {
        // A kernel-log line is the console's own, an ftrace dump's too (a `dmesg` listing that
        // replays one after the console's reader let it go).
        if FormatDetector.hasPrintkTimestamp(line) { return nil }
        // A timed QEMU line as a guest trace's reading tells one; an untimed one by its event.
        if FtraceLineParser.isForeignEvent(line) { return FtraceLineParser.foreignFormat }
        if let (shape, _, payload) = QemuLogLineParser.split(line), shape == .bare {
            let rest = UnsafeRawBufferPointer(rebasing: line[payload...])
            let end = ByteScanning.firstIndex(of: ASCII.space, or: ASCII.tab, in: rest, from: 0)
            if QemuEventName.identify(UnsafeRawBufferPointer(rebasing: rest[0..<end])) != nil { return FtraceLineParser.foreignFormat }
        }
        return QemuLogLineParser.isForeignEvent(line) ? QemuLogLineParser.foreignFormat : nil
    }

    private func hold(_ e: Event) {
        held.append(e)
        if held.count > holdCapacity {
            // Deliver the oldest half; a dump read later may still hold older events.
            let n = held.count / 2
            ready.append(contentsOf: held[0..<n])
            held.removeFirst(n)
        }
    }

    /// Held messages by their printk stamp, in line order at equal stamps: a `dmesg` listing
    /// appended to a serial capture brings messages the console level hid, older than the lines
    /// above them.
    static func inTimeOrder(_ events: [Event]) -> [Event] {
        var sorted = true
        for i in events.indices.dropFirst() where events[i].time < events[i - 1].time {
            sorted = false
            break
        }
        if sorted { return events }
        return events.enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }.map(\.element)
    }

    /// The line of the open dump's `Dumping ftrace buffer:`.
    @exclusivity(unchecked) private var dumpStartLine: UInt64 = 0

    /// Whether a dump was begun in this input (event lines outside one are then a listing).
    private var sawDump: Bool { dumpStartLine != 0 }

    private func beginDump(stamp: Int64?) {
        let isRepeat = stamp.map { dumpStamps.contains($0) } ?? false
        dump = FtraceDump(stamp: stamp, lowerBound: lastDumpStamp, isRepeat: isRepeat)
    }

    /// Places the open dump's events and merges them with the messages held back.
    private func finishDump() {
        guard let finished = dump else { return }
        dump = nil
        if let stamp = finished.stamp, !finished.isRepeat {
            dumpStamps.insert(stamp)
            lastDumpStamp = max(lastDumpStamp ?? stamp, stamp)
        }
        if !finished.isRepeat, let end = finished.placedEnd { summary.recordedUntil = max(summary.recordedUntil ?? end, end) }
        ready.append(contentsOf: mergeByTime(Self.inTimeOrder(held), finished.placed()))
        held.removeAll(keepingCapacity: held.count <= 4096)
    }
}

/// Terminal escape sequences (ECMA-48): CSI `ESC [ params final` (colours, `ESC[0m`, cursor
/// moves), OSC `ESC ] … BEL|ESC \\`, and two-byte `ESC x`.
enum TerminalEscapes {
    static func strip(_ line: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        var i = 0
        let n = line.count
        while i < n {
            let b = line[i]
            guard b == ASCII.escape else {
                out.append(b)
                i += 1
                continue
            }
            i += 1
            guard i < n else { break }
            switch line[i] {
            case ASCII.openBracket:
                // Parameters and intermediates (0x20–0x3F), then one final byte (0x40–0x7E).
                i += 1
                while i < n, (0x20...0x3F).contains(line[i]) { i += 1 }
                if i < n, (0x40...0x7E).contains(line[i]) { i += 1 }
            case ASCII.closeBracket:
                i += 1
                while i < n, line[i] != 0x07, line[i] != ASCII.escape { i += 1 }
                if i < n, line[i] == 0x07 { i += 1 } else if i + 1 < n { i += 2 }
            default:
                i += 1
            }
        }
    }
}
