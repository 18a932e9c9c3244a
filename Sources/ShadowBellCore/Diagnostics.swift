/// The formats ShadowBell reads. Raw values are the names used in reports.
public enum TraceFormat: String, Sendable, Hashable, CaseIterable {
    case ftraceText = "ftrace-text"
    case qemuLog = "qemu-log"
    case qemuSimple = "qemu-simple"
    case pcap = "pcap"
    case consoleLog = "console-log"
    case traceDat = "trace-dat"
}

/// How an input's timestamps can be used.
public enum ClockKind: String, Sendable, Hashable {
    /// Real timestamps in nanoseconds.
    case timestamps
    /// No timestamps: `Event.time` is the event's ordinal; only order is known.
    case orderOnly = "order-only"
    /// Bare counts of a clock that does not count nanoseconds (ftrace's `x86-tsc`, `counter`
    /// and `uptime` clocks print a bare integer): `Event.time` is the count; order is known,
    /// durations are not (the trace does not say the unit).
    case counter

    /// Whether times are nanoseconds, so that durations, --min-wait and the clock alignment
    /// apply.
    public var measuresTime: Bool { self == .timestamps }

    /// Why durations do not apply to such an input (nil when they do).
    public var withoutDurations: String? {
        switch self {
        case .timestamps: return nil
        case .orderOnly: return "the input has no timestamps: order is known, durations are not"
        case .counter:
            return "the input's times are counts of a clock that does not count nanoseconds (ftrace's x86-tsc, counter or uptime clock): order is known, durations are not"
        }
    }
}

/// A place in an input: a 1-based line number for text inputs, a byte offset for binary ones.
public struct SourceLocation: Sendable, Hashable, Comparable {
    public enum Unit: UInt8, Sendable, Hashable { case line, byteOffset }
    public var source: UInt16
    public var unit: Unit
    public var value: UInt64

    public init(source: UInt16, unit: Unit, value: UInt64) {
        self.source = source
        self.unit = unit
        self.value = value
    }

    public static func < (lhs: SourceLocation, rhs: SourceLocation) -> Bool {
        (lhs.source, lhs.value) < (rhs.source, rhs.value)
    }

    /// A byte offset at or past this is in the decompressed data of a compressed trace.dat's
    /// CPU stream n = offset >> 40 (Docs/Formats.md).
    public static let streamStride: UInt64 = 1 << 40

    /// `path:line`, `path@offset`, or `path@stream1+offset` for a byte of CPU stream 1's
    /// decompressed data (a compressed trace.dat; its raw value was 1·2⁴⁰ + offset).
    public func render(path: String) -> String {
        if unit == .line { return "\(path):\(value)" }
        if value >= Self.streamStride { return "\(path)@stream\(value / Self.streamStride)+\(value % Self.streamStride)" }
        return "\(path)@\(value)"
    }
}

/// A record that claimed to be a known event but did not parse.
public struct MalformedRecord: Sendable, Hashable {
    public var location: SourceLocation
    public var reason: String

    public init(location: SourceLocation, reason: String) {
        self.location = location
        self.reason = reason
    }
}

/// What reading one input produced, besides its events.
public struct InputSummary: Sendable {
    public var index: UInt16
    public var path: String
    public var format: TraceFormat
    /// For a pcap converted by ShadowBell: the format of the input its records (of this clock
    /// domain) came from, as the records say; nil when they do not.
    public var recordedFormat: TraceFormat?
    /// The format the input's content stands for: `recordedFormat` when there is one.
    public var effectiveFormat: TraceFormat { recordedFormat ?? format }
    /// The input's path, and for a clock domain of a pcap which recording it holds
    /// (`run.pcap (its qemu-log events)`): a pcap's domains share one path.
    public var name: String { recordedFormat.map { "\(path) (its \($0.rawValue) events)" } ?? path }
    public var clock: ClockKind = .timestamps
    /// Where the input's recording ends, when it goes on past its last event: a trace's other
    /// lines (scheduler events, another device's events) and a console's ftrace dump (other
    /// events and markers) go on after the last nvme one, and the recording held them all, so
    /// commands and waits open at its end were open that long.
    public var recordedUntil: Int64?

