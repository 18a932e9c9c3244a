import Foundation
import Testing
import ShadowBellCore
@testable import ShadowBellFormats

/// A console log must hold at least one printk-timestamped line to be detected as one.
private let bootLine = "[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)\n"

private func message(
    _ kind: GuestMessageKind, time: Int64, line: UInt64, controller: UInt16 = 0, qid: UInt16 = 0,
    tag: UInt32 = Event.noCommand, status: UInt32 = 0
) -> Event {
    Event(
        kind: .guestMessage, time: time, location: line, source: 3, controller: controller, qid: qid,
        a: kind.rawValue, b: tag, c: status)
}

/// `../shared/traces/real` beside the package checkout.
private let realTraces: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("../shared/traces/real").standardizedFileURL

private let realScenarios = ["hang-sq2", "mq2", "shared1q", "single", "smallq"]

private func realConsoleLog(_ scenario: String) throws -> String {
    let path = realTraces.appendingPathComponent(scenario).appendingPathComponent("console.log").path
    try #require(
        FileManager.default.fileExists(atPath: path),
        "missing \(path): the real traces are expected in ../shared/traces/real beside the checkout")
    return path
}

private func kindCounts(_ events: [Event]) -> [GuestMessageKind: Int] {
    var counts: [GuestMessageKind: Int] = [:]
    for e in events {
        #expect(e.kind == .guestMessage)
        if let kind = GuestMessageKind(rawValue: e.a) { counts[kind, default: 0] += 1 }
    }
    return counts
}

@Suite struct ConsoleLogTests {
    /// Every message variant of protocol.md §6: (message text, expected kind, qid, tag, status).
    static let variants: [(String, GuestMessageKind, UInt16, UInt32, UInt32)] = [
        ("I/O tag 12 (100c) opcode 0x2 (Read) QID 3 timeout, aborting", .timeoutAborting, 3, 12, 0),
        (
            "I/O tag 7 (3007) opcode 0x1 (Write) QID 2 timeout, aborting req_op:WRITE(1) size:4096",
            .timeoutAborting, 2, 7, 0
        ),
        ("I/O 64 (I/O Cmd) QID 1 timeout, aborting", .timeoutAborting, 1, 64, 0),
        ("I/O 12 QID 3 timeout, aborting", .timeoutAborting, 3, 12, 0),
        ("I/O tag 12 (100c) opcode 0x2 (Read) QID 3 timeout, reset controller", .timeoutReset, 3, 12, 0),
        ("I/O 64 (I/O Cmd) QID 1 timeout, reset controller", .timeoutReset, 1, 64, 0),
        ("I/O 64 QID 1 timeout, reset controller", .timeoutReset, 1, 64, 0),
        ("I/O tag 5 (0005) QID 0 timeout, reset controller", .timeoutReset, 0, 5, 0),
        ("I/O tag 9 (2009) opcode 0x2 (Read) QID 4 timeout, completion polled", .timeoutPolled, 4, 9, 0),
        ("I/O 9 (I/O Cmd) QID 4 timeout, completion polled", .timeoutPolled, 4, 9, 0),
        ("I/O 9 QID 4 timeout, completion polled", .timeoutPolled, 4, 9, 0),
        ("I/O tag 3 (0003) opcode 0x2 (Read) QID 1 timeout, disable controller", .timeoutDisable, 1, 3, 0),
        ("I/O 3 (I/O Cmd) QID 1 timeout, disable controller", .timeoutDisable, 1, 3, 0),
        ("I/O 3 QID 1 timeout, disable controller", .timeoutDisable, 1, 3, 0),
        ("Abort status: 0x0", .abortStatus, 0, Event.noCommand, 0),
        ("Abort status: 0x371", .abortStatus, 0, Event.noCommand, 0x371),
        ("2/0/0 default/read/poll queues", .queuesReady, 0, Event.noCommand, 0),
    ]

