import Foundation
import Testing

@testable import Container

/// Fixtures: /proc/self/cgroup and /proc/self/mountinfo as different hosts show them.
enum CgroupFixtures {
    /// This machine: v1 controllers each on their own mount, a cgroup2 holding only hugetlb.
    static let hybridMembership = """
        9:name=systemd:/
        8:pids:/
        7:blkio:/
        4:memory:/process_api/df57691c1b9ab8fc78412020bbb408ea
        3:cpuset:/
        2:cpuacct:/
        1:cpu:/
        0::/

        """
    static let hybridMounts = """
        30 1 0:27 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
        34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """

    /// A systemd host on the unified hierarchy, berth started as a service.
    static let unifiedMembership = "0::/system.slice/berth.service\n"
    static let unifiedMounts = """
        22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
        26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        """

    /// An older systemd host: v1 with cpu and cpuacct co-mounted, an empty cgroup2 beside.
    static let comountedMembership = """
        12:pids:/user.slice/user-1000.slice/session-2.scope
        11:memory:/user.slice/user-1000.slice/session-2.scope
        4:cpu,cpuacct:/user.slice
        1:name=systemd:/user.slice/user-1000.slice/session-2.scope
        0::/user.slice/user-1000.slice/session-2.scope
        """
    static let comountedMounts = """
        25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
        26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
        27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
        31 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
        35 25 0:32 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,memory
        36 25 0:33 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,pids
        """

    /// A v1 container whose mounts show only its own part of each hierarchy.
    static let containerMembership = """
        6:memory:/docker/4f1c
        5:pids:/docker/4f1c
        3:cpu,cpuacct:/docker/4f1c
        """
    static let containerMounts = """
        700 690 0:40 /docker/4f1c /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
        701 690 0:41 /docker/4f1c /sys/fs/cgroup/pids ro,nosuid - cgroup cgroup rw,pids
        702 690 0:42 /docker/4f1c /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpuacct,cpu
        """
}

@Suite("cgroup parsing and limit plans")
struct CgroupParsingTests {
    typealias F = CgroupFixtures

