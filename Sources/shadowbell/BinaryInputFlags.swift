import ArgumentParser
import ShadowBellCore
import ShadowBellFormats

/// Options of the binary readers, for any command that reads traces
/// (`@OptionGroup var binaryInputs: BinaryInputFlags`).
struct BinaryInputFlags: ParsableArguments {
    @Option(
        name: .customLong("trace-events"),
        help: ArgumentHelp(
            "QEMU trace-events file (trace-events-all of the QEMU that wrote the trace) giving the argument layouts of events other than the built-in NVMe ones in a QEMU simple trace.",
            valueName: "FILE"))
    var traceEvents: String?

    /// Adds these settings to `options`. Throws an `InputError` if the trace-events file cannot be read.
    func apply(to options: inout SourceOptions) throws(InputError) {
        if let traceEvents {
            options.binary.traceEvents = try BinarySourceOptions.loadTraceEvents(path: traceEvents)
        }
    }
}
