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
