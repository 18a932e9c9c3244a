/// Renders trace records as Linux ftrace text (`cat /sys/kernel/tracing/trace`) and, in field
/// mode, QEMU's log backend (`pid@sec.usec:event args`) on a host clock with offset and drift.
/// Bytes are appended to a reusable buffer; no String is built per line.
public final class TraceRenderer: TraceSink {
    private let cfg: SimulationConfig
    private let trace: ByteFile
    private let qemuLog: ByteFile?
    private let fieldMode: Bool

    // Line prefixes up to the timestamp, per context.
    private var submitPrefix: [[UInt8]] = []
    private var irqPrefix: [[UInt8]] = []
    private var kworkerPrefix: [[UInt8]] = []
    private var vcpuPrefix: [[UInt8]] = []
    private var wakeupPrefix: [[UInt8]] = []
    private var schedPrefix: [[UInt8]] = []
    private let adminPrefix: [UInt8]
    private let adminIrqPrefix: [UInt8]
    private let qemuPrefix: [UInt8]

    public var mainBytes: Int { trace.written + trace.buffer.count }
    public var qemuLogBytes: Int { (qemuLog?.written ?? 0) + (qemuLog?.buffer.count ?? 0) }

    public static let qemuPid = 4711

    /// `progress` is told each file's path and bytes written so far as they are written.
    init(config: SimulationConfig, tracePath: String, qemuLogPath: String?, progress: ((String, Int) -> Void)? = nil)
        throws(SimulatorError)
    {
        cfg = config
        trace = try ByteFile(path: tracePath, progress: progress.map { p in { p(tracePath, $0) } })
        if let qemuLogPath {
            qemuLog = try ByteFile(path: qemuLogPath, progress: progress.map { p in { p(qemuLogPath, $0) } })
            fieldMode = true
        } else {
            qemuLog = nil
            fieldMode = false
        }
        func prefix(_ comm: String, _ pid: Int, _ cpu: Int, _ flags: String) -> [UInt8] {
            var s = String(repeating: " ", count: max(0, 16 - comm.utf8.count)) + comm + "-" + String(pid)
            s += String(repeating: " ", count: max(0, 7 - String(pid).count))
            let c = String(cpu)
            s += " [" + String(repeating: "0", count: max(0, 3 - c.count)) + c + "] " + flags + " "
            return Array(s.utf8)
        }
        let hostCPU = config.queues + 1
        for q in 0...config.queues {
            let cpu = q
            submitPrefix.append(prefix("fio", 2200 + q, cpu, "d..1."))
            irqPrefix.append(prefix("fio", 2200 + q, cpu, "d.h1."))
            kworkerPrefix.append(prefix("kworker/\(cpu):1H", 120 + q, cpu, "d..1."))
            vcpuPrefix.append(prefix("CPU \(cpu)/KVM", 4720 + q, hostCPU + 1 + (q % 4), "....."))
            wakeupPrefix.append(prefix("<idle>", 0, cpu, "dNs4."))
            schedPrefix.append(prefix("fio", 2200 + q, cpu, "d..2."))
        }
        adminPrefix = prefix("kworker/u8:2", 87, 0, "...1.")
        adminIrqPrefix = prefix("<idle>", 0, 0, "d.h1.")
        qemuPrefix = prefix("qemu-system-x86", Self.qemuPid, hostCPU, ".....")
        trace.put("# tracer: nop\n#\n")
        trace.put("#                                _-----=> irqs-off/BH-disabled\n")
        trace.put("#                               / _----=> need-resched\n")
        trace.put("#                              | / _---=> hardirq/softirq\n")
        trace.put("#                              || / _--=> preempt-depth\n")
        trace.put("#                              ||| / _-=> migrate-disable\n")
        trace.put("#                              |||| /     delay\n")
        trace.put("#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n")
        trace.put("#              | |         |   |||||     |         |\n")
    }

    public func finish() throws(SimulatorError) {
        try trace.close()
        try qemuLog?.close()
    }

    @inline(__always)
    private func putTime(_ t: Int64, _ f: ByteFile) {
        let ns = UInt64(max(0, t))
        f.put(ns / 1_000_000_000, width: 5, pad: 32)
        f.put(byte: 46)
        f.put(ns % 1_000_000_000, width: 9, pad: 48)
        f.put(": ")
    }

