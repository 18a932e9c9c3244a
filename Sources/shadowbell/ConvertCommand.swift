import ArgumentParser
import ShadowBellCore
import ShadowBellFormats

/// `shadowbell convert PATH... --output FILE.pcap`: every recognised event of the inputs, in
/// time order, as ShadowBell binary records in a pcap file (Docs/Formats.md).
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert traces into ShadowBell's binary event format (a pcap file).",
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
            """)

    @Argument(help: "Trace files of any supported format, or - for standard input.")
    var paths: [String]

    @Option(name: .shortAndLong, help: ArgumentHelp("The pcap file to write.", valueName: "FILE.pcap"))
    var output: String

    @Option(
        name: .customLong("link-type"),
        help: ArgumentHelp(
            "Link type of the packets: LINKTYPE_USER0–USER15 (147–162), never 149.", valueName: "N"))
    var linkType: Int32 = LinkType.user0.rawValue

    @OptionGroup var binaryInputs: BinaryInputFlags

    @Option(help: ArgumentHelp("Controller number (nvme<N>) for inputs that do not name the device.", valueName: "N"))
    var controller: UInt16 = 0

    func validate() throws {
        if paths.isEmpty { throw ValidationError("give at least one trace file to convert") }
        if !isWritableShadowBellLinkType(LinkType(linkType)) {
            throw ValidationError(
                "--link-type \(linkType): use LINKTYPE_USER0–USER15 (147–162) except 149; the default is 147")
        }
        if paths.contains(output) { throw ValidationError("--output \(output) is also an input") }
    }

    func run() throws {
        var options = SourceOptions(controller: controller)
        do {
            try binaryInputs.apply(to: &options)
            let result = try convertToPcap(
                paths: paths, output: output, linkType: LinkType(linkType), options: options)
            var failed = false
            for input in result.inputs {
                var line = "\(input.path): \(input.format.rawValue), \(input.events) events"
                if input.malformed > 0 { line += ", \(input.malformed) malformed" }
                printToStandardError(line)
                for record in input.firstMalformed {
                    printToStandardError("  \(record.location.render(path: input.path)): \(record.reason)")
                }
                if input.events == 0 {
                    printToStandardError(InputError.noRecognisedEvents(path: input.path, format: input.format).description)
                    failed = true
                }
            }
            printToStandardError("wrote \(result.eventsWritten) events to \(output)")
            if failed { throw ExitCode(2) }
        } catch let error as InputError {
            printToStandardError("error: \(error)")
            throw ExitCode(2)
        } catch let error as ConvertError {
            printToStandardError("error: \(error)")
            if case .forbiddenLinkType = error { throw ExitCode(64) }
            throw ExitCode(2)
        }
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
