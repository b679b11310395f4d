import LinuxSystem

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One worker's cgroup, `<berth's cgroup>/berth-<berth's pid>/<name>`: made with its limits
/// before the worker starts, removed after the worker has been reaped.
///
/// The `berth-<pid>` level keeps all of one berth process's cgroups together, so a stale
/// set left by a berth that died is recognisable by its dead pid, and berth's own cgroup
/// stays tidy. On v2 it also serves the "no internal processes" rule: a cgroup (the root
/// aside) can hand controllers down only while it holds no processes, which `berth-<pid>`
/// never does; the workers sit in the leaves. The same rule applies to berth's own cgroup,
/// which holds berth: on v2 this works only where the kernel lets berth enable controllers
/// there (the root cgroup), until berth moves itself into a leaf of its own.
public struct WorkerCgroup: Sendable {
    /// The hierarchy the cgroup was made in.
    public let hierarchy: CgroupHierarchy
    /// The leaf name, unique among this berth's workers (`worker-3`).
    public let name: String
    /// The worker's directory per controller; on v2 the same one for all three.
    public let directories: [CgroupController: String]

    /// The name of this berth process's parent cgroup: `berth-<pid>`.
    public static var berthRootName: String { "berth-\(getpid())" }

    /// Creates the worker's cgroup (and `berth-<pid>` if needed) and writes `limits`.
    public static func create(name: String, limits: CgroupLimits, in hierarchy: CgroupHierarchy) throws -> WorkerCgroup {
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/"), !name.contains("\n") else {
            throw CgroupError("cgroup: \(name.debugDescription) is not a valid cgroup name")
        }
        let roots = hierarchy.berthRoots
        var created: [String] = []
        do {
            if case .v2(let own) = hierarchy {
                try enableControllers(in: own, ownCgroup: true)
            }
            for root in Set(roots.values).sorted() {
                try CgroupFiles.makeDirectory(root, allowExisting: true)
                if hierarchy.version == .v2 { try enableControllers(in: root, ownCgroup: false) }
                try CgroupFiles.makeDirectory(root + "/" + name, allowExisting: false)
                created.append(root + "/" + name)
            }
            let cgroup = WorkerCgroup(hierarchy: hierarchy, name: name, directories: roots.mapValues { $0 + "/" + name })
            for write in limits.plan(for: hierarchy.version) {
                try cgroup.apply(write)
            }
            return cgroup
        } catch {
            // Leave nothing half-made; berth-<pid> stays for the next worker.
            for directory in created { try? CgroupFiles.removeDirectory(directory) }
            throw error
        }
    }

    /// On v2, an open descriptor of the cgroup for clone3's CLONE_INTO_CGROUP (the caller
    /// closes it); nil on v1, where the child is placed with `addProcess` instead.
    public func openDirectoryFD() throws -> Int32? {
        guard case .v2 = hierarchy, let directory = directories[.memory] else { return nil }
        return try CgroupFiles.openDirectory(directory)
    }

    /// Moves process `pid` (all its threads) into this cgroup, in every controller.
    public func addProcess(_ pid: pid_t) throws {
        for directory in distinctDirectories {
            try CgroupFiles.write(directory + "/cgroup.procs", "\(pid)")
        }
    }

    /// The processes in the cgroup now (from the pids controller's cgroup.procs).
    public func processIDs() throws -> [pid_t] {
        guard let directory = directories[.pids] else { return [] }
        return try CgroupFiles.read(directory + "/cgroup.procs").split(separator: "\n").compactMap { pid_t($0) }
    }

    /// Removes the cgroup in every controller. Its processes must be dead and reaped (killing
    /// them is the caller's job); the brief busy spell after the last exit is waited out.
    public func remove() throws {
        var firstError: Error?
        for directory in distinctDirectories {
            do { try CgroupFiles.removeDirectory(directory) } catch { firstError = firstError ?? error }
        }
        if let firstError { throw firstError }
    }

    /// What the memory controller saw: OOM kills and times the limit was reached.
    public func memoryEvents() throws -> CgroupMemoryEvents {
        guard let directory = directories[.memory] else { return CgroupMemoryEvents(oomKills: nil, limitHits: 0) }
        switch hierarchy.version {
        case .v2:
            let events = CgroupFiles.keyedCounters(try CgroupFiles.read(directory + "/memory.events"))
            return CgroupMemoryEvents(oomKills: events["oom_kill"], limitHits: events["max"] ?? 0)
        case .v1:
            // memory.oom_control has counted kills since Linux 4.13; before, a failcnt above
            // zero (the limit was reached at least once) is the best hint there is. With
            // swap accounting the memory+swap counter is charged first, and with both limits
            // equal it is the one that fails, so its failcnt counts too.
            let control = CgroupFiles.keyedCounters(try CgroupFiles.read(directory + "/memory.oom_control"))
            let failures = try CgroupFiles.integer(directory + "/memory.failcnt") ?? 0
            let swapFailures = try CgroupFiles.integer(directory + "/memory.memsw.failcnt") ?? 0
            return CgroupMemoryEvents(oomKills: control["oom_kill"], limitHits: failures + swapFailures)
        }
    }

    /// The most memory the cgroup used at once, in bytes; nil where the kernel does not
    /// track it (v2's memory.peak arrived in Linux 5.19).
    public func peakMemoryBytes() throws -> Int? {
        guard let directory = directories[.memory] else { return nil }
        let file = hierarchy.version == .v2 ? "memory.peak" : "memory.max_usage_in_bytes"
        return try CgroupFiles.integer(directory + "/" + file)
    }

    /// Removes this berth process's `berth-<pid>` cgroups at shutdown, after every worker's
    /// cgroup was removed. Controllers berth enabled in its own cgroup on v2 stay enabled:
    /// other children of that cgroup may rely on them.
    public static func removeBerthRoot(in hierarchy: CgroupHierarchy) throws {
        var firstError: Error?
        for root in Set(hierarchy.berthRoots.values).sorted() {
            do { try CgroupFiles.removeDirectory(root, patience: 0.5) } catch { firstError = firstError ?? error }
        }
        if let firstError { throw firstError }
    }

    private var distinctDirectories: [String] { Set(directories.values).sorted() }

    private func apply(_ write: CgroupWrite) throws {
        guard let directory = directories[write.controller] else { return }
        do {
            try CgroupFiles.write(directory + "/" + write.file, write.value)
        } catch {
            // An optional file missing on this kernel or configuration (no swap accounting,
            // say) is skipped.
            guard write.optional, error.errno == ENOENT else { throw error }
        }
    }

    /// Makes sure `directory`'s children get memory, cpu and pids (v2's cgroup.subtree_control).
    /// The kernel refuses this with EBUSY in a non-root cgroup that holds processes: never
    /// the case for `berth-<pid>`, but for berth's own cgroup unless it is the root.
    private static func enableControllers(in directory: String, ownCgroup: Bool) throws {
        let file = directory + "/cgroup.subtree_control"
        let enabled = Set(try CgroupFiles.read(file).split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        let missing = CgroupController.allCases.filter { !enabled.contains($0.rawValue) }
        guard !missing.isEmpty else { return }
        // (A `catch where` on a typed error in an untyped-throws function crashes the 6.3
        // compiler, so the test is inside.)
        do {
            try CgroupFiles.write(file, missing.map { "+\($0.rawValue)" }.joined(separator: " "))
        } catch {
            guard ownCgroup, error.errno == EBUSY else { throw error }
            throw CgroupError(
                "\(error): berth's cgroup holds processes (berth among them), and cgroup v2 hands"
                    + " controllers down only from a cgroup without processes (the root aside), so"
                    + " worker cgroups cannot get memory, cpu and pids beneath it")
        }
    }
}

