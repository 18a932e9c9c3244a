import ShadowBellCore
import Testing

@testable import ShadowBellAnalysis

/// `AnchorSet.sameRecording`: one recording kept in two forms (a text and the pcap converted
/// from it, a file and its copy) is told from two recordings by its first events.
struct SameRecordingTests {
    /// A QEMU-side recording: fetches, completions, doorbells, from `start`, `step` apart.
    static func host(_ count: Int, start: Int64 = 5_000_000_000, step: Int64 = 7_000, shiftFrom: Int = .max, by shift: Int64 = 0)
        -> AnchorSet
    {
        var events: [Event] = []
        for k in 0..<count {
            let t = start + Int64(k) * step + (k >= shiftFrom ? shift : 0)
            let qid = UInt16(1 + k % 2)
            switch k % 3 {
            case 0: events.append(Event(kind: .controllerFetch, time: t, qid: qid, a: UInt32(k)))
            case 1: events.append(Event(kind: .controllerCompletion, time: t, qid: qid, queueType: .cq, a: UInt32(k)))
            default: events.append(Event(kind: .mmioDoorbell, time: t, qid: qid, a: UInt32(k % 64)))
            }
        }
        // In batches of a few events, as an input is read.
        var set = AnchorSet()
        for k in stride(from: 0, to: events.count, by: 7) { set.consume(Array(events[k..<min(k + 7, events.count)])) }
        return set
    }

    /// A console: guest kernel messages only.
    static func console(_ times: [Int64], kind: UInt32 = 1) -> AnchorSet {
        var set = AnchorSet()
        set.consume(times.map { Event(kind: .guestMessage, time: $0, a: kind) })
        return set
    }

    @Test func aCopyIsTheSameRecording() {
        #expect(Self.host(500).sameRecording(as: Self.host(500)))
        // A prefix of it too (a converted part, a copy cut short): the first events decide.
        #expect(Self.host(500).sameRecording(as: Self.host(40)))
        // Not a recording whose events all fall a little later (the same times are required:
        // a converted or copied log keeps them exactly).
        #expect(!Self.host(500, start: 5_000_000_400).sameRecording(as: Self.host(500)))
    }

    @Test func anotherRecordingIsNot() {
        // Another run of the same workload: the same events at other times.
        #expect(!Self.host(500, start: 9_000_000_000).sameRecording(as: Self.host(500)))
        // The same start, drifting apart after a few events (more than one in ten differ).
        #expect(!Self.host(500, shiftFrom: 50, by: 5_000).sameRecording(as: Self.host(500)))
        #expect(Self.host(500, shiftFrom: 60, by: 5_000).sameRecording(as: Self.host(500)), "9 in 10 alike")
        // Too few events to tell, and not all of one recording.
        #expect(!Self.host(5).sameRecording(as: Self.host(6)))
        #expect(!Self.host(0).sameRecording(as: Self.host(0)))
    }

    /// QEMU's log and its simple trace hold the same events on two clocks (wall clock in
    /// microseconds, CLOCK_MONOTONIC in nanoseconds): the same events at the same spacing, within
    /// 2 µs. (Asked only of those two formats: the session checks the formats.)
    @Test func theControllersEventsOnAnotherClockAreToldBySpacing() {
        let log = Self.host(500, start: 1_795_663_268_000_000_000)
        #expect(log.sameEventsOnAnotherClock(as: Self.host(500, start: 3_268_000_000_123)))
        #expect(Self.host(500, start: 3_268_000_000_123).sameEventsOnAnotherClock(as: log))
        // A log rounds to microseconds what the simple trace keeps in nanoseconds.
        var jittered = AnchorSet()
        jittered.consume((0..<300).map { k in
            Event(kind: .controllerFetch, time: 7_000_000_000 + Int64(k) * 7_000 + Int64(k % 3) * 700, qid: 1, a: UInt32(k))
        })
        var rounded = AnchorSet()
        rounded.consume((0..<300).map { k in Event(kind: .controllerFetch, time: 2_000_000_000 + Int64(k) * 7_000, qid: 1, a: UInt32(k)) })
        #expect(jittered.sameEventsOnAnotherClock(as: rounded))
        // A step of 5 µs halfway through the first 64 events, or another spacing: two recordings.
        #expect(!log.sameEventsOnAnotherClock(as: Self.host(500, start: 3_268_000_000_123, shiftFrom: 32, by: 5_000)))
        #expect(log.sameEventsOnAnotherClock(as: Self.host(500, start: 3_268_000_000_123, shiftFrom: 60, by: 5_000)), "9 in 10 alike")
        #expect(!log.sameEventsOnAnotherClock(as: Self.host(500, start: 3_268_000_000_123, step: 7_100)))
        // Too few events to tell; other events.
        #expect(!Self.host(15).sameEventsOnAnotherClock(as: Self.host(15, start: 1)))
        #expect(!log.sameEventsOnAnotherClock(as: Self.console((0..<100).map { Int64($0) * 7_000 })))
        // The exact rule stays exact: the same events later are not one recording by it.
        #expect(!log.sameRecording(as: Self.host(500, start: 3_268_000_000_123)))
    }

    @Test func aFewEventsAreTheSameOnlyWhenAllAgree() {
        let times: [Int64] = [1_000_000_000, 2_500_000_000, 9_000_000_000]
        #expect(Self.console(times).sameRecording(as: Self.console(times)))
        #expect(!Self.console(times).sameRecording(as: Self.console(Array(times.prefix(2)))))
        #expect(!Self.console(times).sameRecording(as: Self.console([1_000_000_000, 2_500_000_000, 9_000_100_000])))
        #expect(!Self.console(times).sameRecording(as: Self.console(times, kind: 2)))
        // One event each, a microsecond apart: two recordings.
        #expect(!Self.console([1_000_000_000]).sameRecording(as: Self.console([1_000_001_000])))
        #expect(Self.console([1_000_000_000]).sameRecording(as: Self.console([1_000_000_000])))
    }

    @Test func aGuestTraceIsComparedByItsSubmissionsOnly() {
        var guest = AnchorSet()
        guest.consume((0..<100).map { Event(kind: .driverSubmit, time: 1_000_000 + Int64($0) * 3_000, qid: 1, a: UInt32($0)) })
        var again = AnchorSet()
        again.consume((0..<100).map { Event(kind: .driverSubmit, time: 1_000_000 + Int64($0) * 3_000, qid: 1, a: UInt32($0)) })
        #expect(guest.sameRecording(as: again))
        // A host-side recording whose first events fall at the same times: never the same.
        #expect(!guest.sameRecording(as: Self.host(100, start: 1_000_000, step: 3_000)))
        #expect(!Self.host(100, start: 1_000_000, step: 3_000).sameRecording(as: guest))
    }
}
