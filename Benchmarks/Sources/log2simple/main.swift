// Converts a QEMU log-backend trace (`pid@sec.usec:event args`) into a QEMU simple-backend
// trace (format version 4, little-endian), for benchmark inputs of any size:
//
//   log2simple QEMU.log OUT.simple
//
// The numbers of each line's arguments, in order, fill the event's integer arguments and its
// quoted words its string arguments (QEMU's log format strings print them in declaration
// order). Lines of other events, or whose numbers do not match, are counted and left out.
import ShadowBellFormats

#if canImport(Glibc)
    import Glibc
#endif

let args = CommandLine.arguments
guard args.count == 3, let input = fopen(args[1], "r"), let output = fopen(args[2], "w") else {
    fputs("usage: log2simple QEMU.log OUT.simple\n", stderr)
    exit(64)
}
setvbuf(output, nil, _IOFBF, 1 << 20)

var out: [UInt8] = []
out.reserveCapacity(1 << 16)
func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
func flush() {
    _ = out.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, output) }
    out.removeAll(keepingCapacity: true)
}

u64(0xFFFF_FFFF_FFFF_FFFF)
u64(0xF2B1_77CB_0AA4_29B4)
u64(4)
var ids: [String: (id: UInt64, signature: TraceEventSignature)] = [:]
for (i, (_, declaration)) in QemuSimpleLayouts.declarations.enumerated() {
    let signature = TraceEventSignature(declaration)!
    ids[signature.name] = (UInt64(i), signature)
    u64(0)
    u64(UInt64(i))
    u32(UInt32(signature.name.utf8.count))
    out.append(contentsOf: Array(signature.name.utf8))
}

/// `0x…` hex or decimal, or nil.
func number(_ token: ArraySlice<UInt8>) -> UInt64? {
    var t = token
    if let eq = t.firstIndex(of: UInt8(ascii: "=")) { t = t[(eq + 1)...] }
    guard !t.isEmpty else { return nil }
    var value: UInt64 = 0
    if t.count > 2, t[t.startIndex] == UInt8(ascii: "0"), t[t.startIndex + 1] == UInt8(ascii: "x") {
        for b in t.dropFirst(2) {
            guard let d = hexDigit(b) else { return nil }
            value = value &* 16 &+ UInt64(d)
        }
        return value
    }
    for b in t {
        guard b >= 0x30, b <= 0x39 else { return nil }
        value = value &* 10 &+ UInt64(b - 0x30)
    }
    return value
}

func hexDigit(_ b: UInt8) -> UInt8? {
    if b >= 0x30, b <= 0x39 { return b - 0x30 }
    let l = b | 0x20
    if l >= 0x61, l <= 0x66 { return l - 0x61 + 10 }
    return nil
}

var line: UnsafeMutablePointer<CChar>?
var capacity = 0
var written = 0
var skipped = 0
while true {
    let n = getline(&line, &capacity, input)
    if n < 0 { break }
    let bytes = Array(UnsafeRawBufferPointer(start: line, count: n)).filter { $0 != 0x0A && $0 != 0x0D }
    guard let at = bytes.firstIndex(of: UInt8(ascii: "@")), let colon = bytes[at...].firstIndex(of: UInt8(ascii: ":")),
        let pid = number(bytes[..<at])
    else { skipped += 1; continue }
    let stamp = bytes[(at + 1)..<colon]
    let dot = stamp.firstIndex(of: UInt8(ascii: ".")) ?? stamp.endIndex
    guard let seconds = number(stamp[..<dot]) else { skipped += 1; continue }
    var fraction: UInt64 = 0
    if dot < stamp.endIndex {
        var digits = 0
        for b in stamp[(dot + 1)...] where digits < 9 {
            fraction = fraction * 10 + UInt64(b - 0x30)
            digits += 1
        }
        while digits < 9 { fraction *= 10; digits += 1 }
    }
    let rest = bytes[(colon + 1)...]
    let nameEnd = rest.firstIndex(of: 0x20) ?? rest.endIndex
    guard let (id, signature) = ids[String(decoding: rest[..<nameEnd], as: UTF8.self)] else { skipped += 1; continue }
    var numbers: [UInt64] = []
    var strings: [ArraySlice<UInt8>] = []
    var i = nameEnd
    while i < rest.endIndex {
        if rest[i] == UInt8(ascii: "'") {
            let close = rest[(i + 1)...].firstIndex(of: UInt8(ascii: "'")) ?? rest.endIndex
            strings.append(rest[(i + 1)..<close])
            i = close + 1
            continue
        }
        var j = i
        while j < rest.endIndex, rest[j] != 0x20, rest[j] != UInt8(ascii: ",") { j += 1 }
        if j > i, let v = number(rest[i..<j]) { numbers.append(v) }
        i = j + 1
    }
    let wantNumbers = signature.arguments.filter { !$0.isString }.count
    let wantStrings = signature.arguments.count - wantNumbers
    guard numbers.count == wantNumbers, strings.count == wantStrings else { skipped += 1; continue }
    var payload: [UInt8] = []
    var ni = 0
    var si = 0
    for argument in signature.arguments {
        if argument.isString {
            withUnsafeBytes(of: UInt32(strings[si].count).littleEndian) { payload.append(contentsOf: $0) }
            payload.append(contentsOf: strings[si])
            si += 1
        } else {
            withUnsafeBytes(of: numbers[ni].littleEndian) { payload.append(contentsOf: $0) }
            ni += 1
        }
    }
    u64(1)
    u64(id)
    u64(seconds &* 1_000_000_000 &+ fraction)
    u32(UInt32(24 + payload.count))
    u32(UInt32(truncatingIfNeeded: pid))
    out.append(contentsOf: payload)
    written += 1
    if out.count >= 1 << 16 { flush() }
}
flush()
fclose(output)
fputs("log2simple: \(written) events written, \(skipped) lines left out\n", stderr)
