import ShadowBellCore
import Testing
@testable import ShadowBellAnalysis

/// The controller side alone (a QEMU log, maybe the guest console): a guest that gives up on I/O
/// (ABORT, reset) while the controller sleeps on a queue is a mutual wait on the queue that alone
/// explains it, else a warning naming the candidates; healthy resets stay clean.
@Suite struct HostSideStallTests {
    static let second: Int64 = 1_000_000  // Scenario times are microseconds

    /// QEMU's SQ processing as its log shows it: read the new tail, per command fetch, write
    /// EventIdx = tail, re-read (the last re-read ends the burst); then complete them all.
    struct Host {
        var s = Scenario()
        var tails: [UInt16: UInt32] = [:]
        var cid: UInt32 = 100
        let entries: UInt32 = 64

        init(queues: [UInt16]) {
            for q in queues {
                s.createQueues(qid: q, entries: entries, at: 0)
                tails[q] = 0
            }
            s.dbbufConfig(at: 1)
        }

        mutating func burst(qid: UInt16, commands: UInt32 = 2, at t: Int64, dbbuf: Bool = true) {
            let old = tails[qid] ?? 0
            let new = (old + commands) % entries
            if dbbuf { s.read(qid: qid, new, at: t) } else { s.mmio(qid: qid, new, at: t) }
            var fetched: [UInt32] = []
            for k in 0..<Int64(commands) {
                cid += 1
                fetched.append(cid)
                s.fetch(qid: qid, cmdid: cid, at: t + 1 + 3 * k)
                if dbbuf {
                    s.eventIdx(qid: qid, new, at: t + 2 + 3 * k)
                    s.read(qid: qid, new, at: t + 3 + 3 * k)
                }
            }
            for c in fetched { s.complete(qid: qid, cmdid: c, at: t + 10 + 3 * Int64(commands)) }
            tails[qid] = new
        }

        /// A queue that keeps running every 50 ms over [from, to).
        mutating func run(qid: UInt16, from: Int64, to: Int64) {
            var t = from
            while t < to {
                burst(qid: qid, at: t)
                t += 50_000
            }
        }

        mutating func abort(at t: Int64) {
            s.add(Event(kind: .controllerFetch, time: Scenario.us(t), qid: 0, a: 7, b: 0x08))
        }

        /// Linux's timeout path: delete the I/O queues, disable the controller.
        mutating func resetController(queues: [UInt16], at t: Int64) {
            for q in queues { s.deleteSQ(qid: q, at: t) }
            s.reset(at: t + 1)
        }

        /// Re-enable: the queues come back empty; shadow doorbells stay off until the config.
        mutating func recreate(queues: [UInt16], at t: Int64) {
            for q in queues {
                s.createQueues(qid: q, entries: entries, at: t)
                tails[q] = 0
            }
        }

        mutating func consoleTimeout(qid: UInt16, tag: UInt32, at t: Int64) {
            s.add(Event(
                kind: .guestMessage, time: Scenario.us(t), qid: qid, a: GuestMessageKind.timeoutAborting.rawValue, b: tag))
        }
    }

    static func sq(_ qid: UInt16) -> QueueKey { QueueKey(controller: 0, qid: qid, type: .sq) }

    static func loud(_ r: GroupResult) -> [Finding] { r.findings.filter { $0.severity >= .warning } }

