/// Writes QEMU simple-backend trace files byte for byte as QEMU's trace/simple.c does
/// (format version 4, inputs.md §3), in either byte order, for fixtures.
struct SimpleTraceWriter {
    enum Argument {
        case value(UInt64)
        case string(String)
    }

    private var b: Bytes

    init(bigEndian: Bool = false, magic: UInt64 = 0xF2B1_77CB_0AA4_29B4, version: UInt64 = 4) {
        b = Bytes()
        b.bigEndian = bigEndian
        b.u64(0xFFFF_FFFF_FFFF_FFFF)
        b.u64(magic)
        b.u64(version)
    }

    var bytes: [UInt8] { b.data }
    var count: Int { b.data.count }

    /// Type 0: u64 id, u32 name length, name.
    mutating func mapping(id: UInt64, name: String, declaredLength: UInt32? = nil) {
        b.u64(0)
        b.u64(id)
        let utf8 = Array(name.utf8)
        b.u32(declaredLength ?? UInt32(utf8.count))
        b.raw(utf8)
    }

    /// Type 1: u64 id, u64 timestamp, u32 length (24 + payload), u32 pid, arguments.
    mutating func event(id: UInt64, time: UInt64, pid: UInt32 = 4711, _ arguments: [Argument]) {
        var payload = Bytes()
        payload.bigEndian = b.bigEndian
        for argument in arguments {
            switch argument {
            case .value(let v): payload.u64(v)
            case .string(let s):
                payload.u32(UInt32(s.utf8.count))
                payload.raw(Array(s.utf8))
            }
        }
        b.u64(1)
        b.u64(id)
        b.u64(time)
        b.u32(UInt32(24 + payload.data.count))
        b.u32(pid)
        b.raw(payload.data)
    }

    /// The writer thread's dropped-events record: an event with id 0xfffffffffffffffe.
    mutating func dropped(time: UInt64, count: UInt64) {
        event(id: 0xFFFF_FFFF_FFFF_FFFE, time: time, [.value(count)])
    }

    mutating func raw(_ bytes: [UInt8]) { b.raw(bytes) }
    mutating func u64(_ v: UInt64) { b.u64(v) }
    mutating func u32(_ v: UInt32) { b.u32(v) }
}
