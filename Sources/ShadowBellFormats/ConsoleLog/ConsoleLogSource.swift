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
    private var batcher: LineBatcher<ConsoleLogLineParser>
    public var summary: InputSummary { batcher.summary }

    public convenience init(path: String, index: UInt16, options: SourceOptions = .init())
        throws(InputError)
    {
        self.init(input: try ByteInput(path: path), index: index, options: options)
    }

    init(input: ByteInput, index: UInt16, options: SourceOptions) {
        batcher = LineBatcher(
            input: input, index: index, format: .consoleLog, decoder: ConsoleLogLineParser(source: index), batchSize: options.batchSize)
    }

    public func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        try batcher.nextBatch(into: &buffer)
    }
}
