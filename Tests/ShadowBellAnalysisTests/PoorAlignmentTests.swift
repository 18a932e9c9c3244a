import ShadowBellCore
import Testing

@testable import ShadowBellAnalysis

/// Where the clock map cannot follow the clocks — a step of the offset between two stretches of
/// causal pairs (a VM paused, a gdbstub stop), or pairs it misses — the alignment says so, and a
/// finding judged from the order of guest and controller events near there is marked uncertain.
struct PoorAlignmentTests {
    static func segment(_ start: Int64, _ end: Int64, offset: Int64) -> ClockAlignment.Segment {
        var s = ClockAlignment.Segment(start: start, end: end)
        s.upper = offset + 10_000
        s.lower = offset - 10_000
        s.pairs = 100
        return s
    }

    @Test func aStepBetweenTwoStretchesOfPairsIsAPoorStretch() {
        // 10 s of pairs at offset 1 s, then at 1.0767 s from 10.0003 s on: a 76.7 ms step the
        // map interpolates across 0.3 ms.
        let segments = [Self.segment(0, 10_000_000_000, offset: 1_000_000_000),
                        Self.segment(10_000_300_000, 20_000_000_000, offset: 1_076_700_000)]
        let map = ClockMap(knots: segments.flatMap { [($0.start, $0.offset), ($0.end, $0.offset)] })
        let stretches = ClockAlignment.poorStretches(of: map, segments: segments, upper: [], lower: [], beyond: 10_000)
        #expect(stretches == [AlignmentReport.PoorStretch(from: 10_000_000_000, to: 10_000_300_000, pairs: 0, worst: 76_700_000)])
    }

    @Test func driftIsNoStep() {
        // 2000 ppm of drift: 20 ms over 10 s between the stretches.
        let segments = [Self.segment(0, 10_000_000_000, offset: 1_000_000_000),
                        Self.segment(20_000_000_000, 30_000_000_000, offset: 1_020_000_000)]
        let map = ClockMap(knots: segments.flatMap { [($0.start, $0.offset), ($0.end, $0.offset)] })
        #expect(ClockAlignment.poorStretches(of: map, segments: segments, upper: [], lower: [], beyond: 10_000).isEmpty)
    }

    @Test func pairsTheMapMissesAreCountedWhereTheyAre() {
        let map = ClockMap(constant: 1_000_000_000)
        // fetch − submit = offset + latency ≥ offset: these two say the offset is 5 ms lower.
        let upper: [(time: Int64, diff: Int64)] = [(5_000_000_000, 995_000_000), (5_000_100_000, 996_000_000), (9_000_000_000, 1_000_050_000)]
        let stretches = ClockAlignment.poorStretches(of: map, segments: [], upper: upper, lower: [], beyond: 10_000)
        #expect(stretches == [AlignmentReport.PoorStretch(from: 5_000_000_000, to: 5_000_100_000, pairs: 2, worst: 5_000_000)])
    }
}

/// The driver's give-ups and the console's timeouts are kept per queue, for as many queues as
/// the analysis keeps state for: hostile input naming a new queue in every ABORT (or timeout
/// message) cannot grow them without bound.
struct GiveUpBoundsTests {
    @Test func abortsAndTimeoutsNamingEveryQueueStayBounded() {
        let analyzer = ClockGroupAnalyzer(options: AnalysisOptions(), sources: [0], clock: .timestamps)
        for n in 0..<(ClockGroupAnalyzer.queueLimit + 500) {
            var abort = Event(kind: .driverSubmit, time: Int64(n) * 1_000, controller: UInt16(n >> 16))
            abort.qid = 0
            abort.a = UInt32(n & 0xFFFF)
            abort.b = UInt32(n & 0xFFFF)
            abort.c = 7
            abort.flags = Event.abortsCommandFlag
            analyzer.consume(abort)
            var message = Event(kind: .guestMessage, time: Int64(n) * 1_000 + 1, controller: UInt16(n >> 16))
            message.qid = UInt16(n & 0xFFFF)
            message.a = GuestMessageKind.timeoutAborting.rawValue
            message.b = 7
            analyzer.consume(message)
        }
        #expect(analyzer.driverGiveUps.count <= ClockGroupAnalyzer.queueLimit)
        #expect(analyzer.guestTimeouts.count <= ClockGroupAnalyzer.queueLimit)
    }
}

