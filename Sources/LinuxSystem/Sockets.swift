import CBerthLinux
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Stream sockets the front handles itself: its listening sockets (so it knows each
/// accepted descriptor) and the non-blocking writes of its direct output path.
public enum Sockets {
    /// A socket of `family` bound to the address at `address` (`length` bytes) and
    /// listening, close-on-exec; SO_REUSEADDR for TCP, as NIO's listeners set it.
    public static func listen(
        family: Int32, address: UnsafePointer<sockaddr>, length: Int, backlog: Int32, for object: String
    ) throws(SystemError) -> Int32 {
        let kind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let fd = try retryingSyscall("socket", object) { socket(family, kind, 0) }
        do throws(SystemError) {
            if family != AF_UNIX {
                var on: Int32 = 1
                _ = try retryingSyscall("setsockopt(SO_REUSEADDR)", object) {
                    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
                }
            }
            _ = try retryingSyscall("bind", object) { bind(fd, address, socklen_t(length)) }
            _ = try retryingSyscall("listen", object) { Glibc.listen(fd, backlog) }
        } catch {
            Descriptors.close(fd)
            throw error
        }
        return fd
    }

    /// The port a TCP socket is bound to (0 for another family).
    public static func boundPort(_ fd: Int32) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { return 0 }
        return withUnsafePointer(to: &storage) { pointer -> Int in
            switch Int32(pointer.pointee.ss_family) {
            case AF_INET:
                return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
            case AF_INET6:
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            default:
                return 0
            }
        }
    }

    /// What one `accept` gave.
    public enum Accepted: Equatable {
        /// A connection: its descriptor, non-blocking and close-on-exec.
        case connection(Int32)
        /// Nothing this time, for a reason that passes (the peer gave up, EINTR, out of
        /// descriptors or memory for now): try again.
        case retry(errno: Int32)
        /// The listening socket was shut down or closed: stop accepting.
        case closed
    }

    /// Waits for the next connection on the listening socket `fd`.
    public static func accept(_ fd: Int32) -> Accepted {
        let connection = berth_accept_connection(fd)
        if connection >= 0 { return .connection(connection) }
        let code = -connection
        switch code {
        case EINVAL, EBADF, ENOTSOCK: return .closed
        default: return .retry(errno: code)
        }
    }

    /// Wakes a thread blocked in `accept` on `fd` (Linux returns EINVAL to it) without
    /// closing the descriptor under it.
    public static func shutdownListening(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Sends what the socket takes now of `bytes` without waiting; `more` says the caller
    /// has more to send at once (MSG_MORE: the kernel holds a partial packet for it).
    /// Returns the count sent — 0 when the socket is full or failed: the caller hands the
    /// rest to a writer that waits and reports errors (NIO's).
    public static func sendNow(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, more: Bool) -> Int {
        let flags = MSG_DONTWAIT | MSG_NOSIGNAL | (more ? MSG_MORE : 0)
        return sentNow("send") { Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(flags)) }
    }

    /// Like `sendNow`, for several pieces of memory at once (sendmsg with `vectors`, at most
    /// IOV_MAX of them): the count sent over all of them, 0 when the socket is full or
    /// failed.
    public static func sendNow(_ fd: Int32, _ vectors: UnsafeBufferPointer<iovec>, more: Bool) -> Int {
        var message = msghdr()
        message.msg_iov = UnsafeMutablePointer(mutating: vectors.baseAddress)
        message.msg_iovlen = vectors.count
        let flags = MSG_DONTWAIT | MSG_NOSIGNAL | (more ? MSG_MORE : 0)
        return sentNow("sendmsg") { sendmsg(fd, &message, Int32(flags)) }
    }

    /// Sends what the socket takes now of `count` bytes of `file` from `offset`, with
    /// sendfile; like `sendNow`, 0 when the socket is full or failed.
    public static func sendFileNow(_ fd: Int32, file: Int32, offset: Int64, count: Int) -> Int {
        var position = off_t(offset)
        return sentNow("sendfile") { sendfile(fd, file, &position, count) }
    }

    /// What a send that does not wait took: its count, retried on EINTR; 0 when it failed
    /// (a full socket or an error — the caller's fallback writer waits and reports errors).
    @inline(__always)
    private static func sentNow(_ call: String, _ send: () -> Int) -> Int {
        (try? retryingSyscall(call, nil, send)) ?? 0
    }
}
