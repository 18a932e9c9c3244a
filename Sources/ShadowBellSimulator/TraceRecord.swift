/// One line of simulated trace output, before rendering. The simulator produces these in
/// time order (through `RecordReorder`); renderers turn them into bytes.
public struct TraceRecord: Sendable {
    public enum Kind: UInt8, Sendable {
        // guest (driver) side
        case setupCmd  // qid, a = cmdid, b = opcode, c = slba, d = len (0-based blocks)
        case adminSetup  // a = cmdid, b = admin opcode, c = argument (qid)
        case driverProbeSQ  // qid, a = old, b = new, c = eventidx, d = mmio
        case driverProbeCQ
        case nvmeSQ  // qid, a = head, b = tail
        case completeRq  // qid, a = cmdid, b = status
        case console  // a = ConsoleMessage, qid, b = tag, c = cmdid, d = opcode
        case blockIssue  // a = sector, b = len (sectors), c = isWrite
        case blockComplete
        case irqEntry  // qid (vector → irq number)
        case irqExit
        case schedSwitch  // cpu, a = pid of fio
        case schedWakeup
        // controller (QEMU) side
        case shadowReadSQ  // qid, a = value
        case shadowReadCQ
        case eventIdxWriteSQ  // qid, a = value
        case eventIdxWriteCQ
        case mmioDoorbellSQ  // qid, a = value
        case mmioDoorbellCQ
        case ioCmd  // qid, a = cid, b = opcode
        case adminCmd  // a = cid, b = opcode
        case enqueueCompletion  // qid = cqid, a = cid, b = status
        case irqMsix  // qid = vector
        case createSQ  // qid, a = qsize (0-based)
        case createCQ
        case deleteSQ
        case deleteCQ
        case dbbufConfig
        case mmioStopped
    }

    public var time: Int64
    public var kind: Kind
    public var cpu: UInt16
    public var qid: UInt16
    public var a: UInt32
    public var b: UInt32
    public var c: UInt32
    public var d: UInt32

    @inline(__always)
    init(_ kind: Kind, _ time: Int64, qid: UInt16 = 0, cpu: UInt16 = 0, a: UInt32 = 0,
         b: UInt32 = 0, c: UInt32 = 0, d: UInt32 = 0) {
        self.time = time
        self.kind = kind
        self.cpu = cpu
        self.qid = qid
        self.a = a
        self.b = b
        self.c = c
        self.d = d
    }

    public var isController: Bool { kind.rawValue >= Kind.shadowReadSQ.rawValue }
}

/// Kernel log lines the simulator can print (through the `console` trace event).
enum ConsoleMessage: UInt32 {
    case timeoutAborting = 0
    case abortStatus = 1
    case timeoutReset = 2
    case timeoutPolled = 3
    case resetDone = 4
}

/// Admin opcodes the simulated driver sends.
enum AdminOpcode: UInt32 {
    case deleteSQ = 0x00
    case createSQ = 0x01
    case deleteCQ = 0x04
    case createCQ = 0x05
    case abort = 0x08
    case dbbufConfig = 0x7C
}

/// Receives records in time order. Renderers implement it.
public protocol TraceSink: AnyObject {
    func write(_ record: TraceRecord)
    /// Called once after the last record.
    func finish() throws(SimulatorError)
}

/// Keeps records emitted slightly ahead of the simulation clock until nothing earlier can come,
/// then hands them to the sink in (time, emission) order.
struct RecordReorder {
    private var heap: [(key: UInt64, seq: UInt64, record: TraceRecord)] = []
    private var seq: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }

    @inline(__always)
    private static func less(_ l: (key: UInt64, seq: UInt64, record: TraceRecord),
                             _ r: (key: UInt64, seq: UInt64, record: TraceRecord)) -> Bool {
        l.key != r.key ? l.key < r.key : l.seq < r.seq
    }

    mutating func push(_ r: TraceRecord) {
        seq &+= 1
        heap.append((UInt64(bitPattern: r.time), seq, r))
        var i = heap.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if !Self.less(heap[i], heap[p]) { break }
            heap.swapAt(i, p)
            i = p
        }
    }

    /// Sends every record stamped at or before `time`.
    mutating func flush(upTo time: Int64, into sink: TraceSink) {
        let limit = UInt64(bitPattern: time)
        while let top = heap.first, top.key <= limit {
            sink.write(top.record)
            let last = heap.removeLast()
            if heap.isEmpty { break }
            heap[0] = last
            var i = 0
            let n = heap.count
            while true {
                let l = 2 * i + 1
                if l >= n { break }
                var m = l
                if l + 1 < n && Self.less(heap[l + 1], heap[l]) { m = l + 1 }
                if !Self.less(heap[m], heap[i]) { break }
                heap.swapAt(i, m)
                i = m
            }
        }
    }
}

/// Why a simulation could not write its output.
public enum SimulatorError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidConfiguration(String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let why): return "invalid simulation: \(why)"
        case .cannotWrite(let path, let reason): return "\(path): cannot write: \(reason)"
        }
    }
}