/// A VM stopped again and again (a debugger attached through QEMU's gdbstub every few seconds):
/// the guest clock stands still while the host's goes on, so the offset steps up by tens of
/// milliseconds each time, while each queue's command ids come back every few tens of
/// milliseconds. The estimate followed a step up only by `creep` a pair, and the nearest
/// commands of the same ids within `tolerance` were taken as pairs: a QEMU 10 log was placed up
/// to 1 s off under a stated ±8 ms (and its first seconds 0.46 s off, from a coarse offset taken
/// from a busier later stretch).
struct SteppingOffsetTests {
    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6])
    func aVMPausedEveryFewSecondsIsPlacedStepByStep(seed: UInt64) throws {
        var r = ModeOffsetTests.Random(state: seed)
        let base: Int64 = 1_796_427_319_462_800_000
        // Steps of 20–130 ms every ~4 s from 15 s on (as QEMU's gdbstub pauses left them).
        var steps: [(at: Int64, by: Int64)] = []
        var t: Int64 = 15_000_000_000
        while t < 60_000_000_000 {
            steps.append((t, 20_000_000 + r.next(110_000_000)))
            t += 3_800_000_000 + r.next(400_000_000)
        }
        func offset(_ time: Int64) -> Int64 { base + steps.filter { $0.at <= time }.reduce(0) { $0 + $1.by } }
        var guest = AnchorSet(), host = AnchorSet()
        // Two queues; each draws its command ids from 16 free ones (a driver's tags: each comes
        // back every ~40 ms at 400 commands a second, never while in flight), three times as
        // busy from 45 s to 50 s (the burst after a reset: the coarse offset's mode lies there).
        for qid in UInt16(1)...2 {
            var time: Int64 = 5_000_000_000
            var busyUntil = [Int64](repeating: 0, count: 16)
            while time < 60_000_000_000 {
                let free = busyUntil.indices.filter { busyUntil[$0] < time }
                guard !free.isEmpty else {
                    time += 100_000
                    continue
                }
                let tag = free[Int(r.next(Int64(free.count)))]
                let cmdid = UInt32(tag) | UInt32(qid) << 8
                let fetch = time + 20_000 + r.next(180_000)
                let enqueue = fetch + 300_000 + r.next(700_000)
                let complete = enqueue + 30_000 + r.next(200_000)
                busyUntil[tag] = complete
                // No event inside a pause: the guest stood still.
                if !steps.contains(where: { $0.at > time - 2_000_000 && $0.at <= complete + 2_000_000 }) {
                    guest.submits.append(Anchor(time: time, qid: qid, cmdid: cmdid))
                    guest.completes.append(Anchor(time: complete, qid: qid, cmdid: cmdid))
                    host.fetches.append(Anchor(time: fetch + offset(fetch), qid: qid, cmdid: cmdid))
                    host.enqueues.append(Anchor(time: enqueue + offset(enqueue), qid: qid, cmdid: cmdid))
                }
                let busy = time >= 45_000_000_000 && time < 50_000_000_000
                time += (busy ? 800_000 : 2_500_000) + r.next(busy ? 200_000 : 500_000)
            }
        }
        host.fetches.sort { $0.time < $1.time }
        host.enqueues.sort { $0.time < $1.time }
        let (map, report) = try #require(ClockAlignment.estimate(guest: guest, host: host))
        // Everywhere but within 50 ms of a step, the map is the true offset to within the
        // pairs' latencies.
        var worst: Int64 = 0
        var time: Int64 = 5_100_000_000
        while time < 59_900_000_000 {
            if !steps.contains(where: { abs($0.at - time) < 50_000_000 }) {
                worst = max(worst, abs(map.offset(at: time) - offset(time)))
            }
            time += 10_000_000
        }
        #expect(worst < 1_000_000, "seed \(seed): the map misses the offset by up to \(worst) ns")
        #expect(report.uncertainty < 1_000_000, "seed \(seed): \(report.uncertainty)")
        #expect(report.contradictions < 20, "seed \(seed): \(report.contradictions)")
        // Each step is told where it is.
        for s in steps where s.by > 2 * report.uncertainty + 100_000 {
            #expect(report.poorStretches.contains { $0.from <= s.at + 50_000_000 && $0.to >= s.at - 50_000_000 }, "seed \(seed): step at \(s.at)")
        }
    }
}

