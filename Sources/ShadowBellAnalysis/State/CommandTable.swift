/// The guest's outstanding commands by (controller, qid, cmdid): a flat open-addressing table
/// (linear probing, multiplicative hashing, backward-shift deletion). Every submission,
/// fetch and completion looks a command up, so this replaces a `Dictionary` whose SipHash and
/// copy-on-write checks were half of the analyzer's time per event. Memory grows with the
/// commands in flight only, never with the trace, and the analyzer caps those
/// (`ClockGroupAnalyzer.outstandingCommandLimit`).
struct CommandTable<Value> {
    private(set) var count = 0
    private var keys: [UInt64]
    private var values: [Value?]
    private var mask: Int
    private var shift: UInt64

    init(capacity: Int = 256) {
        var slots = 16
        while slots < capacity * 2 { slots <<= 1 }
        keys = Array(repeating: 0, count: slots)
        values = Array(repeating: nil, count: slots)
        mask = slots - 1
        shift = UInt64(64 - slots.trailingZeroBitCount)
    }

    @inline(__always)
    private func home(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// The slot holding `key`, if present.
    @inline(__always)
    func slot(of key: UInt64) -> Int? {
        var i = home(key)
        while values[i] != nil {
            if keys[i] == key { return i }
            i = (i + 1) & mask
        }
        return nil
    }

    subscript(key: UInt64) -> Value? {
        guard let i = slot(of: key) else { return nil }
        return values[i]
    }

    /// The value in a slot returned by `slot(of:)` (valid until the next insertion or removal).
    subscript(slot slot: Int) -> Value {
        get { values[slot]! }
        set { values[slot] = newValue }
    }

    /// Inserts or replaces.
    mutating func set(_ key: UInt64, _ value: Value) {
        if (count + 1) * 2 > keys.count { grow() }
        var i = home(key)
        while values[i] != nil {
            if keys[i] == key {
                values[i] = value
                return
            }
            i = (i + 1) & mask
        }
        keys[i] = key
        values[i] = value
        count += 1
    }

    @discardableResult
    mutating func removeValue(forKey key: UInt64) -> Value? {
        guard let i = slot(of: key) else { return nil }
        return remove(slot: i)
    }

    /// Removes the entry in `slot`, shifting back the entries probed past it.
    @discardableResult
    mutating func remove(slot: Int) -> Value {
        let removed = values[slot]!
        var hole = slot
        var j = slot
        while true {
            j = (j + 1) & mask
            guard values[j] != nil else { break }
            // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
            if (j &- home(keys[j])) & mask >= (j &- hole) & mask {
                keys[hole] = keys[j]
                values[hole] = values[j]
                hole = j
            }
        }
        values[hole] = nil
        count -= 1
        return removed
    }

    private mutating func grow() {
        let oldKeys = keys
        let oldValues = values
        let slots = keys.count * 2
        keys = Array(repeating: 0, count: slots)
        values = Array(repeating: nil, count: slots)
        mask = slots - 1
        shift = UInt64(64 - slots.trailingZeroBitCount)
        count = 0
        for (key, value) in zip(oldKeys, oldValues) {
            if let value { set(key, value) }
        }
    }

    /// Every entry, in no particular order.
    var entries: [(key: UInt64, value: Value)] {
        var result: [(key: UInt64, value: Value)] = []
        result.reserveCapacity(count)
        for (key, value) in zip(keys, values) {
            if let value { result.append((key, value)) }
        }
        return result
    }

    /// The entries whose value satisfies `isIncluded`, in no particular order.
    func entries(where isIncluded: (Value) -> Bool) -> [(key: UInt64, value: Value)] {
        var result: [(key: UInt64, value: Value)] = []
        for (key, value) in zip(keys, values) {
            if let value, isIncluded(value) { result.append((key, value)) }
        }
        return result
    }

    /// Applies `body` to every value whose key satisfies `matches`.
    mutating func updateAll(where matches: (UInt64) -> Bool, _ body: (inout Value) -> Void) {
        for i in values.indices where values[i] != nil && matches(keys[i]) {
            body(&values[i]!)
        }
    }
}
