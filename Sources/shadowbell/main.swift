import ArgumentParser

struct ShadowBell: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shadowbell",
        abstract: "Find lost doorbells and mutual waits in NVMe shadow-doorbell traces.",
        discussion: """
            ShadowBell reads Linux ftrace text, QEMU trace logs (and, where supported, QEMU simple \
            traces and ShadowBell pcap files), rebuilds the doorbell/EventIdx timeline of every \
            queue and reports the windows where driver and controller waited on each other.

            Examples:
              shadowbell analyze SampleTraces/lab/sq-hang.txt
              shadowbell analyze guest-ftrace.txt --format json --output report.json
              shadowbell timeline SampleTraces/lab/sq-hang.txt --queue sq1 --from 0.010 --to 0.020
            """,
        version: "0.1.0",
        subcommands: ShadowBell.commands,
        defaultSubcommand: Analyze.self
    )
}

ShadowBell.main()