    /// Extends `recordedUntil` to `time` (a line's time; `.min`: none).
    public mutating func recordedUntil(atLeast time: Int64) {
        if time != .min, time > (recordedUntil ?? .min) { recordedUntil = time }
    }
    /// A console that ends inside an ftrace dump (no closing line of dashes): the line its
    /// `Dumping ftrace buffer:` is on. The rest of the dump was never printed.
    public var endsInsideDump: UInt64?
    /// A console that begins inside an ftrace dump (its `Dumping ftrace buffer:` line not in
    /// the input): the line of the first dump event line read without it.
    public var dumpWithoutStart: UInt64?
    public var locationUnit: SourceLocation.Unit = .line
    /// Recognised events decoded.
    public var events: UInt64 = 0
    /// Lines or records that claimed to be a known event and did not parse.
    public var malformed: UInt64 = 0
    /// The first few malformed records (at most `firstMalformedLimit`).
    public var firstMalformed: [MalformedRecord] = []
    /// Lines or records that are not ShadowBell events (other tracepoints, headers, noise).
    public var skipped: UInt64 = 0
    /// Lines (text) or records (binary) seen in total.
    public var records: UInt64 = 0
    public var bytes: UInt64 = 0
    /// Data-loss markers seen and events the recorder says it lost (0 when it does not say).
    public var dataLossMarkers: UInt64 = 0
    public var lostEvents: UInt64 = 0
    /// Events whose timestamp went backwards relative to the previous one in the file.
    public var outOfOrder: UInt64 = 0
    /// The largest step back in time from one event to the next in the file, and where; nil
    /// when the events never go back. Recorders keep their events in time order (a QEMU log's
    /// threads and ftrace's CPUs by microseconds at most): a step of seconds is files put one
    /// after another — `per_cpu/cpu*/trace` concatenated, or two runs in one file.
    public var largestStepBack: StepBack?

    /// A step back in time between two consecutive events of an input.
    public struct StepBack: Sendable, Equatable {
        /// The time of the event before, and of the event that stepped back (ns).
        public var from: Int64, to: Int64
        /// The location of the event that stepped back.
        public var at: UInt64
        public var by: Int64 { from &- to }

        /// Puts the step from `previous` to `time` at `location` in `largest` when it is larger.
        public static func keepLargest(_ largest: inout StepBack?, from previous: Int64, to time: Int64, at location: UInt64) {
            guard previous > time, previous &- time > (largest?.by ?? 0) else { return }
            largest = StepBack(from: previous, to: time, at: location)
        }

        public init(from: Int64, to: Int64, at: UInt64) {
            self.from = from
            self.to = to
            self.at = at
        }
    }

    /// Records a step back from `previous` to `time` at `location` when it is the largest yet.
    public mutating func steppedBack(from previous: Int64, to time: Int64, at location: UInt64) {
        StepBack.keepLargest(&largestStepBack, from: previous, to: time, at: location)
    }
    /// The number of a text input's last line when no newline ends it: the file was most
    /// likely cut short while it was written or copied (every recorder ends its lines).
    public var unterminatedLastLine: UInt64?
    /// How many NUL bytes end a text input after its last newline (0: none): space the file
    /// system allocated and the writer never filled — the VM or the host stopped while the
    /// file was written.
    public var nulPadding: UInt64 = 0
    /// Skipped lines that are NVMe events of another text format (`LineDecoding.foreignFormat`),
    /// among every `foreignSampleStep`-th skipped line: the input holds two recordings put one
    /// after another (`cat guest.txt qemu.log`, `zstd -dc a.zst b.zst |`), and its reading
    /// passes over the other one's events.
    public var foreignLinesSeen: UInt64 = 0
    /// The first of them (a line number), and what they are ("a QEMU trace log").
    public var firstForeignLine: UInt64?
    public var foreignFormat: String?
    /// One skipped line in this many is looked at for another format's events.
    public static let foreignSampleStep: UInt64 = 16
    /// The names `foreignFormat` takes.
    public static let foreignQemuLog = "a QEMU trace log", foreignGuestTrace = "a guest ftrace trace"

