import Foundation
import ShadowBellCore
import Testing

@testable import ShadowBellSimulator

@Suite struct RenderTests {
    static func hangConfig(seed: UInt64 = 7) -> SimulationConfig {
        var c = small(.racing(seed: seed), durationUs: 1_500)
        c.driverBarrier = false
        c.timeoutDivisor = 60_000
        return c
    }

    @Test func sameSeedGivesIdenticalBytes() throws {
        let dir = temporaryDirectory()
        let c = Self.hangConfig()
        var truths: [String] = []
        for i in 0..<2 {
            let r = try Simulator.writeLabTrace(c, to: dir.appendingPathComponent("lab\(i).txt").path)
            truths.append(TruthJSON.render(r))
            _ = try Simulator.writeFieldTraces(
                c, tracePath: dir.appendingPathComponent("guest\(i).txt").path,
                qemuLogPath: dir.appendingPathComponent("qemu\(i).log").path)
        }
        for name in ["lab", "guest", "qemu"] {
            let ext = name == "qemu" ? "log" : "txt"
            let a = readBytes(dir.appendingPathComponent("\(name)0.\(ext)"))
            let b = readBytes(dir.appendingPathComponent("\(name)1.\(ext)"))
            #expect(a.count > 10_000)
            #expect(a == b, "\(name) differs between two runs of the same seed")
        }
        #expect(truths[0] == truths[1])

        var other = c
        other.seed = 8
        _ = try Simulator.writeLabTrace(other, to: dir.appendingPathComponent("other.txt").path)
        #expect(readBytes(dir.appendingPathComponent("other.txt")) != readBytes(dir.appendingPathComponent("lab0.txt")))
    }

    @Test func labTraceIsSortedFtraceWithExactPayloads() throws {
        let dir = temporaryDirectory()
        let url = dir.appendingPathComponent("lab.txt")
        let r = try Simulator.writeLabTrace(Self.hangConfig(), to: url.path)
        let lines = readLines(url)
        #expect(lines.first == "# tracer: nop")
        var last: Int64 = 0
        var events = 0
        for line in lines where !line.hasPrefix("#") {
            let t = try #require(ftraceTime(line), "no timestamp: \(line)")
            #expect(t >= last, "out of order: \(line)")
            last = t
            #expect(ftraceEvent(line) != nil)
            events += 1
        }
        #expect(events == r.traceLines)
        let text = lines.joined(separator: "\n")
        for needle in [
            "nvme_dbbuf_sq: nvme0: qid=1, old=", "nvme_dbbuf_cq: nvme0: qid=1, old=",
            ": nvme_setup_cmd: nvme0: disk=nvme0n1, qid=1, cmdid=", ", nsid=1, flags=0x0, meta=0x0, cmd=(nvme_cmd_",
            ": nvme_complete_rq: nvme0: disk=nvme0n1, qid=1, cmdid=", ": nvme_sq: nvme0: disk=nvme0n1, qid=1, head=",
            "tracing_mark_write: pci_nvme_update_sq_tail sqid 1 new_tail ",
            "tracing_mark_write: pci_nvme_update_sq_eventidx sqid 1 new_eventidx ",
            "tracing_mark_write: pci_nvme_update_cq_eventidx cqid 1 new_eventidx ",
            "tracing_mark_write: pci_nvme_update_cq_head cqid 1 new_head ",
            "tracing_mark_write: pci_nvme_mmio_doorbell_sq sqid 1 new_tail ",
            "tracing_mark_write: pci_nvme_dbbuf_config dbs_addr=0x1000000 eis_addr=0x1001000",
            "tracing_mark_write: pci_nvme_create_sq create submission queue, addr=0x",
            "tracing_mark_write: pci_nvme_create_cq create completion queue, addr=0x",
            " nsid 0x1 sqid 1 opc 0x2 opname 'NVME_NVM_CMD_READ'",
            "tracing_mark_write: pci_nvme_irq_msix raising MSI-X IRQ vector 1",
            "             fio-2201    [001] d..1. ", "qemu-system-x86-4711    [003] ..... ",
            ": block_rq_issue: 259,0 ", ": irq_handler_entry: irq=41 name=nvme0q1", ": sched_switch: prev_comm=fio",
        ] {
            #expect(text.contains(needle), "missing: \(needle)")
        }
    }