    @Test func hybridHostWithNearEmptyUnifiedMountIsV1() throws {
        var asked: [String] = []
        let hierarchy = try CgroupHierarchy.detect(membership: F.hybridMembership, mountInfo: F.hybridMounts) {
            asked.append($0)
            return "hugetlb\n"
        }
        #expect(asked == ["/sys/fs/cgroup/unified"])
        #expect(
            hierarchy
                == .v1([
                    .memory: "/sys/fs/cgroup/memory/process_api/df57691c1b9ab8fc78412020bbb408ea",
                    .cpu: "/sys/fs/cgroup/cpu",
                    .pids: "/sys/fs/cgroup/pids",
                ]))
    }

    @Test func unifiedHostUsesTheServiceCgroup() throws {
        let hierarchy = try CgroupHierarchy.detect(membership: F.unifiedMembership, mountInfo: F.unifiedMounts) {
            $0 == "/sys/fs/cgroup/system.slice/berth.service" ? "cpuset cpu io memory hugetlb pids rdma misc\n" : nil
        }
        #expect(hierarchy == .v2("/sys/fs/cgroup/system.slice/berth.service"))
        #expect(hierarchy.version == .v2)
    }

    @Test func unifiedWithoutPidsFallsBackAndFailsWithoutV1Mounts() {
        #expect(throws: CgroupError.self) {
            try CgroupHierarchy.detect(membership: F.unifiedMembership, mountInfo: F.unifiedMounts) { _ in
                "cpu memory\n"
            }
        }
    }

    @Test func comountedCpuAndCpuacct() throws {
        let hierarchy = try CgroupHierarchy.detect(membership: F.comountedMembership, mountInfo: F.comountedMounts) {
            _ in ""
        }
        let session = "/user.slice/user-1000.slice/session-2.scope"
        #expect(
            hierarchy
                == .v1([
                    .memory: "/sys/fs/cgroup/memory" + session,
                    .cpu: "/sys/fs/cgroup/cpu,cpuacct/user.slice",
                    .pids: "/sys/fs/cgroup/pids" + session,
                ]))
    }

    @Test func mountsShowingOnlyTheirSubtree() throws {
        let hierarchy = try CgroupHierarchy.detect(membership: F.containerMembership, mountInfo: F.containerMounts) {
            _ in nil
        }
        #expect(
            hierarchy
                == .v1([
                    .memory: "/sys/fs/cgroup/memory", .cpu: "/sys/fs/cgroup/cpu,cpuacct", .pids: "/sys/fs/cgroup/pids",
                ]))
    }

    @Test func missingControllerIsNamed() {
        let membership = F.hybridMembership.replacingOccurrences(of: "8:pids:/\n", with: "")
        #expect {
            try CgroupHierarchy.detect(membership: membership, mountInfo: F.hybridMounts) { _ in nil }
        } throws: { error in
            "\(error)".contains("pids controller")
        }
    }

    @Test func membershipLines() {
        let lines = CgroupMembership.parse("4:cpu,cpuacct:/a:b\n0::/\nbroken\n")
        #expect(lines == [
            CgroupMembership(hierarchyID: 4, controllers: ["cpu", "cpuacct"], path: "/a:b"),
            CgroupMembership(hierarchyID: 0, controllers: [], path: "/"),
        ])
    }

    @Test func mountDirectories() {
        let escaped = CgroupMount.parse("1 2 0:3 /a\\040b /mnt/cg\\040v1 rw shared:1 master:2 - cgroup none rw,pids\n")
        #expect(escaped == [CgroupMount(mountPoint: "/mnt/cg v1", root: "/a b", isUnified: false, controllers: ["pids"])])
        let mount = escaped[0]
        #expect(mount.directory(for: "/a b") == "/mnt/cg v1")
        #expect(mount.directory(for: "/a b/c/d") == "/mnt/cg v1/c/d")
        #expect(mount.directory(for: "/a bc") == nil)
        #expect(mount.directory(for: "/") == nil)
        let whole = CgroupMount(mountPoint: "/sys/fs/cgroup", root: "/", isUnified: true, controllers: [])
        #expect(whole.directory(for: "/") == "/sys/fs/cgroup")
        #expect(whole.directory(for: "/x/../y") == nil)
    }

    @Test func v1Plan() {
        let limits = CgroupLimits(memoryBytes: 64 << 20, cpuFraction: 0.5, pidsMax: 16)
        #expect(limits.plan(for: .v1).map(\.description) == [
            "memory.limit_in_bytes = 67108864",
            "memory.memsw.limit_in_bytes = 67108864 (if present)",
            "cpu.cfs_period_us = 100000",
            "cpu.cfs_quota_us = 50000",
            "pids.max = 16",
        ])
        #expect(limits.plan(for: .v1).map(\.controller) == [.memory, .memory, .cpu, .cpu, .pids])
    }

    @Test func v2Plan() {
        let limits = CgroupLimits(memoryBytes: 64 << 20, cpuFraction: 1.5, pidsMax: 16)
        #expect(limits.plan(for: .v2).map(\.description) == [
            "memory.max = 67108864",
            "memory.swap.max = 0 (if present)",
            "memory.oom.group = 1 (if present)",
            "cpu.max = 150000 100000",
            "pids.max = 16",
        ])
    }

    @Test func emptyAndTinyLimits() {
        #expect(CgroupLimits().plan(for: .v1).isEmpty)
        #expect(CgroupLimits(cpuFraction: 0.0001).plan(for: .v2).map(\.value) == ["1000 100000"])
    }

    @Test func memoryEventsFallBackToLimitHits() {
        #expect(CgroupMemoryEvents(oomKills: 1, limitHits: 3).oomKilled)
        #expect(!CgroupMemoryEvents(oomKills: 0, limitHits: 3).oomKilled)
        #expect(CgroupMemoryEvents(oomKills: nil, limitHits: 1).oomKilled)
        #expect(!CgroupMemoryEvents(oomKills: nil, limitHits: 0).oomKilled)
        #expect(CgroupFiles.keyedCounters("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")["oom_kill"] == 2)
    }
}
