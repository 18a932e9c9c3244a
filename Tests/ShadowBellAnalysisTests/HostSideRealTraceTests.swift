import Foundation
import ShadowBellCore
import ShadowBellFormats
import Testing

@testable import ShadowBellAnalysis

/// The real hung and healthy VMs in ../shared/traces/real, analysed from what a host operator
/// has: the QEMU log alone, or with the guest console. Hangs are named on the right queue;
/// healthy runs, deliberate resets included, give no error or warning in any subset of inputs.
@Suite(.serialized) struct HostSideRealTraceTests {
    static let realDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/traces/real")

    /// One run's files in a fresh temporary folder, `.zst` ones decompressed with `zstd`.
    struct Run {
        let directory: URL
        let qemu: String, guest: String, console: String

        init(_ name: String) throws {
            let source = realDirectory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: source.path) else {
                Issue.record("real traces missing at \(source.path): they ship in ../shared beside the checkout")
                throw CancellationError()
            }
            directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("shadowbell-hostside-\(name)-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            var paths: [String] = []
            for file in ["qemu-trace.log", "guest-ftrace.txt", "console.log"] {
                let plain = source.appendingPathComponent(file)
                if FileManager.default.fileExists(atPath: plain.path) {
                    paths.append(plain.path)
                    continue
                }
                let target = directory.appendingPathComponent(file).path
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                p.arguments = ["zstd", "-q", "-d", "-f", source.appendingPathComponent(file + ".zst").path, "-o", target]
                try p.run()
                p.waitUntilExit()
                #expect(p.terminationStatus == 0, "zstd failed on \(file) of \(name)")
                paths.append(target)
            }
            (qemu, guest, console) = (paths[0], paths[1], paths[2])
        }

        func remove() { try? FileManager.default.removeItem(at: directory) }

        func analyze(_ paths: [String], clockOffsets: [Int: Int64] = [:]) throws -> AnalysisResult {
            var options = AnalysisOptions()
            options.clockOffsets = clockOffsets
            let inputs = paths.enumerated().map { (i, path) in
                AnalysisInput(path: path) { () throws(InputError) -> any EventSource in
                    try openEventSource(path: path, index: UInt16(i))
                }
            }
            return try AnalysisSession.run(inputs: inputs, options: options)
        }
    }

    static func sq(_ qid: UInt16) -> QueueKey { QueueKey(controller: 0, qid: qid, type: .sq) }

    /// Findings of warning or error severity on `queue`, or warnings naming it as a candidate.
    static func loud(_ r: AnalysisResult, on queue: QueueKey) -> [Finding] {
        r.findings.filter { f in
            guard f.severity >= .warning else { return false }
            if f.queue == queue { return true }
            if f.kind == .unattributedStall, case .array(let names)? = f.value("candidates") {
                return names.contains(.string(queue.description))
            }
            return false
        }
    }

    static func seconds(_ text: Substring) -> Int64? {
        let parts = text.split(separator: ".")
        guard parts.count == 2, let s = Int64(parts[0]), let frac = Int64(parts[1]), parts[1].count <= 9 else { return nil }
        var ns = frac
        for _ in parts[1].count..<9 { ns *= 10 }
        return s * 1_000_000_000 + ns
    }

    /// The console's clock offset, read off the first `timeout, aborting` line and the QEMU
    /// log's first ABORT admin command (the kernel logs the line, then sends the command).
    static func consoleOffset(qemu: String, console: String) throws -> Int64 {
        let log = try String(contentsOfFile: qemu, encoding: .utf8)
        let abortLine = try #require(log.split(separator: "\n").first { $0.contains("opc 0x8 ") })
        let at = try #require(abortLine.firstIndex(of: "@"))
        let colon = try #require(abortLine[at...].firstIndex(of: ":"))
        let abort = try #require(seconds(abortLine[abortLine.index(after: at)..<colon]))
        let text = try String(contentsOfFile: console, encoding: .utf8)
        let needle = try #require(text.range(of: "timeout, aborting"))
        let open = try #require(text[..<needle.lowerBound].lastIndex(of: "["))
        let close = try #require(text[open...].firstIndex(of: "]"))
        let stamp = text[text.index(after: open)..<close].trimmingCharacters(in: .whitespaces)
        let guest = try #require(seconds(Substring(stamp)))
        return abort - guest
    }

