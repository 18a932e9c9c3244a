#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellCore

/// One input of a run as ShadowBell opens it: its format found once, a pcap of several
/// original inputs split into its clock domains, an input that can be read only once copied
/// when it must be read twice. `open` gives its events from the start, with the format it was
/// found to have (never looked for again).
public struct TraceInput: Sendable {
    /// The path as given: what reports show.
    public let path: String
    /// Whether `open` can be called more than once (false for a once-only input read once).
    public let reopenable: Bool
    /// The format found, when the input could be looked at before it is read.
    public let format: DetectedFormat?
    /// For one clock domain of a pcap converted from several inputs: the original input's index.
    public let originalSource: UInt16?
    private let opening: @Sendable () throws(InputError) -> any EventSource

    init(
        path: String, reopenable: Bool, format: DetectedFormat?, originalSource: UInt16? = nil,
        open: @escaping @Sendable () throws(InputError) -> any EventSource
    ) {
        self.path = path
        self.reopenable = reopenable
        self.format = format
        self.originalSource = originalSource
        self.opening = open
    }

    /// The input's events, from the start.
    public func open() throws(InputError) -> any EventSource { try opening() }

    /// Opens each of `paths` (`-`: standard input) as the inputs of one run, in their order:
    /// source indices 0, 1, … (a pcap of k clock domains takes k of them).
    ///
    /// - A regular file is looked at once: its format, and for a pcap its clock domains (the
    ///   original inputs its records name, `PcapEventSource.originalSources`).
    /// - An input that can be read only once (standard input, a pipe, a process substitution)
    ///   is copied to a temporary file (`InputSpool`) when `readsTwice`, and is then a regular
    ///   file. Else it is opened now and its first bytes looked at: a pcap is copied all the
    ///   same (libpcap reads it more than once, and its clock domains must be known before the
    ///   analysis), anything else is read once, as it comes.
    /// - An input that cannot be opened or copied fails alone: its `open` throws why.
    public static func open(_ paths: [String], options: SourceOptions = .init(), readsTwice: Bool) -> [TraceInput] {
        var inputs: [TraceInput] = []
        for path in paths {
            let index = UInt16(clamping: inputs.count)
            do throws(InputError) {
                inputs += try open(path, index: index, options: options, readsTwice: readsTwice)
            } catch {
                inputs.append(TraceInput(path: path, reopenable: false, format: nil) { () throws(InputError) -> any EventSource in throw error })
            }
        }
        return inputs
    }

    private static func open(_ path: String, index: UInt16, options: SourceOptions, readsTwice: Bool) throws(InputError)
        -> [TraceInput]
    {
        var copied: String?
        var format: DetectedFormat?
        if InputSpool.isOnceOnly(path) {
            if readsTwice {
                copied = try InputSpool.shared.copy(of: path)
                // Looked at once: for notes, and for the format the copy is read as.
                if let spool = copied, let (found, notes) = try? classifyRunFile(path: spool) {
                    if let notes { throw Self.notesRefused(path, notes) }
                    format = found
                }
            } else {
                let input = try ByteInput(path: path)
                let prefix = FormatDetector.detectionPrefix(input)
                let found = FormatDetector.detect(prefix)
                if let notes = NotesCheck.reason(prefix, format: found) { throw Self.notesRefused(path, notes) }
                guard case .binary(let binary) = found, binary.traceFormat == .pcap else {
                    let once = OnceOnly(input)
                    return [
                        TraceInput(path: path, reopenable: false, format: found) { () throws(InputError) -> any EventSource in
                            try openEventSource(input: once.take(), index: index, options: options, format: found)
                        }
                    ]
                }
                copied = try InputSpool.shared.copy(of: path, reading: input)
                format = found
            }
        }
        let file = copied ?? path
        let shown = copied == nil ? nil : path
        let regular = isRegularFile(file)
        if regular, format == nil { format = try? detectFormat(path: file) }
        let detected = format
        if case .binary(let binary) = detected, binary.traceFormat == .pcap {
            let domains = PcapEventSource.originalSources(path: file)
            // Several domains stand for several inputs when the file opens as ShadowBell records
            // (else the one input says why it does not).
            if domains.count > 1,
                (try? openPcapClockDomain(
                    path: file, index: index, originalSource: domains[0], reportsFileDiagnostics: false,
                    options: options, displayPath: shown)) != nil
            {
                let leftOut = max(0, domains.count - PcapEventSource.clockDomainLimit)
                return domains.prefix(PcapEventSource.clockDomainLimit).enumerated().map { k, domain in
                    TraceInput(path: path, reopenable: true, format: detected, originalSource: domain) {
                        () throws(InputError) -> any EventSource in
                        try openPcapClockDomain(
                            path: file, index: index &+ UInt16(k), originalSource: domain,
                            reportsFileDiagnostics: k == 0, options: options, displayPath: shown,
                            clockDomainsLeftOut: k == 0 ? leftOut : 0)
                    }
                }
            }
        }
        return [
            TraceInput(path: path, reopenable: regular, format: detected) { () throws(InputError) -> any EventSource in
                try openEventSource(path: file, index: index, options: options, displayPath: shown, format: detected)
            }
        ]
    }

    /// Notes (a README quoting a few trace lines) piped in: an input error, as when named alone
    /// (they were read as a trace with a few events, exit 0). A pipe cannot be skipped as a
    /// folder's notes are: its bytes are read.
    static func notesRefused(_ path: String, _ notes: String) -> InputError {
        .unsupported(path: path, reason: "\(notes); not read as a trace (pipe in a trace file, or name the run's folder: its notes are skipped)")
    }

    /// An opened input that can be read once: the first `take` has it, any later one is told so.
    private final class OnceOnly: @unchecked Sendable {
        private var input: ByteInput?
        private let path: String
        private let lock = PthreadLock()

        init(_ input: ByteInput) {
            self.input = input
            path = input.path
        }

        func take() throws(InputError) -> ByteInput {
            lock.lock()
            defer { lock.unlock() }
            guard let taken = input else {
                throw .cannotOpen(path: path, reason: "it can be read only once, and was read already")
            }
            input = nil
            return taken
        }
    }
}