    public func write(_ r: TraceRecord) {
        // ioeventfd=on: QEMU handles the I/O queues' doorbell writes without a trace event.
        if cfg.ioeventfd && r.qid != 0 && (r.kind == .mmioDoorbellSQ || r.kind == .mmioDoorbellCQ) { return }
        if r.isController {
            if fieldMode {
                writeQemuLog(r)
            } else {
                let mark = trace.buffer.count
                if r.kind == .mmioDoorbellSQ || r.kind == .mmioDoorbellCQ {
                    trace.put(vcpuPrefix[min(Int(r.qid), vcpuPrefix.count - 1)])
                } else {
                    trace.put(qemuPrefix)
                }
                putTime(r.time, trace)
                trace.put("tracing_mark_write: ")
                if !putQemuPayload(r, trace) {
                    // An event with no name in this QEMU generation: drop the line.
                    trace.buffer_truncate(to: mark)
                    return
                }
                trace.put(byte: 10)
                trace.maybeFlush()
            }
            return
        }
        let q = Int(r.qid)
        switch r.kind {
        case .driverProbeSQ, .driverProbeCQ:
            if fieldMode { return }
            trace.put(r.kind == .driverProbeSQ ? submitPrefix[q] : irqPrefix[q])
            putTime(r.time, trace)
            trace.put(r.kind == .driverProbeSQ ? "nvme_dbbuf_sq: nvme0: qid=" : "nvme_dbbuf_cq: nvme0: qid=")
            trace.put(UInt64(r.qid))
            trace.put(", old=")
            trace.put(r.a)
            trace.put(", new=")
            trace.put(r.b)
            trace.put(", eventidx=")
            trace.put(r.c)
            trace.put(", mmio=")
            trace.put(r.d)
        case .setupCmd:
            trace.put(submitPrefix[q])
            putTime(r.time, trace)
            trace.put("nvme_setup_cmd: nvme0: disk=nvme0n1, qid=")
            trace.put(UInt64(r.qid))
            trace.put(", cmdid=")
            trace.put(r.a)
            trace.put(", nsid=1, flags=0x0, meta=0x0, cmd=(")
            trace.put(r.b == 1 ? "nvme_cmd_write slba=" : "nvme_cmd_read slba=")
            trace.put(r.c)
            trace.put(", len=")
            trace.put(r.d)
            trace.put(", ctrl=0x0, dsmgmt=0, reftag=0)")
        case .adminSetup:
            trace.put(adminPrefix)
            putTime(r.time, trace)
            trace.put("nvme_setup_cmd: nvme0: qid=0, cmdid=")
            trace.put(r.a)
            trace.put(", nsid=0, flags=0x0, meta=0x0, cmd=(")
            putAdminCommand(opcode: r.b, arg: r.c, cid: r.a)
            trace.put(")")
        case .nvmeSQ:
            trace.put(irqPrefix[q])
            putTime(r.time, trace)
            trace.put("nvme_sq: nvme0: disk=nvme0n1, qid=")
            trace.put(UInt64(r.qid))
            trace.put(", head=")
            trace.put(r.a)
            trace.put(", tail=")
            trace.put(r.b)
        case .completeRq:
            if r.qid == 0 {
                trace.put(adminIrqPrefix)
                putTime(r.time, trace)
                trace.put("nvme_complete_rq: nvme0: qid=0, cmdid=")
                trace.put(r.a)
                trace.put(", res=0x0, retries=0, flags=0x2, status=0x0")
            } else {
                trace.put(irqPrefix[q])
                putTime(r.time, trace)
                trace.put("nvme_complete_rq: nvme0: disk=nvme0n1, qid=")
                trace.put(UInt64(r.qid))
                trace.put(", cmdid=")
                trace.put(r.a)
                trace.put(", res=0x0, retries=0, flags=0x0, status=0x0")
            }
        case .console:
            trace.put(r.qid == 0 ? adminPrefix : kworkerPrefix[q])
            putTime(r.time, trace)
            trace.put("console: [")
            let us = UInt64(max(0, r.time)) / 1_000
            trace.put(us / 1_000_000, width: 5, pad: 32)
            trace.put(byte: 46)
            trace.put(us % 1_000_000, width: 6, pad: 48)
            trace.put("] nvme nvme0: ")
            switch ConsoleMessage(rawValue: r.a) ?? .abortStatus {
            case .timeoutAborting, .timeoutReset, .timeoutPolled:
                trace.put("I/O tag ")
                trace.put(r.b)
                trace.put(" (")
                trace.putHex(UInt64(r.c), width: 4)
                trace.put(") opcode 0x")
                trace.putHex(UInt64(r.d))
                trace.put(r.d == 1 ? " (Write) QID " : " (Read) QID ")
                trace.put(UInt64(r.qid))
                switch ConsoleMessage(rawValue: r.a)! {
                case .timeoutAborting: trace.put(" timeout, aborting")
                case .timeoutReset: trace.put(" timeout, reset controller")
                default: trace.put(" timeout, completion polled")
                }
            case .abortStatus:
                trace.put("Abort status: 0x0")
            case .resetDone:
                trace.put(UInt64(cfg.queues))
                trace.put("/0/0 default/read/poll queues")
            }
        case .blockIssue:
            trace.put(submitPrefix[q])
            putTime(r.time, trace)
            trace.put(r.c == 1 ? "block_rq_issue: 259,0 W " : "block_rq_issue: 259,0 R ")
            trace.put(UInt64(r.b) * 512)
            trace.put(" () ")
            trace.put(r.a)
            trace.put(" + ")
            trace.put(r.b)
            trace.put(" [fio]")
        case .blockComplete:
            trace.put(irqPrefix[q])
            putTime(r.time, trace)
            trace.put(r.c == 1 ? "block_rq_complete: 259,0 W () " : "block_rq_complete: 259,0 R () ")
            trace.put(r.a)
            trace.put(" + ")
            trace.put(r.b)
            trace.put(" [0]")
        case .irqEntry:
            trace.put(irqPrefix[q])
            putTime(r.time, trace)
            trace.put("irq_handler_entry: irq=")
            trace.put(UInt64(40 + r.qid))
            trace.put(" name=nvme0q")
            trace.put(UInt64(r.qid))
        case .irqExit:
            trace.put(irqPrefix[q])
            putTime(r.time, trace)
            trace.put("irq_handler_exit: irq=")
            trace.put(UInt64(40 + r.qid))
            trace.put(" ret=handled")
        case .schedWakeup:
            trace.put(wakeupPrefix[q])
            putTime(r.time, trace)
            trace.put("sched_wakeup: comm=fio pid=")
            trace.put(UInt64(2200 + r.qid))
            trace.put(" prio=120 target_cpu=")
            trace.put(UInt64(r.qid), width: 3, pad: 48)
        case .schedSwitch:
            trace.put(schedPrefix[q])
            putTime(r.time, trace)
            trace.put("sched_switch: prev_comm=fio prev_pid=")
            trace.put(UInt64(2200 + r.qid))
            trace.put(" prev_prio=120 prev_state=S ==> next_comm=swapper/")
            trace.put(UInt64(r.qid))
            trace.put(" next_pid=0 next_prio=120")
        default:
            return
        }
        trace.put(byte: 10)
        trace.maybeFlush()
    }

