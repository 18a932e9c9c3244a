// Every JSON and JSON Lines output of the test suite is checked against the published schema
// (Docs/schema, draft 2020-12) by Docs/schema/validate.py, which needs Python's `jsonschema`
// package (.ci/run installs it). One validator process serves a whole test process.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The schema problems of a JSON or JSON Lines text (a report, a batch, JSON Lines, a baseline
/// or a fleet summary); empty when it is valid. A validator that cannot run is a problem too.
public func schemaProblems(ofJSON text: String) -> [String] {
    SchemaValidator.shared.problems(text)
}

/// The schema problems of a JSON or JSON Lines file.
public func schemaProblems(ofFile path: String) -> [String] {
    guard let data = FileManager.default.contents(atPath: path) else { return ["cannot read \(path)"] }
    return schemaProblems(ofJSON: String(decoding: data, as: UTF8.self))
}

/// How many texts the validator has checked in this process (tests check that they were).
public var schemaValidations: Int { SchemaValidator.shared.count }

final class SchemaValidator: @unchecked Sendable {
    static let shared = SchemaValidator()

    private let lock = NSLock()
    private var process: Process?
    private var input: FileHandle?
    private var output: Int32 = -1
    private var startFailure: String?
    private var pending: [UInt8] = []
    private var serial = 0
    private(set) var count = 0

    static let script: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            let candidate = url.appendingPathComponent("Docs/schema/validate.py")
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate.path }
        }
        return "Docs/schema/validate.py"
    }()

    private func start() {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", Self.script, "--serve"]
        let toChild = Pipe(), fromChild = Pipe()
        p.standardInput = toChild
        p.standardOutput = fromChild
        p.standardError = FileHandle.standardError
        do {
            try p.run()
        } catch {
            startFailure = "cannot start python3 \(Self.script): \(error)"
            return
        }
        process = p
        input = toChild.fileHandleForWriting
        output = fromChild.fileHandleForReading.fileDescriptor
    }

    private func readLine() -> String? {
        while true {
            if let nl = pending.firstIndex(of: 0x0a) {
                let line = String(decoding: pending[..<nl], as: UTF8.self)
                pending.removeSubrange(...nl)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
            if n > 0 {
                pending += chunk[..<n]
            } else if n == 0 || errno != EINTR {
                return nil
            }
        }
    }

    func problems(_ text: String) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        if process == nil && startFailure == nil { start() }
        if let startFailure { return [startFailure] }
        serial += 1
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("shadowbell-schema-\(getpid())-\(serial).json").path
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else { return ["cannot write \(path)"] }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let request = Array((path + "\n").utf8)
        let written = request.withUnsafeBytes { write(input!.fileDescriptor, $0.baseAddress, $0.count) }
        guard written == request.count, let verdict = readLine() else {
            startFailure = "the schema validator (python3 \(Self.script) --serve) stopped; is the jsonschema package installed? (.ci/run installs it)"
            return [startFailure!]
        }
        count += 1
        if verdict == "ok" { return [] }
        return [verdict]
    }
}
