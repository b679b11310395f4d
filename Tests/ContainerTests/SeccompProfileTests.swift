import Glibc
import Testing

@testable import Container

/// The profile as plain data and the shape of the compiled program, without loading it.
@Suite struct SeccompProfileTests {
    @Test func defaultProfileCoversDockersBlockedSet() throws {
        let names = try SeccompProfile.default().deniedNames
        for name in [
            "mount", "umount2", "pivot_root", "ptrace", "kexec_load", "kexec_file_load", "bpf",
            "keyctl", "add_key", "request_key", "unshare", "setns", "init_module", "finit_module",
            "delete_module", "reboot", "swapon", "swapoff", "perf_event_open", "userfaultfd",
            "open_by_handle_at", "name_to_handle_at", "acct", "settimeofday", "clock_settime",
            "clock_adjtime", "adjtimex", "stime", "syslog", "quotactl", "nfsservctl",
            "lookup_dcookie", "iopl", "ioperm", "create_module", "get_kernel_syms", "query_module",
            "uselib", "personality", "vm86", "vm86old", "fsopen", "fsmount", "fsconfig", "fspick",
            "move_mount", "open_tree", "mount_setattr", "process_vm_readv", "process_vm_writev",
            "kcmp", "clone", "clone3",
        ] {
            #expect(names.contains(name), "\(name)")
        }
        for harmless in ["sethostname", "pidfd_getfd", "socket", "clone3x"] {
            #expect(!names.contains(harmless), "\(harmless)")
        }
    }

    @Test func everyDefaultNameIsKnownToLibseccomp() throws {
        for rule in SeccompProfile.defaultRules {
            #expect(throws: Never.self) { try SeccompProfile.validate(rule.syscall) }
        }
    }

    @Test func allowRemovesEveryRuleForTheName() throws {
        let profile = try SeccompProfile.default(allow: ["clone", "ptrace"])
        #expect(!profile.deniedNames.contains("clone"))
        #expect(!profile.deniedNames.contains("ptrace"))
        #expect(profile.deniedNames.contains("clone3"))
    }

    @Test func denyAddsAnUnconditionalRule() throws {
        let profile = try SeccompProfile.default(deny: ["personality", "getcwd"])
        #expect(profile.rules.filter { $0.syscall == "personality" } == [SeccompRule("personality")])
        #expect(profile.rules.filter { $0.syscall == "getcwd" } == [SeccompRule("getcwd")])
    }

    @Test func unknownNamesAreNamedInTheError() throws {
        #expect(throws: SeccompError.unknownSyscall("mount2")) {
            try SeccompProfile.default(deny: ["mount2"])
        }
        #expect(throws: SeccompError.unknownSyscall("no_such_call")) {
            try SeccompProfile.default(allow: ["ptrace", "no_such_call"])
        }
        #expect(SeccompError.unknownSyscall("mount2").description == #"seccomp: unknown syscall "mount2""#)
        let explicit = SeccompProfile(rules: [SeccompRule("frobnicate")])
        #expect(throws: SeccompError.unknownSyscall("frobnicate")) { try explicit.compile() }
    }

    @Test func contradictoryListsAndBadErrnosAreRefused() throws {
        #expect(throws: SeccompError.allowedAndDenied("ptrace")) {
            try SeccompProfile.default(allow: ["ptrace"], deny: ["ptrace"])
        }
        #expect(throws: SeccompError.invalidErrno(0)) { try SeccompProfile.default(errno: 0) }
        #expect(throws: SeccompError.invalidErrno(70000)) {
            try SeccompProfile(rules: [SeccompRule("mount", .errno(70000))]).compile()
        }
    }

    /// The 32 personality rules against Docker's five values, evaluated here as the kernel
    /// would (low 32 bits: the masks ignore the upper half).
    @Test func personalityRulesDenyExactlyTheOtherValues() {
        let rules = SeccompProfile.personalityRules
        #expect(rules.count == 32)
        func denied(_ value: UInt64) -> Bool {
            rules.contains { rule in
                rule.conditions.allSatisfy { condition in
                    guard case .maskedEqual(let mask) = condition.comparison else { return false }
                    return value & mask == condition.value
                }
            }
        }
        let allowed = Set(SeccompProfile.allowedPersonalities)
        var samples: [UInt64] = Array(allowed) + [1, 7, 9, 0x20001, 0x40000, 0xfffffff7, 0xfffdffff]
        for bit in 0..<32 {
            samples += [1 << UInt64(bit), 0xffff_ffff ^ (1 << UInt64(bit)), (1 << UInt64(bit)) | 0x20008]
        }
        var generator = SystemRandomNumberGenerator()
        samples += (0..<20000).map { _ in UInt64(UInt32.random(in: .min ... .max, using: &generator)) }
        for value in samples {
            #expect(denied(value) == !allowed.contains(value), "\(String(value, radix: 16))")
            #expect(denied(value | 0xabcd_0000_0000) == denied(value))
        }
    }

    @Test func theProgramChecksTheArchitectureFirstAndKillsForeignCalls() throws {
        let program = try SeccompProfile.default().compile()
        let code = program.instructions
        #expect(program.count == code.count && program.count > 0 && program.count <= 4096)
        // ld [4] (seccomp_data.arch); jeq AUDIT_ARCH_X86_64.
        #expect(code[0] == SeccompInstruction(code: 0x20, jt: 0, jf: 0, k: 4))
        #expect(code[1].code == 0x15 && code[1].k == 0xc000_003e)
        // The x32 guard: jge 0x40000000 (only -1 may pass it).
        #expect(code.contains { $0.code == 0x35 && $0.k == 0x4000_0000 })
        // ret SECCOMP_RET_KILL_PROCESS, ret ALLOW, ret ERRNO(EPERM), ret ERRNO(ENOSYS).
        let returns = Set(code.filter { $0.code == 0x06 }.map(\.k))
        let expected: Set<UInt32> = [
            0x8000_0000, 0x7fff_0000, 0x0005_0000 | UInt32(EPERM), 0x0005_0000 | UInt32(ENOSYS),
        ]
        #expect(returns.isSuperset(of: expected))
        #expect(!returns.contains(0))  // never SECCOMP_RET_KILL_THREAD
        #expect(try SeccompProfile.default().compile() == program)
        program.withUnsafeFilter { pointer, count in
            #expect(Int(count) == program.count)
            #expect(pointer.loadUnaligned(fromByteOffset: 4, as: UInt32.self) == 4)
        }
    }
}
