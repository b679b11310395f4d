import AppExchange
import LinuxSystem
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// How a static route behaves: everything but where its files are.
public struct StaticOptions: Sendable {
    /// Files tried, in order, for a request that names a directory.
    public var indexFiles = ["index.html"]
    /// Add `Cache-Control: public, max-age=31536000, immutable` (for hashed names).
    public var immutable = false
    /// A `Cache-Control` value to send as is (wins over `expires`).
    public var cacheControl: String?
    /// Seconds a response may be cached: `Expires` and `Cache-Control: max-age` (nginx's `expires`).
    public var expires: Int?
    /// List a directory that has no index file instead of answering 403.
    public var autoindex = false
    /// Follow symlinks that point out of the root (default: 403, like nginx's
    /// `disable_symlinks` refusing them).
    public var followSymlinks = false
    /// Serve `NAME.br` / `NAME.gz` beside `NAME` to clients that accept them.
    public var precompressed = true
    /// Extra or overriding content types by file extension (lowercase, without the dot).
    public var types: [String: String] = [:]
    /// The app that gets requests for which no file exists (nginx's `try_files $uri @app`).
    public var fallback: AppService?
    /// Most lookups one event loop keeps (open descriptors and stat results); 0 turns the
    /// cache off.
    public var cacheEntries = 1024
    /// Seconds a cached lookup is trusted before the path is resolved again (a cached file
    /// is still fstat'ed on every use, so in-place changes show at once).
    public var cacheValidity: Double = 2

    public init() {}
}

/// A static route's files: one or more root directories searched in order (more than
/// one in dev mode, where Django's staticfiles finders name several).
///
/// Files are opened relative to each root's directory descriptor with openat2's
/// RESOLVE_BENEATH: the kernel itself refuses any path that would leave the root (a
/// symlink pointing out, say), in one system call instead of a realpath walk.
public final class StaticSite: Sendable {
    /// Roots as real paths (symlinks resolved once, at start).
    public let roots: [String]
    public let options: StaticOptions
    public var indexFiles: [String] { options.indexFiles }
    public var fallback: AppService? { options.fallback }
    /// A directory descriptor per root (-1 where the root could not be opened).
    let rootFDs: [Int32]
    let mime: MIMETypes
    /// One cache per event loop thread: its descriptors are only ever used on that loop,
    /// which NIOFileHandle's single-access rule needs, and no lock is taken per request.
    private let caches = ThreadSpecificVariable<OpenFileCache>()

    public init(roots: [String], options: StaticOptions = StaticOptions()) {
        self.roots = roots.map { StaticSite.realPath($0) ?? $0 }
        self.options = options
        self.mime = MIMETypes(extra: options.types)
        rootFDs = self.roots.map { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    }

    public convenience init(roots: [String], indexFiles: [String] = ["index.html"], immutable: Bool = false) {
        var options = StaticOptions()
        options.indexFiles = indexFiles
        options.immutable = immutable
        self.init(roots: roots, options: options)
    }

    deinit {
        for fd in rootFDs where fd >= 0 { close(fd) }
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// This thread's cache of lookups.
    var cache: OpenFileCache {
        if let cache = caches.currentValue { return cache }
        let cache = OpenFileCache(capacity: options.cacheEntries, validity: options.cacheValidity)
        caches.currentValue = cache
        return cache
    }

    /// Finds `relative` (normalized, decoded, below the route prefix), through the cache.
    func lookup(_ relative: String) -> StaticLookup {
        cache.lookup(relative) { resolve($0) }
    }

    /// Finds `relative` in the roots, opening what it names (no cache).
    func resolve(_ relative: String) -> StaticLookup {
        var sawForbidden = false
        for (i, rootFD) in rootFDs.enumerated() where rootFD >= 0 {
            switch resolve(relative, root: i) {
            case .notFound: continue
            case .forbidden: sawForbidden = true
            case let found: return found
            }
        }
        return sawForbidden ? .forbidden : .notFound
    }

    private enum Opened {
        case fd(Int32, FileStatus)
        case forbidden
        case notFound
    }

    private func openPath(_ path: String, root: Int) -> Opened {
        let flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK
        let fd: Int32
        do {
            fd = options.followSymlinks
                ? try Files.openAt(rootFDs[root], path, flags: flags)
                : try Descriptors.openBeneath(rootFDs[root], path, flags: flags)
        } catch {
            switch error.errno {
            case EXDEV, ELOOP, EACCES, EPERM: return .forbidden
            default: return .notFound
            }
        }
        guard let status = try? Files.status(fd) else {
            close(fd)
            return .notFound
        }
        return .fd(fd, status)
    }

    private func resolve(_ relative: String, root: Int) -> StaticLookup {
        switch openPath(relative.isEmpty ? "." : relative, root: root) {
        case .notFound: return .notFound
        case .forbidden: return .forbidden
        case .fd(let fd, let status):
            switch status.kind {
            case .regular:
                return .file(file(fd: fd, status: status, path: relative, root: root))
            case .directory:
                close(fd)
                guard relative.isEmpty || relative.hasSuffix("/") else { return .redirectToDirectory }
                for index in options.indexFiles {
                    guard case .fd(let fd, let status) = openPath(relative + index, root: root) else { continue }
                    if status.kind == .regular {
                        return .file(file(fd: fd, status: status, path: relative + index, root: root))
                    }
                    close(fd)
                }
                return .directory(root: root, path: relative)
            case .other:
                close(fd)
                return .notFound
            }
        }
    }

    /// A found file with its precompressed siblings, when they are regular files too.
    private func file(fd: Int32, status: FileStatus, path: String, root: Int) -> StaticFile {
        func sibling(_ suffix: String) -> OpenFile? {
            guard options.precompressed, case .fd(let fd, let status) = openPath(path + suffix, root: root) else { return nil }
            guard status.kind == .regular else {
                close(fd)
                return nil
            }
            return OpenFile(fd: fd, status: status)
        }
        var caching: [(name: String, value: String)]?
        if options.expires == nil {
            caching = []
            addCachingHeaders(to: &caching!)
        }
        return StaticFile(
            identity: OpenFile(fd: fd, status: status), gzip: sibling(".gz"), brotli: sibling(".br"),
            contentType: mime.contentType(forPath: path), caching: caching)
    }

    /// Opens the directory `path` of root `root` again, for a listing.
    func openDirectory(_ path: String, root: Int) -> Int32? {
        guard case .fd(let fd, let status) = openPath(path.isEmpty ? "." : path, root: root) else { return nil }
        guard status.kind == .directory else {
            close(fd)
            return nil
        }
        return fd
    }
}
