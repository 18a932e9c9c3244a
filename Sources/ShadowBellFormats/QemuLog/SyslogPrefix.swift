import ShadowBellCore

/// The prefix syslog and the systemd journal put before each line a program wrote to its
/// standard error, as `journalctl -u UNIT` (and `/var/log/syslog`, `/var/log/messages`) print
/// a QEMU run as a service's log:
///
///     Dec  5 20:17:45 host qemu-system-x86_64[4711]: 4712@1764965865.123456:pci_nvme_…   (short, syslog)
///     Dec 05 20:17:45.123456 host qemu-system-x86_64[4711]: …                           (short-precise)
///     2026-12-05T20:17:45+0000 host qemu[4711]: …                                        (short-iso)
///     2026-12-05T20:17:45.123456+00:00 host qemu[4711]: …                                (short-iso-precise, rsyslog)
///     [ 8123.456789] host qemu[4711]: …                                                  (short-monotonic)
///     [ 8123.456789 <    0.000123>] host qemu[4711]: …                                   (short-delta)
///     1764965865.123456 host qemu[4711]: …                                               (short-unix)
///
/// The prefix's own time is when the journal received the line, not when QEMU traced it: it
/// is not read. The QEMU line after it is read as it would be alone. (An ISO time ending in `Z`
/// followed by a word is QEMU 10.1's own line shape: `QemuLogLineParser.split` reads it so
/// first.)
enum SyslogPrefix {
    /// Where the program's message starts in `line` (after `tag[pid]: `), when the line begins
    /// with a time of one of the shapes above, a host name and a tag; nil otherwise.
    static func messageStart(_ line: UnsafeRawBufferPointer) -> Int? {
        guard let first = line.first, var i = timeEnd(line, first: first), i < line.count, line[i] == ASCII.space else {
            return nil
        }
        i += 1
        // The host name: one word.
        let host = i
        while i < line.count, line[i] != ASCII.space { i += 1 }
        guard i > host, i < line.count else { return nil }
        i += 1
        // The tag: a program name, then `[pid]` or not, then `: `.
        let tag = i
        while i < line.count, line[i] != ASCII.space, line[i] != ASCII.colon, line[i] != ASCII.openBracket { i += 1 }
        guard i > tag, i < line.count else { return nil }
        if line[i] == ASCII.openBracket {
            guard let (_, after) = ByteScanning.decimalPrefix(line, from: i + 1), after < line.count,
                line[after] == ASCII.closeBracket
            else { return nil }
            i = after + 1
        }
        guard i + 1 < line.count, line[i] == ASCII.colon, line[i + 1] == ASCII.space else { return nil }
        return i + 2
    }

    /// The end of the line's leading time, of any shape above.
    @inline(__always)
    private static func timeEnd(_ line: UnsafeRawBufferPointer, first: UInt8) -> Int? {
        if first >= 0x41, first <= 0x5A { return monthTimeEnd(line) }
        if first == ASCII.openBracket {
            let j = ByteScanning.skipSpaces(line, from: 1)
            // `short-delta`'s ` <    0.000123>` after the seconds too.
            guard let seconds = secondsEnd(line, from: j) else { return nil }
            let after = ConsoleLogLineParser.deltaColumnEnd(line, from: seconds) ?? seconds
            guard after < line.count, line[after] == ASCII.closeBracket else { return nil }
            return after + 1
        }
        guard ASCII.isDigit(first) else { return nil }
        if line.count > 10, line[4] == ASCII.dash { return isoTimeEnd(line) }
        return secondsEnd(line, from: 0)
    }

    /// `Mmm dd HH:MM:SS` (the day padded with a space or a zero), with a fraction or not.
    private static func monthTimeEnd(_ line: UnsafeRawBufferPointer) -> Int? {
        guard line.count >= 15, isMonth(line), line[3] == ASCII.space else { return nil }
        var i = 4
        if line[i] == ASCII.space { i += 1 }
        guard let (day, afterDay) = ByteScanning.decimalPrefix(line, from: i), day >= 1, day <= 31, afterDay - i <= 2,
            afterDay < line.count, line[afterDay] == ASCII.space
        else { return nil }
        return clockTimeEnd(line, from: afterDay + 1)
    }

    /// `YYYY-MM-DDTHH:MM:SS`, a fraction or not, then `Z`, `±HH:MM` or `±HHMM`.
    private static func isoTimeEnd(_ line: UnsafeRawBufferPointer) -> Int? {
        guard line.count >= 20, digits(line, 0, 4), line[4] == ASCII.dash, digits(line, 5, 2), line[7] == ASCII.dash,
            digits(line, 8, 2), line[10] == 0x54 /* T */, var i = clockTimeEnd(line, from: 11), i < line.count
        else { return nil }
        if line[i] == 0x5A /* Z */ { return i + 1 }
        guard line[i] == 0x2B || line[i] == ASCII.dash, digits(line, i + 1, 2) else { return nil }
        i += 3
        if i < line.count, line[i] == ASCII.colon { i += 1 }
        guard digits(line, i, 2) else { return nil }
        return i + 2
    }

    /// `HH:MM:SS`, then `.digits` or not.
    private static func clockTimeEnd(_ line: UnsafeRawBufferPointer, from i: Int) -> Int? {
        guard digits(line, i, 2), i + 2 < line.count, line[i + 2] == ASCII.colon, digits(line, i + 3, 2),
            i + 5 < line.count, line[i + 5] == ASCII.colon, digits(line, i + 6, 2)
        else { return nil }
        var j = i + 8
        if j < line.count, line[j] == ASCII.dot {
            j += 1
            let start = j
            while j < line.count, ASCII.isDigit(line[j]) { j += 1 }
            guard j > start else { return nil }
        }
        return j
    }

    /// `seconds.fraction` (the monotonic and Unix-time shapes).
    private static func secondsEnd(_ line: UnsafeRawBufferPointer, from i: Int) -> Int? {
        guard let (_, afterSeconds) = ByteScanning.decimalPrefix(line, from: i), afterSeconds < line.count,
            line[afterSeconds] == ASCII.dot
        else { return nil }
        var j = afterSeconds + 1
        while j < line.count, ASCII.isDigit(line[j]) { j += 1 }
        return j > afterSeconds + 1 ? j : nil
    }

    private static func digits(_ line: UnsafeRawBufferPointer, _ at: Int, _ count: Int) -> Bool {
        guard at >= 0, at + count <= line.count else { return false }
        for k in at..<(at + count) where !ASCII.isDigit(line[k]) { return false }
        return true
    }

    /// Whether the line starts with a month's English abbreviation.
    private static func isMonth(_ line: UnsafeRawBufferPointer) -> Bool {
        let word = UInt32(line[0]) << 16 | UInt32(line[1]) << 8 | UInt32(line[2])
        switch word {
        case 0x4A_616E, 0x46_6562, 0x4D_6172, 0x41_7072, 0x4D_6179, 0x4A_756E,  // Jan Feb Mar Apr May Jun
            0x4A_756C, 0x41_7567, 0x53_6570, 0x4F_6374, 0x4E_6F76, 0x44_6563:  // Jul Aug Sep Oct Nov Dec
            return true
        default: return false
        }
    }
}
