#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellCore

/// The decoded events of one input, kept for the passes after the first: the alignment's second
/// pass, and the second analysis of `report`, `explain`, `timeline` and `convert --to
/// perfetto-json`. An input is decoded once; later passes read its events back as they were
/// (`Event` is a 48-byte trivial value) instead of parsing its text again.
///
/// The events go to an unlinked temporary file (in `$TMPDIR`, else `/tmp`) through one reused
/// buffer: memory stays flat whatever the input's size, and the disk holds 48 bytes per event
/// (a ftrace line is 100–150 bytes, a QEMU log line 70–130). When the file cannot be made or
/// written, or the file system keeps less than `reserve` free, the recording is dropped and the
/// input is decoded again as before.
///
/// One recording is made at a time and read from one thread at a time (a run's passes follow
/// each other); a batch gives each run inputs of its own.
public final class DecodedEvents: @unchecked Sendable {
    @exclusivity(unchecked) fileprivate private(set) var fd: Int32 = -1
    @exclusivity(unchecked) private var bytes = 0
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
    @exclusivity(unchecked) var firstPass: (anchors: AnchorSet?, firstTime: Int64, summary: InputSummary)?
    struct EstimateKey: Hashable {
        var method: UInt8
        var other: ObjectIdentifier
    }
    @exclusivity(unchecked) var estimates: [EstimateKey: (map: ClockMap, report: AlignmentReport)?] = [:]

    deinit { if fd >= 0 { close(fd) } }

    /// Whether a whole recording can be read back.
    public var isComplete: Bool { summary != nil && !failed }

    /// The recorded events, from the start, with the input's final summary; nil when there is
    /// no whole recording.
    public func replay() -> (any EventSource)? {
        guard let summary, !failed else { return nil }
        return ReplayedEventSource(recording: self, bytes: bytes, summary: summary)
    }

    /// `source`, recording what is read through it; the recording is whole once the source
    /// said it is exhausted. A source already recorded is returned as it is.
    public func recording(_ source: any EventSource) -> any EventSource {
        guard !failed, !isComplete, begin() else { return source }
        return RecordingEventSource(base: source, into: self)
    }

    private func begin() -> Bool {
        if fd < 0 {
            var template = Array("\(temporaryFileDirectory())/shadowbell-events-XXXXXX".utf8CString)
            fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            guard fd >= 0 else {
                failed = true
                return false
            }
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        } else if ftruncate(fd, 0) != 0 {
            drop()
            return false
        }
        bytes = 0
        sinceSpaceCheck = 0
        summary = nil
        firstPass = nil
        estimates = [:]
        recording = true
        return true
    }

    fileprivate func append(_ events: [Event]) {
        guard recording, !events.isEmpty else { return }
        let ok = events.withUnsafeBytes { raw -> Bool in
            var done = 0
            while done < raw.count {
                let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(bytes + done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                done += n
            }
            return true
        }
        guard ok else { return drop() }
        bytes += events.count * MemoryLayout<Event>.stride
        sinceSpaceCheck += events.count * MemoryLayout<Event>.stride
        if sinceSpaceCheck >= 64 << 20 {
            sinceSpaceCheck = 0
            var fs = statvfs()
            if fstatvfs(fd, &fs) == 0, UInt64(fs.f_bavail) &* UInt64(fs.f_frsize) < reserve { drop() }
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
        if fd >= 0 {
            _ = ftruncate(fd, 0)
            close(fd)
            fd = -1
        }
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

    func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        let more = try base.nextBatch(into: &buffer)
        if more { into.append(buffer) } else { into.finish(base.summary) }
        return more
    }
}

/// The events of a recording, read back in batches of 4096 through one reused buffer.
final class ReplayedEventSource: EventSource {
    /// Kept alive while it is read: its file closes with it (a caller may drop its own
    /// reference to the recording as soon as it has the replay).
    let recording: DecodedEvents
    let bytes: Int
    let summary: InputSummary
    @exclusivity(unchecked) private var offset = 0
    private let scratch: UnsafeMutablePointer<Event>
    static let batch = 4096

    init(recording: DecodedEvents, bytes: Int, summary: InputSummary) {
        self.recording = recording
        self.bytes = bytes
        self.summary = summary
        scratch = .allocate(capacity: Self.batch)
    }

    deinit { scratch.deallocate() }

    func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        buffer.removeAll(keepingCapacity: true)
        let stride = MemoryLayout<Event>.stride
        let want = min(bytes - offset, Self.batch * stride)
        guard want > 0 else { return false }
        var done = 0
        while done < want {
            let n = pread(recording.fd, UnsafeMutableRawPointer(scratch) + done, want - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw .readFailed(
                    path: summary.path, offset: UInt64(offset + done),
                    reason: "the decoded events kept for a second pass could not be read back")
            }
            done += n
        }
        offset += want
        buffer.append(contentsOf: UnsafeBufferPointer(start: scratch, count: want / stride))
        return true
    }
}
