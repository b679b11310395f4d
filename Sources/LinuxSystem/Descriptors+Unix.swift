import CBerthLinux

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Descriptors {
    /// A blocking stream socket connected to the Unix socket at `path`.
    public static func connectUnix(_ path: String) throws(SystemError) -> Int32 {
        let fd = try retryingSyscall("socket", path) { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw SystemError(call: "connect", object: path, errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let size = socklen_t(MemoryLayout<sockaddr_un>.size)
        do {
            _ = try retryingSyscall("connect", path) {
                withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, size) } }
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// Takes the descriptor waiting on the unix socket `socket` (one byte sent with one fd
    /// attached, SCM_RIGHTS) without blocking; the caller owns the new close-on-exec fd.
    /// Throws EAGAIN when none waits, EPIPE at end of file, EBADMSG for a byte without an fd.
    public static func receiveDescriptor(from socket: Int32, for object: String? = nil) throws(SystemError) -> Int32 {
        var fd: Int32 = -1
        let result = berth_receive_fd(socket, &fd)
        if result < 0 { throw SystemError(call: "recvmsg(SCM_RIGHTS)", object: object, errno: -result) }
        return fd
    }

    /// Sets SO_RCVTIMEO and SO_SNDTIMEO: blocking reads and writes fail with EAGAIN after it.
    public static func setTimeouts(_ fd: Int32, seconds: Double) throws(SystemError) {
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        let size = socklen_t(MemoryLayout<timeval>.size)
        _ = try retryingSyscall("setsockopt(SO_RCVTIMEO)") { setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, size) }
        _ = try retryingSyscall("setsockopt(SO_SNDTIMEO)") { setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, size) }
    }

    /// One blocking read of up to `limit` bytes; empty at end of file.
    public static func readSome(_ fd: Int32, limit: Int) throws(SystemError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: limit)
        let n = try retryingSyscall("read", "fd \(fd)") { buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, limit) } }
        return Array(buffer[0..<n])
    }
}
