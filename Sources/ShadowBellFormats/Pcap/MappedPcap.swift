#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The records of a classic pcap file read straight from a memory mapping: the same packets,
/// timestamps (in nanoseconds) and byte offsets libpcap's `pcap_next_ex` gives, without its
/// per-packet `fread` copy. Used only for classic pcap files with 16-byte record headers and a
/// ShadowBell (user) link type, and only as long as the records are ones libpcap reads without
/// any adjustment or error: whole, no longer than the snapshot length and not cut (captured =
/// original length). At the first other record `next()` says `.irregular`, and the caller hands
/// over to libpcap from that record on.
final class MappedPcap {
    private let base: UnsafeRawPointer
    private let size: Int
    private let swapped: Bool
    private let nanosecond: Bool
    /// Offset of the next record header.
    private(set) var offset = 24
    private var released = 0

    init?(path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size >= 24 else { return nil }
        size = Int(info.st_size)
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else { return nil }
        base = UnsafeRawPointer(mapped)
        _ = madvise(mapped, size, Int32(MADV_SEQUENTIAL))
        switch base.loadUnaligned(as: UInt32.self) {
        case 0xA1B2_C3D4: (swapped, nanosecond) = (false, false)
        case 0xA1B2_3C4D: (swapped, nanosecond) = (false, true)
        case 0xD4C3_B2A1: (swapped, nanosecond) = (true, false)
        case 0x4D3C_B2A1: (swapped, nanosecond) = (true, true)
        default:
            munmap(mapped, size)
            return nil
        }
        let linkType = Self.u32(base, 20, swapped: swapped) & 0x03FF_FFFF
        guard (147...162).contains(linkType) else {
            munmap(mapped, size)
            return nil
        }
        let declared = Int(Self.u32(base, 16, swapped: swapped))
        snapshot = declared == 0 || declared > Self.maximumCaptureLength ? Self.maximumCaptureLength : declared
    }

    private let snapshot: Int

    private static func u32(_ base: UnsafeRawPointer, _ at: Int, swapped: Bool) -> UInt32 {
        let v = base.loadUnaligned(fromByteOffset: at, as: UInt32.self)
        return swapped ? v.byteSwapped : v
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }

    @inline(__always)
    private func u32(_ at: Int) -> UInt32 {
        let v = base.loadUnaligned(fromByteOffset: at, as: UInt32.self)
        return swapped ? v.byteSwapped : v
    }

    private static let maximumCaptureLength = 262_144

    enum Step {
        case packet(PcapPacket)
        case end
        /// A record libpcap would adjust or reject (cut short, over the snapshot length, captured
        /// ≠ original length): read it, and everything after it, with libpcap.
        case irregular
    }

    /// The next record. Its data stays valid while this lives.
    @inline(__always)
    func next() -> Step {
        if offset == size { return .end }
        guard offset + 16 <= size else { return .irregular }
        let captured = Int(u32(offset + 8))
        guard captured <= snapshot, captured == Int(u32(offset + 12)), offset + 16 + captured <= size else {
            return .irregular
        }
        let seconds = Int64(u32(offset))
        let fraction = Int64(u32(offset + 4))
        let packet = PcapPacket(
            seconds: seconds, nanoseconds: nanosecond ? fraction : fraction * 1000,
            capturedLength: captured, originalLength: captured,
            data: UnsafeRawBufferPointer(start: base + offset + 16, count: captured))
        offset += 16 + captured
        if offset - released >= 8 << 20 {
            // Drop the pages behind the cursor: resident memory stays flat on huge files.
            let end = (offset - (4 << 20)) & ~(Int(getpagesize()) - 1)
            _ = madvise(UnsafeMutableRawPointer(mutating: base + released), end - released, Int32(MADV_DONTNEED))
            released = end
        }
        return .packet(packet)
    }
}
