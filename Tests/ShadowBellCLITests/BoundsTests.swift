import Foundation
import ShadowBellAnalysis
import ShadowBellCore
import ShadowBellFormats
import ShadowBellTestSupport
import Testing

/// Hostile inputs that once made memory grow with the input: each meets its cap and says so.
@Suite struct BoundsTests {
    /// A pcap of `count` MMIO doorbells; `vary` gives each record's (source, controller, qid).
    static func pcap(_ name: String, count: Int, _ vary: (Int) -> (source: UInt16, controller: UInt16, qid: UInt16)) throws -> String {
        try pcap(name, count: count) { i in
            let (source, controller, qid) = vary(i)
            return Event(kind: .mmioDoorbell, time: 1_000_000_000 + Int64(i) * 1000, source: source, controller: controller, qid: qid, a: 1)
        }
    }

    /// A pcap of `count` events made by `event`.
    static func pcap(_ name: String, count: Int, event: (Int) -> Event) throws -> String {
        let path = temporaryPath(name)
        let writer = try PcapWriter(path: path, linkType: .user0)
        var bytes = [UInt8](repeating: 0, count: RecordCodec.recordLengthV1)
        for i in 0..<count {
            let event = event(i)
            bytes.withUnsafeMutableBytes { RecordCodec.encode(RecordCodec.Record(event: event), into: $0) }
            bytes.withUnsafeBytes { writer.write(seconds: UInt32(event.time / 1_000_000_000), nanoseconds: UInt32(event.time % 1_000_000_000), $0) }
        }
        writer.close()
        return path
    }

    @Test func aPcapOfManyClockDomainsAnalysesTheFirstAndReportsTheRest() throws {
        let limit = PcapEventSource.clockDomainLimit
        let path = try Self.pcap("domains-\(UUID().uuidString).pcap", count: limit + 40) { (UInt16($0), 0, 1) }
        let (status, json, _) = try analyzeJSON([path])
        #expect(status == 0)
        let inputs = json["inputs"] as? [[String: Any]] ?? []
        #expect(inputs.count == limit)
        let reasons = (inputs.first?["first_malformed"] as? [[String: Any]])?.compactMap { $0["reason"] as? String } ?? []
        #expect(reasons.contains { $0.hasPrefix("40 further clock domain(s)") }, "\(reasons)")
        // Sources opened by content for conversion keep the same bound.
        let sources = try openEventSources(path: path, firstIndex: 0)
        #expect(sources.count == limit)
    }

    @Test func queuesBeyondTheLimitAreLeftOutAndCounted() throws {
        let limit = ClockGroupAnalyzer.queueLimit
        let path = try Self.pcap("queues-\(UUID().uuidString).pcap", count: limit + 500) { (0, UInt16($0 >> 12), UInt16($0 & 0xFFF)) }
        let (status, json, _) = try analyzeJSON([path])
        #expect(status == 0)
        #expect((json["queues"] as? [Any])?.count == limit)
        let notes = json["notes"] as? [String] ?? []
        #expect(notes.contains { $0.hasPrefix("500 event(s) left out: they name more than \(limit) queues") }, "\(notes)")
    }

    @Test func commandsBeyondTheLimitAreLeftOutAndMemoryStaysBounded() throws {
        // Four times the limit of distinct commands (4,096 per SQ, one per kernel tag: a tag
        // submitted again ends its earlier command), submitted and never completed: without the
        // cap the table alone would take 192 MB.
        let limit = ClockGroupAnalyzer.outstandingCommandLimit
        let path = try Self.pcap("commands-\(UUID().uuidString).pcap", count: 4 * limit) { i in
            Event(kind: .driverSubmit, time: 1_000_000_000 + Int64(i) * 1000, qid: UInt16(1 + i >> 12), a: UInt32(i & 0xFFF))
        }
        let out = temporaryPath(UUID().uuidString + ".json")
        let (status, peakRSS) = try runMeasuringPeakMemory(["analyze", path, "--quiet", "--format", "json", "--output", out])
        #expect(status == 0)
        #if os(Linux)
        #expect(peakRSS != nil)
        #endif
        // A sanitizer's shadow memory multiplies resident memory: the bound is ShadowBell's own.
        if let peakRSS, !Self.sanitized { #expect(peakRSS < 128 << 20, "peak RSS \(peakRSS >> 20) MiB") }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any] ?? [:]
        let notes = json["notes"] as? [String] ?? []
        #expect(notes.contains { $0.hasPrefix("\(3 * limit) submission(s) left out: they came while \(limit) commands were outstanding") }, "\(notes)")
    }

    /// Runs the executable (its output where `arguments` put it, nothing on the terminal) and
    /// returns its exit status and the highest `VmHWM` (peak resident memory) its
    /// `/proc/PID/status` showed, read every millisecond once the process runs the executable;
    /// nil without /proc. Not `wait4`'s `ru_maxrss`: a child started with vfork (as
    /// `posix_spawn` does) is charged the test process's own peak at its exec.
    func runMeasuringPeakMemory(_ arguments: [String]) throws -> (status: Int32, peakRSS: Int?) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executablePath)
        p.arguments = arguments
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let statusPath = "/proc/\(p.processIdentifier)/status"
        var peak: Int?
        while p.isRunning {
            if let file = FileHandle(forReadingAtPath: statusPath) {
                let text = String(decoding: readAllRetrying(file), as: UTF8.self)
                try? file.close()
                if let kilobytes = Self.peakKilobytes(status: text, name: "shadowbell") {
                    peak = max(peak ?? 0, kilobytes * 1024)
                }
            }
            usleep(1000)
        }
        p.waitUntilExit()
        return (p.terminationStatus, peak)
    }

    /// Built with the address or thread sanitizer (`swift test --sanitize=…`): its runtime is
    /// linked into the test process as into the executable.
    static let sanitized: Bool = {
        guard let program = dlopen(nil, RTLD_NOW) else { return false }
        return dlsym(program, "__tsan_init") != nil || dlsym(program, "__asan_init") != nil
    }()

    /// `VmHWM` in KiB from a /proc status text, if the process's name is `name` (so after its
    /// exec: before it, a vfork child shows the parent's memory).
    static func peakKilobytes(status text: String, name: String) -> Int? {
        var named = false
        var kilobytes: Int?
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.first == "Name:" { named = fields.count == 2 && fields[1] == name }
            if fields.first == "VmHWM:", fields.count >= 2 { kilobytes = Int(fields[1]) }
        }
        return named ? kilobytes : nil
    }
}
