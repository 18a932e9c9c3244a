import ArgumentParser
import ShadowBellAnalysis
import ShadowBellCore
import ShadowBellFormats
import ShadowBellReport

/// `convert --to`: the output format.
enum ConvertTarget: String, ExpressibleByArgument, CaseIterable {
    case pcap
    case perfettoJSON = "perfetto-json"
}

/// `shadowbell convert PATH... --output FILE.pcap`: every recognised event of the inputs, in
/// time order, as ShadowBell binary records in a pcap file (Docs/Formats.md).
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert traces into ShadowBell's pcap format, or into a Perfetto / Chrome trace (JSON).",
        discussion: """
            Reads each PATH (any supported format, recognised by content; - for standard input) \
            and writes every recognised event, in time order, as one ShadowBell event record per \
            packet. `shadowbell analyze OUT.pcap` reports the same findings, at the same times, \
            as the analysis of the inputs. Several inputs are merged by time into one file; each \
            record keeps the input it came from, so every input stays its own clock domain.

            Examples:
              shadowbell convert qemu-trace.log --output qemu.pcap
              shadowbell convert trace-4711 --trace-events trace-events-all -o run.pcap
              shadowbell convert guest-ftrace.txt --output guest.pcap --link-type 148
              tshark -X lua_script:Docs/wireshark/shadowbell.lua -r qemu.pcap
              shadowbell convert guest.txt qemu.log --to perfetto-json -o run.json
              shadowbell convert runs/hang/ -o hang.pcap

            A run's folder (or its files, runs/hang/*) is one run, as for `report`: notes \
            beside the traces are skipped with a note each. A failed conversion leaves no file.

            Exit status: 0 written; 2 an input could not be read or holds no recognised event, \
            or the output could not be written; 64 usage error.

            --to perfetto-json writes the Chrome trace event format, for ui.perfetto.dev and \
            chrome://tracing: the inputs are analysed (and aligned) as `analyze` does; one \
            process per controller, per queue a driver track and a controller track with an \
            instant event per trace event, named by its kind with its values as args (MMIO \
            doorbells on the driver track), commands as slices from submission to completion, \
            guest kernel messages on a guest track, counters for P, S and both EventIdx \
            values, and one findings track per queue with each finding as a slice. Times are \
            microseconds since the first event of the clock domain (otherData.time_origins \
            gives that origin on the analysis clock). The document is written while the \
            analysis runs; a lone input from standard input or a pipe is read as it comes, \
            several are copied to a temporary file first (they are read twice).
            """)

    @Argument(help: "Trace files of any supported format, one run's folder (notes skipped), or - for standard input.")
    var paths: [String]

    @Option(name: .shortAndLong, help: ArgumentHelp("The file to write; - for standard output.", valueName: "FILE.pcap|FILE.json"))
    var output: String

    /// Where the output goes: `-` is standard output.
    var destination: String { output == "-" ? "/dev/stdout" : output }

    @Option(help: ArgumentHelp(
        "Output format (default: from --output's extension, .json → perfetto-json, else pcap).",
        valueName: "pcap|perfetto-json"))
    var to: ConvertTarget?

    /// The output format: `--to`, else the one `--output`'s extension names.
    var target: ConvertTarget { to ?? (output.lowercased().hasSuffix(".json") ? .perfettoJSON : .pcap) }

    @Option(
        name: .customLong("link-type"), parsing: .unconditional,
        help: ArgumentHelp(
            "Link type of the packets: LINKTYPE_USER0–USER15 (147–162), never 149.", valueName: "N"))
    var linkType: Int32 = LinkType.user0.rawValue

    @OptionGroup var binaryInputs: BinaryInputFlags

    @Flag(help: "Nothing on standard error but errors and damaged records (no line per input, no notes, no 'wrote' line).")
    var quiet = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Controller number (nvme<N>) for inputs that do not name the device.", valueName: "N"), transform: controllerNumber)
    var controller: UInt16 = 0

    func validate() throws {
        if paths.isEmpty { throw ValidationError("give at least one trace file to convert") }
        let lower = output.lowercased()
        if to == .pcap, lower.hasSuffix(".json") {
            throw ValidationError("--to pcap writes a pcap file, but --output \(output) names JSON; use --to perfetto-json or a .pcap name")
        }
        if to == .perfettoJSON, lower.hasSuffix(".pcap") || lower.hasSuffix(".pcapng") {
            throw ValidationError("--to perfetto-json writes JSON, but --output \(output) names a pcap file; use --to pcap or a .json name")
        }
        if target == .pcap, !isWritableShadowBellLinkType(LinkType(linkType)) {
            throw ValidationError(
                "--link-type \(linkType): use LINKTYPE_USER0–USER15 (147–162) except 149; the default is 147")
        }
        if output != "-", paths.contains(output) { throw ValidationError("--output \(output) is also an input") }
        if let suffix = [".gz", ".zst", ".xz", ".bz2"].first(where: { lower.hasSuffix($0) }) {
            let tool = [".gz": "gzip", ".zst": "zstd", ".xz": "xz", ".bz2": "bzip2"][suffix] ?? "gzip"
            let format = lower.contains(".json") || to == .perfettoJSON ? "--to perfetto-json " : ""
            throw ValidationError(
                "--output \(output) names a \(suffix) file, but convert does not compress; pipe it instead: \(format)-o - | \(tool) > \(output)")
        }
        if paths.filter({ $0 == "-" }).count > 1 { throw ValidationError("Standard input ('-') can be given only once.") }
    }

    func run() throws {
        // A run folder or a folder's files (`dir/*`) stand for one run, as in `report`: notes
        // are skipped with a note each.
        let run = try RunPlanner.oneRun(paths, command: "convert", quiet: quiet)
        try refuseOutputs([("--output", destination)], overInputs: run.paths + run.skipped.map(\.path))
        let output = destination
        // Written beside the output and renamed when complete: a failed conversion leaves no
        // output behind (nor a half-written one), and an earlier file of that name stays.
        let (staged, final) = Self.staging(for: output)
        // Interrupted (Ctrl-C, kill), the half-written file goes too.
        if staged != final { removeOnSignal(staged) }
        defer { removeOnSignal(nil) }
        do {
            if target == .perfettoJSON {
                try writePerfetto(run, to: staged)
            } else {
                try writePcap(run, to: staged)
            }
        } catch {
            if staged != final { unlink(staged) }
            throw error
        }
        if staged != final, !Self.replace(final, with: staged) {
            printError("error: cannot write \(output): \(String(cString: strerror(errno)))")
            unlink(staged)
            throw ExitCode(2)
        }
    }

    /// Puts the complete `staged` file in `final`'s place, with the mode and owner of the file
    /// it replaces (a private report stays private: it became 0644). The previous copy is
    /// removed first: renamed over, ext4 starts writing the new file out at once (its
    /// replace-by-rename rule, `auto_da_alloc`), which made converting to an existing file
    /// 12 ms slower than to a new one for single's 44 MB document. False when the rename fails
    /// (errno says why).
    static func replace(_ final: String, with staged: String) -> Bool {
        var old = stat()
        if stat(final, &old) == 0 {
            _ = chown(staged, old.st_uid, old.st_gid)
            _ = chmod(staged, old.st_mode & 0o7777)
            _ = unlink(final)
        }
        return rename(staged, final) == 0
    }

    /// Where to write (`staged`) and what to rename it to when complete (`final`): a new file
    /// beside the regular file `output` names — through a symbolic link, beside the file it
    /// points to, so the link stays a link — or `output` itself (`staged == final`) when it is
    /// not a regular file to be replaced: a device, a pipe, or a link into /dev or /proc such as
    /// /dev/stdout, which is written through even when standard output is a file (renaming onto
    /// it would replace the link).
    static func staging(for output: String) -> (staged: String, final: String) {
        var final = output
        var info = stat()
        if lstat(output, &info) == 0, info.st_mode & S_IFMT == S_IFLNK {
            guard let resolved = realpath(output, nil) else { return (output, output) }
            final = String(cString: resolved)
            free(resolved)
            if final.hasPrefix("/dev/") || final.hasPrefix("/proc/") || output.hasPrefix("/dev/") || output.hasPrefix("/proc/") {
                return (output, output)
            }
        }
        // Not a regular file, or not this name's alone (hard links: renamed over, its other
        // names kept the old content): written in place.
        if stat(final, &info) == 0, info.st_mode & S_IFMT != S_IFREG || info.st_nlink > 1 { return (output, output) }
        let directory = RunPlanner.directory(of: final)
        let name = final.split(separator: "/").last.map(String.init) ?? final
        return ((directory == "." && !final.hasPrefix("./") ? "" : directory + "/") + ".\(name).partial-\(getpid())", final)
    }

    func writePcap(_ run: TraceRun, to output: String) throws {
        var options = SourceOptions(controller: controller)
        do {
            try binaryInputs.apply(to: &options)
            // One recording kept in several forms (a run folder's ftrace text, `trace-cmd
            // report` and trace.dat) is written once, as analyze reads it once.
            var paths = run.paths
            let files = paths.indices.filter { isRegularFile(paths[$0]) }
            if files.count > 1 {
                let sources = files.compactMap { try? openEventSource(path: paths[$0], index: UInt16(clamping: $0), options: options) }
                if sources.count == files.count {
                    let copies = AnalysisSession.copies(among: sources)
                    for c in copies {
                        if !quiet { printError("note: skipped \(paths[files[c.copy]]): \(c.how.replacing("KEPT", with: paths[files[c.kept]])); written once, from \(paths[files[c.kept]])") }
                    }
                    let dropped = Set(copies.map { files[$0.copy] })
                    paths = paths.indices.filter { !dropped.contains($0) }.map { paths[$0] }
                }
            }
            let result = try convertToPcap(
                paths: paths, output: output, linkType: LinkType(linkType), options: options)
            // As in `analyze`: among several files, one without any recognised event is a
            // note when another has events; alone, it is an input error.
            let someEvents = result.inputs.contains { $0.events > 0 }
            var failed = false
            for input in result.inputs {
                var line = "\(input.path): \(input.format.rawValue), \(input.events) events"
                if input.malformed > 0 { line += ", \(input.malformed) malformed" }
                // --quiet: what was read only when something in it was damaged.
                if !quiet || input.malformed > 0 { printToStandardError(line) }
                for record in input.firstMalformed {
                    printToStandardError("  \(record.location.render(path: input.path)): \(record.reason)")
                }
                if input.events == 0 {
                    if paths.count > 1 && someEvents {
                        if !quiet { printError("note: skipped \(input.path): no recognised event (read as \(input.format.rawValue))") }
                    } else {
                        printError("error: \(InputError.noRecognisedEvents(path: input.path, format: input.format).description)")
                        failed = true
                    }
                }
            }
            if failed { throw ExitCode(2) }
            if !quiet { printToStandardError("wrote \(result.eventsWritten) events to \(self.output)") }
        } catch let error as InputError {
            printError("error: \(error)")
            throw ExitCode(2)
        } catch let error as ConvertError {
            printError("error: \(String(describing: error).replacing(output, with: self.output))")
            if case .forbiddenLinkType = error { throw ExitCode(64) }
            throw ExitCode(2)
        }
    }
}

