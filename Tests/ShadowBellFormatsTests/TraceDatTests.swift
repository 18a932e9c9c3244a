import Foundation
import ShadowBellTestSupport
import Testing
import ShadowBellCore
@testable import ShadowBellFormats

/// Events without their locations (a trace.dat locates records by byte offset, its report text
/// by line).
private func unlocated(_ events: [Event]) -> [Event] {
    events.map {
        var e = $0
        e.location = 0
        return e
    }
}

private func tracedat(_ name: String) -> String { fixturePath("tracedat/\(name)") }

/// trace.dat as ShadowBell reads it: the fixtures of Fixtures/tracedat (made by its
/// make-fixtures.sh with `trace-cmd extract`) and the real dat-hang-sq2 capture.
@Suite struct TraceDatTests {
    static let versions = ["two-buffers-v6.dat", "two-buffers-v7.dat", "two-buffers-v7-zstd.dat"]

    @Test func detectedByMagicWithItsVersion() throws {
        #expect(try detectFormat(path: tracedat("two-buffers-v6.dat")) == .binary(.traceDat(version: 6)))
        #expect(try detectFormat(path: tracedat("two-buffers-v7.dat")) == .binary(.traceDat(version: 7)))
        #expect(try detectFormat(path: tracedat("two-buffers-v7-zstd.dat")) == .binary(.traceDat(version: 7)))
        let bytes: [UInt8] = [0x17, 0x08, 0x44] + Array("tracing".utf8)
        #expect(bytes.withUnsafeBytes { FormatDetector.detect($0) } != .binary(.traceDat(version: 6)))
    }

