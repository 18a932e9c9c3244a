import Foundation
import Testing
import ShadowBellCore
@testable import ShadowBellFormats

private let bootLine = "[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)\n"
private let delimiter = "---------------------------------"

private func setup(_ cmdid: Int, qid: Int = 1) -> String {
    "nvme_setup_cmd: nvme0: disk=nvme0n1, qid=\(qid), cmdid=\(cmdid), nsid=1, flags=0x0, meta=0x0, "
        + "cmd=(nvme_cmd_read slba=0, len=15, ctrl=0x0, dsmgmt=0, reftag=0)"
}

private func complete(_ cmdid: Int, qid: Int = 1) -> String {
    "nvme_complete_rq: nvme0: disk=nvme0n1, qid=\(qid), cmdid=\(cmdid), res=0x0, retries=0, flags=0x0, status=0x0"
}

private func times(_ events: [Event], _ kind: EventKind) -> [Int64] {
    events.filter { $0.kind == kind }.map(\.time)
}

@Suite struct ConsoleFtraceDumpTests {
    /// A SysRq-z dump with fio's progress text and another kernel message in it, a lost-events
    /// line, delay marks, and messages before and after.
    @Test func dumpInterleavedWithOtherOutputIsPlacedAndMergedInTimeOrder() throws {
        let text =
            bootLine
            + "[    5.000000] nvme nvme0: 2/0/0 default/read/poll queues\n"  // 2
            + "Jobs: 1 (f=1): [m(1)][4.9%][eta 00m:58s]\r[   12.000000] nvme nvme0: I/O 5 QID 1 timeout, aborting\r\n"  // 3
            + "[   20.000000] sysrq: Dump ftrace buffer\n"  // 4
            + "[   20.000100] Dumping ftrace buffer:\n"  // 5
            + "[   20.000200] \(delimiter)\n"  // 6
            + "[   20.000300]      fio-157       0..... 1000000us : \(setup(5))\n"  // 7
            + "[   20.000300] CPU:1 [LOST 42 EVENTS]\n"  // 8
            + "[   20.000300]   <idle>-0         1d.h1. 8000000us!: nvme_sq: nvme0: disk=nvme0n1, qid=1, head=1, tail=1\n"  // 9
            + "Jobs: 1 (f=1): [m(1)][5.0%]\r[   20.000400]   <idle>-0         1d.h1. 8000010us : \(complete(5))\n"  // 10
            + "[   20.000500] nvme nvme0: Abort status: 0x0\n"  // 11
            + "[   20.000600]     init-152       1..... 9000000us : tracing_mark_write: === GUEST: echo z\n"  // 12
            + "[   20.000700] kworker/-9         0d.s1. 9000001us : block_rq_complete: 259,0 R () 0 + 16 [0]\n"  // 13
            + "[   20.000800] \(delimiter)\n"  // 14
            + "[   21.000000] nvme nvme0: I/O 5 QID 1 timeout, reset controller\n"  // 15
        let d = try decode(text)
        #expect(d.summary.format == .consoleLog)
        #expect(d.summary.malformed == 0, "\(d.summary.firstMalformed)")
        // The last event line (9.000001 s on the ring buffer) sits at the `Dumping` line's stamp.
        let offset: Int64 = 20_000_100_000 - 9_000_001_000
        #expect(
            d.events.map(\.location) == [2, 3, 7, 8, 9, 10, 11, 15])
        #expect(
            d.events.map(\.time) == [
                5_000_000_000, 12_000_000_000, 1_000_000_000 + offset, 1_000_000_000 + offset,
                8_000_000_000 + offset, 8_000_010_000 + offset, 20_000_500_000, 21_000_000_000,
            ])
        #expect(
            d.events.map(\.kind) == [
                .guestMessage, .guestMessage, .driverSubmit, .dataLoss, .driverSQHead, .driverComplete,
                .guestMessage, .guestMessage,
            ])
        let submit = try #require(d.events.first { $0.kind == .driverSubmit })
        #expect(submit.qid == 1 && submit.a == 5 && submit.source == 3 && submit.controller == 0)
        let loss = try #require(d.events.first { $0.kind == .dataLoss })
        #expect(loss.a == 42 && loss.b == 1)
        #expect(d.summary.dataLossMarkers == 1 && d.summary.lostEvents == 42)
        #expect(d.summary.outOfOrder == 0)
        #expect(d.summary.events == 7 && d.summary.records == 15)
        // Boot line, sysrq line, header, two delimiters, the marker and the block event.
        #expect(d.summary.skipped == 7)
    }

    /// A small console with a dump, and the same console with its stamps rewritten
    /// (`pattern` → `template`, line by line), both decoded.
    private func reformatted(_ pattern: String, _ template: String) throws -> (text: String, plain: Decoded, other: Decoded) {
        let text = bootLine + "[    5.000000] nvme nvme0: 2/0/0 default/read/poll queues\n"
            + "[   20.000100] Dumping ftrace buffer:\n[   20.000200] \(delimiter)\n"
            + "[   20.000300]      fio-157       0..... 1000000us : \(setup(5))\n"
            + "[   20.000800] \(delimiter)\n[   21.000000] nvme nvme0: I/O 5 QID 1 timeout, reset controller\n"
        let stamp = try NSRegularExpression(pattern: pattern, options: .anchorsMatchLines)
        let other = stamp.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: template)
        return (other, try decode(text), try decode(other))
    }

    /// `dmesg -d` prints each stamp with the time since the previous message
    /// (`[   20.000100 <    0.000100>] `): the file was refused as no kernel log. The same
    /// console in that form is detected and reads the same.
    @Test func dmesgDeltaColumnReadsAsTheStamp() throws {
        let (withDelta, plain, delta) = try reformatted(#"^(\[ *[0-9]+\.[0-9]{6})\]"#, "$1 <    0.000100>]")
        #expect(withDelta.contains("[   20.000300 <    0.000100>]      fio-157"))
        let path = TempFile.write(withDelta)
        defer { TempFile.remove(path) }
        #expect(try detectFormat(path: path) == .consoleLog)
        #expect(delta.summary.malformed == 0, "\(delta.summary.firstMalformed)")
        #expect(delta.events.count == 3 && delta.events == plain.events)
    }

    /// `journalctl -k -o short-monotonic` puts `HOST kernel: ` between the stamp and the text:
    /// the dump's closing delimiter went unseen (a note said the console stopped inside the
    /// dump, and a `dmesg` listing of it later in the log counted its commands twice). The same
    /// console in that form reads the same.
    @Test func journalctlMonotonicFormReadsAsTheConsole() throws {
        let (journal, plain, read) = try reformatted(#"^(\[ *[0-9]+\.[0-9]{6}\]) "#, "$1 vm-7 kernel: ")
        #expect(journal.contains("[   20.000800] vm-7 kernel: ----"))
        #expect(read.summary.format == .consoleLog)
        #expect(read.summary.endsInsideDump == nil && plain.summary.endsInsideDump == nil)
        #expect(read.events.count == 3 && read.events == plain.events)
    }

    /// A console captured or copied from inside a dump (its `Dumping ftrace buffer:` line and
    /// what came before left out) was refused as holding no NVMe event. Its dump lines are read
    /// as a dump whose first line's stamp bounds them, and the input says where it began.
    @Test func aConsoleBeginningInsideItsDumpIsReadAsOne() throws {
        let text = "[   20.000300]      fio-157       0..... 1000000us : \(setup(5))\n"
            + "[   20.000400]      fio-157       0..... 1000010us : \(setup(6))\n"
            + "[   20.000500]   <idle>-0         1d.h1. 1000020us : \(complete(5))\n"
            + "[   20.000800] \(delimiter)\n[   21.000000] nvme nvme0: I/O 6 QID 1 timeout, aborting\n"
            // A `dmesg` listing of the dump's tail after it: skipped, as after any dump.
            + "[   20.000400]      fio-157       0..... 1000010us : \(setup(6))\n"
        let d = try decode(text)
        #expect(d.summary.format == .consoleLog)
        #expect(d.summary.dumpWithoutStart == 1 && d.summary.endsInsideDump == nil)
        #expect(d.events.map(\.kind) == [.driverSubmit, .driverSubmit, .driverComplete, .guestMessage])
        // The last dumped event (1.000020 s on the ring) sits at the first line's stamp.
        #expect(d.events.map(\.time) == [20_000_280_000, 20_000_290_000, 20_000_300_000, 21_000_000_000])
    }

    /// A dump printed without printk stamps (`printk.time=0`, `dmesg -t`) is ftrace text in the
    /// latency format between `Dumping ftrace buffer:` and its delimiters. Cut short after a
    /// hang's first submissions it passed as healthy without a word; the stamped form said the
    /// dump has no end. Read whole, in segments of a few lines (in parallel), and on one thread.
    @Test(arguments: [SourceOptions.defaultDecodeThreads, 1])
    func aDumpWithoutStampsCutShortSaysSo(threads: Int) throws {
        var body = "sysrq: Dump ftrace buffer\nDumping ftrace buffer:\n\(delimiter)\n"
        for i in 0..<40 { body += "     fio-157       0..... \(1000 + i * 10)us : \(setup(i))\n" }
        for i in 0..<39 { body += "  <idle>-0         1d.h1. \(2000 + i * 10)us : \(complete(i))\n" }
        var options = SourceOptions()
        options.decodeThreads = threads
        options.segmentSize = 1024
        let cut = try decode(body, options: options)
        #expect(cut.summary.format == .ftraceText)
        #expect(cut.summary.endsInsideDump == 2, "\(cut.summary.endsInsideDump as Any)")
        let whole = try decode(body + "\(delimiter)\nreboot: Power down\n", options: options)
        #expect(whole.summary.endsInsideDump == nil && whole.events == cut.events)
    }

    /// Dumps are read after any number of batches; small batches see the same events.
    @Test func batchSizeDoesNotChangeTheEvents() throws {
        var text = bootLine + "[    1.000000] nvme nvme0: 2/0/0 default/read/poll queues\n"
        text += "[   10.000000] Dumping ftrace buffer:\n[   10.000000] \(delimiter)\n"
        for i in 0..<50 { text += "[   10.000001]      fio-157       0..... \(100 + i * 10)us : \(setup(i))\n" }
        text += "[   10.100000] \(delimiter)\n[   11.000000] nvme nvme0: Abort status: 0x0\n"
        let whole = try decode(text)
        var small = SourceOptions()
        small.batchSize = 3
        let pieces = try decode(text, options: small)
        #expect(whole.events == pieces.events && whole.events.count == 52)
        #expect(pieces.batches == 18)
        #expect(whole.events.last?.time == 11_000_000_000 && whole.summary.outOfOrder == 0)
    }

    /// Two dumps, then a `dmesg` listing that prints the first again: the repeat is skipped,
    /// and the second dump's events, recorded after the first dump began, are placed no earlier.
    @Test func severalDumpsAndARepeatedOne() throws {
        let first =
            "[   10.000000] Dumping ftrace buffer:\n[   10.000000] \(delimiter)\n"
            + "[   10.000001]      fio-157       0..... 2000000us : \(setup(1))\n"
            + "[   10.000002]      fio-157       0..... 3000000us : \(setup(2))\n"
            + "[   10.000003] \(delimiter)\n"
        let second =
            "[   30.000000] Dumping ftrace buffer:\n[   30.000000] \(delimiter)\n"
            // 25 s before the last line: it would fall before the first dump.
            + "[   30.000001]   <idle>-0         1d.h1. 5000000us : \(complete(1))\n"
            + "[   30.000002]   <idle>-0         1d.h1. 30000000us : \(complete(2))\n"
            + "[   30.000003] \(delimiter)\n"
        let d = try decode(bootLine + first + second + "=== GUEST: dmesg\n" + first)
        #expect(d.summary.malformed == 0)
        #expect(times(d.events, .driverSubmit) == [9_000_000_000, 10_000_000_000])
        #expect(times(d.events, .driverComplete) == [10_000_000_000, 30_000_000_000])
        #expect(d.events.count == 4 && d.summary.events == 4 && d.summary.outOfOrder == 0)
    }

    /// The forms other clocks and kernels print, an instance's dump, and an empty one.
    @Test func timestampFormsAndHeaders() throws {
        let text =
            bootLine
            + "[    4.000000] Dumping ftrace buffer:\n[    4.000000] \(delimiter)\n   (ftrace buffer empty)\n"
            + "[    4.000000] \(delimiter)\n"
            // The ordinary trace format, seconds on the `global` clock.
            + "[   40.000000] Dumping ftrace instance nvme buffer:\n[   40.000000] \(delimiter)\n"
            + "[   40.000001]      fio-157     [000] d..1.    35.500000: \(setup(7))\n"
            + "[   40.000002] jbd2/vda-8         1..... 36000000us : \(complete(7))\n"
            + "[   40.000003] \(delimiter)\n"
            // A counter clock: a bare count, read as is.
            + "[   50.000000] Dumping ftrace buffer:\n[   50.000000] \(delimiter)\n"
            + "[   50.000001] sd-12abc-4711      0...  1234: \(setup(8))\n"
            + "[   50.000002]    <...>-4711      0... 1300: \(complete(8))\n"
            + "[   50.000003] \(delimiter)\n"
        let path = TempFile.write(text)
        defer { TempFile.remove(path) }
        #expect(try detectFormat(path: path) == .consoleLog)
        let d = try drain(try openEventSource(path: path, index: 3))
        #expect(d.summary.malformed == 0, "\(d.summary.firstMalformed)")
        #expect(
            d.events.map(\.time) == [
                39_500_000_000, 40_000_000_000, 50_000_000_000 - 66, 50_000_000_000,
            ])
        #expect(d.events.map(\.a) == [7, 7, 8, 8])
        // The counter clock's dump makes the whole console order-only: its distances are counts.
        #expect(d.summary.clock == .counter)
    }

    /// A console whose dumps count nanoseconds keeps its clock; one whose dump prints bare counts
    /// (`%4lld: `, which also reads as `trace-cmd report -l`) is a console, not notes quoting
    /// trace events, and is read for order only.
    @Test func bareCountDumpIsAConsoleReadForOrder() throws {
        func console(_ stamp: (Int) -> String) -> String {
            bootLine + "[   50.000000] Dumping ftrace buffer:\n[   50.000000] \(delimiter)\n"
                + "[   50.000001]      fio-157       0d..1. \(stamp(1234)): \(setup(8))\n"
                + "[   50.000002]    <...>-4711      0..... \(stamp(1300)): \(complete(8))\n"
                + "[   50.000003] \(delimiter)\n[   60.000000] nvme nvme0: I/O 5 QID 1 timeout, aborting\n"
        }
        for (text, clock) in [(console { "\($0)us " }, ClockKind.timestamps), (console { "\($0 * 2600)" }, .counter)] {
            let path = TempFile.write(text)
            defer { TempFile.remove(path) }
            #expect(try classifyRunFile(path: path).skip == nil)
            let d = try drain(try openEventSource(path: path, index: 0))
            #expect(d.summary.clock == clock)
            #expect(d.events.count == 3)
        }
    }

    /// A dump whose console ends inside it (the VM died): what was read is placed all the same.
    @Test func dumpCutShortByTheEndOfTheLog() throws {
        let text =
            bootLine + "[    8.000000] Dumping ftrace buffer:\n[    8.000000] \(delimiter)\n"
            + "[    8.000001]      fio-157       0..... 1000us : \(setup(3))\n"
            + "[    8.000002]      fio-157       0..... 2000us : \(setup(4))\n[    8.0000"
        let d = try decode(text)
        #expect(times(d.events, .driverSubmit) == [7_999_000_000, 8_000_000_000])
    }

    /// Event lines after a dump that are not inside one (a `dmesg` listing that kept only a
    /// dump's end) have nothing to place them by and are skipped; damaged ones inside a dump
    /// are malformed.
    @Test func eventLinesOutsideADumpAreSkippedAndDamagedOnesAreMalformed() throws {
        let text =
            bootLine
            + "[   30.000000] Dumping ftrace buffer:\n[   30.000000] \(delimiter)\n"
            + "[   30.000001]      fio-157       1..... 8779753us : nvme_setup_cmd: nvme0: qid=x, cmdid=1\n"
            + "[   30.000002] \(delimiter)\n"
            + "[   30.992996]      fio-157       1..... 8779753us : \(setup(9))\n"
        let d = try decode(text)
        #expect(d.events.isEmpty)
        #expect(d.summary.malformed == 1 && d.summary.firstMalformed.first?.location.value == 4)
        #expect(d.summary.skipped == 5 && d.summary.dumpWithoutStart == nil)
    }

    /// Held messages beyond the bound go out early: a dump read later that is older counts as
    /// out of order, and no event is lost.
    @Test func boundOnHeldMessages() throws {
        var text = bootLine
        for i in 0..<5 { text += "[   1\(i).000000] nvme nvme0: Abort status: 0x\(i)\n" }
        text += "[   20.000000] Dumping ftrace buffer:\n[   20.000000] \(delimiter)\n"
        // Placed at 8, 11, 14, 17 and 20 s, among the messages.
        for i in 0..<5 { text += "[   20.000001]      fio-157       0..... \(3_000_000 * i)us : \(setup(i))\n" }
        text += "[   20.000002] \(delimiter)\n"
        let path = TempFile.write(text)
        defer { TempFile.remove(path) }

        let unbounded = try drain(ConsoleLogSource(input: try ByteInput(path: path), index: 0, options: .init()))
        #expect(unbounded.summary.outOfOrder == 0 && unbounded.events.count == 10)
        #expect(times(unbounded.events, .driverSubmit) == [8, 11, 14, 17, 20].map { Int64($0) * 1_000_000_000 })

        let bounded = try drain(
            ConsoleLogSource(input: try ByteInput(path: path), index: 0, options: .init(), holdCapacity: 2))
        #expect(Set(bounded.events) == Set(unbounded.events) && bounded.events.count == 10)
        // 10, 11 and 12 s went out before the dump's 8 s.
        #expect(bounded.events.prefix(4).map(\.time) == [10, 11, 12, 8].map { Int64($0) * 1_000_000_000 })
        #expect(bounded.summary.outOfOrder == 1)
    }

    /// A dump longer than its bound is placed in parts, all with the offset known when the
    /// first part was full.
    @Test func boundOnDumpLength() throws {
        var text = bootLine + "[   20.000000] Dumping ftrace buffer:\n[   20.000000] \(delimiter)\n"
        for i in 0..<5 { text += "[   20.000001]      fio-157       0..... \(3_000_000 * i)us : \(setup(i))\n" }
        text += "[   20.000002] \(delimiter)\n"
        let path = TempFile.write(text)
        defer { TempFile.remove(path) }
        let d = try drain(
            ConsoleLogSource(input: try ByteInput(path: path), index: 0, options: .init(), dumpCapacity: 2))
        #expect(times(d.events, .driverSubmit) == [17, 20, 23, 26, 29].map { Int64($0) * 1_000_000_000 })
        #expect(d.summary.events == 5 && d.summary.outOfOrder == 0)
    }

    /// Lines made of the columns' own pieces in random order, inside a dump: decoding never
    /// traps, every line is accounted for, and what comes out is in time order.
    @Test func arbitraryLinesInsideADump() throws {
        let pieces = [
            "-", "1", "99999999999999999999", " ", "   ", "us", "us!", ":", ": ", "[", "]", ".", "000123", "CPU:",
            " [LOST ", "EVENTS]", "nvme_sq", "nvme_setup_cmd", "qid=", "cmdid=", ",", "d.h1.", "kworker/", "\r",
            "Dumping ftrace buffer:", "-----------",
        ]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        var text = bootLine + "[   20.000000] Dumping ftrace buffer:\n[   20.000000] \(delimiter)\n"
        for _ in 0..<3000 {
            var line = next(2) == 0 ? "[   20.000001] " : ""
            for _ in 0..<next(24) { line += pieces[next(pieces.count)] }
            text += line + "\n"
        }
        let d = try decode(text)
        #expect(d.summary.records == 3003)
        #expect(d.summary.events + d.summary.skipped + d.summary.malformed + d.summary.dataLossMarkers == 3003)
        #expect(d.summary.outOfOrder == 0)
    }

    @Test func eventHeaderColumns() {
        func parse(_ s: String) -> String? {
            let bytes = Array(s.utf8)
            return bytes.withUnsafeBytes { raw in
                FtraceDumpEventHeader.parse(raw).map {
                    "\($0.time) \(String(decoding: raw[$0.nameStart..<$0.nameEnd], as: UTF8.self)) "
                        + String(decoding: raw[$0.payloadStart...], as: UTF8.self)
                }
            }
        }
        #expect(parse("kworker/-9         0d.h1. 233126us : nvme_sq: x") == "233126000 nvme_sq x")
        #expect(parse("  <idle>-0         1dNH1. 5us$: irq: y") == "5000 irq y")
        #expect(parse("CPU 0/KV-4711   123d..2. 7us : e: z") == "7000 e z")
        #expect(parse("    fio-1  [001] ..... 12.000001: nvme_sq: w") == "12000001000 nvme_sq w")
        #expect(parse("nvme nvme0: I/O 960 (I/O Cmd) QID 1 timeout, aborting") == nil)
        #expect(parse("fio-157       0..... 99999999999999999999us : e: z") == nil)
        #expect(parse("fio-157       0..... 233126 us : e: z") == nil)
        #expect(parse("fio-157       0.....") == nil)
    }
}