    private func putAdminCommand(opcode: UInt32, arg: UInt32, cid: UInt32) {
        let q = UInt64(arg)
        switch AdminOpcode(rawValue: opcode) {
        case .createCQ:
            trace.put("nvme_admin_create_cq cqid=")
            trace.put(q)
            trace.put(", qsize=")
            trace.put(UInt64(cfg.cqEntries - 1))
            trace.put(", cq_flags=0x3, irq_vector=")
            trace.put(q)
        case .createSQ:
            trace.put("nvme_admin_create_sq sqid=")
            trace.put(q)
            trace.put(", qsize=")
            trace.put(UInt64(cfg.sqEntries - 1))
            trace.put(", sq_flags=0x1, cqid=")
            trace.put(q)
        case .deleteSQ, .deleteCQ, .abort, .dbbufConfig, .none:
            switch AdminOpcode(rawValue: opcode) {
            case .deleteSQ: trace.put("nvme_admin_delete_sq cdw10=")
            case .deleteCQ: trace.put("nvme_admin_delete_cq cdw10=")
            case .abort: trace.put("nvme_admin_abort_cmd cdw10=")
            default: trace.put("nvme_admin_dbbuf cdw10=")
            }
            // cdw10..cdw15 as the kernel's %*ph: 24 bytes, little-endian.
            var cdw10: UInt32 = 0
            if opcode == AdminOpcode.deleteSQ.rawValue || opcode == AdminOpcode.deleteCQ.rawValue {
                cdw10 = arg
            } else if opcode == AdminOpcode.abort.rawValue {
                cdw10 = arg
            }
            for i in 0..<24 {
                if i > 0 { trace.put(byte: 32) }
                let b = i < 4 ? UInt64((cdw10 >> (8 * UInt32(i))) & 0xFF) : 0
                trace.putHex(b, width: 2)
            }
        }
    }

