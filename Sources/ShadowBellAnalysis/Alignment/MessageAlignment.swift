import ShadowBellCore

/// Places a guest console log on the controller's clock when the two share no command: the
/// guest's timeout handler prints `I/O N QID q timeout, aborting` and then submits an Abort
/// (the controller fetches it later: an upper bound on the offset), prints `Abort status` after
/// the Abort's completion arrived (a lower bound), and prints `timeout, reset controller` before
/// it clears the enable bit (an upper bound, loose: the reset runs from a work queue).
///
/// Timeouts come in bursts, one burst per expiry of the I/O timeout; bursts are matched to the
/// controller's bursts of Abort commands by their spacing, and each matched burst gives one knot
/// of the clock map (the clocks of a VM under TCG drift by thousands of ppm, so one offset per
/// burst, interpolated between them). Millisecond precision: the uncertainty says how much.
public enum MessageAlignment {
    /// Messages more than this apart start a new burst.
    static let burstGap: Int64 = 2_000_000_000
    /// A guest burst matches a controller burst this close to where the coarse offset puts it,
    /// plus `driftAllowancePPM` of the time since the burst that fixed the offset.
    static let matchTolerance: Int64 = 500_000_000
    static let driftAllowancePPM: Int64 = 20_000
    /// A reset is printed at most this long before the controller sees the enable bit cleared.
    static let resetLatency: Int64 = 1_000_000_000
    /// When no Abort completion bounds a burst from below: the longest plausible time from the
    /// timeout message to the controller fetching the Abort.
    static let abortLatency: Int64 = 20_000_000

    struct Burst {
        var times: [Int64]
        var first: Int64 { times[0] }
        var last: Int64 { times[times.count - 1] }
    }

    static func bursts(_ times: [Int64]) -> [Burst] {
        var out: [Burst] = []
        for t in times.sorted() {
            if let last = out.last?.last, t - last <= burstGap {
                out[out.count - 1].times.append(t)
            } else {
                out.append(Burst(times: [t]))
            }
        }
        return out
    }

    /// `offset(t_console) = t_host - t_console` as a map on the console's clock; nil when the
    /// messages cannot be matched to the controller's actions.
    public static func estimate(console: AnchorSet, host: AnchorSet) -> (map: ClockMap, report: AlignmentReport)? {
        func times(_ set: AnchorSet, _ kind: Notice.Kind) -> [Int64] { set.notices.filter { $0.kind == kind }.map(\.time) }
        let guestAborts = bursts(times(console, .guestAborting))
        let hostAborts = bursts(times(host, .hostAbortFetch))
        let guestStatus = times(console, .guestAbortStatus).sorted()
        let hostCompletions = times(host, .hostAbortCompletion).sorted()
        let guestResets = times(console, .guestReset).sorted()
        let hostDisables = times(host, .hostDisable).sorted()

        // Coarse offset: the burst pairing that explains the most bursts and resets.
        var best: (score: Int, offset: Int64, anchor: Int64)?
        var candidates: [(offset: Int64, anchor: Int64)] = []
        for g in guestAborts { for h in hostAborts { candidates.append((h.first - g.first, g.first)) } }
        if guestAborts.isEmpty || hostAborts.isEmpty {
            for g in guestResets { for h in hostDisables { candidates.append((h - g, g)) } }
        }
        for c in candidates {
            var score = 0
            for g in guestAborts {
                let tolerance = matchTolerance + abs(g.first - c.anchor) / 1_000_000 * driftAllowancePPM
                if hostAborts.contains(where: { abs($0.first - (g.first + c.offset)) <= tolerance }) { score += 2 }
            }
            for g in guestResets {
                let tolerance = matchTolerance + abs(g - c.anchor) / 1_000_000 * driftAllowancePPM
                if hostDisables.contains(where: { $0 - (g + c.offset) >= -tolerance && $0 - (g + c.offset) <= tolerance + resetLatency }) {
                    score += 1
                }
            }
            if best == nil || score > best!.score || (score == best!.score && c.offset < best!.offset) {
                best = (score, c.offset, c.anchor)
            }
        }
        guard let coarse = best, coarse.score >= 2 else { return nil }

        // Fine: one knot per matched burst, [lower, upper] from its pairs.
        var knots: [(time: Int64, offset: Int64)] = []
        var halfWidths: [Int64] = []
        var pairs = 0
        for g in guestAborts {
            let tolerance = matchTolerance + abs(g.first - coarse.anchor) / 1_000_000 * driftAllowancePPM
            guard let h = hostAborts.first(where: { abs($0.first - (g.first + coarse.offset)) <= tolerance }) else { continue }
            var upper = Int64.max
            for (m, f) in zip(g.times, h.times) { upper = min(upper, f - m) }
            let statuses = guestStatus.filter { $0 >= g.first && $0 <= g.last + burstGap }
            let completions = hostCompletions.filter { $0 >= h.first && $0 <= h.last + burstGap }
            var lower = Int64.min
            for (m, c) in zip(statuses, completions) { lower = max(lower, c - m) }
            if lower == Int64.min || lower > upper { lower = upper - abortLatency }
            pairs += min(g.times.count, h.times.count) + min(statuses.count, completions.count)
            knots.append((g.first, lower + (upper - lower) / 2))
            halfWidths.append((upper - lower) / 2)
        }
        if knots.isEmpty {
            for g in guestResets {
                let tolerance = matchTolerance + abs(g - coarse.anchor) / 1_000_000 * driftAllowancePPM
                guard let d = hostDisables.first(where: { $0 - (g + coarse.offset) >= -tolerance && $0 - (g + coarse.offset) <= tolerance + resetLatency })
                else { continue }
                let upper = d - g, lower = upper - resetLatency
                pairs += 1
                knots.append((g, lower + (upper - lower) / 2))
                halfWidths.append((upper - lower) / 2)
            }
        }
        guard !knots.isEmpty else { return nil }
        var report = AlignmentReport(input: 0, method: .messages)
        report.offset = knots[0].offset
        report.uncertainty = halfWidths.max() ?? 0
        report.pairs = pairs
        report.windows = knots.count
        report.driftPPM = ClockAlignment.driftPPM(knots)
        return (ClockMap(knots: knots), report)
    }
}
