import ShadowBellCore

/// The QEMU side: `nvme_process_sq`, `nvme_post_cqes`, MMIO doorbells, interrupts.
extension Engine {
    // MARK: controller

    func mmioArrive(_ q: UInt16, _ type: QueueType, _ value: UInt32) {
        let qi = Int(q)
        // The vCPU resumes once the exit is handled, whatever the controller does with it.
        schedule(.driverResume, at: driverTime(now + draw(cfg.timing.mmioReturn)), qid: q, epoch: driverEpoch)
        let cq = controllerQueues[qi]
        guard type == .sq ? cq.sqExists : cq.cqExists else { return }
        emit(TraceRecord(type == .sq ? .mmioDoorbellSQ : .mmioDoorbellCQ, now, qid: q, a: value))
        truthMMIO(q, type, value)
        if type == .sq {
            if value < sqEntries { controllerQueues[qi].sqTail = value }
            controllerQueues[qi].stoppedForRequests = false
            enqueueTask(.sq, q)
        } else {
            // A CQ doorbell on a full CQ restarts the SQs that feed it (QEMU's start_sqs).
            let tail = controllerQueues[qi].cqTail
            let wasFull = (tail + 1 == cqEntries ? 0 : tail + 1) == controllerQueues[qi].cqHead
            if value < cqEntries { controllerQueues[qi].cqHead = value }
            if controllerQueues[qi].pendingCount > 0 { enqueueTask(.cq, q) }
            if wasFull && controllerQueues[qi].stoppedForRequests {
                controllerQueues[qi].stoppedForRequests = false
                enqueueTask(.sq, q)
            }
        }
    }

