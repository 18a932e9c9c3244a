import ArgumentParser
import Dispatch
import FoundationEssentials
#if canImport(Glibc)
    import Glibc
#endif
import ShadowBellAnalysis
import ShadowBellCore
import ShadowBellFormats
import ShadowBellReport

/// `--group-by`: which files are analysed together as one run.
enum GroupBy: String, ExpressibleByArgument, CaseIterable {
    /// Files in the same directory are one run (a VM's guest trace, QEMU log and console log).
    case directory
    /// Every file is its own run.
    case file
}

/// The files of one run, before analysis.
struct TraceRun: Equatable {
    var name: String
    var paths: [String]
    var skipped: [SkippedFile] = []
    /// Why the run has nothing to analyse (a directory without any trace).
    var problem: String?
}

struct SkippedFile: Equatable {
    var path: String
    var reason: String

    /// `reason` without the path a reader's message may begin with (`skipped x.txt: x.txt:
    /// file is empty` said the path twice).
    init(path: String, reason: String) {
        self.path = path
        self.reason = reason.hasPrefix(path + ": ") ? String(reason.dropFirst(path.count + 2)) : reason
    }
}

/// Turns the command line's paths and `--files-from` list into runs.
///
/// Without a directory, a list or `--group-by`, the paths are ONE run (the guest trace and QEMU
/// log of one VM, put on one clock). Otherwise files in the same directory form one run, and a
/// file named directly is its own run (`--group-by directory` groups those by directory too,
/// `--group-by file` makes every file its own run). Directories are scanned recursively in name
/// order; hidden files and files that are not traces (logs of other tools, earlier reports) are
/// skipped and listed.
struct RunPlanner {
    var groupBy: GroupBy?
    var isDirectory: (String) -> Bool = RunPlanner.isDirectoryPath

    static func isDirectoryPath(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }
    var scanDirectory: (String) -> TreeScan = RunPlanner.scanTree
    /// A scan that lists these files and no empty folder (for tests).
    var listDirectory: (String) -> [String] {
        get { { [scanDirectory] in scanDirectory($0).files } }
        set { scanDirectory = { TreeScan(files: newValue($0)) } }
    }
    var isTrace: (String) -> String? = RunPlanner.whyNotTrace
    var exists: (String) -> Bool = RunPlanner.existsPath

    /// One entry from the command line or the list, after directory expansion.
    struct Item {
        var path: String
        /// Found by scanning a directory or read from a list (grouped by directory by default).
        var discovered: Bool
        /// The position of the command-line path or list entry it came from.
        var argument: Int = 0
    }

    /// Whether the paths make a batch (a directory, a list or `--group-by`) rather than one run.
    func makesBatch(paths: [String], listed: [String]) -> Bool {
        groupBy != nil || !listed.isEmpty || paths.contains { $0 != "-" && isDirectory($0) }
    }

    func plan(paths: [String], listed: [String]) -> [TraceRun] { planBatch(paths: paths, listed: listed).runs }

