import Foundation
import Testing

@testable import Container

/// Compiled profiles loaded into a real process (see `SeccompProbe`): what the kernel then
/// answers. These need only /usr/bin/python3 and a kernel with seccomp; nothing skips.
@Suite("seccomp filters in a real process")
struct SeccompFilterTests {
    /// The default profile's syscalls that exist on x86_64.
    static let nativeDenied = SeccompProfile.defaultDeniedNames.filter {
        SeccompProfile.syscallNumber($0) >= 0
    }

    @Test func defaultProfileDeniesEveryListedSyscallWithEPERM() throws {
        let report = try SeccompProbe.run(try SeccompProfile.default().compile())
        #expect(report["seccomp"] == "filter")
        for name in Self.nativeDenied {
            #expect(report[name] == "EPERM", "\(name)")
        }
        #expect(report["getcwd"] == "OK")
    }

    @Test func cloneIsDeniedPerNamespaceFlagAndClone3GetsENOSYS() throws {
        let report = try SeccompProbe.run(try SeccompProfile.default().compile())
        for flag in ["NEWNS", "NEWCGROUP", "NEWUTS", "NEWIPC", "NEWUSER", "NEWPID", "NEWNET"] {
            #expect(report["clone:" + flag] == "EPERM", "CLONE_\(flag)")
        }
        // Without namespace flags the call reaches the kernel, which rejects CLONE_THREAD
        // without CLONE_SIGHAND.
        #expect(report["clone:none"] == "EINVAL")
        #expect(report["clone3"] == "ENOSYS")
    }

    @Test func processesThreadsSocketsAndFilesStillWork() throws {
        let report = try SeccompProbe.run(try SeccompProfile.default().compile())
        #expect(report["fork"] == "exit 7")
        // glibc's posix_spawn and pthread_create try clone3 first and fall back on ENOSYS.
        #expect(report["posix_spawn"] == "exit 0")
        #expect(report["subprocess"] == "exit 0")
        #expect(report["thread"] == "ran")
        #expect(report["socketpair"] == "ping")
        #expect(report["sockets"] == "OK")
        #expect(report["file"] == "written")
    }

    @Test func onlyDockersPersonalitiesAreAllowed() throws {
        let report = try SeccompProbe.run(try SeccompProfile.default().compile())
        for allowed in ["0xffffffff", "0x20008", "0x20000", "0x8", "0x0", "0x100000000"] {
            #expect(report["personality:" + allowed] == "OK", "\(allowed)")
        }
        for denied in ["0x40000", "0x400000", "0x20009", "0xfffffffe", "0x7fffffff", "0x100040000"] {
            #expect(report["personality:" + denied] == "EPERM", "\(denied)")
        }
    }

    @Test func foreignArchitectureCallsKillTheProcess() throws {
        let report = try SeccompProbe.run(try SeccompProfile.default().compile())
        // Unfiltered, i386 getpid works (the kernel has IA32 emulation) and x32 is absent.
        #expect(report["int80_unfiltered"] == "exit 0")
        #expect(report["x32_unfiltered"] == "exit 0")
        #expect(report["int80"] == "signal \(SIGSYS)")
        #expect(report["x32"] == "signal \(SIGSYS)")
    }

    @Test func theConfiguredErrnoIsReturned() throws {
        // Also proves each EPERM above came from the filter, not from the kernel.
        let report = try SeccompProbe.run(try SeccompProfile.default(errno: EACCES).compile())
        for name in Self.nativeDenied {
            #expect(report[name] == "EACCES", "\(name)")
        }
        #expect(report["clone:NEWUSER"] == "EACCES")
        #expect(report["personality:0x40000"] == "EACCES")
        #expect(report["clone3"] == "ENOSYS")
    }

    @Test func anAppsAllowAndDenyListsApply() throws {
        let profile = try SeccompProfile.default(allow: ["ptrace", "clone3", "clone"], deny: ["getcwd"])
        let report = try SeccompProbe.run(try profile.compile())
        // Allowed: the kernel itself now rejects the harmless arguments.
        #expect(report["ptrace"] != "EPERM")
        #expect(report["ptrace"] != nil)
        #expect(report["clone3"] == "EINVAL")
        #expect(report["clone:NEWUSER"] == "EINVAL")
        #expect(report["getcwd"] == "EPERM")
        #expect(report["mount"] == "EPERM")
        // With clone3 allowed, glibc uses it directly.
        #expect(report["thread"] == "ran")
        #expect(report["posix_spawn"] == "exit 0")
    }
}
