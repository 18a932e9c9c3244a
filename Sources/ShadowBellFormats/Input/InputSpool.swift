#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellCore

/// Inputs that can be read only once — standard input, a pipe, a process substitution
/// (`<(zstd -dc f)` is `/dev/fd/63`), a device — copied to a temporary file when the analysis
/// reads them twice (clock alignment of several inputs; `report`, `explain`, `convert --to
/// perfetto-json`), and read from that copy every time.
///
/// The copy is made once per process, whatever the number of passes or commands asking, and
/// holds the bytes as they arrived (compressed ones stay compressed; reading decompresses them
/// again). On Linux its name is removed as soon as it is created and it is read through
/// `/proc/self/fd/N`: nothing is left behind even if the process is killed. Elsewhere it is
/// removed at exit.
public final class InputSpool: @unchecked Sendable {
    public static let shared = InputSpool()

    private let lock = PthreadLock()
    /// Given path → the path its copy is read from.
    private var copies: [String: String] = [:]
    /// Given path → why it could not be copied (asked again, the same answer).
    private var failures: [String: InputError] = [:]
    /// Named copies to remove at exit (when `/proc/self/fd` is not there).
    private var named: [String] = []
    private var removesAtExit = false

    /// Whether `path` can be read only once: `-`, or an existing file that is neither a regular
    /// file nor a directory.
    public static func isOnceOnly(_ path: String) -> Bool {
        if path == "-" { return true }
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        let type = info.st_mode & S_IFMT
        return type != S_IFREG && type != S_IFDIR
    }

    /// The path to read `path` from: its copy, made now by reading it to its end if it was not
    /// made before. Throws what reading it threw (`.empty` for an input without a byte).
    public func copy(of path: String) throws(InputError) -> String {
        try copy(of: path, from: nil)
    }

    /// The path to read `path` from, copied from `input` (opened on `path`, nothing of it
    /// consumed but what detection looked at): for an input found to need a copy only once it
    /// was opened. The copy holds `input`'s content (decompressed, if it decompresses).
    public func copy(of path: String, reading input: ByteInput) throws(InputError) -> String {
        try copy(of: path, from: input)
    }

    private func copy(of path: String, from input: ByteInput?) throws(InputError) -> String {
        let key = Self.key(path)
        lock.lock()
        defer { lock.unlock() }
        if let done = copies[key] { return done }
        if let failure = failures[key] { throw failure }
        do {
            let copy = try makeCopy(of: path, from: input)
            copies[key] = copy
            return copy
        } catch {
            failures[key] = error
            throw error
        }
    }

    /// The copy of `path`, if one was made.
    public func existingCopy(of path: String) -> String? {
        let key = Self.key(path)
        lock.lock()
        defer { lock.unlock() }
        return copies[key]
    }

    /// The name and the identity (device, inode) of what it names now: `/dev/fd/63` names
    /// another pipe once the first is closed.
    private static func key(_ path: String) -> String {
        var info = stat()
        let found = path == "-" ? fstat(0, &info) : stat(path, &info)
        return found == 0 ? "\(path) \(info.st_dev):\(info.st_ino)" : path
    }

    private func makeCopy(of path: String, from input: ByteInput?) throws(InputError) -> String {
        let source: ByteInput
        if let input { source = input } else { source = try ByteInput(path: path, displayPath: path, decompress: false) }
        // Nothing is copied of what is no trace at all (`/dev/zero` would fill the disk).
        if let why = FormatDetector.refusal(FormatDetector.detectionPrefix(source)) {
            throw .unknownFormat(path: path, detail: why)
        }
        let directory = temporaryFileDirectory()
        var template = Array("\(directory)/shadowbell-spool-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw .cannotOpen(
                path: path,
                reason: "it can be read only once and must be read twice; a copy in \(directory) could not be made: "
                    + String(cString: strerror(errno)))
        }
        let name = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        do throws(InputError) {
            try writeContent(of: source, to: fd) { error in
                .readFailed(
                    path: path, offset: source.offset,
                    reason: "cannot copy it to \(name) for a second pass: " + String(cString: strerror(error)))
            }
        } catch {
            close(fd)
            unlink(name)
            throw error
        }
        #if os(Linux)
            let procPath = "/proc/self/fd/\(fd)"
            let probe = open(procPath, O_RDONLY | O_CLOEXEC)
            if probe >= 0 {
                close(probe)
                unlink(name)
                return procPath  // `fd` stays open until the process ends
            }
        #endif
        close(fd)
        named.append(name)
        if !removesAtExit {
            removesAtExit = true
            atexit { InputSpool.shared.removeNamedCopies() }
        }
        return name
    }

    private func removeNamedCopies() {
        for name in named { unlink(name) }
        named.removeAll()
    }
}

/// Writes every remaining chunk of `input` (its content) to `fd`; a failed write throws
/// `failure(errno)`.
func writeContent(of input: ByteInput, to fd: Int32, failure: (Int32) -> InputError) throws(InputError) {
    while let chunk = try input.nextChunk() {
        var done = 0
        while done < chunk.count {
            let n = write(fd, chunk.baseAddress! + done, chunk.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw failure(errno)
            }
            done += n
        }
    }
}
