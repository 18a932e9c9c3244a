import ShadowBellCore
import ShadowBellFormats

#if canImport(Glibc)
    import Glibc
#endif

/// An `EventSource` that reports how far reading has got: a line on standard error, rewritten
/// in place, once the input has taken more than a second (bytes done / total, events per
/// second, time left). Only used when standard error is a terminal.
final class ProgressSource: EventSource {
    private let inner: any EventSource
    private let path: String
    private let totalBytes: UInt64?
    private let started = ProgressSource.now()
    private var lastReport: Double = 0
    private var shown = false

    init(_ inner: any EventSource, path: String) {
        self.inner = inner
        self.path = path
        var info = stat()
        // A compressed file's size says nothing of how far its content has been read.
        if path != "-", stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size > 0,
            Compression.of(path: path) == nil
        {
            totalBytes = UInt64(info.st_size)
        } else {
            totalBytes = nil
        }
    }

    var summary: InputSummary { inner.summary }

    func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        let more: Bool
        do {
            more = try inner.nextBatch(into: &buffer)
        } catch {
            clear()
            throw error
        }
        let now = ProgressSource.now()
        if !more {
            clear()
        } else if now - started >= 1, now - lastReport >= 0.25 {
            lastReport = now
            report(elapsed: now - started)
        }
        return more
    }

    /// Whether progress lines are wanted: standard error is a terminal.
    static var wanted: Bool { isatty(2) == 1 }

    private func report(elapsed: Double) {
        let s = inner.summary
        var line = "\(path): \(Self.megabytes(s.bytes))"
        if let totalBytes {
            line += " / \(Self.megabytes(totalBytes)) MB (\(s.bytes * 100 / max(totalBytes, 1))%)"
        } else {
            line += " MB"
        }
        line += ", \(Self.rate(Double(s.events) / elapsed)) events/s"
        if let totalBytes, s.bytes > 0 {
            let left = elapsed * Double(totalBytes - min(s.bytes, totalBytes)) / Double(s.bytes)
            line += ", ETA \(Int(left.rounded(.up)))s"
        }
        write("\r\u{1B}[K" + line)
        shown = true
    }

    private func clear() {
        if shown { write("\r\u{1B}[K") }
        shown = false
    }

    private func write(_ text: String) { Self.writeError(text) }

    static func writeError(_ text: String) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }

    static func megabytes(_ bytes: UInt64) -> String {
        let tenths = bytes * 10 / 1_000_000
        return "\(tenths / 10).\(tenths % 10)"
    }

    private static func rate(_ perSecond: Double) -> String {
        perSecond >= 1e6 ? "\(Int(perSecond / 1e5) / 10).\(Int(perSecond / 1e5) % 10) M" : "\(Int(perSecond))"
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}

/// How far `simulate` has got writing its files: a line on standard error, rewritten in place,
/// once it has taken more than a second (a long `--duration-us` writes gigabytes). Only used
/// when standard error is a terminal.
final class WriteProgress {
    private let started = ProgressSource.now()
    private var lastReport: Double = 0
    private var written: [(path: String, bytes: Int)] = []
    private var shown = false

    func wrote(_ path: String, _ bytes: Int) {
        if let i = written.firstIndex(where: { $0.path == path }) { written[i].bytes = bytes } else { written.append((path, bytes)) }
        let now = ProgressSource.now()
        guard now - started >= 1, now - lastReport >= 0.25 else { return }
        lastReport = now
        let files = written.map { "\($0.path) \(ProgressSource.megabytes(UInt64($0.bytes))) MB" }.joined(separator: ", ")
        ProgressSource.writeError("\r\u{1B}[Ksimulate: \(files) written")
        shown = true
    }

    func clear() {
        if shown { ProgressSource.writeError("\r\u{1B}[K") }
        shown = false
    }
}
