import ShadowBellCore
import Testing

@testable import ShadowBellAnalysis

/// One hang, one finding; causes from the values; known bugs; links between windows.
@Suite struct FindingStoryTests {
    static let second: Int64 = 1_000_000  // in the scenario's microseconds
    static let hostAborted: UInt32 = 0x371

    /// A queue that ran one command, then the guest submits `cmdids` that are never fetched.
    static func hang(_ s: inout Scenario, cmdids: [UInt32], at t: Int64) {
        for (k, id) in cmdids.enumerated() { s.submit(cmdid: id, at: t + Int64(k)) }
    }

    static func healthyStart(_ s: inout Scenario) {
        s.createQueues(entries: 16, at: 0)
        s.dbbufConfig(at: 1)
        s.submit(cmdid: 100, at: 10)
        s.mmio(1, at: 11)
        s.read(1, at: 12)
        s.processOne(cmdid: 100, tail: 1, reread: 1, at: 13)
        s.guestComplete(cmdid: 100, at: 20)
    }

    @Test func aWindowOwnsItsStuckCommandsAndTheirCancellation() throws {
        var s = Scenario()
        Self.healthyStart(&s)
        Self.hang(&s, cmdids: [0x3301, 0x5302], at: 30)
        s.deleteSQ(at: 30 * Self.second)
        s.guestComplete(cmdid: 0x3301, status: Self.hostAborted, at: 30 * Self.second + 100)
        s.guestComplete(cmdid: 0x5302, status: Self.hostAborted, at: 30 * Self.second + 101)
        s.tick(at: 31 * Self.second)
        let r = s.story()
        #expect(r.errorCount == 1, "\(r.findings.map(\.message))")
        let w = try #require(r.findings.first { $0.kind == .mutualWait })
        #expect(w.value("stuck_command_ids") == .array([.int(0x3301), .int(0x5302)]))
        #expect(w.value("kernel_tags") == .array([.int(0x301), .int(0x302)]))
        #expect(w.value("commands_cancelled") == .int(2))
        #expect(r.findings.allSatisfy { $0.kind != .stuckCommand })
        #expect(w.explanation.contains("cancelled 2"))
    }

    @Test func aCommandTheDeviceHoldsIsStuckAndItsAbortIsACancellation() throws {
        var s = Scenario()
        Self.healthyStart(&s)
        s.submit(cmdid: 7, at: 30)
        s.mmio(2, at: 31)
        s.fetch(cmdid: 7, at: 32)
        s.guestComplete(cmdid: 7, status: Self.hostAborted, at: 6 * Self.second)
        s.tick(at: 7 * Self.second)
        let r = s.story()
        let f = try #require(r.findings.first { $0.kind == .stuckCommand })
        #expect(f.resolution == .cancelled)
        #expect(f.value("fetched") == .bool(true))
        #expect(f.message.contains("cancelled by the driver"))
        #expect(f.message.contains("0x371"))
        #expect(!f.explanation.contains("lost completion"))
        #expect(r.findings.allSatisfy { $0.kind != .mutualWait })
    }

    @Test func aFetchAfterTheQueueWasDeletedBelongsToTheNextCommandWithTheSameID() throws {
        var s = Scenario()
        Self.healthyStart(&s)
        s.submit(cmdid: 7, at: 30)
        s.mmio(2, at: 31)  // rung, but the controller never fetches it: no mutual wait
        s.deleteSQ(at: 6 * Self.second)
        s.createQueues(entries: 16, at: 6 * Self.second + 10)
        s.guestComplete(cmdid: 7, status: Self.hostAborted, at: 6 * Self.second + 20)
        s.submit(cmdid: 7, at: 6 * Self.second + 30)
        s.mmio(1, at: 6 * Self.second + 31)
        s.fetch(cmdid: 7, at: 6 * Self.second + 32)
        s.guestComplete(cmdid: 7, at: 6 * Self.second + 40)
        s.tick(at: 7 * Self.second)
        // The controller sat 6 s on the entry its doorbell announced: a controller-idle-with-work
        // window that would own the command, unless it must last longer than that.
        var options = AnalysisOptions()
        options.inferredMinWait = 10 * Self.second * 1_000
        let r = s.story(options)
        #expect(s.story().findings.contains { $0.kind == .controllerIdleWithWork && $0.value("stuck_command_ids") == .array([.int(7)]) })
        let f = try #require(r.findings.first { $0.kind == .stuckCommand })
        #expect(f.value("fetched") == .bool(false))
        #expect(f.explanation.contains("before its queue was deleted"))
        #expect(f.resolution == .cancelled)
    }

