import CBerthLinux
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How a child process ended.
public enum ExitStatus: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)
    /// It ended, but not as a child of ours: its status went to another reaper (a forked
    /// worker's container init), so how it ended is not known here.
    case endedElsewhere

    /// Decodes a `waitpid` status word (the WIFEXITED/WTERMSIG macros are not imported into Swift).
    public init(waitStatus: Int32) {
        let signal = waitStatus & 0x7f
        if signal == 0 {
            self = .exited((waitStatus >> 8) & 0xff)
        } else {
            self = .signaled(signal)
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exited with status \(code)"
        case .signaled(let signal): return "killed by \(signalName(signal))"
        case .endedElsewhere: return "ended (its status went to its container's init)"
        }
    }
}

/// Process calls: wait, signal.
public enum Processes {
    /// Blocks until `pid` ends and returns how it ended.
    public static func wait(_ pid: pid_t) throws(SystemError) -> ExitStatus {
        var status: Int32 = 0
        _ = try retryingSyscall("waitpid", "pid \(pid)") { waitpid(pid, &status, 0) }
        return ExitStatus(waitStatus: status)
    }

    /// Runs `path` (argv `arguments`, berth's environment) to its end: how it ended and what
    /// it wrote to standard output. Its stdin and stderr are berth's. posix_spawn and a pipe:
    /// Foundation's `Process` would start a run-loop thread that stays for good.
    public static func output(of path: String, arguments: [String]) throws(SystemError) -> (status: ExitStatus, output: [UInt8]) {
        var ends: [Int32] = [-1, -1]
        _ = try retryingSyscall("pipe2") { berth_pipe_cloexec(&ends) }
        let (reader, writer) = (ends[0], ends[1])
        defer { Descriptors.close(reader) }
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = berth_spawn(path, argv, nil, writer, STDOUT_FILENO, nil, 0, &pid)
        Descriptors.close(writer)
        if rc != 0 { throw SystemError(call: "posix_spawn", object: path, errno: rc) }
        var output: [UInt8] = []
        var failure: SystemError?
        do {
            while true {
                let chunk = try Descriptors.readSome(reader, limit: 65536)
                if chunk.isEmpty { break }
                output += chunk
            }
        } catch {
            failure = error
        }
        let status = try wait(pid)  // reaped even when reading failed
        if let failure { throw failure }
        return (status, output)
    }

    /// CPUs this process may run on: the affinity mask (`taskset`, cpusets) capped by
    /// `machineCount`. One event loop per usable CPU; more only add cross-thread hops.
    public static func usableCoreCount(machineCount: Int) -> Int {
        let allowed = Int(berth_usable_cpus())
        return allowed > 0 ? min(allowed, machineCount) : machineCount
    }

    /// Makes this process the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER),
    /// so that a process a child forks can be waited for here once its parent exits.
    public static func becomeChildSubreaper() throws(SystemError) {
        let rc = berth_become_child_subreaper()
        if rc != 0 { throw SystemError(call: "prctl(PR_SET_CHILD_SUBREAPER)", errno: -rc) }
    }

    /// A pidfd for `pid` (pidfd_open): it can be waited on although `pid` is no child of
    /// ours. The caller owns it.
    public static func openPIDFD(_ pid: pid_t) throws(SystemError) -> Int32 {
        let fd = berth_pidfd_open(pid)
        if fd < 0 { throw SystemError(call: "pidfd_open", object: "pid \(pid)", errno: -fd) }
        return fd
    }

    /// Blocks until the process behind `pidfd` has ended (the descriptor turns readable).
    /// Its status stays with its parent; the caller still owns (and closes) `pidfd`.
    public static func waitForExit(pidfd: Int32) throws(SystemError) {
        var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        _ = try retryingSyscall("poll", "pidfd \(pidfd)") { poll(&entry, 1, -1) }
    }

    /// Sends `signal` to `pid`; a process that is already gone is not an error.
    public static func signal(_ pid: pid_t, _ signal: Int32) {
        _ = Glibc.kill(pid, signal)
    }
}

/// The symbolic name of a signal (`SIGKILL`), or its number when unknown.
public func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGHUP: return "SIGHUP"
    case SIGINT: return "SIGINT"
    case SIGQUIT: return "SIGQUIT"
    case SIGILL: return "SIGILL"
    case SIGABRT: return "SIGABRT"
    case SIGBUS: return "SIGBUS"
    case SIGFPE: return "SIGFPE"
    case SIGKILL: return "SIGKILL"
    case SIGSEGV: return "SIGSEGV"
    case SIGPIPE: return "SIGPIPE"
    case SIGTERM: return "SIGTERM"
    case SIGSYS: return "SIGSYS"
    default: return "signal \(signal)"
    }
}
