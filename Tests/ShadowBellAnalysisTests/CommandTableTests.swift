import ShadowBellCore
import Testing

@testable import ShadowBellAnalysis

/// The analyzer's table of outstanding commands must behave exactly like a dictionary.
@Suite struct CommandTableTests {
    /// A small deterministic generator (the test must not depend on the system's randomness).
    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test(arguments: [4, 64, 5_000])
    func randomOperationsMatchADictionary(keySpace: Int) {
        var table = CommandTable<Int>(capacity: 4)
        var reference: [UInt64: Int] = [:]
        var rng = SplitMix(state: UInt64(keySpace))
        for step in 0..<60_000 {
            // Keys shaped like the analyzer's: controller << 48 | qid << 32 | cmdid, clustered.
            let r = rng.next()
            let key = UInt64(r % 3) << 48 | UInt64((r >> 8) % 4) << 32 | (r >> 16) % UInt64(keySpace)
            switch (r >> 40) % 4 {
            case 0, 1:
                table.set(key, step)
                reference[key] = step
            case 2:
                #expect(table.removeValue(forKey: key) == reference.removeValue(forKey: key))
            default:
                if let slot = table.slot(of: key) {
                    table[slot: slot] += 1
                    reference[key]! += 1
                } else {
                    #expect(reference[key] == nil)
                }
            }
            #expect(table.count == reference.count)
        }
        for (key, value) in reference { #expect(table[key] == value) }
        let entries = table.entries
        #expect(entries.count == reference.count)
        #expect(Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0.value) }) == reference)
    }

    @Test func updateAllTouchesOnlyMatchingKeys() {
        var table = CommandTable<Int>()
        for qid in UInt64(1)...3 { for cmd in UInt64(0)..<100 { table.set(qid << 32 | cmd, 0) } }
        table.updateAll(where: { $0 >> 32 == 2 }) { $0 = 7 }
        #expect(table.entries.filter { $0.value == 7 }.count == 100)
        #expect(table.entries.allSatisfy { ($0.key >> 32 == 2) == ($0.value == 7) })
    }
}

/// Hostile input that submits commands and never completes them meets the analyzer's cap.
@Suite struct OutstandingCommandLimitTests {
    static func submit(_ i: Int, qid: UInt16, cmdid: UInt32) -> Event {
        Event(kind: .driverSubmit, time: 1_000_000_000 + Int64(i) * 1000, qid: qid, a: cmdid)
    }

    @Test func submissionsBeyondTheLimitAreLeftOutAndCounted() {
        let limit = ClockGroupAnalyzer.outstandingCommandLimit
        let analyzer = ClockGroupAnalyzer(options: AnalysisOptions(), sources: [0], clock: .timestamps)
        // Distinct commands on qid 1, 2, …: 4,096 each, one per kernel tag (a tag submitted
        // again under another id ends its earlier command, as Linux holds a tag while it lives).
        for i in 0..<(limit + 1000) {
            analyzer.consume(Self.submit(i, qid: UInt16(1 + i >> 12), cmdid: UInt32(i & 0xFFF)))
        }
        #expect(analyzer.outstanding.count == limit)
        #expect(analyzer.submissionsBeyondCommandLimit == 1000)
        // A command already outstanding may be submitted again, and a completion makes room.
        analyzer.consume(Self.submit(limit + 1000, qid: 1, cmdid: 3))
        analyzer.consume(Event(kind: .driverComplete, time: 2_000_000_000, qid: 1, a: 4))
        analyzer.consume(Self.submit(limit + 1001, qid: 1000, cmdid: 9))
        analyzer.consume(Self.submit(limit + 1002, qid: 1000, cmdid: 10))
        #expect(analyzer.outstanding.count == limit)
        let result = analyzer.finish()
        #expect(result.submissionsBeyondCommandLimit == 1001)
        #expect(result.queues.first { $0.key == QueueKey(controller: 0, qid: 1000, type: .sq) }?.stats.commandsSubmitted == 1)
    }

    @Test func fetchesBeforeTheirSubmissionAreKeptBoundedOnAlignedClocks() {
        let analyzer = ClockGroupAnalyzer(options: AnalysisOptions(), sources: [0, 1], clock: .timestamps)
        analyzer.alignmentUncertainty = 1_000_000_000  // every fetch below lies within the tolerance
        let limit = ClockGroupAnalyzer.earlyFetchLimit
        // Fetches of distinct commands never submitted, 1 ns apart: none can be trimmed.
        for i in 0..<(limit + 5000) {
            analyzer.consume(Event(
                kind: .controllerFetch, time: 1_000_000_000 + Int64(i), qid: UInt16(1 + i >> 16), a: UInt32(i & 0xFFFF)))
        }
        #expect(analyzer.earlyFetches.count == limit)
        // One that was kept still pairs with its submission (and leaves the table).
        analyzer.consume(Self.submit(1, qid: 1, cmdid: 7))
        #expect(analyzer.earlyFetches.count == limit - 1)
    }

    @Test func aCommandIdentifierBeyondSixteenBitsIsReportedAndTrackedByItsLowBits() {
        let analyzer = ClockGroupAnalyzer(options: AnalysisOptions(), sources: [0], clock: .timestamps)
        analyzer.consume(Self.submit(0, qid: 1, cmdid: 0x1_0005))
        #expect(analyzer.outstanding.count == 1)
        // Every other queue's command identifiers stay apart.
        analyzer.consume(Self.submit(1, qid: 2, cmdid: 5))
        #expect(analyzer.outstanding.count == 2)
        analyzer.consume(Event(kind: .driverComplete, time: 1_000_002_000, qid: 1, a: 0x1_0005))
        #expect(analyzer.outstanding.count == 1)
        let result = analyzer.finish()
        let reported = result.findings.filter { $0.kind == .valueOutOfRange }
        #expect(reported.count == 1)
        #expect(reported.first?.queue == QueueKey(controller: 0, qid: 1, type: .sq))
        #expect(reported.first?.message.contains("command identifier 65541") == true, "\(reported.map(\.message))")
    }
}
