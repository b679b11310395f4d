import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// A static route's files: one or more root directories searched in order (more than
/// one in dev mode, where Django's staticfiles finders name several).
///
/// Files are opened relative to each root's directory descriptor with openat2's
/// RESOLVE_BENEATH: the kernel itself refuses any path that would leave the root (a
/// symlink pointing out, say), in one system call instead of a realpath walk.
public final class StaticSite: Sendable {
    /// Roots as real paths (symlinks resolved once, at start).
    public let roots: [String]
    public let indexFiles: [String]
    /// Add `Cache-Control: public, max-age=31536000, immutable` (for hashed names).
    public let immutable: Bool
    /// A directory descriptor per root (-1 where the root could not be opened).
    private let rootFDs: [Int32]

    public init(roots: [String], indexFiles: [String] = ["index.html"], immutable: Bool = false) {
        self.roots = roots.map { StaticSite.realPath($0) ?? $0 }
        self.indexFiles = indexFiles
        self.immutable = immutable
        rootFDs = self.roots.map { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    }

    deinit {
        for fd in rootFDs where fd >= 0 { close(fd) }
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// What a lookup found.
    enum Lookup {
        case file(fd: Int32, size: Int64, mtime: Int, path: String)
        /// A directory asked for without the trailing slash.
        case redirectToDirectory
        case forbidden
        case notFound
    }

    /// Finds `relative` (normalized, decoded, below the route prefix) in the roots.
    func lookup(_ relative: String) -> Lookup {
        var sawForbidden = false
        for rootFD in rootFDs where rootFD >= 0 {
            switch lookup(relative, in: rootFD) {
            case .notFound: continue
            case .forbidden: sawForbidden = true
            case let found: return found
            }
        }
        return sawForbidden ? .forbidden : .notFound
    }

    private func lookup(_ relative: String, in rootFD: Int32) -> Lookup {
        let path = relative.isEmpty ? "." : relative
        let fd: Int32
        do {
            fd = try Descriptors.openBeneath(rootFD, path, flags: O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        } catch {
            switch error.errno {
            case EXDEV, ELOOP, EACCES, EPERM: return .forbidden
            default: return .notFound
            }
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            return .notFound
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            return .file(fd: fd, size: Int64(info.st_size), mtime: Int(info.st_mtim.tv_sec), path: relative)
        case S_IFDIR:
            close(fd)
            guard relative.isEmpty || relative.hasSuffix("/") else { return .redirectToDirectory }
            for index in indexFiles {
                let found = lookup(relative + index, in: rootFD)
                if case .file = found { return found }
            }
            return .forbidden
        default:
            close(fd)
            return .notFound
        }
    }
}
