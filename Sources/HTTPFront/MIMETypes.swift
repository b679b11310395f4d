/// Content types by file extension, with `charset=utf-8` for text types.
enum MIMETypes {
    static let table: [String: String] = [
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
    ]

    static func contentType(forPath path: String) -> String {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return "application/octet-stream" }
        let ext = path[path.index(after: dot)...].lowercased()
        guard let type = table[ext] else { return "application/octet-stream" }
        if type.hasPrefix("text/") || type == "application/json" || type == "image/svg+xml" || type == "application/manifest+json" {
            return type + "; charset=utf-8"
        }
        return type
    }
}