    /// Counts `seen` skipped lines of `format` from line `first` on.
    public mutating func noteForeign(_ seen: UInt64, first: UInt64, format: String) {
        foreignLinesSeen &+= seen
        if firstForeignLine == nil { firstForeignLine = first }
        foreignFormat = format
    }
    /// The guest console's timeout messages (`nvme nvme0: I/O 5 QID 2 timeout, aborting`) among
    /// the lines a QEMU log's reading skips — the serial console in the same file as the trace
    /// (`-nographic 2>&1 | tee`) — and the first one's line: the guest gave up, and the
    /// analysis of the log alone does not know it.
    public var guestTimeoutsPassedOver: UInt64 = 0
    public var firstGuestTimeoutPassedOver: UInt64?

    public mutating func noteGuestTimeoutPassedOver(_ seen: UInt64, first: UInt64) {
        guestTimeoutsPassedOver &+= seen
        if firstGuestTimeoutPassedOver == nil { firstGuestTimeoutPassedOver = first }
    }

    /// The byte offset of a binary input's last record when the file ends inside it (a pcap
    /// cut short while it was written or copied); nil when the file ends where a record does.
    public var cutShortAt: UInt64?
    /// The CPUs (bit n: CPU n, below 63; 63 and above share bit 63) whose event lines an ftrace
    /// text holds: its first 256 KiB before it is read, the whole file once read; 0 when unknown. Files of one trace kept per CPU (`per_cpu/cpuN/trace`, `trace-cmd report
    /// --cpu N`) hold disjoint sets.
    public var cpus: UInt64 = 0
    /// How many CPUs an ftrace text's header says the machine had (`#P:N`, `cpus=N`); 0 when
    /// it says none.
    public var cpuCount = 0
    /// An ftrace text in the kernel's latency format (`9093376us : `): its times count from the
    /// ring buffer's start, not from boot (printk's clock), so it shares no clock with a
    /// kernel log or with a trace of the boot clock.
    public var timesSinceBufferStart = false
    /// The threads a QEMU log's `tid@seconds:` lines name in its first 256 KiB (up to 16, in
    /// order); empty when unknown (another shape). The files of one log rotated or cut in pieces
    /// share threads; two QEMU processes share none.
    public var threads: [UInt64] = []
    /// The compression the input was stored with (`gzip`, `zstd`, `xz`), nil for none: what
    /// to say when a user is told to cut the file.
    public var compression: String?
    /// Where some lines of a text file begin (at most one every `LineMark.spacing` bytes; none
    /// for a pipe or a compressed file): a second reading for the lines a report quotes starts
    /// at the nearest instead of the file's first byte.
    public var lineMarks: [LineMark] = []
    /// Where a QEMU log says a new QEMU process begins (libvirt's `starting up libvirt version`
    /// line: libvirt appends every start of the VM to one log), with the events read before
    /// each; at most `processStartLimit` kept, `processStartCount` counts them all.
    public var processStarts: [ProcessStart] = []
    public var processStartCount: UInt64 = 0
    public static let processStartLimit = 16

    public struct ProcessStart: Sendable, Equatable {
        public var line: UInt64
        public var eventsBefore: UInt64

        public init(line: UInt64, eventsBefore: UInt64) {
            self.line = line
            self.eventsBefore = eventsBefore
        }
    }

    public mutating func noteProcessStart(at line: UInt64, eventsBefore: UInt64) {
        processStartCount += 1
        // The first ones, and always the last: the run a user would keep begins there.
        if processStarts.count == Self.processStartLimit { processStarts.removeLast() }
        processStarts.append(ProcessStart(line: line, eventsBefore: eventsBefore))
    }

