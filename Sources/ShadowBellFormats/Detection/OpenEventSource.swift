import ShadowBellCore

/// Opens `path` (`-` = standard input), recognises its format from its content, and returns
/// a source of its events. Throws `.cannotOpen`, `.isDirectory`, `.empty`, `.unknownFormat`
/// or `.unsupported`; an input that decodes to no event is left to the caller to report.
public func openEventSource(path: String, index: UInt16, options: SourceOptions = .init())
    throws(InputError) -> any EventSource
{
    let input = try ByteInput(path: path)
    switch FormatDetector.detect(input.prefix(FormatDetector.prefixLength)) {
    case .ftraceText:
        return FtraceTextSource(input: input, index: index, options: options)
    case .qemuLog:
        return QemuLogSource(input: input, index: index, options: options)
    case .consoleLog:
        return ConsoleLogSource(input: input, index: index, options: options)
    case .binary(let format):
        return try openBinarySource(format, input: input, index: index, options: options)
    case .unknown(let detail):
        throw .unknownFormat(path: path, detail: detail)
    }
}

/// The format of `path` as `openEventSource` would see it, without decoding any event.
public func detectFormat(path: String) throws(InputError) -> DetectedFormat {
    let input = try ByteInput(path: path)
    return FormatDetector.detect(input.prefix(FormatDetector.prefixLength))
}
