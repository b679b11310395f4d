import Foundation

/// One step of building a worker's root filesystem, as plain data (tested without a kernel).
public enum RootfsStep: Equatable, Sendable {
    case mkdir(String)
    case touch(String)
    case bind(source: String, target: String, writable: Bool)
    case tmpfs(target: String, options: String)
    case proc(target: String)
    case symlink(pointingTo: String, at: String)
    /// A device node from the host's /dev, bound without `nodev`.
    case device(source: String, target: String)
    /// An overlay of the read-only host directory `lower` with the per-worker `upper` and
    /// `work` directories (on the layers tmpfs) on `target`: a writable view whose writes
    /// land in `upper`, never on the host.
    case overlay(lower: String, upper: String, work: String, target: String)
}

/// An overlay root: every granted directory becomes an overlay whose upper and work
/// directories live on a tmpfs of `size` bytes mounted at `directory`, a host directory
/// outside the new root. The tmpfs is mounted in the worker's own mount namespace, so
/// pivot_root takes it out of the worker's sight (the overlays keep their own reference)
/// and it is gone with the worker's last process: nothing to clean up, even after a crash.
public struct OverlayLayers: Sendable, Equatable {
    public var directory: String
    public var size: Int

    public init(directory: String, size: Int) {
        self.directory = directory
        self.size = size
    }
}

/// What goes into a worker's root: the paths the app needs, mounted at their host paths so
/// that every path Python knows about (the venv's `pyvenv.cfg`, `sys.path`) stays valid.
public struct RootfsContents: Sendable, Equatable {
    /// Host paths mounted read-only (interpreter prefixes, venv, app, berth's worker code).
    public var readOnly: [String]
    /// Host paths mounted read-write (Django's MEDIA_ROOT, a database directory).
    public var writable: [String]

    public init(readOnly: [String], writable: [String]) {
        self.readOnly = readOnly
        self.writable = writable
    }
}

/// Turns `RootfsContents` into the ordered steps the child executes under `root`, the
/// staging directory that becomes "/".
public enum RootfsPlan {
    /// Files from the host's /etc that Python and the C library read, mounted read-only
    /// when present: no others (no shadow, no ssh keys).
    static let etcFiles = [
        "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/nsswitch.conf", "/etc/localtime",
        "/etc/ld.so.cache", "/etc/mime.types",
    ]
    static let etcDirectories = ["/etc/ssl"]
    static let deviceNodes = ["null", "zero", "full", "random", "urandom", "tty"]