    /// The runs, in the order of the command line (a directory's runs in name order, a directory
    /// without any trace where it was named), and the files skipped in a directory that is no
    /// run's (a folder of scripts beside the run folders, a file at the top of a scanned tree):
    /// listed once too, with the batch.
    func planBatch(paths: [String], listed: [String]) -> (runs: [TraceRun], unowned: [SkippedFile]) {
        if !makesBatch(paths: paths, listed: listed) {
            return (paths.isEmpty ? [] : [singleRun(paths)], [])
        }
        var items: [Item] = []
        var skipped: [String: [SkippedFile]] = [:]
        // The argument each skipped file's folder came from (the first one).
        var skippedArgument: [String: Int] = [:]
        func skip(_ file: SkippedFile, argument: Int) {
            let folder = Self.runFolder(of: file.path)
            skipped[folder, default: []].append(file)
            if skippedArgument[folder] == nil { skippedArgument[folder] = argument }
        }
        // Scanned folders, whose own top is no run's folder however its files look.
        var scanned: Set<String> = []
        // Empty directories by the position of their argument (runs take their first file's).
        var emptyDirectories: [(argument: Int, run: TraceRun)] = []
        // Empty folders below a scanned one that holds runs.
        var emptyRunFolders: [(argument: Int, run: TraceRun)] = []
        for (argument, (given, fromList)) in (paths.map({ ($0, false) }) + listed.map({ ($0, true) })).enumerated() {
            // `vm-03//` is the folder `vm-03` (its runs were named `vm-03/`).
            var path = given
            while path.count > 1, path.hasSuffix("/") { path.removeLast() }
            if path != "-" && isDirectory(path) {
                scanned.insert(path)
                var found = 0
                var left: [SkippedFile] = []
                let scan = scanDirectory(path)
                for file in scan.files {
                    // A file that cannot be read (no permission, a link to nothing, a folder
                    // that cannot be listed) is kept: its run fails as an input error (exit 2)
                    // rather than pass without it, as when it is named.
                    // A trace in a form ShadowBell does not read (bzip2, an archive, perf.data) is
                    // kept too: its run was judged from its other files and passed (exit 0)
                    // with a hung guest's trace in a .bz2 beside them.
                    if let why = isTrace(file), !Self.isReadError(why, of: file), !Self.isUnreadTrace(why) {
                        left.append(SkippedFile(path: file, reason: why))
                    } else {
                        items.append(Item(path: file, discovered: true, argument: argument))
                        found += 1
                    }
                }
                for other in scan.notRegular {
                    left.append(SkippedFile(path: other, reason: "not a regular file (a FIFO, socket or device is not read from a folder: it may never end); name it to read it"))
                }
                for d in scan.duplicates {
                    left.append(SkippedFile(path: d.path, reason: "the folder \(d.of) again, through a link: its runs are analysed once, as \(d.of)"))
                }
                if found == 0 {
                    emptyDirectories.append((argument, TraceRun(
                        name: path, paths: [], skipped: left,
                        problem: "\(path): no trace file found in this directory or below"
                            + (left.isEmpty ? "" : " (\(left.count) other file(s) skipped)")
                            + "; record one as described in Docs/Capture.md")))
                } else {
                    for s in left { skip(s, argument: argument) }
                    // A folder beside the runs that holds nothing at all is a run whose
                    // capture wrote nothing, as one holding only an empty file is.
                    for folder in scan.emptyFolders {
                        emptyRunFolders.append((argument, TraceRun(
                            name: folder, paths: [],
                            problem: "\(folder): this run's folder is empty — its traces are missing; record them as described in Docs/Capture.md")))
                    }
                }
            } else if fromList, path != "-", isRegularFile(path), let why = isTrace(path), !Self.isUnreadTrace(why) {
                // A list is judged as a folder is: a run's notes or an empty file among its
                // files are skipped and listed (they were input errors, exit 2, where the
                // same files in a folder or on the command line are skipped).
                skip(SkippedFile(path: path, reason: why), argument: argument)
            } else {
                // A listed path that is not there is a run of its own, as a named one is (two
                // lost VMs' folders of one list were one run named after their parent).
                items.append(Item(path: path, discovered: fromList && exists(path), argument: argument))
            }
        }
        var runs: [TraceRun] = []
        var runArgument: [Int] = []
        var runIndex: [String: Int] = [:]
        // A run kept as a guest folder and a host folder side by side (`vm1/guest/`,
        // `vm1/host/`) is one run, named after the folder holding both.
        let sides = Self.sideFolders(items.filter { $0.discovered || groupBy == .directory }.map { Self.runFolder(of: $0.path) })
        func folder(of path: String) -> String {
            let folder = Self.runFolder(of: path)
            return sides[folder] ?? folder
        }
        for (folder, run) in sides {
            if let files = skipped.removeValue(forKey: folder) {
                skipped[run, default: []] += files
                if skippedArgument[run] == nil { skippedArgument[run] = skippedArgument[folder] }
            }
        }
        for item in items {
            let key: String
            switch groupBy {
            case .file: key = "file:" + item.path
            // A folder found in a scan is one that cannot be listed: a run of its own.
            case .directory: key = "dir:" + (item.discovered && isDirectory(item.path) ? item.path : folder(of: item.path))
            case nil: key = item.discovered ? "dir:" + (isDirectory(item.path) ? item.path : folder(of: item.path)) : "file:" + item.path
            }
            if let i = runIndex[key] {
                // A file met twice (a folder named twice) is read once.
                if !runs[i].paths.contains(item.path) { runs[i].paths.append(item.path) }
            } else {
                runIndex[key] = runs.count
                let name = key.hasPrefix("dir:") ? String(key.dropFirst(4)) : item.path
                runs.append(TraceRun(name: name, paths: [item.path]))
                runArgument.append(item.argument)
            }
        }
        for i in runs.indices where runs[i].name == folder(of: runs[i].paths[0]) {
            runs[i].skipped = skipped.removeValue(forKey: runs[i].name) ?? []
        }
        // A folder below a scanned one (or a list's) with no trace, no run below it, and among
        // its files an empty one or a run's notes is a run whose traces are missing (a VM whose
        // capture failed or was lost): an input error of its own, not a folder of scripts
        // beside the runs (those stay listed as skipped). It vanished from the batch, exit 0.
        // (An empty folder inside a run's own folder is that run's business, not a run.)
        var missing = emptyRunFolders.filter { empty in !runs.contains { Self.isWithin(empty.run.name, $0.name) } }
        for folder in skipped.keys.sorted() where !scanned.contains(folder) {
            let files = skipped[folder]!
            guard !runs.contains(where: { Self.isWithin($0.name, folder) }) else { continue }
            // The files a VM's run leaves beside its traces (the QEMU command line, fio's
            // output) also tell a run whose traces are lost: such a folder vanished from the
            // batch, as a folder of scripts beside the runs does.
            let runsFile = files.contains(where: Self.suggestsMissingTraces)
                ? nil : files.lazy.compactMap { f in Self.runsOwnFileKind(f.path).map { (path: f.path, kind: $0) } }.first
            guard files.contains(where: Self.suggestsMissingTraces) || runsFile != nil else { continue }
            let problem: String
            if let runsFile {
                problem = "\(folder): no trace file in this run's folder: \(files.count) file(s) skipped, among them \(runsFile.path) (\(runsFile.kind)) — its traces are missing; record them as described in Docs/Capture.md"
            } else if let unread = files.first(where: { Self.isUnreadTrace($0.reason) }) {
                problem = "\(folder): no trace ShadowBell reads in this run's folder: \(files.count) file(s) skipped, among them \(unread.path) (\(unread.reason))"
            } else {
                problem = "\(folder): no trace file in this run's folder: \(files.count) file(s) skipped, among them "
                    + (files.contains { Self.isNotes($0.reason) } ? "the run's notes" : "an empty file")
                    + " — its traces are missing or empty; record them as described in Docs/Capture.md"
            }
            missing.append((skippedArgument[folder] ?? 0, TraceRun(name: folder, paths: [], skipped: files, problem: problem)))
            skipped[folder] = nil
        }
        var ordered = (runs.indices.map { (runArgument[$0], $0, runs[$0]) } + emptyDirectories.enumerated().map { ($0.element.argument, runs.count + $0.offset, $0.element.run) })
            .sorted { ($0.0, $0.1) < ($1.0, $1.1) }
        // A run without its traces goes where its folder's name puts it among its argument's runs.
        for m in missing.sorted(by: { ($0.argument, $0.run.name) < ($1.argument, $1.run.name) }) {
            let at = ordered.firstIndex { $0.0 > m.argument || ($0.0 == m.argument && $0.2.name > m.run.name) } ?? ordered.count
            ordered.insert((m.argument, -1, m.run), at: at)
        }
        let unowned = skipped.keys.sorted().flatMap { skipped[$0]! }
        // A folder without traces named twice (scanned in its parent and named itself) is one
        // run: it counted two input errors.
        var told: Set<String> = []
        return (ordered.compactMap { entry in
            var run = entry.2
            if run.paths.isEmpty, run.problem != nil, !told.insert(Self.canonical(run.name)).inserted { return nil }
            run.name = Self.folderName(run.name)
            return run
        }, unowned)
    }

