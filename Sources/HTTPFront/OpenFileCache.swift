import LinuxSystem
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// An open file with what its responses say about it, computed once.
public final class OpenFile: @unchecked Sendable {
    /// The handle FileRegions send from; closed when the last reference goes (the cache and
    /// any write still in flight each hold one).
    public let handle: NIOFileHandle
    /// The descriptor, open as long as this object lives (for a writer that reads or
    /// sendfiles by descriptor, such as HTTP/2's data frames).
    public let fd: Int32
    public let status: FileStatus
    /// nginx's form: `"<hex mtime>-<hex size>"`, a strong validator.
    public let etag: String
    public let lastModified: String
    public var size: Int64 { status.size }

    init(fd: Int32, status: FileStatus) {
        self.fd = fd
        self.handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd)
        self.status = status
        self.etag = "\"\(String(status.mtime, radix: 16))-\(String(status.size, radix: 16))\""
        self.lastModified = HTTPDate.imf(status.mtime)
    }

    deinit { try? handle.close() }

    /// Whether the file still has the size and times it had when opened (one fstat): a file
    /// rewritten in place must not be sent with stale headers or a stale length.
    var isCurrent: Bool {
        guard let now = try? Files.status(fd) else { return false }
        return now.size == status.size && now.mtime == status.mtime && now.ctimeNanos == status.ctimeNanos
    }
}

/// A file found for a request path, with its precompressed siblings.
final class StaticFile: Sendable {
    let identity: OpenFile
    let gzip: OpenFile?
    let brotli: OpenFile?
    /// The content type of the uncompressed file (with charset for text types).
    let contentType: String
    /// The identity file's whole-file answers, computed once per lookup; nil when the route
    /// sends `Expires`, which changes every second.
    let identityFields: IdentityFields?

    /// The header fields of the identity file's 304 and 200 answers, as fields (for HTTP/2
    /// and for the general writer) and rendered with their HTTP/1.1 status line. A class:
    /// each request takes one reference instead of copying four.
    final class IdentityFields: Sendable {
        /// Validators and caching fields: all a 304 says.
        let notModified: [(name: String, value: String)]
        /// A 200 of the whole file: the validators, Content-Type, Accept-Ranges, Content-Length.
        let full: [(name: String, value: String)]
        let notModifiedHead: ByteBuffer
        let fullHead: ByteBuffer

        init(
            notModified: [(name: String, value: String)], full: [(name: String, value: String)],
            notModifiedHead: ByteBuffer, fullHead: ByteBuffer
        ) {
            self.notModified = notModified
            self.full = full
            self.notModifiedHead = notModifiedHead
            self.fullHead = fullHead
        }
    }

    /// `caching` is what the route adds to every answer (Cache-Control), or nil when it
    /// depends on the time (Expires).
    init(
        identity: OpenFile, gzip: OpenFile?, brotli: OpenFile?, contentType: String,
        caching: [(name: String, value: String)]?
    ) {
        self.identity = identity
        self.gzip = gzip
        self.brotli = brotli
        self.contentType = contentType
        guard let caching else {
            identityFields = nil
            return
        }
        let validators = Self.validatorFields(of: identity, varies: gzip != nil || brotli != nil, caching: caching)
        let full = Self.wholeFileFields(validators, contentType: contentType, coding: nil, size: identity.size)
        identityFields = IdentityFields(
            notModified: validators, full: full,
            notModifiedHead: HTTP1ResponseHead.rendered(status: 304, fields: validators),
            fullHead: HTTP1ResponseHead.rendered(status: 200, fields: full))
    }

    /// The validators of `file` and the route's caching fields: all a 304 says, and how every
    /// answer of the file starts (`varies`: it has precompressed siblings).
    static func validatorFields(
        of file: OpenFile, varies: Bool, caching: [(name: String, value: String)]
    ) -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = [("Last-Modified", file.lastModified), ("ETag", file.etag)]
        fields.reserveCapacity(6 + caching.count)
        if varies { fields.append(("Vary", "Accept-Encoding")) }
        fields += caching
        return fields
    }

    /// A 200 of a whole file (`size` bytes, compressed with `coding` or not): `validators`,
    /// then the representation's own fields.
    static func wholeFileFields(
        _ validators: [(name: String, value: String)], contentType: String, coding: String?, size: Int64
    ) -> [(name: String, value: String)] {
        var fields = validators
        fields.append(("Content-Type", contentType))
        if let coding {
            fields.append(("Content-Encoding", coding))
        } else {
            fields.append(("Accept-Ranges", "bytes"))
        }
        fields.append(("Content-Length", String(size)))
        return fields
    }

    var hasVariants: Bool { gzip != nil || brotli != nil }
}

/// What a path names in a static site.
enum StaticLookup {
    case file(StaticFile)
    /// A directory asked for without the trailing slash.
    case redirectToDirectory
    /// A directory without an index file: listed with autoindex, else 403.
    case directory(root: Int, path: String)
    case forbidden
    case notFound
}

/// Lookups of one static site on one event loop: open descriptors and stat results kept for
/// a short validity (like nginx's `open_file_cache` with `open_file_cache_valid`), so a hot
/// file costs no open/fstat/close per request. Bounded; not thread-safe by design — one per
/// loop thread.
final class OpenFileCache: @unchecked Sendable {
    private struct Entry {
        var lookup: StaticLookup
        var checkedAt: UInt64
    }

    let capacity: Int
    let validityNanos: UInt64
    private var entries: [String: Entry] = [:]

    init(capacity: Int, validity: Double) {
        self.capacity = capacity
        self.validityNanos = UInt64(max(0, validity) * 1e9)
    }

    var count: Int { entries.count }

    /// The lookup of `path`: cached while valid and, for files, while the file is unchanged;
    /// else `resolve(path)`, remembered.
    func lookup(_ path: String, resolve: (String) -> StaticLookup) -> StaticLookup {
        guard capacity > 0 else { return resolve(path) }
        let now = NIODeadline.now().uptimeNanoseconds
        if let entry = entries[path], now &- entry.checkedAt < validityNanos {
            guard case .file(let file) = entry.lookup else { return entry.lookup }
            if file.identity.isCurrent { return entry.lookup }
        }
        let fresh = resolve(path)
        if entries.count >= capacity && entries[path] == nil { evict(now: now) }
        entries[path] = Entry(lookup: fresh, checkedAt: now)
        return fresh
    }

    /// Forgets `path` (a variant turned out stale).
    func invalidate(_ path: String) {
        entries.removeValue(forKey: path)
    }

    /// Drops expired entries; if none were, drops a quarter of the rest (arbitrary ones: the
    /// hot files come straight back).
    private func evict(now: UInt64) {
        let before = entries.count
        entries = entries.filter { now &- $0.value.checkedAt < validityNanos }
        guard entries.count == before else { return }
        var toDrop = max(1, capacity / 4)
        for key in entries.keys {
            entries.removeValue(forKey: key)
            toDrop -= 1
            if toDrop == 0 { break }
        }
    }
}