/// What a worker cgroup's memory controller counted.
public struct CgroupMemoryEvents: Sendable, Equatable {
    /// Processes the OOM killer killed; nil where the kernel does not count them (v1 before 4.13).
    public var oomKills: Int?
    /// Times usage reached the limit (v2 `max`, v1 `failcnt`): reclaim ran, maybe no kill.
    /// Some recent kernels no longer count v1's failcnt, so 0 proves nothing there.
    public var limitHits: Int

    public init(oomKills: Int?, limitHits: Int) {
        self.oomKills = oomKills
        self.limitHits = limitHits
    }

    /// Whether a process was OOM-killed; where kills are not counted, any limit hit counts.
    public var oomKilled: Bool { oomKills.map { $0 > 0 } ?? (limitHits > 0) }
}

extension CgroupHierarchy {
    /// Berth's own cgroup directory per controller.
    public var ownDirectories: [CgroupController: String] {
        switch self {
        case .v2(let directory):
            return Dictionary(uniqueKeysWithValues: CgroupController.allCases.map { ($0, directory) })
        case .v1(let directories):
            return directories
        }
    }

    /// `<own cgroup>/berth-<pid>` per controller.
    var berthRoots: [CgroupController: String] {
        ownDirectories.mapValues { $0 + "/" + WorkerCgroup.berthRootName }
    }
}
