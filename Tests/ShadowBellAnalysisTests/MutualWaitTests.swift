import ShadowBellCore
import Testing
@testable import ShadowBellAnalysis

@Suite struct MutualWaitTests {
    /// Controller catches up to tail 1; the driver's EventIdx load overtakes its shadow store:
    /// it reads the stale EventIdx 0, skips MMIO, and the controller's re-read still sees 1.
    static func driverReorderHang() -> Scenario {
        var s = oneFetched(entries: 16, cmdid: 7)
        s.publish(old: 1, new: 2, eventIdx: 0, mmio: false, at: 30)
        s.eventIdx(1, at: 40)
        s.read(1, at: 41)
        return s
    }

    /// Shadow doorbells on; the driver rang for tail 1 and the controller fetched it (`cmdid`).
    static func oneFetched(entries: UInt32, cmdid: UInt32) -> Scenario {
        var s = Scenario()
        s.createQueues(entries: entries, at: 0)
        s.dbbufConfig(at: 1)
        s.publish(old: 0, new: 1, eventIdx: 0, mmio: true, at: 10)
        s.read(1, at: 20)
        s.fetch(cmdid: cmdid, at: 21)
        return s
    }

    /// The one mutual wait of `driverReorderHang` with the trace ending at `end` µs.
    static func onlyWait(endingAt end: Int64) throws -> Finding {
        var s = driverReorderHang()
        s.tick(at: end)
        let waits = s.analyze().findings(.mutualWait)
        #expect(waits.count == 1)
        return try #require(waits.first)
    }

    @Test func driverReorderUnresolvedAtEndOfTrace() throws {
        let w = try Self.onlyWait(endingAt: 5_000)
        #expect(w.queue == QueueKey(controller: 0, qid: 1, type: .sq))
        #expect(w.start == 41_000)
        #expect(w.end == nil)
        #expect(w.resolution == .endOfTrace)
        #expect(w.cause == .driverReorder)
        #expect(w.value("published") == .int(2))
        #expect(w.value("controller_seen") == .int(1))
        #expect(w.value("controller_eventidx") == .int(1))
        #expect(w.value("driver_eventidx_read") == .int(0))
        #expect(w.value("stuck_commands") == .int(1))
        #expect(w.value("duration_ns") == .int(5_000_000 - 41_000))
        #expect(w.inferred == false)
        #expect(w.evidence.map(\.role) == ["driver-publish", "controller-eventidx-write", "controller-wait"])
        #expect(w.evidence.map(\.location.value) == [7, 8, 9])
    }

    /// Open where the trace ends, shorter than --min-wait only because the trace stopped: a
    /// simulated hang (32 commands stuck) opened 0.96 ms before its trace ended and was dropped
    /// as a short wait. Told, marked (the analysis session makes it a warning unless what it
    /// owns proves the hang); an ended short wait is still not told.
    @Test func aWaitCutShortByTheEndOfTheTraceIsToldNotDropped() throws {
        let w = try Self.onlyWait(endingAt: 500)
        #expect(w.end == nil && w.cause == .driverReorder)
        #expect(w.value("cut_short_by_end_of_trace") == .bool(true))
        #expect(w.value("duration_ns") == .int(500_000 - 41_000))
        #expect(w.uncertainty.contains { $0.contains("after this wait began, before --min-wait (1.000 ms)") })
        // Past --min-wait: as before.
        let past = try Self.onlyWait(endingAt: 1_100)
        #expect(past.severity == .error && past.value("cut_short_by_end_of_trace") == nil && past.uncertainty.isEmpty)
        // A short wait that ended (an MMIO doorbell 200 µs in) stays a counted short window.
        var ended = Self.driverReorderHang()
        ended.mmio(2, at: 241)
        ended.tick(at: 500)
        #expect(ended.analyze().findings(.mutualWait).isEmpty)
    }