    private static let adminOpnames: [UInt32: StaticString] = [
        0x00: "NVME_ADM_CMD_DELETE_SQ", 0x01: "NVME_ADM_CMD_CREATE_SQ", 0x04: "NVME_ADM_CMD_DELETE_CQ",
        0x05: "NVME_ADM_CMD_CREATE_CQ", 0x08: "NVME_ADM_CMD_ABORT", 0x7C: "NVME_ADM_CMD_DBBUF_CONFIG",
    ]

    /// The QEMU log-backend payload (`event args`). Returns false for an event this QEMU
    /// generation does not trace.
    @discardableResult
    private func putQemuPayload(_ r: TraceRecord, _ f: ByteFile) -> Bool {
        let new = cfg.names == .qemu8
        switch r.kind {
        case .shadowReadSQ:
            f.put(new ? "pci_nvme_update_sq_tail sqid " : "pci_nvme_shadow_doorbell_sq sqid ")
            f.put(UInt64(r.qid))
            f.put(new ? " new_tail " : " new_shadow_doorbell ")
            f.put(r.a)
        case .shadowReadCQ:
            f.put(new ? "pci_nvme_update_cq_head cqid " : "pci_nvme_shadow_doorbell_cq cqid ")
            f.put(UInt64(r.qid))
            f.put(new ? " new_head " : " new_shadow_doorbell ")
            f.put(r.a)
        case .eventIdxWriteSQ:
            f.put(new ? "pci_nvme_update_sq_eventidx sqid " : "pci_nvme_eventidx_sq sqid ")
            f.put(UInt64(r.qid))
            f.put(" new_eventidx ")
            f.put(r.a)
        case .eventIdxWriteCQ:
            if !new { return false }
            f.put("pci_nvme_update_cq_eventidx cqid ")
            f.put(UInt64(r.qid))
            f.put(" new_eventidx ")
            f.put(r.a)
        case .mmioDoorbellSQ:
            f.put("pci_nvme_mmio_doorbell_sq sqid ")
            f.put(UInt64(r.qid))
            f.put(" new_tail ")
            f.put(r.a)
        case .mmioDoorbellCQ:
            f.put("pci_nvme_mmio_doorbell_cq cqid ")
            f.put(UInt64(r.qid))
            f.put(" new_head ")
            f.put(r.a)
        case .ioCmd:
            f.put("pci_nvme_io_cmd cid ")
            f.put(r.a)
            f.put(" nsid 0x1 sqid ")
            f.put(UInt64(r.qid))
            f.put(r.b == 1 ? " opc 0x1 opname 'NVME_NVM_CMD_WRITE'" : " opc 0x2 opname 'NVME_NVM_CMD_READ'")
        case .adminCmd:
            f.put("pci_nvme_admin_cmd cid ")
            f.put(r.a)
            f.put(" sqid 0 opc 0x")
            f.putHex(UInt64(r.b))
            f.put(" opname '")
            f.put(Self.adminOpnames[r.b] ?? "NVME_ADM_CMD_UNKNOWN")
            f.put("'")
        case .enqueueCompletion:
            f.put("pci_nvme_enqueue_req_completion cid ")
            f.put(r.a)
            f.put(" cqid ")
            f.put(UInt64(r.qid))
            f.put(" dw0 0x0 dw1 0x0 status 0x0")
        case .irqMsix:
            f.put("pci_nvme_irq_msix raising MSI-X IRQ vector ")
            f.put(UInt64(r.qid))
        case .createSQ:
            f.put("pci_nvme_create_sq create submission queue, addr=0x")
            f.putHex(0x10_A000 + UInt64(r.qid) * 0x2_0000)
            f.put(", sqid=")
            f.put(UInt64(r.qid))
            f.put(", cqid=")
            f.put(UInt64(r.qid))
            f.put(", qsize=")
            f.put(r.a)
            f.put(", qflags=1")
        case .createCQ:
            f.put("pci_nvme_create_cq create completion queue, addr=0x")
            f.putHex(0x10_9000 + UInt64(r.qid) * 0x2_0000)
            f.put(", cqid=")
            f.put(UInt64(r.qid))
            f.put(", vector=")
            f.put(UInt64(r.qid))
            f.put(", qsize=")
            f.put(r.a)
            f.put(", qflags=1, ien=1")
        case .deleteSQ:
            f.put("pci_nvme_del_sq deleting submission queue sqid=")
            f.put(UInt64(r.qid))
        case .deleteCQ:
            f.put("pci_nvme_del_cq deleted completion queue, cqid=")
            f.put(UInt64(r.qid))
        case .dbbufConfig:
            f.put("pci_nvme_dbbuf_config dbs_addr=0x1000000 eis_addr=0x1001000")
        case .mmioStopped:
            f.put("pci_nvme_mmio_stopped cleared controller enable bit")
        default:
            return false
        }
        return true
    }

