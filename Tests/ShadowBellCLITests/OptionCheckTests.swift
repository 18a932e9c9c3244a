import Foundation
import Testing
@testable import shadowbell

/// Option values and combinations that were taken without a word, or refused with the wrong
/// reason, and outputs a failed run left behind.
@Suite struct OptionCheckTests {
    /// `--same-clock` with `--clock-offset` ignored the offset: refused (64) in every command
    /// that takes both, saying why.
    @Test func sameClockAndAClockOffsetAreRefusedTogether() throws {
        let trace = sample("lab/sq-hang.txt")
        let both = ["--same-clock", "--clock-offset", "\(trace)=-1.5"]
        for arguments in [
            ["analyze", trace] + both, ["report", trace, "-o", temporaryPath("same-clock.html")] + both,
            ["explain", trace, "--finding", "1"] + both, ["timeline", trace] + both,
        ] {
            let r = try runProcess(arguments)
            #expect(r.status == 64, "\(arguments): \(r.stderr)")
            #expect(r.stderr.contains("--same-clock and --clock-offset \(trace) cannot be given together"), "\(arguments): \(r.stderr)")
        }
    }
}

extension OptionCheckTests {
    /// With a range given, the title of a chart that left events out says how many and points
    /// to --max-events (it advised choosing a range with --from/--to); `--max-events 0` drew an
    /// empty chart and is a usage error.
    @Test func aRangedChartLeavingEventsOutPointsToMaxEvents() throws {
        let trace = sample("lab/sq-hang.txt")
        let r = try runProcess(["timeline", trace, "--format", "svg", "--from", "100.001", "--to", "100.003", "--max-events", "3", "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("nvme0:sq1: 3 event(s), 17 more of the range left out (at most --max-events 3 drawn: raise it or narrow --from/--to)"))
        #expect(!r.stdout.contains("choose a range"))
        // Without a range, choosing one is still the advice.
        let whole = try runProcess(["timeline", trace, "--format", "svg", "--queue", "cq1", "--max-events", "3", "--quiet"])
        #expect(whole.status == 0 && whole.stdout.contains("more left out (choose a range with --from/--to)"), "\(whole.stderr)")
        for bad in ["0", "-2"] {
            let z = try runProcess(["timeline", trace, "--format", "svg", "--from", "100.001", "--to", "100.003", "--max-events", bad, "--quiet"])
            #expect(z.status == 64 && z.stderr.contains("--max-events \(bad): give 1 or more"), "\(bad): \(z.stderr)")
            #expect(z.stdout.isEmpty)
        }
    }
}
