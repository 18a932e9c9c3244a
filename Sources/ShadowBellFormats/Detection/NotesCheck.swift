#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellCore

/// Run folders hold notes beside the traces — READMEs, statistics, command lines, excerpts of
/// the traces quoted in a summary. Such a file can hold a few lines of a trace format (a
/// README's examples) and be detected as one; taken as an input it would bring a handful of
/// events on a clock of its own, or become the reference clock. A trace is dominated by its
/// format; a note is not. `NotesCheck` tells them apart from the same prefix detection reads.
public enum NotesCheck {
    /// How the reason for a saved ftrace buffer in a form ShadowBell does not read begins.
    public static let unreadFtraceForm = "an ftrace trace whose event lines ShadowBell cannot read"
    /// Why a file is not taken as a trace of `format`, or nil when it is one: a QEMU log or
    /// ftrace text whose event lines are not at least half of its non-blank lines (lines of
    /// other QEMU events without a timestamp count once there are 16 of them), or a console
    /// log that also holds QEMU trace events outside kernel-log lines (a summary quoting both).
    /// The same rule holds for a file found in a folder or a list (skipped with a note) and
    /// for a file named alone (an input error saying it is notes).
    public static func reason(_ prefix: UnsafeRawBufferPointer, format: DetectedFormat) -> String? {
        let counts = count(prefix)
        guard counts.lines > 0 else { return nil }
        switch format {
        case .qemuLog:
            if counts.qemuLog * 2 < counts.lines {
                return "notes, not a QEMU log: \(counts.qemuLog) of its first \(counts.lines) lines are trace events"
            }
        case .ftraceText:
            if counts.ftrace == 0, counts.tracerHeader {
                return "\(unreadFtraceForm): none of its first \(counts.lines) lines has the `comm-pid [cpu] flags seconds: event:` columns (the function_graph tracer and the nocontext-info trace option change them); record with the nop tracer and the default trace options, or use trace-cmd's trace.dat"
            }
            if (counts.ftrace + counts.headers) * 2 < counts.lines {
                return "notes, not an ftrace trace: \(counts.ftrace) of its first \(counts.lines) lines are trace events"
            }
        case .consoleLog:
            if counts.quotedQemu > 0 || counts.qemu > 0 || counts.ftrace > 0 {
                return "notes, not a console log: kernel-log lines mixed with quoted trace events"
            }
        case .binary, .unknown:
            break
        }
        return nil
    }

    struct Counts {
        var lines = 0, qemu = 0, ftrace = 0, headers = 0, quotedQemu = 0
        /// A `# tracer:` line: the file is a saved ftrace buffer.
        var tracerHeader = false
        /// Lines like other devices' QEMU events without a timestamp (`virtio_queue_notify …`).
        var otherEvents = 0

        /// QEMU trace lines: other devices' events count once they are many (a log of
        /// several devices' events), not a stray `name_like value` line of a statistics file.
        var qemuLog: Int { qemu + (otherEvents >= 16 ? otherEvents : 0) }
    }

    static func count(_ prefix: UnsafeRawBufferPointer) -> Counts {
        var c = Counts()
        FormatDetector.forEachLine(prefix) { line, first in
            c.lines += 1
            if line[first] == ASCII.hash {
                c.headers += 1
                if ByteScanning.hasPrefix(line, at: first, "# tracer:") { c.tracerHeader = true }
            } else if let header = FtraceLineHeader.parse(line) {
                // After a printk stamp it is a kernel-log line: an event of an ftrace dump on a
                // clock that prints bare counts (`%4lld: ` reads as `trace-cmd report -l`).
                if let printk = FormatDetector.printkTimestampStart(line), printk < header.timeStart { return true }
                c.ftrace += 1
            } else if first == 0, let (shape, _, payload) = QemuLogLineParser.split(line),
                shape != .bare || ByteScanning.hasPrefix(line, at: payload, "pci_nvme_")
            {
                c.qemu += 1
            } else if first == 0, startsWithEventName(line) {
                c.otherEvents += 1
            } else if !FormatDetector.hasPrintkTimestamp(line), contains(line, "pci_nvme_") {
                c.quotedQemu += 1
            }
            return true
        }
        return c
    }

    /// Whether a line starts like a QEMU trace event without a timestamp (`virtio_queue_notify
    /// vdev 0x…`): a lower-case name with an underscore, then a blank or the end. Prose does
    /// not start that way.
    static func startsWithEventName(_ line: UnsafeRawBufferPointer) -> Bool {
        var underscore = false
        for (i, byte) in line.enumerated() {
            switch byte {
            case 0x5F: underscore = true
            case 0x61...0x7A, 0x30...0x39: continue
            case ASCII.space, 0x09: return underscore && i > 0
            default: return false
            }
        }
        return underscore
    }

    /// Whether `text` occurs in `line` (its first byte found with `memchr`).
    static func contains(_ line: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        let n = text.utf8CodeUnitCount
        guard n > 0, line.count >= n, let base = line.baseAddress else { return false }
        let first = Int32(text.utf8Start[0])
        var i = 0
        while i <= line.count - n, let p = memchr(base + i, first, line.count - n + 1 - i) {
            i = UnsafeRawPointer(p) - base
            if ByteScanning.hasPrefix(line, at: i, text) { return true }
            i += 1
        }
        return false
    }
}

/// The format of a file found in a folder or a `--files-from` list, and why it is skipped
/// when it is not a trace (nil when it is one).
public func classifyRunFile(path: String) throws(InputError) -> (format: DetectedFormat, skip: String?) {
    let input = try ByteInput(path: path)
    let prefix = FormatDetector.detectionPrefix(input)
    let format = FormatDetector.detect(prefix)
    if case .unknown(let detail) = format { return (format, "not a trace (\(detail))") }
    return (format, NotesCheck.reason(prefix, format: format))
}
