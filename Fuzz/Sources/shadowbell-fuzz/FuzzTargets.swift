#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import ShadowBellAnalysis
import ShadowBellCore
@testable import ShadowBellFormats
import ShadowBellReport

/// The decoders and the analyzer, each one a libFuzzer target. Every target that decodes also
/// analyses what it decoded and renders the JSON report: a trap anywhere on the way is a crash.
enum FuzzTarget: String, CaseIterable {
    /// Linux ftrace text, trace-cmd report text.
    case ftrace
    /// QEMU `-trace` log text.
    case qemuLog = "qemu-log"
    /// Guest console log, with an ftrace dump in it.
    case console
    /// QEMU simple trace (binary), with the built-in event layouts.
    case qemuSimple = "qemu-simple"
    /// ShadowBell pcap records: each record's payload decoded alone, then the whole file read
    /// through libpcap.
    case pcap
    /// trace-cmd files (trace.dat): headers, sections, options, compressed chunks, pages.
    case tracedat
    /// Format detection and whatever source it picks.
    case detect
    /// The analyzer alone, fed with events built field by field from the input.
    case analyzer
}

let target: FuzzTarget = {
    guard let name = getenv("SHADOWBELL_FUZZ_TARGET").map({ String(cString: $0) }),
        let target = FuzzTarget(rawValue: name)
    else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        let message = Array("shadowbell-fuzz: set SHADOWBELL_FUZZ_TARGET to one of: \(names)\n".utf8)
        _ = message.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        exit(2)
    }
    return target
}()

/// The file each input is written to: the sources read paths, as the command line does.
let scratchPath: String = {
    let dir = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    return "\(dir)/shadowbell-fuzz-\(getpid())"
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    switch target {
    case .analyzer:
        analyze([ArraySource(events: FuzzEvents.decode(bytes), index: 0)])
    case .pcap:
        var offset = 0
        // The input as a run of records: a 16-bit length, then that many bytes.
        while offset + 2 <= size {
            let length = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8
            offset += 2
            let end = min(size, offset + length)
            _ = RecordCodec.decode(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]), time: Int64(offset))
            offset = end
        }
        readFile(bytes)
    default:
        readFile(bytes)
    }
    return 0
}

func readFile(_ bytes: UnsafeRawBufferPointer) {
    guard writeScratch(bytes) else { return }
    defer { unlink(scratchPath) }
    var options = SourceOptions()
    options.decodeThreads = 1
    let source: any EventSource
    do throws(InputError) {
        switch target {
        case .ftrace: source = FtraceTextSource(input: try ByteInput(path: scratchPath), index: 0, options: options)
        case .qemuLog: source = QemuLogSource(input: try ByteInput(path: scratchPath), index: 0, options: options)
        case .console: source = ConsoleLogSource(input: try ByteInput(path: scratchPath), index: 0, options: options)
        case .qemuSimple:
            source = try QemuSimpleEventSource(path: scratchPath, index: 0)
        case .pcap: source = try PcapEventSource(path: scratchPath, index: 0, options: PcapReadOptions())
        case .tracedat: source = try TraceDatEventSource(path: scratchPath, index: 0, options: options)
        case .detect, .analyzer: source = try openEventSource(path: scratchPath, index: 0, options: options)
        }
    } catch {
        _ = error.description
        return
    }
    // Drained first: the analysis reads from memory, so the scratch file can go.
    var events: [Event] = []
    var batch: [Event] = []
    do throws(InputError) {
        while try source.nextBatch(into: &batch) { events += batch }
    } catch {
        _ = error.description
    }
    analyze([ArraySource(events: events, index: 0, summary: source.summary)])
}

func writeScratch(_ bytes: UnsafeRawBufferPointer) -> Bool {
    let fd = open(scratchPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var written = 0
    while written < bytes.count {
        let n = write(fd, bytes.baseAddress! + written, bytes.count - written)
        if n <= 0 { return false }
        written += n
    }
    return true
}

func analyze(_ sources: [any EventSource]) {
    let report: AnalysisReport
    do throws(AnalysisFailure) {
        report = AnalysisReport(result: try AnalysisSession.run(sources: sources))
    } catch {
        report = AnalysisReport(result: error.partial, inputErrors: error.errors)
    }
    _ = JSONReport.render(report)
    _ = TextReport.render(report)
}

/// An `EventSource` over events already in memory.
final class ArraySource: EventSource {
    private var events: [Event]
    var summary: InputSummary

    init(events: [Event], index: UInt16, summary: InputSummary? = nil) {
        self.events = events
        self.summary = summary ?? InputSummary(index: index, path: "fuzz", format: .pcap)
        if summary == nil { self.summary.events = UInt64(events.count) }
    }

    func nextBatch(into buffer: inout [Event]) throws(InputError) -> Bool {
        buffer = events
        events = []
        return !buffer.isEmpty
    }
}

/// Events built field by field: 24 bytes each, kind first, so every mutation is an event the
/// analyzer must take. Times move forward by a delta, as a recorder's would (mostly).
enum FuzzEvents {
    static let kinds = EventKind.allCases

    static func decode(_ bytes: UnsafeRawBufferPointer) -> [Event] {
        var events: [Event] = []
        var time: Int64 = 0
        var offset = 0
        func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
        while offset + 24 <= bytes.count {
            let kind = kinds[Int(bytes[offset]) % kinds.count]
            let flags = bytes[offset + 1]
            // A signed delta lets times go backwards now and then; large jumps stay possible.
            let delta = Int64(Int32(bitPattern: u32(offset + 2)))
            time = time.addingReportingOverflow(delta).partialValue
            let controller = UInt16(bytes[offset + 6] & 3)
            let qid = u16(offset + 7) & 0x1FF
            let a = u32(offset + 9), b = u32(offset + 13), c = u32(offset + 17)
            let wide = UInt64(u16(offset + 21)) << 12
            let type: QueueType = bytes[offset + 23] & 1 == 0 ? .sq : .cq
            events.append(
                Event(
                    kind: kind, time: time, location: UInt64(offset), source: 0, controller: controller, qid: qid,
                    queueType: type, a: a, b: b, c: c, wide: wide, flags: flags))
            offset += 24
        }
        return events
    }
}