    /// Markers on two CPUs in the top-level buffer and an instance, merged by time: the events of
    /// `trace-cmd report`'s text of the same file, in every file version.
    @Test(arguments: versions)
    func buffersAndCPUsMergeLikeTheReportText(_ name: String) throws {
        let dat = try drain(try openEventSource(path: tracedat(name), index: 3))
        let text = try drain(try openEventSource(path: tracedat("two-buffers.report.txt"), index: 3))
        #expect(dat.summary.format == .traceDat && dat.summary.locationUnit == .byteOffset)
        #expect(dat.summary.malformed == 0, "\(dat.summary.firstMalformed)")
        #expect(dat.summary.events == 7 && dat.summary.records == 8 && dat.summary.skipped == 1)
        #expect(text.summary.events == 7)
        // Report text has microseconds; the file has nanoseconds.
        let rounded = unlocated(dat.events).map {
            var e = $0
            e.time = ($0.time + 500) / 1000 * 1000
            return e
        }
        #expect(rounded == unlocated(text.events))
        #expect(dat.events.map(\.kind) == [
            .mmioDoorbell, .controllerShadowRead, .driverDoorbellUpdate, .controllerFetch,
            .controllerEventIdxWrite, .controllerCompletion, .controllerShadowRead,
        ])
        #expect(dat.events.map(\.time) == dat.events.map(\.time).sorted())
        let locations = dat.events.map(\.location)
        #expect(Set(locations).count == locations.count)
    }

    @Test func versionsGiveTheSameEvents() throws {
        let all = try Self.versions.map { try unlocated(drain(try openEventSource(path: tracedat($0), index: 0)).events) }
        #expect(all[0] == all[1] && all[1] == all[2])
    }

    /// The ring buffer overwrote events: the same data-loss mark as the report text's
    /// `sbfix: CPU:0 [EVENTS DROPPED]`, then the surviving 100 markers.
    @Test func lostEventsAreDataLossMarks() throws {
        let dat = try drain(try openEventSource(path: tracedat("lost-v7-zstd.dat"), index: 1))
        let text = try drain(try openEventSource(path: tracedat("lost.report.txt"), index: 1))
        #expect(dat.summary.dataLossMarkers == 1 && text.summary.dataLossMarkers == 1)
        #expect(dat.summary.events == 100 && text.summary.events == 100)
        let loss = try #require(dat.events.first)
        #expect(loss.kind == .dataLoss && loss.a == 0 && loss.b == 0 && loss.time == 0)
        #expect(unlocated([loss]) == unlocated(Array(text.events.prefix(1))))
    }

    /// A trace.dat stored with gzip, zstd or xz is detected by its decompressed magic and read
    /// as the file: the same events at the same byte offsets, shown under the compressed name.
    @Test(arguments: versions)
    func compressedFilesGiveTheEventsOfTheFile(_ name: String) throws {
        let plain = tracedat(name)
        let expected = try drain(try openEventSource(path: plain, index: 2))
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: plain)))
        for compression in [Compression.gzip, .zstd, .xz] {
            let path = TempFile.write(try compressed(original, compression), name: "\(name).\(compression)")
            defer { TempFile.remove(path) }
            #expect(try detectFormat(path: path) == detectFormat(path: plain), "\(compression)")
            let got = try drain(try openEventSource(path: path, index: 2))
            #expect(got.events == expected.events, "\(name) as \(compression)")
            #expect(got.summary.path == path && got.summary.format == .traceDat)
            #expect(got.summary.records == expected.summary.records && got.summary.malformed == 0)
        }
    }

    /// A pipe (`<(cat trace.dat)` is `/dev/fd/63`; `<(zstd -dc trace.dat.zst)`, or the
    /// compressed bytes themselves) is spooled and read as the file, opened directly or as one
    /// input of a run (read once, or copied for a second pass).
    @Test func aPipeIsReadAsTheFile() throws {
        let plain = tracedat("two-buffers-v7-zstd.dat")
        let expected = try drain(try openEventSource(path: plain, index: 0))
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: plain)))
        for bytes in [original, try compressed(original, .zstd)] {
            for way in ["direct", "read once", "read twice"] {
                let pipe = Pipe()
                let writer = Thread { writeAllRetrying(pipe.fileHandleForWriting, Data(bytes)) }
                writer.start()
                defer { try? pipe.fileHandleForReading.close() }
                let path = "/dev/fd/\(pipe.fileHandleForReading.fileDescriptor)"
                let source: any EventSource
                switch way {
                case "direct": source = try openEventSource(path: path, index: 0)
                default:
                    let inputs = TraceInput.open([path], readsTwice: way == "read twice")
                    try #require(inputs.count == 1)
                    #expect(inputs[0].format == .binary(.traceDat(version: 7)))
                    source = try inputs[0].open()
                }
                let got = try drain(source)
                #expect(got.events == expected.events, "\(way), \(bytes.count) bytes")
                #expect(got.summary.path == path)
            }
        }
    }

    @Test func truncatedFilesAreInputErrorsNamingTheFile() throws {
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: tracedat("two-buffers-v6.dat"))))
        for cut in [12, 100, 5000, 14000, 20480] {
            let path = TempFile.write(Array(whole.prefix(cut)), name: "cut-\(cut).dat")
            defer { TempFile.remove(path) }
            #expect(throws: InputError.self) { _ = try drain(try openEventSource(path: path, index: 0)) }
            do {
                _ = try drain(try openEventSource(path: path, index: 0))
            } catch {
                #expect(error.path == path)
                #expect(error.description.contains("trace-cmd"), "\(error)")
            }
        }
    }

    /// The pages are decoded on however many threads: the same events and summary.
    @Test(arguments: versions)
    func decodingThreadsGiveTheSameEvents(_ name: String) throws {
        var options = SourceOptions()
        options.decodeThreads = 1
        let one = try drain(try openEventSource(path: tracedat(name), index: 0, options: options))
        for threads in [2, 4] {
            options.decodeThreads = threads
            let many = try drain(try openEventSource(path: tracedat(name), index: 0, options: options))
            #expect(many.events == one.events)
            #expect(many.summary.records == one.summary.records && many.summary.skipped == one.summary.skipped)
        }
    }

    /// The v6 file's CPU data table follows `flyrecord\0`: CPU 0's offset, then its size.
    static func v6FirstPage(_ bytes: [UInt8]) throws -> Int {
        let tag = Array("flyrecord".utf8) + [0]
        let at = try #require((0...(bytes.count - tag.count)).first { Array(bytes[$0..<($0 + tag.count)]) == tag })
        return (0..<8).reduce(0) { $0 | Int(bytes[at + tag.count + $1]) << (8 * $1) }
    }

    static func replacing(_ bytes: [UInt8], at offset: Int, with value: UInt64, width: Int) -> [UInt8] {
        var b = bytes
        for i in 0..<width { b[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        return b
    }

    /// A page whose commit (its data size) is larger than the page: an error at that page's
    /// offset, not a read beyond it.
    @Test func aPageLargerThanItselfIsAnErrorAtItsOffset() throws {
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: tracedat("two-buffers-v6.dat"))))
        let page = try Self.v6FirstPage(whole)
        let path = TempFile.write(Self.replacing(whole, at: page + 8, with: 0x7FF_FFFF, width: 8), name: "commit.dat")
        defer { TempFile.remove(path) }
        #expect(throws: InputError.readFailed(
            path: path, offset: UInt64(page),
            reason: "trace-cmd file (trace.dat): CPU 0's ring-buffer page says it holds 134217727 bytes, more than its 4080; "
                + "check it with `trace-cmd dump --summary`")) { _ = try drain(try openEventSource(path: path, index: 0)) }
    }

    /// A file cut short: the error is where it ends (a v7 file's options follow its CPU data,
    /// and the error gave the offset the file points to, past its size), and says so.
    @Test(arguments: ["two-buffers-v6.dat", "two-buffers-v7.dat", "two-buffers-v7-zstd.dat"])
    func aFileCutShortIsAnErrorWhereItEnds(_ name: String) throws {
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: tracedat(name))))
        let cut = whole.count * 3 / 4
        let path = TempFile.write(Array(whole[..<cut]), name: "cut-\(name)")
        defer { TempFile.remove(path) }
        let failure = try #require(Self.readFailure(path, "a file cut short"))
        #expect(failure.offset <= UInt64(cut) && failure.reason.contains("cut short"), "\(failure)")
    }

    /// Where and why reading `path` to its end fails; nil (an issue recorded) when it is read
    /// whole or fails otherwise.
    static func readFailure(_ path: String, _ what: String) -> (offset: UInt64, reason: String)? {
        do {
            _ = try drain(try openEventSource(path: path, index: 0))
            Issue.record("read \(what)")
        } catch {
            guard case .readFailed(_, let offset, let reason) = error else {
                Issue.record("\(error)")
                return nil
            }
            return (offset, reason)
        }
        return nil
    }

    /// A compressed chunk that claims 2 GiB: refused before anything is allocated for it.
    @Test func aHugeCompressedChunkIsRefused() throws {
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: tracedat("two-buffers-v7-zstd.dat"))))
        // CPU 0's data (`trace-cmd dump --options`): at 8192, a chunk count, then the first
        // chunk's compressed and decompressed sizes.
        let path = TempFile.write(Self.replacing(whole, at: 8192 + 8, with: 0x7FFF_FFFF, width: 4), name: "chunk.dat")
        defer { TempFile.remove(path) }
        let failure = try #require(Self.readFailure(path, "a chunk of 2 GiB"))
        #expect(failure.offset == 8196 && failure.reason.contains("chunk of 2147483647 bytes"), "\(failure)")
    }

    /// Damaged files (four bytes overwritten at each of many places, in every version): each
    /// is read or refused with an input error, never a trap.
    @Test(arguments: versions + ["lost-v7-zstd.dat"])
    func damagedFilesAreReadOrRefused(_ name: String) throws {
        let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: tracedat(name))))
        var refused = 0
        for (n, at) in stride(from: 0, to: whole.count - 4, by: max(1, whole.count / 150)).enumerated() {
            let value: UInt64 = [0xFFFF_FFFF, 0x7FFF_FFFF, 0x8000_0000, 0x0000_1001][n % 4]
            let path = TempFile.write(Self.replacing(whole, at: at, with: value, width: 4), name: "damaged-\(n).dat")
            defer { TempFile.remove(path) }
            do {
                _ = try drain(try openEventSource(path: path, index: 0))
            } catch {
                refused += 1
                #expect(error.path == path)
            }
        }
        #expect(refused > 0)
    }
}

