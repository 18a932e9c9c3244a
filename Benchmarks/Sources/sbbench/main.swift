// In-process measurements on one trace, with the library the CLI uses:
//
//   sbbench first-finding FILE [--decode-threads N]
//       decodes and analyses FILE and prints, as JSON: seconds to the first finding
//       (reported while streaming; or at the end when the first one is only known then),
//       total seconds, events, bytes, findings.
//   sbbench decode FILE [--decode-threads N]
//       decodes only (no analysis): seconds, events, bytes.
//
// Run it under LD_PRELOAD=libMallocCount.so to count allocations.
import ShadowBellAnalysis
import ShadowBellCore
import ShadowBellFormats

#if canImport(Glibc)
    import Glibc
#endif

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func fail(_ message: String) -> Never {
    let line = Array("sbbench: \(message)\n".utf8)
    line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    exit(2)
}

var args = Array(CommandLine.arguments.dropFirst())
var options = SourceOptions()
if let i = args.firstIndex(of: "--decode-threads"), i + 1 < args.count, let n = Int(args[i + 1]) {
    options.decodeThreads = max(n, 1)
    args.removeSubrange(i...(i + 1))
}
guard args.count == 2 else { fail("usage: sbbench first-finding|decode FILE [--decode-threads N]") }
let (mode, path) = (args[0], args[1])

let start = now()
let source: any EventSource
do { source = try openEventSource(path: path, index: 0, options: options) } catch { fail(error.description) }
var buffer: [Event] = []
buffer.reserveCapacity(options.batchSize)

switch mode {
case "decode":
    var events = 0
    do {
        while try source.nextBatch(into: &buffer) { events += buffer.count }
    } catch { fail(error.description) }
    let total = now() - start
    print("{\"seconds\": \(total), \"events\": \(events), \"bytes\": \(source.summary.bytes)}")
case "first-finding":
    let analyzer = ClockGroupAnalyzer(
        options: AnalysisOptions(), sources: [0], clock: source.summary.clock,
        locationUnits: [0: source.summary.locationUnit])
    var firstFinding: Double?
    do {
        while try source.nextBatch(into: &buffer) {
            for e in buffer { analyzer.consume(e) }
            if firstFinding == nil, analyzer.findingCount > 0 { firstFinding = now() - start }
        }
    } catch { fail(error.description) }
    let result = analyzer.finish()
    let total = now() - start
    if firstFinding == nil, !result.findings.isEmpty { firstFinding = total }
    let first = firstFinding.map { "\($0)" } ?? "null"
    print(
        "{\"first_finding_seconds\": \(first), \"seconds\": \(total), \"events\": \(analyzer.eventCount), "
            + "\"bytes\": \(source.summary.bytes), \"findings\": \(result.findings.count)}")
default:
    fail("unknown mode \(mode)")
}