    private func writeQemuLog(_ r: TraceRecord) {
        guard let log = qemuLog else { return }
        let mark = log.buffer.count
        // Host clock: guest time + offset + drift (ppm of the elapsed guest time).
        let elapsed = r.time - cfg.startNs
        let host = r.time + cfg.qemuClockOffsetNs + elapsed / 1_000_000 * cfg.qemuClockDriftPPM
            + (elapsed % 1_000_000) * cfg.qemuClockDriftPPM / 1_000_000
        let us = UInt64(max(0, host)) / 1_000
        switch cfg.qemuLogStyle {
        case .pidTimestamp:
            log.put(UInt64(Self.qemuPid))
            log.put(byte: 64)
            log.put(us / 1_000_000)
            log.put(byte: 46)
            log.put(us % 1_000_000, width: 6, pad: 48)
            log.put(byte: 58)
        case .iso:
            putISO8601(microseconds: us, log)
            log.put(byte: 32)
        case .plain:
            break
        }
        if putQemuPayload(r, log) {
            log.put(byte: 10)
            log.maybeFlush()
        } else {
            log.buffer_truncate(to: mark)
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.uuuuuuZ` for microseconds since the Unix epoch (UTC, proleptic
/// Gregorian calendar; days to civil date after H. Hinnant's `civil_from_days`).
func putISO8601(microseconds us: UInt64, _ f: ByteFile) {
    let seconds = Int64(us / 1_000_000)
    let days = seconds / 86_400
    let secondOfDay = seconds % 86_400
    let z = days + 719_468
    let era = z / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let mp = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    f.put(UInt64(year), width: 4, pad: 48)
    f.put(byte: 45)
    f.put(UInt64(month), width: 2, pad: 48)
    f.put(byte: 45)
    f.put(UInt64(day), width: 2, pad: 48)
    f.put(byte: 84)
    f.put(UInt64(secondOfDay / 3_600), width: 2, pad: 48)
    f.put(byte: 58)
    f.put(UInt64(secondOfDay / 60 % 60), width: 2, pad: 48)
    f.put(byte: 58)
    f.put(UInt64(secondOfDay % 60), width: 2, pad: 48)
    f.put(byte: 46)
    f.put(us % 1_000_000, width: 6, pad: 48)
    f.put(byte: 90)
}

extension ByteFile {
    func buffer_truncate(to count: Int) { _ = truncateBuffer(by: buffer.count - count) }
}
