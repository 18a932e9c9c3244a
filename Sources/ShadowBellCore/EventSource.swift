/// A stream of decoded events from one input, delivered in batches so that memory stays flat
/// whatever the input's size. Events of one source come in file order.
public protocol EventSource: AnyObject {
    /// Counts and diagnostics so far (final once `nextBatch` returned `false`).
    var summary: InputSummary { get }
    /// Replaces the contents of `buffer` with the next events (at most a few thousand).
    /// Returns `false` when the input is exhausted (then `buffer` is empty).
    func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool
    /// Whether reading this source keeps only the reader's thread busy: no thread of its own
    /// decodes, decompresses or reads ahead. Such sources can be read side by side.
    var readsOnOneThread: Bool { get }
}

extension EventSource {
    public var readsOnOneThread: Bool { false }
}