    /// A run's name when its folder was named `.` or `..` (`analyze .` in the run's folder, or
    /// files named without a folder): the folder's own name, as a run folder named directly is
    /// (`hang-sq2`, not `.`). Any other name is kept as written.
    static func folderName(_ name: String) -> String {
        guard let last = name.split(separator: "/").last, last == "." || last == "..",
            let resolved = realpath(name, nil)
        else { return name }
        defer { free(resolved) }
        return String(cString: resolved).split(separator: "/").last.map(String.init) ?? "/"
    }

    /// The paths of one run as named on the command line, judged as in a folder. Among several,
    /// a file that is not a trace (a run folder's README or statistics, caught by a `dir/*`
    /// glob) or an empty file is skipped with a note; a file that cannot be read is kept (the
    /// reader says why). A file named alone is read, unless it is notes (a README quoting a few
    /// trace lines): that is an input problem, as a folder without a trace is. When every file
    /// named is skipped, the run has nothing to analyse.
    func singleRun(_ paths: [String]) -> TraceRun {
        var run = TraceRun(name: paths.joined(separator: " + "), paths: paths)
        var kept: [String] = []
        for path in paths {
            // Only a regular file is looked at first: a pipe's bytes would be gone.
            guard isRegularFile(path), let why = isTrace(path) else {
                kept.append(path)
                continue
            }
            if paths.count == 1 {
                if Self.isNotes(why) {
                    run.problem = "\(path): \(why); not read as a trace (a run folder's notes are skipped: name a trace file, or the run's folder)"
                } else if why.hasPrefix(NotesCheck.unreadFtraceForm) {
                    run.problem = "\(path): \(why)"
                }
                kept.append(path)
            } else if Self.isReadError(why, of: path) {
                kept.append(path)
            } else {
                run.skipped.append(SkippedFile(path: path, reason: why))
            }
        }
        if kept.isEmpty {
            run.problem = "\(run.name): none of these \(paths.count) files is a trace (all skipped as notes); name a trace file, or the run's folder"
        } else {
            run.paths = kept
        }
        return run
    }

