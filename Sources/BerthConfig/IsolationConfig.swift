/// The `[app.NAME.isolation]` table: the container berth makes for each of an app's workers
/// (namespaces, cgroup limits, a seccomp filter). On by default in serve mode, off in dev mode.
public struct IsolationConfig: Sendable, Hashable {
    /// What the worker's network namespace holds.
    public enum Network: String, Sendable, Hashable {
        /// A network namespace of its own: only loopback, and the socketpair to berth.
        case none
        /// The host's network.
        case host
    }

    /// How the worker's root file system is made.
    public enum Rootfs: String, Sendable, Hashable, CaseIterable {
        /// Read-only bind mounts of exactly the granted paths.
        case readOnly = "read-only"
        /// The same paths as the lower layers of overlays whose upper layers live on a
        /// tmpfs of the worker's own: writable, and gone with the worker.
        case overlay
    }

    /// Whether workers run in containers at all.
    public var enabled = false
    public var network: Network = .none
    /// Memory limit per worker in bytes; 0 for none.
    public var memory = 0
    /// CPU quota per worker, in CPUs; 0 for none.
    public var cpu = 0.0
    /// Most processes and threads per worker; 0 for none.
    public var pids = 0
    /// The host user the container's root maps to; never 0.
    public var uid: UInt32 = 0
    /// The host group the container's root group maps to; never 0.
    public var gid: UInt32 = 0
    /// Host directories mounted read-write at the same path, absolute.
    public var volumes: [String] = []
    /// Host paths mounted read-only at the same path, absolute.
    public var readOnly: [String] = []
    /// How the root file system is made.
    public var rootfs: Rootfs = .readOnly
    /// With `rootfs = overlay`: the size of each tmpfs that holds the worker's writes.
    public var rootfsSize = 0
    /// RLIMIT_AS in bytes; 0 for none.
    public var addressSpace = 0
    /// RLIMIT_NOFILE.
    public var nofile = 0
    /// RLIMIT_NPROC (counted per host uid, across workers).
    public var nproc = 0
    /// System calls taken off the default deny-list.
    public var seccompAllow: [String] = []
    /// System calls added to the default deny-list.
    public var seccompDeny: [String] = []
    /// The worker's host name (UTS namespace).
    public var hostname: String

    /// The defaults of `mode` for the app named `appName`.
    public init(appName: String, mode: Mode) {
        self.hostname = Self.defaultHostname(appName: appName)
        Self.settings.applyDefaults(to: &self, mode: mode)
    }

    /// `berth-NAME`, made a valid host name: `_` becomes `-`, and it is cut to 63 characters.
    public static func defaultHostname(appName: String) -> String {
        var name = String(("berth-" + appName.replacingOccurrences(of: "_", with: "-")).prefix(63))
        while name.hasSuffix("-") { name.removeLast() }
        return name
    }

