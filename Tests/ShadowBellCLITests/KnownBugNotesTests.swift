import Foundation
import Testing

/// A run folder's notes name the QEMU version; a known bug that version has fixed is not named.
@Suite struct KnownBugNotesTests {
    /// A simulated over-committed SQ (guest ftrace and QEMU log) in a folder whose README names
    /// `qemu`; the known bug of its controller-idle-with-work finding.
    static func namedBug(qemu: String?) throws -> String? {
        try inTemporaryFolder("notes") { dir in
            #expect(runCommand([
                "simulate", "--seed", "4", "--profile", "racing", "--duration-us", "3000", "--timeout-divisor", "60000",
                "--fault-at-us", "200", "--fault", "overcommitted-sq", "--controller-requests", "8",
                "--output", dir + "/guest-ftrace.txt", "--qemu-log", dir + "/qemu-trace.log",
            ]) == 0)
            if let qemu {
                try "# Run\n- QEMU: QEMU emulator version \(qemu) (Debian 1:\(qemu)+ds-1)\n".write(
                    toFile: dir + "/README.md", atomically: true, encoding: .utf8)
            }
            let (_, json, _) = try analyzeJSON([dir], extra: ["--min-wait", "100us", "--inferred-min-wait", "100us"])
            let run = (json["runs"] as? [[String: Any]])?.first ?? json
            let findings = run["findings"] as? [[String: Any]] ?? []
            let idle = try #require(findings.first { $0["kind"] as? String == "controller-idle-with-work" })
            return (idle["known_bug"] as? [String: Any])?["id"] as? String
        }
    }

    @Test func theQemuVersionOfTheNotesExcludesWhatItFixed() throws {
        #expect(try Self.namedBug(qemu: "9.2.0") == nil)
        #expect(try Self.namedBug(qemu: "9.1.2") == "qemu-overcommitted-sq")
        #expect(try Self.namedBug(qemu: nil) == "qemu-overcommitted-sq")
    }
}
