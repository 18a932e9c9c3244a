import ShadowBellCore
import Testing

@testable import ShadowBellAnalysis

/// An inferred wait keeps the ids of the first commands not fetched, updated in place as the
/// queue's pending submissions change: always what the definition (the first `stuckIDLimit`
/// pending cmdids) gives.
@Suite struct StuckCommandIDTests {
    typealias SplitMix = CommandTableTests.SplitMix

    static func pending(_ id: UInt32) -> PendingSubmission {
        PendingSubmission(cmdid: id, at: EventRef(Event(kind: .driverSubmit, time: Int64(id), qid: 1, a: id)))
    }

    static func definition(_ pending: [PendingSubmission]) -> [UInt32] {
        pending.prefix(ClockGroupAnalyzer.stuckIDLimit).map(\.cmdid)
    }

    @Test(arguments: [1, 2, 3, 4])
    func keptInPlaceAsTheDefinitionSays(seed: UInt64) {
        var rng = SplitMix(state: seed)
        var pending: [PendingSubmission] = []
        var ids: [UInt32] = []
        var next: UInt32 = 0
        for _ in 0..<20_000 {
            let r = rng.next()
            switch r % 8 {
            case 0, 1, 2, 3:
                // Submitted (sometimes a burst, taking the queue past the limit).
                for _ in 0...(r >> 8) % (r % 8 == 3 ? 40 : 2) {
                    pending.append(Self.pending(next))
                    next &+= 1
                }
            case 4, 5:
                // Fetched: the first pending command, or one further on.
                if !pending.isEmpty { pending.remove(at: Int((r >> 8) % UInt64(min(pending.count, 3)))) }
            case 6:
                // Cancelled anywhere in the queue.
                if !pending.isEmpty { pending.remove(at: Int((r >> 8) % UInt64(pending.count))) }
            default:
                // Ids of another queue's state (not a prefix of these at all).
                ids = (0..<((r >> 8) % 40)).map { UInt32($0) &* 7 &+ 100_000 }
            }
            ClockGroupAnalyzer.keepFirstIDs(of: pending, in: &ids)
            #expect(ids == Self.definition(pending))
        }
    }

    @Test func emptyPendingEmptiesTheIDs() {
        var ids: [UInt32] = [1, 2, 3]
        ClockGroupAnalyzer.keepFirstIDs(of: [], in: &ids)
        #expect(ids.isEmpty)
    }
}

/// Commands outstanding where the input ends, longer than any I/O takes but below
/// `--stuck-after`, are said in a note: the input ends too soon to tell (never a silent
/// "healthy" for a trace cut two seconds into a stall).
@Suite struct LateCommandNoteTests {
    /// The events in one batch, counted in the summary as a decoder counts them.
    final class Source: EventSource {
        var summary = InputSummary(index: 0, path: "guest.txt", format: .ftraceText)
        var events: [Event]?
        init(_ events: [Event]) { self.events = events }
        func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
            buffer.removeAll(keepingCapacity: true)
            guard let events else { return false }
            buffer = events
            summary.events = UInt64(events.count)
            self.events = nil
            return true
        }
    }

    /// qid 1 keeps completing its commands every 10 ms up to `end`; qid 2's two commands,
    /// submitted at 1 s, are never completed.
    static func trace(end: Int64) -> [Event] {
        var events: [Event] = []
        var t: Int64 = 0
        var cid: UInt32 = 0
        while t <= end {
            if t == 1_000_000_000 {
                events.append(Event(kind: .driverSubmit, time: t, qid: 2, a: 700))
                events.append(Event(kind: .driverSubmit, time: t + 1000, qid: 2, a: 701))
            }
            events.append(Event(kind: .driverSubmit, time: t, qid: 1, a: cid))
            events.append(Event(kind: .driverComplete, time: t + 5_000, qid: 1, a: cid))
            cid = (cid + 1) % 1024
            t += 10_000_000
        }
        return events
    }

    static func notes(end: Int64, options: AnalysisOptions = AnalysisOptions()) throws -> (notes: [String], findings: [Finding]) {
        let result = try AnalysisSession.run(sources: [Source(trace(end: end))], options: options)
        return (result.notes.filter { $0.contains("still outstanding") }, result.findings)
    }

    @Test func aTraceEndingTwoSecondsIntoAStallSaysSo() throws {
        let (notes, findings) = try Self.notes(end: 3_100_000_000)
        #expect(findings.isEmpty)
        #expect(notes.count == 1)
        #expect(notes.first?.hasPrefix("nvme0 qid 2: 2 command(s) still outstanding where the input ends, the oldest for 2.100 s") == true)
        #expect(notes.first?.contains("--stuck-after 1.000 s reports them") == true)
    }

    @Test func youngCommandsAndStuckOnesGetNoNote() throws {
        // Under a second: ordinary latency at the end of a capture.
        #expect(try Self.notes(end: 1_900_000_000).notes.isEmpty)
        // Past --stuck-after: a stuck-command finding tells them instead.
        let (notes, findings) = try Self.notes(end: 7_000_000_000)
        #expect(notes.isEmpty)
        #expect(findings.contains { $0.kind == .stuckCommand && $0.queue.qid == 2 })
        // --stuck-after at or below a second: whatever is older is a finding.
        var options = AnalysisOptions()
        options.stuckAfter = 1_000_000_000
        let (shortNotes, shortFindings) = try Self.notes(end: 3_100_000_000, options: options)
        #expect(shortNotes.isEmpty)
        #expect(shortFindings.contains { $0.kind == .stuckCommand && $0.queue.qid == 2 })
    }
}

/// Commands whose SQ was deleted before they were fetched are not outstanding where the
/// inputs end: the driver cancelled them and requeues them with new ids (a note counted 96
/// commands outstanding on a queue of depth 48).
@Suite struct OutstandingAtTheEndTests {
    @Test func commandsOfADeletedQueueAreNotOutstanding() {
        var s = Scenario()
        s.createQueues(entries: 64, at: 0)
        s.submit(cmdid: 1, at: 10)
        s.submit(cmdid: 2, at: 11)
        s.deleteSQ(at: 20)
        s.createQueues(entries: 64, at: 30)
        s.submit(cmdid: 4097, at: 40)
        s.tick(at: 50)
        let result = s.analyze()
        #expect(result.outstandingAtEnd.map(\.count) == [1], "\(result.outstandingAtEnd)")
    }
}
