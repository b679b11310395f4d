import LinuxSystem

/// Everything needed to start one worker process: what to run, where, with which
/// environment, and which socket it inherits. Isolation settings join this later.
public struct WorkerSpec: Sendable {
    /// The program to exec, as an absolute path (not resolved through symlinks: a venv's
    /// `python` is a symlink whose location tells Python where its `pyvenv.cfg` is).
    public var executable: String
    /// The full argv, starting with argv[0].
    public var arguments: [String]
    public var environment: [String: String]
    public var workingDirectory: String?
    /// The parent's end of nothing: this is the child's end of the socketpair.
    public var protocolFD: Int32
    /// The descriptor number the child sees `protocolFD` as.
    public var targetFD: Int32
    /// A label for errors and logs, like `worker 3`.
    public var label: String

    public init(
        executable: String, arguments: [String], environment: [String: String],
        workingDirectory: String?, protocolFD: Int32, targetFD: Int32 = 3, label: String
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.protocolFD = protocolFD
        self.targetFD = targetFD
        self.label = label
    }
}

/// A started worker process.
public struct LaunchedWorker: Sendable {
    public let pid: Int32
    /// What the launcher made for it (a cgroup), to release once it is reaped.
    public let resources: WorkerResources?
    /// How to wait for its end when it is no child of berth (a worker forked inside a
    /// preload container); nil: waitpid on `pid`.
    public let waitForExit: (@Sendable () -> ExitStatus)?

    public init(pid: Int32, resources: WorkerResources? = nil, waitForExit: (@Sendable () -> ExitStatus)? = nil) {
        self.pid = pid
        self.resources = resources
        self.waitForExit = waitForExit
    }

    /// Blocks until the process ended; how it ended, as far as berth can know.
    public func wait() -> ExitStatus {
        if let waitForExit { return waitForExit() }
        return (try? Processes.wait(pid)) ?? .exited(-1)
    }
}

/// Kernel objects that outlive a worker's process until released: its cgroup.
public final class WorkerResources: Sendable {
    let cgroup: WorkerCgroup

    init(cgroup: WorkerCgroup) {
        self.cgroup = cgroup
    }

    /// Why the worker's end was forced, as far as the kernel says: "it hit its memory
    /// limit" after an OOM kill, else nil.
    public func exitCause() -> String? {
        guard let events = try? cgroup.memoryEvents(), events.oomKilled else { return nil }
        return "it hit its memory limit"
    }

    /// Removes the cgroup; call after the process was reaped.
    public func release() throws {
        try cgroup.remove()
    }
}

/// Starts worker processes from a spec. The plain launcher runs them as ordinary child
/// processes; the isolation work adds a launcher that makes a container first.
public protocol WorkerLauncher: Sendable {
    func launch(_ spec: WorkerSpec) throws -> LaunchedWorker
    /// The app's code changed (a reload): workers launched from now on must run it. A
    /// launcher that keeps a pre-imported app (preload) drops it.
    func reload()
}

extension WorkerLauncher {
    public func reload() {}
}
