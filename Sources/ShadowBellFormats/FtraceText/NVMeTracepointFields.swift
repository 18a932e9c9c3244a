import ShadowBellCore

/// The raw fields of Linux's nvme tracepoints (drivers/nvme/host/trace.h), under the names of
/// the kernel's format file: what `trace-cmd report` prints after `[FAILED TO PARSE]` (or with
/// `-R`) and what a trace.dat record holds. The one place these fields become events, for both.
struct NVMeTracepointFields {
    var ctrlID: UInt64 = 0
    var qid: UInt64?
    var cid: UInt64?
    var opcode: UInt64?
    var status: UInt64?
    var sqHead: UInt64?
    var sqTail: UInt64?
    /// The command's dword 10: the first four bytes of the `cdw10` array (cdw10…cdw15 as the
    /// command holds them, little-endian); nil when the array is absent or shorter.
    var cdw10: UInt32?

    static let adminDeleteSQ: UInt64 = 0x00
    static let adminCreateSQ: UInt64 = 0x01
    static let adminDeleteCQ: UInt64 = 0x04
    static let adminCreateCQ: UInt64 = 0x05
    static let adminAbort: UInt64 = 0x08
    /// Doorbell Buffer Config.
    static let adminDbbuf: UInt64 = 0x7C

    /// The event these fields describe, as the parsed form of the same tracepoint gives it:
    /// the controller is `ctrl_id` (the parsed form's `nvme<ctrl_id>:`), and an admin Create I/O
    /// SQ/CQ command (qid 0, opcode 0x01 / 0x05) carries the created qid and qsize from cdw10,
    /// a Delete I/O SQ/CQ command (0x00 / 0x04) the deleted qid, an Abort (0x08) the aborted
    /// command's sqid and cid.
    func event(_ name: FtraceEventName, time: Int64, location: UInt64, source: UInt16)
        throws(DecodeFailure) -> Event
    {
        guard ctrlID <= UInt64(UInt16.max) else {
            throw DecodeFailure(event: name.name, field: "ctrl_id", problem: .outOfRange)
        }
        var e = Event(
            kind: .driverSubmit, time: time, location: location, source: source,
            controller: UInt16(truncatingIfNeeded: ctrlID))
        e.qid = try Self.u16(qid, name, "qid")
        switch name {
        case .setupCmd:
            e.a = try Self.u32(cid, name, "cid")
            if e.qid == 0, let opcode, opcode == Self.adminCreateSQ || opcode == Self.adminCreateCQ {
                guard let cdw10 else { throw DecodeFailure(event: name.name, field: "cdw10", problem: .missing) }
                e.queueType = opcode == Self.adminCreateSQ ? .sq : .cq
                e.b = cdw10 & 0xFFFF
                e.c = cdw10 >> 16
                e.flags |= Event.createsQueueFlag
            } else if e.qid == 0, let opcode, let cdw10 {
                switch opcode {
                case Self.adminDeleteSQ, Self.adminDeleteCQ:
                    e.markDeletesQueue(opcode == Self.adminDeleteSQ ? .sq : .cq, qid: cdw10 & 0xFFFF)
                case Self.adminDbbuf:
                    e.flags |= Event.dbbufConfigFlag
                case Self.adminAbort:
                    e.markAbortsCommand(cdw10: cdw10)
                default: break
                }
            }
        case .completeRq:
            e.kind = .driverComplete
            e.a = try Self.u32(cid, name, "cid")
            e.b = try Self.u32(status, name, "status")
        case .sq:
            e.kind = .driverSQHead
            e.a = try Self.u32(sqHead, name, "sq_head")
            e.b = try Self.u32(sqTail, name, "sq_tail")
        case .dbbufSQ, .dbbufCQ, .tracingMarkWrite, .print, .console:
            throw DecodeFailure(event: name.name, field: "raw fields", problem: .badShape)
        }
        return e
    }

    @inline(__always)
    private static func u16(_ value: UInt64?, _ name: FtraceEventName, _ field: StaticString)
        throws(DecodeFailure) -> UInt16
    {
        guard let value else { throw DecodeFailure(event: name.name, field: field, problem: .missing) }
        guard value <= UInt64(UInt16.max) else {
            throw DecodeFailure(event: name.name, field: field, problem: .outOfRange)
        }
        return UInt16(truncatingIfNeeded: value)
    }

    @inline(__always)
    private static func u32(_ value: UInt64?, _ name: FtraceEventName, _ field: StaticString)
        throws(DecodeFailure) -> UInt32
    {
        guard let value else { throw DecodeFailure(event: name.name, field: field, problem: .missing) }
        guard value <= UInt64(UInt32.max) else {
            throw DecodeFailure(event: name.name, field: field, problem: .outOfRange)
        }
        return UInt32(truncatingIfNeeded: value)
    }