extension Convert {
    /// The document is written while the analysis runs: its events as the analysis shows them
    /// (each clock domain's origin comes with the domain's first event), then, once the result
    /// is known, the findings and the origins (`otherData`, after the events). Nothing is kept
    /// on the side. An input that turns out unreadable fails the conversion (exit 2): the staged
    /// output file is removed; a pipe is given nothing more once an input is known to have failed
    /// (with several inputs, that is known before the first byte).
    func writePerfetto(_ run: TraceRun, to output: String) throws {
        var arguments = ["--controller", String(controller)]
        if let traceEvents = binaryInputs.traceEvents { arguments += ["--trace-events", traceEvents] }
        let flags = try AnalysisFlags.parse(arguments + ["--"] + run.paths)
        guard let file = fopen(output, "w") else {
            printError("error: cannot write \(self.output): \(String(cString: strerror(errno)))")
            throw ExitCode(2)
        }
        // The writer hands over a megabyte at a time. Once an input is known to have failed,
        // nothing more is written: the conversion fails.
        var writeError: Int32?
        var inputFailed = false
        let writer = PerfettoTraceWriter { chunk in
            if writeError == nil, !inputFailed, fwrite(chunk.baseAddress, 1, chunk.count, file) != chunk.count { writeError = errno }
        }
        // The document is made on a thread of its own, beside the analysis.
        let handOver = ObserverThread(observe: writer.observe) { start in
            if !start.failedInputs.isEmpty { inputFailed = true }
            writer.start(start)
        }
        let analysed = firstPass(
            flags, notes: run.skipped.map(\.path), readsTwice: false, observer: handOver.event, domainStarts: handOver.domainStart)
        handOver.finish()
        guard let report = analysed?.report, report.inputErrors.isEmpty else {
            fclose(file)
            throw ExitCode(2)
        }
        let result = report.result
        writer.finish(result: result)
        // A full disk must not leave a cut document in the output's place.
        if fflush(file) != 0, writeError == nil { writeError = errno }
        if fclose(file) != 0, writeError == nil { writeError = errno }
        if let writeError {
            printError("error: cannot write \(self.output): \(String(cString: strerror(writeError)))")
            throw ExitCode(2)
        }
        // What the analysis says of its inputs (a recording given twice is analysed once, …),
        // as `analyze` reports it.
        guard !quiet else { return }
        for note in result.notes { printToStandardError("shadowbell: note: \(note)") }
        printToStandardError("wrote \(self.output): \(result.inputs.map(\.events).reduce(0, +)) events, \(result.queues.count) queue(s), \(result.findings.count) finding(s); open it in ui.perfetto.dev or chrome://tracing")
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Diagnostics go to standard error (fd 2) so standard output stays clean.
private func printToStandardError(_ text: String) {
    let line = Array((text + "\n").utf8)
    line.withUnsafeBytes { bytes in
        var done = 0
        while done < bytes.count {
            let n = write(2, bytes.baseAddress! + done, bytes.count - done)
            if n <= 0 { break }
            done += n
        }
    }
}

/// The file a signal that ends the process removes first (a C string: the handler may only
/// make async-signal-safe calls).
nonisolated(unsafe) private var removedOnSignal: UnsafeMutablePointer<CChar>?

/// Removes `path` if SIGINT, SIGTERM or SIGHUP ends the process, then lets the signal end it as
/// it would have; nil: the signals are handled as before again. A signal the process ignores
/// (SIGHUP under `nohup`) stays ignored. The three are unblocked on this thread meanwhile: a
/// process started by a thread that blocks signals (a test runner, some supervisors) inherits
/// that mask, and a kill would wait forever.
private func removeOnSignal(_ path: String?) {
    let old = removedOnSignal
    removedOnSignal = path.flatMap { strdup($0) }
    free(old)
    let numbers = [SIGINT, SIGTERM, SIGHUP]
    var set = sigset_t()
    sigemptyset(&set)
    for number in numbers { sigaddset(&set, number) }
    guard path != nil else {
        // Nothing to undo unless the handlers were put in place.
        guard !handlersBeforeRemoving.isEmpty else { return }
        for (number, previous) in zip(numbers, handlersBeforeRemoving) { signal(number, previous) }
        handlersBeforeRemoving = []
        pthread_sigmask(SIG_SETMASK, &maskBeforeRemoving, nil)
        return
    }
    guard handlersBeforeRemoving.isEmpty else { return }
    for number in numbers {
        let previous = signal(number, { number in
            if let file = removedOnSignal { unlink(file) }
            signal(number, SIG_DFL)
            raise(number)
        })
        if unsafeBitCast(previous, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) { signal(number, SIG_IGN) }
        handlersBeforeRemoving.append(previous)
    }
    pthread_sigmask(SIG_UNBLOCK, &set, &maskBeforeRemoving)
}

nonisolated(unsafe) private var maskBeforeRemoving = sigset_t()
nonisolated(unsafe) private var handlersBeforeRemoving: [__sighandler_t?] = []
