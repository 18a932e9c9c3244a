// Scratch folders of one test process, removed when it exits: each run of the tests left its
// decompressed real captures and simulated runs behind in the temporary directory (about
// 900 MB a run), and a machine that runs them often filled its disk.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

private let scratchLock = NSLock()
nonisolated(unsafe) private var scratchFolders: [String] = []

/// `<temporary directory>/<prefix>-<pid>`, made on first use and removed, with everything in it,
/// when the test process exits.
public func processScratchDirectory(_ prefix: String) -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(getpid())", isDirectory: true)
    scratchLock.lock()
    if !scratchFolders.contains(url.path) {
        if scratchFolders.isEmpty { atexit { removeScratchFolders() } }
        scratchFolders.append(url.path)
    }
    scratchLock.unlock()
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

private func removeScratchFolders() {
    scratchLock.lock()
    let folders = scratchFolders
    scratchLock.unlock()
    for path in folders { try? FileManager.default.removeItem(atPath: path) }
}
