/// A stream of decoded events from one input, delivered in batches so that memory stays flat
/// whatever the input's size. Events of one source come in file order.
public protocol EventSource: AnyObject {
    /// Counts and diagnostics so far (final once `nextBatch` returned `false`).
    var summary: InputSummary { get }
    /// Replaces the contents of `buffer` with the next events (at most a few thousand).
    /// Returns `false` when the input is exhausted (then `buffer` is empty).
    func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool
    /// Whether this source decodes on the reader's thread alone: no thread of its own decodes
    /// or reads ahead (one may decompress for it, and wait while the reader decodes). Such
    /// sources are read side by side, each on one thread.
    var readsOnOneThread: Bool { get }
}

extension EventSource {
    public var readsOnOneThread: Bool { false }
}