    func enqueueTask(_ type: QueueType, _ q: UInt16) {
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

    func controllerKick() {
        if controllerBusy { return }
        while controllerFIFORead < controllerFIFO.count {
            let task = controllerFIFO[controllerFIFORead]
            controllerFIFORead += 1
            if controllerFIFORead == controllerFIFO.count {
                controllerFIFO.removeAll(keepingCapacity: true)
                controllerFIFORead = 0
            } else if controllerFIFORead >= 256 {
                controllerFIFO.removeFirst(controllerFIFORead)
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

    func next(_ p: ControllerPhase, at t: Int64) {
        phase = p
        schedule(.controllerStep, at: controllerTime(t), epoch: controllerEpoch)
    }

    func controllerStep() {
        let q = curQid, qi = Int(q)
        let exists = curType == .sq ? controllerQueues[qi].sqExists : controllerQueues[qi].cqExists
        if !exists {
            taskDone(waiting: false)
            return
        }
        let s = slot(q, curType)
        switch phase {
        case .sqLoad:
            // With the doorbell buffer off the controller works from the MMIO tail alone.
            if controllerDbbufOn {
                let v = shadow[s].load(at: now)
                if shadow[s].visibleIsStale { noteStaleRead(q, curType, value: v, by: "the controller read it") }
                emit(TraceRecord(.shadowReadSQ, now, qid: q, a: v))
                truthControllerRead(q, .sq, v)
                if v < sqEntries { controllerQueues[qi].sqTail = v }
            }
            if controllerQueues[qi].sqHead == controllerQueues[qi].sqTail {
                taskDone(waiting: true)
            } else if controllerQueues[qi].requestsInUse >= requestsPerSQ {
                // QEMU's nvme_process_sq loop ends when no request is free, work pending or not.
                controllerQueues[qi].stoppedForRequests = true
                if cfg.faults.overcommittedSQ && !controllerQueues[qi].overcommitRecorded {
                    controllerQueues[qi].overcommitRecorded = true
                    let pending = RingIndex.distance(
                        from: controllerQueues[qi].sqHead, to: controllerQueues[qi].sqTail, entries: sqEntries)
                    result.faults.append(FaultOccurrence(
                        kind: .overcommittedSQ, queue: QueueKey(controller: 0, qid: q, type: .sq), timeNs: now,
                        value: pending,
                        detail: "sq\(q) stopped with \(pending) entries pending: all \(requestsPerSQ) requests in use; freeing one does not reschedule it"))
                }
                taskDone(waiting: false)
            } else {
                next(.sqFetch, at: now + max(20, draw(cfg.timing.controllerFetch)))
            }
        case .sqFetch:
            let head = controllerQueues[qi].sqHead
            let tag = drivers[qi].sqRing[Int(head)]
            drivers[qi].sqRing[Int(head)] = UInt16.max
            controllerQueues[qi].sqHead = head + 1 == sqEntries ? 0 : head + 1
            if tag != UInt16.max && drivers[qi].commands[Int(tag)].state == .submitted {
                let cmd = drivers[qi].commands[Int(tag)]
                drivers[qi].commands[Int(tag)].state = .inService
                controllerQueues[qi].requestsInUse += 1
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
            if cfg.faults.byteSwappedEventIdx && !byteSwapFired && value != 0 && value.byteSwapped >= sqEntries
                && now >= cfg.startNs + cfg.effectiveFaultAtNs && started && !resetting
            {
                byteSwapFired = true
                result.faults.append(FaultOccurrence(
                    kind: .byteSwappedEventIdx, queue: QueueKey(controller: 0, qid: q, type: .sq), timeNs: now,
                    value: value.byteSwapped,
                    detail: "the controller wrote SQ EventIdx \(value) in big-endian order (\(value.byteSwapped))"))
                value = value.byteSwapped
            }
            guard controllerDbbufOn else {
                next(.sqLoad, at: now + 30)
                return
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
            if !controllerDbbufOn {
                load = now + 30
            } else if cfg.faults.noCQEventIdx {
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
            if controllerDbbufOn {
                let v = shadow[s].load(at: now)
                if shadow[s].visibleIsStale { noteStaleRead(q, curType, value: v, by: "the controller read it") }
                emit(TraceRecord(.shadowReadCQ, now, qid: q, a: v))
                truthControllerRead(q, .cq, v)
                if v < cqEntries { controllerQueues[qi].cqHead = v }
            }
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
            } else if controllerQueues[qi].pendingRead >= 256 {
                controllerQueues[qi].pending.removeFirst(controllerQueues[qi].pendingRead)
                controllerQueues[qi].pendingRead = 0
            }
            controllerQueues[qi].posted.append((tag, controllerQueues[qi].sqHead))
            controllerQueues[qi].cqTail = nextTail
            drivers[qi].commands[Int(tag)].state = .posted
            // Posting the CQE returns its request to the SQ. QEMU 9.2 reschedules an SQ that
            // stopped for want of one; before, the SQ stays stopped (over-committed queues).
            controllerQueues[qi].requestsInUse = max(0, controllerQueues[qi].requestsInUse - 1)
            if controllerQueues[qi].stoppedForRequests && !cfg.faults.overcommittedSQ {
                controllerQueues[qi].stoppedForRequests = false
                enqueueTask(.sq, q)
            }
            truth[s].counts.commands += 1
            controllerQueues[qi].unsignalled += 1
            next(.cqStore, at: now + max(20, draw(cfg.timing.controllerPost)))
        }
    }

    func controllerStore(_ s: Int, _ value: UInt32) -> Int64 {
        let visible = max(now + draw(cfg.controllerDrainDistribution), controllerDrainedAt)
        controllerDrainedAt = visible
        eventIdx[s].store(value, visibleAt: visible)
        return visible
    }

    /// The current task ends; `waiting` when it ended for want of work (SQ: the last read
    /// returned the consumed tail; CQ: the queue is full).
    func taskDone(waiting: Bool) {
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

    func raiseInterrupt(_ q: UInt16) {
        let qi = Int(q)
        if controllerQueues[qi].unsignalled == 0 && controllerQueues[qi].posted.count == controllerQueues[qi].postedRead {
            return
        }
        controllerQueues[qi].unsignalled = 0
        emit(TraceRecord(.irqMsix, now, qid: q))
        schedule(.irqDeliver, at: driverTime(now + draw(cfg.timing.interruptLatency)), qid: q,
                 epoch: driverEpoch)
    }

    func serviceDone(_ q: UInt16, _ tag: UInt16) {
        let qi = Int(q)
        guard controllerQueues[qi].cqExists, drivers[qi].commands[Int(tag)].state == .inService else { return }
        drivers[qi].commands[Int(tag)].state = .completed
        emit(TraceRecord(.enqueueCompletion, now, qid: q, a: UInt32(drivers[qi].commands[Int(tag)].cmdid)))
        controllerQueues[qi].pending.append(tag)
        enqueueTask(.cq, q)
    }
}