    @Test func controllerReorderIsTheOtherSidesStore() throws {
        var s = Scenario()
        s.createQueues(entries: 16, at: 0)
        s.dbbufConfig(at: 1)
        s.publish(old: 0, new: 1, eventIdx: 0, mmio: true, at: 10)
        s.read(1, at: 20)
        s.processOne(tail: 1, reread: 1, at: 21)  // EventIdx 1 written at 22, idle at 23
        s.publish(old: 1, new: 2, eventIdx: 0, mmio: false, at: 30)  // but the driver reads 0
        s.tick(at: 3_000)
        let r = s.analyze()
        let w = try #require(r.findings(.mutualWait).first)
        #expect(w.start == 30_000)
        #expect(w.cause == .controllerReorder)
        #expect(w.value("driver_eventidx_read") == .int(0))
        #expect(w.value("controller_eventidx") == .int(1))
    }

    @Test func healthyRaceRingsAndOpensNoWindow() {
        var s = Scenario()
        s.createQueues(entries: 16, at: 0)
        s.dbbufConfig(at: 1)
        var tail: UInt32 = 0
        var t: Int64 = 10
        for i in 0..<200 {
            // The driver publishes right after each burst end and reads the fresh EventIdx.
            let new = (tail + 1) % 16
            s.publish(old: tail, new: new, eventIdx: tail, mmio: true, at: t)
            s.read(new, at: t + 2)
            s.processOne(cmdid: UInt32(i), tail: new, reread: new, at: t + 3)
            tail = new
            t += 6
        }
        let r = s.analyze()
        #expect(r.findings(.mutualWait).isEmpty)
        #expect(r.findings(.missedDoorbell).isEmpty)
        #expect(r.queue(.sq)?.stats.subThresholdWindows == 0)
        #expect((r.queue(.sq)?.stats.raceExposure ?? 0) >= 199)
        #expect(r.queue(.sq)?.stats.mmioDoorbells == 200)
    }

    @Test func resolvedByMMIODoorbell() throws {
        var s = Self.driverReorderHang()
        s.publish(old: 2, new: 3, eventIdx: 1, mmio: true, at: 3_041)
        s.tick(at: 4_000)
        let r = s.analyze()
        let w = try #require(r.findings(.mutualWait).first)
        #expect(w.end == 3_041_000)
        #expect(w.resolution == .mmioDoorbell)
        #expect(w.value("duration_ns") == .int(3_000_000))
        #expect(w.evidence.last?.role == "window-close")
    }

    @Test func resolvedByControllerRead() throws {
        var s = Self.driverReorderHang()
        s.read(2, at: 2_500)
        let r = s.analyze()
        let w = try #require(r.findings(.mutualWait).first)
        #expect(w.resolution == .controllerRead)
        #expect(w.end == 2_500_000)
    }

    @Test func resolvedByResetAndByDeletion() throws {
        var a = Self.driverReorderHang()
        a.reset(at: 30_041)
        let ra = a.analyze()
        #expect(ra.findings(.mutualWait).first?.resolution == .controllerReset)
        #expect(ra.findings(.mutualWait).first?.end == 30_041_000)

        var b = Self.driverReorderHang()
        b.deleteSQ(at: 9_000)
        #expect(b.analyze().findings(.mutualWait).first?.resolution == .queueDeleted)
    }

    @Test func shortWindowIsOnlyCounted() {
        var s = Self.driverReorderHang()
        s.mmio(2, at: 60)  // 19 µs later
        s.tick(at: 5_000)
        let r = s.analyze()
        #expect(r.findings(.mutualWait).isEmpty)
        #expect(r.queue(.sq)?.stats.subThresholdWindows == 1)

        var options = AnalysisOptions()
        options.minWait = 10_000
        #expect(s.analyze(options).findings(.mutualWait).count == 1)
    }

    @Test func wrapAroundAcrossZero() throws {
        var s = Scenario()
        s.createQueues(entries: 4, at: 0)
        s.dbbufConfig(at: 1)
        var tail: UInt32 = 0
        var t: Int64 = 10
        for i in 0..<3 {  // tails 1, 2, 3
            let new = tail + 1
            s.publish(old: tail, new: new, eventIdx: tail, mmio: true, at: t)
            s.read(new, at: t + 1)
            s.processOne(cmdid: UInt32(i), tail: new, reread: new, at: t + 2)
            tail = new
            t += 10
        }
        // Tail wraps 3 -> 0 and 0 -> 1 without MMIO: the controller believes 3.
        s.publish(old: 3, new: 0, eventIdx: 2, mmio: false, at: t)
        s.publish(old: 0, new: 1, eventIdx: 2, mmio: false, at: t + 5)
        s.tick(at: 10_000)
        let r = s.analyze()
        let w = try #require(r.findings(.mutualWait).first)
        #expect(w.value("published") == .int(0))
        #expect(w.value("published_last") == .int(1))
        #expect(w.value("controller_seen") == .int(3))
        #expect(w.value("stuck_commands") == .int(2))
        #expect(r.findings(.valueOutOfRange).isEmpty)
        #expect(r.findings(.missedDoorbell).isEmpty)  // EventIdx 2 was outside [3, 0] and [0, 0]
    }