    /// The `[app.NAME.isolation]` settings, declared once for loading, flags and docs.
    static let settings: [Setting<IsolationConfig>] = [
        Setting(
            "enabled", .boolean, \.enabled, serve: true, dev: false, flag: "--isolate",
            "Run each worker in a container of its own (`--no-isolate` turns it off)."),
        Setting(
            "network", .network, \.network, default: .none,
            "`\"none\"`: the worker has no network, only its socketpair to berth; `\"host\"`: the host's."),
        Setting(
            "memory", .byteSize(0...(1 << 40)), \.memory, default: 512 << 20,
            "Memory limit per worker, in bytes (0 = none); a worker above it is killed. With preload, the pool's container gets this times (workers + 1)."),
        Setting(
            "cpu", .number(0...64, of: "CPUs"), \.cpu, default: 1,
            "CPU time per worker, in CPUs, like `0.5` (0 = no limit). With preload, the pool's container gets this times the workers."),
        Setting(
            "pids", .integer(0...4_194_304), \.pids, default: 128,
            "Most processes and threads per worker (0 = no limit); with `threads` above 1, berth adds `threads + 1` (the worker's own threads). With preload, the pool's container gets this times (workers + 1), or (max_workers + 1), plus 2."),
        Setting(
            "uid", .hostID(rootIs: "root"), \.uid, default: 65534,
            "Host user the container's root runs as; an unprivileged one (not 0)."),
        Setting(
            "gid", .hostID(rootIs: "root group"), \.gid, default: 65534,
            "Host group the container's root group maps to (not 0)."),
        Setting(
            "volumes", .paths(validate: writableVolumeProblem), \.volumes, default: [],
            "Host directories mounted read-write at the same path; created when missing."),
        Setting(
            "read_only", .paths(), \.readOnly, default: [],
            "Extra host files or directories mounted read-only at the same path; must exist."),
        Setting(
            "rootfs", .choice(Rootfs.self), \.rootfs, default: .readOnly,
            "`\"read-only\"`: the granted paths as read-only binds; `\"overlay\"`: each a writable overlay whose writes stay in the worker and vanish with it (docs/isolation.md)."),
        Setting(
            "rootfs_size", .byteSize((1 << 20)...(1 << 40)), \.rootfsSize, default: 64 << 20,
            "With `rootfs = \"overlay\"`: size of the worker's tmpfs that holds what it writes to its root (counted against its memory limit)."),
        Setting(
            "address_space", .addressSpace, \.addressSpace, default: 0,
            "`RLIMIT_AS` per worker process, in bytes (0 = none): an allocation beyond it fails (Python raises `MemoryError`) instead of the worker being killed."),
        Setting(
            "nofile", .integer(64...1_048_576), \.nofile, default: 4096,
            "`RLIMIT_NOFILE`: most open files per worker process."),
        Setting(
            "nproc", .integer(1...4_194_304), \.nproc, default: 4096,
            "`RLIMIT_NPROC`: most processes of the container's host user, across all workers (`pids` is the per-worker limit)."),
        Setting(
            "seccomp_allow", .systemCalls, \.seccompAllow, default: [],
            "System calls taken off the default deny-list."),
        Setting(
            "seccomp_deny", .systemCalls, \.seccompDeny, default: [],
            "System calls added to the default deny-list."),
        Setting(
            "hostname", docType: "host name", defaultText: "`\"berth-NAME\"`",
            "Host name the worker sees.",
            apply: { (isolation, node, context) throws(ValueProblem) in
                isolation.hostname = try ValueKind<String>.text(
                    "host name", expected: "a host name like \"berth-worker\"", validate: hostnameProblem
                ).read(node, context)
            }),
    ]
}

/// Host names: one DNS label, `[a-z0-9-]`, 1 to 63 characters, no `-` at either end.
func hostnameProblem(_ s: String) -> String? {
    let ok =
        (1...63).contains(s.count) && !s.hasPrefix("-") && !s.hasSuffix("-")
        && s.allSatisfy { $0.isASCIIDigit || ("a"..."z").contains($0) || $0 == "-" }
    return ok
        ? nil
        : "must be 1 to 63 of a-z, 0-9 and \"-\", not starting or ending with \"-\", got \(quoted(s))"
}

/// A read-write volume of the whole host would undo the isolation.
private func writableVolumeProblem(_ path: String) -> String? {
    path == "/" ? "must not be \"/\": the worker could write anywhere on the host" : nil
}

extension ValueKind where Value == Int {
    /// `RLIMIT_AS`: 0 (none) or at least 64 MiB, below which Python cannot even start.
    static var addressSpace: ValueKind<Int> {
        let size = ValueKind.byteSize(0...(1 << 40))
        return ValueKind(
            docType: "size, 0 or 64m–\(ByteSize.format(1 << 40))",
            read: { (node, context) throws(ValueProblem) in
                let bytes = try size.read(node, context)
                guard bytes == 0 || bytes >= 64 << 20 else {
                    throw ValueProblem(problem: "must be 0 (no limit) or at least 64m (Python needs more to start), got \(node.shown)")
                }
                return bytes
            },
            show: size.show, gloss: size.gloss)
    }
}
