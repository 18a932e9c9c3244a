#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellCore

/// Finds what a run ran on (`RunEnvironment`) in the first bytes of its files: the guest
/// kernel's banner is among the first lines of a console log, QEMU's NVMe events follow the
/// Doorbell Buffer Config within the first seconds of a trace, and a version or command line
/// sits in a run folder's notes. Only the first `scanLimit` bytes of each file are looked at,
/// so the cost stays flat whatever the size of the traces.
public enum EnvironmentScan {
    public static let scanLimit = 16 << 20
    /// Decompressed bytes looked at in a compressed file.
    public static let compressedScanLimit = 4 << 20

    /// Names of the 7.1–7.2 generation that the 8.0+ generation renamed.
    static let oldNames = ["pci_nvme_shadow_doorbell_sq", "pci_nvme_shadow_doorbell_cq", "pci_nvme_eventidx_sq"]
    static let newNames = ["pci_nvme_update_sq_tail", "pci_nvme_update_cq_head", "pci_nvme_update_sq_eventidx", "pci_nvme_update_cq_eventidx"]

    /// `traces`: the run's inputs (event names are taken from these only); `notes`: the run's
    /// other files (READMEs, command lines), read for version lines. Standard input and files
    /// that cannot be opened are passed over. Traces come first: a console's banner wins over a
    /// note's.
    public static func scan(traces: [String], notes: [String]) -> RunEnvironment {
        var env = RunEnvironment()
        var sawOld = false, sawNew = false
        for (path, isTrace) in traces.map({ ($0, true) }) + notes.map({ ($0, false) }) where isRegularFile(path) {
            guard let input = try? ByteInput(path: path) else { continue }
            if input.isMapped {
                look(input.prefix(scanLimit), path: path, isTrace: isTrace)
            } else if input.compression != nil {
                // A compressed file (run folders keep their logs as .zst): its first
                // decompressed bytes, fewer than a plain file's (the banner and the first
                // NVMe events come early).
                var first = [UInt8](repeating: 0, count: compressedScanLimit)
                var count = 0
                first.withUnsafeMutableBytes { buffer in
                    while count < buffer.count,
                        let n = try? input.receive(into: UnsafeMutableRawBufferPointer(rebasing: buffer[count...])), n > 0
                    {
                        count += n
                    }
                }
                first.withUnsafeBytes { look(UnsafeRawBufferPointer(rebasing: $0[..<count]), path: path, isTrace: isTrace) }
            }
        }
        func look(_ bytes: UnsafeRawBufferPointer, path: String, isTrace: Bool) {
            if env.guestKernel == nil, let word = word(after: "Linux version ", in: bytes) {
                env.guestKernel = word
                env.guestKernelSource = path
            }
            if env.qemuVersion == nil, let word = word(after: "QEMU emulator version ", in: bytes) {
                env.qemuVersion = word
                env.qemuVersionSource = path
            }
            if env.qemuBinary == nil, let line = commandLine(in: bytes) {
                env.qemuBinary = word(after: "", in: line)
                env.qemuMachine = machine(in: line)
            }
            if isTrace {
                let seen = eventNameGenerations(in: bytes)
                sawOld = sawOld || seen.old
                sawNew = sawNew || seen.new
            }
        }
        switch (sawOld, sawNew) {
        case (true, true): env.qemuEventNames = .mixed
        case (true, false): env.qemuEventNames = .qemu71To72
        case (false, true): env.qemuEventNames = .qemu80Plus
        case (false, false): break
        }
        return env
    }

