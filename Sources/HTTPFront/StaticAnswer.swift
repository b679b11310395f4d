import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A static route's answer to one request, independent of the HTTP version that carries it.
///
/// HTTP/2 uses this; the HTTP/1 handler still has its own copy of the same rules in
/// HTTPConnectionHandler+Static.swift (ETag form, If-None-Match over If-Modified-Since,
/// the immutable Cache-Control, the redirect of a directory without its slash). Both are
/// meant to give way to one shared static responder.
struct StaticAnswer {
    enum Body {
        case none
        case bytes(ByteBuffer)
        /// `length` bytes of `fd` from `offset`; the receiver closes `fd`.
        case file(fd: Int32, offset: Int64, length: Int64)
    }

    var status: Int
    var headers: [(name: String, value: String)]
    var body: Body

    /// Looks `relative` up in `site` and answers a GET or HEAD for it. `field` returns a
    /// request header by lowercase name; `rawPath` and `query` are the request target's.
    static func answer(
        site: StaticSite, relative: String, isHEAD: Bool, rawPath: Substring, query: Substring,
        field: (String) -> String?
    ) -> StaticAnswer {
        switch site.lookup(relative) {
        case .notFound:
            return page(404)
        case .forbidden:
            return page(403)
        case .redirectToDirectory:
            let location = String(rawPath) + "/" + (query.isEmpty ? "" : "?" + query)
            var answer = page(301)
            answer.headers.append(("location", location))
            return answer
        case .file(let fd, let size, let mtime, let path):
            // nginx's ETag form: hex mtime and hex size.
            let etag = "\"\(String(mtime, radix: 16))-\(String(size, radix: 16))\""
            var headers: [(name: String, value: String)] = [("last-modified", HTTPDate.imf(mtime)), ("etag", etag)]
            if site.immutable { headers.append(("cache-control", "public, max-age=31536000, immutable")) }
            if notModified(field, etag: etag, mtime: mtime) {
                close(fd)
                return StaticAnswer(status: 304, headers: headers, body: .none)
            }
            headers.append(("content-type", MIMETypes.contentType(forPath: path)))
            headers.append(("content-length", String(size)))
            if isHEAD || size == 0 {
                close(fd)
                return StaticAnswer(status: 200, headers: headers, body: .none)
            }
            return StaticAnswer(status: 200, headers: headers, body: .file(fd: fd, offset: 0, length: size))
        }
    }

    /// berth's own HTML page for `status`.
    static func page(_ status: Int) -> StaticAnswer {
        let html = ErrorPage.html(status: status, reason: ErrorPage.reasonPhrase(status))
        return StaticAnswer(
            status: status,
            headers: [("content-type", "text/html; charset=utf-8"), ("content-length", String(html.utf8.count))],
            body: .bytes(ByteBuffer(string: html)))
    }

    /// RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since.
    private static func notModified(_ field: (String) -> String?, etag: String, mtime: Int) -> Bool {
        if let inm = field("if-none-match") {
            return inm.split(separator: ",").contains { tag in
                let trimmed = tag.trimmingSpaces()
                return trimmed == "*" || trimmed == etag || trimmed == "W/" + etag
            }
        }
        if let ims = field("if-modified-since"), let since = HTTPDate.parse(ims) {
            return mtime <= since
        }
        return false
    }
}
