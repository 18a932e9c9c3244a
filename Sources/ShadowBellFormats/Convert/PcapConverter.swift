import ShadowBellCore

/// Why a conversion to pcap stopped.
public enum ConvertError: Error, Sendable, CustomStringConvertible {
    /// An input could not be read.
    case input(InputError)
    /// libpcap could not create or write the output.
    case output(PcapError)
    /// The link type is one ShadowBell never writes (149) or outside libpcap's range.
    case forbiddenLinkType(Int32)
    /// An event's time does not fit a pcap timestamp (negative, or past the year 2106).
    case timeOutOfRange(path: String, location: SourceLocation, time: Int64)

    public var description: String {
        switch self {
        case .input(let error): return error.description
        case .output(let error): return "cannot write the pcap: \(error)"
        case .forbiddenLinkType(let value):
            return "link type \(value) cannot be used for ShadowBell records "
                + "(use LINKTYPE_USER0–USER15 = 147–162 except 149; the default is 147)"
        case .timeOutOfRange(let path, let location, let time):
            return "\(location.render(path: path)): time \(time) ns does not fit a pcap timestamp"
        }
    }
}

/// What a conversion wrote.
public struct ConversionResult: Sendable {
    public var eventsWritten: UInt64
    /// Each input's summary as it stood when the input was exhausted.
    public var inputs: [InputSummary]
}

/// Which link types `convertToPcap` accepts: any LINKTYPE_USERn except USER2 (149).
public func isWritableShadowBellLinkType(_ linkType: LinkType) -> Bool {
    linkType.isUser && linkType != .user2
}

/// Writes every event of `sources` into a pcap file of ShadowBell records (nanosecond
/// timestamps, one record per packet), in time order: inputs are merged by time, ties going to
/// the earlier input, and each input keeps its own order (the merge is stable within a file).
///
/// Each record keeps the position of its input in `sources`, so the inputs remain separate
/// clock domains in the file. `time` maps an event to the time written (default: `event.time`).
///
/// Complexity: O(n · k) for n events from k inputs; memory O(k · batch).
@discardableResult
public func convertToPcap(
    sources: [any EventSource], output: String, linkType: LinkType = .user0,
    time: ((Event) -> Int64)? = nil
) throws(ConvertError) -> ConversionResult {
    guard isWritableShadowBellLinkType(linkType) else { throw .forbiddenLinkType(linkType.rawValue) }
    let writer: PcapWriter
    do {
        writer = try PcapWriter(path: output, linkType: linkType)
    } catch {
        throw .output(error)
    }
    defer { writer.close() }

    var cursors = sources.map { MergeCursor(source: $0) }
    for i in cursors.indices { try cursors[i].refill() }
    // Each record says which format its input had (a pcap's own domains pass theirs on).
    let original = cursors.map { c -> TraceFormat? in
        let summary = c.source.summary
        return summary.format == .pcap ? summary.recordedFormat : summary.format
    }
    var written: UInt64 = 0
    var record = [UInt8](repeating: 0, count: RecordCodec.recordLengthV1)
    while true {
        // k is small (one per input file): a linear scan of the heads beats a heap here.
        var best = -1
        var bestTime = Int64.max
        for i in cursors.indices {
            guard let head = cursors[i].head else { continue }
            let t = time?(head) ?? head.time
            if best < 0 || t < bestTime {
                best = i
                bestTime = t
            }
        }
        guard best >= 0 else { break }
        let event = cursors[best].head!
        let summary = cursors[best].source.summary
        guard bestTime >= 0, bestTime / 1_000_000_000 <= Int64(UInt32.max) else {
            throw .timeOutOfRange(
                path: summary.path,
                location: SourceLocation(source: event.source, unit: summary.locationUnit, value: event.location),
                time: bestTime)
        }
        var flags: UInt8 = 0
        if !summary.clock.measuresTime { flags |= RecordCodec.timeIsOrdinalFlag }
        if summary.locationUnit == .line { flags |= RecordCodec.locationIsLineFlag }
        var stored = event
        stored.time = bestTime
        stored.source = UInt16(truncatingIfNeeded: best)  // the clock domain: position among `sources`
        record.withUnsafeMutableBytes { out in
            RecordCodec.encode(RecordCodec.Record(event: stored, recordFlags: flags, originalFormat: original[best]), into: out)
            writer.write(
                seconds: UInt32(bestTime / 1_000_000_000), nanoseconds: UInt32(bestTime % 1_000_000_000),
                UnsafeRawBufferPointer(out))
        }
        if event.kind != .recordingEnd { written += 1 }
        try cursors[best].advance()
    }
    do {
        try writer.flush()
    } catch {
        throw .output(error)
    }
    return ConversionResult(eventsWritten: written, inputs: cursors.map { $0.source.summary })
}

/// One input's position in the merge: its current batch and the index of its head event.
private struct MergeCursor {
    let source: any EventSource
    var batch: [Event] = []
    var index = 0
    var exhausted = false
    /// The time and input of the last event taken, and whether the recording's end was given.
    var lastTime = Int64.min
    var lastSource: UInt16 = 0
    var endGiven = false

    init(source: any EventSource) { self.source = source }

    var head: Event? { index < batch.count ? batch[index] : nil }

    mutating func advance() throws(ConvertError) {
        lastTime = batch[index].time
        lastSource = batch[index].source
        index += 1
        if index >= batch.count { try refill() }
    }

    mutating func refill() throws(ConvertError) {
        index = 0
        while !exhausted {
            do {
                if try !source.nextBatch(into: &batch) { exhausted = true }
            } catch {
                throw .input(error)
            }
            if !batch.isEmpty { return }
        }
        batch.removeAll()
        // Where the input went on recording past its last event: one record says so, so that a
        // hang open at the end lasts as long in the pcap as in the input.
        if !endGiven, lastTime != .min, let until = source.summary.recordedUntil, until > lastTime {
            endGiven = true
            batch = [Event(kind: .recordingEnd, time: until, location: 0, source: lastSource)]
        }
    }
}

/// Opens every path by content (`openEventSources`, indices in order) and converts them into
/// one pcap (see `convertToPcap(sources:output:linkType:time:)`). Each input stays its own
/// clock domain in the file (records keep their input's index; `openEventSources` splits them).
@discardableResult
public func convertToPcap(
    paths: [String], output: String, linkType: LinkType = .user0, options: SourceOptions = .init()
) throws(ConvertError) -> ConversionResult {
    guard isWritableShadowBellLinkType(linkType) else { throw .forbiddenLinkType(linkType.rawValue) }
    var sources: [any EventSource] = []
    for path in paths {
        do {
            // A pcap of several clock domains contributes one source per domain.
            sources += try openEventSources(
                path: path, firstIndex: UInt16(truncatingIfNeeded: sources.count), options: options)
        } catch {
            throw .input(error)
        }
    }
    return try convertToPcap(sources: sources, output: output, linkType: linkType)
}
