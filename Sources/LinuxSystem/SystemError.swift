#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call: which call, on what, and the errno it returned.
///
/// Its description reads like `socketpair(worker 3): EMFILE (Too many open files)`.
public struct SystemError: Error, CustomStringConvertible, Equatable {
    public let call: String
    public let object: String?
    public let errno: Int32

    public init(call: String, object: String? = nil, errno: Int32) {
        self.call = call
        self.object = object
        self.errno = errno
    }

    public var description: String {
        let target = object.map { "(\($0))" } ?? "()"
        return "\(call)\(target): \(errnoName(errno)) (\(String(cString: strerror(errno))))"
    }
}

/// Runs a system call that returns -1 and sets errno on failure, retrying on EINTR.
@inline(__always)
public func retryingSyscall<T: FixedWidthInteger>(
    _ call: String, _ object: @autoclosure () -> String? = nil, _ body: () -> T
) throws(SystemError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw SystemError(call: call, object: object(), errno: code)
    }
}

/// The symbolic name of an errno value (`EPERM`), or its number when unknown.
public func errnoName(_ code: Int32) -> String {
    switch code {
    case EPERM: return "EPERM"
    case ENOENT: return "ENOENT"
    case ESRCH: return "ESRCH"
    case EINTR: return "EINTR"
    case EIO: return "EIO"
    case E2BIG: return "E2BIG"
    case ENOEXEC: return "ENOEXEC"
    case EBADF: return "EBADF"
    case ECHILD: return "ECHILD"
    case EAGAIN: return "EAGAIN"
    case ENOMEM: return "ENOMEM"
    case EACCES: return "EACCES"
    case EFAULT: return "EFAULT"
    case EBUSY: return "EBUSY"
    case EEXIST: return "EEXIST"
    case ENOTDIR: return "ENOTDIR"
    case EISDIR: return "EISDIR"
    case EINVAL: return "EINVAL"
    case ENFILE: return "ENFILE"
    case EMFILE: return "EMFILE"
    case ENOSPC: return "ENOSPC"
    case EROFS: return "EROFS"
    case EPIPE: return "EPIPE"
    case ENAMETOOLONG: return "ENAMETOOLONG"
    case ENOSYS: return "ENOSYS"
    case ELOOP: return "ELOOP"
    case ECONNRESET: return "ECONNRESET"
    case EADDRINUSE: return "EADDRINUSE"
    case ECONNREFUSED: return "ECONNREFUSED"
    default: return "errno \(code)"
    }
}
