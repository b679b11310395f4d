#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// berth's default profile: what Docker's default profile (moby/profiles/seccomp) keeps from a
// container without CAP_SYS_ADMIN & co., written as a deny-list. Names absent on x86_64
// (stime, vm86, umount) are kept for other architectures and compile to nothing here.

extension SeccompProfile {
    /// The syscalls berth denies outright, grouped by the kernel surface they open.
    public static let defaultDeniedNames: [String] = [
        // Mounts and the new mount API: the container's file system view is fixed by berth.
        "mount", "umount", "umount2", "pivot_root", "chroot",
        "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
        // Namespaces: a worker may not make or join any (clone is checked by flags below).
        "unshare", "setns",
        // Other processes' memory and state: ptrace & co. (even inside the pid namespace,
        // they are a classic escalation path and no WSGI app needs them).
        "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
        // Kernel attack surface reachable without capabilities, with a record of exploits:
        // eBPF, perf, userfaultfd (used to win kernel races), io_uring (Docker denies it
        // since 25.0), the kernel keyring (not namespaced).
        "bpf", "perf_event_open", "userfaultfd",
        "io_uring_setup", "io_uring_enter", "io_uring_register",
        "keyctl", "add_key", "request_key",
        // The machine itself: kernels, modules, reboot, swap, accounting, the kernel log.
        "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
        "create_module", "get_kernel_syms", "query_module", "reboot", "swapon", "swapoff",
        "acct", "syslog", "quotactl", "quotactl_fd", "nfsservctl", "lookup_dcookie",
        "uselib", "_sysctl", "sysfs", "ustat",
        // The clock is not namespaced (time namespaces only offset monotonic/boottime).
        "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime",
        // File handles bypass path lookup: open_by_handle_at escaped Docker in 2014
        // ("shocker"); name_to_handle_at goes with it.
        "open_by_handle_at", "name_to_handle_at",
        // Raw I/O ports and the 16-bit virtual machine mode.
        "iopl", "ioperm", "vm86", "vm86old",
    ]

    /// Namespace flags a worker may not pass to clone(2): CLONE_NEWNS, NEWCGROUP, NEWUTS,
    /// NEWIPC, NEWUSER, NEWPID, NEWNET (together 0x7E020000, Docker's mask). CLONE_NEWTIME
    /// (0x80) is not among them: in clone(2) that bit is part of the exit signal (CSIGNAL);
    /// a time namespace needs unshare or clone3, both denied.
    public static let cloneNamespaceFlags: [UInt64] = [
        0x0002_0000, 0x0200_0000, 0x0400_0000, 0x0800_0000, 0x1000_0000, 0x2000_0000,
        0x4000_0000,
    ]

    /// The personalities Docker allows: PER_LINUX (0), PER_LINUX32 (8), UNAME26 (0x20000),
    /// PER_LINUX32|UNAME26 (0x20008) and 0xffffffff, which only queries. Others would turn off
    /// ASLR (ADDR_NO_RANDOMIZE) or make data executable (READ_IMPLIES_EXEC).
    public static let allowedPersonalities: [UInt64] = [0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff]

    /// The full default rule list: the outright denials, clone by flags, clone3, personality.
    public static var defaultRules: [SeccompRule] {
        var rules = defaultDeniedNames.map { SeccompRule($0) }
        // clone(2) is how fork and threads are made, so it is checked by flag: one rule per
        // namespace flag, as a rule may compare an argument only once (rules OR together).
        // On x86_64 the flags are argument 0.
        rules += cloneNamespaceFlags.map {
            SeccompRule("clone", when: [.hasAllBits(argument: 0, $0)])
        }
        // clone3(2) passes its flags in a struct in memory, which seccomp cannot read. Docker
        // answers ENOSYS so that glibc (>= 2.34: pthread_create, posix_spawn) falls back to
        // clone(2), whose flags are checked above; EPERM would be taken as a real failure.
        rules.append(SeccompRule("clone3", .errno(ENOSYS)))
        rules += personalityRules
        return rules
    }

    /// Rules that deny personality(2) for every 32-bit value outside `allowedPersonalities`.
    ///
    /// A rule may test an argument once, so "not one of five values" has to be an OR of
    /// single masked comparisons. The kernel reads the argument as `unsigned int`; the masks
    /// cover the low 32 bits only, so junk in the upper half changes nothing. Let T be the
    /// 30 bits other than 3 and 17. The allowed values other than 0xffffffff are exactly those
    /// with no T bit set, so a value is denied when (a) some T bit is set and some T bit is
    /// clear, or (b) every T bit is set but bit 3 or bit 17 is clear. Walking the T bits in
    /// a ring, (a) always has a clear bit followed by a set one: one rule "t set, previous T
    /// bit clear" per t (30 rules). (b) takes one rule each for bits 3 and 17. Each rule
    /// needs a set T bit (never true for 0, 8, 0x20000, 0x20008) and a clear bit (never true
    /// for 0xffffffff). 32 rules is the least: each of the 32 values "all ones but bit j" is
    /// denied and a masked comparison can match only one of them.
    static var personalityRules: [SeccompRule] {
        let others: [UInt64] = (0..<32).filter { $0 != 3 && $0 != 17 }.map { 1 << $0 }
        func rule(set: UInt64, clear: UInt64) -> SeccompRule {
            SeccompRule(
                "personality", when: [SeccompCondition(argument: 0, .maskedEqual(mask: set | clear), set)])
        }
        var rules: [SeccompRule] = []
        for (index, bit) in others.enumerated() {
            rules.append(rule(set: bit, clear: others[(index + others.count - 1) % others.count]))
        }
        rules.append(rule(set: others[0], clear: 1 << 3))
        rules.append(rule(set: others[0], clear: 1 << 17))
        return rules
    }
}