    @Test func qemu72NamesAndNoCQEventIdxEvent() throws {
        let dir = temporaryDirectory()
        var c = Self.hangConfig()
        c.names = .qemu72
        let url = dir.appendingPathComponent("lab72.txt")
        _ = try Simulator.writeLabTrace(c, to: url.path)
        let text = String(decoding: readBytes(url), as: UTF8.self)
        #expect(!text.contains("pci_nvme_update_"))
        #expect(text.contains("tracing_mark_write: pci_nvme_shadow_doorbell_sq sqid 1 new_shadow_doorbell "))
        #expect(text.contains("tracing_mark_write: pci_nvme_shadow_doorbell_cq cqid 1 new_shadow_doorbell "))
        #expect(text.contains("tracing_mark_write: pci_nvme_eventidx_sq sqid 1 new_eventidx "))
        #expect(!text.contains("eventidx_cq"))
    }

    /// The truth's clock is the trace's: every window opens at a probe or controller read of its
    /// queue and closes at a line that ends it, with the same nanoseconds.
    @Test func truthWindowsSitOnTraceLines() throws {
        var checked = 0
        for seed in UInt64(1)...6 {
            let dir = temporaryDirectory()
            let url = dir.appendingPathComponent("t.txt")
            var c = Self.hangConfig(seed: seed)
            if seed % 2 == 0 {
                c.driverBarrier = true
                c.controllerBarrier = false
            }
            let r = try Simulator.writeLabTrace(c, to: url.path)
            var opens: Set<String> = []
            var closes: Set<String> = []
            for line in readLines(url) {
                guard let t = ftraceTime(line), let (name, payload) = ftraceEvent(line) else { continue }
                let p = String(payload)
                func key(_ type: String, _ qid: Substring) -> String { "\(type)\(qid)@\(t)" }
                if name == "nvme_dbbuf_sq" || name == "nvme_dbbuf_cq",
                    let q = p.split(separator: ",").first?.split(separator: "=").last
                {
                    opens.insert(key(name == "nvme_dbbuf_sq" ? "sq" : "cq", q))
                } else if name == "tracing_mark_write" {
                    let f = p.split(separator: " ")
                    guard f.count >= 3 else { continue }
                    switch f[0] {
                    case "pci_nvme_update_sq_tail":
                        opens.insert(key("sq", f[2])); closes.insert(key("sq", f[2]))
                    case "pci_nvme_update_cq_head":
                        opens.insert(key("cq", f[2])); closes.insert(key("cq", f[2]))
                    case "pci_nvme_mmio_doorbell_sq": closes.insert(key("sq", f[2]))
                    case "pci_nvme_mmio_doorbell_cq": closes.insert(key("cq", f[2]))
                    case "pci_nvme_del_sq": closes.insert(key("sq", f.last!.split(separator: "=").last!))
                    case "pci_nvme_del_cq": closes.insert(key("cq", f.last!.split(separator: "=").last!))
                    default: break
                    }
                }
            }
            for w in r.windows {
                let q = "\(w.queue.type.name)\(w.queue.qid)"
                #expect(opens.contains("\(q)@\(w.startNs)"), "seed \(seed): no line opens \(q) at \(w.startNs)")
                if let e = w.endNs {
                    #expect(closes.contains("\(q)@\(e)"), "seed \(seed): no line closes \(q) at \(e)")
                }
                checked += 1
            }
        }
        #expect(checked >= 6)
    }

    /// Per-queue counts in the truth equal what a grep of the trace finds.
    @Test func truthCountsMatchTheTrace() throws {
        let dir = temporaryDirectory()
        let url = dir.appendingPathComponent("t.txt")
        let r = try Simulator.writeLabTrace(Self.hangConfig(seed: 3), to: url.path)
        let text = String(decoding: readBytes(url), as: UTF8.self)
        func count(_ s: String) -> Int { text.components(separatedBy: s).count - 1 }
        for q in r.queues {
            let n = q.queue.qid
            if q.queue.type == .sq {
                #expect(q.driverShadowWrites == count("nvme_dbbuf_sq: nvme0: qid=\(n), "))
                #expect(q.mmioDoorbells == countMMIO(text, "sq", n))
                #expect(q.controllerShadowReads == count("pci_nvme_update_sq_tail sqid \(n) "))
                #expect(q.controllerEventIdxWrites == count("pci_nvme_update_sq_eventidx sqid \(n) "))
                #expect(q.commands == count("nvme_setup_cmd: nvme0: disk=nvme0n1, qid=\(n), "))
            } else {
                #expect(q.driverShadowWrites == count("nvme_dbbuf_cq: nvme0: qid=\(n), "))
                #expect(q.mmioDoorbells == countMMIO(text, "cq", n))
                #expect(q.controllerShadowReads == count("pci_nvme_update_cq_head cqid \(n) "))
                #expect(q.controllerEventIdxWrites == count("pci_nvme_update_cq_eventidx cqid \(n) "))
            }
        }
    }

