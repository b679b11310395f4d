import CBerthLinux
import Foundation
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// A worker that failed inside its container before exec: the step and errno it reported.
public struct ContainerError: Error, CustomStringConvertible {
    public let label: String
    public let step: String
    public let errno: Int32

    public var description: String {
        "\(label): \(step): \(errnoName(errno)) (\(String(cString: strerror(errno))))"
    }
}

/// Launches each worker in a container: new user, mount, pid, net, uts, ipc and cgroup
/// namespaces; a read-only root of exactly the planned paths; no capabilities;
/// no_new_privs; rlimits; seccomp; cgroup limits. Planned here, executed by the C child.
public final class ContainerLauncher: WorkerLauncher, @unchecked Sendable {
    public let isolation: IsolationSpec
    private let steps: [RootfsStep]
    private let hierarchy: CgroupHierarchy?
    /// The containers' pid 1 once it has forked the worker, resolved once.
    private let smallInit = SmallInit()

    public init(isolation: IsolationSpec) throws {
        self.isolation = isolation
        hierarchy = isolation.limits == nil ? nil : try CgroupHierarchy.current()
        try FileManager.default.createDirectory(atPath: isolation.stagingRoot, withIntermediateDirectories: true)
        var layers: OverlayLayers?
        if case .overlay(let size) = isolation.rootfs {
            try FileManager.default.createDirectory(atPath: isolation.layersDirectory, withIntermediateDirectories: true)
            layers = OverlayLayers(directory: isolation.layersDirectory, size: size)
        }
        steps = RootfsPlan.steps(root: isolation.stagingRoot, contents: isolation.contents, layers: layers)
        try Self.giveVolumes(isolation.contents.writable, to: isolation.uid, gid: isolation.gid)
    }

    /// Writable volumes belong to the id the container's root maps to, or it could not
    /// write them (to the kernel it is an unprivileged user).
    static func giveVolumes(_ paths: [String], to uid: UInt32, gid: UInt32) throws {
        for path in paths {
            _ = try retryingSyscall("lchown", path) { lchown(path, uid, gid) }
            guard let walker = FileManager.default.enumerator(atPath: path) else { continue }
            while let relative = walker.nextObject() as? String {
                let child = path + "/" + relative
                _ = try retryingSyscall("lchown", child) { lchown(child, uid, gid) }
            }
        }
    }

    public func launch(_ spec: WorkerSpec) throws -> LaunchedWorker {
        var cgroup: WorkerCgroup?
        if let limits = isolation.limits, let hierarchy {
            cgroup = try WorkerCgroup.create(name: spec.label.replacingOccurrences(of: " ", with: "-"), limits: limits, in: hierarchy)
        }
        do {
            let pid = try clone(spec, cgroup: cgroup)
            return LaunchedWorker(pid: pid, resources: cgroup.map { WorkerResources(cgroup: $0) })
        } catch {
            try? cgroup?.remove()
            throw error
        }
    }

