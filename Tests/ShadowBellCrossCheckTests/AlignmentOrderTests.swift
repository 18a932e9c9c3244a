import Foundation
import ShadowBellAnalysis
import ShadowBellCore
import ShadowBellFormats
import ShadowBellTestSupport
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
        let outDir = processScratchDirectory("shadowbell-align").appendingPathComponent(name)
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        let out = outDir.appendingPathComponent(file).path
        if FileManager.default.fileExists(atPath: out) { return out }
        // Written under a name of its own and renamed once whole: tests run in parallel, and
        // another may ask for the same file meanwhile.
        let partial = "\(out).\(UUID().uuidString).partial"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["zstd", "-q", "-d", "-f", plain + ".zst", "-o", partial]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "zstd failed on \(name)/\(file)")
        #expect(rename(partial, out) == 0, "\(out)")
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

/// Inputs read on one thread each (small files, console logs) are read side by side in the
/// first pass: the result is the one of reading them one after another, and errors come in the
/// order of the inputs whichever input failed first.
@Suite(.serialized) struct SideBySideFirstPassTests {
    /// The first batch of `source`, then a read failure.
    final class FailingAfter: EventSource {
        let inner: any EventSource
        let path: String
        var handed = 0
        init(_ inner: any EventSource, path: String) {
            self.inner = inner
            self.path = path
        }
        var summary: InputSummary { inner.summary }
        var readsOnOneThread: Bool { true }
        func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
            guard handed < 1 else { throw .readFailed(path: path, offset: UInt64(handed), reason: "cut") }
            handed += 1
            return try inner.nextBatch(into: &buffer)
        }
    }

    static func run(_ paths: [String], failing: Set<Int>, secondThread: Bool) -> (AnalysisResult, [InputError]) {
        let inputs = paths.enumerated().map { (i, path) in
            AnalysisInput(path: path) { () throws(InputError) -> any EventSource in
                let source = try openEventSource(path: path, index: UInt16(i))
                return failing.contains(i) ? FailingAfter(source, path: path) : source
            }
        }
        var options = AnalysisOptions()
        options.secondThread = secondThread
        do {
            return (try AnalysisSession.run(inputs: inputs, options: options), [])
        } catch {
            return (error.partial, error.errors)
        }
    }

    static func digest(_ r: AnalysisResult) -> String {
        let inputs = r.inputs.map { "\($0.path) \($0.events) \($0.skipped) \($0.malformed)" }
        let findings = r.findings.map { "\($0.kind) \($0.queue) \($0.start) \(String(describing: $0.end))" }
        let alignment = r.alignment.map { "\($0.input) \($0.method) \($0.offset) \($0.pairs)" }
        return (inputs + findings + alignment + r.notes).joined(separator: "\n")
    }

    @Test func sameResultSideBySideAndOneAfterAnother() throws {
        let paths = [
            try AlignmentOrderTests.plain("sysrq-hang", "qemu-trace.log"), try AlignmentOrderTests.plain("sysrq-hang", "console.log"),
            try AlignmentOrderTests.plain("sysrq-hang", "guest-ftrace.txt"),
        ]
        let (together, e1) = Self.run(paths, failing: [], secondThread: true)
        let (inTurn, e2) = Self.run(paths, failing: [], secondThread: false)
        #expect(e1.isEmpty && e2.isEmpty)
        #expect(!together.findings.isEmpty)
        #expect(Self.digest(together) == Self.digest(inTurn))
    }

    /// Compressed inputs too, when large: each is decoded on one thread (its decompression
    /// thread feeds it), so two large ones are read side by side; small ones in turn. Either
    /// way the result is the one of reading them in turn.
    @Test func compressedInputsSideBySideAsOneAfterAnother() throws {
        let dir = AlignmentOrderTests.realDirectory.appendingPathComponent("sysrq-hang")
        let paths = [
            dir.appendingPathComponent("qemu-trace.log.zst").path, dir.appendingPathComponent("console.log.zst").path,
            try AlignmentOrderTests.plain("sysrq-hang", "guest-ftrace.txt"),
        ]
        let opened = try paths.enumerated().map { i, path in try openEventSource(path: path, index: UInt16(i)) }
        let sideBySide = opened.map { $0.readsOnOneThread }
        #expect(sideBySide == [false, false, true])
        let (together, e1) = Self.run(paths, failing: [], secondThread: true)
        let (inTurn, e2) = Self.run(paths, failing: [], secondThread: false)
        #expect(e1.isEmpty && e2.isEmpty)
        #expect(!together.findings.isEmpty)
        #expect(Self.digest(together) == Self.digest(inTurn))

        // 9 MiB stored (random bytes, gzip): read side by side.
        let big = FileManager.default.temporaryDirectory.appendingPathComponent("shadowbell-sidebyside-\(getpid()).gz").path
        defer { unlink(big) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "head -c 9437184 /dev/urandom | gzip -1 > '\(big)'"]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let input = try ByteInput(path: big)
        #expect(input.compression != nil && input.readsSideBySide)
        #expect(try ByteInput(path: paths[0]).readsSideBySide == false)
        #expect(try ByteInput(path: paths[2]).readsSideBySide)
    }

    /// The first `limit` events of a source, then a read failure (a file cut short).
    final class CutShort: EventSource {
        let inner: any EventSource
        let path: String
        let limit: Int
        var handed = 0
        init(_ inner: any EventSource, path: String, after limit: Int) {
            self.inner = inner
            self.path = path
            self.limit = limit
        }
        var summary: InputSummary { inner.summary }
        var readsOnOneThread: Bool { inner.readsOnOneThread }
        func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
            guard handed < limit else { throw .readFailed(path: path, offset: UInt64(handed), reason: "cut") }
            guard try inner.nextBatch(into: &buffer) else { return false }
            if handed + buffer.count > limit { buffer.removeLast(handed + buffer.count - limit) }
            handed += buffer.count
            return true
        }
    }

    /// A QEMU log cut short after the stall began is still placed on the guest's clock by the
    /// pairs read before its end, and the stall is found as it is in the whole log (not as
    /// commands stuck on a clock of their own); the cut is reported as the input's error. The
    /// guest trace is read to its end: the second stall, after the controller's events end, is
    /// one `stuck-command` owning its commands (no controller event tells a mutual wait there).
    @Test(arguments: [true, false])
    func anInputCutShortIsPlacedByWhatWasRead(secondThread: Bool) throws {
        let guest = try AlignmentOrderTests.plain("hang-sq2", "guest-ftrace.txt")
        let qemu = try AlignmentOrderTests.plain("hang-sq2", "qemu-trace.log")
        let inputs = [guest, qemu].enumerated().map { (i, path) in
            AnalysisInput(path: path) { () throws(InputError) -> any EventSource in
                let source = try openEventSource(path: path, index: UInt16(i))
                return i == 1 ? CutShort(source, path: path, after: 110_000) : source
            }
        }
        var options = AnalysisOptions()
        options.secondThread = secondThread
        var result: AnalysisResult?
        var errors: [InputError] = []
        do {
            result = try AnalysisSession.run(inputs: inputs, options: options)
        } catch {
            result = error.partial
            errors = error.errors
        }
        let r = try #require(result)
        #expect(errors.map(\.path) == [qemu])
        #expect(r.alignment.first { $0.input == 1 }?.method == .estimated)
        let stall = r.findings.filter { $0.kind == .mutualWait && $0.queue.description == "nvme0:sq2" }
        #expect(stall.count == 1)
        let stuck = r.findings.filter { $0.kind == .stuckCommand }
        #expect(stuck.count == 1 && stuck.allSatisfy { $0.queue.description == "nvme0:sq2" })
        if let first = stall.first, let second = stuck.first {
            #expect(second.start > (first.end ?? .max))
            #expect(second.value("stuck_commands") == .int(16))
        }
    }

    @Test func errorsComeInTheOrderOfTheInputs() throws {
        let guest = try AlignmentOrderTests.plain("sysrq-hang", "guest-ftrace.txt")
        let qemu = try AlignmentOrderTests.plain("sysrq-hang", "qemu-trace.log")
        let console = try AlignmentOrderTests.plain("sysrq-hang", "console.log")
        // The first failing input is the larger one: read side by side, it fails last. Each
        // error is reported once (the second pass reads a failed input again up to its error).
        let paths = [qemu, guest, console]
        let (together, e1) = Self.run(paths, failing: [0, 2], secondThread: true)
        let (inTurn, e2) = Self.run(paths, failing: [0, 2], secondThread: false)
        #expect(e1.map(\.path) == [qemu, console])
        #expect(e1 == e2)
        #expect(Self.digest(together) == Self.digest(inTurn))
    }
}
