import Foundation
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// `berth-init` beside berth's executable (built by `make` from support/berth-init.c), held
/// as an O_PATH descriptor the container's pid 1 execs once it has forked the worker: a few
/// pages in place of a fork of berth. Missing (a berth built by `swift build` alone), pid 1
/// stays the fork, which does the same work at a few MiB of RSS.
///
/// Opened once per launcher, not per worker. Every launch hands the same descriptor to a
/// clone child, which gets its own copy of the fd table (no CLONE_FILES): the child keeps
/// it through its fd sweep and the exec closes it (O_CLOEXEC), so nothing a child does
/// reaches this one. berth never forks otherwise (processes are spawned, with closefrom).
final class SmallInit: Sendable {
    /// The O_PATH descriptor of berth-init, or -1 when there is none.
    let fd: Int32

    /// berth-init beside the running executable.
    convenience init() {
        self.init(besideExecutable: try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
    }

    /// berth-init in the directory of `executable` (nil: none).
    init(besideExecutable executable: String?) {
        guard let executable else {
            fd = -1
            return
        }
        let path = (executable as NSString).deletingLastPathComponent + "/berth-init"
        fd = (try? Files.openAt(AT_FDCWD, path, flags: Self.oPath | O_CLOEXEC)) ?? -1
    }

    deinit {
        if fd >= 0 { Descriptors.close(fd) }
    }

    private static let oPath: Int32 = 0o10000000  // O_PATH, linux/fcntl.h (hidden behind _GNU_SOURCE)
}