    private func clone(_ spec: WorkerSpec, cgroup: WorkerCgroup?) throws -> Int32 {
        let strings = CStrings()
        defer { strings.free() }
        let cSteps = steps.map { step -> berth_step in
            switch step {
            case .mkdir(let target): return berth_step(kind: Int32(BERTH_STEP_MKDIR.rawValue), writable: 0, source: nil, target: strings.add(target), data: nil)
            case .touch(let target): return berth_step(kind: Int32(BERTH_STEP_TOUCH.rawValue), writable: 0, source: nil, target: strings.add(target), data: nil)
            case .bind(let source, let target, let writable):
                return berth_step(kind: Int32(BERTH_STEP_BIND.rawValue), writable: writable ? 1 : 0, source: strings.add(source), target: strings.add(target), data: nil)
            case .tmpfs(let target, let options):
                return berth_step(kind: Int32(BERTH_STEP_TMPFS.rawValue), writable: 1, source: nil, target: strings.add(target), data: strings.add(options))
            case .proc(let target): return berth_step(kind: Int32(BERTH_STEP_PROC.rawValue), writable: 0, source: nil, target: strings.add(target), data: nil)
            case .device(let source, let target):
                return berth_step(kind: Int32(BERTH_STEP_DEVICE.rawValue), writable: 1, source: strings.add(source), target: strings.add(target), data: nil)
            case .symlink(let pointingTo, let at):
                return berth_step(kind: Int32(BERTH_STEP_SYMLINK.rawValue), writable: 0, source: strings.add(pointingTo), target: strings.add(at), data: nil)
            case .overlay(let lower, let upper, let work, let target):
                let options = RootfsPlan.overlayOptions(lower: lower, upper: upper, work: work)
                return berth_step(kind: Int32(BERTH_STEP_OVERLAY.rawValue), writable: 1, source: strings.add(lower), target: strings.add(target), data: strings.add(options))
            }
        }
        let argv = spec.arguments.map { strings.addMutable($0) } + [nil]
        let envp = spec.environment.sorted { $0.key < $1.key }.map { strings.addMutable("\($0.key)=\($0.value)") } + [nil]
        let rlimits = isolation.processLimits.rlimits
        var namespaces = UInt64(BERTH_NS_USER.rawValue | BERTH_NS_MOUNT.rawValue | BERTH_NS_PID.rawValue | BERTH_NS_UTS.rawValue | BERTH_NS_IPC.rawValue)
        if !isolation.hostNetwork { namespaces |= UInt64(BERTH_NS_NET.rawValue) }
        let cgroupFD = try cgroup?.openDirectoryFD() ?? -1
        defer { if cgroupFD >= 0 { Descriptors.close(cgroupFD) } }

        var pid: pid_t = 0
        var pidfd: Int32 = -1
        var releaseFD: Int32 = -1
        var errorFD: Int32 = -1
        let label = strings.add(spec.label)
        let path = strings.add(spec.executable)
        let root = strings.add(isolation.stagingRoot)
        let rootOptions: UnsafePointer<CChar>
        let rootWritable: Bool
        switch isolation.rootfs {
        case .readOnly:
            (rootOptions, rootWritable) = (strings.add("mode=0755,size=1m"), false)
        case .overlay(let size):
            (rootOptions, rootWritable) = (strings.add("mode=0755,size=\(size)"), true)
        }
        let workdir = spec.workingDirectory.map { strings.add($0) }
        let hostname = strings.add(isolation.hostname)
        let protocolFD = spec.protocolFD
        let targetFD = spec.targetFD
        let outlives = isolation.initOutlivesMain
        let initFD = smallInit.fd
        let rc: Int32 = cSteps.withUnsafeBufferPointer { stepsBuffer in
            argv.withUnsafeBufferPointer { argvBuffer in
                envp.withUnsafeBufferPointer { envpBuffer in
                    rlimits.withUnsafeBufferPointer { rlimitBuffer in
                        withSeccomp { filter, length in
                            var plan = berth_container_plan()
                            plan.label = label
                            plan.path = path
                            plan.argv = argvBuffer.baseAddress
                            plan.envp = envpBuffer.baseAddress
                            plan.protocol_fd = protocolFD
                            plan.target_fd = targetFD
                            plan.namespaces = namespaces
                            plan.cgroup_fd = cgroupFD
                            plan.root = root
                            plan.root_options = rootOptions
                            plan.root_writable = rootWritable ? 1 : 0
                            plan.steps = stepsBuffer.baseAddress
                            plan.step_count = Int32(stepsBuffer.count)
                            plan.workdir = workdir
                            plan.hostname = hostname
                            plan.uid = 0
                            plan.gid = 0
                            plan.rlimits = rlimitBuffer.baseAddress
                            plan.rlimit_count = Int32(rlimitBuffer.count)
                            plan.seccomp_filter = filter
                            plan.seccomp_length = length
                            plan.init_fd = initFD
                            plan.init_outlives_main = outlives ? 1 : 0
                            return berth_container_clone(&plan, &pid, &pidfd, &releaseFD, &errorFD)
                        }
                    }
                }
            }
        }
        guard rc == 0 else { throw SystemError(call: "clone3", object: spec.label, errno: rc) }
        if pidfd >= 0 { Descriptors.close(pidfd) }
        defer { Descriptors.close(errorFD) }
        do {
            // The child waits for these before it does anything (see container.c).
            try writeFile("/proc/\(pid)/uid_map", "0 \(isolation.uid) 1\n")
            try writeFile("/proc/\(pid)/gid_map", "0 \(isolation.gid) 1\n")
            if cgroupFD < 0 { try cgroup?.addProcess(pid) }
        } catch {
            Descriptors.close(releaseFD)
            Processes.signal(pid, SIGKILL)
            _ = try? Processes.wait(pid)
            throw error
        }
        let released = berth_container_release(releaseFD)
        if released != 0 { throw SystemError(call: "write", object: "\(spec.label) release pipe", errno: released) }
        if let failure = readChildError(errorFD) {
            Processes.signal(pid, SIGKILL)
            _ = try? Processes.wait(pid)
            throw ContainerError(label: spec.label, step: failure.step, errno: failure.errno)
        }
        return pid
    }

