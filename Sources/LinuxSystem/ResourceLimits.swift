#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Process resource limits (getrlimit/setrlimit).
public enum ResourceLimits {
    /// Raises the soft limit on open files to the hard limit (a server holds one descriptor
    /// per connection, and the default soft limit is often 1024). Returns the limit in
    /// force afterwards.
    @discardableResult
    public static func raiseOpenFiles() throws(SystemError) -> UInt64 {
        var limit = rlimit()
        _ = try retryingSyscall("getrlimit", "RLIMIT_NOFILE") { getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) }
        guard limit.rlim_cur < limit.rlim_max else { return UInt64(limit.rlim_cur) }
        limit.rlim_cur = limit.rlim_max
        _ = try retryingSyscall("setrlimit", "RLIMIT_NOFILE") { setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) }
        return UInt64(limit.rlim_cur)
    }
}
