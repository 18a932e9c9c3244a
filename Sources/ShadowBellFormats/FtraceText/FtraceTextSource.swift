import ShadowBellCore

/// Linux ftrace text (`trace`, `trace_pipe`, `trace-cmd report`) as an `EventSource`.
///
/// Decodes `nvme_setup_cmd`, `nvme_complete_rq`, `nvme_sq`, the `nvme_dbbuf_sq/cq` probes, and
/// QEMU events carried in `tracing_mark_write:` lines; other events, headers and noise are
/// skipped and counted. `CPU:N [LOST M EVENTS]` markers become `.dataLoss` events stamped with
/// the time of the previous event line. Locations are 1-based line numbers.
public final class FtraceTextSource: EventSource {
    public private(set) var summary: InputSummary
    private let lines: TextLines
    private var parser: FtraceLineParser
    private var lastEventTime = Int64.min
    private let batchSize: Int
    private var exhausted = false

    public convenience init(path: String, index: UInt16, options: SourceOptions = .init())
        throws(InputError)
    {
        self.init(input: try ByteInput(path: path), index: index, options: options)
    }

    init(input: ByteInput, index: UInt16, options: SourceOptions) {
        summary = InputSummary(index: index, path: input.path, format: .ftraceText)
        lines = TextLines(input)
        parser = FtraceLineParser(source: index, qemuController: options.controller)
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
