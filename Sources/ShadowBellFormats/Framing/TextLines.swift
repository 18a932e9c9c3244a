import ShadowBellCore

/// The lines of one input: a `ByteInput` feeding a `LineFramer`.
final class TextLines {
    let input: ByteInput
    let framer = LineFramer()
    @exclusivity(unchecked) private var finished = false
    /// The last line's number when no newline ends it.
    @exclusivity(unchecked) private(set) var unterminatedLine: UInt64?
    /// The length of the NUL bytes that end the input after its last newline (0: none).
    @exclusivity(unchecked) private(set) var nulPadding: UInt64 = 0

    init(_ input: ByteInput) { self.input = input }

    /// The next line, or nil at the end of the input. The line's bytes are valid until the
    /// next call.
    @inline(__always)
    func next() throws(InputError) -> FramedLine? {
        while true {
            if let line = framer.nextLine() { return line }
            if finished { return nil }
            if let chunk = try input.nextChunk() {
                framer.feed(chunk)
            } else {
                finished = true
                let last = framer.finish()
                if let last {
                    if isNULPadding(last.bytes) { nulPadding = UInt64(last.bytes.count) } else { unterminatedLine = last.number }
                }
                return last
            }
        }
    }

    var bytesRead: UInt64 { input.offset }
}
