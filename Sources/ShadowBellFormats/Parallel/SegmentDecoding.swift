import ShadowBellCore

/// A line decoder that can decode a segment of a file from a fresh start, on another thread,
/// and then tell whether that agrees with decoding the segment after everything before it.
protocol SegmentDecoding: LineDecoding {
    /// The state after this segment, given `prior`, the state after everything before it —
    /// when this decoder (started fresh at the segment's first line) decoded every line of the
    /// segment exactly as a decoder carrying `prior` would have. nil when a line's outcome
    /// depended on state from before the segment: then the segment is decoded again from `prior`.
    func continuing(after prior: Self) -> Self?
    /// Whether events of this input are timestamps (false: order-only ordinals).
    var clockKind: ClockKind? { get }
}

extension FtraceLineParser: SegmentDecoding {
    func continuing(after prior: FtraceLineParser) -> FtraceLineParser? {
        // A lost-events marker before the segment's first event line takes the time of the
        // previous event line, which lies in an earlier segment.
        if markerBeforeFirstEventLine { return nil }
        var next = self
        if !sawEventLine { next.lastLineTime = prior.lastLineTime }
        next.sawEventLine = prior.sawEventLine || sawEventLine
        next.markerBeforeFirstEventLine = prior.markerBeforeFirstEventLine
        // The clock is the first event line's; a count does not depend on earlier lines.
        next.clock = prior.clock ?? clock
        next.cpusSeen = prior.cpusSeen | cpusSeen
        return next
    }

    var clockKind: ClockKind? { clock }
}

extension QemuLogLineParser: SegmentDecoding {
    func continuing(after prior: QemuLogLineParser) -> QemuLogLineParser? {
        // A line saying lines were lost before the segment's first event takes the time of the
        // previous event, which lies in an earlier segment.
        if lossBeforeFirstEvent { return nil }
        // A PCI reset whose thread is compared with an earlier reset's, in an earlier segment.
        if resetWithoutEarlierOne, prior.lastResetThread != nil { return nil }
        // No event in this segment: nothing depended on the state.
        guard let clock else { return prior }
        // No event before this segment: the fresh start was the true start.
        guard let priorClock = prior.clock else { return self }
        // Timestamped lines do not depend on earlier lines; bare ones (order-only numbering,
        // or the time of the previous event) do.
        guard priorClock == .timestamps, clock == .timestamps, !bareLineBeforeFirstEvent else { return nil }
        return continued(after: prior)
    }

    var clockKind: ClockKind? { clock }
}
