import ShadowBellCore

// The discrete-event engine. Every memory operation that crosses sides (driver shadow store A
// and EventIdx load B, controller EventIdx store C and shadow load D, MMIO doorbells, queue
// creation/deletion, Doorbell Buffer Config, reset) is its own event, executed at its own time,
// and the trace line reporting it carries exactly that time. Driver-side operations happen on
// even nanoseconds and controller-side ones on odd nanoseconds, so the two sides never tie.

@inline(__always) func driverTime(_ t: Int64) -> Int64 { t & 1 == 0 ? t : t + 1 }
@inline(__always) func controllerTime(_ t: Int64) -> Int64 { t | 1 }

enum SimEventKind: UInt8 {
    case arrival, driverKick, driverConsumeStep, driverStore, driverLoad, driverResume, irqDeliver
    case mmioArrive, controllerKick, controllerStep, serviceDone, coalesceTimer
    case timeoutCheck, adminStep, adminApply
}

struct SimEvent {
    var time: Int64
    var seq: UInt64
    var kind: SimEventKind
    var flag: UInt8
    var qid: UInt16
    var arg: UInt32
    var epoch: UInt32
}

struct EventHeap {
    var items: [SimEvent] = []

    @inline(__always)
    func less(_ i: Int, _ j: Int) -> Bool {
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

enum CommandState: UInt8 { case free, submitted, inService, completed, posted }

struct Command {
    var state = CommandState.free
    var aborted = false
    var opcode: UInt8 = 2
    var len: UInt16 = 7
    var cmdid: UInt16 = 0
    var uses: UInt32 = 0
    var slba: UInt32 = 0
    var submitNs: Int64 = 0
}

struct DriverQueue {
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

enum ControllerPhase: UInt8 { case sqLoad, sqFetch, sqStore, cqStore, cqLoad }

struct ControllerQueue {
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
    /// SQ: requests in use (commands fetched whose completion is not posted yet).
    var requestsInUse = 0
    /// SQ: processing stopped with work pending because every request was in use.
    var stoppedForRequests = false
    var overcommitRecorded = false

    var pendingCount: Int { pending.count - pendingRead }
}

struct DriverUpdateInfo {
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
struct QueueTruth {
    var published: UInt32 = 0  // P: the driver's latest shadow store (from store A on)
    var decisionPending = false  // store A done, the EventIdx load B and MMIO decision not yet
    var publishedSinceCreate = false  // no P before the driver's first publish on a new queue
    var decided: UInt32 = 0  // the last P whose doorbell decision is taken (its probe)
    var decidedSinceCreate = false
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
    var createdNs: Int64 = 0
    var readSinceCreation = false
    var lastBurstEndNs: Int64 = .min / 2
    var lastProbeNs: Int64 = .min / 2
    var lastProbeCounted = true
    var counts: QueueCounts
}

enum AdminAction {
    case createCQ(UInt16), createSQ(UInt16), deleteSQ(UInt16), deleteCQ(UInt16)
    case disable, dbbufConfig, restart, abort(UInt16)
}
