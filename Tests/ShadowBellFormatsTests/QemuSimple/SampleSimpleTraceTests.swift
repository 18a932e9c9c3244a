import Foundation
import ShadowBellCore
import Testing

@testable import ShadowBellFormats

/// SampleTraces/binary/trace-4711 is `SimpleTraceScenario()` written to disk. Regenerate it with
/// `SHADOWBELL_WRITE_SAMPLES=1 swift test --filter SampleSimpleTraceTests`.
@Suite struct SampleSimpleTraceTests {
    static let samplePath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("SampleTraces/binary/trace-4711").path

    @Test func sampleIsTheGeneratorsOutputByteForByte() throws {
        let scenario = SimpleTraceScenario()
        if ProcessInfo.processInfo.environment["SHADOWBELL_WRITE_SAMPLES"] == "1" {
            try Data(scenario.bytes).write(to: URL(fileURLWithPath: Self.samplePath))
        }
        let onDisk = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.samplePath)))
        #expect(onDisk == scenario.bytes)
        let source = try openEventSource(path: Self.samplePath, index: 0)
        #expect(try drainEvents(source) == scenario.expected)
        #expect(source.summary.format == .qemuSimple)
    }
}
