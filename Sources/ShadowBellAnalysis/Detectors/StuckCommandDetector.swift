import ShadowBellCore

/// `stuck-command` (error): a command the guest submitted and did not see completed within the
/// threshold, that no mutual-wait window explains.
public enum StuckCommandDetector {
    /// What a stuck command's uncertainty says when its queue's completions were left out.
    static let lacksCompletionsMark = "the trace lacks completions of this queue"
    /// What a stuck command's uncertainty says when its id came back with no completion between.
    static let resubmittedMark = "were followed by another submission of their id or kernel tag with no completion of theirs in the trace"
    /// What a give-up's story says of aborted commands whose submission the trace lacks.
    static let submittedBeforeTheTrace = "were not submitted within the trace: they were outstanding before it begins"
    public static let definition = """
        A command submitted by the guest (nvme_setup_cmd) that was not completed \
        (nvme_complete_rq) within --stuck-after (5 s by default), or never, and that no \
        mutual-wait window on its queue explains (a window owns the commands outstanding on its \
        queue while it lasted, and lists their ids and kernel tags). Command ids are reused: a \
        fetch is matched to a command only while the command lives (until its completion, its \
        cancellation or its queue's deletion), and commands the driver requeues after a reset \
        come back with new ids. A completion with an abort status (NVMe generic 0x07/0x08, \
        Linux's host-aborted 0x371) is a cancellation by the driver, not the device's answer. \
        The finding says whether the controller fetched the command only when the trace has \
        the controller's events. Commands that no window owns and that were outstanding \
        together on one queue (each submitted before all the others had ended) are one finding: \
        one stall of the queue, listing their ids and kernel tags, from the first submission to \
        the last of their ends. \
        From the guest console (with no window on the queue), the driver's own timeout \
        messages (`I/O N QID q timeout, aborting`, then `… reset controller`) are such commands \
        too: one finding (`inferred`) per give-up of the guest on a queue — its timeout messages \
        up to the reset they led to — listing the kernel tags; it owns the commands outstanding \
        on the queue when the guest gave up. Without the console's messages for the queue, the \
        guest trace's ABORT admin commands naming it, up to the reset (the driver deleting the \
        SQ or cancelling its commands), are such a give-up, whatever --stuck-after says, when \
        it lasted a second or more (one the trace ends before its reset: when it lasted \
        --stuck-after).
        """
}

/// One give-up of the guest on a queue: its timeout messages up to the reset they led to.
struct TimeoutEpisode: Sendable {
    var controller: UInt16
    var qid: UInt16
    var timeouts: [GuestTimeout] = []
    /// The message that ended it (`timeout, reset controller` or `disable controller`).
    var reset: GuestTimeout?

    var tags: Set<UInt32> { Set(timeouts.filter { $0.kind == .timeoutAborting || $0.kind == .timeoutPolled }.map { $0.tag & 0xFFF }) }
    /// The driver aborted commands in it (not only found completions it polled).
    var aborted: Bool { timeouts.contains { $0.kind == .timeoutAborting } }
    /// Its messages, those counted and not kept included.
    var messages: Int { timeouts.reduce(timeouts.count) { $0 + $1.unkept } }
    /// Told by the guest trace's Abort commands rather than the console's messages.
    var fromDriverTrace: Bool { timeouts.first?.fromDriverTrace ?? false }
    /// Told by the guest trace, of commands it does not show submitted: ABORTs of them, or a
    /// reset cancelling them (its first step).
    var beforeTheTrace: Bool {
        guard fromDriverTrace, let first = timeouts.first else { return false }
        return first.kind == .timeoutAborting ? timeouts.allSatisfy { $0.kind != .timeoutAborting || !$0.seenSubmitted } : first.cancelledBeforeTheTrace
    }
}

/// A command outstanding longer than `--stuck-after`, judged at the end: a window may own it.
struct StuckCommand: Sendable {
    var controller: UInt16
    var qid: UInt16
    var cmdid: UInt32
    var record: ClockGroupAnalyzer.CommandRecord
    var end: EventRef?
    var status: UInt32?
    var duration: Int64
    /// Where the driver submitted the same command id, or its kernel tag under another id, again
    /// with no completion of this one in the trace (`end` nil): its life ended unseen, at the
    /// latest there.
    var resubmittedAt: EventRef? = nil
    /// The queue was re-created between the two submissions (a reset): the driver cancelled
    /// the command there, where the trace does not show, and requeued it.
    var requeued = false
    /// `resubmittedAt` submitted its kernel tag under another id (not the same id again).
    var tagReused = false

    var cancelled: Bool { status.map(NVMeStatus.isCancellation) ?? false }
}

extension ClockGroupAnalyzer {
    /// Called when the guest completes a command, and at the end for those never completed.
    func checkStuckCommand(controller: UInt16, qid: UInt16, cmdid: UInt32, record: CommandRecord,
                           completedAt end: EventRef?, status: UInt32?, resubmittedAt: EventRef? = nil, requeued: Bool = false,
                           tagReused: Bool = false) {
        // A command still outstanding at the end is judged up to the last event of its input.
        let stop = end?.time ?? resubmittedAt?.time ?? lastTime(ofSource: record.submittedAt.source) ?? lastTime
        let duration = stop - record.submittedAt.time
        guard duration >= options.stuckAfter, clock == .timestamps else { return }
        guard stuckCommands.count < Self.stuckCommandLimit else {
            suppressed[SuppressionKey(kind: .stuckCommand, queue: QueueKey(controller: controller, qid: qid, type: .sq)), default: 0] += 1
            return
        }
        stuckCommands.append(StuckCommand(
            controller: controller, qid: qid, cmdid: cmdid, record: record, end: end, status: status, duration: duration,
            resubmittedAt: resubmittedAt, requeued: requeued, tagReused: tagReused))
    }

    /// An unresolved window owns what happened up to where every merged input still records:
    /// past the end of an input that stopped early (cut short), a command or a give-up of the
    /// guest is another story, told by the inputs that go on.
    var windowsJudgedUpTo: Int64 { coverageEnd < lastTime ? coverageEnd : .max }

    /// The shortest give-up of the driver (ABORTs, then a reset) its trace reports.
    static var driverGiveUpMinimum: Int64 { 1_000_000_000 }

