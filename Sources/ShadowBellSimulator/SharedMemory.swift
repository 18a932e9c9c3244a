/// One u32 slot of the shadow doorbell or EventIdx page. Each slot has one writer; the writer's
/// stores pass through its store buffer and become visible to the other side at `visibleAt`.
struct SharedSlot {
    /// What the other side reads now (after `settle`).
    private(set) var visible: UInt32 = 0
    /// The writer's own latest value (it reads its own stores through store forwarding).
    private(set) var latest: UInt32 = 0
    /// The visible value is a leftover from before a reset that did not clear the buffers.
    private(set) var visibleIsStale = false
    /// The writer's latest value is such a leftover.
    private(set) var latestIsStale = false
    private var pendingValues: [UInt32] = []
    private var pendingTimes: [Int64] = []
    private var pendingRead = 0

    mutating func store(_ value: UInt32, visibleAt: Int64) {
        latest = value
        latestIsStale = false
        pendingValues.append(value)
        pendingTimes.append(visibleAt)
    }

    /// The value the other side sees at `time`.
    mutating func load(at time: Int64) -> UInt32 {
        while pendingRead < pendingTimes.count && pendingTimes[pendingRead] <= time {
            visible = pendingValues[pendingRead]
            visibleIsStale = false
            pendingRead += 1
        }
        if pendingRead == pendingTimes.count && pendingRead > 0 {
            pendingValues.removeAll(keepingCapacity: true)
            pendingTimes.removeAll(keepingCapacity: true)
            pendingRead = 0
        } else if pendingRead >= 256 {
            // A store is always in flight when this slot is read: drop what has landed, so the
            // buffer stays as small as the stores actually pending.
            pendingValues.removeFirst(pendingRead)
            pendingTimes.removeFirst(pendingRead)
            pendingRead = 0
        }
        return visible
    }

    /// Reset with the driver's memset: everything zero, nothing pending.
    mutating func clear() {
        self = SharedSlot()
    }

    /// Reset without the memset: pending stores land, the values stay. Returns the value kept.
    mutating func keepAcrossReset() -> UInt32 {
        _ = load(at: .max)
        latest = visible
        visibleIsStale = visible != 0
        latestIsStale = visible != 0
        return visible
    }
}
