// Pipes to and from child processes in tests. Foundation's `readDataToEndOfFile` and
// `FileHandle.write` trap on EINTR, which a SIGCHLD of another test's child process can cause:
// these retry it. Shared by every test target that runs a process.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Everything a child process writes to `handle`, retrying reads a signal interrupted
/// (Foundation's `readDataToEndOfFile` traps on EINTR, which a SIGCHLD of another test's child
/// process can cause).
public func readAllRetrying(_ handle: FileHandle) -> Data {
    var data = Data()
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    let fd = handle.fileDescriptor
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 {
            data.append(contentsOf: chunk[..<n])
        } else if n == 0 || errno != EINTR {
            return data
        }
    }
}

/// Writes all of `data` to `handle`, retrying writes a signal interrupted, then closes it.
public func writeAllRetrying(_ handle: FileHandle, _ data: Data) {
    let fd = handle.fileDescriptor
    data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n > 0 {
                done += n
            } else if n < 0 && errno != EINTR {
                return
            }
        }
    }
    try? handle.close()
}

/// A pipe read to its end on a thread of its own.
public final class DrainedOutput: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    public init(_ handle: FileHandle) {
        Thread { [self] in
            data = readAllRetrying(handle)
            done.signal()
        }.start()
    }

    /// The bytes, once the writer has closed the pipe.
    public func wait() -> Data {
        done.wait()
        return data
    }
}
