#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSeccomp
import LinuxSystem

/// A compiled seccomp filter: classic BPF instructions (`struct sock_filter`, 8 bytes each,
/// native byte order) ready for prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &sock_fprog).
public struct SeccompProgram: Sendable, Hashable {
    /// The raw `struct sock_filter` array: u16 code, u8 jt, u8 jf, u32 k per instruction.
    public let bytes: [UInt8]

    /// Wraps exported BPF bytes; their count must be a multiple of 8.
    public init(bytes: [UInt8]) {
        precondition(bytes.count % 8 == 0, "a BPF program is a whole number of 8-byte instructions")
        self.bytes = bytes
    }

    /// The number of instructions (`sock_fprog.len`).
    public var count: Int { bytes.count / 8 }

    /// The instructions, decoded.
    public var instructions: [SeccompInstruction] {
        stride(from: 0, to: bytes.count, by: 8).map { offset in
            func field<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
                bytes[(offset + at)..<(offset + at + MemoryLayout<T>.size)].withUnsafeBytes {
                    T(littleEndian: $0.loadUnaligned(as: T.self))
                }
            }
            return SeccompInstruction(
                code: field(0, UInt16.self), jt: bytes[offset + 2], jf: bytes[offset + 3],
                k: field(4, UInt32.self))
        }
    }

    /// Calls `body` with a pointer to the first `struct sock_filter` and the instruction
    /// count. The pointer is valid only inside `body`; a child made by clone without
    /// CLONE_VM inside `body` sees its own copy at the same address.
    public func withUnsafeFilter<R>(_ body: (UnsafeRawPointer, UInt16) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { try body($0.baseAddress!, UInt16(count)) }
    }
}

/// One classic BPF instruction, as the kernel's `struct sock_filter`.
public struct SeccompInstruction: Sendable, Hashable {
    public var code: UInt16
    public var jt: UInt8
    public var jf: UInt8
    public var k: UInt32
}

extension SeccompProfile {
    /// The kernel's limit on a classic BPF program (BPF_MAXINSNS).
    static let maximumInstructions = 4096

    /// Compiles the profile for the native architecture (x86_64) with libseccomp.
    ///
    /// Calls from any other architecture kill the process: on x86_64 that is i386 code
    /// (`int 0x80`, whose syscall numbers differ: 21 is mount there) and x32 (numbers with
    /// bit 30 set, which libseccomp's x86_64 filter treats as a foreign architecture).
    /// Docker instead repeats its rules for x86 and x32; a Python worker makes no such
    /// calls, so killing is both simpler and stricter than filtering them.
    public func compile() throws -> SeccompProgram {
        guard (1...Self.maximumErrno).contains(errno) else { throw SeccompError.invalidErrno(errno) }
        guard let context = seccomp_init(UInt32(SCMP_ACT_ALLOW)) else {
            throw SystemError(call: "seccomp_init", errno: ENOMEM)
        }
        defer { seccomp_release(context) }
        try check(
            seccomp_attr_set(context, SCMP_FLTATR_ACT_BADARCH, UInt32(SCMP_ACT_KILL_PROCESS)),
            "seccomp_attr_set", "SCMP_FLTATR_ACT_BADARCH")
        for rule in rules {
            try Self.validate(rule.syscall)
            let number = Self.syscallNumber(rule.syscall)
            // A name only other architectures have: nothing to filter here.
            if number < 0 { continue }
            let code: Int32
            switch rule.action {
            case .deny: code = errno
            case .errno(let specific): code = specific
            }
            guard (1...Self.maximumErrno).contains(code) else { throw SeccompError.invalidErrno(code) }
            let action = Self.errnoAction(code)
            let comparisons = rule.conditions.map(\.libseccompComparison)
            try check(
                seccomp_rule_add_array(
                    context, action, number, UInt32(comparisons.count), comparisons),
                "seccomp_rule_add", rule.syscall)
        }
        let bytes = try Self.exportBPF(context)
        guard bytes.count / 8 <= Self.maximumInstructions else {
            throw SeccompError.programTooLong(instructions: bytes.count / 8)
        }
        return SeccompProgram(bytes: bytes)
    }

    /// SCMP_ACT_ERRNO(code), a macro Swift cannot import: SECCOMP_RET_ERRNO | errno.
    static func errnoAction(_ code: Int32) -> UInt32 {
        0x0005_0000 | (UInt32(code) & 0xffff)
    }

    /// Writes the program into a memfd and reads it back (libseccomp 2.5 has no export to
    /// memory).
    private static func exportBPF(_ context: scmp_filter_ctx) throws -> [UInt8] {
        let fd = try retryingSyscall("memfd_create", "seccomp filter") {
            memfd_create("berth-seccomp", MFD_CLOEXEC)
        }
        defer { Descriptors.close(fd) }
        try check(seccomp_export_bpf(context, fd), "seccomp_export_bpf")
        let size = try retryingSyscall("lseek", "seccomp filter") { lseek(fd, 0, SEEK_END) }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        var done = 0
        while done < bytes.count {
            let got = try bytes.withUnsafeMutableBytes { buffer in
                try retryingSyscall("pread", "seccomp filter") {
                    pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(done))
                }
            }
            if got == 0 { throw SystemError(call: "pread", object: "seccomp filter", errno: EIO) }
            done += got
        }
        return bytes
    }
}

/// libseccomp returns 0 or a negated errno.
private func check(_ result: Int32, _ call: String, _ object: String? = nil) throws(SystemError) {
    if result < 0 { throw SystemError(call: call, object: object, errno: -result) }
}

extension SeccompCondition {
    fileprivate var libseccompComparison: scmp_arg_cmp {
        switch comparison {
        case .equal: return scmp_arg_cmp(arg: argument, op: SCMP_CMP_EQ, datum_a: value, datum_b: 0)
        case .notEqual: return scmp_arg_cmp(arg: argument, op: SCMP_CMP_NE, datum_a: value, datum_b: 0)
        case .less: return scmp_arg_cmp(arg: argument, op: SCMP_CMP_LT, datum_a: value, datum_b: 0)
        case .lessOrEqual:
            return scmp_arg_cmp(arg: argument, op: SCMP_CMP_LE, datum_a: value, datum_b: 0)
        case .greater: return scmp_arg_cmp(arg: argument, op: SCMP_CMP_GT, datum_a: value, datum_b: 0)
        case .greaterOrEqual:
            return scmp_arg_cmp(arg: argument, op: SCMP_CMP_GE, datum_a: value, datum_b: 0)
        case .maskedEqual(let mask):
            return scmp_arg_cmp(arg: argument, op: SCMP_CMP_MASKED_EQ, datum_a: mask, datum_b: value)
        }
    }
}
