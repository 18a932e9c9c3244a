import ShadowBellCore
import Testing

@testable import ShadowBellAnalysis

/// The events of an input kept for the passes after the first (`DecodedEvents`).
struct DecodedEventsTests {
    final class Events: EventSource {
        var summary: InputSummary
        var left: [Event]

        init(_ events: [Event]) {
            summary = InputSummary(index: 0, path: "events", format: .ftraceText)
            summary.events = UInt64(events.count)
            left = events
        }

        func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
            buffer.removeAll(keepingCapacity: true)
            guard !left.isEmpty else { return false }
            let n = min(1000, left.count)
            buffer.append(contentsOf: left.prefix(n))
            left.removeFirst(n)
            return true
        }
    }

    static func events(_ count: Int) -> [Event] {
        (0..<count).map { Event(kind: .driverSubmit, time: Int64($0) * 1_000, qid: 1, a: UInt32($0 & 0xFFFF)) }
    }

    static func drain(_ source: any EventSource) throws(InputError) -> [Event] {
        var all: [Event] = []
        var buffer: [Event] = []
        while try source.nextBatch(into: &buffer) { all += buffer }
        return all
    }

    @Test func aReplayReadsTheEventsBackAsTheyWereDecoded() throws {
        let kept = DecodedEvents()
        let original = Self.events(10_000)
        #expect(try Self.drain(kept.recording(Events(original))) == original)
        let replay = try #require(kept.replay())
        #expect(try Self.drain(replay) == original)
        #expect(replay.summary.events == 10_000)
    }

    /// A run of several inputs given without a place for their events makes one per input and
    /// drops it once the second pass has its replays: the replay keeps the recording (and its
    /// file) alive while it is read. (An optimised build releases the run's own references at
    /// their last use: a replay that held only the file descriptor read a closed file.)
    @Test func aReplayOutlivesTheLastOtherReferenceToItsRecording() throws {
        var kept: DecodedEvents? = DecodedEvents()
        let original = Self.events(5_000)
        _ = try Self.drain(kept!.recording(Events(original)))
        let replay = try #require(kept!.replay())
        kept = nil
        #expect(try Self.drain(replay) == original)
    }
}