    /// The guest's trace alone of a hang: the commands stuck together on a queue are one
    /// finding owning them all (18 findings for hang-sq2's two stalls before); a command stuck
    /// after they ended is another, of its own; another queue's are apart.
    @Test func commandsStuckTogetherAreOneFinding() throws {
        var s = Scenario()
        for (k, id) in [UInt32(0x301), 0x1302, 0x2303].enumerated() { s.submit(cmdid: id, at: 10 + Int64(k)) }
        s.submit(qid: 2, cmdid: 0x401, at: 15)
        s.guestComplete(cmdid: 0x301, status: Self.hostAborted, at: 30 * Self.second)
        s.guestComplete(cmdid: 0x1302, status: Self.hostAborted, at: 30 * Self.second)
        s.guestComplete(cmdid: 0x2303, status: Self.hostAborted, at: 30 * Self.second + 1)
        s.guestComplete(qid: 2, cmdid: 0x401, at: 7 * Self.second)
        s.submit(cmdid: 0x304, at: 30 * Self.second + 10)
        // The guest trace goes on (no controller event in it).
        s.submit(qid: 3, cmdid: 9, at: 40 * Self.second)
        s.guestComplete(qid: 3, cmdid: 9, at: 40 * Self.second + 5)
        let r = s.story()
        let stuck = r.findings.filter { $0.kind == .stuckCommand }
        #expect(stuck.count == 3, "\(stuck.map(\.message))")
        let together = try #require(stuck.first { $0.value("stuck_commands") == .int(3) })
        #expect(together.queue.qid == 1 && together.start == Scenario.us(10) && together.end == Scenario.us(30 * Self.second + 1))
        #expect(together.value("stuck_command_ids") == .array([.int(0x301), .int(0x1302), .int(0x2303)]))
        #expect(together.value("kernel_tags") == .array([.int(0x301), .int(0x302), .int(0x303)]))
        #expect(together.value("commands_cancelled") == .int(3) && together.resolution == .cancelled)
        #expect(together.value("fetched") == .null && together.explanation.contains("cannot tell"))
        #expect(together.message.contains("3 commands stuck together"))
        // The later command, still outstanding at the end, and the other queue's: one each.
        let later = try #require(stuck.first { $0.value("cmdid") == .int(0x304) })
        #expect(later.value("stuck_commands") == nil && later.end == nil)
        #expect(stuck.contains { $0.queue.qid == 2 && $0.value("cmdid") == .int(0x401) && $0.resolution == .completed })
    }

    @Test func withoutControllerEventsNothingIsSaidAboutTheController() throws {
        var s = Scenario()
        s.submit(cmdid: 9, at: 10)
        s.guestComplete(cmdid: 9, at: 6 * Self.second)
        let r = s.story()
        let f = try #require(r.findings.first { $0.kind == .stuckCommand })
        #expect(f.value("fetched") == .null)
        #expect(f.resolution == .completed)
        #expect(f.explanation.contains("cannot tell"))
        #expect(!f.explanation.contains("lost"))
    }

    @Test func aDoorbellTheLastEventIdxDemandedIsTheCause() throws {
        var s = Scenario()
        Self.healthyStart(&s)
        Self.hang(&s, cmdids: [101], at: 30)
        s.tick(at: 2 * Self.second)
        let w = try #require(s.story().findings.first { $0.kind == .mutualWait })
        #expect(w.cause == .skippedDemandedDoorbell)
        #expect(w.explanation.contains("need_event(1, 2, 1) is true"))
        #expect(w.message.contains("cause skipped-demanded-doorbell"))
        #expect(w.knownBug == nil)
    }