    /// Whether a reason `whyNotTrace` gave says the file is notes (text quoting a few trace
    /// lines) rather than of no supported format or unreadable.
    static func isNotes(_ reason: String) -> Bool { reason.hasPrefix("notes, ") }

    /// Whether `path` is `folder` or lies below it (every relative path lies below ".").
    static func isWithin(_ path: String, _ folder: String) -> Bool {
        path == folder || path.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/") || (folder == "." && !path.hasPrefix("/"))
    }

    /// A skipped file that tells of a run whose traces are missing: the run's notes (they quote
    /// its trace lines), or an empty file (a capture that wrote nothing).
    static func suggestsMissingTraces(_ file: SkippedFile) -> Bool {
        isNotes(file.reason) || file.reason.hasSuffix("file is empty") || isUnreadTrace(file.reason)
    }

    /// Whether `why` says the file is a trace, or a run, in a form ShadowBell does not read
    /// (bzip2, a tar or zip archive, perf.data, CTF): a run folder holding only such files is
    /// a run whose traces cannot be read, not a folder beside the runs (it vanished, exit 0).
    static func isUnreadTrace(_ why: String) -> Bool {
        ["decompress it first", "decompress the outer layer", "unpack it", "perf.data", "CTF ("].contains { why.contains($0) }
    }