    @Test func cqHangWhenControllerWaitsForSpace() throws {
        var s = Scenario()
        s.createQueues(entries: 4, at: 0)
        s.dbbufConfig(at: 1)
        // Four completions, CQ of 4 entries: three fit, the fourth finds the CQ full.
        for i in 0..<4 {
            s.complete(cmdid: UInt32(i), at: 10 + Int64(i))
            s.eventIdx(.cq, 0, at: 20 + Int64(i))
            s.read(.cq, 0, at: 21 + Int64(i))
        }
        // The driver consumes three entries, publishes head 3 but reads a stale EventIdx.
        s.publish(.cq, old: 0, new: 3, eventIdx: 3, mmio: false, at: 40)
        s.tick(at: 9_000)
        let r = s.analyze()
        let w = try #require(r.findings(.mutualWait).first)
        #expect(w.queue.type == .cq)
        #expect(w.start == 40_000)
        #expect(w.end == nil)
        #expect(w.value("stuck_commands") == .int(1))
        #expect(w.value("controller_seen") == .int(0))
        #expect(w.value("published") == .int(3))
    }

    @Test func cqWithRoomNeverWaits() {
        var s = Scenario()
        s.createQueues(entries: 64, at: 0)
        s.dbbufConfig(at: 1)
        for i in 0..<10 {
            s.complete(cmdid: UInt32(i), at: 10 + Int64(i) * 3)
            s.read(.cq, 0, at: 11 + Int64(i) * 3)
        }
        s.publish(.cq, old: 0, new: 10, eventIdx: 50, mmio: false, at: 100)
        s.tick(at: 9_000)
        #expect(s.analyze().findings(.mutualWait).isEmpty)
    }

    @Test func inferredFromGuestSubmissionsWithoutProbes() throws {
        var s = Scenario()
        s.createQueues(entries: 16, at: 0)
        s.dbbufConfig(at: 1)
        s.submit(cmdid: 100, at: 10)
        s.mmio(1, at: 11)
        s.read(1, at: 12)
        s.processOne(cmdid: 100, tail: 1, reread: 1, at: 13)
        s.submit(cmdid: 101, at: 30)
        s.submit(cmdid: 102, at: 31)
        s.tick(at: 20_000)
        let r = s.analyze()
        let w = try #require(r.findings(.mutualWait).first)
        #expect(w.inferred)
        #expect(w.start == 30_000)
        #expect(w.cause == .skippedDemandedDoorbell, "EventIdx 1 was written before the tail moved 1 -> 2: need_event(1, 2, 1) demanded a doorbell")
        #expect(w.value("stuck_commands") == .int(2))
        #expect(w.value("stuck_command_ids") == .array([.int(101), .int(102)]))
        #expect(w.evidence.contains { $0.role == "driver-submit" && $0.location.value == 10 })
    }

    @Test func inferredSubmissionFollowedByDoorbellIsHealthy() {
        var s = Scenario()
        s.createQueues(entries: 16, at: 0)
        s.dbbufConfig(at: 1)
        var t: Int64 = 10
        for i in 0..<50 {
            let tail = UInt32(i + 1) % 16
            s.submit(cmdid: UInt32(i), at: t)
            s.mmio(tail, at: t + 3)
            s.read(tail, at: t + 4)
            s.processOne(cmdid: UInt32(i), tail: tail, reread: tail, at: t + 5)
            t += 20
        }
        s.tick(at: 9_000)
        let r = s.analyze()
        #expect(r.findings(.mutualWait).isEmpty)
        #expect(r.queue(.sq)?.stats.subThresholdWindows == 50)
    }