    /// A distance between two of the group's times: a duration, or on a clock that does not
    /// count nanoseconds (x86-tsc, counter) the bare count (it is no duration).
    func durationText(_ ns: Int64) -> String { formatSpan(ns, clock: clock) }

    /// The guest's I/O timeout as a give-up shows it: Linux resets the controller when an
    /// aborted command times out again, one `nvme_core.io_timeout` after its abort (sysrq-hang's
    /// console: aborts at 30.45 s, reset at 45.5 s, with `io_timeout=15` on its command line).
    static func ioTimeoutText(_ e: TimeoutEpisode, clock: ClockKind = .timestamps) -> String {
        if clock.measuresTime, let timeout = measuredIOTimeout(e) {
            return "nvme_core.io_timeout: about \(formatDuration(timeout)) here, from its first abort to its reset, when the aborted commands timed out again; 30 s by default"
        }
        return "nvme_core.io_timeout, 30 s by default"
    }

    /// The I/O timeout a give-up shows: from its first abort to the reset, when the aborted
    /// commands timed out again; nil without both.
    static func measuredIOTimeout(_ e: TimeoutEpisode) -> Int64? {
        // (Not by another queue's reset: it came when that queue's command timed out again.)
        guard let reset = e.reset, reset.namedQID == nil, let abort = e.timeouts.first(where: { $0.kind == .timeoutAborting }),
            reset.at.time > abort.at.time
        else { return nil }
        return reset.at.time - abort.at.time
    }

    /// Stuck commands kept for judgement at the end (memory stays bounded).
    static var stuckCommandLimit: Int { 4096 }

    func reportCommandsNeverCompleted() {
        // Only commands outstanding for `--stuck-after` are judged (the rule of
        // `checkStuckCommand`): a full table is not copied and sorted to find none.
        let late = outstanding.entries { record in
            let stop = lastTime(ofSource: record.submittedAt.source) ?? lastTime
            return stop - record.submittedAt.time >= options.stuckAfter
        }
        for (key, record) in late.sorted(by: { ($0.value.submittedAt.time, $0.key) < ($1.value.submittedAt.time, $1.key) }) {
            checkStuckCommand(
                controller: UInt16(key >> 48), qid: UInt16(truncatingIfNeeded: key >> 32),
                cmdid: UInt32(truncatingIfNeeded: key), record: record, completedAt: nil, status: nil)
        }
    }

    /// Outstanding this long where the trace ends is no I/O latency, though below
    /// `--stuck-after`: the report says the inputs end too soon to tell (a guest trace cut two
    /// seconds into a stall read as healthy without a word).
    static var lateCommandAge: Int64 { 1_000_000_000 }

    /// I/O commands outstanding where the inputs end, per input that submitted them and per
    /// SQ, in queue order: what an input cut short (a console's ftrace dump without its end)
    /// leaves undecided.
    func outstandingAtTheEnd() -> [OutstandingCommands] {
        var counts: [OutstandingCommands: Int] = [:]
        // (Not those whose SQ was deleted before they were fetched: the driver cancels and
        // requeues them with new ids; a note counted 96 outstanding on a queue of depth 48.)
        for (key, record) in outstanding.entries(where: { $0.queueDeletedAt == nil }) where UInt16(truncatingIfNeeded: key >> 32) != 0 {
            let queue = QueueKey(controller: UInt16(key >> 48), qid: UInt16(truncatingIfNeeded: key >> 32), type: .sq)
            counts[OutstandingCommands(source: record.submittedAt.source, queue: queue, count: 0), default: 0] += 1
        }
        return counts.map { var o = $0.key; o.count = $0.value; return o }.sorted { ($0.source, $0.queue) < ($1.source, $1.queue) }
    }

    /// I/O commands still outstanding where the guest's trace ends, at least `--min-wait` after
    /// the controller's trace ended, on queues with no guest completion since: what the
    /// controller did for them after its trace ended is not in the inputs (its log stopped, or
    /// it logged nothing more because it slept on them), so a wait that opened then is not
    /// judged, and a "no finding" is no verdict either (a simulated run hung on its one queue
    /// passed).
    func commandsAfterTheControllerEnd(_ outstandingAtEnd: [OutstandingCommands]) -> CommandsAfterControllerEnd? {
        guard controllerEventsSeen, let guestEnd = completionsRecordedUntil else { return nil }
        guard let controllerEnd = controllerTraceEnd, case let (gap, overflow) = guestEnd.subtractingReportingOverflow(controllerEnd),
            !overflow, gap >= max(options.minWait, 1)
        else { return nil }
        var byQueue: [QueueKey: Int] = [:]
        for o in outstandingAtEnd { byQueue[o.queue, default: 0] += o.count }
        let quietAfter = completionsSettled(after: controllerEnd)
        // Only a controller whose trace is among the inputs (a second disk without one is no
        // controller that stopped).
        let traced = Set(self.queues.filter(\.stats.controllerCounted).map(\.key.controller))
        // A queue whose wait is judged open to the end is told by its finding.
        let queues = byQueue.keys.filter { q in
            traced.contains(q.controller) && (knownIndex(of: q).map { self.queues[$0].lastDriverCompletion } ?? .min) <= quietAfter
                && !findings.contains { $0.end == nil && $0.queue.controller == q.controller && $0.queue.qid == q.qid }
        }.sorted()
        guard !queues.isEmpty else { return nil }
        return CommandsAfterControllerEnd(controllerEnd: controllerEnd, guestEnd: guestEnd, queues: queues.map { ($0, byQueue[$0]!) })
    }

    /// Commands outstanding where their input ends for at least `lateCommandAge` and less than
    /// `--stuck-after`, per SQ, on queues where no finding is still open at the end.
    func lateCommandsAtTheEnd() -> [LateCommands] {
        guard clock == .timestamps, options.stuckAfter > Self.lateCommandAge else { return [] }
        func age(_ record: CommandRecord) -> Int64 { (lastTime(ofSource: record.submittedAt.source) ?? lastTime) - record.submittedAt.time }
        var byQueue: [QueueKey: LateCommands] = [:]
        // Only those of that age are copied out of the table (it may hold many young ones).
        for (key, record) in outstanding.entries(where: { age($0) >= Self.lateCommandAge && age($0) < options.stuckAfter }) {
            let queue = QueueKey(controller: UInt16(key >> 48), qid: UInt16(truncatingIfNeeded: key >> 32), type: .sq)
            var late = byQueue[queue] ?? LateCommands(queue: queue, count: 0, oldest: 0)
            late.count += 1
            late.oldest = max(late.oldest, age(record))
            byQueue[queue] = late
        }
        return byQueue.values.filter { late in
            !findings.contains { $0.end == nil && $0.queue.controller == late.queue.controller && $0.queue.qid == late.queue.qid }
        }.sorted { $0.queue < $1.queue }
    }

