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
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shadowbell-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}

/// Runs a command in-process the way `shadowbell` would; returns its exit status.
func runCommand(_ arguments: [String]) -> Int32 {
    do {
        var command = try ShadowBell.parseAsRoot(arguments)
        try command.run()
        return 0
    } catch {
        return ShadowBell.exitCode(for: error).rawValue
    }
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
func runProcess(_ arguments: [String], stdin: Data? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executablePath)
    p.arguments = arguments
    p.currentDirectoryURL = packageRoot
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
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}
