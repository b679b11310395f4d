import CBerthLinux
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// Launches a worker as a plain child process (posix_spawn), without isolation.
public struct ProcessLauncher: WorkerLauncher {
    /// Put each worker in a process group of its own, so a terminal's ^C reaches berth
    /// only and berth decides how its workers stop.
    public var newProcessGroup: Bool

    public init(newProcessGroup: Bool = true) {
        self.newProcessGroup = newProcessGroup
    }

    public func launch(_ spec: WorkerSpec) throws -> LaunchedWorker {
        let argv = spec.arguments.map { strdup($0) } + [nil]
        let envp = spec.environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = berth_spawn(
            spec.executable, argv, envp, spec.protocolFD, spec.targetFD,
            spec.workingDirectory, newProcessGroup ? 1 : 0, &pid)
        if rc != 0 {
            throw SystemError(call: "posix_spawn", object: "\(spec.label): \(spec.executable)", errno: rc)
        }
        return LaunchedWorker(pid: pid)
    }
}
