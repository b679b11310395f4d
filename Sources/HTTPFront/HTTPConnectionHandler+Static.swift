import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// Static files: GET/HEAD, validators and 304, bodies sent with sendfile (FileRegion).
extension HTTPConnectionHandler {
    func serveStatic(_ request: ActiveRequest, site: StaticSite, relative: String, context: ChannelHandlerContext) {
        switch site.lookup(relative) {
        case .notFound:
            sendError(request, status: 404, context: context)
        case .forbidden:
            sendError(request, status: 403, context: context)
        case .redirectToDirectory:
            var location = (try? RequestTarget(request.head.uri)).map { String($0.rawPath) } ?? "/"
            location += "/"
            if let query = request.head.uri.firstIndex(of: "?") { location += request.head.uri[query...] }
            let html = ErrorPage.html(status: 301, reason: "Moved Permanently")
            sendPage(request, status: 301, html: html, extraHeaders: [("Location", location)], context: context)
        case .file(let fd, let size, let mtime, let path):
            sendFile(request, fd: fd, size: size, mtime: mtime, path: path, site: site, context: context)
        }
    }

    private func sendFile(
        _ request: ActiveRequest, fd: Int32, size: Int64, mtime: Int, path: String, site: StaticSite,
        context: ChannelHandlerContext
    ) {
        // nginx's ETag form: hex mtime and hex size.
        let etag = "\"\(String(mtime, radix: 16))-\(String(size, radix: 16))\""
        let lastModified = HTTPDate.imf(mtime)
        var headers = HTTPHeaders()
        headers.add(name: "Last-Modified", value: lastModified)
        headers.add(name: "ETag", value: etag)
        if site.immutable { headers.add(name: "Cache-Control", value: "public, max-age=31536000, immutable") }

        if notModified(request.head.headers, etag: etag, mtime: mtime) {
            close(fd)
            request.status = 304
            request.responseStarted = true
            context.write(wrapOutboundOut(.head(responseHead(request, status: 304, headers: headers))), promise: nil)
            finishResponse(request)
            return
        }
        headers.add(name: "Content-Type", value: MIMETypes.contentType(forPath: path))
        headers.add(name: "Content-Length", value: String(size))
        request.status = 200
        request.responseStarted = true
        context.write(wrapOutboundOut(.head(responseHead(request, status: 200, headers: headers))), promise: nil)
        guard request.head.method != .HEAD, size > 0 else {
            close(fd)
            finishResponse(request)
            return
        }
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd)
        let region = FileRegion(fileHandle: handle, readerIndex: 0, endIndex: Int(size))
        request.bytesSent = size
        context.write(wrapOutboundOut(.body(.fileRegion(region)))).whenComplete { _ in
            try? handle.close()
        }
        finishResponse(request)
    }

    /// RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since.
    private func notModified(_ headers: HTTPHeaders, etag: String, mtime: Int) -> Bool {
        if let inm = headers.first(name: "if-none-match") {
            return inm.split(separator: ",").contains { tag in
                let trimmed = tag.trimmingSpaces()
                return trimmed == "*" || trimmed == etag || trimmed == "W/" + etag
            }
        }
        if let ims = headers.first(name: "if-modified-since"), let since = HTTPDate.parse(ims) {
            return mtime <= since
        }
        return false
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return s
    }
}

extension HTTPVersion {
    var isBefore11: Bool { major < 1 || (major == 1 && minor < 1) }
}
