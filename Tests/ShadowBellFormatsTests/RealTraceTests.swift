import Foundation
import Testing
import ShadowBellCore
@testable import ShadowBellFormats

/// Independent per-kind counts of a guest ftrace text: plain substring tests, no parser.
private func grepCountsFtrace(_ text: String) -> [EventKind: Int] {
    var counts: [EventKind: Int] = [:]
    for line in text.split(separator: "\n") {
        if line.contains(": nvme_setup_cmd: ") { counts[.driverSubmit, default: 0] += 1 }
        if line.contains(": nvme_complete_rq: ") { counts[.driverComplete, default: 0] += 1 }
        if line.contains(": nvme_sq: ") { counts[.driverSQHead, default: 0] += 1 }
    }
    return counts
}

/// Event name → kind, as the spec maps them; `pci_nvme_mmio_write` is split by address.
private let qemuKinds: [String: EventKind] = [
    "pci_nvme_shadow_doorbell_sq": .controllerShadowRead, "pci_nvme_shadow_doorbell_cq": .controllerShadowRead,
    "pci_nvme_update_sq_tail": .controllerShadowRead, "pci_nvme_update_cq_head": .controllerShadowRead,
    "pci_nvme_eventidx_sq": .controllerEventIdxWrite, "pci_nvme_eventidx_cq": .controllerEventIdxWrite,
    "pci_nvme_update_sq_eventidx": .controllerEventIdxWrite, "pci_nvme_update_cq_eventidx": .controllerEventIdxWrite,
    "pci_nvme_mmio_doorbell_sq": .mmioDoorbell, "pci_nvme_mmio_doorbell_cq": .mmioDoorbell,
    "pci_nvme_dbbuf_config": .dbbufConfig, "pci_nvme_io_cmd": .controllerFetch, "pci_nvme_admin_cmd": .controllerFetch,
    "pci_nvme_enqueue_req_completion": .controllerCompletion, "pci_nvme_create_sq": .queueCreate,
    "pci_nvme_create_cq": .queueCreate, "pci_nvme_del_sq": .queueDelete, "pci_nvme_del_cq": .queueDelete,
    "pci_nvme_irq_msix": .interrupt, "pci_nvme_irq_pin": .interrupt, "pci_nvme_mmio_stopped": .controllerReset,
    "pci_nvme_pci_reset": .controllerReset, "pci_nvme_mmio_shutdown_set": .controllerReset,
    "pci_nvme_mmio_start_success": .controllerEnable,
]

/// Independent per-kind counts of a `pid@sec.usec:` QEMU log.
private func grepCountsQemu(_ text: String) -> [EventKind: Int] {
    var counts: [EventKind: Int] = [:]
    for line in text.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        let words = line[line.index(after: colon)...].split(separator: " ")
        guard let name = words.first else { continue }
        if name == "pci_nvme_mmio_write", words.count > 2, let addr = UInt64(words[2].dropFirst(2), radix: 16) {
            counts[(0x1000..<0x81000).contains(addr) ? .mmioDoorbell : .registerWrite, default: 0] += 1
        } else if let kind = qemuKinds[String(name)] {
            counts[kind, default: 0] += 1
        }
    }
    return counts
}

private func kindCounts(_ events: [Event]) -> [EventKind: Int] {
    var counts: [EventKind: Int] = [:]
    for e in events { counts[e.kind, default: 0] += 1 }
    return counts
}

@Suite struct RealTraceFixtureTests {
    @Test func guestFtraceExcerpt() throws {
        let path = fixturePath("single-guest-excerpt.txt")
        let d = try drain(try openEventSource(path: path, index: 0))
        #expect(d.summary.format == .ftraceText)
        #expect(d.summary.malformed == 0, "\(d.summary.firstMalformed)")
        let counts = kindCounts(d.events)
        #expect(counts == grepCountsFtrace(try String(contentsOfFile: path, encoding: .utf8)))
        // `grep -c` on the excerpt.
        #expect(counts == [.driverSubmit: 180, .driverComplete: 180, .driverSQHead: 180])
        #expect(d.summary.records == 1000 && d.summary.skipped == 1000 - 540)
        // The admin Create I/O CQ/SQ pairs of both controller initialisations.
        let creates = d.events.filter { $0.flags & Event.createsQueueFlag != 0 }
        #expect(creates.map(\.queueType) == [.cq, .sq, .cq, .sq])
        #expect(creates.map(\.b) == [1, 1, 2, 2] && creates.allSatisfy { $0.c == 1023 })
        #expect(d.summary.outOfOrder == 0)
    }