    @Test func aSubmissionStampedWithTheEventIdxWriteProvesNothing() throws {
        var s = Scenario()
        s.createQueues(entries: 16, at: 0)
        s.dbbufConfig(at: 1)
        s.submit(cmdid: 100, at: 10)
        s.mmio(1, at: 11)
        s.read(1, at: 12)
        s.fetch(cmdid: 100, at: 13)
        s.eventIdx(1, at: 14)
        s.submit(cmdid: 101, at: 14)
        s.read(1, at: 15)
        s.tick(at: 2 * Self.second)
        let w = try #require(s.story().findings.first { $0.kind == .mutualWait })
        #expect(w.cause == .unknown)
    }

    /// The Linux reset-ordering bug: the first hang's reset re-creates the queues, requeued I/O
    /// rings MMIO while shadow doorbells are off, Doorbell Buffer Config leaves EventIdx unwritten.
    static func resetOrdering() -> Scenario {
        var s = Scenario()
        healthyStart(&s)
        hang(&s, cmdids: [101], at: 30)
        s.reset(at: 30 * second)
        s.createQueues(entries: 16, at: 30 * second + 10)
        s.submit(cmdid: 200, at: 30 * second + 20)
        s.mmio(1, at: 30 * second + 21)
        s.fetch(cmdid: 200, at: 30 * second + 22)
        s.dbbufConfig(at: 30 * second + 30)
        s.submit(cmdid: 201, at: 30 * second + 40)
        s.tick(at: 61 * second)
        return s
    }

