/// The simulator's entry points. `run` executes the model; the renderers write its trace.
public enum Simulator {
    /// Runs the model without writing a trace: the ground truth and counts only.
    public static func run(_ config: SimulationConfig) throws(SimulatorError) -> SimulationResult {
        if let why = config.validationError() { throw .invalidConfiguration(why) }
        return Engine(config: config, sink: nil).run()
    }

    /// Runs the model and hands every trace record, in time order, to `sink`.
    public static func run(_ config: SimulationConfig, into sink: TraceSink) throws(SimulatorError)
        -> SimulationResult
    {
        if let why = config.validationError() { throw .invalidConfiguration(why) }
        var result = Engine(config: config, sink: sink).run()
        try sink.finish()
        if let r = sink as? TraceRenderer {
            result.traceBytes = r.mainBytes
            result.qemuLogBytes = r.qemuLogBytes
        }
        return result
    }

    /// Lab mode: one ftrace text file with driver probes, guest tracepoints, QEMU events as
    /// `tracing_mark_write` and noise.
    public static func writeLabTrace(_ config: SimulationConfig, to path: String, progress: ((String, Int) -> Void)? = nil)
        throws(SimulatorError) -> SimulationResult
    {
        let renderer = try TraceRenderer(config: config, tracePath: path, qemuLogPath: nil, progress: progress)
        return try run(config, into: renderer)
    }

    /// Field mode: guest ftrace without probes or QEMU events at `tracePath`, and the QEMU log
    /// (`pid@sec.usec:event args`, on the host clock) at `qemuLogPath`.
    public static func writeFieldTraces(
        _ config: SimulationConfig, tracePath: String, qemuLogPath: String, progress: ((String, Int) -> Void)? = nil
    ) throws(SimulatorError) -> SimulationResult {
        let renderer = try TraceRenderer(config: config, tracePath: tracePath, qemuLogPath: qemuLogPath, progress: progress)
        return try run(config, into: renderer)
    }
}
