import ArgumentParser
import Foundation
import ShadowBellCore
import ShadowBellFormats
import Testing

@testable import shadowbell

@Suite struct ConvertCommandTests {
    func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("sb-convert-\(UUID().uuidString)-\(name)").path
    }

    @Test func parsesPathsOutputAndLinkType() throws {
        let command = try Convert.parse(["a.log", "b.txt", "--output", "out.pcap", "--link-type", "150"])
        #expect(command.paths == ["a.log", "b.txt"])
        #expect(command.output == "out.pcap")
        #expect(command.linkType == 150)
        #expect(try Convert.parse(["a.log", "-o", "x.pcap"]).linkType == 147)
    }

    /// `convert --quiet` still wrote a line per input and "wrote N events" on standard error.
    @Test func quietConvertWritesNothingButErrors() throws {
        for to in ["pcap", "perfetto-json"] {
            let out = temporaryPath("quiet.\(to == "pcap" ? "pcap" : "json")")
            defer { unlink(out) }
            let r = try runProcess(["convert", sample("lab/sq-hang.txt"), "--to", to, "--output", out, "--quiet"])
            #expect(r.status == 0 && r.stderr.isEmpty, "\(to): \(r.stderr)")
            let loud = try runProcess(["convert", sample("lab/sq-hang.txt"), "--to", to, "--output", out])
            #expect(loud.status == 0 && loud.stderr.contains("wrote"), "\(to): \(loud.stderr)")
        }
    }

    @Test func rejectsLinkType149AndNonUserTypesAsUsageErrors() {
        for bad in ["149", "1", "146", "163"] {
            #expect(throws: (any Error).self) {
                try Convert.parse(["a.log", "--output", "x.pcap", "--link-type", bad])
            }
            do {
                _ = try Convert.parse(["a.log", "--output", "x.pcap", "--link-type", bad])
            } catch {
                #expect(Convert.exitCode(for: error) == ExitCode(64))
            }
        }
        #expect(throws: (any Error).self) { try Convert.parse(["--output", "x.pcap"]) }
    }

    @Test func convertsAQemuLogIntoAReadablePcap() throws {
        let input = temporaryPath("qemu.log")
        let output = temporaryPath("out.pcap")
        defer {
            try? FileManager.default.removeItem(atPath: input)
            try? FileManager.default.removeItem(atPath: output)
        }
        let log = """
            4711@1690000000.000100:pci_nvme_mmio_doorbell_sq sqid 1 new_tail 17
            4711@1690000000.000050:pci_nvme_shadow_doorbell_sq sqid 1 new_shadow_doorbell 16
            4711@1690000000.000200:pci_nvme_eventidx_sq sqid 1 new_eventidx 17

            """
        try log.write(toFile: input, atomically: true, encoding: .utf8)
        let command = try Convert.parse([input, "--output", output])
        try command.run()
        let source = try openEventSource(path: output, index: 0)
        var events: [Event] = []
        var batch: [Event] = []
        while try source.nextBatch(into: &batch) { events += batch }
        #expect(events.map(\.kind) == [.mmioDoorbell, .controllerShadowRead, .controllerEventIdxWrite])
        #expect(events.map(\.time) == [1_690_000_000_000_100_000, 1_690_000_000_000_050_000, 1_690_000_000_000_200_000])
        #expect(source.summary.format == .pcap)
    }

    /// A trace.dat converts like any input: the pcap holds the events read from it, in order.
    @Test func convertsATraceDat() throws {
        let input = packageRoot.appendingPathComponent("Tests/ShadowBellFormatsTests/Fixtures/tracedat/two-buffers-v7-zstd.dat").path
        let output = temporaryPath("dat.pcap")
        defer { try? FileManager.default.removeItem(atPath: output) }
        try Convert.parse([input, "--output", output]).run()
        func events(_ path: String) throws -> [Event] {
            let source = try openEventSource(path: path, index: 0)
            var all: [Event] = []
            var batch: [Event] = []
            while try source.nextBatch(into: &batch) { all += batch }
            return all.map {
                var e = $0
                e.location = 0
                return e
            }
        }
        let converted = try events(output)
        #expect(converted.count == 7)
        #expect(converted == (try events(input)))
    }

    @Test func inputWithoutEventsExitsWith2() throws {
        let input = temporaryPath("empty.log")
        let output = temporaryPath("out.pcap")
        defer {
            try? FileManager.default.removeItem(atPath: input)
            try? FileManager.default.removeItem(atPath: output)
        }
        try "4711@1690000000.000100:pci_nvme_mmio_read addr 0x0 size 4\n".write(
            toFile: input, atomically: true, encoding: .utf8)
        let command = try Convert.parse([input, "--output", output])
        #expect(throws: ExitCode(2)) { try command.run() }
    }

    /// A link to a regular file stays a link: the document replaces the file it points to.
    @Test(arguments: ["x.pcap", "x.json"])
    func anOutputThroughASymbolicLinkReplacesItsTarget(_ name: String) throws {
        let dir = temporaryPath("link-\(name)")
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("old".utf8).write(to: URL(fileURLWithPath: dir + "/data/" + name))
        #expect(symlink("data/" + name, dir + "/" + name) == 0)
        let r = try runProcess(["convert", sample("lab/sq-hang.txt"), "-o", dir + "/" + name])
        #expect(r.status == 0, "\(r.stderr)")
        var info = stat()
        #expect(lstat(dir + "/" + name, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK, "the link was replaced")
        let written = try Data(contentsOf: URL(fileURLWithPath: dir + "/data/" + name))
        #expect(written.count > 100 && written != Data("old".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/data") == [name], "nothing staged is left")
    }

    /// `-o /dev/stdout` with standard output redirected to a file writes the document into that
    /// file; the link /dev/stdout is never replaced by a file (as root, renaming onto it would).
    @Test func devStdoutRedirectedToAFileIsWrittenThrough() throws {
        var info = stat()
        try #require(lstat("/dev/stdout", &info) == 0 && info.st_mode & S_IFMT == S_IFLNK, "/dev/stdout is not a link here")
        let out = temporaryPath("stdout.json")
        defer { unlink(out) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executablePath)
        p.arguments = ["convert", sample("lab/sq-hang.txt"), "--to", "perfetto-json", "-o", "/dev/stdout"]
        FileManager.default.createFile(atPath: out, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(lstat("/dev/stdout", &info) == 0 && info.st_mode & S_IFMT == S_IFLNK, "/dev/stdout was replaced")
        let text = try String(contentsOfFile: out, encoding: .utf8)
        #expect(text.hasPrefix("{\"displayTimeUnit\"") && text.contains("\"otherData\""))
    }

    /// An output that is one of the inputs under another name — another spelling, a link to it,
    /// a file of the run folder — is refused (64) and the input is left as it was.
    @Test func anOutputThatIsAnInputByAnotherNameIsRefused() throws {
        let dir = temporaryPath("same-file")
        try FileManager.default.createDirectory(atPath: dir + "/run", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let trace = try Data(contentsOf: URL(fileURLWithPath: sample("lab/sq-hang.txt")))
        try trace.write(to: URL(fileURLWithPath: dir + "/run/guest.txt"))
        try trace.write(to: URL(fileURLWithPath: dir + "/trace.json"))
        try Data("notes\n".utf8).write(to: URL(fileURLWithPath: dir + "/run/notes.md"))
        #expect(symlink("run/guest.txt", dir + "/link.pcap") == 0)
        let cases: [([String], String)] = [
            ([dir + "/./trace.json"], dir + "/trace.json"),
            ([dir + "/run/guest.txt"], dir + "/link.pcap"),
            ([dir + "/run"], dir + "/run/guest.txt"),
            ([dir + "/run"], dir + "/run/notes.md"),
        ]
        for (inputs, output) in cases {
            let r = try runProcess(["convert"] + inputs + ["-o", output])
            #expect(r.status == 64, "\(inputs) -o \(output): \(r.stderr)")
            #expect(r.stderr.contains("the same file"), "\(r.stderr)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/run/guest.txt")) == trace)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/trace.json")) == trace)
        #expect(try String(contentsOfFile: dir + "/run/notes.md", encoding: .utf8) == "notes\n")
    }

    /// `-o -` is standard output, also with standard input as the input.
    @Test func aDashOutputIsStandardOutput() throws {
        let json = try runProcess(["convert", sample("lab/sq-hang.txt"), "--to", "perfetto-json", "-o", "-"])
        #expect(json.status == 0, "\(json.stderr)")
        #expect(json.stdout.hasPrefix("{\"displayTimeUnit\":\"ns\",\"traceEvents\":["))
        let trace = try Data(contentsOf: URL(fileURLWithPath: sample("lab/sq-hang.txt")))
        let pcap = try runProcess(["convert", "-", "-o", "-"], stdin: trace)
        #expect(pcap.status == 0, "\(pcap.stderr)")
        // The nanosecond pcap magic (its last two bytes are not UTF-8: the text shows the first two).
        #expect(pcap.stdout.hasPrefix("M<") && pcap.stdout.utf8.count > 100)
        #expect(!FileManager.default.fileExists(atPath: packageRoot.appendingPathComponent("-").path))
    }

    /// A full device is a write error that says why, in either format.
    @Test func aFullDeviceSaysSo() throws {
        try #require(FileManager.default.fileExists(atPath: "/dev/full"))
        for to in ["pcap", "perfetto-json"] {
            let r = try runProcess(["convert", sample("lab/sq-hang.txt"), "--to", to, "-o", "/dev/full"])
            #expect(r.status == 2)
            #expect(r.stderr.contains("No space left on device"), "\(to): \(r.stderr)")
        }
    }

    /// Interrupted while it writes (Ctrl-C, kill), a conversion leaves no half-written file.
    @Test(arguments: [SIGINT, SIGTERM])
    func anInterruptedConversionLeavesNoFile(_ signal: Int32) throws {
        let dir = temporaryPath("interrupted")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executablePath)
        p.arguments = ["convert", "-", "--to", "perfetto-json", "-o", dir + "/out.json"]
        let input = Pipe()
        p.standardInput = input
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // The input stays open: the conversion is still writing when the signal comes.
        try input.fileHandleForWriting.write(contentsOf: try Data(contentsOf: URL(fileURLWithPath: sample("real-single/qemu-trace.log"))))
        var staged = false
        for _ in 0..<200 where !staged {
            staged = (try FileManager.default.contentsOfDirectory(atPath: dir)).contains { $0.contains(".partial-") }
            if !staged { usleep(50_000) }
        }
        #expect(staged, "the staged file never appeared")
        kill(p.processIdentifier, signal)
        p.waitUntilExit()
        try? input.fileHandleForWriting.close()
        #expect(p.terminationReason == .uncaughtSignal && p.terminationStatus == signal)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "a file was left")
    }

    /// convert does not compress: a compressed output name is refused with the pipe to use.
    @Test func aCompressedOutputNameIsRefusedWithThePipeToUse() throws {
        for (name, hint) in [("x.json.zst", "--to perfetto-json -o - | zstd > x.json.zst"), ("x.pcap.gz", "-o - | gzip > x.pcap.gz")] {
            let out = temporaryPath(name)
            let r = try runProcess(["convert", sample("lab/sq-hang.txt"), "-o", out])
            #expect(r.status == 64)
            #expect(r.stderr.contains(hint.replacingOccurrences(of: name, with: out)), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
    }
}
