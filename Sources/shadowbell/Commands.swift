import ArgumentParser
import FoundationEssentials

extension ShadowBell {
    /// Every subcommand, in the order `--help` lists them.
    static let commands: [ParsableCommand.Type] = [Analyze.self, Report.self, Explain.self, Timeline.self, Convert.self, Simulate.self, Summarize.self]
}

extension ShadowBell {
    /// The command a mistyped word was probably meant to be (`reprot` → `report`, `analyse` →
    /// `analyze`), when it is not a file: without this, the default command would take it as a
    /// trace path and, for `reprot x --output r.html`, write a text report into r.html.
    static func commandMeant(by word: String) -> String? {
        guard !word.isEmpty, word != "-", !word.contains("/"), !word.contains("."),
            !FileManager.default.fileExists(atPath: word)
        else { return nil }
        let lower = word.lowercased()
        let names = commands.map { $0.configuration.commandName ?? String(describing: $0).lowercased() } + ["help"]
        return names.map { (name: $0, distance: editDistance(lower, $0)) }
            .filter { $0.distance <= max(1, min(2, $0.name.count / 3)) }
            .min { ($0.distance, $0.name) < ($1.distance, $1.name) }?.name
    }

    /// The subcommands' names.
    static var commandNames: [String] {
        commands.map { $0.configuration.commandName ?? String(describing: $0).lowercased() }
    }

    /// Whether `word` reads as a command's name (lower-case letters and hyphens) and names no
    /// file.
    static func looksLikeCommand(_ word: String) -> Bool {
        !word.isEmpty && word.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D } && word.first != "-"
            && !FileManager.default.fileExists(atPath: word)
    }

    /// Optimal string alignment distance: insertions, deletions, substitutions and swaps of
    /// neighbours each cost 1.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a.utf8), y = Array(b.utf8)
        if x.isEmpty || y.isEmpty { return max(x.count, y.count) }
        var d = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
        for i in 0...x.count { d[i][0] = i }
        for j in 0...y.count { d[0][j] = j }
        for i in 1...x.count {
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[x.count][y.count]
    }
}
