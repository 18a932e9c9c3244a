import ShadowBellCore

/// The Linux side: submissions, the interrupt handler, `nvme_dbbuf_update_and_check_event`.
extension Engine {
    // MARK: driver

    func driverKick(_ q: UInt16) {
        let qi = Int(q)
        if drivers[qi].busy { return }
        if drivers[qi].wantConsume {
            consume(q)
        } else if drivers[qi].wantSubmit > 0 && !resetting && started {
            submit(q)
        }
    }

    func submit(_ q: UInt16) {
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
    func consume(_ q: UInt16) {
        let qi = Int(q)
        drivers[qi].wantConsume = false
        drivers[qi].busy = true
        drivers[qi].consumed = 0
        if cfg.noise { emit(TraceRecord(.irqEntry, now, qid: q, cpu: q)) }
        schedule(.driverConsumeStep, at: driverTime(now + 150), qid: q, epoch: driverEpoch)
    }

    func consumeStep(_ q: UInt16) {
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
    func startUpdate(_ q: UInt16, _ type: QueueType, value: UInt32, at t: Int64) {
        drivers[Int(q)].updType = type
        drivers[Int(q)].updNew = value
        schedule(.driverStore, at: t, qid: q, epoch: driverEpoch)
    }

    func driverStore(_ q: UInt16) {
        let qi = Int(q)
        let t = now
        let type = drivers[qi].updType
        let value = drivers[qi].updNew
        let s = slot(q, type)
        let old = shadow[s].latest
        let oldStale = shadow[s].latestIsStale
        if oldStale { noteStaleRead(q, type, value: old, by: "the driver read it as old") }
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

    func driverLoad(_ q: UInt16) {
        let qi = Int(q)
        let type = drivers[qi].updType
        let s = slot(q, type)
        let ei = eventIdx[s].load(at: now)
        let eiStale = eventIdx[s].visibleIsStale
        let old = drivers[qi].updOld, new = drivers[qi].updNew
        let ei16 = UInt16(truncatingIfNeeded: ei), new16 = UInt16(truncatingIfNeeded: new)
        let old16 = UInt16(truncatingIfNeeded: old)
        let needed: Bool
        switch cfg.driverNeedEvent {
        case .linux: needed = needEvent(eventIdx: ei16, new: new16, old: old16)
        // SPDK's nvme_pcie_qpair_need_event: EventIdx in [old, new].
        case .spdk: needed = new16 &- ei16 <= new16 &- old16
        }
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

    func finishUpdate(_ q: UInt16) {
        let qi = Int(q)
        let t = now + 30
        if drivers[qi].updType == .cq && cfg.noise { emit(TraceRecord(.irqExit, t, qid: q, cpu: q)) }
        drivers[qi].busy = false
        schedule(.driverKick, at: driverTime(t + 50), qid: q)
    }
}