    @Test func dataLossInsideTheWindowMakesItUncertain() throws {
        var s = Self.driverReorderHang()
        s.dataLoss(at: 2_000)
        s.tick(at: 5_000)
        let w = try #require(s.analyze().findings(.mutualWait).first)
        #expect(!w.uncertainty.isEmpty)

        var clean = Self.driverReorderHang()
        clean.dataLoss(at: 5)  // before the evidence starts
        clean.tick(at: 5_000)
        #expect(clean.analyze().findings(.mutualWait).first?.uncertainty.isEmpty == true)
    }

    @Test func adminQueueShadowEventsProduceNoFindings() {
        var s = Scenario()
        s.dbbufConfig(at: 1)
        s.mmio(qid: 0, 1, at: 5)
        s.read(qid: 0, 0, at: 6)
        s.eventIdx(qid: 0, 0, at: 7)
        s.submit(qid: 0, cmdid: 9, at: 8)
        s.tick(at: 9_000)
        #expect(s.analyze().findings.isEmpty)
    }

    @Test func midRunTraceLearnsTheFetchIndex() throws {
        // No queue creation: the analyzer must learn where the controller is from two reads.
        var s = Scenario()
        s.dbbufConfig(at: 1)
        s.eventIdx(40, at: 9)
        s.read(40, at: 10)  // burst end (nothing fetched after it)
        s.publish(old: 40, new: 41, eventIdx: 40, mmio: true, at: 20)
        s.read(41, at: 21)
        s.processOne(cmdid: 1, tail: 41, reread: 41, at: 22)
        s.publish(old: 41, new: 42, eventIdx: 40, mmio: false, at: 30)
        s.tick(at: 9_000)
        let r = s.analyze()
        let w = try #require(r.findings(.mutualWait).first)
        #expect(w.value("controller_seen") == .int(41))
        #expect(w.cause == .controllerReorder)
    }
}

@Suite struct DoorbellDecisionTests {
    @Test func missedAndNeedlessDoorbells() {
        var s = Scenario()
        s.createQueues(entries: 16, at: 0)
        s.publish(old: 3, new: 5, eventIdx: 4, mmio: false, at: 10)  // 4 in [3,4]: must ring
        s.publish(old: 5, new: 6, eventIdx: 9, mmio: true, at: 20)  // 9 not in [5,5]: needless
        s.publish(old: 6, new: 7, eventIdx: 6, mmio: true, at: 30)  // correct
        let r = s.analyze()
        #expect(r.findings(.missedDoorbell).count == 1)
        #expect(r.findings(.missedDoorbell).first?.start == 10_000)
        #expect(r.findings(.needlessDoorbell).count == 1)
        #expect(r.findings(.needlessDoorbell).first?.severity == .info)
        #expect(r.queue(.sq)?.stats.missedDoorbells == 1)
    }

    @Test func valueOutOfRange() {
        var s = Scenario()
        s.createQueues(entries: 8, at: 0)
        s.read(8, at: 10)
        s.eventIdx(3, at: 11)
        s.mmio(.cq, 9, at: 12)
        let r = s.analyze()
        #expect(r.findings(.valueOutOfRange).count == 2)
        #expect(r.queue(.sq)?.stats.outOfRangeValues == 1)
    }

    @Test func highVolumeFindingsAreCappedButCounted() {
        var s = Scenario()
        s.createQueues(entries: 1024, at: 0)
        for i in 0..<100 {
            let old = UInt32(i)
            s.publish(old: old, new: old + 1, eventIdx: 1000, mmio: true, at: 10 + Int64(i))
        }
        let r = s.analyze()
        #expect(r.findings(.needlessDoorbell).count == AnalysisOptions().findingsPerQueueLimit)
        #expect(r.suppressed.first?.count == 100 - AnalysisOptions().findingsPerQueueLimit)
        #expect(r.queue(.sq)?.stats.needlessDoorbells == 100)
    }