/// `../shared/traces/real/sysrq-hang` beside the package checkout.
private let sysrqHang: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("../shared/traces/real/sysrq-hang").standardizedFileURL

private let haveSysrqHang =
    FileManager.default.fileExists(atPath: sysrqHang.appendingPathComponent("console.log.zst").path)
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/zstd")

/// The real SysRq-z dump: Debian 6.1 guest, 2 MB ring buffer per CPU, dumped 10 s into an SQ1
/// stall (README and sysrq-dump-stats.txt of the run).
@Suite(.enabled(if: haveSysrqHang, "needs ../shared/traces/real/sysrq-hang and zstd"))
struct RealConsoleFtraceDumpTests {
    /// `count name` lines of sysrq-dump-stats.txt.
    static func recordedCounts() throws -> [String: Int] {
        var counts: [String: Int] = [:]
        let text = try String(contentsOf: sysrqHang.appendingPathComponent("sysrq-dump-stats.txt"), encoding: .utf8)
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let n = Int(parts[0]) { counts[String(parts[1])] = n }
            // `nvme events in the dump: 9571`
            if line.hasPrefix("nvme events in the dump: "), let n = Int(line.split(separator: " ").last ?? "") {
                counts["nvme"] = n
            }
        }
        return counts
    }

    /// Decompressed by `zstd -dc` into a pipe, read as it streams.
    static func decodeConsole() throws -> Decoded {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/zstd")
        process.arguments = ["-dc", sysrqHang.appendingPathComponent("console.log.zst").path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        defer { process.waitUntilExit() }
        return try drain(try openEventSource(path: "/dev/fd/\(pipe.fileHandleForReading.fileDescriptor)", index: 0))
    }

    @Test func dumpEventCountsEqualTheRecordedOnes() throws {
        let d = try Self.decodeConsole()
        let recorded = try Self.recordedCounts()
        #expect(d.summary.format == .consoleLog && d.summary.malformed == 0, "\(d.summary.firstMalformed)")
        var counts: [EventKind: Int] = [:]
        for e in d.events { counts[e.kind, default: 0] += 1 }
        #expect(counts[.driverSubmit] == (try #require(recorded["nvme_setup_cmd"])))
        #expect(counts[.driverSQHead] == (try #require(recorded["nvme_sq"])))
        #expect(counts[.driverComplete] == (try #require(recorded["nvme_complete_rq"])))
        #expect(
            (counts[.driverSubmit] ?? 0) + (counts[.driverSQHead] ?? 0) + (counts[.driverComplete] ?? 0)
                == (try #require(recorded["nvme"])))
        #expect(d.summary.dataLossMarkers == 0)

        // The dump's events are in time order and end before the `Dumping ftrace buffer:` line
        // (25.131820); its last nvme event (9093640us, the 16th stuck SQ1 submission) lies the
        // ring-buffer distance before the last line (the SysRq marker, 19346241us).
        let dump = d.events.filter { $0.kind != .guestMessage }
        #expect(zip(dump, dump.dropFirst()).allSatisfy { $0.time <= $1.time })
        #expect(dump.first?.location == 69 && dump.last?.location == 18288)
        let last = try #require(dump.last)
        #expect(last.time == Int64(25_131_820_000 - (19_346_241_000 - 9_093_640_000)))
        #expect(last.kind == .driverSubmit && last.qid == 1 && last.a == 25551)
        // The first timeout (I/O 960 = cmdid 5056 & 0xfff) follows its submission by 15.6 s.
        let submit = try #require(dump.last { $0.kind == .driverSubmit && $0.qid == 1 && $0.a == 5056 })
        let timeout = try #require(d.events.first { $0.kind == .guestMessage })
        #expect(timeout.time == 30_449_578_000 && timeout.b == 960)
        #expect((15_000_000_000...16_000_000_000).contains(timeout.time - submit.time))
    }
}