    @Test func theOnlySilentQueueWhileAnotherRunsIsAnError() throws {
        var h = Host(queues: [1, 2])
        h.run(qid: 2, from: 10, to: 500_000)
        h.run(qid: 1, from: 20, to: 30 * Self.second)
        h.abort(at: 15 * Self.second)
        h.resetController(queues: [1, 2], at: 30 * Self.second + 50_000)
        let r = h.s.analyze()
        let loud = Self.loud(r)
        #expect(loud.count == 1)
        let w = try #require(loud.first)
        #expect(w.kind == .mutualWait && w.queue == Self.sq(2) && w.inferred)
        #expect(w.value("inferred_from") == .string("host-side"))
        #expect(w.value("attribution") == .array([.string("only-silent-queue")]))
        #expect(w.value("candidates") == .array([.string("nvme0:sq2")]))
        // The wait began at sq2's last burst-ending read (burst at 450 ms: read, 2 × fetch/EventIdx/read).
        #expect(w.start == Scenario.us(450_010 + 6))
        #expect(w.end == Scenario.us(30 * Self.second + 50_000))
        #expect(w.resolution == .queueDeleted)
        #expect(w.value("controller_seen") == .int(20))
        #expect(w.value("guest_aborts") == .int(1))
        #expect(w.evidence.map(\.role) == ["controller-eventidx-write", "controller-wait", "guest-abort", "window-close", "controller-reset"])
        #expect(w.explanation.contains("sq1 fetched"))
    }

    @Test func twoSilentQueuesGiveOneWarningNamingBoth() throws {
        var h = Host(queues: [1, 2])
        h.run(qid: 1, from: 10, to: 300_000)
        h.run(qid: 2, from: 20, to: 500_000)
        h.abort(at: 15 * Self.second)
        h.abort(at: 15 * Self.second + 3)
        h.resetController(queues: [1, 2], at: 30 * Self.second)
        let r = h.s.analyze()
        let loud = Self.loud(r)
        #expect(loud.count == 1)
        let w = try #require(loud.first)
        #expect(w.kind == .unattributedStall && w.severity == .warning && w.inferred)
        #expect(w.value("candidates") == .array([.string("nvme0:sq1"), .string("nvme0:sq2")]))
        #expect(w.value("guest_aborts") == .int(2))
        #expect(w.queue == Self.sq(1))  // the first to fall silent
        #expect(w.end == Scenario.us(30 * Self.second + 1))
    }

    @Test func resubmissionsAfterTheResetNameTheQueue() throws {
        var h = Host(queues: [1, 2])
        h.run(qid: 1, from: 10, to: 300_000)
        h.run(qid: 2, from: 20, to: 500_000)
        h.abort(at: 15 * Self.second)
        h.resetController(queues: [1, 2], at: 30 * Self.second)
        h.recreate(queues: [1, 2], at: 30 * Self.second + 10_000)
        // Linux ≤ 6.7 restarts the queues before the config: the cancelled commands come back on sq1.
        h.burst(qid: 1, commands: 3, at: 30 * Self.second + 11_000, dbbuf: false)
        h.s.dbbufConfig(at: 30 * Self.second + 12_000)
        h.run(qid: 2, from: 30 * Self.second + 13_000, to: 31 * Self.second)
        let r = h.s.analyze()
        let loud = Self.loud(r)
        #expect(loud.count == 1)
        let w = try #require(loud.first)
        #expect(w.kind == .mutualWait && w.queue == Self.sq(1))
        #expect(w.value("attribution") == .array([.string("resubmitted-after-reset")]))
        #expect(w.value("resubmitted_after_reset") == .int(3))
        #expect(w.evidence.contains { $0.role == "driver-resubmit" })
    }

    /// Round 2 of the real hangs: after the reset the requeued commands moved sq2's tail while
    /// shadow doorbells were off; since the config its EventIdx was never written.
    @Test func theResetOrderingSignatureNamesTheQueueThatCannotBeRung() throws {
        var h = Host(queues: [1, 2])
        h.run(qid: 1, from: 10, to: Self.second)
        h.run(qid: 2, from: 20, to: Self.second)
        h.resetController(queues: [1, 2], at: Self.second)
        h.recreate(queues: [1, 2], at: Self.second + 10_000)
        h.burst(qid: 2, commands: 2, at: Self.second + 11_000, dbbuf: false)
        h.s.dbbufConfig(at: Self.second + 12_000)
        h.run(qid: 1, from: Self.second + 13_000, to: Self.second + 300_000)
        h.abort(at: 16 * Self.second)
        h.resetController(queues: [1, 2], at: 31 * Self.second)
        h.tick(at: 32 * Self.second)
        let r = h.s.analyze()
        let loud = Self.loud(r)
        #expect(loud.count == 1)
        let w = try #require(loud.first)
        #expect(w.kind == .mutualWait && w.queue == Self.sq(2))
        #expect(w.value("attribution") == .array([.string("reset-ordering-signature")]))
        #expect(w.value("eventidx_unwritten_since_dbbuf_config") == .bool(true))
        #expect(w.value("candidates") == .array([.string("nvme0:sq1"), .string("nvme0:sq2")]))
        #expect(w.explanation.contains("06c59d427017"))
    }

