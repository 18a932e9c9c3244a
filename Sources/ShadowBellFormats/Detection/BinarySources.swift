import ShadowBellCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Settings of the binary readers.
public struct BinarySourceOptions: Sendable {
    /// Link types read as ShadowBell records (default: USER0–USER15 except 149).
    public var pcapLinkTypes: Set<Int32>
    /// Layouts of QEMU events other than the built-in NVMe ones (from a trace-events file).
    public var traceEvents: [String: TraceEventSignature]
    /// Events held back to put a QEMU simple trace's records in time order.
    public var reorderWindow: Int

    public init(
        pcapLinkTypes: Set<Int32> = PcapReadOptions.defaultLinkTypes,
        traceEvents: [String: TraceEventSignature] = [:], reorderWindow: Int = 256
    ) {
        self.pcapLinkTypes = pcapLinkTypes
        self.traceEvents = traceEvents
        self.reorderWindow = reorderWindow
    }

    /// Reads a QEMU trace-events file (`trace-events-all`) for `traceEvents`.
    /// The largest `--trace-events` file read.
    public static let traceEventsLimit = 16 << 20

    public static func loadTraceEvents(path: String) throws(InputError) -> [String: TraceEventSignature] {
        let input = try ByteInput(path: path)
        var bytes: [UInt8] = []
        while let chunk = try input.nextChunk() {
            // QEMU's trace-events-all is about a megabyte: a larger file is another one (the
            // trace itself, a device), and is not read into memory to the end.
            guard bytes.count + chunk.count <= traceEventsLimit else {
                throw .unsupported(path: path, reason: "more than \(traceEventsLimit >> 20) MiB: not a QEMU trace-events file (QEMU's trace-events-all is about 1 MiB)")
            }
            bytes += chunk
        }
        let table = TraceEventSignature.parseFile(String(decoding: bytes, as: UTF8.self))
        if table.isEmpty {
            throw .unknownFormat(path: path, detail: "no trace event declaration `name(type arg, ...) \"format\"`")
        }
        return table
    }
}

/// Opens an input whose binary format the detector recognised. The one place binary readers
/// plug into `openEventSource`.
func openBinarySource(
    _ format: BinaryFormat, input: ByteInput, index: UInt16, options: SourceOptions
) throws(InputError) -> any EventSource {
    switch format {
    case .qemuSimple:
        return try QemuSimpleEventSource(
            input: input, index: index,
            options: QemuSimpleOptions(
                traceEvents: options.binary.traceEvents, reorderWindow: options.binary.reorderWindow,
                controller: options.controller))
    case .traceDat:
        // The reader reads the file's sections and CPU data out of order, from the file itself:
        // an uncompressed regular file (a copy `InputSpool` made included) is read where it is.
        if input.compression == nil && input.file != "-" && isRegularFile(input.file) {
            return try TraceDatEventSource(path: input.file, index: index, options: options, displayPath: input.path)
        }
        // Standard input, a pipe or a compressed file: its content (decompressed, what
        // detection looked at) is spooled to an unlinked temporary file, as for libpcap.
        let spooled = try spool(input)
        defer { unlink(spooled) }
        return try TraceDatEventSource(path: spooled, index: index, options: options, displayPath: input.path)
    case .pcap, .pcapng:
        let pcapOptions = PcapReadOptions(linkTypes: options.binary.pcapLinkTypes)
        if input.file != "-" && isRegularFile(input.file) {
            return try PcapEventSource(path: input.file, index: index, options: pcapOptions, displayPath: input.path)
        }
        // libpcap's reader is opened more than once (first record, domains): spool standard
        // input or a pipe (its content, decompressed) to an unlinked temporary file.
        let spooled = try spool(input)
        defer { unlink(spooled) }
        return try PcapEventSource(path: spooled, index: index, options: pcapOptions, displayPath: input.path)
    }
}

/// Whether `path` names a regular file (libpcap can open it again; a pipe's bytes are gone).
func isRegularFile(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
}

/// Copies an input (its content: decompressed) into a temporary file and returns its path.
func spool(_ input: ByteInput) throws(InputError) -> String {
    var template = Array("\(temporaryFileDirectory())/shadowbell-stdin-XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard fd >= 0 else {
        throw .cannotOpen(path: input.path, reason: "cannot create a temporary file to read it from: \(ByteInput.systemError(errno))")
    }
    defer { close(fd) }
    let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    do throws(InputError) {
        try writeContent(of: input, to: fd) { .readFailed(path: input.path, offset: input.offset, reason: ByteInput.systemError($0)) }
    } catch {
        unlink(path)
        throw error
    }
    return path
}

/// Opens `path` like `openEventSource`, but returns one source per clock domain: a pcap that
/// `convertToPcap` wrote from k inputs holds k clock domains (its records keep their original
/// input's index), and gives k sources, indexed `firstIndex`, `firstIndex + 1`, …, in the
/// order of the original inputs. Analysing them gives what analysing the original inputs gave.
/// Any other input gives one source. The first source of a file reports its malformed records.
public func openEventSources(path: String, firstIndex: UInt16, options: SourceOptions = .init(), displayPath: String? = nil)
    throws(InputError) -> [any EventSource]
{
    let input = try ByteInput(path: path, displayPath: displayPath)
    guard case .binary(let format) = FormatDetector.detect(FormatDetector.detectionPrefix(input)),
        format.traceFormat == .pcap
    else {
        // The same `ByteInput`: standard input's first bytes are in it, not in a second one.
        return [try openEventSource(input: input, index: firstIndex, options: options)]
    }
    var file = input.file
    var spooled: String?
    if input.file == "-" || !isRegularFile(input.file) {
        spooled = try spool(input)
        file = spooled!
    }
    defer { if let spooled { unlink(spooled) } }
    let domains = PcapEventSource.originalSources(path: file)
    if domains.count <= 1 {
        return [
            readingAhead(
                try PcapEventSource(
                    path: file, index: firstIndex, options: PcapReadOptions(linkTypes: options.binary.pcapLinkTypes),
                    displayPath: input.path), options)
        ]
    }
    var sources: [any EventSource] = []
    let leftOut = max(0, domains.count - PcapEventSource.clockDomainLimit)
    for (i, domain) in domains.prefix(PcapEventSource.clockDomainLimit).enumerated() {
        sources.append(
            try openPcapClockDomain(
                path: file, index: firstIndex &+ UInt16(truncatingIfNeeded: i), originalSource: domain,
                reportsFileDiagnostics: i == 0, options: options, displayPath: input.path,
                clockDomainsLeftOut: i == 0 ? leftOut : 0))
    }
    return sources
}

/// One clock domain of a pcap that `convertToPcap` wrote from several inputs: the records of
/// original input `originalSource` (from `PcapEventSource.originalSources`), as source `index`.
/// One source of the file (the first) should report its malformed records.
public func openPcapClockDomain(
    path: String, index: UInt16, originalSource: UInt16, reportsFileDiagnostics: Bool,
    options: SourceOptions = .init(), displayPath: String? = nil, clockDomainsLeftOut: Int = 0
) throws(InputError) -> any EventSource {
    var readOptions = PcapReadOptions(
        linkTypes: options.binary.pcapLinkTypes, originalSource: originalSource,
        reportsFileDiagnostics: reportsFileDiagnostics)
    readOptions.clockDomainsLeftOut = clockDomainsLeftOut
    return try PcapEventSource(path: path, index: index, options: readOptions, displayPath: displayPath)
}