    /// Removes what the launcher made for all its workers: berth's own cgroup level and the
    /// staging directory. Call once every worker has been reaped.
    public func shutdown() {
        if let hierarchy { try? WorkerCgroup.removeBerthRoot(in: hierarchy) }
        rmdir(isolation.stagingRoot)
        if case .overlay = isolation.rootfs { rmdir(isolation.layersDirectory) }
    }

    private func withSeccomp<T>(_ body: (UnsafeRawPointer?, UInt16) -> T) -> T {
        guard let program = isolation.seccomp else { return body(nil, 0) }
        return program.withUnsafeFilter { pointer, count in body(pointer, count) }
    }

    /// Blocks until the child execs (EOF) or reports a failed step; a child that says nothing
    /// for `timeout` seconds is reported as stuck (the caller kills it).
    private func readChildError(_ fd: Int32, timeout: Int32 = 20) -> (step: String, errno: Int32)? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var ready: Int32
        repeat {
            ready = poll(&poller, 1, timeout * 1000)
        } while ready < 0 && errno == EINTR
        if ready == 0 { return ("no word from the container's setup within \(timeout) s", ETIMEDOUT) }
        var record = berth_child_error()
        let size = MemoryLayout<berth_child_error>.size
        let n = withUnsafeMutableBytes(of: &record) { raw -> Int in
            var total = 0
            while total < size {
                let got = read(fd, raw.baseAddress! + total, size - total)
                if got < 0 && errno == EINTR { continue }
                if got <= 0 { break }
                total += got
            }
            return total
        }
        guard n == size else { return nil }
        let step = withUnsafeBytes(of: record.step) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return (step, record.error)
    }

    private func writeFile(_ path: String, _ text: String) throws {
        let fd = try retryingSyscall("open", path) { open(path, O_WRONLY | O_CLOEXEC) }
        defer { Descriptors.close(fd) }
        let bytes = Array(text.utf8)
        let written = try retryingSyscall("write", path) { write(fd, bytes, bytes.count) }
        if written != bytes.count { throw SystemError(call: "write", object: path, errno: EIO) }
    }
}

/// C strings that live until `free()`: the plan points into them during the clone.
final class CStrings {
    private var pointers: [UnsafeMutablePointer<CChar>] = []

    func add(_ text: String) -> UnsafePointer<CChar> {
        UnsafePointer(addMutable(text)!)
    }

    func addMutable(_ text: String) -> UnsafeMutablePointer<CChar>? {
        let pointer = strdup(text)!
        pointers.append(pointer)
        return pointer
    }

    func free() { pointers.forEach { Glibc.free($0) } }
}
