import ShadowBellCore

final class Engine {
    let cfg: SimulationConfig
    var rng: Xoshiro256
    let sink: TraceSink?
    var reorder = RecordReorder()
    var heap = EventHeap()
    var seq: UInt64 = 0
    var now: Int64
    let endNs: Int64
    let sqEntries: UInt32
    let cqEntries: UInt32
    let iodepth: Int
    let queueCount: Int

    var drivers: [DriverQueue]
    var controllerQueues: [ControllerQueue]
    var truth: [QueueTruth]  // index (qid - 1) * 2 + type
    // Memory: index (qid - 1) * 2 + type.
    var shadow: [SharedSlot]
    var eventIdx: [SharedSlot]

    var controllerEpoch: UInt32 = 0
    var driverEpoch: UInt32 = 0
    var controllerBusy = false
    var controllerFIFO: [(type: QueueType, qid: UInt16)] = []
    var controllerFIFORead = 0
    var curType = QueueType.sq
    var curQid: UInt16 = 0
    var phase = ControllerPhase.sqLoad
    var controllerDrainedAt: Int64 = 0
    var deferredControllerEvents: [SimEvent] = []
    var staleReadNoted: [Bool] = []

    var resetting = false
    var started = false
    var adminScript: [AdminAction] = []
    var adminIndex = 0
    var adminCid: UInt16 = 0
    var adminSQTail: UInt32 = 0
    var adminCQHead: UInt32 = 0
    var skipFaultFired = false
    var outOfRangeFired = false
    var byteSwapFired = false
    /// The controller uses the doorbell buffer: from a Doorbell Buffer Config to the next disable.
    var controllerDbbufOn = false
    let requestsPerSQ: Int

    var result: SimulationResult

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
        requestsPerSQ = config.effectiveRequestsPerSQ
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
    func slot(_ qid: UInt16, _ type: QueueType) -> Int { (Int(qid) - 1) * 2 + Int(type.rawValue) }

    @inline(__always)
    func schedule(_ kind: SimEventKind, at time: Int64, qid: UInt16 = 0, flag: UInt8 = 0,
                          arg: UInt32 = 0, epoch: UInt32 = 0) {
        seq &+= 1
        heap.push(SimEvent(time: time, seq: seq, kind: kind, flag: flag, qid: qid, arg: arg, epoch: epoch))
    }

    @inline(__always)
    func emit(_ r: TraceRecord) {
        if sink != nil {
            result.traceLines += 1
            reorder.push(r)
        }
    }

    @inline(__always)
    func draw(_ d: DelayDistribution) -> Int64 { max(0, d.draw(&rng)) }

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

    func handle(_ e: SimEvent) {
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

    func arrival(_ q: UInt16) {
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

}

extension SimulationConfig {
    var driverDrainDistribution: DelayDistribution { timing.driverDrain }
    var controllerDrainDistribution: DelayDistribution { timing.controllerDrain }
}
