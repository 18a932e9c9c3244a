import ArgumentParser
import ShadowBellAnalysis
import ShadowBellCore
import ShadowBellReport

/// `shadowbell report PATH... --output FILE.html`.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write one self-contained HTML report with a timeline picture of every finding.",
        discussion: """
            The page holds a summary (inputs, clock alignment, queues, findings) and, for each \
            finding, a timeline of its queue around the window: the values the driver published \
            (P) and the controller saw (S), both sides' EventIdx, the MMIO doorbells, the \
            controller's waits, the window shaded, and the evidence lines quoted from the inputs. \
            Everything is inline (CSS and SVG, no script, no font or image from the network): \
            attach it to a CI job or a bug report and open it anywhere. The inputs are read \
            twice: standard input or a pipe is copied to a temporary file first. Timelines are drawn for the first \
            --max-pictures findings.

            Exit status: 0 the report was written; 2 an input could not be read (the report \
            still shows the rest); 64 usage error. Use `analyze` to gate a CI job.

            Examples:
              shadowbell report SampleTraces/lab/sq-hang.txt --output sq-hang.html
              shadowbell report guest.txt qemu.log -o r.html
              chromium --headless --screenshot=r.png --window-size=1400,2000 r.html
                  (as root, chromium also needs --no-sandbox)
            """)

    @OptionGroup var flags: AnalysisFlags

    @Option(name: .shortAndLong, help: ArgumentHelp("The HTML file to write ('-' = standard output).", valueName: "file.html"))
    var output: String

    @Option(name: .customLong("max-pictures"), parsing: .unconditional, help: ArgumentHelp("Draw timelines for at most this many findings.", valueName: "n"))
    var maxPictures: Int = 60

    /// Extensions of files that are not HTML: those of traces, notes and the other outputs.
    static let otherKinds: Set<String> = [
        "json", "jsonl", "xml", "txt", "md", "log", "csv", "svg", "png", "pdf", "pcap", "pcapng", "dat", "gz", "zst", "xz", "bz2",
    ]

    func validate() throws {
        try flags.requirePaths("shadowbell report SampleTraces/lab/sq-hang.txt --output report.html")
        if output != "-", flags.paths.contains(output) { throw ValidationError("--output \(output) is also an input; choose another file name") }
        // A name that says another kind of file (`-o out.json`, `-o README.md`) is a slip: the
        // report is HTML.
        // (An output that is an input is refused as such, later.)
        let name = output.split(separator: "/").last.map(String.init) ?? output
        if input(among: flags.paths, sameAs: output) == nil, let dot = name.lastIndex(of: "."), dot != name.startIndex {
            let ext = name[name.index(after: dot)...].lowercased()
            if Self.otherKinds.contains(ext) {
                throw ValidationError("--output \(output) names a .\(ext) file, but report writes HTML; give a .html name (or '-' for standard output)")
            }
        }
        if maxPictures < 0 { throw ValidationError("--max-pictures must not be negative") }
    }

    func run() throws {
        let analysis = try TwoPassAnalysis.run(
            flags: flags, command: "report", limit: maxPictures, writing: [("--output", output)],
            quoting: { evidenceLocations($0.result.findings) })
        let html = HTMLReport.render(analysis.report, timelines: analysis.timelines, inputLines: analysis.inputLines)
        try writeOutput(html, to: output)
        if output != "-" && !flags.quiet {
            printError("wrote \(output): \(analysis.report.result.findings.count) finding(s), \(analysis.timelines.filter { !$0.samples.isEmpty }.count) timeline(s)")
        }
        if !analysis.report.inputErrors.isEmpty { throw ExitCode(2) }
    }
}
