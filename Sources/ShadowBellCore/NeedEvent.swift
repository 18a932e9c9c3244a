/// The EventIdx rule of the shadow-doorbell protocol (Linux `nvme_dbbuf_need_event`,
/// virtio `vring_need_event`): ring the MMIO doorbell only when `eventIdx` lies in
/// `[old, new - 1]`, all arithmetic 16-bit and wrapping.
@inlinable
public func needEvent(eventIdx: UInt16, new: UInt16, old: UInt16) -> Bool {
    (new &- eventIdx &- 1) < (new &- old)
}

/// SPDK's variant: `[old, new]`, at most one extra MMIO write.
@inlinable
public func needEventInclusive(eventIdx: UInt16, new: UInt16, old: UInt16) -> Bool {
    (new &- eventIdx) <= (new &- old)
}

/// Ring-index helpers for a queue of `entries` slots (`qsize + 1`).
public enum RingIndex {
    /// `index + step` modulo `entries` (0 entries means "unknown size": 16-bit wrap).
    @inlinable
    public static func advance(_ index: UInt32, by step: UInt32 = 1, entries: UInt32) -> UInt32 {
        if entries == 0 { return (index &+ step) & 0xFFFF }
        return UInt32((UInt64(index) + UInt64(step)) % UInt64(entries))
    }

    /// Number of slots from `from` forward to `to` in a ring of `entries`.
    @inlinable
    public static func distance(from: UInt32, to: UInt32, entries: UInt32) -> UInt32 {
        if entries == 0 { return (to &- from) & 0xFFFF }
        let f = from % entries, t = to % entries
        return t >= f ? t - f : entries - f + t
    }
}
