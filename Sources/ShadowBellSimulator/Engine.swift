import ShadowBellCore

// The discrete-event engine. Every memory operation that crosses sides (driver shadow store A
// and EventIdx load B, controller EventIdx store C and shadow load D, MMIO doorbells, queue
// creation/deletion, Doorbell Buffer Config, reset) is its own event, executed at its own time,
// and the trace line reporting it carries exactly that time. Driver-side operations happen on
// even nanoseconds and controller-side ones on odd nanoseconds, so the two sides never tie.

@inline(__always) private func driverTime(_ t: Int64) -> Int64 { t & 1 == 0 ? t : t + 1 }
@inline(__always) private func controllerTime(_ t: Int64) -> Int64 { t | 1 }

private enum EventKind: UInt8 {
    case arrival, driverKick, driverConsumeStep, driverStore, driverLoad, driverResume, irqDeliver
    case mmioArrive, controllerKick, controllerStep, serviceDone, coalesceTimer
    case timeoutCheck, adminStep, adminApply
}

private struct SimEvent {
    var time: Int64
    var seq: UInt64
    var kind: EventKind
    var flag: UInt8
    var qid: UInt16
    var arg: UInt32
    var epoch: UInt32
}

private struct EventHeap {
    var items: [SimEvent] = []

    @inline(__always)
    private func less(_ i: Int, _ j: Int) -> Bool {
        let a = items[i], b = items[j]
        return a.time != b.time ? a.time < b.time : a.seq < b.seq
    }

