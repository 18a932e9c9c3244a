import Foundation
import ShadowBellCore
@testable import ShadowBellFormats

/// Temporary files for tests (unique names in one shared directory); `remove` deletes one.
enum TempFile {
    static let directory: URL = {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("shadowbell-formats-tests")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    static func write(_ bytes: [UInt8], name: String = UUID().uuidString) -> String {
        let url = directory.appendingPathComponent(name)
        _ = FileManager.default.createFile(atPath: url.path, contents: Data(bytes))
        return url.path
    }

    static func write(_ text: String) -> String { write(Array(text.utf8)) }

    static func remove(_ path: String) { try? FileManager.default.removeItem(atPath: path) }
}

/// Every event of a source and its final summary.
struct Decoded {
    var events: [Event]
    var summary: InputSummary
    var batches: Int
}

func drain(_ source: any EventSource) throws(InputError) -> Decoded {
    var all: [Event] = []
    var buffer: [Event] = []
    var batches = 0
    while try source.nextBatch(into: &buffer) {
        expectNonEmpty(buffer)
        all.append(contentsOf: buffer)
        batches += 1
    }
    return Decoded(events: all, summary: source.summary, batches: batches)
}

/// Writes `text` to a file, opens it through format detection, and decodes it all.
func decode(_ text: String, options: SourceOptions = .init()) throws(InputError) -> Decoded {
    let path = TempFile.write(text)
    defer { TempFile.remove(path) }
    return try drain(try openEventSource(path: path, index: 3, options: options))
}

/// The path of a file in Fixtures/.
func fixturePath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent(name).path
}

import Testing

/// A batch that reports `true` must hold events.
func expectNonEmpty(_ buffer: [Event], sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    #expect(!buffer.isEmpty, "nextBatch returned true with an empty buffer", sourceLocation: sourceLocation)
}
