import Foundation
import ShadowBellAnalysis
import ShadowBellCore
import ShadowBellFormats
import Testing

/// Alignment places an input on the reference clock without reordering it: every real run's
/// QEMU log, mapped onto its guest trace's clock, reaches the analyzer in its own order.
@Suite(.serialized) struct AlignmentOrderTests {
    static let realDirectory: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { break }
        }
        return url.deletingLastPathComponent().appendingPathComponent("shared/traces/real")
    }()

    /// `name/file` decompressed into a temporary folder (or the plain file when it ships plain).
    static func plain(_ name: String, _ file: String) throws -> String {
        let dir = realDirectory.appendingPathComponent(name)
        let plain = dir.appendingPathComponent(file).path
        if FileManager.default.fileExists(atPath: plain) { return plain }
        let outDir = FileManager.default.temporaryDirectory.appendingPathComponent("shadowbell-align-\(getpid())/\(name)")
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        let out = outDir.appendingPathComponent(file).path
        if FileManager.default.fileExists(atPath: out) { return out }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["zstd", "-q", "-d", "-f", plain + ".zst", "-o", out]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "zstd failed on \(name)/\(file)")
        return out
    }

    @Test(arguments: ["single", "mq2", "shared1q", "smallq", "q10-k612-healthy", "hang-sq2", "dat-hang-sq2", "sysrq-hang"])
    func noInputIsReorderedByAlignment(_ name: String) throws {
        let paths = [try Self.plain(name, "qemu-trace.log"), try Self.plain(name, "guest-ftrace.txt")]
        let inputs = paths.enumerated().map { (i, path) in
            AnalysisInput(path: path) { () throws(InputError) -> any EventSource in
                try openEventSource(path: path, index: UInt16(i))
            }
        }
        var last: [UInt16: Int64] = [:]
        var inversions = 0
        let result: AnalysisResult
        do {
            result = try AnalysisSession.run(inputs: inputs, options: AnalysisOptions()) { e, _ in
                // The QEMU log (input 0) is the one mapped onto the guest trace's clock.
                guard e.source == 0 else { return }
                if let previous = last[0], e.time < previous { inversions += 1 }
                last[0] = e.time
            }
        } catch {
            result = error.partial
        }
        let qemu = result.alignment.first { $0.input == 0 }
        #expect(qemu?.method == .estimated, "\(name): the QEMU log is aligned by causal pairs")
        #expect(result.alignment.first { $0.input == 1 }?.method == .reference)
        #expect(inversions == 0, "\(name): \(inversions) QEMU events reordered by the clock map")
        #expect(last[0] != nil)
    }
}
