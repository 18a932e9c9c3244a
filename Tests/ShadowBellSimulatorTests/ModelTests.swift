import ShadowBellCore
import Testing

@testable import ShadowBellSimulator

@Suite struct ModelTests {
    /// The protocol with both barriers is safe: over 200 seeds of heavy racing load no
    /// mutual wait ever opens, and every run actually raced.
    @Test func bothBarriersNeverWaitOnEachOther() throws {
        var totalExposure = 0
        for seed in UInt64(1)...200 {
            let c = small(.racing(seed: seed), durationUs: 700)
            let r = try Simulator.run(c)
            #expect(r.windows.isEmpty, "seed \(seed): \(r.windows.count) window(s), first at \(r.windows.first?.startNs ?? 0)")
            #expect(r.totalRaceExposure > 0, "seed \(seed) never raced")
            #expect(r.commandsCompleted > 100, "seed \(seed) did too little work")
            totalExposure += r.totalRaceExposure
        }
        #expect(totalExposure > 2_000)
    }

    @Test func driverBarrierOffHangsWithDriverReorder() throws {
        var hangs = 0
        var long = 0
        for seed in UInt64(1)...12 {
            var c = small(.racing(seed: seed), durationUs: 2_000)
            c.driverBarrier = false
            let r = try Simulator.run(c)
            for w in r.windows {
                #expect(w.cause == .driverReorder, "seed \(seed): \(w.cause) at \(w.startNs)")
                #expect(w.fault == nil)
                #expect(w.driverPublished != w.controllerSeen)
                if w.endNs == nil || w.endNs! - w.startNs > 100_000 { long += 1 }
            }
            hangs += r.windows.count
        }
        #expect(hangs >= 12)
        #expect(long >= 6, "a lost doorbell should leave queues stuck, not just delayed")
    }

    @Test func controllerBarrierOffHangsWithControllerReorder() throws {
        var hangs = 0
        for seed in UInt64(1)...12 {
            var c = small(.racing(seed: seed), durationUs: 2_000)
            c.controllerBarrier = false
            let r = try Simulator.run(c)
            for w in r.windows {
                #expect(w.cause == .controllerReorder, "seed \(seed): \(w.cause) at \(w.startNs)")
                #expect(w.fault == nil)
            }
            hangs += r.windows.count
        }
        #expect(hangs >= 8)
    }

    @Test func cqPressureWithoutDriverBarrierHangsTheCompletionQueue() throws {
        var cqHangs = 0
        for seed in UInt64(1)...6 {
            var c = small(.cqPressure(seed: seed), durationUs: 2_000)
            c.driverBarrier = false
            let r = try Simulator.run(c)
            cqHangs += r.windows.filter { $0.queue.type == .cq && $0.cause == .driverReorder }.count
        }
        #expect(cqHangs > 0)
    }

    /// Under CQ pressure a controller that lets its re-read overtake its CQ EventIdx store loses
    /// CQ doorbells: the driver reads a stale EventIdx and does not ring while the CQ looks full.
    @Test func cqPressureWithoutControllerBarrierLosesCQDoorbells() throws {
        var lost = 0
        for seed in UInt64(1)...60 {
            var c = SimulationConfig(seed: seed)
            c.queues = 1
            c.cqEntries = 4
            c.workload.iodepth = 12
            c.workload.burst = 12
            c.workload.iops = 1_500
            c.workload.service = .uniform(300, 3_000)
            c.timing.interruptLatency = .uniform(200, 800)
            c.timing.controllerDrain = DelayDistribution.uniform(10, 150).withTail(percent: 20, 500, 5_000)
            c.controllerBarrier = false
            c.durationNs = 2_500_000
            let r = try Simulator.run(c)
            for w in r.windows where w.queue.type == .cq && !w.interleaving.driverRangMMIO {
                #expect(w.cause == .controllerReorder, "seed \(seed) at \(w.startNs): \(w.cause)")
                lost += 1
            }
        }
        #expect(lost >= 3, "lost \(lost)")
    }

    /// A stuck queue times out, is aborted, times out again and the controller is reset;
    /// the reset ends the window and I/O flows again.
    @Test func hangEndsInTimeoutAbortAndReset() throws {
        var c = small(.racing(seed: 2), durationUs: 4_000)
        c.driverBarrier = false
        c.timeoutDivisor = 30_000  // 1 ms
        let r = try Simulator.run(c)
        let reset = try #require(r.resetTimesNs.first)
        #expect(r.aborts > 0)
        #expect(r.windows.contains { $0.resolution == .queueDeleted && $0.endNs! >= reset })
        #expect(r.windows.filter { $0.endNs == nil }.allSatisfy { $0.startNs > reset })
    }

