import ShadowBellCore

/// Linux ftrace text (`trace`, `trace_pipe`, `trace-cmd report`) as an `EventSource`.
///
/// Decodes `nvme_setup_cmd`, `nvme_complete_rq`, `nvme_sq`, the `nvme_dbbuf_sq/cq` probes, and
/// QEMU events carried in `tracing_mark_write:` lines; other events, headers and noise are
/// skipped and counted. `CPU:N [LOST M EVENTS]` markers become `.dataLoss` events stamped with
/// the time of the previous event line. Locations are 1-based line numbers.
public final class FtraceTextSource: EventSource {
    @exclusivity(unchecked) private var batcher: LineBatcher<FtraceLineParser>
    public var summary: InputSummary { batcher.summary }
    public var readsOnOneThread: Bool { batcher.readsOnOneThread }

    public convenience init(path: String, index: UInt16, options: SourceOptions = .init())
        throws(InputError)
    {
        self.init(input: try ByteInput(path: path), index: index, options: options)
    }

    init(
        input: ByteInput, index: UInt16, options: SourceOptions, clock: ClockKind? = nil, cpus: UInt64 = 0, cpuCount: Int = 0,
        timesSinceBufferStart: Bool = false
    ) {
        batcher = LineBatcher(
            input: input, index: index, format: .ftraceText,
            decoder: FtraceLineParser(source: index, qemuController: options.controller, clock: clock), batchSize: options.batchSize)
        batcher.summary.cpus = cpus
        batcher.summary.cpuCount = cpuCount
        batcher.summary.timesSinceBufferStart = timesSinceBufferStart
    }

    public func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        try batcher.nextBatch(into: &buffer)
    }
}