    @Test func theConsoleNamesTheQueueAmongSeveral() throws {
        var h = Host(queues: [1, 2])
        h.run(qid: 1, from: 10, to: 300_000)
        h.run(qid: 2, from: 20, to: 500_000)
        h.consoleTimeout(qid: 2, tag: 768, at: 15 * Self.second - 200)
        h.abort(at: 15 * Self.second)
        h.consoleTimeout(qid: 2, tag: 769, at: 15 * Self.second + 100)
        h.resetController(queues: [1, 2], at: 30 * Self.second)
        let r = h.s.analyze()
        let loud = Self.loud(r)
        #expect(loud.count == 1)
        let w = try #require(loud.first)
        #expect(w.kind == .mutualWait && w.queue == Self.sq(2))
        #expect(w.value("attribution") == .array([.string("guest-console")]))
        #expect(w.value("guest_timeouts") == .int(2))
        #expect(w.evidence.contains { $0.role == "guest-timeout" && $0.summary.contains("I/O 768 QID 2") })
    }

    /// A guest with a short I/O timeout gives up again soon after a reset: the console messages
    /// of the first give-up, before that reset, are not the second's (they named sq2 in it too,
    /// and counted its messages with the second's).
    @Test func theConsoleOfAnEarlierGiveUpDoesNotNameALaterOnesQueue() throws {
        var h = Host(queues: [1, 2])
        h.run(qid: 1, from: 10, to: 300_000)
        h.run(qid: 2, from: 20, to: 100_000)
        h.consoleTimeout(qid: 2, tag: 768, at: 199_900)
        h.abort(at: 200_000)
        h.resetController(queues: [1, 2], at: 201_000)
        h.recreate(queues: [1, 2], at: 202_000)
        h.s.dbbufConfig(at: 202_500)
        h.burst(qid: 1, at: 203_000)
        h.burst(qid: 2, at: 203_100)
        h.consoleTimeout(qid: 1, tag: 5, at: 499_900)
        h.abort(at: 500_000)
        h.resetController(queues: [1, 2], at: 501_000)
        let r = h.s.analyze()
        let loud = Self.loud(r)
        #expect(loud.map(\.queue) == [Self.sq(2), Self.sq(1)])
        let later = try #require(loud.last)
        #expect(later.kind == .mutualWait && later.value("attribution") == .array([.string("guest-console")]))
        #expect(later.value("guest_timeouts") == .int(1))
        #expect(later.evidence.contains { $0.role == "guest-timeout" && $0.summary.contains("I/O 5 QID 1") })
        #expect(!later.evidence.contains { $0.summary.contains("QID 2") })
    }

    @Test func commandsTheControllerHoldsKeepItAWarning() throws {
        var h = Host(queues: [1, 2])
        h.run(qid: 2, from: 20, to: 500_000)
        h.run(qid: 1, from: 10, to: 30 * Self.second)
        // The controller fetched a command from sq3 and never completed it (a slow device).
        h.s.createQueues(qid: 3, entries: 64, at: 2)
        h.s.read(qid: 3, 1, at: 600_000)
        h.s.fetch(qid: 3, cmdid: 5, at: 600_001)
        h.s.eventIdx(qid: 3, 1, at: 600_002)
        // A doorbell that announces nothing new: sq3 is not asleep (a doorbell beyond the
        // fetched entry that is never fetched would be a controller-idle-with-work).
        h.s.mmio(qid: 3, 1, at: 600_003)
        h.abort(at: 15 * Self.second)
        h.resetController(queues: [1, 2, 3], at: 30 * Self.second)
        let r = h.s.analyze()
        let loud = Self.loud(r)
        #expect(loud.count == 1)
        let w = try #require(loud.first)
        #expect(w.kind == .unattributedStall)
        #expect(w.value("candidates") == .array([.string("nvme0:sq2"), .string("nvme0:cq3")]))
    }

