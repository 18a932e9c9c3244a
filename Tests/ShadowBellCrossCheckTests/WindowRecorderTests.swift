import Foundation
import ShadowBellAnalysis
import ShadowBellCore
import ShadowBellFormats
import ShadowBellReport
import ShadowBellSimulator
import Testing

/// The pictures' recorder (`WindowRecorder`) against its definition, on a simulated trace with
/// hundreds of findings: each finding keeps the last `leadIn` samples of its queue and clock
/// before its start, the first `insideHead` and last `insideTail` inside its window (the others
/// counted), and the first `after` after it, whatever the order of the stream.
@Suite(.serialized) struct WindowRecorderTests {
    struct Observed {
        var event: Event
        var snapshot: QueueSnapshot
    }

    /// The definition, finding by finding over the whole stream.
    static func reference(_ stream: [Observed], _ result: AnalysisResult, _ chosen: [Int]) -> [(samples: [StateSample], omitted: Int)] {
        let (leadIn, insideHead, insideTail, after) = (16, 120, 40, 6)
        var clockOf: [UInt16: UInt16] = [:]
        var ends: [UInt16: Int64] = [:]
        for g in result.groups {
            guard let clock = g.sources.first else { continue }
            for s in g.sources { clockOf[s] = clock }
            ends[clock] = g.lastTime
        }
        var ordinals: [QueueKey: Int] = [:]
        var numbered: [(sample: StateSample, queue: QueueKey)] = []
        let queues = Set(chosen.map { result.findings[$0].queue })
        // A queue's latest state on each clock it has findings on: the driver's ABORT of one of
        // its commands (an admin command) is drawn there as one of its events, with that state.
        var latest: [QueueKey: [UInt16: StateSample]] = [:]
        let findingClocks = Dictionary(grouping: chosen.map { result.findings[$0] }, by: \.queue).mapValues { Set($0.map(\.clockInput)) }
        func number(_ sample: StateSample, _ key: QueueKey) {
            var s = sample
            ordinals[key, default: 0] += 1
            s.ordinal = ordinals[key]!
            numbered.append((s, key))
            let clock = clockOf[s.event.source] ?? s.event.source
            if findingClocks[key]?.contains(clock) == true { latest[key, default: [:]][clock] = s }
        }
        for o in stream {
            let e = o.event
            if o.snapshot.key.qid == 0, e.kind == .driverSubmit, e.flags & Event.abortsCommandFlag != 0, e.b != 0, e.b <= 0xFFFF {
                let target = QueueKey(controller: e.controller, qid: UInt16(e.b), type: .sq)
                if queues.contains(target), var s = latest[target]?[clockOf[e.source] ?? e.source] {
                    s.event = e
                    number(s, target)
                }
            }
            if queues.contains(o.snapshot.key) { number(StateSample(e, o.snapshot), o.snapshot.key) }
        }
        return chosen.map { i in
            let f = result.findings[i]
            let plotEnd = f.end ?? (f.resolution == nil ? f.start : ends[f.clockInput] ?? f.start)
            var lead: [StateSample] = [], head: [StateSample] = [], tail: [StateSample] = [], afterSamples: [StateSample] = []
            var omitted = 0
            // Samples are taken as inside from the earliest evidence up to a second before the start.
            let from = f.evidence.map(\.time).filter { $0 < f.start && f.start - $0 <= 1_000_000_000 }.min() ?? f.start
            for (s, key) in numbered where key == f.queue && (clockOf[s.event.source] ?? s.event.source) == f.clockInput {
                if s.event.time < from {
                    lead.append(s)
                    if lead.count > leadIn { lead.removeFirst() }
                } else if s.event.time <= plotEnd {
                    if head.count < insideHead {
                        head.append(s)
                    } else {
                        tail.append(s)
                        if tail.count > insideTail {
                            tail.removeFirst()
                            omitted += 1
                        }
                    }
                } else if afterSamples.count < after {
                    afterSamples.append(s)
                }
            }
            return (lead + head + tail + afterSamples, omitted)
        }
    }

    static func record(_ stream: [Observed], _ result: AnalysisResult, _ chosen: [Int], retires: Bool) -> WindowRecorder {
        let recorder = WindowRecorder(result: result, findings: chosen, retires: retires)
        for o in stream { recorder.observe(o.event, o.snapshot) }
        return recorder
    }

    /// A simulated lab trace with hundreds of findings, in a folder of its own (`name`).
    static func labTrace(_ name: String) throws -> (dir: URL, path: String) {
        var c = SimulationConfig(seed: 7)
        c.driverBarrier = false
        c.durationNs = 40_000_000
        c.timeoutDivisor = 75_000
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shadowbell-\(name)-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("lab.txt").path
        _ = try Simulator.writeLabTrace(c, to: path)
        return (dir, path)
    }