/// A wait opening where the clocks are poorly aligned: its start is in doubt unless cause and
/// effect orders it — a completion the controller posted after going to sleep (later in its
/// own trace) reached the driver before the submission that opened the window (earlier in the
/// guest's). Two inputs, each in its own order, whatever their times say.
@Suite struct CausalOrderTests {
    static func us(_ t: Int64) -> Int64 { t * 1_000 }

    /// The controller (input 1) reads tail 1, fetches cid 7, writes EventIdx 1 and reads the shadow tail 1 —
    /// asleep — and posts cid 7's completion after (`completionAfterSleep`) or before that; the
    /// guest (input 0) submitted cid 7, sees its completion, then submits cid 8 and never rings.
    static func run(completionAfterSleep: Bool, stretch: Bool = true) -> GroupResult {
        var host: [Event] = [
            Event(kind: .queueCreate, time: us(0), qid: 1, queueType: .cq, a: 15),
            Event(kind: .queueCreate, time: us(0), qid: 1, queueType: .sq, a: 15, b: 1),
            Event(kind: .dbbufConfig, time: us(1)),
            .queueValue(.controllerShadowRead, .sq, qid: 1, value: 1, time: us(20)),
            Event(kind: .controllerFetch, time: us(21), qid: 1, a: 7),
        ]
        let completion = Event(kind: .controllerCompletion, time: us(completionAfterSleep ? 42 : 39), qid: 1, queueType: .cq, a: 7)
        if !completionAfterSleep { host.append(completion) }
        host += [
            .queueValue(.controllerEventIdxWrite, .sq, qid: 1, value: 1, time: us(40)),
            .queueValue(.controllerShadowRead, .sq, qid: 1, value: 1, time: us(41)),
        ]
        if completionAfterSleep { host.append(completion) }
        // The controller's trace goes on (its admin queue) as long as the guest's.
        host.append(.queueValue(.controllerShadowRead, .sq, qid: 0, value: 0, time: us(5_000_000)))
        let guest: [Event] = [
            Event(kind: .driverSubmit, time: us(10), qid: 1, a: 7),
            Event(kind: .driverComplete, time: us(50), qid: 1, a: 7, b: 0),
            Event(kind: .driverSubmit, time: us(60), qid: 1, a: 8),
            Event(kind: .interrupt, time: us(5_000_000), a: 9),
        ]
        var merged: [Event] = []
        for (source, list) in [(UInt16(1), host), (UInt16(0), guest)] {
            for (k, var e) in list.enumerated() {
                e.source = source
                e.location = UInt64(k + 1)
                merged.append(e)
            }
        }
        merged.sort { $0.time < $1.time }
        let analyzer = ClockGroupAnalyzer(options: AnalysisOptions(), sources: [0, 1], clock: .timestamps)
        if stretch { analyzer.poorAlignment = [AlignmentReport.PoorStretch(from: us(55), to: us(65), pairs: 0, worst: 30_000_000)] }
        for e in merged { analyzer.consume(e) }
        return analyzer.finish()
    }

    static func startInDoubt(_ r: GroupResult) throws -> Bool {
        let w = try #require(r.findings.first { $0.kind == .mutualWait }, "\(r.findings.map { ($0.kind, $0.start, $0.message) })")
        #expect(w.start == us(60))
        return w.uncertainty.contains { $0.hasPrefix("the clocks are poorly aligned near its start") }
    }

    @Test func aCompletionPostedAfterTheSleepAndSeenBeforeTheSubmissionOrdersTheStart() throws {
        let r = Self.run(completionAfterSleep: true)
        #expect(try Self.startInDoubt(r) == false)
        #expect(r.findings.first { $0.kind == .mutualWait }?.startOrderedByCause == true)
    }