    @Test func aQueueIdleForLessThanTheMinimumIsNoCandidate() throws {
        var h = Host(queues: [1, 2])
        h.run(qid: 2, from: 20, to: 500_000)
        h.run(qid: 1, from: 10, to: 15 * Self.second - 20_000)  // last burst 50 ms before the ABORT
        h.abort(at: 15 * Self.second)
        h.resetController(queues: [1, 2], at: 30 * Self.second)
        let w = try #require(Self.loud(h.s.analyze()).first)
        #expect(w.kind == .mutualWait && w.queue == Self.sq(2))
    }

    @Test func deliberateResetsWithoutAbortStayClean() {
        var h = Host(queues: [1, 2])
        h.run(qid: 1, from: 10, to: 2 * Self.second)
        h.run(qid: 2, from: 20, to: 500_000)
        h.resetController(queues: [1, 2], at: 2 * Self.second)
        h.recreate(queues: [1, 2], at: 2 * Self.second + 10_000)
        h.burst(qid: 1, commands: 4, at: 2 * Self.second + 11_000, dbbuf: false)
        h.s.dbbufConfig(at: 2 * Self.second + 12_000)
        h.tick(at: 40 * Self.second)
        #expect(Self.loud(h.s.analyze()).isEmpty)
    }

    @Test func anAbortWithNoSilentQueueSaysNothing() {
        var h = Host(queues: [1, 2])
        h.run(qid: 1, from: 10, to: 20 * Self.second)
        h.run(qid: 2, from: 20, to: 20 * Self.second)
        h.abort(at: 15 * Self.second)
        h.tick(at: 21 * Self.second)
        #expect(Self.loud(h.s.analyze()).isEmpty)
    }

    /// Where the guest's submissions show the stall, the mutual-wait detector reports it from
    /// them: the host side adds no second finding for the same give-up.
    @Test func aStallTheGuestTraceShowsIsReportedOnce() {
        var h = Host(queues: [1, 2])
        h.run(qid: 1, from: 10, to: 30 * Self.second)
        h.run(qid: 2, from: 20, to: 500_000)
        h.s.submit(qid: 2, cmdid: 7, at: Self.second)
        h.abort(at: 15 * Self.second)
        h.resetController(queues: [1, 2], at: 30 * Self.second)
        let r = h.s.analyze()
        let waits = r.findings.filter { $0.kind == .mutualWait }
        #expect(waits.count == 1 && waits.first?.queue.qid == 2)
        #expect(!r.findings.contains { $0.value("inferred_from") == .string("host-side") })
    }

    /// A guest trace that stops before the stall (a console dump taken earlier, a trace cut
    /// short) shows nothing of it: the controller's side still tells.
    @Test func aStallAfterTheGuestTraceEndsIsJudgedFromTheHostSide() {
        var h = Host(queues: [1, 2])
        h.s.submit(qid: 1, cmdid: 1, at: 5)
        h.s.fetch(qid: 1, cmdid: 1, at: 6)
        h.run(qid: 2, from: 20, to: 500_000)
        h.run(qid: 1, from: 10, to: 30 * Self.second)
        h.abort(at: 15 * Self.second)
        h.resetController(queues: [1, 2], at: 30 * Self.second)
        let r = h.s.analyze()
        let host = r.findings.filter { $0.value("inferred_from") == .string("host-side") }
        #expect(host.count == 1 && host.first?.queue == QueueKey(controller: 0, qid: 2, type: .sq))
    }
}

extension HostSideStallTests.Host {
    mutating func tick(at t: Int64) { s.tick(at: t) }
}
