import ShadowBellCore

/// A QEMU log-backend trace (stderr or `-D FILE`) as an `EventSource`. Lines that are not NVMe
/// events ShadowBell knows (other trace events, QEMU's own messages) are skipped and counted.
/// A log without timestamps reads as `ClockKind.orderOnly`: each event's time is its ordinal.
/// Locations are 1-based line numbers.
public final class QemuLogSource: EventSource {
    @exclusivity(unchecked) private var batcher: LineBatcher<QemuLogLineParser>
    public var summary: InputSummary { batcher.summary }
    public var readsOnOneThread: Bool { batcher.readsOnOneThread }

    public convenience init(path: String, index: UInt16, options: SourceOptions = .init())
        throws(InputError)
    {
        self.init(input: try ByteInput(path: path), index: index, options: options)
    }

    init(input: ByteInput, index: UInt16, options: SourceOptions, clock: ClockKind? = nil, threads: [UInt64] = []) {
        batcher = LineBatcher(
            input: input, index: index, format: .qemuLog, decoder: QemuLogLineParser(source: index, controller: options.controller),
            batchSize: options.batchSize, clock: clock)
        batcher.summary.threads = threads
    }

    public func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        try batcher.nextBatch(into: &buffer)
    }
}
