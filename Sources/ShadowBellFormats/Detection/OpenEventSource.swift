import ShadowBellCore

/// Opens `path` (`-` = standard input), recognises its format from its content, and returns
/// a source of its events. Throws `.cannotOpen`, `.isDirectory`, `.empty`, `.unknownFormat`
/// or `.unsupported`; an input that decodes to no event is left to the caller to report.
public func openEventSource(path: String, index: UInt16, options: SourceOptions = .init())
    throws(InputError) -> any EventSource
{
    try openEventSource(input: try ByteInput(path: path), index: index, options: options)
}

/// `openEventSource(path:)` on an input already open: a pipe or FIFO is opened once only.
func openEventSource(input: ByteInput, index: UInt16, options: SourceOptions) throws(InputError) -> any EventSource {
    let path = input.path
    switch FormatDetector.detect(FormatDetector.detectionPrefix(input)) {
    case .ftraceText:
        if decodesInParallel(input, options) {
            return ParallelTextSource(
                input: input, summary: InputSummary(index: index, path: input.path, format: .ftraceText),
                threads: options.decodeThreads, segmentSize: segmentSize(input, options)
            ) { FtraceLineParser(source: index, qemuController: options.controller) }
        }
        return FtraceTextSource(input: input, index: index, options: options)
    case .qemuLog:
        if decodesInParallel(input, options) {
            return ParallelTextSource(
                input: input, summary: InputSummary(index: index, path: input.path, format: .qemuLog),
                threads: options.decodeThreads, segmentSize: segmentSize(input, options)
            ) { QemuLogLineParser(source: index, controller: options.controller) }
        }
        return QemuLogSource(input: input, index: index, options: options)
    case .consoleLog:
        return ConsoleLogSource(input: input, index: index, options: options)
    case .binary(let format):
        return readingAhead(try openBinarySource(format, input: input, index: index, options: options), options)
    case .unknown(let detail):
        throw .unknownFormat(path: path, detail: detail)
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

/// The format of `path` as `openEventSource` would see it, without decoding any event.
public func detectFormat(path: String) throws(InputError) -> DetectedFormat {
    let input = try ByteInput(path: path)
    return FormatDetector.detect(FormatDetector.detectionPrefix(input))
}