/// The real captures (QEMU 7.2 + Linux 6.1, QEMU 10.0 + Linux 6.12 with native multipath):
/// trace.dat as extracted in the guest and `trace-cmd report`'s text of it.
@Suite(.serialized) struct RealTraceDatTests {
    static let real = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("../shared/traces/real").standardizedFileURL

    static func counts(_ events: [Event]) -> [EventKind: Int] {
        var counts: [EventKind: Int] = [:]
        for e in events { counts[e.kind, default: 0] += 1 }
        return counts
    }

    /// `guest-trace-cmd-event-counts.txt`: `  27109 nvme_setup_cmd` lines.
    static func recordedCounts(_ run: URL) throws -> [String: Int] {
        let text = try String(contentsOf: run.appendingPathComponent("guest-trace-cmd-event-counts.txt"), encoding: .utf8)
        var counts: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let n = Int(parts[0]) { counts[String(parts[1])] = n }
        }
        return counts
    }

    @Test(arguments: ["dat-hang-sq2", "q10-k612-healthy"])
    func countsEqualTheReportTextOfTheSameFile(_ name: String) throws {
        let run = Self.real.appendingPathComponent(name)
        let datPath = run.appendingPathComponent("trace.dat").path
        try #require(FileManager.default.fileExists(atPath: datPath), "real traces expected in ../shared beside the checkout")
        let report = TempFile.directory.appendingPathComponent("\(name)-report.txt").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["zstd", "-q", "-d", "-f", run.appendingPathComponent("guest-trace-cmd-report.txt.zst").path, "-o", report]
        try p.run()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0)
        defer { TempFile.remove(report) }

        let dat = try drain(try openEventSource(path: datPath, index: 0))
        let text = try drain(try openEventSource(path: report, index: 0))
        #expect(dat.summary.malformed == 0 && text.summary.malformed == 0)
        #expect(dat.summary.records == text.summary.records - 1)  // the `cpus=2` line
        let recorded = try Self.recordedCounts(run)
        let expected: [EventKind: Int] = [
            .driverSubmit: try #require(recorded["nvme_setup_cmd"]),
            .driverComplete: try #require(recorded["nvme_complete_rq"]),
            .driverSQHead: try #require(recorded["nvme_sq"]),
        ]
        #expect(Self.counts(dat.events) == expected)
        #expect(Self.counts(text.events) == expected)
        // Same events; the text's times are the file's rounded to microseconds.
        try #require(dat.events.count == text.events.count)
        for (d, t) in zip(dat.events, text.events) {
            var rounded = d
            rounded.time = (d.time + 500) / 1000 * 1000
            rounded.location = t.location
            if rounded != t {
                Issue.record("trace.dat \(d) differs from report text \(t)")
                break
            }
        }
        // Create I/O SQ/CQ from opcode + cdw10: as many as the text trace's
        // `nvme_admin_create_sq/cq` lines (three bring-ups in dat-hang-sq2, two in q10-k612-healthy).
        var one = SourceOptions()
        one.decodeThreads = 1
        let sequential = try drain(try openEventSource(path: datPath, index: 0, options: one))
        #expect(sequential.events == dat.events)
        let creates = dat.events.filter { $0.flags & Event.createsQueueFlag != 0 }
        #expect(creates.count == ["dat-hang-sq2": 12, "q10-k612-healthy": 8][name])
        #expect(!creates.isEmpty && creates.allSatisfy { $0.c == 1023 && (1...2).contains($0.b) })
    }
}

