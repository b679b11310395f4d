import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An append-only log destination that can be reopened (logrotate: rename the file, signal
/// berth, and new lines go to a fresh file at the old path). Lines are written whole with
/// one write(2) each under a lock, so lines from several threads never interleave.
public final class LogFile: Sendable {
    /// The file's path; nil for standard output or error.
    public let path: String?
    private let fd: Mutex<Int32>

    /// Standard output (never reopened).
    public static let standardOutput = LogFile(fd: 1)
    /// Standard error (never reopened).
    public static let standardError = LogFile(fd: 2)

    private init(fd: Int32) {
        self.path = nil
        self.fd = Mutex(fd)
    }

    /// Opens `path` for appending, creating it (mode 0644) if needed.
    public init(path: String) throws(SystemError) {
        self.path = path
        self.fd = Mutex(try Self.open(path))
    }

    deinit {
        if path != nil { fd.withLock { Descriptors.close($0) } }
    }

    private static func open(_ path: String) throws(SystemError) -> Int32 {
        try retryingSyscall("open", path) { Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644) }
    }

    /// Appends `line` (which should end with a newline).
    public func write(_ line: String) {
        fd.withLock { Descriptors.writeAll($0, line) }
    }

    /// Opens the path afresh and swaps the new descriptor in; lines already written stay in
    /// the old file (wherever it was renamed to). Standard streams are left alone.
    public func reopen() throws(SystemError) {
        guard let path else { return }
        let fresh = try Self.open(path)
        let old = fd.withLock { fd in
            defer { fd = fresh }
            return fd
        }
        Descriptors.close(old)
    }
}
