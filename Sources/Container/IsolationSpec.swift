import CBerthLinux

#if canImport(Glibc)
import Glibc
#endif

/// How a worker's container is made: which namespaces, which ids, which files.
public struct IsolationSpec: Sendable {
    /// Keep the host's network (no network namespace).
    public var hostNetwork = false
    /// Host uid/gid that the container's root (uid 0 inside) is mapped to.
    public var uid: UInt32 = 65534
    public var gid: UInt32 = 65534
    public var hostname: String
    public var contents: RootfsContents
    /// Per-worker cgroup limits; nil for none.
    public var limits: CgroupLimits?
    /// The compiled seccomp filter loaded last, before exec; nil for none.
    public var seccomp: SeccompProgram?
    /// Where each worker's root is assembled (an empty directory; the mounts live only in
    /// the worker's mount namespace).
    public var stagingRoot: String
    /// The container's init outlives the process it runs and exits with its last child:
    /// for a preload zygote, whose forked workers live on in its container.
    public var initOutlivesMain = false
    /// Read-only binds, or writable overlays over the same paths.
    public var rootfs: RootfsMode = .readOnly
    /// The rlimits each worker process gets.
    public var processLimits = ProcessLimits()

    /// Where an overlay root mounts each worker's layers tmpfs: beside the staging root, so
    /// that it is outside the new root (an empty host directory, like the staging root).
    public var layersDirectory: String { stagingRoot + "-layers" }

    public init(hostname: String, contents: RootfsContents, stagingRoot: String) {
        self.hostname = hostname
        self.contents = contents
        self.stagingRoot = stagingRoot
    }
}

/// How a worker's root file system is made.
public enum RootfsMode: Sendable, Equatable {
    /// Read-only binds of the granted paths; "/" itself is read-only.
    case readOnly
    /// Each granted directory is an overlay whose writes land on a per-worker tmpfs of
    /// `size` bytes; "/" is a writable tmpfs of the same size.
    case overlay(size: Int)
}

/// The rlimits of a worker's processes (`RLIMIT_CORE` is always 0).
public struct ProcessLimits: Sendable, Equatable {
    public var nofile = 4096
    /// Counted per host uid, across workers: a ceiling against runaways, while the pids
    /// cgroup is the per-worker limit.
    public var nproc = 4096
    /// `RLIMIT_AS` in bytes; nil for none.
    public var addressSpace: Int?

    public init(nofile: Int = 4096, nproc: Int = 4096, addressSpace: Int? = nil) {
        self.nofile = nofile
        self.nproc = nproc
        self.addressSpace = addressSpace
    }

    /// The limits as the C child sets them, soft = hard.
    var rlimits: [berth_rlimit] {
        var out = [
            berth_rlimit(resource: Int32(RLIMIT_CORE.rawValue), soft: 0, hard: 0),
            berth_rlimit(resource: Int32(RLIMIT_NOFILE.rawValue), soft: UInt64(nofile), hard: UInt64(nofile)),
            berth_rlimit(resource: Int32(BERTH_RLIMIT_NPROC), soft: UInt64(nproc), hard: UInt64(nproc)),
        ]
        if let addressSpace {
            out.append(berth_rlimit(resource: Int32(BERTH_RLIMIT_AS), soft: UInt64(addressSpace), hard: UInt64(addressSpace)))
        }
        return out
    }
}