    @Test func qemuLogExcerpt() throws {
        let path = fixturePath("single-qemu-excerpt.log")
        let d = try drain(try openEventSource(path: path, index: 1))
        #expect(d.summary.format == .qemuLog && d.summary.clock == .timestamps)
        #expect(d.summary.malformed == 0, "\(d.summary.firstMalformed)")
        let counts = kindCounts(d.events)
        #expect(counts == grepCountsQemu(try String(contentsOfFile: path, encoding: .utf8)))
        // `grep -c` on the excerpt.
        #expect(
            counts == [
                .controllerShadowRead: 123 + 65, .controllerEventIdxWrite: 65, .mmioDoorbell: 116 + 112 + 229,
                .registerWrite: 245 - 229, .controllerFetch: 53 + 67, .controllerCompletion: 120, .queueCreate: 6,
                .queueDelete: 4, .dbbufConfig: 1, .interrupt: 69 + 44, .controllerReset: 3, .controllerEnable: 2,
            ])
        let config = try #require(d.events.first { $0.kind == .dbbufConfig })
        #expect(config.wide == 0xb8a_6000 && config.a == 0xb8a_7000 && config.b == 0)
        #expect(config.time == 1_795_660_165_457_429_000)
    }
}

private let realDirectory = "/work/shared/traces/real/single"
private let haveRealTraces =
    FileManager.default.fileExists(atPath: realDirectory + "/qemu-trace.log.zst")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/zstd")

/// Decompresses with `zstd -dc` into a pipe and decodes the pipe as it streams.
private func decodeCompressed(_ path: String) throws -> Decoded {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/zstd")
    process.arguments = ["-dc", path]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    defer { process.waitUntilExit() }
    return try drain(try openEventSource(path: "/dev/fd/\(pipe.fileHandleForReading.fileDescriptor)", index: 0))
}

/// `count name` lines of the recorders' own count files.
private func recordedCounts(_ file: String) throws -> [String: Int] {
    var counts: [String: Int] = [:]
    for line in try String(contentsOfFile: realDirectory + "/" + file, encoding: .utf8).split(separator: "\n") {
        let parts = line.split(separator: " ")
        if parts.count == 2, let n = Int(parts[0]) { counts[String(parts[1])] = n }
    }
    return counts
}

@Suite(.enabled(if: haveRealTraces, "needs the real traces and zstd"))
struct RealTraceFullTests {
    @Test func guestFtraceFully() throws {
        let d = try decodeCompressed(realDirectory + "/guest-ftrace.txt.zst")
        let recorded = try recordedCounts("guest-event-counts.txt")
        #expect(d.summary.format == .ftraceText && d.summary.malformed == 0)
        #expect(
            kindCounts(d.events) == [
                .driverSubmit: try #require(recorded["nvme_setup_cmd"]),
                .driverComplete: try #require(recorded["nvme_complete_rq"]),
                .driverSQHead: try #require(recorded["nvme_sq"]),
            ])
        #expect(d.summary.outOfOrder == 0)
    }

    @Test func qemuLogFully() throws {
        let d = try decodeCompressed(realDirectory + "/qemu-trace.log.zst")
        let r = try recordedCounts("qemu-event-counts.txt")
        func n(_ name: String) -> Int { r[name] ?? 0 }
        #expect(d.summary.format == .qemuLog && d.summary.malformed == 0)
        let counts = kindCounts(d.events)
        #expect(counts[.controllerShadowRead] == n("pci_nvme_shadow_doorbell_sq") + n("pci_nvme_shadow_doorbell_cq"))
        #expect(counts[.controllerEventIdxWrite] == n("pci_nvme_eventidx_sq"))
        #expect(counts[.controllerFetch] == n("pci_nvme_io_cmd") + n("pci_nvme_admin_cmd"))
        #expect(counts[.controllerCompletion] == n("pci_nvme_enqueue_req_completion"))
        #expect(counts[.queueCreate] == n("pci_nvme_create_sq") + n("pci_nvme_create_cq"))
        #expect(counts[.queueDelete] == n("pci_nvme_del_sq") + n("pci_nvme_del_cq"))
        #expect(counts[.dbbufConfig] == n("pci_nvme_dbbuf_config"))
        #expect(counts[.interrupt] == n("pci_nvme_irq_msix") + n("pci_nvme_irq_pin"))
        #expect(
            counts[.controllerReset]
                == n("pci_nvme_mmio_stopped") + n("pci_nvme_pci_reset") + n("pci_nvme_mmio_shutdown_set"))
        #expect(counts[.controllerEnable] == n("pci_nvme_mmio_start_success"))
        // Every raw register write is either a doorbell or another register.
        let raw = d.events.filter { $0.flags & Event.rawRegisterWriteFlag != 0 }.count
        #expect(raw + (counts[.registerWrite] ?? 0) == n("pci_nvme_mmio_write"))
        #expect(
            (counts[.mmioDoorbell] ?? 0) - raw == n("pci_nvme_mmio_doorbell_sq") + n("pci_nvme_mmio_doorbell_cq"))
        #expect(d.summary.records == UInt64(r.values.reduce(0, +)))
    }
}
