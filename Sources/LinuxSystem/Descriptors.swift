import CBerthLinux
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// File descriptor calls: socketpair, close, flags.
public enum Descriptors {
    /// A connected pair of AF_UNIX stream sockets, both close-on-exec.
    public static func socketPair(for object: String? = nil) throws(SystemError) -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        let kind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        _ = try retryingSyscall("socketpair", object) { socketpair(AF_UNIX, kind, 0, &fds) }
        return (fds[0], fds[1])
    }

    /// Closes `fd`. EINTR is not retried: on Linux the descriptor is gone either way.
    public static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Opens `path` relative to the directory `directory`, refusing (EXDEV) any path that
    /// would leave it — "..", absolute paths, symlinks pointing out (openat2 RESOLVE_BENEATH).
    public static func openBeneath(_ directory: Int32, _ path: String, flags: Int32) throws(SystemError) -> Int32 {
        let fd = berth_open_beneath(directory, path, flags)
        if fd < 0 { throw SystemError(call: "openat2", object: path, errno: -fd) }
        return fd
    }

    /// Writes all of `text` to `fd` (a log or a terminal), retrying EINTR and short writes;
    /// stops quietly on any other error: a log line must never take the server down.
    public static func writeAll(_ fd: Int32, _ text: String) {
        var text = text
        // The string's own UTF-8 storage, not a copy: this runs for every access log line.
        text.withUTF8 { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }

    /// Sends `bytes` over the unix socket `socket` with `fd` attached (SCM_RIGHTS): the
    /// receiver gets its own descriptor for the same open file.
    public static func send(_ bytes: [UInt8], passing fd: Int32, over socket: Int32, for object: String? = nil) throws(SystemError) {
        let n = bytes.withUnsafeBytes { berth_send_with_fd(socket, $0.baseAddress, $0.count, fd) }
        if n < 0 { throw SystemError(call: "sendmsg(SCM_RIGHTS)", object: object, errno: -n) }
        if Int(n) != bytes.count { throw SystemError(call: "sendmsg(SCM_RIGHTS)", object: object, errno: EMSGSIZE) }
    }

    /// Reads exactly `count` bytes from `fd`, waiting at most `timeoutMillis` in all.
    /// Returns fewer bytes only at end of file; throws ETIMEDOUT when the time runs out.
    public static func read(_ fd: Int32, count: Int, timeoutMillis: Int32, for object: String? = nil) throws(SystemError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        var chunk = [UInt8](repeating: 0, count: max(count, 1))
        let deadline = Int64(timeoutMillis) * 1_000_000 + monotonicNanoseconds()
        while out.count < count {
            let left = Int32(max(0, (deadline - monotonicNanoseconds()) / 1_000_000))
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = try retryingSyscall("poll", object) { poll(&pfd, 1, left) }
            if ready == 0 { throw SystemError(call: "read", object: object, errno: ETIMEDOUT) }
            let want = count - out.count
            let n = try retryingSyscall("read", object) { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, want) } }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    private static func monotonicNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// An unlinked temporary file in `directory`, open for reading and writing
    /// (O_TMPFILE): it has no name, so nothing is left behind whatever happens.
    public static func openUnlinkedTemporary(in directory: String) throws(SystemError) -> Int32 {
        // O_TMPFILE is __O_TMPFILE | O_DIRECTORY; Glibc's Swift overlay lacks the macro.
        let tmpfile: Int32 = 0o20_000_000 | O_DIRECTORY
        return try retryingSyscall("open(O_TMPFILE)", directory) { Glibc.open(directory, tmpfile | O_RDWR | O_CLOEXEC, 0o600) }
    }

    /// Writes all of `bytes` to `fd`, retrying EINTR and short writes.
    public static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, object: @autoclosure () -> String? = nil) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            offset += try retryingSyscall("write", object()) { Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset) }
        }
    }

    /// A second descriptor for the same open file.
    public static func duplicate(_ fd: Int32) throws(SystemError) -> Int32 {
        try retryingSyscall("fcntl(F_DUPFD_CLOEXEC)") { fcntl(fd, F_DUPFD_CLOEXEC, 0) }
    }

    /// Sets SO_SNDBUF and SO_RCVBUF of a socket (the kernel doubles and caps the value).
    public static func setBufferSizes(_ fd: Int32, bytes: Int32) throws(SystemError) {
        var value = bytes
        let size = socklen_t(MemoryLayout<Int32>.size)
        _ = try retryingSyscall("setsockopt(SO_SNDBUF)") { setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &value, size) }
        _ = try retryingSyscall("setsockopt(SO_RCVBUF)") { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &value, size) }
    }
}
