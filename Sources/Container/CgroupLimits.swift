/// Resource limits for one worker's cgroup; nil means "no limit of this kind".
public struct CgroupLimits: Sendable, Equatable {
    /// Memory the worker may use, in bytes; swap is capped so the limit really bites.
    public var memoryBytes: Int?
    /// CPU time as a fraction of one CPU per period: 0.5 is half a CPU, 2 is two CPUs.
    public var cpuFraction: Double?
    /// Processes and threads the worker may have at once.
    public var pidsMax: Int?

    public init(memoryBytes: Int? = nil, cpuFraction: Double? = nil, pidsMax: Int? = nil) {
        self.memoryBytes = memoryBytes
        self.cpuFraction = cpuFraction
        self.pidsMax = pidsMax
    }

    /// The CFS period berth uses (the kernel default, 100 ms).
    static let cpuPeriodMicroseconds = 100_000
    /// The kernel refuses a quota under 1 ms.
    static let minimumQuotaMicroseconds = 1_000

    var cpuQuotaMicroseconds: Int? {
        cpuFraction.map { max(Self.minimumQuotaMicroseconds, Int(($0 * Double(Self.cpuPeriodMicroseconds)).rounded())) }
    }

    /// The file writes that apply these limits, in order, for a cgroup of `version`.
    ///
    /// The v1 and v2 files differ in more than names:
    /// - v1 `memory.memsw.limit_in_bytes` caps memory *plus* swap and must be >= the memory
    ///   limit, so it is written second with the same value: no swap at all. v2's
    ///   `memory.swap.max` caps swap *alone*, so the same effect is `0` there.
    /// - v1 splits the CPU quota over two files; v2's `cpu.max` takes "quota period".
    /// - v2 `memory.oom.group` makes the OOM killer take the whole worker (its children
    ///   too) rather than one process of it; v1 has no such switch.
    /// Swap and group-OOM files are optional: absent without swap accounting or on old kernels.
    public func plan(for version: CgroupVersion) -> [CgroupWrite] {
        var writes: [CgroupWrite] = []
        switch version {
        case .v1:
            if let memoryBytes {
                writes.append(CgroupWrite(.memory, "memory.limit_in_bytes", "\(memoryBytes)"))
                writes.append(CgroupWrite(.memory, "memory.memsw.limit_in_bytes", "\(memoryBytes)", optional: true))
            }
            if let quota = cpuQuotaMicroseconds {
                writes.append(CgroupWrite(.cpu, "cpu.cfs_period_us", "\(Self.cpuPeriodMicroseconds)"))
                writes.append(CgroupWrite(.cpu, "cpu.cfs_quota_us", "\(quota)"))
            }
            if let pidsMax {
                writes.append(CgroupWrite(.pids, "pids.max", "\(pidsMax)"))
            }
        case .v2:
            if let memoryBytes {
                writes.append(CgroupWrite(.memory, "memory.max", "\(memoryBytes)"))
                writes.append(CgroupWrite(.memory, "memory.swap.max", "0", optional: true))
                writes.append(CgroupWrite(.memory, "memory.oom.group", "1", optional: true))
            }
            if let quota = cpuQuotaMicroseconds {
                writes.append(CgroupWrite(.cpu, "cpu.max", "\(quota) \(Self.cpuPeriodMicroseconds)"))
            }
            if let pidsMax {
                writes.append(CgroupWrite(.pids, "pids.max", "\(pidsMax)"))
            }
        }
        return writes
    }
}

/// Which cgroup interface the host offers berth.
public enum CgroupVersion: Sendable, Equatable {
    case v1
    case v2
}

/// The controllers berth limits workers with.
public enum CgroupController: String, Sendable, CaseIterable, Comparable {
    case memory
    case cpu
    case pids

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// One write into a worker's cgroup: a step of the limits plan, testable as plain data.
public struct CgroupWrite: Sendable, Equatable, CustomStringConvertible {
    /// The controller whose directory holds the file (on v2 all share one directory).
    public var controller: CgroupController
    public var file: String
    public var value: String
    /// A file that may be missing on this kernel or configuration; then the write is skipped.
    public var optional: Bool

    public init(_ controller: CgroupController, _ file: String, _ value: String, optional: Bool = false) {
        self.controller = controller
        self.file = file
        self.value = value
        self.optional = optional
    }

    public var description: String { "\(file) = \(value)\(optional ? " (if present)" : "")" }
}
