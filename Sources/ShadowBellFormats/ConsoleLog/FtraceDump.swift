import ShadowBellCore

/// The events of one ftrace dump in a console log, collected until the dump ends and then put
/// on the console's clock.
///
/// The dump's timestamps count from the ring buffer's start (its last reset) on the trace
/// clock; the console's count seconds since boot. The only tie between them in the log is that
/// every dumped event happened before the dump began: the `Dumping ftrace buffer:` line's printk
/// stamp bounds the last event from above. The dump is placed at that bound — its last event
/// line at the stamp, the others the same ring-buffer distance before it — so every event is
/// placed no earlier than it happened, and too late by the time between the last recorded
/// event and the dump (Docs/Formats.md). A dump later in the same log only holds events
/// recorded after the previous dump began (`ftrace_dump()` turns tracing off and consumes what
/// it prints), so none of its events is placed before the previous dump's stamp.
struct FtraceDump {
    /// Printk stamp of the `Dumping ftrace buffer:` line; nil when the line has none (then the
    /// ring-buffer times are kept).
    let stamp: Int64?
    /// Stamp of the previous dump of the log, a lower bound for this one's events.
    let lowerBound: Int64?
    /// A dump printed a second time (the same stamp as an earlier one: a `dmesg` listing of it):
    /// its lines are skipped.
    let isRepeat: Bool
    /// Whether the opening delimiter (or an event line) was seen: the next delimiter closes.
    var opened = false
    /// Decoded events, their times still on the ring-buffer clock.
    private(set) var events: [Event] = []
    /// The latest ring-buffer time of any event line (decoded or not).
    private(set) var lastLineTime: Int64 = 0
    /// Offset fixed by an earlier part of this dump (see `split`).
    private var fixedOffset: Int64?

    init(stamp: Int64?, lowerBound: Int64?, isRepeat: Bool) {
        self.stamp = stamp
        self.lowerBound = lowerBound
        self.isRepeat = isRepeat
    }

    /// Notes an event line's ring-buffer time.
    mutating func sawLine(at time: Int64) {
        opened = true
        lastLineTime = max(lastLineTime, time)
    }

    /// A decoded event (on the ring-buffer clock), or a lost-events mark stamped with the
    /// previous event line's time (0 before the first: it is placed before every event).
    mutating func append(_ e: Event) { events.append(e) }

    var count: Int { events.count }

    /// Added to a ring-buffer time to put it on the console's clock.
    var offset: Int64 {
        if let fixedOffset { return fixedOffset }
        guard let stamp else { return 0 }
        // Both are non-negative: no overflow.
        return stamp - lastLineTime
    }

    /// The events on the console's clock, in dump order.
    func placed() -> [Event] {
        let offset = offset
        var out = events
        for i in out.indices {
            let (t, overflow) = out[i].time.addingReportingOverflow(offset)
            var time = overflow ? (offset > 0 ? Int64.max : Int64.min) : t
            if let lowerBound, time < lowerBound { time = lowerBound }
            out[i].time = time
        }
        return out
    }

    /// Where the last event line (decoded or not) is placed on the console's clock; nil before
    /// any event line.
    var placedEnd: Int64? {
        guard opened, lastLineTime > 0 else { return nil }
        let (t, overflow) = lastLineTime.addingReportingOverflow(offset)
        guard !overflow else { return nil }
        return max(t, lowerBound ?? t)
    }

    /// The rest of a dump too long to hold at once: placed with the offset known so far.
    func split() -> FtraceDump {
        var rest = FtraceDump(stamp: stamp, lowerBound: lowerBound, isRepeat: isRepeat)
        rest.opened = opened
        rest.lastLineTime = lastLineTime
        rest.fixedOffset = offset
        return rest
    }
}

/// Merges two event sequences by time; on equal times the earlier line comes first. Each
/// sequence keeps its own order.
func mergeByTime(_ a: [Event], _ b: [Event]) -> [Event] {
    var out: [Event] = []
    out.reserveCapacity(a.count + b.count)
    var i = 0
    var j = 0
    while i < a.count, j < b.count {
        if (b[j].time, b[j].location) < (a[i].time, a[i].location) {
            out.append(b[j])
            j += 1
        } else {
            out.append(a[i])
            i += 1
        }
    }
    out.append(contentsOf: a[i...])
    out.append(contentsOf: b[j...])
    return out
}
