import Foundation
import ShadowBellTestSupport
import Testing
@testable import shadowbell

/// The package root, found from this file's path, so tests do not depend on the working directory.
let packageRoot: URL = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
    }
    fatalError("Package.swift not found above \(#filePath)")
}()

func sample(_ relative: String) -> String { packageRoot.appendingPathComponent("SampleTraces/\(relative)").path }

func temporaryPath(_ name: String) -> String {
    processScratchDirectory("shadowbell-tests").appendingPathComponent(name).path
}

/// `body` given a new folder named from `prefix` (removed afterwards).
func inTemporaryFolder<T>(_ prefix: String, _ body: (String) throws -> T) throws -> T {
    let dir = temporaryPath("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try body(dir)
}

/// Runs a command in-process the way `shadowbell` would; returns its exit status.
/// Every JSON or JSON Lines file it writes is checked against the published schema.
func runCommand(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) -> Int32 {
    let status: Int32
    do {
        var command = try ShadowBell.parseAsRoot(arguments)
        try command.run()
        status = 0
    } catch {
        status = ShadowBell.exitCode(for: error).rawValue
    }
    for path in jsonOutputs(of: arguments) where FileManager.default.fileExists(atPath: path) {
        let problems = schemaProblems(ofFile: path)
        #expect(problems.isEmpty, "\(arguments.joined(separator: " ")): \(path) does not match Docs/schema: \(problems)", sourceLocation: sourceLocation)
    }
    return status
}

/// The files a command line writes as JSON or JSON Lines reports: `--output` with `--format
/// json|jsonl` of analyze (the default command) and summarize, and `--write-baseline`.
func jsonOutputs(of arguments: [String]) -> [String] {
    func value(_ names: Set<String>) -> String? {
        guard let i = arguments.lastIndex(where: names.contains), i + 1 < arguments.count else { return nil }
        return arguments[i + 1]
    }
    var paths: [String] = []
    if writesReportJSON(arguments), let out = value(["--output", "-o"]), out != "-" { paths.append(out) }
    if let baseline = value(["--write-baseline"]), baseline != "-" { paths.append(baseline) }
    return paths
}

/// Whether the command line writes a report as JSON or JSON Lines (not timeline's JSON events).
func writesReportJSON(_ arguments: [String]) -> Bool {
    guard let i = arguments.lastIndex(of: "--format"), i + 1 < arguments.count, ["json", "jsonl"].contains(arguments[i + 1]) else { return false }
    return !["timeline", "convert", "simulate", "explain", "report", "help"].contains(arguments.first ?? "")
}

/// Runs `analyze` with `--format json` into a file and returns the parsed document.
func analyzeJSON(_ paths: [String], extra: [String] = []) throws -> (status: Int32, json: [String: Any], text: String) {
    let out = temporaryPath(UUID().uuidString + ".json")
    let status = runCommand(["analyze"] + paths + ["--format", "json", "--output", out] + extra)
    let text = try String(contentsOfFile: out, encoding: .utf8)
    let json = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
    return (status, json, text)
}

/// The built `shadowbell` executable next to the test bundle, for process-level checks.
let executablePath: String = {
    var url = Bundle.main.bundleURL
    for _ in 0..<3 {
        let candidate = url.appendingPathComponent("shadowbell").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        url.deleteLastPathComponent()
    }
    return packageRoot.appendingPathComponent(".build/debug/shadowbell").path
}()

/// Runs the real executable; returns status, stdout and stderr.
func runProcess(
    _ arguments: [String], stdin: Data? = nil, in directory: String? = nil, environment: [String: String] = [:]
) throws -> (status: Int32, stdout: String, stderr: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executablePath)
    p.arguments = arguments
    if !environment.isEmpty {
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    p.currentDirectoryURL = directory.map { URL(fileURLWithPath: $0) } ?? packageRoot
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let input = Pipe()
    p.standardInput = stdin == nil ? FileHandle.nullDevice : input
    try p.run()
    if let stdin {
        // Written on a thread of its own: the child may fill its output pipes before it has
        // read all of its input.
        let writer = Thread { writeAllRetrying(input.fileHandleForWriting, stdin) }
        writer.start()
    }
    // Standard error is drained on a thread of its own, so neither pipe can fill up and stall.
    let errors = DrainedOutput(err.fileHandleForReading)
    let o = readAllRetrying(out.fileHandleForReading)
    let e = errors.wait()
    p.waitUntilExit()
    let stdout = String(decoding: o, as: UTF8.self)
    if writesReportJSON(arguments), !arguments.contains("--output"), !arguments.contains("-o"), !stdout.isEmpty {
        let problems = schemaProblems(ofJSON: stdout)
        #expect(problems.isEmpty, "\(arguments.joined(separator: " ")): standard output does not match Docs/schema: \(problems)")
    }
    return (p.terminationStatus, stdout, String(decoding: e, as: UTF8.self))
}
