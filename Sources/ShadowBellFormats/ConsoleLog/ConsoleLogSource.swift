import ShadowBellCore

/// A guest serial console capture or a `dmesg` dump as an `EventSource`.
///
/// Reads the NVMe driver's timeout, abort and bring-up messages
/// (`[   30.156309] nvme nvme0: I/O 768 (I/O Cmd) QID 2 timeout, aborting`, `Abort status: 0x0`,
/// `2/0/0 default/read/poll queues`) as `.guestMessage` events stamped with the printk clock
/// (seconds since boot, in nanoseconds) — the clock of the guest's ftrace `local`/`global`
/// clocks. The same message seen twice (live on the console, then in a `dmesg` dump) is
/// delivered once; the repeat is counted as skipped. Every other line is skipped and counted.
/// A `I/O …` or `Abort status:` message that does not parse, or has no `[seconds]` timestamp,
/// is malformed. Locations are 1-based line numbers.
///
/// Messages that only the dump holds (below the console log level) come after later ones and
/// are counted in `summary.outOfOrder`.
public final class ConsoleLogSource: EventSource {
    public private(set) var summary: InputSummary
    private let lines: TextLines
    private var parser: ConsoleLogLineParser
    private var lastEventTime = Int64.min
    private let batchSize: Int
    private var exhausted = false

    public convenience init(path: String, index: UInt16, options: SourceOptions = .init())
        throws(InputError)
    {
        self.init(input: try ByteInput(path: path), index: index, options: options)
    }

    init(input: ByteInput, index: UInt16, options: SourceOptions) {
        summary = InputSummary(index: index, path: input.path, format: .consoleLog)
        lines = TextLines(input)
        parser = ConsoleLogLineParser(source: index)
        batchSize = options.batchSize
    }

    public func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        buffer.removeAll(keepingCapacity: true)
        guard !exhausted else { return false }
        buffer.reserveCapacity(batchSize)
        var parser = self.parser
        var summary = self.summary
        var lastEventTime = self.lastEventTime
        defer {
            self.parser = parser
            self.summary = summary
            self.lastEventTime = lastEventTime
        }
        exhausted = try fillBatch(
            &parser, lines: lines, summary: &summary, lastEventTime: &lastEventTime,
            into: &buffer, limit: batchSize)
        return !buffer.isEmpty
    }
}
