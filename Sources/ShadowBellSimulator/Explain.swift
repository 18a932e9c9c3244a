import ShadowBellCore

/// `--explain`: each mutual wait told in plain words — which load overtook which store, and
/// what each side saw.
public enum Explainer {
    public static func explain(_ r: SimulationResult) -> String {
        if r.windows.isEmpty {
            return "No mutual wait: every time the controller went idle, either it had seen the "
                + "driver's latest value or the driver rang the MMIO doorbell.\n"
        }
        var out = ""
        for (i, w) in r.windows.enumerated() {
            out += explain(w, number: i + 1, result: r)
            out += "\n"
        }
        return out
    }

    /// `152.000143465 s`, as the trace prints it.
    static func time(_ ns: Int64) -> String {
        let frac = String(ns % 1_000_000_000)
        return "\(ns / 1_000_000_000).\(String(repeating: "0", count: 9 - frac.count))\(frac) s"
    }

    static func explain(_ w: MutualWaitWindow, number: Int, result r: SimulationResult) -> String {
        let q = w.queue
        let s = w.interleaving
        let isSQ = q.type == .sq
        let what = isSQ ? "SQ tail" : "CQ head"
        let end: String
        if let e = w.endNs {
            end = "until \(time(e)) (\(e - w.startNs) ns, ended by \(w.resolution.rawValue))"
        } else {
            end = "and still going on when the trace ended (unresolved)"
        }
        var t = "Hang \(number) on \(q.controllerName) \(q.type.name)\(q.qid): both sides wait from \(time(w.startNs)) \(end).\n"
        t += "  The driver has published \(what) \(w.driverPublished); the controller last saw \(w.controllerSeen).\n"
        let need = needEvent(eventIdx: UInt16(truncatingIfNeeded: s.driverEventIdxRead),
                             new: UInt16(truncatingIfNeeded: s.driverNew), old: UInt16(truncatingIfNeeded: s.driverOld))
        t += "  Driver: stored shadow \(what) = \(s.driverNew) (was \(s.driverOld)) at \(time(s.driverStoreNs)); "
        t += "the store became visible to the controller at \(time(s.driverStoreVisibleNs)).\n"
        t += "          loaded EventIdx at \(time(s.driverLoadNs)) and saw \(s.driverEventIdxRead): "
        t += "need_event(\(s.driverEventIdxRead), \(s.driverNew), \(s.driverOld)) = \(need), "
        if s.driverRangMMIO {
            t += "so it rang the MMIO doorbell.\n"
        } else if need {
            t += "yet it did not ring the MMIO doorbell.\n"
        } else {
            t += "so it did not ring the MMIO doorbell.\n"
        }
        if let cs = s.controllerEventIdxStoreNs, let cv = s.controllerEventIdxVisibleNs,
            let ce = s.controllerEventIdxWritten
        {
            t += "  Controller: stored EventIdx = \(ce) at \(time(cs)); the store became visible to the driver at \(time(cv)).\n"
        } else if q.type == .cq {
            t += "  Controller: never wrote CQ EventIdx on this queue.\n"
        }
        if !s.controllerReadSinceQueueCreation {
            t += "  Controller: created the queue at \(time(s.queueCreatedNs)) and has not read its shadow slot since: "
            t += "it waits for a first doorbell.\n"
        } else {
            t += "          re-read the shadow \(what) at \(time(s.controllerReadNs)) and saw \(s.controllerReadValue), "
            t += isSQ ? "nothing new, so it went idle until an MMIO doorbell.\n"
                : "so the CQ still looked full and it waits for a CQ doorbell.\n"
        }
        switch w.cause {
        case .driverReorder:
            t += "  Cause (driver-reorder): the driver's EventIdx load (\(time(s.driverLoadNs))) overtook its own shadow store: "
            t += "the store was still in the driver's store buffer when the controller re-read the slot "
            t += "(\(time(s.controllerReadNs))), and the load had already returned the EventIdx from before the "
            t += "controller's last store. A full barrier (mb()) between the store and the load closes this window.\n"
        case .controllerReorder:
            t += "  Cause (controller-reorder): the controller's shadow re-read (\(time(s.controllerReadNs))) overtook its own "
            t += "EventIdx store: the store was still in the controller's store buffer when the driver loaded EventIdx "
            t += "(\(time(s.driverLoadNs))), and the re-read had already returned the old value. The controller must order "
            t += "its EventIdx store before its shadow re-read.\n"
        case .unknown:
            if let f = w.fault {
                t += "  Cause: the injected fault \(f.rawValue), not a reordering.\n"
            } else {
                t += "  Cause: no reordering explains it.\n"
            }
        }
        if w.stuckCommands > 0 {
            t += isSQ
                ? "  Commands published but never fetched: \(w.stuckCommands).\n"
                : "  Completions the controller could not post: \(w.stuckCommands).\n"
        }
        return t
    }
}
