import Foundation
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// The app did not import in the zygote; `message` is the worker's BOOT_ERROR text (what
/// failed and the traceback).
public struct ZygoteBootError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Preload (gunicorn's `--preload`): a zygote process imports the app once, and each worker
/// is forked from it, already holding the app. The zygote is started with the first
/// worker's command plus `--zygote` by `starter` (a plain process); each launch passes the
/// worker's socket end to it (a FORK frame with SCM_RIGHTS) and gets the worker's pid back
/// (FORKED). Workers are forked twice over, so they become berth's children (berth is a
/// child subreaper): the pool waits for and signals them like any other worker, and a
/// zygote that dies takes no worker with it. A dead zygote is started again; `reload`
/// replaces it so that new workers run the code now on disk.
///
/// With isolation (`contained`), `starter` makes a container per zygote whose init outlives
/// the zygote, and the workers are forked inside it: per-pool isolation, they share the
/// zygote's namespaces, root and cgroup. The double fork then reparents each worker to the
/// container's init, not to berth (no subreaper reaches across a pid namespace), so berth
/// finds its host pid among the init's children and waits on a pidfd; the zygote itself is
/// watched the same way. Its container ends (and is reaped here, its cgroup removed) when
/// the last process in it does: a zygote that crashes or is replaced takes no worker along.
public final class ZygoteLauncher: WorkerLauncher, @unchecked Sendable {
    private struct Zygote {
        /// The zygote's host pid.
        var pid: Int32
        var control: Int32
        /// The host pid of its container's init, the parent of every worker it forks.
        var container: Int32?
    }

    private let starter: WorkerLauncher
    private let contained: Bool
    /// Entered by each watcher thread until its zygote (and container) is reaped.
    private let watchers = DispatchGroup()
    private var containers: Set<Int32> = []
    private let lock = NSLock()
    private var zygote: Zygote?
    private var lastSpec: WorkerSpec?
    private var stopped = false
    /// Numbers the zygotes: a replaced one's container (and cgroup) may still be up.
    private var zygoteCount = 0
    /// Receives one line for each zygote event worth logging (exits, restarts).
    public var log: @Sendable (String) -> Void = { _ in }

    /// Frame types of the zygote conversation (docs/worker-protocol.md, "Preload").
    private enum Frame: UInt8 {
        case fork = 0x12
        case stop = 0x11
        case ready = 0x20
        case bootError = 0x21
        case forked = 0x28
    }

    /// `contained`: `starter` puts the zygote in a container whose init outlives it
    /// (`IsolationSpec.initOutlivesMain`), and workers are forked inside that container.
    public init(starter: WorkerLauncher, contained: Bool = false) throws(SystemError) {
        self.starter = starter
        self.contained = contained
        try Processes.becomeChildSubreaper()
    }

    public func launch(_ spec: WorkerSpec) throws -> LaunchedWorker {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped else { throw ZygoteBootError(message: "the zygote is stopped") }
        lastSpec = spec
        let current = try running(spec)
        do {
            try Descriptors.send(Self.header(.fork), passing: spec.protocolFD, over: current.control, for: "zygote, \(spec.label)")
            let (kind, payload) = try readFrame(current.control, timeoutMillis: 30_000)
            guard kind == Frame.forked.rawValue, let pid = Int32(String(decoding: payload, as: UTF8.self)) else {
                throw ZygoteBootError(message: "zygote answered FORK with frame 0x\(String(kind, radix: 16))")
            }
            guard let container = current.container else { return LaunchedWorker(pid: pid) }
            return try containedWorker(inner: pid, container: container, label: spec.label)
        } catch {
            // A zygote that cannot fork is replaced on the next launch.
            discard(current)
            throw error
        }
    }

    /// A worker forked in the zygote's container, known there as `inner`: the zygote's
    /// double fork made it a child of the container's init, where berth finds its host pid.
    private func containedWorker(inner: Int32, container: Int32, label: String) throws -> LaunchedWorker {
        guard let host = ProcFS.childHostPID(of: inner, parent: container) else {
            throw ZygoteBootError(message: "\(label): forked as pid \(inner) in the zygote's container, but no such process is there")
        }
        // Opened while it is surely alive (its exit would leave the init's children list
        // only once it is reaped); nil only if it already ended.
        let pidfd = try? Processes.openPIDFD(host)
        return LaunchedWorker(pid: host) {
            guard let pidfd else { return .endedElsewhere }
            try? Processes.waitForExit(pidfd: pidfd)
            Descriptors.close(pidfd)
            return .endedElsewhere
        }
    }

    /// New workers must run the code as it is now: the next launch starts a fresh zygote.
    public func reload() {
        lock.lock()
        defer { lock.unlock() }
        if let current = zygote { discard(current) }
    }

    /// Stops the zygote (berth is stopping); its workers are stopped by their pool.
    public func shutdown() {
        lock.lock()
        stopped = true
        let current = zygote
        if let current { discard(current) }
        lock.unlock()
        if let current {
            // It exits when its socket closes; a stuck one is killed.
            for _ in 0..<200 where Glibc.kill(current.pid, 0) == 0 { usleep(10_000) }
            Processes.signal(current.pid, SIGKILL)
        }
        // Containers end with their last process; the pools stopped their workers first.
        // Any still up after 3 s are killed (their init, and so everything in them).
        if watchers.wait(timeout: .now() + 3) == .timedOut {
            lock.lock()
            let left = containers
            lock.unlock()
            for pid in left { Processes.signal(pid, SIGKILL) }
            _ = watchers.wait(timeout: .now() + 5)
        }
    }

    // MARK: - The zygote process

    /// The running zygote, started (and booted) first if there is none.
    private func running(_ spec: WorkerSpec) throws -> Zygote {
        if let zygote { return zygote }
        let (parent, child) = try Descriptors.socketPair(for: "zygote")
        defer { Descriptors.close(child) }
        var zygoteSpec = spec
        zygoteSpec.arguments = spec.arguments + ["--zygote"]
        zygoteSpec.protocolFD = child
        zygoteCount += 1
        zygoteSpec.label = "zygote \(zygoteCount)"
        let launched: LaunchedWorker
        do {
            launched = try starter.launch(zygoteSpec)
        } catch {
            Descriptors.close(parent)
            throw error
        }
        var started = Zygote(pid: launched.pid, control: parent)
        if contained {
            // The init forked the zygote before the launch returned (it waits for the exec).
            guard let zygotePID = ProcFS.children(of: launched.pid).first else {
                Descriptors.close(parent)
                Processes.signal(launched.pid, SIGKILL)
                _ = try? Processes.wait(launched.pid)
                try? launched.resources?.release()
                throw ZygoteBootError(message: "the zygote's container (init pid \(launched.pid)) has no zygote in it")
            }
            started = Zygote(pid: zygotePID, control: parent, container: launched.pid)
            containers.insert(launched.pid)
        }
        watchers.enter()
        do {
            try Threads.detach { [self, started] in
                defer { watchers.leave() }
                guard let container = started.container else {
                    let status = (try? Processes.wait(started.pid)) ?? .exited(-1)
                    try? launched.resources?.release()
                    exited(started, status: status)
                    return
                }
                // The zygote is the init's child, not ours: a pidfd tells when it ends.
                if let pidfd = try? Processes.openPIDFD(started.pid) {
                    try? Processes.waitForExit(pidfd: pidfd)
                    Descriptors.close(pidfd)
                }
                exited(started, status: .endedElsewhere)
                // The container lives on until its last forked worker is gone.
                _ = try? Processes.wait(container)
                try? launched.resources?.release()
                lock.lock()
                containers.remove(container)
                lock.unlock()
            }
        } catch {
            // Nothing would notice the zygote's end: stop it (with its container) and fail the launch.
            watchers.leave()
            Descriptors.close(parent)
            let process = started.container ?? started.pid
            Processes.signal(process, SIGKILL)
            _ = try? Processes.wait(process)
            try? launched.resources?.release()
            if let container = started.container { containers.remove(container) }
            throw ZygoteBootError(message: "cannot start the thread that watches the zygote: \(error)")
        }
        // Importing the app: a large Django project takes seconds on a busy machine.
        let (kind, payload) = try readFrame(parent, timeoutMillis: 120_000, discardingOnError: started)
        switch kind {
        case Frame.ready.rawValue:
            zygote = started
            return started
        case Frame.bootError.rawValue:
            discard(started)
            throw ZygoteBootError(message: String(decoding: payload, as: UTF8.self))
        default:
            discard(started)
            throw ZygoteBootError(message: "zygote sent frame 0x\(String(kind, radix: 16)) instead of READY")
        }
    }

    /// Closes the zygote's socket (it exits when it reads the end) and forgets it.
    private func discard(_ old: Zygote) {
        if zygote?.pid == old.pid { zygote = nil }
        Descriptors.close(old.control)
        Processes.signal(old.pid, SIGTERM)
    }

    /// The zygote process ended. One that crashed is replaced at once, so that the next
    /// worker starts fast; a boot error then shows at that worker's launch.
    private func exited(_ old: Zygote, status: ExitStatus) {
        lock.lock()
        defer { lock.unlock() }
        guard zygote?.pid == old.pid, !stopped else { return }
        zygote = nil
        Descriptors.close(old.control)
        log("zygote (pid \(old.pid)) \(status); starting a new one")
        if let spec = lastSpec {
            do {
                _ = try running(spec)
            } catch {
                log("cannot start a new zygote: \(error)")
            }
        }
    }

    private func readFrame(
        _ fd: Int32, timeoutMillis: Int32, discardingOnError started: Zygote? = nil
    ) throws -> (UInt8, [UInt8]) {
        do {
            let header = try Descriptors.read(fd, count: 8, timeoutMillis: timeoutMillis, for: "zygote")
            guard header.count == 8 else {
                throw ZygoteBootError(message: "the zygote exited before it answered (see its output above)")
            }
            let length = header[0..<4].reduce(0) { $0 << 8 | Int($1) }
            guard length <= 1 << 24 else { throw ZygoteBootError(message: "zygote sent a frame of \(length) bytes") }
            let payload = try Descriptors.read(fd, count: length, timeoutMillis: timeoutMillis, for: "zygote")
            return (header[4], payload)
        } catch {
            if let started { discard(started) }
            throw error
        }
    }

    private static func header(_ kind: Frame) -> [UInt8] {
        [0, 0, 0, 0, kind.rawValue, 0, 0, 0]
    }
}
