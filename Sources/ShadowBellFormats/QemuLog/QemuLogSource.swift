import ShadowBellCore

/// A QEMU log-backend trace (stderr or `-D FILE`) as an `EventSource`. Lines that are not NVMe
/// events ShadowBell knows (other trace events, QEMU's own messages) are skipped and counted.
/// A log without timestamps reads as `ClockKind.orderOnly`: each event's time is its ordinal.
/// Locations are 1-based line numbers.
public final class QemuLogSource: EventSource {
    public private(set) var summary: InputSummary
    private let lines: TextLines
    private var parser: QemuLogLineParser
    private var lastEventTime = Int64.min
    private let batchSize: Int
    private var exhausted = false

    public convenience init(path: String, index: UInt16, options: SourceOptions = .init())
        throws(InputError)
    {
        self.init(input: try ByteInput(path: path), index: index, options: options)
    }

    init(input: ByteInput, index: UInt16, options: SourceOptions) {
        summary = InputSummary(index: index, path: input.path, format: .qemuLog)
        lines = TextLines(input)
        parser = QemuLogLineParser(source: index, controller: options.controller)
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
            summary.clock = parser.clock ?? .timestamps
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
