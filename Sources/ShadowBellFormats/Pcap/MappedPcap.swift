#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The records of a classic pcap file read straight from a memory mapping: the same packets,
/// timestamps (in nanoseconds) and byte offsets libpcap's `pcap_next_ex` gives, without its
/// per-packet `fread` copy. Used only for files libpcap would read without a single adjustment
/// or error: a classic pcap with 16-byte record headers, a ShadowBell (user) link type, and
/// every record whole, no longer than the snapshot length and not cut (captured = original
/// length), up to the exact end of the file. Anything else is read with libpcap.
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
        guard isPlainToTheEnd() else {
            munmap(mapped, size)
            return nil
        }
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }

    @inline(__always)
    private func u32(_ at: Int) -> UInt32 {
        let v = base.loadUnaligned(fromByteOffset: at, as: UInt32.self)
        return swapped ? v.byteSwapped : v
    }

    /// libpcap's snapshot length for the file (0 or beyond its limit mean the limit).
    private var snapshotLength: Int {
        let declared = Int(u32(16))
        return declared == 0 || declared > Self.maximumCaptureLength ? Self.maximumCaptureLength : declared
    }

    private static let maximumCaptureLength = 262_144

    private func isPlainToTheEnd() -> Bool {
        let linkType = u32(20) & 0x03FF_FFFF
        guard (147...162).contains(linkType) else { return false }
        let snapshot = snapshotLength
        var at = 24
        var checkedUpTo = 0
        while at + 16 <= size {
            let captured = Int(u32(at + 8))
            guard captured <= snapshot, captured == Int(u32(at + 12)), at + 16 + captured <= size else { return false }
            at += 16 + captured
            if at - checkedUpTo >= 8 << 20 {
                // Checked pages are not needed until the read: keep resident memory flat.
                let end = (at - (4 << 20)) & ~(Int(getpagesize()) - 1)
                if end > checkedUpTo {
                    _ = madvise(UnsafeMutableRawPointer(mutating: base + checkedUpTo), end - checkedUpTo, Int32(MADV_DONTNEED))
                    checkedUpTo = end
                }
            }
        }
        // Nothing of the check stays resident: the read starts again from the front.
        _ = madvise(UnsafeMutableRawPointer(mutating: base), size, Int32(MADV_DONTNEED))
        return at == size
    }

    /// The next packet, or nil at the end of the file. Its data stays valid while this lives.
    @inline(__always)
    func next() -> PcapPacket? {
        guard offset + 16 <= size else { return nil }
        let seconds = Int64(u32(offset))
        let fraction = Int64(u32(offset + 4))
        let captured = Int(u32(offset + 8))
        let packet = PcapPacket(
            seconds: seconds, nanoseconds: nanosecond ? fraction : fraction * 1000,
            capturedLength: captured, originalLength: Int(u32(offset + 12)),
            data: UnsafeRawBufferPointer(start: base + offset + 16, count: captured))
        offset += 16 + captured
        if offset - released >= 8 << 20 {
            let end = (offset - (4 << 20)) & ~(Int(getpagesize()) - 1)
            _ = madvise(UnsafeMutableRawPointer(mutating: base + released), end - released, Int32(MADV_DONTNEED))
            released = end
        }
        return packet
    }
}