    @Test func theResetOrderingBugIsNamedAndLinkedToTheResetThatCausedIt() throws {
        let r = Self.resetOrdering().story(kernel: KernelVersion(6, 1, 192))
        let waits = r.findings.enumerated().filter { $0.element.kind == .mutualWait }
        try #require(waits.count == 2)
        let (firstIndex, first) = waits[0]
        let second = waits[1].element
        #expect(first.resolution == .controllerReset)
        #expect(second.cause == .eventIdxNotInitialised)
        #expect(second.knownBug == .linuxResetOrdering)
        #expect(second.recursAfter == firstIndex + 1)
        #expect(second.message.contains("recurs after the reset that ended #\(firstIndex + 1)"))
        #expect(second.evidence.contains { $0.role == "dbbuf-config" })
        let sq1 = try #require(r.queues.first { $0.key == QueueKey(controller: 0, qid: 1, type: .sq) })
        let hangs = try #require(sq1.hangs)
        #expect(hangs.count == 2)
        #expect(hangs.firstID == firstIndex + 1 && hangs.lastID == waits[1].offset + 1)
        #expect(hangs.totalNs == [first, second].compactMap { f -> Int64? in
            if case .int(let d)? = f.value("duration_ns") { return d } else { return nil }
        }.reduce(0, +))
    }

    @Test(arguments: [(KernelVersion(6, 12, 95), false), (KernelVersion(6, 8, 0), false), (KernelVersion(6, 6, 59), false),
                      (KernelVersion(6, 6, 58), true), (KernelVersion(6, 1, 192), true), (KernelVersion(6, 7, 12), true)])
    func aKernelWithTheFixExcludesTheResetOrderingBug(kernel: KernelVersion, named: Bool) throws {
        let r = Self.resetOrdering().story(kernel: kernel)
        let second = try #require(r.findings.last { $0.kind == .mutualWait })
        #expect(second.cause == .eventIdxNotInitialised)
        #expect((second.knownBug == .linuxResetOrdering) == named)
    }

    @Test func aByteSwappedValueNamesTheEndiannessBugs() throws {
        var s = Scenario()
        s.createQueues(entries: 16, at: 0)
        s.dbbufConfig(at: 1)
        s.read(UInt32(3).byteSwapped, at: 10)
        s.read(7, at: 11)
        s.read(0x0100_0000 + 1, at: 12)
        let r = s.story()
        let out = r.findings.filter { $0.kind == .valueOutOfRange }
        try #require(out.count == 2)
        #expect(out[0].knownBug == .dbbufEndianness)
        #expect(out[1].knownBug == nil, "0x01000001 byte-swapped is 0x01000001: no index")
    }

    /// An SQ EventIdx beyond the ring is one error, `value-out-of-range`: not also a warning
    /// that it lies "behind" the fetch index (one corrupt value gave both).
    @Test func anEventIdxBeyondTheRingIsNoRegression() throws {
        var s = Scenario()
        s.createQueues(entries: 16, at: 0)
        s.dbbufConfig(at: 1)
        s.read(3, at: 10)
        s.submit(cmdid: 1, at: 9)
        s.fetch(cmdid: 1, at: 11)
        s.read(3, at: 12)
        s.eventIdx(70_000, at: 13)
        s.eventIdx(1, at: 14)
        let r = s.story()
        #expect(r.findings.filter { $0.kind == .valueOutOfRange }.count == 1)
        let regressions = r.findings.filter { $0.kind == .eventIdxRegression }
        #expect(!regressions.contains { $0.value("eventidx") == .int(70_000) })
    }

    @Test func everyCauseAndResolutionHasItsWords() {
        for c in Cause.allCases {
            #expect(!c.meaning.isEmpty && !c.headline.isEmpty)
        }
        #expect(Set(Cause.allCases.map(\.rawValue)).count == Cause.allCases.count)
        for r in Resolution.allCases { #expect(!r.sentence.isEmpty) }
        for bug in KnownBug.allCases {
            let e = bug.entry
            #expect(!e.title.isEmpty && !e.component.isEmpty && !e.fixed.isEmpty && !e.remedy.isEmpty && !e.references.isEmpty)
        }
    }

    @Test func abortStatusesAreCancellations() {
        #expect(NVMeStatus.isCancellation(0x371))
        #expect(NVMeStatus.isCancellation(0x007))
        #expect(NVMeStatus.isCancellation(0x008))
        #expect(!NVMeStatus.isCancellation(0))
        #expect(!NVMeStatus.isCancellation(0x002))
        #expect(!NVMeStatus.isCancellation(0x281))
    }

    @Test func ioWithoutAnyIOQueueDoorbellGetsANote() {
        var s = Scenario()
        s.createQueues(entries: 16, at: 0)
        s.dbbufConfig(at: 1)
        s.read(1, at: 12)
        s.processOne(cmdid: 100, tail: 1, reread: 1, at: 13)
        #expect(s.story().notes.contains { $0.contains("ioeventfd") })
        var rung = s
        rung.mmio(2, at: 20)
        #expect(!rung.story().notes.contains { $0.contains("ioeventfd") })
    }
}

/// A guest kernel message in timelines and event lists reads as the kernel printed it (it read
/// `timeout-aborting I/O 960 QID 1`).
@Suite struct GuestMessageWordsTests {
    @Test func messagesReadAsTheKernelPrintsThem() {
        func words(_ kind: GuestMessageKind, tag: UInt32 = Event.noCommand, qid: UInt16 = 0, status: UInt32 = 0) -> String {
            describe(Event(kind: .guestMessage, time: 1, qid: qid, a: kind.rawValue, b: tag, c: status))
        }
        #expect(words(.timeoutAborting, tag: 960, qid: 1) == "guest kernel: I/O 960 QID 1 timeout, aborting")
        #expect(words(.timeoutReset, tag: 960, qid: 1) == "guest kernel: I/O 960 QID 1 timeout, reset controller")
        #expect(words(.timeoutPolled, tag: 5, qid: 2) == "guest kernel: I/O 5 QID 2 timeout, completion polled")
        #expect(words(.abortStatus, status: 0) == "guest kernel: Abort status: 0x0")
        #expect(words(.abortStatus, status: 0x371) == "guest kernel: Abort status: 0x371")
        #expect(words(.queuesReady).hasSuffix("default/read/poll queues (I/O queues up)"))
    }
}