    @Test(arguments: ["hang-sq2", "dat-hang-sq2"])
    func qemuLogAloneNamesSQ2ForBothStalls(_ name: String) throws {
        let run = try Run(name)
        defer { run.remove() }
        let r = try run.analyze([run.qemu])
        let onSQ2 = Self.loud(r, on: Self.sq(2))
        #expect(onSQ2.count == 2, "\(name): \(onSQ2.map(\.message))")
        let first = try #require(onSQ2.first)
        #expect(first.kind == .mutualWait && first.severity == .error && first.inferred)
        #expect(first.value("inferred_from") == .string("host-side"))
        #expect(first.resolution == .queueDeleted)
        let second = try #require(onSQ2.dropFirst().first)
        #expect(second.severity >= .warning && second.start > (first.end ?? .max))
        #expect(Self.loud(r, on: Self.sq(1)).isEmpty, "\(name): \(Self.loud(r, on: Self.sq(1)).map(\.message))")
        if name == "hang-sq2" {
            // The last SQ2 burst ends with the shadow read at line 94326; del_sq 2 at 318.655511.
            #expect(first.start == 1_795_663_288_047_239_000)
            #expect(first.end == 1_795_663_318_655_511_000)
            #expect(first.evidence.contains { $0.role == "controller-wait" && $0.location.value == 94326 })
            #expect(second.kind == .mutualWait && second.value("eventidx_unwritten_since_dbbuf_config") == .bool(true))
        }
    }

