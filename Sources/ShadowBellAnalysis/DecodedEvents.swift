#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellCore

/// The decoded events of one input, kept for the passes after the first: the alignment's second
/// pass, and the second analysis of `report`, `explain`, `timeline` and `convert --to
/// perfetto-json`. An input is decoded once; later passes read its events back as they were
/// instead of parsing its text again.
///
/// The events go to an unlinked temporary file (in `$TMPDIR`, else `/tmp`), packed beyond the
/// first 32 MiB (`PackedEventFile`: 7–8 bytes per event where an `Event` takes 48 in memory),
/// through one reused buffer: memory stays flat whatever the input's size, and the disk holds
/// a tenth of a large input's bytes (a ftrace line is 100–150 bytes, a QEMU log line 70–130).
/// When the file cannot be made or written, or the file system keeps less than `reserve` free,
/// the recording is dropped and the input is decoded again as before.
///
/// One recording is made at a time and read from one thread at a time (a run's passes follow
/// each other); a batch gives each run inputs of its own.
public final class DecodedEvents: @unchecked Sendable {
    @exclusivity(unchecked) fileprivate private(set) var file: PackedEventFile?
    @exclusivity(unchecked) private var recording = false
    @exclusivity(unchecked) private var failed = false
    @exclusivity(unchecked) private var summary: InputSummary?
    /// Free space the recording leaves on its file system.
    let reserve: UInt64
    @exclusivity(unchecked) private var sinceSpaceCheck = 0

    public init(reserve: UInt64 = 1 << 30) { self.reserve = reserve }

    /// What the alignment's first pass learnt of the input (its anchors, first time and
    /// summary), and the clock estimates made between it (the guest side) and other inputs
    /// kept whole: a second analysis of the same inputs takes them from here.
    @exclusivity(unchecked) var firstPass: (anchors: AnchorSet?, firstTime: Int64, lastTime: Int64, summary: InputSummary, createdTwice: QueueCreatedTwice?, namesControllers: Bool)?
    struct EstimateKey: Hashable {
        var method: UInt8
        var other: ObjectIdentifier
    }
    @exclusivity(unchecked) var estimates: [EstimateKey: (map: ClockMap, report: AlignmentReport)?] = [:]

    /// Whether a whole recording can be read back.
    public var isComplete: Bool { summary != nil && !failed }

    /// The recorded events, from the start, with the input's final summary; nil when there is
    /// no whole recording.
    public func replay() -> (any EventSource)? {
        guard let summary, !failed, let file else { return nil }
        return ReplayedEventSource(recording: self, file: file, summary: summary)
    }

    /// `source`, recording what is read through it; the recording is whole once the source
    /// said it is exhausted. A source already recorded is returned as it is.
    public func recording(_ source: any EventSource) -> any EventSource {
        guard !failed, !isComplete, begin() else { return source }
        return RecordingEventSource(base: source, into: self)
    }

    private func begin() -> Bool {
        if let file {
            guard file.truncate() else {
                drop()
                return false
            }
        } else {
            guard let made = PackedEventFile() else {
                failed = true
                return false
            }
            file = made
        }
        sinceSpaceCheck = 0
        summary = nil
        firstPass = nil
        estimates = [:]
        recording = true
        return true
    }

    fileprivate func append(_ events: [Event]) {
        guard recording, !events.isEmpty, let file else { return }
        let before = file.size
        guard file.append(events) else { return drop() }
        sinceSpaceCheck += file.size - before
        if sinceSpaceCheck >= 64 << 20 {
            sinceSpaceCheck = 0
            var fs = statvfs()
            if fstatvfs(file.fd, &fs) == 0, UInt64(fs.f_bavail) &* UInt64(fs.f_frsize) < reserve { drop() }
        }
    }

    fileprivate func finish(_ final: InputSummary) {
        guard recording else { return }
        recording = false
        summary = final
    }

    /// Gives the recording up (its space back at once); the input is decoded again instead.
    private func drop() {
        recording = false
        failed = true
        summary = nil
        firstPass = nil
        estimates = [:]
        _ = file?.truncate()
        file = nil
    }
}

/// Passes a source's events through, recording them.
final class RecordingEventSource: EventSource {
    let base: any EventSource
    let into: DecodedEvents

    init(base: any EventSource, into: DecodedEvents) {
        self.base = base
        self.into = into
    }

    var summary: InputSummary { base.summary }
    var readsOnOneThread: Bool { base.readsOnOneThread }

    func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        let more = try base.nextBatch(into: &buffer)
        if more { into.append(buffer) } else { into.finish(base.summary) }
        return more
    }
}

/// The events of a recording, read back block by block (a block holds up to 4096 events).
final class ReplayedEventSource: EventSource {
    /// Kept alive while it is read: a caller may drop its own reference to the recording as
    /// soon as it has the replay.
    let recording: DecodedEvents
    let file: PackedEventFile
    let size: Int
    let summary: InputSummary
    @exclusivity(unchecked) private var next = 0

    init(recording: DecodedEvents, file: PackedEventFile, summary: InputSummary) {
        self.recording = recording
        self.file = file
        size = file.size
        self.summary = summary
    }

    func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        guard next < size else {
            buffer.removeAll(keepingCapacity: true)
            return false
        }
        guard let after = file.readBlock(at: next, into: &buffer) else {
            throw .readFailed(
                path: summary.path, offset: UInt64(next),
                reason: "the decoded events kept for a second pass could not be read back")
        }
        next = after
        return true
    }
}
