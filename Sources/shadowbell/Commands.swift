import ArgumentParser

extension ShadowBell {
    /// Every subcommand, in the order `--help` lists them.
    static let commands: [ParsableCommand.Type] = [Analyze.self, Report.self, Explain.self, Timeline.self, Convert.self, Simulate.self]
}