    /// Past --max-hangs-per-queue the waits that ended are counted with their time, not kept
    /// (each kept finding holds its story: a 4 GB simulated run's 8,893 hangs took 101 MB); one
    /// still open where the input ends is kept whatever the count.
    @Test func hangsPastTheLimitAreCountedWithTheirTime() throws {
        var s = MutualWaitTests.oneFetched(entries: 64, cmdid: 1)
        var t: Int64 = 30
        for k in UInt32(1)...6 {
            s.publish(old: k, new: k + 1, eventIdx: k - 1, mmio: false, at: t)
            s.eventIdx(k, at: t + 10)
            s.read(k, at: t + 11)  // both wait
            if k < 6 {
                s.mmio(k + 1, at: t + 2011)  // 2 ms later
                s.read(k + 1, at: t + 2020)
                s.fetch(cmdid: k + 1, at: t + 2021)
            }
            t += 3000
        }
        s.tick(at: t + 5000)
        let all = s.analyze()
        #expect(all.findings(.mutualWait).count == 6 && all.suppressed.isEmpty)
        var options = AnalysisOptions()
        options.hangsPerQueueLimit = 3
        let capped = s.analyze(options)
        let waits = capped.findings(.mutualWait)
        #expect(waits.count == 4 && waits.last?.end == nil, "\(waits.map(\.end))")
        let left = try #require(capped.suppressed.first { $0.kind == .mutualWait })
        #expect(left.count == 2 && left.durationNs == 4_000_000)
        options.hangsPerQueueLimit = 0
        #expect(s.analyze(options).findings(.mutualWait).count == 6)
    }

    /// The guest's give-ups told as stuck commands (a console alone) are hangs of their queue:
    /// told up to --max-hangs-per-queue, not --max-findings-per-queue (25 told 20, and the hang
    /// summary said 20), the rest counted with their time once dated (an I/O timeout before the
    /// first message).
    @Test func giveUpsPastTheLimitAreCountedAsHangs() throws {
        var s = Scenario()
        s.createQueues(entries: 64, at: 0)
        let second: Int64 = 1_000_000
        for k in Int64(0)..<25 {
            func message(_ kind: GuestMessageKind, _ tag: UInt32, at t: Int64) {
                s.add(Event(kind: .guestMessage, time: Scenario.us(t), qid: 1, a: kind.rawValue, b: tag))
            }
            message(.timeoutAborting, UInt32(k), at: (100 + 70 * k) * second)
            message(.timeoutReset, UInt32(k), at: (130 + 70 * k) * second)
        }
        func giveUps(_ r: AnalysisResult) -> [Finding] { r.findings.filter(\.isGuestGiveUp) }
        let all = s.story()
        #expect(giveUps(all).count == 25 && all.suppressed.isEmpty)
        #expect(all.queues.first { $0.key.qid == 1 }?.hangs?.count == 25)
        var options = AnalysisOptions()
        options.hangsPerQueueLimit = 10
        let capped = s.story(options)
        #expect(giveUps(capped).count == 10)
        let left = try #require(capped.suppressed.first { $0.kind == .stuckCommand })
        #expect(left.count == 15 && left.hangs == 15)
        #expect(left.durationNs == 15 * 60 * second * 1_000)  // each dated 30 s before its first message
        let hangs = try #require(capped.queues.first { $0.key.qid == 1 }?.hangs)
        #expect(hangs.count == 25 && hangs.totalNs == all.queues.first { $0.key.qid == 1 }?.hangs?.totalNs)
    }

    @Test func doorbellSeenByDriverAndControllerCountsOnce() {
        var s = Scenario()
        s.createQueues(entries: 16, at: 0)
        s.publish(old: 0, new: 1, eventIdx: 0, mmio: true, at: 10)
        s.mmio(1, at: 11)
        s.mmio(1, at: 50)  // a second, separate doorbell with the same value
        #expect(s.analyze().queue(.sq)?.stats.mmioDoorbells == 2)
    }
}

@Suite struct StaleShadowTests {
    @Test func firstReadAfterRecreationMustBeZeroOrPublished() {
        var s = Scenario()
        s.createQueues(entries: 16, at: 0)
        s.dbbufConfig(at: 1)
        s.publish(old: 0, new: 1, eventIdx: 0, mmio: true, at: 10)
        s.read(1, at: 11)  // fine: published since creation
        s.reset(at: 100)
        s.createQueues(entries: 16, at: 200)
        s.dbbufConfig(at: 201)
        s.read(9, at: 300)  // nobody published 9 since the re-creation
        let r = s.analyze()
        #expect(r.findings(.staleShadowAfterReset).count == 1)
        #expect(r.findings(.staleShadowAfterReset).first?.start == 300_000)
        #expect(r.findings(.staleShadowAfterReset).first?.severity == .error)
    }

