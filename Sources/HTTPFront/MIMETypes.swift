/// Content types by file extension, with `charset=utf-8` for text types. `extra` — the
/// config's `[mime]` table with the route's `types` over it (merged by the stack) — adds to
/// or overrides the built-in table.
struct MIMETypes: Sendable {
    static let builtIn: [String: String] = [
        "html": "text/html", "htm": "text/html", "css": "text/css", "js": "text/javascript",
        "mjs": "text/javascript", "json": "application/json", "map": "application/json",
        "txt": "text/plain", "xml": "text/xml", "csv": "text/csv", "md": "text/markdown",
        "svg": "image/svg+xml", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
        "gif": "image/gif", "webp": "image/webp", "avif": "image/avif", "ico": "image/vnd.microsoft.icon",
        "bmp": "image/bmp", "woff": "font/woff", "woff2": "font/woff2", "ttf": "font/ttf", "otf": "font/otf",
        "eot": "application/vnd.ms-fontobject", "pdf": "application/pdf", "zip": "application/zip",
        "gz": "application/gzip", "br": "application/octet-stream", "wasm": "application/wasm",
        "mp4": "video/mp4", "webm": "video/webm", "mp3": "audio/mpeg", "ogg": "audio/ogg",
        "wav": "audio/wav", "py": "text/x-python", "webmanifest": "application/manifest+json",
        "txz": "application/x-xz", "tar": "application/x-tar", "rss": "application/rss+xml",
        "atom": "application/atom+xml", "jsonld": "application/ld+json", "m4a": "audio/mp4",
        "mov": "video/quicktime", "apng": "image/apng", "tif": "image/tiff", "tiff": "image/tiff",
    ]

    let table: [String: String]

    init(extra: [String: String] = [:]) {
        var table = Self.builtIn
        for (ext, type) in extra { table[ext.lowercased()] = type }
        self.table = table
    }

    /// Types that get `; charset=utf-8` (unless they name a charset already).
    static func isText(_ type: String) -> Bool {
        type.hasPrefix("text/") || type == "application/json" || type == "image/svg+xml"
            || type == "application/manifest+json" || type == "application/ld+json"
            || type.hasSuffix("+xml") || type == "application/javascript"
    }

    func contentType(forPath path: String) -> String {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return "application/octet-stream" }
        let ext = path[path.index(after: dot)...].lowercased()
        guard let type = table[ext] else { return "application/octet-stream" }
        if Self.isText(type) && !type.contains("charset") { return type + "; charset=utf-8" }
        return type
    }

    static func contentType(forPath path: String) -> String { MIMETypes().contentType(forPath: path) }
}
