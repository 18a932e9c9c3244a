import ShadowBellCore

/// The ground truth: the mutual-wait state of every queue, from the model's own state.
extension Engine {
    // MARK: ground truth

    func truthDriverUpdate(_ q: UInt16, _ type: QueueType, _ info: DriverUpdateInfo) {
        let s = slot(q, type)
        truth[s].decisionPending = false
        truth[s].decided = info.new
        truth[s].decidedSinceCreate = true
        if info.mmio {
            // Writing the doorbell ends a wait (condition 2 no longer holds).
            truth[s].mmioSinceLook = true
            truth[s].counts.mmioDoorbells += 1
            // The commands this doorbell announces were never stuck: count up to the previous P.
            truthClose(q, type, .mmioDoorbell, publishedBefore: info.old)
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

    func truthMMIO(_ q: UInt16, _ type: QueueType, _ value: UInt32) {
        let s = slot(q, type)
        truth[s].seen = value
        truth[s].mmioSinceLook = false
        truth[s].waiting = false
        truthClose(q, type, .mmioDoorbell)
    }

    func truthControllerRead(_ q: UInt16, _ type: QueueType, _ value: UInt32) {
        let s = slot(q, type)
        truth[s].counts.controllerShadowReads += 1
        truth[s].readNs = now
        truth[s].readValue = value
        truth[s].readSinceCreation = true
        truth[s].mmioSinceLook = false
        truth[s].waiting = false
        if value != truth[s].seen {
            truth[s].seen = value
            truthClose(q, type, .controllerRead)
        } else if truth[s].openWindow >= 0 {
            // A re-read inside the window that still misses the driver's publish, although the
            // driver had loaded EventIdx before it: the driver's store was still invisible, so
            // the driver's reordering is what keeps the window open.
            let w = truth[s].openWindow
            let d = truth[s].driver
            if result.windows[w].cause == .unknown && d.loadNs < now && d.visibleNs > now {
                result.windows[w].cause = .driverReorder
                result.windows[w].interleaving.controllerReadNs = now
                result.windows[w].interleaving.controllerReadValue = value
                result.windows[w].interleaving.controllerReadSinceQueueCreation = true
            }
        }
    }

    func truthEventIdxStore(_ q: UInt16, _ type: QueueType, _ value: UInt32, _ visible: Int64) {
        let s = slot(q, type)
        truth[s].counts.controllerEventIdxWrites += 1
        truth[s].eventIdxStoreNs = now
        truth[s].eventIdxVisibleNs = visible
        truth[s].eventIdxValue = value
    }

    func truthTaskEnd(_ q: UInt16, _ type: QueueType, waiting: Bool) {
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

    func truthQueueCreated(_ q: UInt16, _ type: QueueType) {
        let s = slot(q, type)
        truthClose(q, type, .queueDeleted)
        truth[s].published = 0
        truth[s].publishedSinceCreate = false
        truth[s].decidedSinceCreate = false
        truth[s].createdNs = now
        truth[s].readSinceCreation = false
        truth[s].decisionPending = false
        truth[s].seen = 0
        truth[s].mmioSinceLook = false
        truth[s].waiting = type == .sq
        truth[s].eventIdxStoreNs = nil
        truth[s].eventIdxVisibleNs = nil
        truth[s].eventIdxValue = nil
    }

    func evaluate(_ q: UInt16, _ type: QueueType) {
        let s = slot(q, type)
        let t = truth[s]
        // Condition 1 holds when the controller has not seen the latest publish, nor the last one
        // whose doorbell decision is taken (a publish still deciding cannot be a wait by itself,
        // and a controller read may return it before its probe line).
        guard t.openWindow < 0, t.waiting, !t.mmioSinceLook, t.publishedSinceCreate, t.decidedSinceCreate,
            t.published != t.seen, t.decided != t.seen
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
        story.controllerReadSinceQueueCreation = t.readSinceCreation
        story.queueCreatedNs = t.createdNs
        let entries = type == .sq ? sqEntries : cqEntries
        var fault: FaultKind? = nil
        if d.skippedMMIO {
            fault = .driverSkippedMMIO
        } else if d.eventIdx >= entries || (t.eventIdxValue ?? 0) >= entries {
            fault = byteSwapFired && !outOfRangeFired ? .byteSwappedEventIdx : .valueOutOfRange
        } else if d.staleInvolved {
            fault = .staleBuffersAtReset
        } else if type == .cq && cfg.faults.noCQEventIdx {
            fault = .noCQEventIdx
        }
        // The cause follows the evidence of the memory operations, whatever fault also played
        // a part (that is reported in `fault`).
        var cause = WaitCause.unknown
        do {
            if t.readSinceCreation && d.loadNs < t.readNs && d.visibleNs > t.readNs {
                cause = .driverReorder
            } else if let cs = t.eventIdxStoreNs, let cv = t.eventIdxVisibleNs,
                t.readSinceCreation, t.readNs < d.loadNs, cs < d.loadNs, cv > d.loadNs
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

    func truthClose(_ q: UInt16, _ type: QueueType, _ how: WaitResolution, publishedBefore: UInt32? = nil) {
        let s = slot(q, type)
        let w = truth[s].openWindow
        guard w >= 0 else { return }
        result.windows[w].stuckCommands = stuckCommands(q, type, published: publishedBefore)
        truth[s].openWindow = -1
        result.windows[w].endNs = now
        result.windows[w].resolution = how
    }

    func finishTruth() {
        for s in 0..<truth.count {
            let w = truth[s].openWindow
            if w >= 0 {
                let key = truth[s].counts.queue
                result.windows[w].stuckCommands = stuckCommands(key.qid, key.type)
            }
        }
        result.queues = truth.map(\.counts)
    }

    /// SQ: commands the driver published that the controller has not seen (from S to P);
    /// CQ: completions the controller holds and cannot post.
    func stuckCommands(_ q: UInt16, _ type: QueueType, published: UInt32? = nil) -> Int {
        let t = truth[slot(q, type)]
        if type == .sq {
            let seen = t.openWindow >= 0 ? result.windows[t.openWindow].controllerSeen : t.seen
            return Int(RingIndex.distance(from: seen, to: published ?? t.published, entries: sqEntries))
        }
        return controllerQueues[Int(q)].pendingCount
    }
}
