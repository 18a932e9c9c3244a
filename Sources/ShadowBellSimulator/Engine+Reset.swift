import ShadowBellCore

/// I/O timeouts, aborts, controller reset and the admin commands around them.
extension Engine {
    // MARK: timeouts and reset

    func timeoutCheck(_ q: UInt16, tag: UInt16, uses: UInt32) {
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
        if cfg.faults.restartBeforeDbbufConfig {
            // Linux before 06c59d427017: unquiesce first, Doorbell Buffer Config after.
            script.append(.restart)
            script.append(.dbbufConfig)
        } else {
            script.append(.dbbufConfig)
            script.append(.restart)
        }
        adminScript = script
        adminIndex = 0
        schedule(.adminStep, at: driverTime(now + 20_000))
    }

    func adminStep() {
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
    func emitAdminCommand(_ action: AdminAction, at t: Int64, applyAt: Int64?) {
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

    func adminApply() {
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
            controllerDbbufOn = true
            for q in 1...queueCount {
                truthClose(UInt16(q), .sq, .dbbufConfig)
                truthClose(UInt16(q), .cq, .dbbufConfig)
                // QEMU's nvme_dbbuf_config copies each queue's tail and head into the shadow
                // slots and leaves EventIdx alone. A queue untouched since its creation holds 0
                // there; its slot is left as it is (a stale-buffers run keeps its leftovers).
                let cq = controllerQueues[q]
                if cq.sqExists && cq.sqTail != 0 { shadow[slot(UInt16(q), .sq)].store(cq.sqTail, visibleAt: now) }
                if cq.cqExists && cq.cqHead != 0 { shadow[slot(UInt16(q), .cq)].store(cq.cqHead, visibleAt: now) }
                if cfg.faults.restartBeforeDbbufConfig && cq.sqExists && cq.sqTail != 0 {
                    let ei = eventIdx[slot(UInt16(q), .sq)].load(at: now)
                    result.faults.append(FaultOccurrence(
                        kind: .restartBeforeDbbufConfig, queue: QueueKey(controller: 0, qid: UInt16(q), type: .sq),
                        timeNs: now, value: cq.sqTail,
                        detail: "Doorbell Buffer Config after the I/O queues restarted: sq\(q) tail \(cq.sqTail), EventIdx left at \(ei)"))
                }
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
            // The reset-ordering fault sends Doorbell Buffer Config after the restart, once the
            // requeued I/O has been rung in.
            if adminIndex < adminScript.count { schedule(.adminStep, at: driverTime(now + 20_000)) }
            return
        case .abort: break
        }
        if adminIndex < adminScript.count {
            schedule(.adminStep, at: driverTime(now + 3_000 + Int64(rng.below(2_000))))
        }
    }

    func controllerReset() {
        controllerDbbufOn = false
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
            staleReadNoted = Array(repeating: false, count: shadow.count)
            var kept: [String] = []
            var staleShadowSlots = 0
            for q in 1...queueCount {
                for type in [QueueType.sq, .cq] {
                    let s = slot(UInt16(q), type)
                    let sv = shadow[s].keepAcrossReset()
                    let ev = eventIdx[s].keepAcrossReset()
                    if sv != 0 || ev != 0 { kept.append("\(type.name)\(q) shadow=\(sv) eventidx=\(ev)") }
                    if sv != 0 { staleShadowSlots += 1 }
                }
            }
            if !kept.isEmpty {
                result.faults.append(FaultOccurrence(
                    kind: .staleBuffersAtReset, queue: nil, timeNs: now, value: UInt32(staleShadowSlots),
                    detail: "reset kept the doorbell buffers: " + kept.joined(separator: ", ")))
            }
        } else {
            for s in 0..<shadow.count {
                shadow[s].clear()
                eventIdx[s].clear()
            }
        }
    }

    /// A shadow slot's leftover from before a reset is read: the stale-buffers fault shows.
    func noteStaleRead(_ q: UInt16, _ type: QueueType, value: UInt32, by whom: String) {
        let s = slot(q, type)
        guard !staleReadNoted[s] else { return }
        staleReadNoted[s] = true
        result.faults.append(FaultOccurrence(
            kind: .staleBuffersAtReset, queue: QueueKey(controller: 0, qid: q, type: type), timeNs: now,
            value: value, detail: "shadow \(type.name)\(q) still held \(value) from before the reset; \(whom)"))
    }
}
