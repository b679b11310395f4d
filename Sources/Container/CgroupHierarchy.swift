import LinuxSystem

/// Where berth's own cgroup is, per the interface the host offers: the directory worker
/// cgroups are created beneath (berth never creates or moves anything outside it).
public enum CgroupHierarchy: Sendable, Equatable {
    /// The unified hierarchy: berth's cgroup directory, with memory, cpu and pids available.
    case v2(String)
    /// Legacy hierarchies: berth's cgroup directory in each controller's own mount.
    case v1([CgroupController: String])

    /// The interface version.
    public var version: CgroupVersion {
        switch self {
        case .v2: return .v2
        case .v1: return .v1
        }
    }

    /// Detects berth's cgroups from /proc/self/cgroup and /proc/self/mountinfo.
    public static func current() throws -> CgroupHierarchy {
        let membership = try CgroupFiles.read("/proc/self/cgroup")
        let mountInfo = try CgroupFiles.read("/proc/self/mountinfo")
        return try detect(membership: membership, mountInfo: mountInfo) { directory in
            try CgroupFiles.readIfPresent(directory + "/cgroup.controllers")
        }
    }

    /// Chooses v2 when the process's cgroup2 directory offers all of memory, cpu and pids
    /// (`controllers(dir)` returns its cgroup.controllers), else v1 from the per-controller
    /// mounts. A hybrid host such as a v1 machine with a near-empty cgroup2 at
    /// /sys/fs/cgroup/unified therefore ends up on v1, as it must: a controller is bound to
    /// one hierarchy, and there it is bound to v1.
    public static func detect(
        membership: String, mountInfo: String, controllers: (String) throws -> String?
    ) throws -> CgroupHierarchy {
        let groups = CgroupMembership.parse(membership)
        let mounts = CgroupMount.parse(mountInfo)

        if let unified = groups.first(where: { $0.hierarchyID == 0 }) {
            for mount in mounts where mount.isUnified {
                guard let directory = mount.directory(for: unified.path) else { continue }
                let offered = Set((try controllers(directory) ?? "").split(separator: " ").map {
                    $0.trimmingWhitespace()
                })
                if CgroupController.allCases.allSatisfy({ offered.contains($0.rawValue) }) {
                    return .v2(directory)
                }
            }
        }

        var directories: [CgroupController: String] = [:]
        for controller in CgroupController.allCases {
            guard let group = groups.first(where: { $0.controllers.contains(controller.rawValue) }) else {
                throw CgroupError("cgroup: the \(controller) controller is in neither hierarchy of /proc/self/cgroup")
            }
            let candidates = mounts.filter { !$0.isUnified && $0.controllers.contains(controller.rawValue) }
            guard let directory = candidates.lazy.compactMap({ $0.directory(for: group.path) }).first else {
                throw CgroupError(
                    "cgroup: no mount of the v1 \(controller) hierarchy shows berth's cgroup \(group.path)"
                        + " (looked in /proc/self/mountinfo)")
            }
            directories[controller] = directory
        }
        return .v1(directories)
    }
}

/// One line of /proc/PID/cgroup: `hierarchy-ID:controller-list:cgroup-path`.
public struct CgroupMembership: Sendable, Equatable {
    /// 0 for the unified (v2) hierarchy.
    public var hierarchyID: Int
    /// The v1 controllers bound to this hierarchy (`cpu,cpuacct` co-mounted gives two);
    /// empty for v2. A named hierarchy (`name=systemd`) keeps its `name=` entry.
    public var controllers: [String]
    /// The cgroup's path relative to the hierarchy's root (or the cgroup namespace's root).
    public var path: String

    /// Parses the file's lines; malformed lines are skipped.
    public static func parse(_ text: String) -> [CgroupMembership] {
        text.split(separator: "\n").compactMap { line in
            // The path may itself contain ':', so split at the first two only.
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, let id = Int(parts[0]) else { return nil }
            let controllers = parts[1].split(separator: ",").map(String.init)
            return CgroupMembership(hierarchyID: id, controllers: controllers, path: String(parts[2]))
        }
    }
}

/// A cgroup or cgroup2 filesystem from /proc/self/mountinfo.
public struct CgroupMount: Sendable, Equatable {
    /// Where it is mounted.
    public var mountPoint: String
    /// Which directory of the hierarchy appears at the mount point (not "/" for a bind mount
    /// of a subtree, or in a container that mounted its own part of the hierarchy).
    public var root: String
    /// True for cgroup2.
    public var isUnified: Bool
    /// For v1, the super options but rw/ro: the controllers (`rw,cpu,cpuacct` → cpu, cpuacct)
    /// plus any flags such as `xattr`, which never equal a controller's name.
    public var controllers: [String]

    /// Parses mountinfo lines, keeping only cgroup and cgroup2 mounts. A line reads
    /// `id parent major:minor root mount-point options [optional fields] - fstype source super-options`
    /// (proc(5)); the optional fields vary in number, so the part after " - " is found by the
    /// separator, not by position.
    public static func parse(_ text: String) -> [CgroupMount] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard let dash = fields.firstIndex(of: "-"), dash >= 6, fields.count >= dash + 4 else { return nil }
            let type = fields[dash + 1]
            guard type == "cgroup" || type == "cgroup2" else { return nil }
            let options = fields[dash + 3].split(separator: ",").map(String.init)
            let known: Set<String> = ["rw", "ro"]
            return CgroupMount(
                mountPoint: unescape(fields[4]), root: unescape(fields[3]), isUnified: type == "cgroup2",
                controllers: type == "cgroup2" ? [] : options.filter { !known.contains($0) })
        }
    }

    /// The directory of cgroup `path` under this mount, or nil when the mount shows a part
    /// of the hierarchy that does not contain it.
    public func directory(for path: String) -> String? {
        guard !path.split(separator: "/").contains("..") else { return nil }
        let rootParts = root.split(separator: "/")
        let pathParts = path.split(separator: "/")
        guard pathParts.starts(with: rootParts) else { return nil }
        let rest = pathParts.dropFirst(rootParts.count)
        let base = mountPoint == "/" ? "" : mountPoint
        return rest.isEmpty ? mountPoint : base + "/" + rest.joined(separator: "/")
    }

    /// Undoes mountinfo's octal escapes of space, tab, newline and backslash (`\040`).
    static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        let utf8 = Array(field.utf8)
        var index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "\\"), index + 3 < utf8.count,
                let value = UInt8(String(decoding: utf8[(index + 1)...(index + 3)], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