    /// The steps, in order: /tmp and /dev, then system and app binds and writable volumes
    /// (parents before children), then /proc.
    ///
    /// With `layers`, each granted directory (but not the single files from /etc, the
    /// devices or the writable volumes) is an overlay instead of a read-only bind.
    public static func steps(root: String, contents: RootfsContents, layers: OverlayLayers? = nil, fileExists: (String) -> (exists: Bool, isDirectory: Bool, symlinkTarget: String?) = hostLookup) -> [RootfsStep] {
        var steps: [RootfsStep] = []
        var made: Set<String> = []
        if let layers {
            steps.append(.tmpfs(target: layers.directory, options: "mode=0700,size=\(layers.size)"))
            steps.append(.mkdir(layers.directory + "/upper"))
            steps.append(.mkdir(layers.directory + "/work"))
        }
        var overlays = 0
        func makeDirectories(for path: String) {
            var current = ""
            for component in path.split(separator: "/") {
                current += "/" + component
                if made.insert(current).inserted { steps.append(.mkdir(root + current)) }
            }
        }

        // The merged-/usr layout: /bin, /lib, ... are links into /usr on the host; keep them links.
        var system = ["/usr"]
        for top in ["/bin", "/sbin", "/lib", "/lib64"] {
            let info = fileExists(top)
            guard info.exists else { continue }
            if let target = info.symlinkTarget {
                steps.append(.symlink(pointingTo: target, at: root + top))
                made.insert(top)
            } else {
                system.append(top)
            }
        }
        // /tmp and /dev first: a tmpfs mounted later would hide any bind beneath it (an app
        // or a volume under /tmp).
        for dir in ["/tmp", "/dev", "/proc"] { makeDirectories(for: dir) }
        steps.append(.tmpfs(target: root + "/tmp", options: "mode=1777,size=64m"))
        steps.append(.tmpfs(target: root + "/dev", options: "mode=0755,size=64k"))
        for node in deviceNodes {
            steps.append(.touch(root + "/dev/" + node))
            steps.append(.device(source: "/dev/" + node, target: root + "/dev/" + node))
        }
        steps.append(.mkdir(root + "/dev/shm"))
        steps.append(.tmpfs(target: root + "/dev/shm", options: "mode=1777,size=16m"))
        steps.append(.symlink(pointingTo: "/proc/self/fd", at: root + "/dev/fd"))
        for (index, name) in ["stdin", "stdout", "stderr"].enumerated() {
            steps.append(.symlink(pointingTo: "/proc/self/fd/\(index)", at: root + "/dev/" + name))
        }

        var binds: [(path: String, writable: Bool, isFile: Bool)] = []
        for path in system { binds.append((path, false, false)) }
        for path in etcFiles where fileExists(path).exists { binds.append((path, false, !fileExists(path).isDirectory)) }
        for path in etcDirectories where fileExists(path).exists { binds.append((path, false, false)) }
        for path in contents.readOnly where !system.contains(where: { covers($0, path) }) {
            binds.append((path, false, !fileExists(path).isDirectory))
        }
        for path in contents.writable { binds.append((path, true, false)) }
        // Parents first, so a writable volume inside the (read-only) app directory lands on top.
        let ordered = uniqued(binds).sorted { depth($0.path) < depth($1.path) || (depth($0.path) == depth($1.path) && $0.path < $1.path) }
        for bind in ordered {
            if bind.isFile {
                makeDirectories(for: (bind.path as NSString).deletingLastPathComponent)
                steps.append(.touch(root + bind.path))
            } else {
                makeDirectories(for: bind.path)
            }
            if let layers, !bind.isFile, !bind.writable {
                let upper = "\(layers.directory)/upper/\(overlays)", work = "\(layers.directory)/work/\(overlays)"
                overlays += 1
                steps.append(.mkdir(upper))
                steps.append(.mkdir(work))
                steps.append(.overlay(lower: bind.path, upper: upper, work: work, target: root + bind.path))
            } else {
                steps.append(.bind(source: bind.path, target: root + bind.path, writable: bind.writable))
            }
        }

        steps.append(.proc(target: root + "/proc"))
        return steps
    }

    /// The mount data of an overlay step. `userxattr`: overlay keeps its marks (opaque
    /// directories, redirects) in `user.overlay.*` xattrs, the only ones a user namespace may
    /// set; without it renaming or removing a directory that came from below fails with EIO.
    /// `\`, `,` and `:` in a path are escaped with `\` (overlay's option syntax).
    public static func overlayOptions(lower: String, upper: String, work: String) -> String {
        func escaped(_ path: String) -> String {
            var out = ""
            for character in path {
                if character == "\\" || character == "," || character == ":" { out.append("\\") }
                out.append(character)
            }
            return out
        }
        return "lowerdir=\(escaped(lower)),upperdir=\(escaped(upper)),workdir=\(escaped(work)),userxattr"
    }

    /// `outer` is `inner` or one of its parents.
    static func covers(_ outer: String, _ inner: String) -> Bool {
        inner == outer || inner.hasPrefix(outer.hasSuffix("/") ? outer : outer + "/")
    }

    static func depth(_ path: String) -> Int { path.split(separator: "/").count }

    private static func uniqued(_ binds: [(path: String, writable: Bool, isFile: Bool)]) -> [(path: String, writable: Bool, isFile: Bool)] {
        var seen: [String: Int] = [:]
        var out: [(path: String, writable: Bool, isFile: Bool)] = []
        for bind in binds {
            if let index = seen[bind.path] {
                out[index].writable = out[index].writable || bind.writable
            } else {
                seen[bind.path] = out.count
                out.append(bind)
            }
        }
        return out
    }

    public static func hostLookup(_ path: String) -> (exists: Bool, isDirectory: Bool, symlinkTarget: String?) {
        let fm = FileManager.default
        if let target = try? fm.destinationOfSymbolicLink(atPath: path) {
            var isDirectory: ObjCBool = false
            return (fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue, target)
        }
        var isDirectory: ObjCBool = false
        let exists = fm.fileExists(atPath: path, isDirectory: &isDirectory)
        return (exists, isDirectory.boolValue, nil)
    }
}