    /// Each stuck command goes to the mutual-wait window that was open on its queue pair while
    /// it was outstanding (its SQ, or the CQ its completion waits in once fetched); the others
    /// become `stuck-command` findings.
    /// Whether a wait of `queue` from `from` to `to` owns stuck command `c`, outstanding until
    /// `stop`: a command of its queue (a CQ's, once fetched) outstanding during it.
    static func window(of queue: QueueKey, from: Int64, to: Int64, owns c: StuckCommand, until stop: Int64) -> Bool {
        queue.controller == c.controller && queue.qid == c.qid && (queue.type == .sq || c.record.fetchedAt != nil)
            && c.record.submittedAt.time <= to && stop >= from
    }

    func assignStuckCommands() {
        let episodes = reportTimeoutEpisodes()
        var owned: [Int: [StuckCommand]] = [:]
        var alone: [StuckCommand] = []
        for c in stuckCommands {
            queues[index(of: QueueKey(controller: c.controller, qid: c.qid, type: .sq))].stats.stuckCommands += 1
            let stop = c.end?.time ?? c.resubmittedAt?.time ?? .max
            let owner = findings.indices.first { i in
                let f = findings[i]
                return (f.kind == .mutualWait || f.kind == .controllerIdleWithWork)
                    && Self.window(of: f.queue, from: f.start, to: f.end ?? windowsJudgedUpTo, owns: c, until: stop)
            }
            // Else the guest's give-up on its queue while it was outstanding (the reset it led
            // to cancels every command outstanding, named in a timeout message or not).
            let episode = owner == nil
                ? episodes.first { e in
                    e.episode.controller == c.controller && e.episode.qid == c.qid
                        && c.record.submittedAt.time <= e.episode.timeouts[0].at.time && stop >= e.episode.timeouts[0].at.time
                }?.finding : nil
            if let owner = owner ?? episode {
                owned[owner, default: []].append(c)
            } else if !suppressedWindows.contains(where: { Self.window(of: $0.queue, from: $0.start, to: $0.end, owns: c, until: stop) }) {
                // (A wait left out past --max-hangs-per-queue owns it as a kept one would.)
                alone.append(c)
            }
        }
        // One hang, one finding: the commands no window or give-up owns that were stuck
        // together on a queue are one stall of it.
        for stall in Self.stuckTogether(alone) {
            if stall.count == 1 { reportStuckCommand(stall[0]) } else { reportStall(stall) }
        }
        // Aborted commands whose submission the trace does not hold were outstanding before it.
        for e in episodes where e.episode.fromDriverTrace {
            let commands = owned[e.finding] ?? []
            let ownedIds = Set(commands.map(\.cmdid))
            // The I/O timeout in force: from a command's submission to its ABORT.
            let waits = e.episode.timeouts.compactMap { t -> (wait: Int64, cmdid: UInt32)? in
                guard t.kind == .timeoutAborting,
                    let c = commands.first(where: { $0.cmdid == t.tag && $0.record.submittedAt.time <= t.at.time })
                else { return nil }
                return (t.at.time - c.record.submittedAt.time, t.tag)
            }
            if let shortest = waits.min(by: { $0.wait < $1.wait }) {
                let both = clock.measuresTime && Self.measuredIOTimeout(e.episode) != nil
                findings[e.finding].explanation += " Measured from a submission to its ABORT, the I/O timeout in force is about \(durationText(shortest.wait)): cid \(shortest.cmdid) was submitted that long before its ABORT\(both ? " (each measure adds the kernel's timer slack, so the two differ a little)" : "")."
            }
            var unseen: [UInt32] = []
            // (Not submitted in the trace: no submission of its kernel tag on the queue before
            // the ABORT — a tag is not reused while its command is outstanding. On a clock of
            // bare counts no command is owned, and every one was called unseen.)
            for t in e.episode.timeouts where t.kind == .timeoutAborting && !t.seenSubmitted && !ownedIds.contains(t.tag) && !unseen.contains(t.tag) {
                unseen.append(t.tag)
            }
            guard !unseen.isEmpty else { continue }
            let list = unseen.prefix(8).map(String.init).joined(separator: ", ") + (unseen.count > 8 ? ", …" : "")
            findings[e.finding].explanation += " \(unseen.count) of the aborted commands (cid \(list)) \(StuckCommandDetector.submittedBeforeTheTrace), so how long they waited is known only as at least the I/O timeout."
        }
        for (i, commands) in owned {
            attach(commands, to: i)
            // A give-up began when the oldest command it owns was submitted.
            guard episodes.contains(where: { $0.finding == i }),
                let oldest = commands.min(by: { $0.record.submittedAt.time < $1.record.submittedAt.time }),
                oldest.record.submittedAt.time < findings[i].start
            else { continue }
            findings[i].start = oldest.record.submittedAt.time
            if let k = findings[i].values.firstIndex(where: { $0.0 == "duration_ns" }) {
                findings[i].values[k].1 = .int((findings[i].end ?? lastTime) - findings[i].start)
            }
            findings[i].evidence.insert(
                evidenceItem("driver-submit", oldest.record.submittedAt, "driver submitted cmdid \(oldest.cmdid) on qid \(oldest.qid)"), at: 0)
        }
        // A give-up told by the guest's messages or the driver's ABORTs alone (no submission
        // of its commands in the inputs) began at least one I/O timeout before its first
        // timeout: with the timeout measured (first abort to reset) it starts that much
        // earlier, not at the message (hang-sq2's console alone gave 15.1 s for a 30.4 s hang;
        // sysrq-hang's guest trace, which begins inside its first stall, 15.5 s for 30.8 s).
        for e in episodes where owned[e.finding] == nil && findings[e.finding].start == e.episode.timeouts[0].at.time {
            let i = e.finding
            // The I/O timeout is the driver's, one for every queue: a give-up ended by another
            // queue's reset takes it from a give-up of the controller that measures it.
            let own = Self.measuredIOTimeout(e.episode)
            let measured = own
                ?? episodes.lazy.filter { $0.episode.controller == e.episode.controller }.compactMap { Self.measuredIOTimeout($0.episode) }.first
            guard let timeout = measured else { continue }
            let how = own != nil ? "measured above" : "measured by another give-up of \(findings[i].queue.controllerName), from its first abort to its reset"
            let (start, overflow) = findings[i].start.subtractingReportingOverflow(timeout)
            guard !overflow else { continue }
            findings[i].start = start
            if let k = findings[i].values.firstIndex(where: { $0.0 == "duration_ns" }) {
                findings[i].values[k].1 = .int((findings[i].end ?? lastTime) - findings[i].start)
            }
            findings[i].explanation += e.episode.fromDriverTrace
                ? " The give-up is dated that I/O timeout (about \(durationText(timeout))) before the first ABORT."
                : driverEventsSeen && driverEnd < start
                // (sysrq-hang's console alone: its ftrace dump ends at 25 s, the commands were
                // submitted at 45 s, and the story said they came before the trace began. Its
                // last driver event is at 14.88 s: the dump goes on with other events, and the
                // story said the trace ended there.)
                ? " The guest's trace holds no driver event after \(formatSeconds(driverEnd)) s, before these commands were submitted (a dump printed earlier, a trace stopped), so no submission of its commands is in the inputs: they were outstanding for at least one I/O timeout (about \(durationText(timeout)), \(how)) before the first timeout message, so the give-up is dated from that much earlier."
                : driverEventsSeen
                ? " The guest's trace shows none of its commands outstanding past --stuck-after (\(durationText(options.stuckAfter))): its I/O timeout is shorter, or they were submitted before the trace began. They were outstanding for at least one I/O timeout (about \(durationText(timeout)), \(how)) before the first timeout message, so the give-up is dated from that much earlier."
                : " No submission of its commands is in the inputs: they were outstanding for at least one I/O timeout (about \(durationText(timeout)), \(how)) before the first timeout message, so the give-up is dated from that much earlier."
        }
    }

    /// The guest's give-ups told as stuck commands are hangs of their queue, as mutual waits are:
    /// past --max-hangs-per-queue on a queue (in the order told, which is of time per queue),
    /// those that ended are counted with their time once their start is dated, not told; one
    /// open where the input ends is always told. They were held to --max-findings-per-queue (a
    /// guest trace alone of 50 give-ups per queue told 20 and said "20 hang(s)").
    func capGiveUps() {
        guard options.hangsPerQueueLimit > 0 else { return }
        var kept: [QueueKey: Int] = [:]
        findings.removeAll { f in
            guard f.isGuestGiveUp else { return false }
            let n = kept[f.queue, default: 0]
            guard n >= options.hangsPerQueueLimit, let end = f.end else {
                kept[f.queue] = n + 1
                return false
            }
            let key = SuppressionKey(kind: f.kind, queue: f.queue)
            suppressed[key, default: 0] += 1
            suppressedHangs[key, default: 0] += 1
            let duration: Int64
            if case .int(let d)? = f.value("duration_ns") { duration = d } else { duration = max(0, end &- f.start) }
            suppressedHangTime[key, default: 0] &+= duration
            return true
        }
    }

    /// The guest's timeout messages, one episode per give-up on a queue: from its first timeout
    /// to the reset (or disable) it led to. An episode during a window on its queue (or an
    /// `unattributed-stall` of its controller) belongs to that window, which cites it; any other
    /// becomes a `stuck-command` finding of its own. Returns those with their finding's index.
    private func reportTimeoutEpisodes() -> [(episode: TimeoutEpisode, finding: Int)] {
        var episodes: [TimeoutEpisode] = []
        // A reset the console tells ends the give-ups of every queue of its controller: its
        // message names the queue whose command timed out again, and the reset cancels them
        // all (a queue's give-up ran on into the next one's, and said no reset came).
        var consoleResets: [UInt16: [GuestTimeout]] = [:]
        for (key, list) in guestTimeouts {
            for t in list where t.isReset {
                var t = t
                t.namedQID = UInt16(truncatingIfNeeded: key)
                consoleResets[UInt16(key >> 16), default: []].append(t)
            }
        }
        for k in consoleResets.keys { consoleResets[k]!.sort { ($0.at.time, $0.at.location) < ($1.at.time, $1.at.location) } }
        // The console's messages where it has them for the queue, else the guest trace's aborts.
        for key in Set(guestTimeouts.keys).union(driverGiveUps.keys).sorted() {
            let fromConsole = guestTimeouts[key].flatMap { $0.isEmpty ? nil : $0 }
            let told = fromConsole ?? driverGiveUps[key] ?? []
            let controller = UInt16(key >> 16), qid = UInt16(truncatingIfNeeded: key)
            let resets = fromConsole == nil ? [] : (consoleResets[controller] ?? []).filter { $0.namedQID != qid }
            var current: TimeoutEpisode?
            // (Both in the order of time: the first reset not before the last message is
            // found by moving on, not by a search per message.)
            var nextReset = 0
            for t in told.sorted(by: { ($0.at.time, $0.at.location) < ($1.at.time, $1.at.location) }) {
                // Another queue's reset between this give-up's last message and this one (not
                // for one of polled completions alone: the driver found them done).
                if let open = current, open.reset == nil, open.aborted, let last = open.timeouts.last {
                    while nextReset < resets.count, resets[nextReset].at.time < last.at.time { nextReset += 1 }
                    if nextReset < resets.count, resets[nextReset].at.time < t.at.time { current!.reset = resets[nextReset] }
                }
                if current?.reset != nil, let done = current {
                    episodes.append(done)
                    current = nil
                }
                if current == nil { current = TimeoutEpisode(controller: controller, qid: qid) }
                current!.timeouts.append(t)
                if t.isReset { current!.reset = t }
            }
            if var open = current {
                if open.reset == nil, open.aborted, let last = open.timeouts.last {
                    while nextReset < resets.count, resets[nextReset].at.time < last.at.time { nextReset += 1 }
                    if nextReset < resets.count { open.reset = resets[nextReset] }
                }
                episodes.append(open)
            }
        }
        var reported: [(episode: TimeoutEpisode, finding: Int)] = []
        for e in episodes {
            // A message of the give-up inside the window (the span of its messages first: a
            // cheap test of thousands of windows left out past --max-hangs-per-queue).
            let first = e.timeouts.reduce(Int64.max) { min($0, $1.at.time) }, last = e.timeouts.reduce(Int64.min) { max($0, $1.at.time) }
            func inside(_ from: Int64, _ to: Int64) -> Bool {
                from <= last && to >= first && e.timeouts.contains { $0.at.time >= from && $0.at.time <= to }
            }
            let owned = findings.contains { f in
                guard f.queue.controller == e.controller,
                    f.kind == .unattributedStall
                        || ((f.kind == .mutualWait || f.kind == .controllerIdleWithWork) && f.queue.qid == e.qid)
                else { return false }
                return inside(f.start, f.end ?? windowsJudgedUpTo)
            }
            // A wait left out past --max-hangs-per-queue owns its give-up as a kept one would.
            guard !owned, !suppressedWindows.contains(where: { $0.queue.controller == e.controller && $0.queue.qid == e.qid && inside($0.start, $0.end) })
            else { continue }
            // The driver's ABORTs, then the reset they led to, are the guest giving up, as the
            // console's messages are, whatever --stuck-after says: reported when the give-up
            // lasted a second or more (Linux's I/O timeout counts in seconds; a model's
            // sub-millisecond timeouts are no give-up of a real driver). One the trace ends
            // before its reset is a stuck command's when it lasted --stuck-after: from the
            // earliest aborted command's submission the trace shows (or the first ABORT).
            // An ABORT of a command the trace does not show submitted, or a reset that cancels
            // one, is the give-up itself: the command was outstanding for the driver's whole I/O
            // timeout (1 s at the least) before the trace began (a slice of a hung run's trace
            // holding its ABORTs passed as healthy).
            if e.fromDriverTrace, !e.beforeTheTrace {
                let first = e.timeouts[0].at
                let start = e.timeouts.compactMap(\.submittedAt).reduce(first.time, min)
                if let reset = e.reset {
                    guard reset.at.time - start >= Self.driverGiveUpMinimum else { continue }
                } else {
                    guard (lastTime(ofSource: first.source) ?? lastTime) - start >= options.stuckAfter else { continue }
                }
            }
            let before = findings.count
            reportTimeoutEpisode(e)
            if findings.count > before { reported.append((e, before)) }
        }
        return reported
    }

    static let lostWhileOutstanding = "the recorder lost events while the commands were outstanding"

    private func reportTimeoutEpisode(_ e: TimeoutEpisode) {
        let key = QueueKey(controller: e.controller, qid: e.qid, type: .sq)
        let first = e.timeouts[0]
        let tags = e.tags.sorted()
        var f = Finding(kind: .stuckCommand, queue: key, start: first.at.time, message: "", explanation: "")
        f.inferred = true
        f.end = e.reset?.at.time
        f.resolution = e.reset == nil ? .endOfTrace : .controllerReset
        let polled = e.timeouts.contains { $0.kind == .timeoutPolled }
        f.values = [
            ("cmdid", .null),
            ("kernel_tag", tags.first.map { .int(Int64($0)) } ?? .null),
            ("kernel_tags", .array(tags.map { .int(Int64($0)) })),
            ("guest_timeouts", .int(Int64(e.messages))),
            ("duration_ns", .int((e.reset?.at.time ?? lastTime) - first.at.time)),
            ("fetched", .null),
            ("status", .null),
            ("inferred_from", .string("guest-timeouts")),
        ]
        let tagText = tags.prefix(8).map(String.init).joined(separator: ", ") + (tags.count > 8 ? ", …" : "")
        let how = e.reset.map { "; it reset the controller \(durationText($0.at.time - first.at.time)) later" }
            ?? "; the trace ends before any reset"
        if e.fromDriverTrace {
            // The guest trace's own events: the driver's Abort commands and the reset after them.
            f.inferred = false
            set(&f, "inferred_from", .string("driver-aborts"))
            set(&f, "guest_timeouts", .null)
            set(&f, "driver_aborts", .int(Int64(e.timeouts.reduce(0) { $0 + ($1.kind == .timeoutAborting ? 1 + $1.unkept : 0) })))
            let reset = e.reset.map { "; it reset the controller \(durationText($0.at.time - first.at.time)) later" }
                ?? "; the trace ends before any reset"
            if !e.timeouts.contains(where: { $0.kind == .timeoutAborting }) {
                // A reset that cancelled commands the trace does not show submitted, without
                // the ABORTs before it (a slice of the trace that begins after them).
                let cancelled = Set(e.timeouts.flatMap(\.cancelledTags).map { $0 & 0xFFF }).sorted()
                let list = cancelled.prefix(8).map(String.init).joined(separator: ", ") + (cancelled.count > 8 ? ", …" : "")
                set(&f, "kernel_tags", .array(cancelled.map { .int(Int64($0)) }))
                set(&f, "kernel_tag", cancelled.first.map { .int(Int64($0)) } ?? .null)
                f.message = "\(key.controllerName) qid \(e.qid): the driver reset the controller and cancelled I/O submitted before the trace began (kernel tags \(list.isEmpty ? "?" : list))"
                f.explanation = "The driver cancelled command(s) on qid \(e.qid) with status 0x371 while resetting the controller: they had not completed, and the trace does not show them submitted — they were outstanding since before it began. Linux resets a controller when commands time out again after their ABORTs (nvme_core.io_timeout, 30 s by default): the timeouts and ABORTs that led to this reset lie before the trace's start; the guest trace of the whole run, or its console's timeout messages, would show them."
                    + (controllerEventsSeen ? "" : " The trace has no controller events for this clock: it cannot tell which side stopped; QEMU's trace (pci_nvme_*) of the same run would.")
                for t in e.timeouts.prefix(4) { f.evidence.append(evidenceItem("guest-timeout", t.at, Self.describe(t, qid: e.qid))) }
                report(f)
                return
            }
            f.message = "\(key.controllerName) qid \(e.qid): the driver timed out I/O (kernel tags \(tagText.isEmpty ? "?" : tagText))"
                + " and aborted it\(reset)"
            var s = "The driver's ABORT admin commands in the guest trace (nvme_setup_cmd on qid 0, naming qid \(e.qid) and the command) show that command(s) on qid \(e.qid) were not completed within its I/O timeout (\(Self.ioTimeoutText(e, clock: clock)))"
            s += e.reset == nil ? "." : " and, as they still did not complete, the driver reset the controller (it deleted the queue or cancelled the commands, status 0x371)."
            s += controllerEventsSeen ? "" : " The trace has no controller events for this clock: it cannot tell whether the controller fetched them or which side stopped; QEMU's trace (pci_nvme_*) of the same run would."
            f.explanation = s
        } else {
            f.message = "\(key.controllerName) qid \(e.qid): the guest timed out I/O (kernel tags \(tagText.isEmpty ? "?" : tagText))"
                + " and aborted it\(how) (inferred from the guest's timeout messages)"
            var s = "The guest driver's own timeout messages show that command(s) on qid \(e.qid) were not completed within its I/O timeout (\(Self.ioTimeoutText(e, clock: clock))): it aborted them (ABORT admin commands)"
            s += e.reset == nil ? "." : " and, as they still did not complete, reset the controller."
            if polled {
                s += " For some the driver found the completion in the CQ when it polled: the completion was posted but its interrupt or CQ doorbell went missing."
            }
            if controllerEventsSeen, let end = controllerEnd, end < first.at.time {
                // The controller's trace stopped before the guest gave up: it shows nothing
                // of that time, not the absence of a wait.
                s += " The controller's events end \(durationText(first.at.time - end)) before the guest's first timeout message (its trace stops early): the inputs cannot tell which side stopped — QEMU's trace of the whole run would."
            } else if controllerEventsSeen, let last = (e.reset ?? e.timeouts.last)?.at.time, controllerStart > last {
                // Nor does one that begins after the guest gave up (a trace started late, or
                // placed there by a wrong --clock-offset).
                s += " The controller's events begin \(durationText(controllerStart - last)) after the guest's last timeout message: the inputs cannot tell which side stopped — QEMU's trace of that time would."
            } else if controllerEventsSeen {
                s +=  " Inferred from the guest's messages: the controller's events on this clock show no mutual wait on this queue while the guest waited."
            } else if driverEventsSeen {
                s += " The driver's events show its side; with no controller event on this clock, the inputs cannot tell which side stopped — QEMU's trace (pci_nvme_*) of the same run would."
            } else {
                s += " Inferred from the guest's messages alone: with no driver or controller event for this time on this clock, the inputs cannot tell which side stopped — the guest's ftrace (nvme:* events) and QEMU's trace (pci_nvme_*) of the same run would."
            }
            f.explanation = s
        }
        if e.reset == nil {
            // (A console cut 1.8 ms after its first timeout message told a 1.8 ms hang.)
            f.explanation += " The trace ends before a reset that would measure the I/O timeout: the commands had been outstanding at least that long (30 s by default) before the first timeout message, so the hang began at least that much earlier than this finding's start, and its duration here is a lower bound."
        }
        for t in e.timeouts.prefix(4) {
            f.evidence.append(evidenceItem("guest-timeout", t.at, Self.describe(t, qid: e.qid)))
        }
        let listed = e.timeouts.prefix(4)
        let reset = e.reset.flatMap { r in listed.contains { $0.at.time == r.at.time && $0.at.location == r.at.location } ? nil : r }
        // The rest are counted, not listed (the evidence read as if the first four were all).
        let unlisted = e.messages - listed.count - (reset.map { r in e.timeouts.contains { $0.at.time == r.at.time && $0.at.location == r.at.location } ? 1 : 0 } ?? 0)
        if unlisted > 0 {
            f.explanation += " The evidence lists its first \(listed.count) \(e.fromDriverTrace ? "ABORTs" : "timeout messages")\(e.reset == nil ? "" : " and the reset"); \(unlisted == 1 ? "1 more is" : "\(unlisted) more are") not listed."
        }
        if let reset {
            f.evidence.append(evidenceItem("guest-timeout", reset.at, Self.describe(reset, qid: e.qid)))
        }
        report(f)
    }

    /// The window lists the commands it owns: ids, the kernel tags (cid & 0xfff: Linux puts a
    /// generation counter in the top bits), and how many the driver cancelled.
    private func attach(_ commands: [StuckCommand], to i: Int) {
        var f = findings[i]
        let ids = commands.map(\.cmdid)
        var known = Set<UInt32>()
        var merged: [FieldValue] = []
        if case .array(let existing)? = f.value("stuck_command_ids") {
            for case .int(let v) in existing where v >= 0 && v <= Int64(UInt32.max) { known.insert(UInt32(v)); merged.append(.int(v)) }
        }
        for id in ids where !known.contains(id) {
            known.insert(id)
            merged.append(.int(Int64(id)))
        }
        let tags = Set(known.map { $0 & 0xFFF }).sorted()
        let cancelled = commands.filter(\.cancelled).count
        set(&f, "stuck_command_ids", .array(merged))
        set(&f, "kernel_tags", .array(tags.map { .int(Int64($0)) }))
        set(&f, "commands_outstanding_over_threshold", .int(Int64(commands.count)))
        set(&f, "commands_cancelled", .int(Int64(cancelled)))
        if f.queue.type == .cq {
            // A CQ window's `stuck_commands` counts the completions it holds.
        } else if case .int(let stuck)? = f.value("stuck_commands"), stuck < Int64(known.count) {
            set(&f, "stuck_commands", .int(Int64(known.count)))
        } else if f.value("stuck_commands") == nil || f.value("stuck_commands") == .null {
            set(&f, "stuck_commands", .int(Int64(known.count)))
        }
        let list = ids.prefix(8).map(String.init).joined(separator: ", ") + (ids.count > 8 ? ", …" : "")
        let holder = f.kind == .mutualWait || f.kind == .controllerIdleWithWork ? "window" : "finding"
        f.explanation += " This \(holder) owns \(commands.count) command(s) outstanding beyond \(formatDuration(options.stuckAfter)) on qid \(f.queue.qid) (cid \(list); kernel tags \(tags.prefix(8).map(String.init).joined(separator: ", "))\(tags.count > 8 ? ", …" : ""))"
        f.explanation += cancelled > 0 ? "; the driver cancelled \(cancelled) of them after giving up (\(Self.cancellationStatuses(commands)))." : "."
        findings[i] = f
    }

    /// The statuses the cancelled ones of `commands` completed with, named: `status 0x371,
    /// cancelled by the host (NVME_SC_HOST_ABORTED_CMD)` (a cancellation at a reset, not the
    /// status of an ABORT command).
    static func cancellationStatuses(_ commands: [StuckCommand]) -> String {
        let statuses = Set(commands.filter(\.cancelled).compactMap(\.status)).sorted()
        return statuses.map { "status 0x\(String($0, radix: 16))" + (NVMeStatus.name($0).map { ", \($0)" } ?? "") }.joined(separator: "; ")
    }

    /// The commands grouped by queue into runs that were outstanding together: sorted by
    /// submission, a command joins the run when it was submitted before every command of the
    /// run had ended (one never completed holds the run open to the end). In the order of the
    /// first command of each run.
    static func stuckTogether(_ commands: [StuckCommand]) -> [[StuckCommand]] {
        let sorted = commands.enumerated().sorted {
            ($0.element.controller, $0.element.qid, $0.element.record.submittedAt.time, $0.offset)
                < ($1.element.controller, $1.element.qid, $1.element.record.submittedAt.time, $1.offset)
        }
        var runs: [(first: Int, commands: [StuckCommand])] = []
        var runEnd: Int64 = .min
        for (offset, c) in sorted {
            if let last = runs.last?.commands.last, last.controller == c.controller, last.qid == c.qid,
                c.record.submittedAt.time <= runEnd
            {
                runs[runs.count - 1].commands.append(c)
                runs[runs.count - 1].first = min(runs[runs.count - 1].first, offset)
            } else {
                runs.append((offset, [c]))
                runEnd = .min
            }
            runEnd = max(runEnd, c.end?.time ?? c.resubmittedAt?.time ?? .max)
        }
        return runs.sorted { $0.first < $1.first }.map(\.commands)
    }

    /// Several commands stuck together on one queue, none owned by a window or a give-up of
    /// the guest: one finding from the first submission to the last of their ends.
    private func reportStall(_ commands: [StuckCommand]) {
        let oldest = commands[0]
        let key = QueueKey(controller: oldest.controller, qid: oldest.qid, type: .sq)
        let start = oldest.record.submittedAt.time
        let ended = commands.compactMap(\.end)
        let never = commands.count - ended.count
        let last = ended.max { ($0.time, $0.location) < ($1.time, $1.location) }
        let cancelled = commands.filter(\.cancelled).count
        var f = Finding(kind: .stuckCommand, queue: key, start: start, message: "", explanation: "")
        f.end = never == 0 ? last?.time : nil
        f.resolution = never > 0 ? .endOfTrace : cancelled == commands.count ? .cancelled : .completed
        let stop = f.end ?? commands.map { $0.record.submittedAt.time + $0.duration }.max() ?? start
        let observed = controllerEventsSeen
        let fetched = commands.filter { $0.record.fetchedAt != nil }.count
        let ids = commands.map(\.cmdid)
        let tags = Set(ids.map { $0 & 0xFFF }).sorted()
        f.values = [
            ("cmdid", .int(Int64(oldest.cmdid))),
            ("kernel_tag", .int(Int64(oldest.cmdid & 0xFFF))),
            ("duration_ns", .int(stop - start)),
            ("fetched", observed ? .bool(oldest.record.fetchedAt != nil) : .null),
            ("status", oldest.status.map { .int(Int64($0)) } ?? .null),
            ("stuck_commands", .int(Int64(commands.count))),
            ("stuck_command_ids", .array(ids.map { .int(Int64($0)) })),
            ("kernel_tags", .array(tags.map { .int(Int64($0)) })),
            ("commands_outstanding_over_threshold", .int(Int64(commands.count))),
            ("commands_cancelled", .int(Int64(cancelled))),
            ("commands_fetched", observed ? .int(Int64(fetched)) : .null),
        ]
        let list = ids.prefix(8).map(String.init).joined(separator: ", ") + (ids.count > 8 ? ", …" : "")
        let tagList = tags.prefix(8).map(String.init).joined(separator: ", ") + (tags.count > 8 ? ", …" : "")
        let resubmitted = commands.filter { $0.resubmittedAt != nil }
        let how: String
        if never == commands.count, resubmitted.count == never {
            how = "none completed in the trace: their ids or kernel tags were submitted again, the last \(durationText(stop - start)) after the first submission"
        } else if never == commands.count {
            how = "none completed (\(durationText(stop - start)) until the end of the trace)"
        } else if never > 0 {
            how = "\(never) never completed, \(cancelled) cancelled by the driver (\(durationText(stop - start)) until the end of the trace)"
        } else if cancelled == commands.count {
            how = "all cancelled by the driver, the last \(durationText(stop - start)) after the first submission"
        } else {
            how = "the last ended \(durationText(stop - start)) after the first submission (\(cancelled) cancelled by the driver)"
        }
        f.message = "\(key.controllerName) qid \(oldest.qid): \(commands.count) commands stuck together (kernel tags \(tagList)); \(how)"
        var s = "\(commands.count) commands on qid \(oldest.qid) were outstanding beyond \(formatDuration(options.stuckAfter)) at the same time (cid \(list)): one stall of the queue, not \(commands.count) separate ones."
        if !observed {
            s += " The trace has no controller events for this clock: it cannot tell whether the controller fetched them or which side stopped; QEMU's trace (pci_nvme_*) of the same run would."
        } else if fetched == 0 {
            s += " The controller fetched none of them while they were outstanding: it did not see the new tail (a lost SQ doorbell), or it could not take the commands."
        } else {
            s += " The controller fetched \(fetched) of them, but their completions reached the driver only late or never: a lost completion, interrupt or CQ doorbell, or a device that is slow or stuck."
        }
        if cancelled > 0 {
            s += " The driver cancelled \(cancelled) of them after giving up (\(Self.cancellationStatuses(commands))): it ended the commands itself (abort or reset), the device did not answer them."
        }
        f.explanation = s
        f.evidence = [evidenceItem("driver-submit", oldest.record.submittedAt, "driver submitted cmdid \(oldest.cmdid) on qid \(oldest.qid)")]
        if let newest = commands.last, commands.count > 1 {
            f.evidence.append(evidenceItem("driver-submit", newest.record.submittedAt, "driver submitted cmdid \(newest.cmdid) on qid \(newest.qid)"))
        }
        let first = ended.min { ($0.time, $0.location) < ($1.time, $1.location) }
        if let first, let c = commands.first(where: { $0.end?.time == first.time && $0.end?.location == first.location }) {
            f.evidence.append(evidenceItem(c.cancelled ? "driver-cancel" : "driver-complete", first, "driver completed cmdid \(c.cmdid)" + (c.status.map { ", status 0x\(String($0, radix: 16))" } ?? "")))
        }
        if let last, last != first, let c = commands.first(where: { $0.end?.time == last.time && $0.end?.location == last.location }) {
            f.evidence.append(evidenceItem(c.cancelled ? "driver-cancel" : "driver-complete", last, "driver completed cmdid \(c.cmdid)" + (c.status.map { ", status 0x\(String($0, radix: 16))" } ?? "")))
        }
        if dataLoss(from: start, to: stop) > 0 {
            f.uncertainty.append(Self.lostWhileOutstanding)
        }
        if let again = resubmitted.first?.resubmittedAt {
            f.evidence.append(evidenceItem("driver-submit", again, Self.resubmissionText(resubmitted[0])))
            f.uncertainty.append(Self.resubmittedUnseen(resubmitted))
        }
        report(f)
    }

    /// The evidence line of the submission that ended `c`'s life unseen.
    static func resubmissionText(_ c: StuckCommand) -> String {
        c.tagReused
            ? "driver submitted kernel tag \(c.cmdid & 0xFFF) again under another id, with no completion of cmdid \(c.cmdid) in the trace"
            : "driver submitted cmdid \(c.cmdid) again, with no completion of it in the trace"
    }

    /// Why commands submitted again with no completion between are in doubt.
    static func resubmittedUnseen(_ commands: [StuckCommand]) -> String {
        let requeued = commands.filter(\.requeued).count
        // Requeued after a reset: a hang's commands, cancelled where the trace does not show.
        if requeued == commands.count {
            return "\(requeued) of the command(s) were followed, after their queue was re-created (a reset), by another submission of their id or kernel tag, with no cancellation of theirs in the trace: each ended at the reset at the latest"
        }
        return "\(commands.count - requeued) of the command(s) \(StuckCommandDetector.resubmittedMark) (Linux holds a tag while its command lives): each ended where the trace does not show (a CPU left out, lost events, completions filtered out), so how long it waited is not known from it"
    }

    private func set(_ f: inout Finding, _ name: String, _ value: FieldValue) {
        if let k = f.values.firstIndex(where: { $0.0 == name }) { f.values[k].1 = value } else { f.values.append((name, value)) }
    }

    private func reportStuckCommand(_ c: StuckCommand) {
        let key = QueueKey(controller: c.controller, qid: c.qid, type: .sq)
        let record = c.record
        var f = Finding(kind: .stuckCommand, queue: key, start: record.submittedAt.time, message: "", explanation: "")
        f.end = c.end?.time
        f.resolution = c.end == nil ? .endOfTrace : c.cancelled ? .cancelled : .completed
        let observed = controllerEventsSeen
        f.values = [
            ("cmdid", .int(Int64(c.cmdid))),
            ("kernel_tag", .int(Int64(c.cmdid & 0xFFF))),
            ("duration_ns", .int(c.duration)),
            ("fetched", observed ? .bool(record.fetchedAt != nil) : .null),
            ("status", c.status.map { .int(Int64($0)) } ?? .null),
        ]
        let statusText = c.status.map { s in "0x\(String(s, radix: 16))" + (NVMeStatus.name(s).map { " (\($0))" } ?? "") }
        let how: String
        if c.end == nil, c.resubmittedAt != nil {
            how = "has no completion in the trace: its id or kernel tag was submitted again \(durationText(c.duration)) later"
        } else if c.end == nil {
            how = "never completed (\(durationText(c.duration)) until the end of the trace)"
        } else if c.cancelled {
            how = "cancelled by the driver after \(durationText(c.duration)), status \(statusText ?? "?")"
        } else {
            how = "completed only after \(durationText(c.duration))" + ((c.status ?? 0) != 0 ? ", status \(statusText ?? "?")" : "")
        }
        f.message = "\(key.controllerName) qid \(c.qid): command \(c.cmdid) (kernel tag \(c.cmdid & 0xFFF)) \(how)"
        var s: String
        if !observed {
            s = "The trace has no controller events for this clock: it cannot tell whether the controller fetched command \(c.cmdid)."
        } else if let fetchedAt = record.fetchedAt {
            s = "The controller fetched command \(c.cmdid) from sq\(c.qid) \(durationText(fetchedAt - record.submittedAt.time)) after its submission"
            s += c.cancelled ? " and did not complete it before the driver gave up." : ", but its completion reached the driver only late or never: a lost completion, interrupt or CQ doorbell, or a device that is slow or stuck."
        } else if let deleted = record.queueDeletedAt {
            s = "The controller did not fetch command \(c.cmdid) before its queue was deleted \(durationText(deleted - record.submittedAt.time)) after the submission (a later fetch of the same cid belongs to another command)."
        } else {
            s = "The controller did not fetch command \(c.cmdid) from sq\(c.qid) while it was outstanding: the controller did not see the new tail (a lost SQ doorbell), or it could not take the command."
        }
        if c.cancelled {
            s += " Status \(statusText ?? "?") is a cancellation: the driver ended the command itself (abort or reset), the device did not answer it."
        }
        f.explanation = s
        f.evidence = [evidenceItem("driver-submit", record.submittedAt, "driver submitted cmdid \(c.cmdid) on qid \(c.qid)")]
        if let end = c.end {
            f.evidence.append(evidenceItem(c.cancelled ? "driver-cancel" : "driver-complete", end,
                                           "driver completed cmdid \(c.cmdid)" + (statusText.map { ", status \($0)" } ?? "")))
        }
        if dataLoss(from: record.submittedAt.time, to: record.submittedAt.time + c.duration) > 0 {
            f.uncertainty.append("the recorder lost events while the command was outstanding")
        }
        if let again = c.resubmittedAt {
            f.evidence.append(evidenceItem("driver-submit", again, Self.resubmissionText(c)))
            f.uncertainty.append(Self.resubmittedUnseen([c]))
        }
        report(f)
    }
}
