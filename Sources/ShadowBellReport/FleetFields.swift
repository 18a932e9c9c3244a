import ShadowBellCore

/// `--label key=value`: one label of a run.
public struct RunLabel: Sendable, Equatable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }

    /// Parses `key=value`; the key is letters, digits, `_`, `-` and `.` (so it can name a
    /// column in a database or a group in `summarize --by`), the value anything. Nil (with no
    /// side effect) when the text is not of that shape.
    public static func parse(_ text: String) -> RunLabel? {
        guard let eq = text.firstIndex(of: "=") else { return nil }
        let key = String(text[..<eq]), value = String(text[text.index(after: eq)...])
        guard !key.isEmpty, key.utf8.count <= 64, key.utf8.allSatisfy(isKeyByte) else { return nil }
        return RunLabel(key: key, value: value)
    }

    static func isKeyByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)
            || b == UInt8(ascii: "_") || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
    }

    /// The labels of a command line in key order, the last value of a repeated key winning.
    public static func normalized(_ labels: [RunLabel]) -> [RunLabel] {
        var byKey: [String: String] = [:]
        for l in labels { byKey[l.key] = l.value }
        return byKey.keys.sorted().map { RunLabel(key: $0, value: byKey[$0]!) }
    }
}

/// The findings of a run that a baseline already held (Baseline.swift).
public struct BaselineMatch: Sendable, Equatable {
    /// The baseline file as named on the command line.
    public var path: String
    /// Per finding, in report order: whether the baseline held it.
    public var known: [Bool]

    public init(path: String, known: [Bool]) {
        self.path = path
        self.known = known
    }
}

/// The members a report carries for fleets: labels, environment and baseline (Docs/Fleet.md).
enum FleetFields {
    static func members(_ report: AnalysisReport) -> [(String, JSONValue)] {
        var members: [(String, JSONValue)] = [
            ("labels", .object(report.labels.map { ($0.key, .string($0.value)) })),
            ("environment", environment(report.environment)),
        ]
        if let b = report.baseline {
            let known = b.known.filter { $0 }.count
            members.append(("baseline", .object([
                ("path", .string(b.path)),
                ("known_findings", .int(Int64(known))),
                ("new_findings", .int(Int64(b.known.count - known))),
            ])))
        }
        return members
    }

    static func environment(_ e: RunEnvironment) -> JSONValue {
        func text(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        return .object([
            ("guest_kernel", text(e.guestKernel)),
            ("guest_kernel_source", text(e.guestKernelSource)),
            ("qemu_version", text(e.qemuVersion)),
            ("qemu_version_source", text(e.qemuVersionSource)),
            ("qemu_event_names", text(e.qemuEventNames?.rawValue)),
            ("qemu_binary", text(e.qemuBinary)),
            ("qemu_machine", text(e.qemuMachine)),
        ])
    }
}