    /// The starts of a QEMU log's processes that have events of the log both before and after
    /// them: empty unless it holds the events of several QEMU runs.
    public var startsBetweenRuns: [ProcessStart] {
        processStarts.filter { $0.eventsBefore > 0 && $0.eventsBefore < events }
    }
    /// A guest console's last `Linux version` banner: the guest kernel that ran.
    public var kernelVersion: KernelVersion?
    /// The lines of a guest console's `Linux version` banners, one per boot (at most
    /// `bootBannerLimit`): a serial log the VM's restarts were appended to holds several, and
    /// each boot's kernel clock starts again at 0.
    public var bootBanners: [UInt64] = []
    public static let bootBannerLimit = 64

    public static let firstMalformedLimit = 10

    /// Adds a marker's lost-event count; the total saturates at `UInt64.max` instead of wrapping.
    public mutating func addLostEvents(_ count: UInt64) {
        lostEvents = lostEvents.saturatingAdding(count)
    }

    public init(index: UInt16, path: String, format: TraceFormat) {
        self.index = index
        self.path = path
        self.format = format
    }

    public mutating func noteMalformed(at value: UInt64, _ reason: String) {
        malformed += 1
        if firstMalformed.count < Self.firstMalformedLimit {
            firstMalformed.append(
                MalformedRecord(
                    location: SourceLocation(source: index, unit: locationUnit, value: value),
                    reason: reason))
        }
    }
}

/// Line `line` (1-based) of a text file begins at byte `offset`.
public struct LineMark: Sendable, Equatable {
    public var line: UInt64
    public var offset: UInt64
    /// The least distance in bytes between two marks kept: a 4 GB file keeps at most 4096.
    public static let spacing: UInt64 = 1 << 20

    public init(line: UInt64, offset: UInt64) {
        self.line = line
        self.offset = offset
    }
}

/// Why an input could not be analysed at all. Each case says what and where.
public enum InputError: Error, Sendable, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case isDirectory(path: String)
    case empty(path: String)
    case unknownFormat(path: String, detail: String)
    case noRecognisedEvents(path: String, format: TraceFormat)
    case readFailed(path: String, offset: UInt64, reason: String)
    case unsupported(path: String, reason: String)

    public var path: String {
        switch self {
        case .cannotOpen(let p, _), .isDirectory(let p), .empty(let p), .unknownFormat(let p, _),
            .noRecognisedEvents(let p, _), .readFailed(let p, _, _), .unsupported(let p, _):
            return p
        }
    }

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason):
            // A name that is not valid UTF-8 reaches ShadowBell with U+FFFD in place of its
            // bytes, and that name is no file's.
            let hint = path.contains("\u{FFFD}") ? " (the name is not valid UTF-8, and � stands for bytes that cannot be passed on: rename the file, e.g. with `convmv` or `mv`)" : ""
            return "\(path): cannot open: \(reason)\(hint)"
        case .isDirectory(let path): return "\(path): is a directory, not a trace file"
        case .empty(let path): return "\(path): file is empty"
        case .unknownFormat(let path, let detail):
            return "\(path): not a supported trace format (\(detail)); expected Linux ftrace text, "
                + "trace-cmd report text or trace.dat, a QEMU trace log, a QEMU simple trace, a guest console log "
                + "or a ShadowBell pcap"
        case .noRecognisedEvents(let path, let format):
            return "\(path): read as \(format.rawValue) but holds no NVMe shadow-doorbell event"
        case .readFailed(let path, let offset, let reason):
            return "\(path)@\(offset): read failed: \(reason)"
        case .unsupported(let path, let reason): return "\(path): \(reason)"
        }
    }
}

extension UInt64 {
    /// `self + other`, or `UInt64.max` when the sum does not fit: for counters fed by input.
    @inlinable
    public func saturatingAdding(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}