    /// Only regular files are read again: a pipe or FIFO was drained by the analysis, and
    /// opening a FIFO a second time would wait for a writer that never comes.
    static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return path != "-" && stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
    }

    /// Whether `bytes` name QEMU events of the 7.1–7.2 generation (`old`) or of the 8.0+ one
    /// (`new`): a pass over the occurrences of `pci_nvme_`, each compared with the names whose
    /// next byte it shares (a QEMU log holds one occurrence per line), up to the first name of
    /// either generation: one file is written by one QEMU, so that name decides the file (a run
    /// whose files come from two QEMUs is `mixed`). The rest of the file is not read.
    static func eventNameGenerations(in bytes: UnsafeRawBufferPointer) -> (old: Bool, new: Bool) {
        let prefixLength = 9  // "pci_nvme_"
        let old = oldNames.map { Array($0.utf8.dropFirst(prefixLength)) }
        let new = newNames.map { Array($0.utf8.dropFirst(prefixLength)) }
        var sawOld = false, sawNew = false
        let prefix = Needle("pci_nvme_")
        var from = 0
        while !(sawOld || sawNew), let at = prefix.find(in: bytes, from: from) {
            let rest = at + prefixLength
            from = rest
            guard rest < bytes.count else { break }
            let next = bytes[rest]
            func names(_ list: [[UInt8]]) -> Bool {
                for name in list where name[0] == next && rest + name.count <= bytes.count {
                    if memcmp(bytes.baseAddress! + rest, name, name.count) == 0 { return true }
                }
                return false
            }
            sawOld = names(old)
            sawNew = !sawOld && names(new)
        }
        return (sawOld, sawNew)
    }

    /// The offset of the first occurrence of `needle` in `bytes`.
    static func find(_ needle: String, in bytes: UnsafeRawBufferPointer, from start: Int = 0) -> Int? {
        Needle(needle).find(in: bytes, from: start)
    }

    /// A string searched for: `memchr` looks for its rarest byte in trace text (upper case,
    /// `y`, `-`…, else its first byte), so that a search through a QEMU log, where nearly every
    /// line holds `p`, `q` and `_`, stops rarely; `memcmp` compares the whole. (Glibc's memmem
    /// is a GNU extension that Swift's Glibc module does not export.)
    struct Needle {
        let bytes: [UInt8]
        let anchor: Int

        init(_ text: String) {
            bytes = Array(text.utf8)
            anchor = bytes.withUnsafeBufferPointer { EnvironmentScan.rarestByteIndex($0) }
        }

        func find(in haystack: UnsafeRawBufferPointer, from start: Int = 0) -> Int? {
            guard let base = haystack.baseAddress, start < haystack.count else { return nil }
            guard !bytes.isEmpty else { return start }
            let n = bytes.count, anchor = anchor, key = Int32(bytes[anchor])
            return bytes.withUnsafeBufferPointer { nb -> Int? in
                var at = start + anchor
                while at + (n - anchor) <= haystack.count {
                    guard let hit = memchr(base + at, key, haystack.count - at - (n - anchor) + 1) else { return nil }
                    let offset = base.distance(to: UnsafeRawPointer(hit)) - anchor
                    if memcmp(base + offset, nb.baseAddress!, n) == 0 { return offset }
                    at = offset + anchor + 1
                }
                return nil
            }
        }
    }

    /// The index of the byte of `needle` least common in trace text.
    static func rarestByteIndex(_ needle: UnsafeBufferPointer<UInt8>) -> Int {
        func rarity(_ b: UInt8) -> Int {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): return 4
            case UInt8(ascii: "j"), UInt8(ascii: "k"), UInt8(ascii: "v"), UInt8(ascii: "w"), UInt8(ascii: "x"), UInt8(ascii: "y"), UInt8(ascii: "z"):
                return 3
            case UInt8(ascii: "-"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "g"), UInt8(ascii: "h"): return 2
            case UInt8(ascii: "a")...UInt8(ascii: "z"): return 1
            default: return 0
            }
        }
        var best = 0
        for i in needle.indices where rarity(needle[i]) > rarity(needle[best]) { best = i }
        return best
    }

    /// The printable word (up to a blank, quote or control byte, at most 100 bytes) right
    /// after the first `marker`.
    static func word(after marker: String, in bytes: UnsafeRawBufferPointer, from start: Int = 0) -> String? {
        guard let at = find(marker, in: bytes, from: start) else { return nil }
        var i = at + marker.utf8.count
        let first = i
        while i < bytes.count, i - first < 100 {
            let b = bytes[i]
            if b <= 0x20 || b >= 0x7f || b == UInt8(ascii: "\"") || b == UInt8(ascii: "'") || b == UInt8(ascii: "`") { break }
            i += 1
        }
        guard i > first else { return nil }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[first..<i]), as: UTF8.self)
    }

    /// The first QEMU command line: `qemu-system-…` followed by an option (` -`) — not a
    /// task name such as ftrace's `qemu-system-x86-4711 [002]` — up to the end of its line.
    static func commandLine(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var from = 0
        while let start = find("qemu-system-", in: bytes, from: from) {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            let line = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            var i = 0
            while i < line.count, line[i] > 0x20 { i += 1 }
            if i + 2 < line.count, line[i] == UInt8(ascii: " "), line[i + 1] == UInt8(ascii: "-") { return line }
            from = start + 1
        }
        return nil
    }

    /// The `-machine`/`-M` value of a command line, up to its first comma.
    static func machine(in line: UnsafeRawBufferPointer) -> String? {
        for flag in [" -machine ", " -M "] {
            if let word = word(after: flag, in: line) {
                return String(word.split(separator: ",", omittingEmptySubsequences: false)[0]).replacingType()
            }
        }
        return nil
    }
}

extension String {
    /// `type=q35` (the long form of -machine) → `q35`.
    fileprivate func replacingType() -> String { hasPrefix("type=") ? String(dropFirst(5)) : self }
}