    mutating func push(_ e: SimEvent) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) >> 1
            if !less(i, p) { break }
            items.swapAt(i, p)
            i = p
        }
    }

    mutating func pop() -> SimEvent? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            let n = items.count
            while true {
                let l = 2 * i + 1
                if l >= n { break }
                var m = l
                if l + 1 < n && less(l + 1, l) { m = l + 1 }
                if !less(m, i) { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}

private enum CommandState: UInt8 { case free, submitted, inService, completed, posted }

private struct Command {
    var state = CommandState.free
    var aborted = false
    var opcode: UInt8 = 2
    var len: UInt16 = 7
    var cmdid: UInt16 = 0
    var uses: UInt32 = 0
    var slba: UInt32 = 0
    var submitNs: Int64 = 0
}

private struct DriverQueue {
    var sqTail: UInt32 = 0
    var cqHead: UInt32 = 0
    var outstanding = 0
    var wantSubmit = 0
    var owed = 0
    var wantConsume = false
    var busy = false
    var freeTags: [UInt16] = []
    var commands: [Command] = []
    var sqRing: [UInt16] = []
    var storeBufferDrainedAt: Int64 = 0
    // The doorbell update in progress.
    var updType = QueueType.sq
    var updOld: UInt32 = 0
    var updNew: UInt32 = 0
    var updStoreNs: Int64 = 0
    var updVisibleNs: Int64 = 0
    var updOldStale = false
    var consumed = 0
}

private enum ControllerPhase: UInt8 { case sqLoad, sqFetch, sqStore, cqStore, cqLoad }

private struct ControllerQueue {
    var sqExists = false
    var cqExists = false
    var sqHead: UInt32 = 0
    var sqTail: UInt32 = 0
    var sqQueued = false
    var sqRerun = false
    var cqHead: UInt32 = 0
    var cqTail: UInt32 = 0
    var cqQueued = false
    var cqRerun = false
    var pending: [UInt16] = []
    var pendingRead = 0
    var posted: [(tag: UInt16, sqHead: UInt32)] = []
    var postedRead = 0
    var unsignalled = 0
    var coalesceArmed = false
    var noCQEventIdxRecorded = false

    var pendingCount: Int { pending.count - pendingRead }
}

private struct DriverUpdateInfo {
    var storeNs: Int64 = 0
    var visibleNs: Int64 = 0
    var loadNs: Int64 = 0
    var old: UInt32 = 0
    var new: UInt32 = 0
    var eventIdx: UInt32 = 0
    var mmio = false
    var skippedMMIO = false
    var staleInvolved = false
}

/// The model's true per-queue wait state (findings.md, "mutual-wait").
private struct QueueTruth {
    var published: UInt32 = 0  // P: the driver's latest shadow store (from store A on)
    var decisionPending = false  // store A done, the EventIdx load B and MMIO decision not yet
    var publishedSinceCreate = false  // no P before the driver's first publish on a new queue
    var seen: UInt32 = 0  // S
    var mmioSinceLook = false
    var waiting = false
    var openWindow = -1
    var driver = DriverUpdateInfo()
    var eventIdxStoreNs: Int64? = nil
    var eventIdxVisibleNs: Int64? = nil
    var eventIdxValue: UInt32? = nil
    var readNs: Int64 = 0
    var readValue: UInt32 = 0
    var lastBurstEndNs: Int64 = .min / 2
    var lastProbeNs: Int64 = .min / 2
    var lastProbeCounted = true
    var counts: QueueCounts
}

private enum AdminAction {
    case createCQ(UInt16), createSQ(UInt16), deleteSQ(UInt16), deleteCQ(UInt16)
    case disable, dbbufConfig, restart, abort(UInt16)
}

final class Engine {
    private let cfg: SimulationConfig
    private var rng: Xoshiro256
    private let sink: TraceSink?
    private var reorder = RecordReorder()
    private var heap = EventHeap()
    private var seq: UInt64 = 0
    private var now: Int64
    private let endNs: Int64
    private let sqEntries: UInt32
    private let cqEntries: UInt32
    private let iodepth: Int
    private let queueCount: Int

    private var drivers: [DriverQueue]
    private var controllerQueues: [ControllerQueue]
    private var truth: [QueueTruth]  // index (qid - 1) * 2 + type
    // Memory: index (qid - 1) * 2 + type.
    private var shadow: [SharedSlot]
    private var eventIdx: [SharedSlot]

    private var controllerEpoch: UInt32 = 0
    private var driverEpoch: UInt32 = 0
    private var controllerBusy = false
    private var controllerFIFO: [(type: QueueType, qid: UInt16)] = []
    private var controllerFIFORead = 0
    private var curType = QueueType.sq
    private var curQid: UInt16 = 0
    private var phase = ControllerPhase.sqLoad
    private var controllerDrainedAt: Int64 = 0
    private var deferredControllerEvents: [SimEvent] = []

    private var resetting = false
    private var started = false
    private var adminScript: [AdminAction] = []
    private var adminIndex = 0
    private var adminCid: UInt16 = 0
    private var adminSQTail: UInt32 = 0
    private var adminCQHead: UInt32 = 0
    private var skipFaultFired = false
    private var outOfRangeFired = false

    private(set) var result: SimulationResult

    init(config: SimulationConfig, sink: TraceSink?) {
        cfg = config
        rng = Xoshiro256(seed: config.seed)
        self.sink = sink
        now = config.startNs
        endNs = config.startNs + config.durationNs
        sqEntries = UInt32(config.sqEntries)
        cqEntries = UInt32(config.cqEntries)
        iodepth = config.effectiveIODepth
        queueCount = config.queues
        var dq = DriverQueue()
        dq.commands = Array(repeating: Command(), count: iodepth)
        dq.freeTags = (0..<UInt16(iodepth)).reversed()
        dq.sqRing = Array(repeating: UInt16.max, count: config.sqEntries)
        drivers = Array(repeating: dq, count: config.queues + 1)
        controllerQueues = Array(repeating: ControllerQueue(), count: config.queues + 1)
        var t: [QueueTruth] = []
        for q in 1...config.queues {
            for type in [QueueType.sq, .cq] {
                t.append(QueueTruth(counts: QueueCounts(
                    queue: QueueKey(controller: 0, qid: UInt16(q), type: type))))
            }
        }
        truth = t
        shadow = Array(repeating: SharedSlot(), count: config.queues * 2)
        eventIdx = Array(repeating: SharedSlot(), count: config.queues * 2)
        result = SimulationResult(config: config, traceStartNs: config.startNs, traceEndNs: endNs)
    }

    // MARK: plumbing

    @inline(__always)
    private func slot(_ qid: UInt16, _ type: QueueType) -> Int { (Int(qid) - 1) * 2 + Int(type.rawValue) }

    @inline(__always)
    private func schedule(_ kind: EventKind, at time: Int64, qid: UInt16 = 0, flag: UInt8 = 0,
                          arg: UInt32 = 0, epoch: UInt32 = 0) {
        seq &+= 1
        heap.push(SimEvent(time: time, seq: seq, kind: kind, flag: flag, qid: qid, arg: arg, epoch: epoch))
    }

    @inline(__always)
    private func emit(_ r: TraceRecord) {
        if sink != nil {
            result.traceLines += 1
            reorder.push(r)
        }
    }

    @inline(__always)
    private func draw(_ d: DelayDistribution) -> Int64 { max(0, d.draw(&rng)) }

    // MARK: run

    func run() -> SimulationResult {
        var script: [AdminAction] = []
        for q in 1...queueCount {
            script.append(.createCQ(UInt16(q)))
            script.append(.createSQ(UInt16(q)))
        }
        script.append(.dbbufConfig)
        script.append(.restart)
        adminScript = script
        adminIndex = 0
        schedule(.adminStep, at: driverTime(now + 2_000))

        while let e = heap.pop() {
            if e.time > endNs { break }
            now = e.time
            if let sink { reorder.flush(upTo: now, into: sink) }
            handle(e)
        }
        now = endNs
        finishTruth()
        if let sink { reorder.flush(upTo: .max, into: sink) }
        return result
    }

    private func handle(_ e: SimEvent) {
        // QEMU runs MMIO handlers, AIO completions and timers under the big lock, never in the
        // middle of a bottom half: while a controller task runs they wait for its end.
        if controllerBusy && (e.kind == .mmioArrive || e.kind == .serviceDone || e.kind == .coalesceTimer) {
            deferredControllerEvents.append(e)
            return
        }
        switch e.kind {
        case .arrival: arrival(e.qid)
        case .driverKick: driverKick(e.qid)
        case .driverConsumeStep:
            if e.epoch == driverEpoch { consumeStep(e.qid) }
        case .driverStore:
            if e.epoch == driverEpoch { driverStore(e.qid) }
        case .driverLoad:
            if e.epoch == driverEpoch { driverLoad(e.qid) }
        case .driverResume:
            if e.epoch == driverEpoch { finishUpdate(e.qid) }
        case .irqDeliver:
            if e.epoch == driverEpoch {
                drivers[Int(e.qid)].wantConsume = true
                driverKick(e.qid)
            }
        case .mmioArrive: mmioArrive(e.qid, QueueType(rawValue: e.flag)!, e.arg)
        case .controllerKick:
            if e.epoch == controllerEpoch { controllerKick() }
        case .controllerStep:
            if e.epoch == controllerEpoch { controllerStep() }
        case .serviceDone:
            if e.epoch == controllerEpoch { serviceDone(e.qid, UInt16(e.arg)) }
        case .coalesceTimer:
            if e.epoch == controllerEpoch {
                controllerQueues[Int(e.qid)].coalesceArmed = false
                if controllerQueues[Int(e.qid)].unsignalled > 0 { raiseInterrupt(e.qid) }
            }
        case .timeoutCheck: timeoutCheck(e.qid, tag: UInt16(e.arg & 0xFFFF), uses: e.epoch)
        case .adminStep: adminStep()
        case .adminApply: adminApply()
        }
    }

    // MARK: workload

    private func arrival(_ q: UInt16) {
        let qi = Int(q)
        let batch = 1 + Int(rng.below(UInt64(cfg.workload.burst)))
        let room = max(0, iodepth - drivers[qi].outstanding - drivers[qi].wantSubmit)
        let admit = min(batch, room)
        drivers[qi].wantSubmit += admit
        drivers[qi].owed = min(iodepth, drivers[qi].owed + batch - admit)
        let mean = max(1, 1_000_000_000 / Int64(cfg.workload.iops(forQueue: qi)))
        let gap = max(2, DelayDistribution.exponential(mean: mean).draw(&rng))
        schedule(.arrival, at: driverTime(now + gap), qid: q)
        if cfg.noise && rng.chance(percent: 3) {
            emit(TraceRecord(.schedWakeup, now, qid: q, cpu: q))
            emit(TraceRecord(.schedSwitch, now + 1_200, qid: q, cpu: q))
        }
        if admit > 0 { driverKick(q) }
    }

    // MARK: driver

    private func driverKick(_ q: UInt16) {
        let qi = Int(q)
        if drivers[qi].busy { return }
        if drivers[qi].wantConsume {
            consume(q)
        } else if drivers[qi].wantSubmit > 0 && !resetting && started {
            submit(q)
        }
    }

    private func submit(_ q: UInt16) {
        let qi = Int(q)
        let count = min(drivers[qi].wantSubmit, drivers[qi].freeTags.count)
        if count == 0 { return }
        drivers[qi].busy = true
        drivers[qi].wantSubmit -= count
        var t = now
        for _ in 0..<count {
            let tag = drivers[qi].freeTags.removeLast()
            var cmd = drivers[qi].commands[Int(tag)]
            cmd.uses &+= 1
            cmd.cmdid = UInt16(truncatingIfNeeded: (cmd.uses & 0xF) << 12) | tag
            cmd.opcode = rng.chance(percent: cfg.workload.readPercent) ? 2 : 1
            cmd.len = UInt16(rng.below(4) == 0 ? 31 : 7)
            cmd.slba = UInt32(truncatingIfNeeded: rng.below(1 << 24) &* 8)
            cmd.state = .submitted
            cmd.aborted = false
            cmd.submitNs = t
            drivers[qi].commands[Int(tag)] = cmd
            drivers[qi].outstanding += 1
            let tail = drivers[qi].sqTail
            drivers[qi].sqRing[Int(tail)] = tag
            drivers[qi].sqTail = tail + 1 == sqEntries ? 0 : tail + 1
            truth[slot(q, .sq)].counts.commands += 1
            if cfg.noise {
                emit(TraceRecord(.blockIssue, t, qid: q, cpu: q, a: cmd.slba, b: UInt32(cmd.len) + 1,
                                 c: cmd.opcode == 1 ? 1 : 0))
            }
            emit(TraceRecord(.setupCmd, t + 60, qid: q, cpu: q, a: UInt32(cmd.cmdid),
                             b: UInt32(cmd.opcode), c: cmd.slba, d: UInt32(cmd.len)))
            schedule(.timeoutCheck, at: driverTime(t + cfg.ioTimeoutNs), qid: q, arg: UInt32(tag),
                     epoch: cmd.uses)
            t += max(80, draw(cfg.timing.driverCommandCost))
        }
        startUpdate(q, .sq, value: drivers[qi].sqTail, at: driverTime(t))
    }

    /// The interrupt handler: like `nvme_poll_cq`, it handles CQEs one by one for as long as
    /// new ones appear (including those the controller posts meanwhile), then publishes the CQ
    /// head once.
    private func consume(_ q: UInt16) {
        let qi = Int(q)
        drivers[qi].wantConsume = false
        drivers[qi].busy = true
        drivers[qi].consumed = 0
        if cfg.noise { emit(TraceRecord(.irqEntry, now, qid: q, cpu: q)) }
        schedule(.driverConsumeStep, at: driverTime(now + 150), qid: q, epoch: driverEpoch)
    }

    private func consumeStep(_ q: UInt16) {
        let qi = Int(q)
        let t = now
        guard controllerQueues[qi].postedRead < controllerQueues[qi].posted.count else {
            controllerQueues[qi].posted.removeAll(keepingCapacity: true)
            controllerQueues[qi].postedRead = 0
            if drivers[qi].consumed == 0 {
                if cfg.noise { emit(TraceRecord(.irqExit, t, qid: q, cpu: q)) }
                drivers[qi].busy = false
                schedule(.driverKick, at: driverTime(t + 100), qid: q)
            } else {
                startUpdate(q, .cq, value: drivers[qi].cqHead, at: t)
            }
            return
        }
        let entry = controllerQueues[qi].posted[controllerQueues[qi].postedRead]
        controllerQueues[qi].postedRead += 1
        drivers[qi].consumed += 1
        let cmd = drivers[qi].commands[Int(entry.tag)]
        emit(TraceRecord(.nvmeSQ, t, qid: q, cpu: q, a: entry.sqHead, b: drivers[qi].sqTail))
        emit(TraceRecord(.completeRq, t + 40, qid: q, cpu: q, a: UInt32(cmd.cmdid)))
        if cfg.noise {
            emit(TraceRecord(.blockComplete, t + 80, qid: q, cpu: q, a: cmd.slba,
                             b: UInt32(cmd.len) + 1, c: cmd.opcode == 1 ? 1 : 0))
        }
        drivers[qi].commands[Int(entry.tag)].state = .free
        drivers[qi].freeTags.append(entry.tag)
        drivers[qi].outstanding -= 1
        result.commandsCompleted += 1
        if drivers[qi].owed > 0 {
            drivers[qi].owed -= 1
            drivers[qi].wantSubmit += 1
        }
        let h = drivers[qi].cqHead
        drivers[qi].cqHead = h + 1 == cqEntries ? 0 : h + 1
        schedule(.driverConsumeStep, at: driverTime(t + max(120, draw(cfg.timing.driverCompletionCost))),
                 qid: q, epoch: driverEpoch)
    }

    /// `nvme_dbbuf_update_and_check_event` at `t`: store A, then load B and the MMIO decision.
    private func startUpdate(_ q: UInt16, _ type: QueueType, value: UInt32, at t: Int64) {
        drivers[Int(q)].updType = type
        drivers[Int(q)].updNew = value
        schedule(.driverStore, at: t, qid: q, epoch: driverEpoch)
    }

    private func driverStore(_ q: UInt16) {
        let qi = Int(q)
        let t = now
        let type = drivers[qi].updType
        let value = drivers[qi].updNew
        let s = slot(q, type)
        let old = shadow[s].latest
        let oldStale = shadow[s].latestIsStale
        let visible = max(t + draw(cfg.driverDrainDistribution), drivers[qi].storeBufferDrainedAt)
        drivers[qi].storeBufferDrainedAt = visible
        shadow[s].store(value, visibleAt: visible)
        truth[s].published = value
        truth[s].publishedSinceCreate = true
        truth[s].decisionPending = true
        drivers[qi].updOld = old
        drivers[qi].updStoreNs = t
        drivers[qi].updVisibleNs = visible
        drivers[qi].updOldStale = oldStale
        var load = t + max(2, draw(cfg.timing.driverStoreToLoad))
        if cfg.driverBarrier { load = max(load, visible) }
        schedule(.driverLoad, at: driverTime(load), qid: q, epoch: driverEpoch)
    }

    private func driverLoad(_ q: UInt16) {
        let qi = Int(q)
        let type = drivers[qi].updType
        let s = slot(q, type)
        let ei = eventIdx[s].load(at: now)
        let eiStale = eventIdx[s].visibleIsStale
        let old = drivers[qi].updOld, new = drivers[qi].updNew
        let needed = needEvent(eventIdx: UInt16(truncatingIfNeeded: ei),
                               new: UInt16(truncatingIfNeeded: new), old: UInt16(truncatingIfNeeded: old))
        var mmio = needed
        var skipped = false
        // The skip strikes where it hurts: the first needed SQ doorbell after the fault time
        // while the controller sits idle on the queue.
        if needed && type == .sq && cfg.faults.driverSkipsMMIO && !skipFaultFired
            && now >= cfg.startNs + cfg.effectiveFaultAtNs && started && !resetting && truth[s].waiting
        {
            skipFaultFired = true
            mmio = false
            skipped = true
            result.faults.append(FaultOccurrence(
                kind: .driverSkippedMMIO, queue: QueueKey(controller: 0, qid: q, type: .sq), timeNs: now,
                value: new,
                detail: "need_event(\(ei), \(new), \(old)) is true but the driver did not write the MMIO doorbell"))
        }
        emit(TraceRecord(type == .sq ? .driverProbeSQ : .driverProbeCQ, now, qid: q, cpu: q,
                         a: old, b: new, c: ei, d: mmio ? 1 : 0))
        let info = DriverUpdateInfo(
            storeNs: drivers[qi].updStoreNs, visibleNs: drivers[qi].updVisibleNs, loadNs: now, old: old,
            new: new, eventIdx: ei, mmio: mmio, skippedMMIO: skipped,
            staleInvolved: eiStale || drivers[qi].updOldStale)
        truthDriverUpdate(q, type, info)
        if mmio {
            let arrive = max(now + max(100, draw(cfg.timing.mmioExit)), drivers[qi].storeBufferDrainedAt)
            schedule(.mmioArrive, at: controllerTime(arrive), qid: q, flag: type.rawValue, arg: new)
        } else {
            finishUpdate(q)
        }
    }

    private func finishUpdate(_ q: UInt16) {
        let qi = Int(q)
        let t = now + 30
        if drivers[qi].updType == .cq && cfg.noise { emit(TraceRecord(.irqExit, t, qid: q, cpu: q)) }
        drivers[qi].busy = false
        schedule(.driverKick, at: driverTime(t + 50), qid: q)
    }

    // MARK: controller

    private func mmioArrive(_ q: UInt16, _ type: QueueType, _ value: UInt32) {
        let qi = Int(q)
        // The vCPU resumes once the exit is handled, whatever the controller does with it.
        schedule(.driverResume, at: driverTime(now + draw(cfg.timing.mmioReturn)), qid: q, epoch: driverEpoch)
        let cq = controllerQueues[qi]
        guard type == .sq ? cq.sqExists : cq.cqExists else { return }
        emit(TraceRecord(type == .sq ? .mmioDoorbellSQ : .mmioDoorbellCQ, now, qid: q, a: value))
        truthMMIO(q, type, value)
        if type == .sq {
            if value < sqEntries { controllerQueues[qi].sqTail = value }
            enqueueTask(.sq, q)
        } else {
            if value < cqEntries { controllerQueues[qi].cqHead = value }
            if controllerQueues[qi].pendingCount > 0 { enqueueTask(.cq, q) }
        }
    }

    private func enqueueTask(_ type: QueueType, _ q: UInt16) {
        let qi = Int(q)
        let running = controllerBusy && curQid == q && curType == type
        if type == .sq {
            if controllerQueues[qi].sqQueued {
                if running { controllerQueues[qi].sqRerun = true }
                return
            }
            controllerQueues[qi].sqQueued = true
        } else {
            if controllerQueues[qi].cqQueued {
                if running { controllerQueues[qi].cqRerun = true }
                return
            }
            controllerQueues[qi].cqQueued = true
        }
        controllerFIFO.append((type, q))
        if !controllerBusy && controllerFIFO.count - controllerFIFORead == 1 {
            schedule(.controllerKick, at: controllerTime(now + draw(cfg.timing.controllerDispatch)),
                     epoch: controllerEpoch)
        }
    }

    private func controllerKick() {
        if controllerBusy { return }
        while controllerFIFORead < controllerFIFO.count {
            let task = controllerFIFO[controllerFIFORead]
            controllerFIFORead += 1
            if controllerFIFORead == controllerFIFO.count {
                controllerFIFO.removeAll(keepingCapacity: true)
                controllerFIFORead = 0
            }
            let qi = Int(task.qid)
            let exists = task.type == .sq ? controllerQueues[qi].sqExists : controllerQueues[qi].cqExists
            if !exists {
                if task.type == .sq { controllerQueues[qi].sqQueued = false } else { controllerQueues[qi].cqQueued = false }
                continue
            }
            controllerBusy = true
            curType = task.type
            curQid = task.qid
            phase = task.type == .sq ? .sqLoad : .cqStore
            controllerStep()
            return
        }
    }

    private func next(_ p: ControllerPhase, at t: Int64) {
        phase = p
        schedule(.controllerStep, at: controllerTime(t), epoch: controllerEpoch)
    }

    private func controllerStep() {
        let q = curQid, qi = Int(q)
        let exists = curType == .sq ? controllerQueues[qi].sqExists : controllerQueues[qi].cqExists
        if !exists {
            taskDone(waiting: false)
            return
        }
        let s = slot(q, curType)
        switch phase {
        case .sqLoad:
            let v = shadow[s].load(at: now)
            emit(TraceRecord(.shadowReadSQ, now, qid: q, a: v))
            truthControllerRead(q, .sq, v)
            if v < sqEntries { controllerQueues[qi].sqTail = v }
            if controllerQueues[qi].sqHead != controllerQueues[qi].sqTail {
                next(.sqFetch, at: now + max(20, draw(cfg.timing.controllerFetch)))
            } else {
                taskDone(waiting: true)
            }
        case .sqFetch:
            let head = controllerQueues[qi].sqHead
            let tag = drivers[qi].sqRing[Int(head)]
            drivers[qi].sqRing[Int(head)] = UInt16.max
            controllerQueues[qi].sqHead = head + 1 == sqEntries ? 0 : head + 1
            if tag != UInt16.max && drivers[qi].commands[Int(tag)].state == .submitted {
                let cmd = drivers[qi].commands[Int(tag)]
                drivers[qi].commands[Int(tag)].state = .inService
                emit(TraceRecord(.ioCmd, now, qid: q, a: UInt32(cmd.cmdid), b: UInt32(cmd.opcode)))
                schedule(.serviceDone, at: controllerTime(now + max(100, draw(cfg.workload.service))),
                         qid: q, arg: UInt32(tag), epoch: controllerEpoch)
            }
            next(.sqStore, at: now + 30)
        case .sqStore:
            var value = controllerQueues[qi].sqTail
            if cfg.faults.valueOutOfRange && !outOfRangeFired && sqEntries < 65536
                && now >= cfg.startNs + cfg.effectiveFaultAtNs && started && !resetting
            {
                outOfRangeFired = true
                value = min(65535, value + sqEntries)
                result.faults.append(FaultOccurrence(
                    kind: .valueOutOfRange, queue: QueueKey(controller: 0, qid: q, type: .sq), timeNs: now,
                    value: value,
                    detail: "the controller wrote SQ EventIdx \(value) into a \(sqEntries)-entry queue"))
            }
            let visible = controllerStore(s, value)
            emit(TraceRecord(.eventIdxWriteSQ, now, qid: q, a: value))
            truthEventIdxStore(q, .sq, value, visible)
            var load = now + max(2, draw(cfg.timing.controllerStoreToLoad))
            if cfg.controllerBarrier { load = max(load, visible) }
            next(.sqLoad, at: load)
        case .cqStore:
            if controllerQueues[qi].pendingCount == 0 {
                taskDone(waiting: false)
                return
            }
            var load = now + max(2, draw(cfg.timing.controllerStoreToLoad))
            if cfg.faults.noCQEventIdx {
                if !controllerQueues[qi].noCQEventIdxRecorded {
                    controllerQueues[qi].noCQEventIdxRecorded = true
                    result.faults.append(FaultOccurrence(
                        kind: .noCQEventIdx, queue: QueueKey(controller: 0, qid: q, type: .cq), timeNs: now,
                        value: nil, detail: "the controller posts completions without writing CQ EventIdx"))
                }
            } else {
                let value = controllerQueues[qi].cqHead
                let visible = controllerStore(s, value)
                emit(TraceRecord(.eventIdxWriteCQ, now, qid: q, a: value))
                truthEventIdxStore(q, .cq, value, visible)
                if cfg.controllerBarrier { load = max(load, visible) }
            }
            next(.cqLoad, at: load)
        case .cqLoad:
            let v = shadow[s].load(at: now)
            emit(TraceRecord(.shadowReadCQ, now, qid: q, a: v))
            truthControllerRead(q, .cq, v)
            if v < cqEntries { controllerQueues[qi].cqHead = v }
            let tail = controllerQueues[qi].cqTail
            let nextTail = tail + 1 == cqEntries ? 0 : tail + 1
            if nextTail == controllerQueues[qi].cqHead {
                raiseInterrupt(q)
                taskDone(waiting: true)
                return
            }
            let tag = controllerQueues[qi].pending[controllerQueues[qi].pendingRead]
            controllerQueues[qi].pendingRead += 1
            if controllerQueues[qi].pendingRead == controllerQueues[qi].pending.count {
                controllerQueues[qi].pending.removeAll(keepingCapacity: true)
                controllerQueues[qi].pendingRead = 0
            }
            controllerQueues[qi].posted.append((tag, controllerQueues[qi].sqHead))
            controllerQueues[qi].cqTail = nextTail
            drivers[qi].commands[Int(tag)].state = .posted
            truth[s].counts.commands += 1
            controllerQueues[qi].unsignalled += 1
            next(.cqStore, at: now + max(20, draw(cfg.timing.controllerPost)))
        }
    }

    private func controllerStore(_ s: Int, _ value: UInt32) -> Int64 {
        let visible = max(now + draw(cfg.controllerDrainDistribution), controllerDrainedAt)
        controllerDrainedAt = visible
        eventIdx[s].store(value, visibleAt: visible)
        return visible
    }

    /// The current task ends; `waiting` when it ended for want of work (SQ: the last read
    /// returned the consumed tail; CQ: the queue is full).
    private func taskDone(waiting: Bool) {
        let q = curQid, qi = Int(q)
        let type = curType
        controllerBusy = false
        var rerun: Bool
        if type == .sq {
            rerun = controllerQueues[qi].sqRerun
            controllerQueues[qi].sqRerun = false
            controllerQueues[qi].sqQueued = false
        } else {
            rerun = controllerQueues[qi].cqRerun
            controllerQueues[qi].cqRerun = false
            controllerQueues[qi].cqQueued = false
            let signal = controllerQueues[qi].unsignalled
            if signal >= cfg.workload.coalesceCount {
                raiseInterrupt(q)
            } else if signal > 0 && !controllerQueues[qi].coalesceArmed {
                controllerQueues[qi].coalesceArmed = true
                schedule(.coalesceTimer, at: controllerTime(now + cfg.workload.coalesceTimeNs), qid: q,
                         epoch: controllerEpoch)
            }
        }
        let exists = type == .sq ? controllerQueues[qi].sqExists : controllerQueues[qi].cqExists
        if exists { truthTaskEnd(q, type, waiting: waiting && !rerun) }
        if !deferredControllerEvents.isEmpty {
            var t = now
            for e in deferredControllerEvents {
                t += 40
                schedule(e.kind, at: controllerTime(t), qid: e.qid, flag: e.flag, arg: e.arg, epoch: e.epoch)
            }
            deferredControllerEvents.removeAll(keepingCapacity: true)
        }
        if rerun && exists { enqueueTask(type, q) }
        if controllerFIFORead < controllerFIFO.count {
            schedule(.controllerKick, at: controllerTime(now + 200 + Int64(rng.below(600))),
                     epoch: controllerEpoch)
        }
    }

    private func raiseInterrupt(_ q: UInt16) {
        let qi = Int(q)
        if controllerQueues[qi].unsignalled == 0 && controllerQueues[qi].posted.count == controllerQueues[qi].postedRead {
            return
        }
        controllerQueues[qi].unsignalled = 0
        emit(TraceRecord(.irqMsix, now, qid: q))
        schedule(.irqDeliver, at: driverTime(now + draw(cfg.timing.interruptLatency)), qid: q,
                 epoch: driverEpoch)
    }

    private func serviceDone(_ q: UInt16, _ tag: UInt16) {
        let qi = Int(q)
        guard controllerQueues[qi].cqExists, drivers[qi].commands[Int(tag)].state == .inService else { return }
        drivers[qi].commands[Int(tag)].state = .completed
        emit(TraceRecord(.enqueueCompletion, now, qid: q, a: UInt32(drivers[qi].commands[Int(tag)].cmdid)))
        controllerQueues[qi].pending.append(tag)
        enqueueTask(.cq, q)
    }

    // MARK: timeouts and reset

    private func timeoutCheck(_ q: UInt16, tag: UInt16, uses: UInt32) {
        let qi = Int(q)
        let cmd = drivers[qi].commands[Int(tag)]
        guard cmd.state != .free, cmd.uses == uses, !resetting else { return }
        result.timeouts += 1
        let opcode = UInt32(cmd.opcode)
        if cmd.state == .posted {
            emit(TraceRecord(.console, now, qid: q, cpu: q, a: ConsoleMessage.timeoutPolled.rawValue,
                             b: UInt32(tag), c: UInt32(cmd.cmdid), d: opcode))
            drivers[qi].wantConsume = true
            driverKick(q)
            return
        }
        if !cmd.aborted {
            drivers[qi].commands[Int(tag)].aborted = true
            result.aborts += 1
            emit(TraceRecord(.console, now, qid: q, cpu: q, a: ConsoleMessage.timeoutAborting.rawValue,
                             b: UInt32(tag), c: UInt32(cmd.cmdid), d: opcode))
            emitAdminCommand(.abort(q), at: now + 2_000, applyAt: nil)
            emit(TraceRecord(.console, now + 9_000, qid: q, cpu: q, a: ConsoleMessage.abortStatus.rawValue))
            schedule(.timeoutCheck, at: driverTime(now + cfg.ioTimeoutNs), qid: q, arg: UInt32(tag), epoch: uses)
            return
        }
        emit(TraceRecord(.console, now, qid: q, cpu: q, a: ConsoleMessage.timeoutReset.rawValue,
                         b: UInt32(tag), c: UInt32(cmd.cmdid), d: opcode))
        resetting = true
        result.resetTimesNs.append(now)
        var script: [AdminAction] = []
        for q in 1...queueCount { script.append(.deleteSQ(UInt16(q))) }
        for q in 1...queueCount { script.append(.deleteCQ(UInt16(q))) }
        script.append(.disable)
        for q in 1...queueCount {
            script.append(.createCQ(UInt16(q)))
            script.append(.createSQ(UInt16(q)))
        }
        script.append(.dbbufConfig)
        script.append(.restart)
        adminScript = script
        adminIndex = 0
        schedule(.adminStep, at: driverTime(now + 20_000))
    }

    private func adminStep() {
        guard adminIndex < adminScript.count else { return }
        let action = adminScript[adminIndex]
        switch action {
        case .disable, .restart:
            schedule(.adminApply, at: controllerTime(now + 1_000))
        default:
            emitAdminCommand(action, at: now, applyAt: controllerTime(now + 1_000))
        }
    }

    /// The lines of one admin command around the controller's handling at `applyAt`
    /// (an `adminApply` event is scheduled there when given).
    private func emitAdminCommand(_ action: AdminAction, at t: Int64, applyAt: Int64?) {
        let opcode: AdminOpcode, arg: UInt16
        switch action {
        case .createCQ(let q): opcode = .createCQ; arg = q
        case .createSQ(let q): opcode = .createSQ; arg = q
        case .deleteSQ(let q): opcode = .deleteSQ; arg = q
        case .deleteCQ(let q): opcode = .deleteCQ; arg = q
        case .abort(let q): opcode = .abort; arg = q
        case .dbbufConfig: opcode = .dbbufConfig; arg = 0
        case .disable, .restart: return
        }
        adminCid = adminCid &+ 1
        let cid = UInt32(adminCid & 0x0FFF) | 0x1000
        adminSQTail = (adminSQTail + 1) % 32
        let apply = applyAt ?? controllerTime(t + 1_000)
        emit(TraceRecord(.adminSetup, t, cpu: 0, a: cid, b: opcode.rawValue, c: UInt32(arg)))
        emit(TraceRecord(.mmioDoorbellSQ, controllerTime(t + 400), qid: 0, a: adminSQTail))
        emit(TraceRecord(.adminCmd, apply - 2, a: cid, b: opcode.rawValue))
        if applyAt == nil {
            // Abort: QEMU 7.2+ completes it without touching the SQ.
        } else {
            schedule(.adminApply, at: apply)
        }
        emit(TraceRecord(.enqueueCompletion, apply + 400, qid: 0, a: cid))
        emit(TraceRecord(.irqMsix, apply + 600, qid: 0))
        adminCQHead = (adminCQHead + 1) % 32
        emit(TraceRecord(.completeRq, driverTime(apply + 2_500), qid: 0, cpu: 0, a: cid))
        emit(TraceRecord(.mmioDoorbellCQ, apply + 3_000, qid: 0, a: adminCQHead))
    }

    private func adminApply() {
        guard adminIndex < adminScript.count else { return }
        let action = adminScript[adminIndex]
        adminIndex += 1
        switch action {
        case .createCQ(let q):
            controllerQueues[Int(q)].cqExists = true
            emit(TraceRecord(.createCQ, now, qid: q, a: cqEntries - 1))
            truthQueueCreated(q, .cq)
        case .createSQ(let q):
            controllerQueues[Int(q)].sqExists = true
            emit(TraceRecord(.createSQ, now, qid: q, a: sqEntries - 1))
            truthQueueCreated(q, .sq)
        case .deleteSQ(let q):
            emit(TraceRecord(.deleteSQ, now, qid: q))
            truthClose(q, .sq, .queueDeleted)
            controllerQueues[Int(q)].sqExists = false
        case .deleteCQ(let q):
            emit(TraceRecord(.deleteCQ, now, qid: q))
            truthClose(q, .cq, .queueDeleted)
            controllerQueues[Int(q)].cqExists = false
        case .disable:
            emit(TraceRecord(.mmioStopped, now))
            controllerReset()
        case .dbbufConfig:
            emit(TraceRecord(.dbbufConfig, now))
            for q in 1...queueCount {
                truthClose(UInt16(q), .sq, .dbbufConfig)
                truthClose(UInt16(q), .cq, .dbbufConfig)
            }
        case .restart:
            resetting = false
            if !started {
                started = true
                for q in 1...queueCount {
                    schedule(.arrival, at: driverTime(now + 1_000 + Int64(rng.below(4_000))), qid: UInt16(q))
                }
            } else {
                emit(TraceRecord(.console, now + 1, cpu: 0, a: ConsoleMessage.resetDone.rawValue))
            }
            for q in 1...queueCount { schedule(.driverKick, at: driverTime(now + 500), qid: UInt16(q)) }
            return
        case .abort: break
        }
        if adminIndex < adminScript.count {
            schedule(.adminStep, at: driverTime(now + 3_000 + Int64(rng.below(2_000))))
        }
    }

    private func controllerReset() {
        for q in 1...queueCount {
            truthClose(UInt16(q), .sq, .controllerReset)
            truthClose(UInt16(q), .cq, .controllerReset)
        }
        controllerEpoch &+= 1
        driverEpoch &+= 1
        controllerBusy = false
        controllerFIFO.removeAll()
        controllerFIFORead = 0
        deferredControllerEvents.removeAll()
        controllerDrainedAt = now
        for qi in 1...queueCount {
            controllerQueues[qi] = ControllerQueue()
            // Linux cancels and requeues everything in flight; it is resubmitted after the reset.
            var requeued = 0
            for tag in 0..<iodepth where drivers[qi].commands[tag].state != .free {
                drivers[qi].commands[tag].state = .free
                drivers[qi].freeTags.append(UInt16(tag))
                requeued += 1
            }
            drivers[qi].outstanding = 0
            drivers[qi].wantSubmit += requeued
            drivers[qi].sqTail = 0
            drivers[qi].cqHead = 0
            drivers[qi].busy = false
            drivers[qi].wantConsume = false
            drivers[qi].storeBufferDrainedAt = now
            for i in 0..<drivers[qi].sqRing.count { drivers[qi].sqRing[i] = UInt16.max }
        }
        if cfg.faults.staleBuffersAtReset {
            var kept: [String] = []
            for q in 1...queueCount {
                for type in [QueueType.sq, .cq] {
                    let s = slot(UInt16(q), type)
                    let sv = shadow[s].keepAcrossReset()
                    let ev = eventIdx[s].keepAcrossReset()
                    if sv != 0 || ev != 0 { kept.append("\(type.name)\(q) shadow=\(sv) eventidx=\(ev)") }
                }
            }
            if !kept.isEmpty {
                result.faults.append(FaultOccurrence(
                    kind: .staleBuffersAtReset, queue: nil, timeNs: now, value: nil,
                    detail: "reset kept the doorbell buffers: " + kept.joined(separator: ", ")))
            }
        } else {
            for s in 0..<shadow.count {
                shadow[s].clear()
                eventIdx[s].clear()
            }
        }
    }

    // MARK: ground truth

    private func truthDriverUpdate(_ q: UInt16, _ type: QueueType, _ info: DriverUpdateInfo) {
        let s = slot(q, type)
        truth[s].decisionPending = false
        if info.mmio {
            // Writing the doorbell ends a wait (condition 2 no longer holds).
            truth[s].mmioSinceLook = true
            truth[s].counts.mmioDoorbells += 1
            truthClose(q, type, .mmioDoorbell)
        }
        truth[s].driver = info
        truth[s].counts.driverShadowWrites += 1
        truth[s].lastProbeNs = now
        truth[s].lastProbeCounted = false
        if now - truth[s].lastBurstEndNs <= cfg.raceWindowNs {
            truth[s].counts.raceExposure += 1
            truth[s].lastProbeCounted = true
        }
        evaluate(q, type)
    }

    private func truthMMIO(_ q: UInt16, _ type: QueueType, _ value: UInt32) {
        let s = slot(q, type)
        truth[s].seen = value
        truth[s].mmioSinceLook = false
        truth[s].waiting = false
        truthClose(q, type, .mmioDoorbell)
    }

    private func truthControllerRead(_ q: UInt16, _ type: QueueType, _ value: UInt32) {
        let s = slot(q, type)
        truth[s].counts.controllerShadowReads += 1
        truth[s].readNs = now
        truth[s].readValue = value
        truth[s].mmioSinceLook = false
        truth[s].waiting = false
        if value != truth[s].seen {
            truth[s].seen = value
            truthClose(q, type, .controllerRead)
        }
    }

    private func truthEventIdxStore(_ q: UInt16, _ type: QueueType, _ value: UInt32, _ visible: Int64) {
        let s = slot(q, type)
        truth[s].counts.controllerEventIdxWrites += 1
        truth[s].eventIdxStoreNs = now
        truth[s].eventIdxVisibleNs = visible
        truth[s].eventIdxValue = value
    }

    private func truthTaskEnd(_ q: UInt16, _ type: QueueType, waiting: Bool) {
        let s = slot(q, type)
        truth[s].lastBurstEndNs = now
        if !truth[s].lastProbeCounted && now - truth[s].lastProbeNs <= cfg.raceWindowNs {
            truth[s].counts.raceExposure += 1
            truth[s].lastProbeCounted = true
        }
        if waiting {
            truth[s].waiting = true
            evaluate(q, type)
        }
    }

    private func truthQueueCreated(_ q: UInt16, _ type: QueueType) {
        let s = slot(q, type)
        truthClose(q, type, .queueDeleted)
        truth[s].published = 0
        truth[s].publishedSinceCreate = false
        truth[s].decisionPending = false
        truth[s].seen = 0
        truth[s].mmioSinceLook = false
        truth[s].waiting = type == .sq
        truth[s].eventIdxStoreNs = nil
        truth[s].eventIdxVisibleNs = nil
        truth[s].eventIdxValue = nil
    }

    private func evaluate(_ q: UInt16, _ type: QueueType) {
        let s = slot(q, type)
        let t = truth[s]
        guard t.openWindow < 0, t.waiting, !t.mmioSinceLook, !t.decisionPending, t.publishedSinceCreate,
            t.published != t.seen
        else { return }
        let d = t.driver
        var story = Interleaving()
        story.driverStoreNs = d.storeNs
        story.driverStoreVisibleNs = d.visibleNs
        story.driverLoadNs = d.loadNs
        story.driverOld = d.old
        story.driverNew = d.new
        story.driverEventIdxRead = d.eventIdx
        story.driverRangMMIO = d.mmio
        story.controllerEventIdxStoreNs = t.eventIdxStoreNs
        story.controllerEventIdxVisibleNs = t.eventIdxVisibleNs
        story.controllerEventIdxWritten = t.eventIdxValue
        story.controllerReadNs = t.readNs
        story.controllerReadValue = t.readValue
        let entries = type == .sq ? sqEntries : cqEntries
        var fault: FaultKind? = nil
        if d.skippedMMIO {
            fault = .driverSkippedMMIO
        } else if d.eventIdx >= entries || (t.eventIdxValue ?? 0) >= entries {
            fault = .valueOutOfRange
        } else if d.staleInvolved {
            fault = .staleBuffersAtReset
        } else if type == .cq && cfg.faults.noCQEventIdx {
            fault = .noCQEventIdx
        }
        // The cause follows the evidence of the memory operations, whatever fault also played
        // a part (that is reported in `fault`).
        var cause = WaitCause.unknown
        do {
            if d.loadNs < t.readNs && d.visibleNs > t.readNs {
                cause = .driverReorder
            } else if let cs = t.eventIdxStoreNs, let cv = t.eventIdxVisibleNs,
                t.readNs < d.loadNs, cs < d.loadNs, cv > d.loadNs
            {
                cause = .controllerReorder
            }
        }
        truth[s].openWindow = result.windows.count
        truth[s].counts.mutualWaits += 1
        result.windows.append(MutualWaitWindow(
            queue: truth[s].counts.queue, startNs: now, endNs: nil, resolution: .endOfTrace, cause: cause,
            fault: fault, driverPublished: t.published, controllerSeen: t.seen, stuckCommands: 0,
            interleaving: story))
    }

    private func truthClose(_ q: UInt16, _ type: QueueType, _ how: WaitResolution) {
        let s = slot(q, type)
        let w = truth[s].openWindow
        guard w >= 0 else { return }
        truth[s].openWindow = -1
        result.windows[w].endNs = now
        result.windows[w].resolution = how
        result.windows[w].stuckCommands = drivers[Int(q)].outstanding
    }

    private func finishTruth() {
        for s in 0..<truth.count {
            let w = truth[s].openWindow
            if w >= 0 {
                result.windows[w].stuckCommands = drivers[Int(truth[s].counts.queue.qid)].outstanding
            }
        }
        result.queues = truth.map(\.counts)
    }
}

extension SimulationConfig {
    var driverDrainDistribution: DelayDistribution { timing.driverDrain }
    var controllerDrainDistribution: DelayDistribution { timing.controllerDrain }
}
