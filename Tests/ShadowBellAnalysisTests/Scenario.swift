import ShadowBellCore
@testable import ShadowBellAnalysis

/// Builds small event sequences by hand: one line per protocol step, times in microseconds.
struct Scenario {
    var events: [Event] = []
    var line: UInt64 = 0

    mutating func add(_ e: Event) {
        line += 1
        var e = e
        e.location = line
        events.append(e)
    }

    static func us(_ t: Int64) -> Int64 { t * 1_000 }

    mutating func createQueues(qid: UInt16 = 1, entries: UInt32, at t: Int64) {
        add(Event(kind: .queueCreate, time: Self.us(t), qid: qid, queueType: .cq, a: entries - 1))
        add(Event(kind: .queueCreate, time: Self.us(t), qid: qid, queueType: .sq, a: entries - 1, b: UInt32(qid)))
    }

    mutating func dbbufConfig(at t: Int64) { add(Event(kind: .dbbufConfig, time: Self.us(t))) }

    mutating func publish(
        _ type: QueueType = .sq, qid: UInt16 = 1, old: UInt32, new: UInt32, eventIdx: UInt32, mmio: Bool, at t: Int64
    ) {
        add(.driverDoorbellUpdate(type, qid: qid, old: old, new: new, eventIdx: eventIdx, mmio: mmio, time: Self.us(t)))
    }

    mutating func read(_ type: QueueType, qid: UInt16 = 1, _ value: UInt32, at t: Int64) {
        add(.queueValue(.controllerShadowRead, type, qid: qid, value: value, time: Self.us(t)))
    }

    mutating func read(qid: UInt16 = 1, _ value: UInt32, at t: Int64) {
        read(.sq, qid: qid, value, at: t)
    }

    mutating func eventIdx(_ type: QueueType, qid: UInt16 = 1, _ value: UInt32, at t: Int64) {
        add(.queueValue(.controllerEventIdxWrite, type, qid: qid, value: value, time: Self.us(t)))
    }

    mutating func eventIdx(qid: UInt16 = 1, _ value: UInt32, at t: Int64) {
        eventIdx(.sq, qid: qid, value, at: t)
    }

    mutating func mmio(_ type: QueueType, qid: UInt16 = 1, _ value: UInt32, at t: Int64) {
        add(.queueValue(.mmioDoorbell, type, qid: qid, value: value, time: Self.us(t)))
    }

    mutating func mmio(qid: UInt16 = 1, _ value: UInt32, at t: Int64) {
        mmio(.sq, qid: qid, value, at: t)
    }

    mutating func submit(qid: UInt16 = 1, cmdid: UInt32, at t: Int64) {
        add(Event(kind: .driverSubmit, time: Self.us(t), qid: qid, a: cmdid))
    }

    mutating func fetch(qid: UInt16 = 1, cmdid: UInt32, at t: Int64) {
        add(Event(kind: .controllerFetch, time: Self.us(t), qid: qid, a: cmdid))
    }

    mutating func complete(qid: UInt16 = 1, cmdid: UInt32, at t: Int64) {
        add(Event(kind: .controllerCompletion, time: Self.us(t), qid: qid, queueType: .cq, a: cmdid))
    }

    mutating func reset(at t: Int64) {
        add(Event(kind: .controllerReset, time: Self.us(t), a: ResetReason.enableCleared.rawValue))
    }

    mutating func deleteSQ(qid: UInt16 = 1, at t: Int64) {
        add(Event(kind: .queueDelete, time: Self.us(t), qid: qid, queueType: .sq))
    }

    mutating func dataLoss(at t: Int64) { add(Event(kind: .dataLoss, time: Self.us(t))) }

    /// An unrelated event that only moves the clock (the trace goes on).
    mutating func tick(at t: Int64) {
        add(Event(kind: .interrupt, time: Self.us(t), a: 9))
    }

    /// The controller processes one command published up to `tail` (QEMU order: fetch,
    /// EventIdx write = tail, shadow re-read).
    mutating func processOne(cmdid: UInt32 = 0, tail: UInt32, reread: UInt32, at t: Int64) {
        fetch(cmdid: cmdid, at: t)
        eventIdx(tail, at: t + 1)
        read(reread, at: t + 2)
    }

    func analyze(_ options: AnalysisOptions = AnalysisOptions()) -> GroupResult {
        let analyzer = ClockGroupAnalyzer(options: options, sources: [0], clock: .timestamps)
        for e in events { analyzer.consume(e) }
        return analyzer.finish()
    }
}

extension GroupResult {
    func findings(_ kind: FindingKind) -> [Finding] { findings.filter { $0.kind == kind } }
    func queue(_ type: QueueType, _ qid: UInt16 = 1) -> QueueState? {
        queues.first { $0.key == QueueKey(controller: 0, qid: qid, type: type) }
    }
}

extension Scenario {
    /// The guest completes a command (`nvme_complete_rq`), with its status.
    mutating func guestComplete(qid: UInt16 = 1, cmdid: UInt32, status: UInt32 = 0, at t: Int64) {
        add(Event(kind: .driverComplete, time: Self.us(t), qid: qid, a: cmdid, b: status))
    }

    /// The findings as the report numbers them, with known bugs and links (session level).
    func story(kernel: KernelVersion? = nil, _ options: AnalysisOptions = AnalysisOptions()) -> AnalysisResult {
        var console = InputSummary(index: 0, path: "console.log", format: .consoleLog)
        console.kernelVersion = kernel
        return AnalysisSession.combine(inputs: [console], groups: [analyze(options)], notes: [], options: options)
    }
}