    private func countMMIO(_ text: String, _ type: String, _ qid: UInt16) -> Int {
        text.split(separator: "\n").filter {
            $0.contains("nvme_dbbuf_\(type): nvme0: qid=\(qid), ") && $0.hasSuffix("mmio=1")
        }.count
    }

    /// Field mode: the guest trace has no probes and no QEMU events; the QEMU log has them all,
    /// on its own clock, in order; the model run is the same as in lab mode.
    @Test func fieldModeSplitsGuestAndQemu() throws {
        let dir = temporaryDirectory()
        let c = Self.hangConfig(seed: 5)
        let lab = dir.appendingPathComponent("lab.txt")
        let guest = dir.appendingPathComponent("guest.txt")
        let log = dir.appendingPathComponent("qemu.log")
        let rl = try Simulator.writeLabTrace(c, to: lab.path)
        let rf = try Simulator.writeFieldTraces(c, tracePath: guest.path, qemuLogPath: log.path)
        #expect(TruthJSON.render(rl) == TruthJSON.render(rf))
        let g = String(decoding: readBytes(guest), as: UTF8.self)
        #expect(!g.contains("nvme_dbbuf_"))
        #expect(!g.contains("tracing_mark_write"))
        #expect(g.contains("nvme_setup_cmd: nvme0: disk=nvme0n1, qid=1"))
        let qemuLines = readLines(log)
        let labQemu = readLines(lab).filter { $0.contains(": tracing_mark_write: ") }
        #expect(qemuLines.count == labQemu.count)
        var last: Int64 = 0
        for (q, l) in zip(qemuLines, labQemu) {
            #expect(q.hasPrefix("4711@"))
            let colon = try #require(q.firstIndex(of: ":"))
            let stamp = q[q.index(q.startIndex, offsetBy: 5)..<colon].split(separator: ".")
            #expect(stamp.count == 2 && stamp[1].count == 6)
            let us = Int64(stamp[0])! * 1_000_000 + Int64(stamp[1])!
            #expect(us >= last)
            last = us
            #expect(us > 1_700_000_000_000_000, "host wall clock in microseconds")
            // Same event, same payload as the lab line.
            #expect(q[q.index(after: colon)...] == l[l.range(of: ": tracing_mark_write: ")!.upperBound...])
        }
    }

    @Test func isoTimestampsAreUTCCalendarDates() throws {
        let f = try ByteFile(path: "/dev/null")
        for (us, text) in [
            (UInt64(0), "1970-01-01T00:00:00.000000Z"),
            (951_782_400_000_001, "2000-02-29T00:00:00.000001Z"),
            (1_753_123_408_089_797, "2025-07-21T18:43:28.089797Z"),
            (4_107_542_399_999_999, "2100-02-28T23:59:59.999999Z"),
        ] {
            f.truncateBuffer(by: f.buffer.count)
            putISO8601(microseconds: us, f)
            #expect(String(decoding: f.buffer, as: UTF8.self) == text)
        }
    }

    @Test(arguments: QemuLogStyle.allCases)
    func qemuLogLineShapes(_ style: QemuLogStyle) throws {
        let dir = temporaryDirectory()
        var c = small(.racing(seed: 4), durationUs: 300)
        c.qemuLogStyle = style
        let log = dir.appendingPathComponent("q.log")
        _ = try Simulator.writeFieldTraces(c, tracePath: dir.appendingPathComponent("g.txt").path, qemuLogPath: log.path)
        let lines = readLines(log)
        #expect(lines.count > 100)
        for line in lines.prefix(50) {
            switch style {
            case .pidTimestamp: #expect(line.hasPrefix("4711@1764115200.0"))
            case .iso: #expect(line.hasPrefix("2025-11-26T00:00:00.0") && line.contains("Z pci_nvme_"))
            case .plain: #expect(line.hasPrefix("pci_nvme_"))
            }
        }
    }
}
