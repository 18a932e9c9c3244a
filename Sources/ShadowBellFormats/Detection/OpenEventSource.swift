import ShadowBellCore

/// Opens `path` (`-` = standard input), recognises its format from its content (through any
/// gzip, zstd or xz compression, which is decompressed as it is read), and returns a source of
/// its events. `displayPath` names the input in the summary and in diagnostics when `path` is
/// a spooled copy. Throws `.cannotOpen`, `.isDirectory`, `.empty`, `.unknownFormat`,
/// `.unsupported`, or `.readFailed` (a compressed input corrupt from its start); an input that
/// decodes to no event is left to the caller to report. `format`: what `detectFormat(path:)`
/// found when the caller looked before (the input is then not looked at again).
public func openEventSource(
    path: String, index: UInt16, options: SourceOptions = .init(), displayPath: String? = nil, format: DetectedFormat? = nil
) throws(InputError) -> any EventSource {
    try openEventSource(input: ByteInput(path: path, displayPath: displayPath), index: index, options: options, format: format)
}

/// The source of an opened input (nothing of it consumed yet).
func openEventSource(input: ByteInput, index: UInt16, options: SourceOptions, format: DetectedFormat? = nil) throws(InputError)
    -> any EventSource
{
    var options = options
    // A compressed input is decompressed on a thread of its own, busy from start to end: it
    // counts as one of the decoding threads (on two cores, three busy threads made an xz input
    // 50 % slower than two).
    if input.compression != nil { options.decodeThreads = max(options.decodeThreads - 1, 1) }
    let prefix = FormatDetector.detectionPrefix(input)
    switch format ?? FormatDetector.detect(prefix) {
    case .ftraceText:
        // Its clock (nanoseconds, or the bare counts of x86-tsc, counter, uptime) is known
        // before the analysis starts, which judges durations by it.
        let clock = FtraceLineParser.clock(
            inPrefix: prefix, decoder: FtraceLineParser(source: index, qemuController: options.controller))
        let cpus = FtraceLineHeader.cpus(inPrefix: prefix)
        let cpuCount = FtraceLineHeader.cpuCount(inPrefix: prefix)
        let latency = FtraceLineHeader.latencyTimes(inPrefix: prefix)
        if decodesInParallel(input, options) {
            var summary = InputSummary(index: index, path: input.path, format: .ftraceText)
            summary.clock = clock ?? .timestamps
            summary.cpus = cpus
            summary.cpuCount = cpuCount
            summary.timesSinceBufferStart = latency
            summary.compression = input.compression?.rawValue
            return ParallelTextSource(
                input: input, summary: summary, threads: options.decodeThreads, segmentSize: segmentSize(input, options)
            ) { FtraceLineParser(source: index, qemuController: options.controller, clock: clock) }
        }
        return FtraceTextSource(
            input: input, index: index, options: options, clock: clock, cpus: cpus, cpuCount: cpuCount, timesSinceBufferStart: latency)
    case .qemuLog:
        // A log without times (order only) is known before the analysis starts, as ftrace's clock.
        let clock = QemuLogLineParser.clock(
            inPrefix: prefix, decoder: QemuLogLineParser(source: index, controller: options.controller))
        let threads = QemuLogLineParser.threads(inPrefix: prefix)
        if decodesInParallel(input, options) {
            var summary = InputSummary(index: index, path: input.path, format: .qemuLog)
            summary.clock = clock ?? .timestamps
            summary.threads = threads
            summary.compression = input.compression?.rawValue
            return ParallelTextSource(
                input: input, summary: summary, threads: options.decodeThreads, segmentSize: segmentSize(input, options)
            ) { QemuLogLineParser(source: index, controller: options.controller) }
        }
        return QemuLogSource(input: input, index: index, options: options, clock: clock, threads: threads)
    case .consoleLog:
        return ConsoleLogSource(input: input, index: index, options: options)
    case .binary(.traceDat(let version)):
        // Decoded on its own threads (TraceDatPipeline): no read-ahead thread in front of it.
        return try openBinarySource(.traceDat(version: version), input: input, index: index, options: options)
    case .binary(let format):
        return readingAhead(try openBinarySource(format, input: input, index: index, options: options), options)
    case .unknown(let detail):
        throw .unknownFormat(path: input.path, detail: detail)
    }
}

/// A binary source read and decoded on a thread of its own, ahead of the analysis.
func readingAhead(_ source: any EventSource, _ options: SourceOptions) -> any EventSource {
    options.decodeThreads > 1 ? ReadAheadSource(source) : source
}

/// Whether a text input is worth cutting into segments: a pipe (of unknown length), or a
/// file of at least two segments.
private func decodesInParallel(_ input: ByteInput, _ options: SourceOptions) -> Bool {
    guard options.decodeThreads > 1 else { return false }
    guard let mapped = input.mappedBytes else { return true }
    return mapped.count >= 2 * options.segmentSize
}

/// Segments of a mapped file are cut in place; those of a pipe are read into buffers.
private func segmentSize(_ input: ByteInput, _ options: SourceOptions) -> Int {
    input.isMapped ? options.segmentSize : options.streamSegmentSize
}

/// The format of `path` as `openEventSource` would see it (through its compression), without
/// decoding any event.
public func detectFormat(path: String) throws(InputError) -> DetectedFormat {
    let input = try ByteInput(path: path)
    return FormatDetector.detect(FormatDetector.detectionPrefix(input))
}
