#if canImport(Glibc)
import Glibc
#endif

/// A static route's files: one or more root directories searched in order (more than
/// one in dev mode, where Django's staticfiles finders name several).
public final class StaticSite: Sendable {
    /// Roots as real paths (symlinks resolved once, at start).
    public let roots: [String]
    public let indexFiles: [String]
    /// Add `Cache-Control: public, max-age=31536000, immutable` (for hashed names).
    public let immutable: Bool

    public init(roots: [String], indexFiles: [String] = ["index.html"], immutable: Bool = false) {
        self.roots = roots.map { StaticSite.realPath($0) ?? $0 }
        self.indexFiles = indexFiles
        self.immutable = immutable
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
        for root in roots {
            switch lookup(relative, in: root) {
            case .notFound: continue
            case .forbidden: sawForbidden = true
            case let found: return found
            }
        }
        return sawForbidden ? .forbidden : .notFound
    }

    private func lookup(_ relative: String, in root: String) -> Lookup {
        let candidate = relative.isEmpty ? root : root + "/" + relative
        var info = stat()
        guard stat(candidate, &info) == 0 else { return .notFound }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            guard relative.isEmpty || relative.hasSuffix("/") else { return .redirectToDirectory }
            for index in indexFiles {
                let path = (candidate.hasSuffix("/") ? candidate : candidate + "/") + index
                let found = open(path, root: root)
                if case .file = found { return found }
            }
            return .forbidden
        }
        return open(candidate, root: root)
    }

    /// Opens a regular file, refusing any whose real path leaves the root (a symlink out).
    private func open(_ path: String, root: String) -> Lookup {
        guard let real = StaticSite.realPath(path) else { return .notFound }
        guard real == root || real.hasPrefix(root + "/") else { return .forbidden }
        let fd = Glibc.open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return errno == EACCES ? .forbidden : .notFound }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            return .notFound
        }
        return .file(fd: fd, size: Int64(info.st_size), mtime: Int(info.st_mtim.tv_sec), path: real)
    }
}
