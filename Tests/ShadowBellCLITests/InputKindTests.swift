import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Every command on every kind of input file: a regular file, standard input, a FIFO,
/// /dev/zero, a directory, an unreadable file. Each ends, within a deadline, with a contract
/// status (0, 1 or 2; 64 for a usage error) and says why when it fails.
@Suite(.serialized) struct InputKindTests {
    /// Each command with the arguments it needs around its input (the output goes to a file).
    static func commands(_ input: String) -> [(name: String, arguments: [String])] {
        let out = temporaryPath("kind-\(UUID().uuidString)")
        return [
            ("analyze", ["analyze", input, "--quiet"]),
            ("report", ["report", input, "--output", out + ".html", "--quiet"]),
            ("explain", ["explain", input, "--finding", "1", "--quiet"]),
            ("timeline", ["timeline", input, "--quiet"]),
            ("convert-pcap", ["convert", input, "--output", out + ".pcap"]),
            ("convert-perfetto", ["convert", input, "--output", out + ".json", "--to", "perfetto-json"]),
        ]
    }

    static let deadline: TimeInterval = 60

    struct Outcome {
        var status: Int32
        var stderr: String
        var timedOut: Bool
    }

    /// Runs the executable with a deadline; standard input is `stdin` (a file) or nothing.
    func run(_ arguments: [String], stdin: String? = nil, feedFIFO fifo: String? = nil, with text: Data = Data()) throws -> Outcome {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executablePath)
        p.arguments = arguments
        p.currentDirectoryURL = packageRoot
        let err = temporaryPath("kind-\(UUID().uuidString).err")
        FileManager.default.createFile(atPath: err, contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        p.standardOutput = FileHandle.nullDevice
        p.standardInput = try stdin.map { try FileHandle(forReadingFrom: URL(fileURLWithPath: $0)) } ?? FileHandle.nullDevice
        try p.run()
        if let fifo {
            // The writer waits for a reader without blocking, so that a command that refuses
            // the FIFO before opening it does not leave the test waiting.
            let writer = Thread {
                var fd: Int32 = -1
                while p.isRunning {
                    fd = open(fifo, O_WRONLY | O_NONBLOCK)
                    if fd >= 0 { break }
                    usleep(5_000)
                }
                guard fd >= 0 else { return }
                _ = fcntl(fd, F_SETFL, 0)
                text.withUnsafeBytes { bytes in
                    var written = 0
                    while written < bytes.count {
                        let n = write(fd, bytes.baseAddress! + written, bytes.count - written)
                        if n <= 0 { break }
                        written += n
                    }
                }
                close(fd)
            }
            writer.start()
        }
        let start = Date()
        while p.isRunning && Date().timeIntervalSince(start) < Self.deadline { usleep(10_000) }
        let timedOut = p.isRunning
        if timedOut {
            p.terminate()
            // A reader blocked in open() of the FIFO needs a writer to come and go.
            if let fifo { let fd = open(fifo, O_WRONLY | O_NONBLOCK); if fd >= 0 { close(fd) } }
        }
        p.waitUntilExit()
        let message = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        return Outcome(status: p.terminationStatus, stderr: message, timedOut: timedOut)
    }

    init() { signal(SIGPIPE, SIG_IGN) }

    func expectContract(_ o: Outcome, _ what: String, allowed: Set<Int32> = [0, 1, 2, 64]) {
        #expect(!o.timedOut, "\(what) hung")
        #expect(allowed.contains(o.status), "\(what): status \(o.status), \(o.stderr)")
        if o.status == 2 || o.status == 64 { #expect(!o.stderr.isEmpty, "\(what) failed without a message") }
    }

    @Test func regularFileAndStandardInput() throws {
        let trace = sample("lab/sq-hang.txt")
        for c in Self.commands(trace) { expectContract(try run(c.arguments), "\(c.name) on a file", allowed: [0, 1]) }
        for c in Self.commands("-") {
            let o = try run(c.arguments, stdin: trace)
            // A command that reads its input twice refuses standard input with a message.
            expectContract(o, "\(c.name) on standard input")
        }
    }

    @Test func fifo() throws {
        let text = try Data(contentsOf: URL(fileURLWithPath: sample("lab/sq-hang.txt")))
        for c in Self.commands("FIFO") {
            let fifo = temporaryPath("kind-\(UUID().uuidString).fifo")
            #expect(mkfifo(fifo, 0o600) == 0)
            defer { unlink(fifo) }
            let arguments = c.arguments.map { $0 == "FIFO" ? fifo : $0 }
            let o = try run(arguments, feedFIFO: fifo, with: text)
            expectContract(o, "\(c.name) on a FIFO")
            if c.name == "analyze" || c.name == "convert-pcap" { #expect(o.status == 0 || o.status == 1, "\(c.name): \(o.stderr)") }
        }
    }

    @Test func devZeroDirectoryAndUnreadableInputs() throws {
        let directory = temporaryPath("kind-dir-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // /proc/self/mem opens but cannot be read from offset 0; a missing file does not open.
        var inputs = ["/dev/zero", directory, "/proc/self/mem", temporaryPath("no-such-trace.txt")]
        if getuid() != 0 {
            let locked = temporaryPath("kind-locked.txt")
            try Data("x\n".utf8).write(to: URL(fileURLWithPath: locked))
            chmod(locked, 0)
            inputs.append(locked)
        }
        for input in inputs {
            for c in Self.commands(input) {
                let o = try run(c.arguments)
                expectContract(o, "\(c.name) on \(input)", allowed: [2, 64])
            }
        }
    }
}
