import ShadowBellCore

/// The ShadowBell binary event record: one event per pcap packet, fixed size, little-endian.
/// The layout is documented with a byte diagram in Docs/Formats.md
/// ("ShadowBell binary event record"); keep the two in step.
///
/// Version 1 (48 bytes):
///
///     0  magic "SBEV"          16  a (u32)
///     4  version (u8) = 1      20  b (u32)
///     5  record length (u8)    24  c (u32)
///     6  side (u8)             28  original source index (u16)
///     7  kind (u8)             30  original format (u8), 0 = not said
///                              31  reserved (u8) = 0
///     8  event flags (u8)      32  wide (u64)
///     9  queue type (u8)       40  original location (u64)
///    10  record flags (u8)
///    11  reserved (u8) = 0
///    12  controller (u16)
///    14  qid (u16)
///
/// The event time is not in the record: it is the packet's pcap timestamp (nanoseconds).
public enum RecordCodec {
    /// `"SBEV"` as it appears in the file.
    public static let magic: (UInt8, UInt8, UInt8, UInt8) = (0x53, 0x42, 0x45, 0x56)
    public static let currentVersion: UInt8 = 1
    /// Size in bytes of a record of each known version (index = version).
    public static func recordLength(version: UInt8) -> Int? { version == 1 ? 48 : nil }
    public static let recordLengthV1 = 48

    /// `recordFlags` bit: `Event.time` is an ordinal (the source had no timestamps).
    public static let timeIsOrdinalFlag: UInt8 = 1
    /// `recordFlags` bit: the original location is a 1-based line number (else a byte offset).
    public static let locationIsLineFlag: UInt8 = 2
    static let knownRecordFlags: UInt8 = timeIsOrdinalFlag | locationIsLineFlag

    /// A decoded record: the event (with its original `source` and `location`) and the
    /// record-level flags.
    public struct Record: Sendable, Hashable {
        public var event: Event
        public var recordFlags: UInt8
        /// The format of the input the event was converted from (nil: not said): the analysis
        /// of the pcap treats each clock domain as that input (a guest console's clock rule).
        public var originalFormat: TraceFormat?

        public init(event: Event, recordFlags: UInt8 = 0, originalFormat: TraceFormat? = nil) {
            self.event = event
            self.recordFlags = recordFlags
            self.originalFormat = originalFormat
        }

        public var timeIsOrdinal: Bool { recordFlags & RecordCodec.timeIsOrdinalFlag != 0 }
        public var originalLocationUnit: SourceLocation.Unit {
            recordFlags & RecordCodec.locationIsLineFlag != 0 ? .line : .byteOffset
        }
    }

    /// Why a packet is not a valid record. `description` is the text used in diagnostics.
    public enum DecodeError: Error, Sendable, Equatable, CustomStringConvertible {
        /// Fewer bytes than the fixed prefix (magic, version, length) or than the version needs.
        case short(have: Int, need: Int)
        /// More bytes than the version's fixed size.
        case long(have: Int, expected: Int)
        case badMagic
        case unknownVersion(UInt8)
        /// The length byte disagrees with the size the version defines.
        case lengthMismatch(declared: UInt8, expected: Int)
        case unknownKind(UInt8)
        case badQueueType(UInt8)
        case sideMismatch(kind: EventKind, side: UInt8)
        case unknownRecordFlags(UInt8)

        public var description: String {
            switch self {
            case .short(let have, let need):
                return "record is \(have) bytes, shorter than the \(need) its version needs"
            case .long(let have, let expected):
                return "record is \(have) bytes, longer than the \(expected) its version defines"
            case .badMagic: return "record does not start with the magic \"SBEV\""
            case .unknownVersion(let v):
                return "unknown record version \(v) (this build reads version \(RecordCodec.currentVersion))"
            case .lengthMismatch(let declared, let expected):
                return "record length byte says \(declared), version defines \(expected)"
            case .unknownKind(let k): return "unknown event kind \(k)"
            case .badQueueType(let t): return "queue type \(t) is neither 0 (sq) nor 1 (cq)"
            case .sideMismatch(let kind, let side):
                return "side \(side) does not match event kind \(kind) (side \(kind.side.rawValue))"
            case .unknownRecordFlags(let f): return "unknown record flags 0x\(String(f, radix: 16))"
            }
        }
    }