/// libtraceevent's printk parser reads out of bounds on a format shorter than two bytes or a
/// line without ` : ` (a mutated trace.dat found it): only well-formed lines reach it.
@Suite struct TraceDatPrintkLineTests {
    @Test func onlyWellFormedPrintkLinesAreKept() {
        let text = Array("""
            0xffffffff8a2b1c40 : "nvme probe %d\\n"
            0x1 : ""
            0x2 : "a"
            0x3 : "ab"
            0xzz : "bad address"
            0x4 "no colon"
            0x5 : "no closing quote
            : "no address"
            0x6 : "x"y"

            """.utf8)
        let kept = String(decoding: TraceDatLayout.wellFormedPrintkLines(text), as: UTF8.self)
        #expect(kept == "0xffffffff8a2b1c40 : \"nvme probe %d\\n\"\n0x3 : \"ab\"\n0x6 : \"x\"y\"\n")
    }
}

/// Files the `tracedat` fuzz target found to crash ShadowBell (a trap on a chunk of no bytes; a
/// short printk format read out of bounds inside libtraceevent; a v6 size of 2^64 − 1 that
/// overflowed the offset; an event format cut inside a field line, on which libtraceevent
/// dereferenced a null pointer): each is read or refused with an input error now.
@Suite struct TraceDatFuzzFindingTests {
    /// Real formats pass the check; a cut or garbled one does not.
    @Test func onlyFormatsOfTheKernelsShapeReachLibtraceevent() {
        let good = Array("""
            name: nvme_sq
            ID: 1234
            format:
            \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
            \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

            \tfield:char disk[32];\toffset:8;\tsize:32;\tsigned:0;
            \tfield:int qid;\toffset:40;\tsize:4;\tsigned:1;

            print fmt: "nvme%d: %sqid=%d", REC->ctrl_id, REC->disk, REC->qid

            """.utf8)
        #expect(TraceDatLayout.isWellFormedFormat(good[...]))
        let cut = Array(good.prefix(120)) + [0x17, 0x08, 0x44, 0x00]
        #expect(!TraceDatLayout.isWellFormedFormat(cut[...]))
        let noPrint = Array(good.prefix(while: { $0 != 0x70 }))
        #expect(!TraceDatLayout.isWellFormedFormat(noPrint[...]))
        // A division in the arguments: libtraceevent evaluated `R/C` while parsing and died of
        // SIGFPE (found by the tracedat fuzz target). A `/` or `%` inside the format string or
        // a character literal is no division.
        let text = String(decoding: good, as: UTF8.self)
        let divides = text.replacingOccurrences(of: "REC->disk, REC->qid", with: "REC->disk, R/C->qid")
        #expect(!TraceDatLayout.isWellFormedFormat(Array(divides.utf8)[...]))
        #expect(!TraceDatLayout.isWellFormedFormat(Array(text.replacingOccurrences(of: "REC->qid\n", with: "REC->qid % 0\n").utf8)[...]))
        let quoted = text.replacingOccurrences(of: "\"nvme%d: %sqid=%d\"", with: "\"nvme%d/%d: %sqid=%d 100%%\"")
            .replacingOccurrences(of: "REC->qid\n", with: "REC->qid, '/'\n")
        #expect(TraceDatLayout.isWellFormedFormat(Array(quoted.utf8)[...]))
    }

    @Test(arguments: ["damaged-empty-chunks.dat", "damaged-printk.dat", "damaged-v6-sizes.dat", "damaged-format.dat"])
    func foundByFuzzingIsReadOrRefused(_ name: String) {
        var options = SourceOptions()
        options.decodeThreads = 2
        do throws(InputError) {
            let source = try TraceDatEventSource(path: tracedat(name), index: 0, options: options)
            var batch: [Event] = []
            while try source.nextBatch(into: &batch) {}
            #expect(source.summary.path.hasSuffix(name))
        } catch {
            #expect(error.description.contains(name))
        }
    }
}