    static func same(_ recorded: [FindingTimeline], _ expected: [(samples: [StateSample], omitted: Int)]) -> Bool {
        recorded.count == expected.count
            && zip(recorded, expected).allSatisfy { $0.samples == $1.samples && $0.omitted == $1.omitted }
    }

    @Test func retiringRecorderMatchesTheDefinition() throws {
        let (dir, path) = try Self.labTrace("recorder")
        defer { try? FileManager.default.removeItem(at: dir) }
        var stream: [Observed] = []
        var options = AnalysisOptions()
        options.minWait = 0
        let input = AnalysisInput(path: path) { () throws(InputError) -> any EventSource in try openEventSource(path: path, index: 0) }
        let result = try AnalysisSession.run(inputs: [input], options: options) { e, q in stream.append(Observed(event: e, snapshot: q)) }
        let chosen = Array(result.findings.indices)
        #expect(chosen.count >= 20, "a trace with many findings (\(chosen.count))")

        // In order: exact, and the same as keeping every finding to the end.
        let inOrder = Self.record(stream, result, chosen, retires: true)
        #expect(inOrder.isExact)
        #expect(Self.same(inOrder.finish(), Self.reference(stream, result, chosen)))
        #expect(Self.same(Self.record(stream, result, chosen, retires: false).finish(), Self.reference(stream, result, chosen)))

        // Time going back: blocks of the stream moved earlier. A retiring recorder either is
        // exact or says it is not; one that keeps every finding is always exact.
        var inexact = 0
        for seed in 1...3 {
            var moved = stream
            var state = UInt64(seed)
            for _ in 0..<4 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let from = Int(state >> 33) % (moved.count - 200)
                let to = Int(state >> 13) % max(from, 1)
                let block = Array(moved[from..<from + 200])
                moved.removeSubrange(from..<from + 200)
                moved.insert(contentsOf: block, at: to)
            }
            let expected = Self.reference(moved, result, chosen)
            let retiring = Self.record(moved, result, chosen, retires: true)
            if retiring.isExact {
                #expect(Self.same(retiring.finish(), expected), "seed \(seed)")
            } else {
                inexact += 1
            }
            #expect(Self.same(Self.record(moved, result, chosen, retires: false).finish(), expected), "seed \(seed)")
        }
        #expect(inexact > 0, "moved blocks reach back into finished windows")
    }

    /// A second pass that stops once every finding recorded is behind it (`observationEnd`)
    /// records the same timelines as one that reads to the end, from fewer events: the first
    /// findings of a trace whose hangs go on after them.
    @Test func aPassStoppedAfterTheLastFindingRecordsTheSame() throws {
        let (dir, path) = try Self.labTrace("recorder-end")
        defer { try? FileManager.default.removeItem(at: dir) }
        var options = AnalysisOptions()
        options.minWait = 0
        let input = AnalysisInput(path: path) { () throws(InputError) -> any EventSource in try openEventSource(path: path, index: 0) }
        let result = try AnalysisSession.run(inputs: [input], options: options)
        let early = result.findings.indices.sorted { (result.findings[$0].end ?? .max) < (result.findings[$1].end ?? .max) }.prefix(5)
        #expect(early.count == 5)
        for chosen in [Array(early), [early.first!]] {
            func record(stopping: Bool) throws -> (timelines: [FindingTimeline], events: Int) {
                let recorder = WindowRecorder(result: result, findings: chosen)
                var pass = options
                pass.observedQueues = recorder.queues
                // A margin of a microsecond: the simulated trace's events are in order.
                if stopping {
                    recorder.margin = 1_000
                    pass.observationEnd = recorder.end
                }
                var events = 0
                _ = try? AnalysisSession.run(inputs: [input], options: pass) { e, q in
                    events += 1
                    recorder.observe(e, q)
                }
                #expect(recorder.isExact)
                #expect(stopping == (recorder.end.time != .max))
                return (recorder.finish(), events)
            }
            let whole = try record(stopping: false), stopped = try record(stopping: true)
            #expect(stopped.events < whole.events / 2, "\(stopped.events) of \(whole.events) events")
            #expect(stopped.timelines.count == whole.timelines.count)
            for (a, b) in zip(stopped.timelines, whole.timelines) {
                #expect(a.samples == b.samples && a.omitted == b.omitted && a.findingIndex == b.findingIndex)
            }
        }
    }
}