    /// Writes the version-1 record of `record` into `out` (exactly `recordLengthV1` bytes).
    /// `out.count` must be at least `recordLengthV1`.
    public static func encode(_ record: Record, into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= recordLengthV1)
        let e = record.event
        out[0] = magic.0
        out[1] = magic.1
        out[2] = magic.2
        out[3] = magic.3
        out[4] = currentVersion
        out[5] = UInt8(recordLengthV1)
        out[6] = e.kind.side.rawValue
        out[7] = e.kind.rawValue
        out[8] = e.flags
        out[9] = e.queueType.rawValue
        out[10] = record.recordFlags
        out[11] = 0
        storeLE(e.controller, out, 12)
        storeLE(e.qid, out, 14)
        storeLE(e.a, out, 16)
        storeLE(e.b, out, 20)
        storeLE(e.c, out, 24)
        storeLE(e.source, out, 28)
        out[30] = formatCode(record.originalFormat)
        out[31] = 0
        storeLE(e.wide, out, 32)
        storeLE(e.location, out, 40)
    }

    /// The record as a byte array (convenience for tests and small writers).
    public static func encode(_ record: Record) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: recordLengthV1)
        bytes.withUnsafeMutableBytes { encode(record, into: $0) }
        return bytes
    }

    /// Bytes 0–5 of every version-1 record (magic, version, length), as a little-endian
    /// integer: the low 48 bits of the record's first 8 bytes.
    static let fixedPrefixV1: UInt64 =
        UInt64(magic.0) | UInt64(magic.1) << 8 | UInt64(magic.2) << 16 | UInt64(magic.3) << 24
        | UInt64(1) << 32 | UInt64(recordLengthV1) << 40

    /// Per kind byte: the kind and its side's raw value + 1; `sidePlusOne == 0` for a byte
    /// that is no kind. Lets a reader check a record's kind and side with one lookup.
    struct KindEntry: Sendable {
        var kind: EventKind
        var sidePlusOne: UInt8
    }

    static let kindTable: [KindEntry] = (0..<256).map { byte in
        guard let kind = EventKind(rawValue: UInt8(byte)) else {
            return KindEntry(kind: .dataLoss, sidePlusOne: 0)
        }
        return KindEntry(kind: kind, sidePlusOne: kind.side.rawValue + 1)
    }

    /// The original source index of a record of the current version's size, magic and version
    /// (whatever its other bytes say); nil for any other packet. What defines the clock domains
    /// of a pcap (`PcapEventSource.originalSources`).
    @inline(__always)
    static func originalSource(of bytes: UnsafeRawBufferPointer) -> UInt16? {
        guard bytes.count == recordLengthV1, let base = bytes.baseAddress,
            UInt64(littleEndian: base.loadUnaligned(as: UInt64.self)) & 0xFF_FFFF_FFFF
                == fixedPrefixV1 & 0xFF_FFFF_FFFF
        else { return nil }
        return loadLE(bytes, 28, as: UInt16.self)
    }

    /// Decodes one record. `time` becomes `Event.time` (it comes from the packet header).
    /// Never reads past `bytes.count`; a short or long packet is an error, not a crash.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, time: Int64
    ) -> Result<Record, DecodeError> {
        guard bytes.count >= 6 else { return .failure(.short(have: bytes.count, need: 6)) }
        guard bytes[0] == magic.0, bytes[1] == magic.1, bytes[2] == magic.2, bytes[3] == magic.3
        else { return .failure(.badMagic) }
        let version = bytes[4]
        guard let expected = recordLength(version: version) else {
            return .failure(.unknownVersion(version))
        }
        guard Int(bytes[5]) == expected else {
            return .failure(.lengthMismatch(declared: bytes[5], expected: expected))
        }
        if bytes.count < expected { return .failure(.short(have: bytes.count, need: expected)) }
        if bytes.count > expected { return .failure(.long(have: bytes.count, expected: expected)) }
        guard let kind = EventKind(rawValue: bytes[7]) else { return .failure(.unknownKind(bytes[7])) }
        guard bytes[6] == kind.side.rawValue else {
            return .failure(.sideMismatch(kind: kind, side: bytes[6]))
        }
        guard let queueType = QueueType(rawValue: bytes[9]) else {
            return .failure(.badQueueType(bytes[9]))
        }
        let recordFlags = bytes[10]
        guard recordFlags & ~knownRecordFlags == 0 else {
            return .failure(.unknownRecordFlags(recordFlags))
        }
        let event = Event(
            kind: kind, time: time,
            location: loadLE(bytes, 40, as: UInt64.self),
            source: loadLE(bytes, 28, as: UInt16.self),
            controller: loadLE(bytes, 12, as: UInt16.self),
            qid: loadLE(bytes, 14, as: UInt16.self),
            queueType: queueType,
            a: loadLE(bytes, 16, as: UInt32.self),
            b: loadLE(bytes, 20, as: UInt32.self),
            c: loadLE(bytes, 24, as: UInt32.self),
            wide: loadLE(bytes, 32, as: UInt64.self),
            flags: bytes[8])
        return .success(Record(event: event, recordFlags: recordFlags, originalFormat: format(code: bytes[30])))
    }

    /// Byte 30: the original input's format. Codes are fixed (never renumbered); a code this
    /// build does not know reads as not said.
    static let formatCodes: [(TraceFormat, UInt8)] = [
        (.ftraceText, 1), (.qemuLog, 2), (.qemuSimple, 3), (.pcap, 4), (.consoleLog, 5), (.traceDat, 6),
    ]

    static func formatCode(_ format: TraceFormat?) -> UInt8 {
        guard let format else { return 0 }
        return formatCodes.first { $0.0 == format }?.1 ?? 0
    }

    static func format(code: UInt8) -> TraceFormat? { formatCodes.first { $0.1 == code }?.0 }

    public static func decode(_ bytes: [UInt8], time: Int64) -> Result<Record, DecodeError> {
        bytes.withUnsafeBytes { decode($0, time: time) }
    }

    @inline(__always)
    static func storeLE<T: FixedWidthInteger>(
        _ value: T, _ out: UnsafeMutableRawBufferPointer, _ offset: Int
    ) {
        out.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }

    @inline(__always)
    static func loadLE<T: FixedWidthInteger>(
        _ bytes: UnsafeRawBufferPointer, _ offset: Int, as: T.Type
    ) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
