#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSeccomp

/// A worker's seccomp profile as plain data: every syscall is allowed except the listed
/// rules, which fail with an errno. `compile()` turns it into the BPF program the child loads.
///
/// A deny-list, not Docker's allow-list: berth's other walls (namespaces, no capabilities,
/// no_new_privs, cgroups) do the confining, and the profile closes the kernel surfaces that
/// stay reachable without capabilities or that have a history of exploits.
public struct SeccompProfile: Sendable, Hashable {
    /// The errno a `.deny` rule returns (EPERM by default, as Docker's profile does).
    public var errno: Int32
    /// The rules, in order; several rules for one syscall match when any of them does.
    public var rules: [SeccompRule]

    /// A profile from explicit rules.
    public init(errno: Int32 = EPERM, rules: [SeccompRule]) {
        self.errno = errno
        self.rules = rules
    }

    /// The syscall names the profile denies in some way (conditionally or not), sorted.
    public var deniedNames: [String] {
        Array(Set(rules.map(\.syscall))).sorted()
    }

    /// The same profile without any rule for the named syscalls (an app's `allow` list).
    /// Throws for a name the kernel does not know.
    public func allowing(_ names: [String]) throws(SeccompError) -> SeccompProfile {
        for name in names { try Self.validate(name) }
        let removed = Set(names)
        var profile = self
        profile.rules.removeAll { removed.contains($0.syscall) }
        return profile
    }

    /// The same profile with the named syscalls denied outright (an app's `deny` list): an
    /// unconditional rule replaces any conditional one. Throws for an unknown name.
    public func denying(_ names: [String]) throws(SeccompError) -> SeccompProfile {
        for name in names { try Self.validate(name) }
        let added = Set(names)
        var profile = self
        profile.rules.removeAll { added.contains($0.syscall) }
        for name in names where !profile.rules.contains(where: { $0.syscall == name }) {
            profile.rules.append(SeccompRule(name))
        }
        return profile
    }

    /// berth's default profile adjusted by an app's lists. A name in both lists is an error.
    public static func `default`(
        allow: [String] = [], deny: [String] = [], errno: Int32 = EPERM
    ) throws(SeccompError) -> SeccompProfile {
        if let both = allow.first(where: { deny.contains($0) }) {
            throw .allowedAndDenied(both)
        }
        guard (1...Self.maximumErrno).contains(errno) else { throw .invalidErrno(errno) }
        var profile = SeccompProfile(errno: errno, rules: defaultRules)
        profile = try profile.allowing(allow)
        return try profile.denying(deny)
    }

    /// The kernel clamps SECCOMP_RET_ERRNO data to MAX_ERRNO.
    static let maximumErrno: Int32 = 4095

    /// Throws unless libseccomp knows `name` on some architecture. A name that exists only
    /// on others (`vm86` on x86_64) is accepted and compiles to nothing.
    static func validate(_ name: String) throws(SeccompError) {
        if name.isEmpty || syscallNumber(name) == __NR_SCMP_ERROR {
            throw .unknownSyscall(name)
        }
    }

    /// The native number of `name`: `__NR_SCMP_ERROR` (-1) when unknown, another negative
    /// (a libseccomp pseudo-number) when the syscall does not exist on this architecture.
    static func syscallNumber(_ name: String) -> Int32 {
        seccomp_syscall_resolve_name(name)
    }
}

/// One rule: this syscall, when all the conditions hold, fails with an errno.
public struct SeccompRule: Sendable, Hashable {
    /// What a matching call gets.
    public enum Action: Sendable, Hashable {
        /// The profile's errno.
        case deny
        /// A specific errno, whatever the profile's (clone3 gets ENOSYS).
        case errno(Int32)
    }

    public var syscall: String
    public var action: Action
    /// All must hold (AND); each argument at most once (libseccomp refuses two comparisons
    /// on one argument in a rule: use several rules, which OR).
    public var conditions: [SeccompCondition]

    /// A rule for `syscall`.
    public init(_ syscall: String, _ action: Action = .deny, when conditions: [SeccompCondition] = []) {
        self.syscall = syscall
        self.action = action
        self.conditions = conditions
    }
}

/// A comparison of one syscall argument (as the 64-bit register value) with a constant.
public struct SeccompCondition: Sendable, Hashable {
    /// How the argument is compared with `value`.
    public enum Comparison: Sendable, Hashable {
        case equal, notEqual, less, lessOrEqual, greater, greaterOrEqual
        /// `argument & mask == value`.
        case maskedEqual(mask: UInt64)
    }

    /// The argument index, 0...5.
    public var argument: UInt32
    public var comparison: Comparison
    public var value: UInt64

    /// A condition on argument `argument`.
    public init(argument: UInt32, _ comparison: Comparison, _ value: UInt64) {
        self.argument = argument
        self.comparison = comparison
        self.value = value
    }

    /// True when every bit of `bits` is set in argument `argument`.
    public static func hasAllBits(argument: UInt32, _ bits: UInt64) -> SeccompCondition {
        SeccompCondition(argument: argument, .maskedEqual(mask: bits), bits)
    }
}

/// A profile that cannot be built, naming what is wrong with it.
public enum SeccompError: Error, Equatable, CustomStringConvertible {
    /// No architecture libseccomp knows has a syscall by that name.
    case unknownSyscall(String)
    /// The same name is in an app's allow and deny lists.
    case allowedAndDenied(String)
    /// An errno outside 1...4095.
    case invalidErrno(Int32)
    /// The program is longer than the kernel accepts (BPF_MAXINSNS).
    case programTooLong(instructions: Int)

    public var description: String {
        switch self {
        case .unknownSyscall(let name): return "seccomp: unknown syscall \"\(name)\""
        case .allowedAndDenied(let name):
            return "seccomp: syscall \"\(name)\" is both allowed and denied"
        case .invalidErrno(let code): return "seccomp: errno \(code) is outside 1...4095"
        case .programTooLong(let count):
            return "seccomp: the filter has \(count) instructions; the kernel takes at most 4096"
        }
    }
}