    /// Reads the text form, `disk= ctrl_id=0 qid=1 opcode=2 … cid=25 … cdw10=ARRAY[05, 00, …]`:
    /// space-separated `name=value` fields in any order, numbers decimal or `0x…` hex, fields
    /// ShadowBell does not use skipped.
    static func parse(_ text: UnsafeRawBufferPointer, event name: FtraceEventName) throws(DecodeFailure)
        -> NVMeTracepointFields
    {
        var fields = NVMeTracepointFields()
        let n = text.count
        var i = 0
        while i < n {
            i = ByteScanning.skipSpaces(text, from: i)
            guard i < n else { break }
            let nameStart = i
            while i < n, text[i] != ASCII.equals, text[i] != ASCII.space { i += 1 }
            guard i < n, text[i] == ASCII.equals else { continue }
            let key = UnsafeRawBufferPointer(rebasing: text[nameStart..<i])
            i += 1
            guard let field = Field.identify(key) else {
                // Skip the value; an array's elements are separated by `, `.
                if ByteScanning.hasPrefix(text, at: i, "ARRAY[") {
                    while i < n, text[i] != ASCII.closeBracket { i += 1 }
                }
                while i < n, text[i] != ASCII.space { i += 1 }
                continue
            }
            if field == .cdw10 {
                fields.cdw10 = try parseDword(text, at: &i, event: name)
                continue
            }
            var s = ByteScanner(text, position: i)
            guard let value = s.readInteger(), s.isAtEnd || s.peek() == ASCII.space else {
                throw DecodeFailure(event: name.name, field: field.name, problem: .badNumber)
            }
            i = s.position
            switch field {
            case .ctrlID: fields.ctrlID = value
            case .qid: fields.qid = value
            case .cid: fields.cid = value
            case .opcode: fields.opcode = value
            case .status: fields.status = value
            case .sqHead: fields.sqHead = value
            case .sqTail: fields.sqTail = value
            case .cdw10: break
            }
        }
        return fields
    }

    /// `ARRAY[05, 00, ff, 03, …]`: the first four bytes as a little-endian dword (nil when
    /// fewer); moves past the closing bracket.
    private static func parseDword(_ text: UnsafeRawBufferPointer, at i: inout Int, event name: FtraceEventName)
        throws(DecodeFailure) -> UInt32?
    {
        var s = ByteScanner(text, position: i)
        guard s.skip("ARRAY[") else { throw DecodeFailure(event: name.name, field: "cdw10", problem: .badShape) }
        var dword: UInt32 = 0
        var count = 0
        while !s.skip(ASCII.closeBracket) {
            if count > 0 {
                guard s.skip(ASCII.comma) else { throw DecodeFailure(event: name.name, field: "cdw10", problem: .badShape) }
                s.skipSpaces()
            }
            guard let (byte, end) = ByteScanning.hexDigitsPrefix(text, from: s.position), byte <= 0xFF else {
                throw DecodeFailure(event: name.name, field: "cdw10", problem: .badNumber)
            }
            s.position = end
            if count < 4 { dword |= UInt32(byte) << (8 * UInt32(count)) }
            count += 1
        }
        i = s.position
        return count >= 4 ? dword : nil
    }

    private enum Field {
        case ctrlID, qid, cid, opcode, status, sqHead, sqTail, cdw10

        var name: StaticString {
            switch self {
            case .ctrlID: return "ctrl_id"
            case .qid: return "qid"
            case .cid: return "cid"
            case .opcode: return "opcode"
            case .status: return "status"
            case .sqHead: return "sq_head"
            case .sqTail: return "sq_tail"
            case .cdw10: return "cdw10"
            }
        }

        @inline(__always)
        static func identify(_ key: UnsafeRawBufferPointer) -> Field? {
            @inline(__always) func eq(_ literal: StaticString) -> Bool { ByteScanning.equals(key, literal) }
            switch key.count {
            case 3:
                if eq("qid") { return .qid }
                return eq("cid") ? .cid : nil
            case 5: return eq("cdw10") ? .cdw10 : nil
            case 6:
                if eq("opcode") { return .opcode }
                return eq("status") ? .status : nil
            case 7:
                if eq("ctrl_id") { return .ctrlID }
                if eq("sq_head") { return .sqHead }
                return eq("sq_tail") ? .sqTail : nil
            default: return nil
            }
        }
    }
}

extension Event {
    /// An admin Delete I/O SQ/CQ command's submission (ftrace's parsed `cmd=(…)` or its raw
    /// fields): the deleted queue's type and qid.
    mutating func markDeletesQueue(_ type: QueueType, qid: UInt32) {
        queueType = type
        b = qid
        flags |= Event.deletesQueueFlag
    }

    /// An admin Abort's submission: the aborted command's sqid and cid, from cdw10.
    mutating func markAbortsCommand(cdw10: UInt32) {
        b = cdw10 & 0xFFFF
        c = cdw10 >> 16
        flags |= Event.abortsCommandFlag
    }
}