    /// Whether `why` (from `isTrace`) says `path` could not be read, rather than what it holds.
    static func isReadError(_ why: String, of path: String) -> Bool {
        why.hasPrefix(path) && !why.hasSuffix("file is empty") && !isEmptyFile(path)
    }

    /// What a file a VM's run leaves beside its traces is, read from its first 64 KiB (of its
    /// content, a compressed one's too): the QEMU
    /// command line (`qemu-system-…`, `QEMU emulator version`) or fio's output (`fio-3.…`,
    /// `Run status group`, its JSON's `"fio version"`); nil for anything else, and for a script
    /// (`#!`, `.sh`, `.py`), which a folder of scripts beside the runs holds.
    static func runsOwnFileKind(_ path: String) -> String? {
        if path.hasSuffix(".sh") || path.hasSuffix(".py") { return nil }
        guard let input = try? ByteInput(path: path) else { return nil }
        let head = input.prefix(64 << 10)
        guard !head.isEmpty, !head.starts(with: "#!".utf8) else { return nil }
        let text = String(decoding: head, as: UTF8.self)
        if text.contains("qemu-system-") || text.contains("QEMU emulator version") { return "the QEMU command line" }
        if text.contains("\"fio version\"") || text.contains("Run status group") || text.contains("fio-3.") { return "fio's output" }
        return nil
    }