    @Test func everyInjectedFaultIsInTheTruth() throws {
        func run(_ set: (inout FaultSet) -> Void, seed: UInt64 = 4) throws -> SimulationResult {
            var c = small(.racing(seed: seed), durationUs: 3_000)
            c.timeoutDivisor = 60_000  // 0.5 ms
            set(&c.faults)
            c.faultAtNs = 200_000
            return try Simulator.run(c)
        }
        let skip = try run { $0.driverSkipsMMIO = true }
        #expect(skip.faults.contains { $0.kind == .driverSkippedMMIO })
        #expect(skip.windows.contains { $0.fault == .driverSkippedMMIO })

        let range = try run { $0.valueOutOfRange = true }
        let oor = try #require(range.faults.first { $0.kind == .valueOutOfRange })
        #expect(oor.value! >= 64)

        let cq = try run { $0.noCQEventIdx = true }
        #expect(cq.faults.filter { $0.kind == .noCQEventIdx }.count == 2)
        #expect(cq.queues.filter { $0.queue.type == .cq }.allSatisfy { $0.controllerEventIdxWrites == 0 })

        // Stale buffers need a reset: let a skipped doorbell cause one.
        let stale = try run {
            $0.driverSkipsMMIO = true
            $0.staleBuffersAtReset = true
        }
        #expect(!stale.resetTimesNs.isEmpty)
        #expect(stale.faults.contains { $0.kind == .staleBuffersAtReset })

        for r in [skip, range, cq, stale] {
            let json = TruthJSON.render(r)
            for f in r.faults { #expect(json.contains("\"kind\": \"\(f.kind.rawValue)\"")) }
        }
    }

    @Test func faultFreeRunsHaveNoFaultsInTheTruth() throws {
        let r = try Simulator.run(small(.racing(seed: 9), durationUs: 1_000))
        #expect(r.faults.isEmpty)
        #expect(TruthJSON.render(r).contains("\"injected_faults\": []"))
    }

    @Test(arguments: [2, 3, 5, 65536])
    func queueSizesAtTheLimitsWrapCorrectly(entries: Int) throws {
        var c = small(.racing(seed: 11), durationUs: 1_000)
        c.sqEntries = entries
        c.cqEntries = entries
        let r = try Simulator.run(c)
        #expect(r.windows.isEmpty)
        #expect(r.commandsCompleted > 50)
    }

    @Test func invalidConfigurationsAreRejected() {
        var c = SimulationConfig()
        c.sqEntries = 1
        #expect(throws: SimulatorError.self) { try Simulator.run(c) }
        c = SimulationConfig()
        c.queues = 0
        #expect(c.validationError() != nil)
    }

    @Test func explainSaysWhichLoadOvertookWhichStore() throws {
        var c = small(.racing(seed: 3), durationUs: 2_000)
        c.driverBarrier = false
        let r = try Simulator.run(c)
        try #require(!r.windows.isEmpty)
        let text = Explainer.explain(r)
        #expect(text.contains("driver-reorder"))
        #expect(text.contains("overtook its own shadow store"))
        let w = r.windows[0]
        #expect(text.contains("saw \(w.interleaving.driverEventIdxRead)"))
        #expect(text.contains("need_event("))

        var e = ""
        for seed in UInt64(1)...10 {
            var d = small(.racing(seed: seed), durationUs: 2_000)
            d.controllerBarrier = false
            let r = try Simulator.run(d)
            if !r.windows.isEmpty {
                e = Explainer.explain(r)
                break
            }
        }
        #expect(e.contains("controller-reorder"))
        #expect(e.contains("overtook its own EventIdx store"))
    }
}

@Suite struct RandomTests {
    @Test func sameSeedSameSequence() {
        var a = Xoshiro256(seed: 42), b = Xoshiro256(seed: 42), c = Xoshiro256(seed: 43)
        let sa = (0..<100).map { _ in a.next() }
        #expect(sa == (0..<100).map { _ in b.next() })
        #expect(sa != (0..<100).map { _ in c.next() })
    }

    @Test func logarithmIsAccurate() {
        for (x, expected) in [(1.0, 0.0), (2.718281828459045, 1.0), (0.5, -0.6931471805599453), (1e-9, -20.72326583694641)] {
            #expect(abs(naturalLog(x) - expected) < 1e-12)
        }
    }

    @Test func distributionsParseAndStayInRange() throws {
        let d = try #require(DelayDistribution(parsing: "uniform:10:150,tail:5:200:3000"))
        #expect(d.description == "uniform:10:150,tail:5:200:3000")
        #expect(DelayDistribution(parsing: "exp:100") == .exponential(mean: 100))
        #expect(DelayDistribution(parsing: "uniform:5:1") == nil)
        #expect(DelayDistribution(parsing: "gauss:1") == nil)
        var rng = Xoshiro256(seed: 1)
        var tails = 0
        for _ in 0..<10_000 {
            let v = d.draw(&rng)
            #expect((10...150).contains(v) || (200...3000).contains(v))
            if v >= 200 { tails += 1 }
        }
        #expect((300...700).contains(tails))
        var sum: Int64 = 0
        for _ in 0..<20_000 { sum += DelayDistribution.exponential(mean: 1_000).draw(&rng) }
        #expect((900...1_100).contains(sum / 20_000))
    }
}