    @Test func withoutSuchACompletionTheStretchPutsTheStartInDoubt() throws {
        let r = Self.run(completionAfterSleep: false)
        #expect(try Self.startInDoubt(r) == true)
        #expect(r.findings.first { $0.kind == .mutualWait }?.startOrderedByCause == false)
        // And without a poor stretch, no doubt either way.
        #expect(try Self.startInDoubt(Self.run(completionAfterSleep: false, stretch: false)) == false)
    }
}

/// Hangs every few tens of milliseconds on a busy queue whose 64 command ids come back every
/// ~1.4 ms (as in the simulated runs): each hang's submissions are never fetched, and the reset
/// cancels them (the driver completes them with status 0x371, which no controller completion
/// answers). A never-fetched submission took the next fetch of its id as its pair, that command
/// the one after, and so on: every later pair of the id lay a reuse period off and the estimate
/// crept up with them (a simulated run of 49 resets was placed 1.3 ms off after 0.23 s under a
/// stated ±1.3 ms, its last hang untold); a cancellation took another command's completion as
/// its pair, a lower bound that was no bound.
struct NeverFetchedTests {
    @Test(arguments: [UInt64(1), 2, 3])
    func submissionsNeverFetchedLeaveTheirIdsPairsInPlace(seed: UInt64) throws {
        var r = ModeOffsetTests.Random(state: seed)
        let start: Int64 = 152_000_000_000, end: Int64 = 152_600_000_000
        // 35 ppm of drift, as the simulated runs have.
        func offset(_ time: Int64) -> Int64 { 1_764_115_048_000_000_000 + (time - start) * 35 / 1_000_000 }
        var guestEvents: [Event] = [], hostEvents: [Event] = []
        func guest(_ kind: EventKind, _ t: Int64, _ cmdid: Int, status: UInt32 = 0) {
            guestEvents.append(Event(kind: kind, time: t, qid: 1, a: UInt32(cmdid), b: status))
        }
        func host(_ kind: EventKind, _ t: Int64, _ cmdid: Int) {
            hostEvents.append(Event(kind: kind, time: t + offset(t), qid: 1, a: UInt32(cmdid)))
        }
        var busyUntil = [Int64](repeating: 0, count: 64)
        var time = start
        var nextHang = start + 20_000_000
        while time < end {
            let free = busyUntil.indices.filter { busyUntil[$0] < time }
            if time >= nextHang {
                // Up to 48 submissions the controller never fetches; 6 ms on the reset cancels
                // them and every id is free again.
                let reset = time + 6_000_000
                for (k, tag) in free.prefix(48).enumerated() {
                    guest(.driverSubmit, time + Int64(k) * 20_000, tag)
                    guest(.driverComplete, reset + Int64(k) * 1_000, tag, status: 0x371)
                }
                busyUntil = [Int64](repeating: 0, count: 64)
                time = reset + 200_000
                nextHang = time + 25_000_000 + r.next(30_000_000)
                continue
            }
            guard !free.isEmpty else {
                time += 5_000
                continue
            }
            let tag = free[Int(r.next(Int64(free.count)))]
            let fetch = time + 5_000 + r.next(25_000)
            let enqueue = fetch + 50_000 + r.next(250_000)
            let complete = enqueue + 5_000 + r.next(15_000)
            busyUntil[tag] = complete
            guest(.driverSubmit, time, tag)
            host(.controllerFetch, fetch, tag)
            host(.controllerCompletion, enqueue, tag)
            guest(.driverComplete, complete, tag)
            time += 10_000 + r.next(20_000)
        }
        var guestSet = AnchorSet(), hostSet = AnchorSet()
        guestSet.consume(guestEvents.sorted { $0.time < $1.time })
        hostSet.consume(hostEvents.sorted { $0.time < $1.time })
        let (map, report) = try #require(ClockAlignment.estimate(guest: guestSet, host: hostSet))
        var worst: Int64 = 0
        for t in stride(from: start + 1_000_000, to: end - 1_000_000, by: 1_000_000) {
            worst = max(worst, abs(map.offset(at: t) - offset(t)))
        }
        #expect(worst < 50_000, "seed \(seed): the map misses the offset by up to \(worst) ns")
        #expect(report.uncertainty < 50_000, "seed \(seed): stated ±\(report.uncertainty) ns")
    }
}
