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