    @Test func driverProbeSeesTheStaleSlotFirst() {
        var s = Scenario()
        s.createQueues(entries: 16, at: 0)
        s.publish(old: 0, new: 3, eventIdx: 0, mmio: true, at: 10)
        s.reset(at: 100)
        s.createQueues(entries: 16, at: 200)
        s.publish(old: 3, new: 1, eventIdx: 0, mmio: true, at: 300)  // the slot still held 3
        s.read(1, at: 301)  // the controller then reads a published value: one finding only
        let r = s.analyze()
        #expect(r.findings(.staleShadowAfterReset).count == 1)
        #expect(r.findings(.staleShadowAfterReset).first?.start == 300_000)

        var clean = Scenario()
        clean.createQueues(entries: 16, at: 0)
        clean.publish(old: 0, new: 3, eventIdx: 0, mmio: true, at: 10)
        clean.reset(at: 100)
        clean.createQueues(entries: 16, at: 200)
        clean.publish(old: 0, new: 1, eventIdx: 0, mmio: true, at: 300)
        #expect(clean.analyze().findings(.staleShadowAfterReset).isEmpty)
    }

    /// The store is seen before its stamp is taken: a healthy simulated run's first read of 2
    /// was stamped 1 ns before the driver's probe `new=2`, and read as a stale slot. A probe of
    /// the value within the stamps' uncertainty (3 µs) makes the read valid; one later does not.
    @Test func aValuePublishedJustAfterTheReadByTheStampsIsNoStaleSlot() {
        func run(probeAt: Int64) -> Int {
            var s = Scenario()
            s.createQueues(entries: 16, at: 0)
            s.dbbufConfig(at: 1)
            s.publish(old: 0, new: 1, eventIdx: 0, mmio: true, at: 10)
            s.read(2, at: 20)
            s.publish(old: 1, new: 2, eventIdx: 0, mmio: false, at: probeAt)
            s.tick(at: 100)
            return s.analyze().findings(.staleShadowAfterReset).count
        }
        #expect(run(probeAt: 21) == 0)
        #expect(run(probeAt: 30) == 1)
    }

    @Test func inferredModeAcceptsTailsWithinTheSubmissions() {
        var s = Scenario()
        s.createQueues(entries: 16, at: 0)
        s.submit(cmdid: 1, at: 5)
        s.submit(cmdid: 2, at: 6)
        s.read(2, at: 10)
        #expect(s.analyze().findings(.staleShadowAfterReset).isEmpty)

        var stale = Scenario()
        stale.createQueues(entries: 16, at: 0)
        stale.submit(cmdid: 1, at: 5)
        stale.read(7, at: 10)
        #expect(stale.analyze().findings(.staleShadowAfterReset).count == 1)
    }

    @Test func firstProbeSupersedesAnInferredWait() {
        var s = Scenario()
        s.createQueues(entries: 16, at: 0)
        s.dbbufConfig(at: 1)
        s.submit(cmdid: 1, at: 10)  // inferred window opens: controller idle, command unfetched
        s.publish(old: 0, new: 1, eventIdx: 0, mmio: true, at: 5_000)  // 5 ms later the probe shows the ring
        s.read(1, at: 5_001)
        s.processOne(cmdid: 1, tail: 1, reread: 1, at: 5_002)
        s.tick(at: 9_000)
        #expect(s.analyze().findings(.mutualWait).isEmpty)
    }

    @Test func staleReadAfterADoorbellIsDriverReorder() throws {
        // The driver rings for 2, but QEMU's next shadow read returns the old 1 (the driver's
        // store is still invisible) and overwrites the doorbell's tail: both wait.
        var s = Scenario()
        s.createQueues(entries: 16, at: 0)
        s.dbbufConfig(at: 1)
        s.publish(old: 0, new: 1, eventIdx: 0, mmio: true, at: 10)
        s.read(1, at: 11)
        s.processOne(cmdid: 1, tail: 1, reread: 1, at: 12)
        s.publish(old: 1, new: 2, eventIdx: 1, mmio: true, at: 20)
        s.read(1, at: 25)
        s.tick(at: 9_000)
        let w = try #require(s.analyze().findings(.mutualWait).first)
        #expect(w.start == 25_000)
        #expect(w.cause == .driverReorder)
    }
}
