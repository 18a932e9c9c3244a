import ShadowBellCore

/// Why a record that names a known event did not decode. Built from static text, so a failure
/// costs no allocation until it is rendered.
public struct DecodeFailure: Error, Sendable, CustomStringConvertible {
    public enum Problem: UInt8, Sendable {
        /// A required field is absent (or the line ends before it).
        case missing
        /// The field is present but its value is not a number of the expected form.
        case badNumber
        /// The number does not fit the field (e.g. a qid above 65535).
        case outOfRange
        /// The text around the fields does not have the expected shape.
        case badShape
        /// The line ends inside the field (a line cut short, or split by other output).
        case cutShort
    }

    public var event: StaticString
    public var field: StaticString
    public var problem: Problem

    public init(event: StaticString, field: StaticString, problem: Problem) {
        self.event = event
        self.field = field
        self.problem = problem
    }

    /// `pci_nvme_eventidx_sq: missing new_eventidx`.
    public var description: String {
        let what: String
        switch problem {
        case .missing: what = "missing"
        case .badNumber: what = "bad number in"
        case .outOfRange: what = "value out of range in"
        case .badShape: what = "unexpected text at"
        case .cutShort: what = "line cut short inside"
        }
        return "\(event): \(what) \(field)"
    }
}

/// Reads `key value` / `key=value` fields in order from an argument string, recording the
/// first failure. Values are decimal, or hex when written `0x…`; a value must end at a space,
/// comma, `)`, `'` or the end of the text.
struct FieldReader {
    var scanner: ByteScanner
    let event: StaticString
    var failure: DecodeFailure?

    @inline(__always)
    init(_ bytes: UnsafeRawBufferPointer, event: StaticString) {
        scanner = ByteScanner(bytes)
        self.event = event
    }

    @inline(__always)
    mutating func value(_ key: StaticString, field: StaticString) -> UInt64? {
        guard failure == nil else { return nil }
        guard scanner.seek(field: key) else {
            failure = DecodeFailure(event: event, field: field, problem: .missing)
            return nil
        }
        if scanner.isAtEnd {
            failure = DecodeFailure(event: event, field: field, problem: .missing)
            return nil
        }
        guard let v = scanner.readInteger(), FieldReader.endsValue(scanner.peek()) else {
            failure = DecodeFailure(event: event, field: field, problem: .badNumber)
            return nil
        }
        return v
    }

    @inline(__always)
    mutating func u16(_ key: StaticString, field: StaticString) -> UInt16 {
        guard let v = value(key, field: field) else { return 0 }
        guard v <= UInt64(UInt16.max) else {
            failure = DecodeFailure(event: event, field: field, problem: .outOfRange)
            return 0
        }
        return UInt16(truncatingIfNeeded: v)
    }

    @inline(__always)
    mutating func u32(_ key: StaticString, field: StaticString) -> UInt32 {
        guard let v = value(key, field: field) else { return 0 }
        guard v <= UInt64(UInt32.max) else {
            failure = DecodeFailure(event: event, field: field, problem: .outOfRange)
            return 0
        }
        return UInt32(truncatingIfNeeded: v)
    }

    @inline(__always)
    mutating func u64(_ key: StaticString, field: StaticString) -> UInt64 {
        value(key, field: field) ?? 0
    }

    @inline(__always)
    static func endsValue(_ b: UInt8?) -> Bool {
        guard let b else { return true }
        return b == ASCII.space || b == ASCII.comma || b == ASCII.closeParen || b == ASCII.tab
            || b == 0x27 /* ' */
    }
}
