import Foundation
import Testing
@testable import shadowbell

/// Decoding one text input on several threads, in line-aligned segments, must give the same
/// report, byte for byte, as decoding it on one.
@Suite struct ParallelDecodingTests {
    /// A multi-MB lab trace from the simulator, with hangs (so there are findings).
    static let labTrace: String = {
        let path = temporaryPath("parallel-lab.txt")
        let status = runCommand([
            "simulate", "--seed", "3", "--profile", "racing", "--driver-barrier", "off",
            "--duration-us", "20000", "--output", path,
        ])
        precondition(status == 0)
        return path
    }()

    static let fieldTraces: (guest: String, qemu: String) = {
        let guest = temporaryPath("parallel-guest.txt"), qemu = temporaryPath("parallel-qemu.log")
        let status = runCommand([
            "simulate", "--seed", "9", "--fault", "no-cq-eventidx", "--duration-us", "20000",
            "--output", guest, "--qemu-log", qemu,
        ])
        precondition(status == 0)
        return (guest, qemu)
    }()

    func report(_ paths: [String], threads: Int, segment: Int? = nil) throws -> String {
        var extra = ["--decode-threads", "\(threads)"]
        if let segment { extra += ["--decode-segment-size", "\(segment)"] }
        return try analyzeJSON(paths, extra: extra).text
    }

    func expectSameReports(_ paths: [String]) throws {
        let sequential = try report(paths, threads: 1)
        #expect(sequential.contains("\"findings\""))
        for (threads, segment) in [(2, nil), (2, 65_536), (3, 4_099), (4, 1)] as [(Int, Int?)] {
            let parallel = try report(paths, threads: threads, segment: segment)
            #expect(parallel == sequential, "threads \(threads), segment \(segment.map(String.init) ?? "default")")
        }
    }

    @Test func labTraceReportIsIdentical() throws {
        let size = try FileManager.default.attributesOfItem(atPath: Self.labTrace)[.size] as? Int ?? 0
        #expect(size > 4 << 20)
        try expectSameReports([Self.labTrace])
    }

    /// The lines `explain` quotes are found from the line marks the decoding left (one every
    /// MiB at most): the same text as read from the start, and the lines of the file.
    @Test func quotedLinesAreFoundFromTheMarks() throws {
        let (status, json, _) = try analyzeJSON([Self.labTrace])
        #expect(status == 1)
        let findings = try #require(json["findings"] as? [[String: Any]])
        let last = findings.count
        let lines = try String(contentsOfFile: Self.labTrace, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        var explained: [String] = []
        for extra in [["--decode-threads", "1"], ["--decode-threads", "2"], ["--decode-threads", "2", "--decode-segment-size", "65536"]] {
            let run = try runProcess(["explain", Self.labTrace, "--finding", "\(last)"] + extra)
            #expect(run.status == 0, "\(run.stderr)")
            explained.append(run.stdout)
        }
        #expect(explained[1] == explained[0] && explained[2] == explained[0])
        // Its evidence lies past the first MiB; each quoted line is the file's.
        let quoted = explained[0].split(separator: "\n").compactMap { line -> (Int, String)? in
            guard let range = line.range(of: "parallel-lab.txt:"), let colon = line[range.upperBound...].firstIndex(of: " ") else { return nil }
            return Int(line[range.upperBound..<colon]).map { ($0, String(line)) }
        }
        #expect(quoted.contains { $0.0 > 20_000 })
        for (number, _) in quoted where number <= lines.count {
            #expect(explained[0].contains(String(lines[number - 1].prefix(60))), "line \(number)")
        }
    }

    @Test func fieldTracesReportIsIdentical() throws {
        try expectSameReports([Self.fieldTraces.guest, Self.fieldTraces.qemu])
    }

    /// Lost-events markers right after segment boundaries take the time of an event line in an
    /// earlier segment; malformed lines keep their line numbers; CRLF and a last line without
    /// newline are framed the same way.
    @Test func markersMalformedLinesAndLineEndsAcrossSegments() throws {
        let lines = try String(contentsOfFile: Self.labTrace, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        var text = ""
        for (i, line) in lines.prefix(60_000).enumerated() {
            if i % 997 == 0 { text += "CPU:1 [LOST \(i) EVENTS]\n" }
            if i % 1_499 == 0 { text += "  kworker-1 [000] .... 1.0: nvme_setup_cmd: nvme0: qid=x\n" }
            text += line + (i % 5 == 0 ? "\r\n" : "\n")
        }
        text += "CPU:0 [LOST 3 EVENTS]"
        let path = temporaryPath("parallel-damaged.txt")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try expectSameReports([path])
    }

    /// A QEMU log with untimed (bare) lines: their times come from earlier lines, so segments
    /// holding them are decoded again in order.
    @Test func qemuLogWithBareLines() throws {
        let lines = try String(contentsOfFile: Self.fieldTraces.qemu, encoding: .utf8).split(separator: "\n")
        var text = ""
        for (i, line) in lines.prefix(40_000).enumerated() {
            if i % 700 == 1, let colon = line.firstIndex(of: ":") {
                text += line[line.index(after: colon)...] + "\n"
            } else {
                text += line + "\n"
            }
        }
        let path = temporaryPath("parallel-bare.log")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try expectSameReports([path])
    }

    /// A QEMU log kept by the journal, whose rate limit dropped lines (`Suppressed N messages
    /// from …`): each such line is a gap at the time of the event before it, in an earlier
    /// segment where a segment begins with one.
    @Test func qemuLogWithTheJournalsSuppressedLines() throws {
        let lines = try String(contentsOfFile: Self.fieldTraces.qemu, encoding: .utf8).split(separator: "\n")
        var text = ""
        for (i, line) in lines.prefix(40_000).enumerated() {
            if i % 911 == 3 { text += "Dec  5 20:17:45 host systemd-journald[312]: Suppressed \(i) messages from qemu-vm.service\n" }
            text += "Dec  5 20:17:45 host qemu-system-x86_64[4711]: " + line + "\n"
        }
        let path = temporaryPath("parallel-suppressed.log")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try expectSameReports([path])
        let json = try analyzeJSON([path]).json
        let input = (json["inputs"] as? [[String: Any]])?.first ?? [:]
        #expect(input["data_loss_markers"] as? Int == 44, "\(input)")
    }

    /// Standard input is cut into segments as it is read.
    @Test func standardInputGivesTheFileReport() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.labTrace))
        let piped = try runProcess(["analyze", "-", "--format", "json", "--decode-segment-size", "100000"], stdin: data)
        let file = try runProcess(["analyze", Self.labTrace, "--format", "json", "--decode-threads", "1"])
        #expect(piped.status == file.status)
        // The run's environment is read from files, not from standard input (Docs/Fleet.md).
        #expect(Self.withoutEnvironment(piped.stdout) == Self.withoutEnvironment(file.stdout.replacingOccurrences(of: Self.labTrace, with: "-")))
    }

    /// A pretty JSON report without its top-level `environment` member.
    static func withoutEnvironment(_ json: String) -> String {
        guard let start = json.range(of: ",\n  \"environment\": {"),
            let end = json.range(of: "\n  }", range: start.upperBound..<json.endIndex)
        else { return json }
        return String(json[..<start.lowerBound] + json[end.upperBound...])
    }
}
