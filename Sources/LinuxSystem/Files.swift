#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What `fstat` says about an open file, reduced to what serving it needs.
public struct FileStatus: Sendable, Equatable {
    public enum Kind: Sendable { case regular, directory, other }
    public var kind: Kind
    public var size: Int64
    /// Modification time, whole seconds since the epoch.
    public var mtime: Int
    /// Status-change time in nanoseconds: an in-place rewrite within the same second still
    /// changes it.
    public var ctimeNanos: Int64
    public var device: UInt64
    public var inode: UInt64
}

/// Opening and inspecting files for the static file server.
public enum Files {
    /// Opens `path` relative to `directory` with `openat(2)`, following symlinks wherever they
    /// point (the caller allowed it).
    public static func openAt(_ directory: Int32, _ path: String, flags: Int32) throws(SystemError) -> Int32 {
        try retryingSyscall("openat", path) { openat(directory, path, flags) }
    }

    /// `fstat(2)` of an open descriptor.
    public static func status(_ fd: Int32) throws(SystemError) -> FileStatus {
        var info = stat()
        _ = try retryingSyscall("fstat") { fstat(fd, &info) }
        let kind: FileStatus.Kind =
            switch info.st_mode & S_IFMT {
            case S_IFREG: .regular
            case S_IFDIR: .directory
            default: .other
            }
        return FileStatus(
            kind: kind, size: Int64(info.st_size), mtime: Int(info.st_mtim.tv_sec),
            ctimeNanos: Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec),
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// One entry of a directory listing.
    public struct Entry: Sendable {
        public var name: String
        public var isDirectory: Bool
        public var size: Int64
        public var mtime: Int
    }

    /// The entries of the open directory `fd` (without `.` and `..`), each stat'ed without
    /// following symlinks. Takes ownership of `fd` and closes it.
    public static func listDirectory(_ fd: Int32) throws(SystemError) -> [Entry] {
        guard let dir = fdopendir(fd) else {
            let code = errno
            close(fd)
            throw SystemError(call: "fdopendir", errno: code)
        }
        defer { closedir(dir) }
        let dirFD = dirfd(dir)
        var entries: [Entry] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            var info = stat()
            guard fstatat(dirFD, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            entries.append(Entry(
                name: name, isDirectory: info.st_mode & S_IFMT == S_IFDIR, size: Int64(info.st_size),
                mtime: Int(info.st_mtim.tv_sec)))
        }
        return entries
    }
}