    /// Whether anything is at `path` (a link to nothing too: it is said as its input error).
    static func existsPath(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// The path of the folder or file `path` names, resolved (links, `.`, `..`), or `path`
    /// itself when it is not there.
    static func canonical(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether `path` is a regular file of no bytes.
    static func isEmptyFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG && info.st_size == 0
    }

    /// The one run that `paths` stand for in a command that draws one (report, explain): a
    /// directory stands for its traces, notes skipped. After saying why, throws exit status 64
    /// (a usage error) when they stand for several runs or none, 2 (an input error) when the
    /// one run holds no trace.
    static func oneRun(_ paths: [String], command: String, quiet: Bool) throws(ExitCode) -> TraceRun {
        let runs = RunPlanner(groupBy: nil).plan(paths: paths, listed: [])
        guard runs.count == 1, let run = runs.first else {
            // Name the runs found, and how to give the files of one run kept in several
            // folders (`vm7/guest/`, `vm7/host/`: each folder's files are a run).
            let shown = runs.prefix(4).map(\.name).joined(separator: ", ") + (runs.count > 4 ? ", …" : "")
            let files = runs.prefix(2).map { "\($0.name)/*" }.joined(separator: " ")
            // (Not "give their files": two VMs' folders given so are read as one run.)
            let first = runs.first.map { "`\(command) \($0.name)`" } ?? "one run's folder"
            printError("error: \(command) draws one run, but \(paths.joined(separator: " ")) hold \(runs.count) (\(shown): the files of one folder are one run); give one run's folder (\(first)), or, when one VM's run lies in several folders, all of its files (`\(command) \(files)`, only if those folders are one run's); analyze takes several runs")
            throw ExitCode(64)
        }
        if let problem = run.problem {
            printError("error: \(problem)")
            throw ExitCode(2)
        }
        if !quiet { for s in run.skipped { printError("note: skipped \(s.path): \(s.reason)") } }
        return run
    }

    /// The directory part of a path (`.` for a bare file name).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    /// The run folder a file found in a scan belongs to: its directory, or for tracefs's per-CPU
    /// layout copied as it is (`run/per_cpu/cpu1/trace`) the folder holding `per_cpu`: each
    /// CPU's part is one recording with the others (run apart, commands submitted on one CPU
    /// and completed on another were stuck).
    static func runFolder(of path: String) -> String {
        let dir = directory(of: path)
        let cpu = dir.split(separator: "/", omittingEmptySubsequences: false).last ?? ""
        guard cpu.count > 3, cpu.hasPrefix("cpu"), cpu.dropFirst(3).allSatisfy({ $0.isASCII && $0.isNumber })
        else { return dir }
        let perCPU = directory(of: dir)
        guard perCPU == "per_cpu" || perCPU.hasSuffix("/per_cpu") else { return dir }
        return directory(of: perCPU)
    }

    /// Folders that are one side of a run kept as two (`vm1/guest` and `vm1/host`: the guest's
    /// traces and console in one, the controller's trace in the other), mapped to the folder
    /// holding both, which is the run. Both sides must be there under names that say which
    /// side they are (`guest` or `vm`; `host`, `qemu`, `hypervisor`, `vmm` or `controller`, in
    /// any case, `-side` or `_side` allowed): `runs/a` and `runs/b` stay two runs.
    static func sideFolders(_ folders: [String]) -> [String: String] {
        func side(_ folder: String) -> (parent: String, guest: Bool)? {
            // `analyze guest host` in the run's folder: their parent is `.`.
            let slash = folder.lastIndex(of: "/")
            var name = (slash.map { folder[folder.index(after: $0)...] } ?? folder[...]).lowercased()
            for suffix in ["-side", "_side", "side"] where name.hasSuffix(suffix) { name.removeLast(suffix.count); break }
            let parent = slash.map { $0 == folder.startIndex ? "/" : String(folder[..<$0]) } ?? "."
            if ["guest", "vm"].contains(name) { return (parent, true) }
            if ["host", "qemu", "hypervisor", "vmm", "controller"].contains(name) { return (parent, false) }
            return nil
        }
        var byParent: [String: (guest: Bool, host: Bool, folders: Set<String>)] = [:]
        for folder in Set(folders) {
            guard let (parent, guest) = side(folder) else { continue }
            var entry = byParent[parent] ?? (false, false, [])
            if guest { entry.guest = true } else { entry.host = true }
            entry.folders.insert(folder)
            byParent[parent] = entry
        }
        var map: [String: String] = [:]
        for (parent, entry) in byParent where entry.guest && entry.host {
            for folder in entry.folders { map[folder] = parent }
        }
        return map
    }

    /// What a scan of a folder finds below it: its regular files, recursively, in name order,
    /// without hidden files or folders; and the folders below it holding no file anywhere
    /// below them (the topmost of each empty branch), in name order. One walk for both. A
    /// folder linked from inside itself (`runs/a/up -> ..`) is not entered again: two such
    /// links made the walk endless.
    struct TreeScan {
        var files: [String] = []
        var emptyFolders: [String] = []
        /// FIFOs, sockets and devices: not read (they may block or never end), but said.
        var notRegular: [String] = []
        /// Folders reached a second time through a link (`latest -> vm-03`), with the path they
        /// were scanned at: not scanned again (the run was counted twice, as a run of its own).
        var duplicates: [(path: String, of: String)] = []
    }

    static func scanTree(_ root: String) -> TreeScan {
        let fm = FileManager.default
        var scan = TreeScan()
        var ancestors: Set<FolderIdentity> = []
        // Where each folder was scanned: one reached again through a link is not scanned again.
        // The folder under its own name is preferred to a link to it met first (`latest` comes
        // before `vm-03`): the link's part is taken back when the folder itself is met.
        var scannedAt: [FolderIdentity: (path: String, isLink: Bool)] = [:]
        func isLink(_ path: String) -> Bool {
            var link = stat()
            return lstat(path, &link) == 0 && link.st_mode & S_IFMT == S_IFLNK
        }
        func forget(_ folder: String) {
            let under = folder + "/"
            scan.files.removeAll { $0.hasPrefix(under) }
            scan.emptyFolders.removeAll { $0 == folder || $0.hasPrefix(under) }
            scan.notRegular.removeAll { $0.hasPrefix(under) }
            scan.duplicates.removeAll { $0.path.hasPrefix(under) }
        }
        // Whether `dir` holds anything (a folder not entered again counts as holding something).
        @discardableResult func walk(_ dir: String, depth: Int) -> Bool {
            guard let id = FolderIdentity(dir), ancestors.insert(id).inserted else { return true }
            defer { ancestors.remove(id) }
            let link = depth > 0 && isLink(dir)
            if depth > 0, let first = scannedAt[id] {
                guard first.isLink, !link else {
                    scan.duplicates.append((dir, first.path))
                    return true
                }
                forget(first.path)
                scan.duplicates.append((first.path, dir))
            }
            scannedAt[id] = (dir, link)
            guard let names = try? fm.contentsOfDirectory(atPath: dir) else {
                // A folder that cannot be listed (no permission): read as an input, which says
                // why it cannot be (it vanished from the batch, exit 0).
                if depth > 0 { scan.files.append(dir) }
                return true
            }
            var holds = false
            var empty: [String] = []
            for name in names.sorted() where !name.hasPrefix(".") {
                let path = dir.hasSuffix("/") ? dir + name : dir + "/" + name
                var info = stat()
                guard stat(path, &info) == 0 else {
                    // A link to nothing: a trace that is not there, said as its input error. So
                    // is a name listed that cannot be reached at all: one not valid UTF-8 is
                    // listed with U+FFFD in it (a Latin-1 `é`), and was passed over without a
                    // word (a hung run's only trace, and the run passed).
                    scan.files.append(path)
                    holds = true
                    continue
                }
                switch info.st_mode & S_IFMT {
                case S_IFDIR:
                    if walk(path, depth: depth + 1) { holds = true } else { empty.append(path) }
                case S_IFREG:
                    scan.files.append(path)
                    holds = true
                default:
                    // A FIFO or a device is not read (it would block or never end), but the
                    // folder holding it is not empty.
                    scan.notRegular.append(path)
                    holds = true
                }
            }
            // An empty branch is named by its topmost empty folder below `root`.
            if holds || depth == 0 { scan.emptyFolders += empty }
            return holds
        }
        walk(root, depth: 0)
        scan.emptyFolders.sort()
        return scan
    }

    static func filesUnder(_ root: String) -> [String] { scanTree(root).files }
    static func emptyFoldersUnder(_ root: String) -> [String] { scanTree(root).emptyFolders }

    /// A folder's device and inode: the same folder whatever path reaches it.
    struct FolderIdentity: Hashable {
        let device: UInt64
        let inode: UInt64

        init?(_ path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
        }
    }

    /// nil when `path` holds a supported trace format, otherwise why it was skipped (not a
    /// trace format, or notes: a README, statistics or a summary quoting trace lines).
    static func whyNotTrace(_ path: String) -> String? {
        do {
            return try classifyRunFile(path: path).skip
        } catch {
            return error.description
        }
    }
}

/// Reads a `--files-from` list: one path per line; blank lines and `#` comments are ignored.
/// A list with NUL bytes (`find … -print0`) is one path per NUL-terminated entry, as it is.
func readFileList(_ path: String) throws -> [String] {
    let data: [UInt8]
    switch readWholeFileOrWhy(path, limit: 64 << 20) {
    case .success(let read): data = read
    case .failure(let why):
        printError("error: --files-from \(path): cannot read it (\(why.text)); give a file with one trace path per line, or - for standard input")
        throw ExitCode(2)
    }
    if data.contains(0) {
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.filter { !$0.isEmpty }
    }
    let text = String(decoding: data, as: UTF8.self)
    return text.split(whereSeparator: \.isNewline).map { trimmingBlanks($0) }
        .filter { !$0.isEmpty && !$0.hasPrefix("#") }
}

/// Analyses one run synchronously: its inputs, aligned as `analyze` does for explicit files.
func analyzeRun(_ run: TraceRun, flags: AnalysisFlags, failOn: FailPolicy) -> RunReport {
    let empty = AnalysisSession.combine(inputs: [], groups: [], notes: [], options: flags.options(for: []))
    let skipped = run.skipped.map { (path: $0.path, reason: $0.reason) }
    if let problem = run.problem {
        // The problem names the run already.
        let reason = problem.hasPrefix(run.name + ": ") ? String(problem.dropFirst(run.name.count + 2)) : problem
        let report = AnalysisReport(result: empty, inputErrors: [.unsupported(path: run.name, reason: reason)], failOn: failOn)
        return RunReport(name: run.name, paths: run.paths, skippedFiles: skipped, report: report)
    }
    let report: AnalysisReport
    var skippedAfter: [(path: String, reason: String)] = []
    do {
        switch try flags.analyzeInputs(run.paths, notes: run.skipped.map(\.path)).outcome {
        case .success(let result):
            report = AnalysisReport(result: result, failOn: failOn)
        case .failure(let error):
            let (errors, partial, skippedFiles) = withoutEmptyInputs(error, paths: run.paths)
            skippedAfter = skippedFiles
            report = errors.isEmpty
                ? AnalysisReport(result: partial, failOn: failOn)
                : AnalysisReport(result: partial, inputErrors: errors, failOn: failOn)
        }
    } catch {
        report = AnalysisReport(result: empty, inputErrors: [error], failOn: failOn)
    }
    // An empty file among the run's traces is a capture that wrote nothing (a full disk, a
    // QEMU that died): skipped as before, and said in the report itself, where a CI reader of
    // the JSON or the text looks (it was only among the skipped files: a run without its
    // controller trace passed without a word).
    var said = report
    for file in (skipped + skippedAfter) where RunPlanner.isEmptyFile(file.path) {
        said.result.notes.append("\(file.path): empty: if it was to hold one of this run's traces, that capture wrote nothing (a full disk, a recorder that died?), and the findings rest on the other files.")
    }
    return RunReport(name: run.name, paths: run.paths, skippedFiles: skipped + skippedAfter, report: said)
}

/// A failed analysis of a run of several files, with each file that decodes to no event taken
/// as a note (not a broken input) as long as another file of the run has events: the errors
/// left, the result without those files, and the files skipped with why.
func withoutEmptyInputs(_ failure: AnalysisFailure, paths: [String])
    -> (errors: [InputError], partial: AnalysisResult, skipped: [(path: String, reason: String)])
{
    var errors = failure.errors
    var partial = failure.partial
    var skipped: [(path: String, reason: String)] = []
    guard paths.count > 1, partial.inputs.contains(where: { $0.events > 0 }) else { return (errors, partial, []) }
    for case .noRecognisedEvents(let path, let format) in errors {
        skipped.append((path, "no recognised event (read as \(format.rawValue))"))
    }
    errors.removeAll { if case .noRecognisedEvents = $0 { true } else { false } }
    partial.inputs.removeAll { input in skipped.contains { $0.path == input.path } }
    return (errors, partial, skipped)
}

/// Runs `work` for every index in `0..<count` on at most `workers` threads and returns the
/// results in index order, whatever order they finished in.
func parallelMap<T: Sendable>(_ count: Int, workers: Int, _ work: @escaping @Sendable (Int) -> T) -> [T] {
    let box = ResultBox<T>(count: count)
    let threads = max(1, min(workers, count))
    DispatchQueue.concurrentPerform(iterations: threads) { _ in
        while let i = box.claim() {
            let value = work(i)
            box.store(value, at: i)
        }
    }
    return box.values()
}

/// The work counter and the result slots shared by the workers of `parallelMap`.
private final class ResultBox<T>: @unchecked Sendable {
    private let lock = PthreadLock()
    private var next = 0
    private var slots: [T?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func claim() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < slots.count else { return nil }
        next += 1
        return next - 1
    }

    func store(_ value: T, at i: Int) {
        lock.lock()
        slots[i] = value
        lock.unlock()
    }

    func values() -> [T] {
        lock.lock()
        defer { lock.unlock() }
        return slots.map { $0! }
    }
}
