/// A stream of decoded events from one input, delivered in batches so that memory stays flat
/// whatever the input's size. Events of one source come in file order.
public protocol EventSource: AnyObject {
    /// Counts and diagnostics so far (final once `nextBatch` returned `false`).
    var summary: InputSummary { get }
    /// Replaces the contents of `buffer` with the next events (at most a few thousand).
    /// Returns `false` when the input is exhausted (then `buffer` is empty).
    func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool
}