    @Test(arguments: variants.indices)
    func messageVariant(_ index: Int) throws {
        let (text, kind, qid, tag, status) = Self.variants[index]
        let d = try decode(bootLine + "[   30.156309] nvme nvme2: \(text)\r\n")
        #expect(d.summary.format == .consoleLog && d.summary.clock == .timestamps)
        #expect(d.summary.malformed == 0, "\(d.summary.firstMalformed)")
        #expect(
            d.events
                == [message(kind, time: 30_156_309_000, line: 2, controller: 2, qid: qid, tag: tag, status: status)])
        #expect(d.summary.records == 2 && d.summary.skipped == 1 && d.summary.events == 1)
    }

    @Test func messageAfterProgressTextOnTheSameLine() throws {
        let text =
            bootLine
            + "Jobs: 2 (f=2), 0-1200 IOPS: [m(2)][4.9%][r=4924KiB/s][eta 00m:58s]\rJobs: 2 (f=2): [m(2)][6.6%]"
            + "[eta 00m:57s]\r[   30.156309] nvme nvme0: I/O 768 (I/O Cmd) QID 2 timeout, aborting\r\n"
            + "Jobs: 2 (f=2): [m(2)][61.7%][eta 00m:23s]\r[   45.265042] nvme nvme0: I/O 768 QID 2 timeout, reset controller\r\n"
            + "Jobs: 2 (f=2), 0-1200 IOPS: [m(2)][63.3%][eta 00m:22s]\r\n"
        let d = try decode(text)
        #expect(d.summary.malformed == 0, "\(d.summary.firstMalformed)")
        #expect(
            d.events == [
                message(.timeoutAborting, time: 30_156_309_000, line: 2, qid: 2, tag: 768),
                message(.timeoutReset, time: 45_265_042_000, line: 3, qid: 2, tag: 768),
            ])
        #expect(d.summary.skipped == 2)
    }

    @Test func callerIDColumnAndLowerLevelPrefix() throws {
        let text =
            bootLine + "[    5.528253][    T1] nvme nvme0: 2/0/0 default/read/poll queues\n"
            + "<4>[   30.157892] nvme nvme0: Abort status: 0x0\n"
        let d = try decode(text)
        #expect(
            d.events == [
                message(.queuesReady, time: 5_528_253_000, line: 2),
                message(.abortStatus, time: 30_157_892_000, line: 3),
            ])
    }

    /// The forms other tools print the kernel log in: a caller-ID column on every line (the
    /// file was not detected), one after a space, `journalctl -k -o short-monotonic` with its host
    /// and `kernel:`, and `dmesg --color=always` (colours around the stamp and the prefix). Each
    /// was skipped or malformed, and a hung run's console read as healthy.
    @Test func kernelLogFormsOfOtherTools() throws {
        let esc = "\u{1B}"
        let forms = [
            "[    0.000000][    T0] Linux version 6.1.0\n[   30.156309][  T102] nvme nvme0: I/O 768 QID 2 timeout, aborting\n",
            bootLine + "[   30.156309] [  T102] nvme nvme0: I/O 768 QID 2 timeout, aborting\n",
            "[    0.000000] vm kernel: Linux version 6.1.0\n[   30.156309] vm kernel: nvme nvme0: I/O 768 QID 2 timeout, aborting\n",
            "\(esc)[32m[    0.000000] \(esc)[0mLinux version 6.1.0\n"
                + "\(esc)[32m[   30.156309] \(esc)[0m\(esc)[33mnvme nvme0: \(esc)[0m\(esc)[1mI/O 768 QID 2 timeout, aborting\(esc)[0m\n",
        ]
        for text in forms {
            let d = try decode(text)
            #expect(d.summary.malformed == 0, "\(text): \(d.summary.firstMalformed)")
            #expect(d.events == [message(.timeoutAborting, time: 30_156_309_000, line: 2, qid: 2, tag: 768)], "\(text)")
        }
        // Not a stamp: a host name alone, or `kernel:` glued to the bracket.
        for text in [bootLine + "[   30.156309] vm nvme nvme0: Abort status: 0x0\n", bootLine + "[   30.156309]kernel: nvme nvme0: Abort status: 0x0\n"] {
            #expect(try decode(text).summary.malformed == 1, "\(text)")
        }
    }

    @Test func messageSeenLiveAndInTheDumpIsReportedOnce() throws {
        let live =
            "[   30.156309] nvme nvme0: I/O 768 (I/O Cmd) QID 2 timeout, aborting\n"
            + "[   30.157892] nvme nvme0: Abort status: 0x0\n"
        let dump =
            "=== GUEST: dmesg nvme\n" + "[    5.528253] nvme nvme0: 2/0/0 default/read/poll queues\n"
            + "[   30.156309] nvme nvme0: I/O 768 (I/O Cmd) QID 2 timeout, aborting\n"
            // Same time, another tag: a distinct message.
            + "[   30.156309] nvme nvme0: I/O 769 (I/O Cmd) QID 2 timeout, aborting\n"
            + "[   30.157892] nvme nvme0: Abort status: 0x0\n"
            // Same message on another controller: distinct.
            + "[   30.157892] nvme nvme1: Abort status: 0x0\n"
        let d = try decode(bootLine + live + dump)
        #expect(
            d.events == [
                message(.queuesReady, time: 5_528_253_000, line: 5),
                message(.timeoutAborting, time: 30_156_309_000, line: 2, qid: 2, tag: 768),
                message(.timeoutAborting, time: 30_156_309_000, line: 7, qid: 2, tag: 769),
                message(.abortStatus, time: 30_157_892_000, line: 3),
                message(.abortStatus, time: 30_157_892_000, line: 9, controller: 1),
            ])
        // Boot line, the dump header and the two repeats.
        #expect(d.summary.skipped == 4 && d.summary.malformed == 0)
        // The dump-only queue message is put in its place by its stamp.
        #expect(d.summary.outOfOrder == 0)
    }

    /// An ABORT's completions can print the same `Abort status: 0x0` at one stamp several times
    /// in a row (sysrq-hang's console, lines 18302–18304): as many messages, where the repeat
    /// rule kept one. Listed again later (a `dmesg`), the run is a replay, told once.
    @Test func theSameMessageSeveralTimesInARowIsAsManyMessages() throws {
        let live =
            "[   30.456629] nvme nvme0: Abort status: 0x0\n" + "[   30.456784] nvme nvme0: Abort status: 0x0\n"
            + "[   30.456784] nvme nvme0: Abort status: 0x0\n" + "[   30.456784] nvme nvme0: Abort status: 0x0\n"
        let replay = "=== GUEST: dmesg nvme\n" + live
        let d = try decode(bootLine + live + replay)
        #expect(d.events.count == 4, "\(d.events)")
        #expect(d.events.map(\.location) == [2, 3, 4, 5])
        // `dmesg | tail -n 3` right after them, its command line between: a replay of the run
        // (it read as the run going on).
        let tail = "# dmesg | tail -n 3\n" + "[   30.456784] nvme nvme0: Abort status: 0x0\n" + "[   30.456784] nvme nvme0: Abort status: 0x0\n"
            + "[   30.456784] nvme nvme0: Abort status: 0x0\n"
        #expect(try decode(bootLine + live + tail).events.count == 4)
    }

    @Test func recentMessagesForgetTheOldestBeyondCapacity() {
        let recent = RecentMessages(capacity: 2)
        func key(_ t: Int64) -> RecentMessages.Key {
            .init(time: t, controller: 0, qid: 1, kind: 0, tag: 5, status: 0)
        }
        #expect(recent.insert(key(1)) && recent.insert(key(2)))
        #expect(!recent.insert(key(1)) && !recent.insert(key(2)))
        #expect(recent.insert(key(3)))  // forgets 1
        #expect(recent.insert(key(1)))  // forgets 2
        #expect(!recent.insert(key(3)) && recent.insert(key(2)))
    }

    @Test func malformedMessagesAreCountedWithLineNumbersAndParsingGoesOn() throws {
        let text =
            bootLine
            + "[    1.000000] nvme nvme0: I/O 12 QID x timeout, aborting\n"  // 2
            + "[    1.000001] nvme nvme0: I/O 12 QID 3 timeout, retrying\n"  // 3
            + "[    1.000002] nvme nvme0: I/O QID 3 timeout, aborting\n"  // 4
            + "[    1.000003] nvme nvme0: Abort status: none\n"  // 5
            + "nvme nvme0: I/O 12 QID 3 timeout, aborting\n"  // 6
            + "[Thu Nov 26 03:21:05 2026] nvme nvme0: Abort status: 0x0\n"  // 7
            + "[    1.000004] nvme nvme0: I/O 12 (I/O Cmd QID 3 timeout, aborting\n"  // 8
            + "[    1.000005] nvme nvme0: I/O 12 QID 70000 timeout, aborting\n"  // 9
            + "[    1.000006] nvme nvme0: pci function 0000:00:03.0\n"  // other message
            + "[    1.000007] nvme nvme0: Ignoring bogus Namespace Identifiers\n"  // other message
            + "nvme nvme0: 2/0/0 default/read/poll queues\n"  // 12
            + "[    2.000000] nvme nvme0: I/O 12 QID 3 timeout, aborting\n"  // 13: parsing goes on
        let d = try decode(text)
        #expect(d.events == [message(.timeoutAborting, time: 2_000_000_000, line: 13, qid: 3, tag: 12)])
        #expect(d.summary.malformed == 9)
        #expect(d.summary.firstMalformed.map(\.location.value) == [2, 3, 4, 5, 6, 7, 8, 9, 12])
        #expect(d.summary.firstMalformed.allSatisfy { $0.location.unit == .line && $0.location.source == 3 })
        #expect(
            d.summary.firstMalformed.map(\.reason) == [
                "nvme I/O timeout: bad number in QID",
                "nvme I/O timeout: unexpected text at action after timeout,",
                "nvme I/O timeout: bad number in tag",
                "nvme Abort status: bad number in status",
                "nvme kernel message: missing [seconds] timestamp",
                "nvme kernel message: missing [seconds] timestamp",
                "nvme I/O timeout: unexpected text at (…)",
                "nvme I/O timeout: value out of range in QID",
                "nvme kernel message: missing [seconds] timestamp",
            ])
        #expect(d.summary.skipped == 3 && d.summary.records == 13)
    }

    @Test func consoleLogWithoutNVMeMessagesHoldsNoEvent() throws {
        let d = try decode(bootLine + "[    1.174606] VFS: Disk quotas dquot_6.6.0\n=== GUEST: done\n")
        #expect(d.summary.format == .consoleLog && d.summary.events == 0 && d.events.isEmpty)
        #expect(d.summary.skipped == 3)
    }

    @Test func detectionNeedsTheKernelTimestampShape() throws {
        func detected(_ text: String) throws -> DetectedFormat {
            let path = TempFile.write(text)
            defer { TempFile.remove(path) }
            return try detectFormat(path: path)
        }
        #expect(try detected("SeaBIOS\n\nBooting from ROM...\n" + bootLine) == .consoleLog)
        // Escape sequences before the first kernel line.
        #expect(try detected("\u{1B}c\u{1B}[?7l\u{1B}[2J[    0.000000] Linux version 6.1.0\r\n") == .consoleLog)
        #expect(try detected("Progress [4.9%] and [eta 00m:58s]\nSee [1.5] for details.\n") != .consoleLog)
        // ftrace and QEMU logs stay what they were, whatever their payloads print.
        let ftrace =
            "# tracer: nop\n            fio-150     [000] ..... 30.156309: console: [   30.156309] nvme nvme0: Abort\n"
        #expect(try detected(ftrace) == .ftraceText)
        #expect(try detected("4711@1690000000.123456:pci_nvme_mmio_read addr 0x8 size 4\n" + bootLine) == .qemuLog)
    }

    @Test(arguments: realScenarios)
    func realConsoleLogsAreDetected(_ scenario: String) throws {
        let path = try realConsoleLog(scenario)
        #expect(try detectFormat(path: path) == .consoleLog)
        let d = try drain(try openEventSource(path: path, index: 0))
        #expect(d.summary.format == .consoleLog && d.summary.malformed == 0, "\(d.summary.firstMalformed)")
        // Every run brings the controller up once; only hang-sq2 times out.
        if scenario != "hang-sq2" { #expect(kindCounts(d.events) == [.queuesReady: 1]) }
    }

    /// `grep -ao '\] nvme nvme0: .*' hang-sq2/console.log | sort -u`: 21 distinct messages of
    /// which 17 are timeout, abort and bring-up messages; the 14 timeout and abort messages
    /// printed live appear again in the dump at the end.
    @Test func realHangConsoleLogDecodesEachMessageOnce() throws {
        let d = try drain(try openEventSource(path: try realConsoleLog("hang-sq2"), index: 0))
        #expect(d.summary.malformed == 0, "\(d.summary.firstMalformed)")
        #expect(kindCounts(d.events) == [.timeoutAborting: 6, .timeoutReset: 2, .abortStatus: 6, .queuesReady: 3])
        #expect(d.summary.events == 17 && d.summary.records == 156 && d.summary.skipped == 156 - 17)
        // The first timeout follows fio's progress output on line 61.
        #expect(
            d.events.first { $0.a == GuestMessageKind.timeoutAborting.rawValue }
                == Event(
                    kind: .guestMessage, time: 30_156_309_000, location: 61, qid: 2,
                    a: GuestMessageKind.timeoutAborting.rawValue, b: 768))
        let resets = d.events.filter { $0.a == GuestMessageKind.timeoutReset.rawValue }
        #expect(resets.map(\.time) == [45_265_042_000, 75_712_741_000] && resets.allSatisfy { $0.qid == 2 && $0.b == 768 })
        #expect(Set(d.events.filter { $0.a == GuestMessageKind.timeoutAborting.rawValue }.map(\.b)) == [768, 769, 770, 771])
        // The dump's bring-up messages (5.528253 …), older than the live ones above them, are
        // put in their place by their stamps: the messages come out in time order.
        #expect(d.summary.outOfOrder == 0)
        #expect(d.events.map(\.time) == d.events.map(\.time).sorted())
        #expect(d.events.first?.time == 5_528_253_000)
    }
}
