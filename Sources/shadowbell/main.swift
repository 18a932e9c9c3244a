import ArgumentParser
#if canImport(Glibc)
    // `stdout` is C's global: read once, at exit.
    @preconcurrency import Glibc
#endif

struct ShadowBell: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shadowbell",
        abstract: "Find lost doorbells and mutual waits in NVMe shadow-doorbell traces.",
        discussion: """
            ShadowBell reads Linux ftrace text, trace-cmd's trace.dat and `trace-cmd report` \
            text, perf script text, QEMU trace logs, QEMU simple traces, guest console/dmesg \
            logs and ShadowBell pcap files (the format is detected from the \
            content), puts guest and host traces on one time axis, rebuilds the doorbell/EventIdx \
            timeline of every queue and reports the windows where driver and controller waited \
            on each other, with the evidence lines and the likely cause.

            Examples:
              shadowbell analyze SampleTraces/lab/sq-hang.txt
              shadowbell analyze guest-ftrace.txt qemu-trace.log console.log
              shadowbell analyze runs/ --format junit --output junit.xml
              shadowbell report SampleTraces/lab/sq-hang.txt --output report.html
              shadowbell timeline SampleTraces/lab/sq-hang.txt --queue sq1 \\
                  --from 100.0015 --to 100.003
              shadowbell simulate --seed 7 --driver-barrier off --output sim.txt \\
                  --truth truth.json
              shadowbell summarize nightly/*.jsonl --by kernel --format html \\
                  --output fleet.html
            """,
        version: "0.1.0",
        subcommands: ShadowBell.commands,
        defaultSubcommand: Analyze.self
    )
}

// `shadowbell help WORD` of a word that is no command printed the top-level help and exited 0.
let words = CommandLine.arguments.dropFirst()
if words.first == "help", let word = words.dropFirst().first, !word.hasPrefix("-"), word != "help", !ShadowBell.commandNames.contains(word) {
    let meant = ShadowBell.commandMeant(by: word).map { "; did you mean 'shadowbell help \($0)'?" } ?? ""
    printError("error: no command '\(word)' (the commands are \(ShadowBell.commandNames.joined(separator: ", ")))\(meant)")
    exit(64)
}
// A file-size limit (`ulimit -f`) is a write that fails, said and exit 2, not a kill by SIGXFSZ
// that leaves a cut report and a half-written temporary file without a word.
signal(SIGXFSZ, SIG_IGN)
// What a command printed is written out of stdio's buffer at exit at the latest: a report that
// standard output could not take (a full disk, a file-size limit) is an error (exit 2), not the
// findings' status with the report cut or lost.
atexit {
    errno = 0
    let flushed = fflush(stdout) == 0
    let reason = errno
    guard !flushed || ferror(stdout) != 0 else { return }
    printError("error: cannot write standard output: \(reason != 0 ? String(cString: strerror(reason)) : "a write to it failed"): the report is lost or cut short")
    _exit(2)
}
ShadowBell.main()