    /// Tracing switched on at run time (HMP `trace-event pci_nvme_* on`): the log begins after
    /// the queues' creation and the Doorbell Buffer Config, sizes unknown.
    @Test func aQemuLogAttachedMidRunStillNamesSQ2() throws {
        let run = try Run("hang-sq2")
        defer { run.remove() }
        let lines = try String(contentsOfFile: run.qemu, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let cut = run.directory.appendingPathComponent("qemu-midrun.log").path
        try lines.dropFirst(49_999).joined(separator: "\n").write(toFile: cut, atomically: false, encoding: .utf8)
        let r = try run.analyze([cut])
        let onSQ2 = Self.loud(r, on: Self.sq(2))
        #expect(onSQ2.count == 2 && onSQ2.allSatisfy { $0.kind == .mutualWait && $0.severity == .error })
        #expect(onSQ2.first?.start == 1_795_663_288_047_239_000)
        #expect(Self.loud(r, on: Self.sq(1)).isEmpty)
    }

    /// A log attached inside the first hang, 8 s before its ABORTs: sq2 shows no event before
    /// the guest deletes it, and the give-up fell on sq1's gap of a few milliseconds (an error on
    /// the wrong queue, where only a queue silent that briefly was seen). sq2, silent since the
    /// log began, is the give-up's queue.
    @Test func aQemuLogAttachedInsideTheHangNamesSQ2() throws {
        let run = try Run("hang-sq2")
        defer { run.remove() }
        let lines = try String(contentsOfFile: run.qemu, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let at = try #require(lines.firstIndex { $0.contains("@1795663295.") })
        let cut = run.directory.appendingPathComponent("qemu-inside.log").path
        try lines[at...].joined(separator: "\n").write(toFile: cut, atomically: false, encoding: .utf8)
        let r = try run.analyze([cut])
        let onSQ2 = Self.loud(r, on: Self.sq(2))
        #expect(onSQ2.count == 2 && onSQ2.allSatisfy { $0.kind == .mutualWait && $0.severity == .error }, "\(r.findings.map(\.message))")
        #expect(onSQ2.first?.explanation.contains("No event of sq2 is in the trace before the guest deleted it") == true)
        #expect(Self.loud(r, on: Self.sq(1)).isEmpty && r.undecided.isEmpty, "\(r.undecided)")
    }

    /// hang-sq2's QEMU log with sq2's last shadow read damaged (a warning spliced into the line)
    /// and sq1's last 6.8 ms before the first ABORT lost: sq1, silent that briefly before ABORTs
    /// that came 15.2 s before the reset (the guest's I/O timeout), was the give-up's candidate
    /// (a QEMU 10 hang's log put an error on it so). It cannot hold a command that timed out:
    /// the give-up is one whose queue is not in the inputs, undecided.
    @Test func aGiveUpIsNotPutOnAQueueSilentForATinyPartOfTheTimeout() throws {
        let run = try Run("hang-sq2")
        defer { run.remove() }
        var lines = try String(contentsOfFile: run.qemu, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let firstAbort = try #require(lines.firstIndex { $0.contains("pci_nvme_admin_cmd") && $0.contains(" opc 0x8 ") })
        let lastLook = try #require(lines[..<firstAbort].lastIndex { $0.contains("@1795663303.419998:pci_nvme_shadow_doorbell_sq sqid 1 ") })
        let sq1 = { (line: String) in line.contains("sqid 1 ") || line.contains("cqid 1 ") }
        lines = Array(lines[..<(lastLook + 1)]) + lines[(lastLook + 1)..<firstAbort].filter { !sq1($0) } + lines[firstAbort...]
        let damaged = try #require(lines.firstIndex { $0.hasPrefix("8508@1795663288.047239:pci_nvme_shadow_doorbell_sq sqid 2 ") })
        let line = lines[damaged]
        lines[damaged] = String(line.prefix(40)) + "qemu-system-x86_64: warning: x"
        lines.insert(String(line.dropFirst(40)), at: damaged + 1)
        let cut = run.directory.appendingPathComponent("qemu-damaged.log").path
        try lines.joined(separator: "\n").write(toFile: cut, atomically: false, encoding: .utf8)
        let r = try run.analyze([cut])
        #expect(Self.loud(r, on: Self.sq(1)).isEmpty, "\(r.findings.map(\.message))")
        #expect(r.undecided.contains { $0.contains("no queue had been silent before long enough to hold what timed out") }, "\(r.undecided)")
    }

    /// A lost-events marker inside a give-up told from the guest trace's ABORTs (hang-sq2's
    /// guest trace alone): the finding spans from its oldest command's submission, and the
    /// marker there leaves it uncertain (it said nothing); the other give-up's stays certain.
    @Test func lostEventsInsideAGiveUpMakeItUncertain() throws {
        let run = try Run("hang-sq2")
        defer { run.remove() }
        var lines = try String(contentsOfFile: run.guest, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let at = try #require(lines.firstIndex { $0.contains(" 30.0") && $0.contains("nvme_") })
        lines.insert("CPU:1 [LOST 500 EVENTS]", at: at)
        let lost = run.directory.appendingPathComponent("guest-lost.txt").path
        try lines.joined(separator: "\n").write(toFile: lost, atomically: false, encoding: .utf8)
        let onSQ2 = Self.loud(try run.analyze([lost]), on: Self.sq(2))
        try #require(onSQ2.count == 2, "\(onSQ2.map(\.message))")
        #expect(onSQ2[0].uncertainty.contains("the recorder lost events while the commands were outstanding"), "\(onSQ2[0].uncertainty)")
        #expect(!onSQ2[1].uncertainty.contains { $0.hasPrefix("the recorder lost events") }, "\(onSQ2[1].uncertainty)")
    }

    @Test func sysrqHangIsOnSQ1AndNothingOnSQ2() throws {
        let run = try Run("sysrq-hang")
        defer { run.remove() }
        let r = try run.analyze([run.qemu])
        let onSQ1 = Self.loud(r, on: Self.sq(1))
        #expect(onSQ1.count == 2)
        #expect(onSQ1.allSatisfy { $0.kind == .mutualWait && $0.severity == .error && $0.inferred })
        #expect(Self.loud(r, on: Self.sq(2)).isEmpty, "\(Self.loud(r, on: Self.sq(2)).map(\.message))")
    }

    @Test func sysrqHangGuestTraceAloneTellsTheStallItBeganIn() throws {
        // The guest trace begins 30.45 s in, inside the first stall (the SysRq dump consumed the
        // ring buffer): the driver's ABORTs of commands submitted before it, then the reset's
        // Delete SQ, are that stall; the second is told by its commands and their ABORTs.
        let run = try Run("sysrq-hang")
        defer { run.remove() }
        let r = try run.analyze([run.guest])
        let onSQ1 = Self.loud(r, on: Self.sq(1))
        try #require(onSQ1.count == 2, "\(r.findings.map(\.message))")
        #expect(onSQ1.allSatisfy { $0.kind == .stuckCommand && $0.severity == .error && !$0.inferred })
        // None of its aborted commands' submissions is in the trace: it is dated one measured
        // I/O timeout (first ABORT 30.455579 to reset 45.527430) before its first ABORT.
        #expect(onSQ1[0].start == 30_455_579_000 - (45_527_430_000 - 30_455_579_000) && onSQ1[0].end == 45_527_430_000)
        #expect(onSQ1[0].explanation.contains("The give-up is dated that I/O timeout (about 15.071 s) before the first ABORT."))
        #expect(onSQ1[0].value("kernel_tags") == .array([962, 963, 964, 965].map { .int($0) }))
        #expect(onSQ1[0].explanation.contains("were not submitted within the trace"))
        #expect(onSQ1[1].start == 45_581_542_000 && onSQ1[1].value("stuck_commands") == .int(16) && onSQ1[1].value("commands_cancelled") == .int(16))
        #expect(onSQ1[1].explanation.contains("the I/O timeout in force is about 15.0"))
        #expect(Self.loud(r, on: Self.sq(2)).isEmpty)
    }

    @Test func sysrqHangConsoleAloneTellsTheTimeoutInForce() throws {
        // Its kernel ran with io_timeout=15: each give-up's reset came about 15 s after its
        // first abort, and the story says so rather than only the 30 s default.
        let run = try Run("sysrq-hang")
        defer { run.remove() }
        let r = try run.analyze([run.console])
        let onSQ1 = Self.loud(r, on: Self.sq(1))
        try #require(onSQ1.count == 2, "\(r.findings.map(\.message))")
        for f in onSQ1 {
            #expect(f.value("inferred_from") == .string("guest-timeouts"))
            #expect(f.explanation.contains("nvme_core.io_timeout: about 15."), "\(f.explanation)")
        }
    }

    @Test func hangSQ2WithTheConsoleOnTheQemuClockNamesSQ2Twice() throws {
        let run = try Run("hang-sq2")
        defer { run.remove() }
        let offset = try Self.consoleOffset(qemu: run.qemu, console: run.console)
        let r = try run.analyze([run.qemu, run.console], clockOffsets: [1: offset])
        let errors = r.findings.filter { $0.severity == .error }
        #expect(errors.count == 2)
        #expect(errors.allSatisfy { $0.kind == .mutualWait && $0.queue == Self.sq(2) })
        #expect(errors.allSatisfy { f in
            if case .array(let rules)? = f.value("attribution") { return rules.contains(.string("guest-console")) }
            return false
        })
        #expect(errors.allSatisfy { $0.evidence.contains { $0.role == "guest-timeout" } })
        #expect(Self.loud(r, on: Self.sq(1)).isEmpty)
    }

    @Test(arguments: ["single", "mq2", "shared1q", "smallq", "q10-k612-healthy"])
    func healthyRunsStayCleanInEverySubset(_ name: String) throws {
        let run = try Run(name)
        defer { run.remove() }
        let subsets = [[run.qemu], [run.qemu, run.guest], [run.qemu, run.console], [run.qemu, run.guest, run.console],
                       [run.guest, run.console]]
        for subset in subsets {
            let r = try run.analyze(subset)
            let loud = r.findings.filter { $0.severity >= .warning }
            #expect(loud.isEmpty, "\(name) \(subset.map { ($0 as NSString).lastPathComponent }): \(loud.map(\.message))")
            #expect(r.undecided.isEmpty, "\(name) \(subset.map { ($0 as NSString).lastPathComponent }): \(r.undecided)")
        }
    }

    /// A QEMU log without the guest's ABORTs (the log rotated after them, lines lost there, or
    /// `-trace` without the admin commands) passed hang-sq2 as healthy, exit 0 without a word:
    /// the host-side give-up opens at an ABORT. sq2's silence while sq1 ran, its teardown and
    /// the commands resubmitted on it right after leave the run undecided, naming sq2; sq1,
    /// whose queue the teardown found running, is not named.
    @Test(arguments: [true, false])
    func aQemuLogWithoutTheGuestsAbortsIsUndecidedOnSQ2(fromTheHang: Bool) throws {
        let run = try Run("hang-sq2")
        defer { run.remove() }
        var lines = try String(contentsOfFile: run.qemu, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        lines.removeAll { $0.contains("pci_nvme_admin_cmd") && $0.contains(" opc 0x8 ") }
        // Or a log that begins inside the first hang (sq2 silent since 1795663288.047 s), after
        // its ABORTs: sq2 shows no event before its deletion.
        if fromTheHang, let at = lines.firstIndex(where: { $0.contains("@1795663310.") }) { lines.removeFirst(at) }
        let cut = run.directory.appendingPathComponent("qemu-no-aborts.log").path
        try lines.joined(separator: "\n").write(toFile: cut, atomically: false, encoding: .utf8)
        let r = try run.analyze([cut])
        #expect(!r.undecided.isEmpty && r.undecided.allSatisfy { $0.hasPrefix("nvme0:sq2: silent for") }, "\(r.undecided)")
        #expect(r.findings.allSatisfy { $0.severity < .error }, "\(r.findings.map(\.message))")
        #expect(r.notes.contains { $0.hasPrefix("nvme0:sq2: the controller did not look at it for") })
    }
}
