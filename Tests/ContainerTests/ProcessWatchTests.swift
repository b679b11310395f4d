import Foundation
import LinuxSystem
import Testing

@testable import Container

/// How berth follows a worker forked inside a preload container: a process that is not its
/// child, found among another process's children and waited for through a pidfd. Here the
/// other process is a real shell with a background child (no pid namespace: the inner and
/// host pids are the same number).
@Suite("processes that are not our children")
struct ProcessWatchTests {
    @Test func findsAGrandchildAndWaitsForItsEndThroughAPidfd() throws {
        let devnull = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(devnull) }
        let shell = try ProcessLauncher().launch(WorkerSpec(
            executable: "/bin/sh", arguments: ["sh", "-c", "sleep 30 & wait"], environment: [:],
            workingDirectory: nil, protocolFD: devnull, label: "shell"))
        defer {
            Processes.signal(shell.pid, SIGKILL)
            _ = try? Processes.wait(shell.pid)
        }
        var grandchild: pid_t?
        for _ in 0..<400 where grandchild == nil {
            grandchild = ProcFS.children(of: shell.pid).first
            if grandchild == nil { usleep(5_000) }
        }
        let sleeper = try #require(grandchild, "the shell started no child")
        #expect(ProcFS.childHostPID(of: sleeper, parent: shell.pid) == sleeper)
        #expect(ProcFS.childHostPID(of: sleeper + 100_000, parent: shell.pid) == nil)
        #expect(ProcFS.hostPID(of: sleeper, at: sleeper) == sleeper)

        let pidfd = try Processes.openPIDFD(sleeper)
        defer { close(pidfd) }
        Processes.signal(sleeper, SIGKILL)
        try Processes.waitForExit(pidfd: pidfd)  // returns although the sleeper is not our child
        // The shell reaps it and exits: a gone process has no pidfd.
        _ = try Processes.wait(shell.pid)
        #expect(throws: SystemError.self) { try Processes.openPIDFD(sleeper) }
    }
}
