import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Plans the answer to a GET or HEAD for a static file: lookup, content negotiation for
/// precompressed siblings, conditional requests, ranges. Pure but for the lookup itself
/// (through the site's open-file cache); tested as data.
///
/// nginx 1.22 is the reference; where berth follows RFC 9110 instead, docs/static-files.md
/// says so.
public enum StaticResponder {
    /// The answer to `request` for `relative` (decoded, normalized, below the route prefix).
    public static func answer(site: StaticSite, relative: String, request: StaticRequest) -> StaticAnswer {
        answer(site: site, relative: relative, request: request, retry: true)
    }

    private static func answer(site: StaticSite, relative: String, request: StaticRequest, retry: Bool) -> StaticAnswer {
        switch site.lookup(relative) {
        case .notFound:
            var answer = StaticAnswer(status: 404, body: .errorPage)
            answer.noFile = true
            return answer
        case .forbidden:
            return StaticAnswer(status: 403, body: .errorPage)
        case .redirectToDirectory:
            var location = String(request.rawPath) + "/"
            if !request.query.isEmpty { location += "?" + request.query }
            return StaticAnswer(status: 301, headers: [("Location", location)], body: .errorPage)
        case .directory(let root, let path):
            guard site.options.autoindex else {
                var answer = StaticAnswer(status: 403, body: .errorPage)
                answer.noFile = true
                return answer
            }
            guard let fd = site.openDirectory(path, root: root),
                let html = DirectoryListing.html(fd: fd, title: String(request.rawPath))
            else { return StaticAnswer(status: 403, body: .errorPage) }
            return StaticAnswer(
                status: 200,
                headers: [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", String(html.utf8.count))],
                body: .bytes(html))
        case .file(let found):
            var file = found.identity
            var coding: String?
            if found.hasVariants, let accepted = request.acceptEncoding {
                coding = AcceptEncoding(accepted).choose(brotli: found.brotli != nil, gzip: found.gzip != nil)
                if coding == "br" { file = found.brotli! } else if coding == "gzip" { file = found.gzip! }
                // The identity file was checked by the cache; a variant is checked here.
                if coding != nil && !file.isCurrent {
                    site.cache.invalidate(relative)
                    if retry { return answer(site: site, relative: relative, request: request, retry: false) }
                    return StaticAnswer(status: 404, body: .errorPage)
                }
            }
            return answer(file: file, coding: coding, found: found, site: site, request: request)
        }
    }

    private static func answer(
        file: OpenFile, coding: String?, found: StaticFile, site: StaticSite, request: StaticRequest
    ) -> StaticAnswer {
        if let failed = preconditionFailed(file, request) { return failed }
        // The identity file's usual answers come ready-made with the lookup.
        let ready = coding == nil ? found.identityFields : nil
        // The validators and caching fields (all a 304 says), then the representation's own.
        let headers: [(name: String, value: String)]
        if let ready {
            headers = ready.notModified
        } else {
            var caching: [(name: String, value: String)] = []
            site.addCachingHeaders(to: &caching)
            headers = StaticFile.validatorFields(of: file, varies: found.hasVariants, caching: caching)
        }
        if notModified(file, request) {
            var answer = StaticAnswer(status: 304, headers: headers)
            answer.http11Head = ready?.notModifiedHead
            return answer
        }

        let size = file.size
        // Like nginx's gzip_static, a compressed variant is always sent whole.
        if coding == nil, let range = request.range, rangeStillValid(file, request) {
            let validatorCount = headers.count
            var ranged = headers
            ranged.append(("Content-Type", found.contentType))
            switch ByteRanges.parse(range, size: size) {
            case .ignore:
                break
            case .unsatisfiable:
                return StaticAnswer(status: 416, headers: [("Content-Range", "bytes */\(size)")], body: .errorPage)
            case .ranges(let ranges) where ranges.count == 1:
                let r = ranges[0]
                ranged.append(("Content-Range", "bytes \(r.lowerBound)-\(r.upperBound - 1)/\(size)"))
                ranged.append(("Content-Length", String(r.count)))
                return StaticAnswer(status: 206, headers: ranged, body: .file(file, offset: r.lowerBound, length: Int64(r.count)))
            case .ranges(let ranges):
                return multipart(
                    file, ranges: ranges, contentType: found.contentType, headers: Array(headers.prefix(validatorCount)),
                    coding: coding)
            }
        }
        if let ready {
            var answer = StaticAnswer(status: 200, headers: ready.full, body: .file(file, offset: 0, length: size))
            answer.http11Head = ready.fullHead
            return answer
        }
        let fields = StaticFile.wholeFileFields(headers, contentType: found.contentType, coding: coding, size: size)
        return StaticAnswer(status: 200, headers: fields, body: .file(file, offset: 0, length: size))
    }

    // MARK: - Conditional requests (RFC 9110 §13)

    /// If-Match, then If-Unmodified-Since (only when If-Match is absent): 412 when the file
    /// is not the one the client means to act on.
    static func preconditionFailed(_ file: OpenFile, _ request: StaticRequest) -> StaticAnswer? {
        if let ifMatch = request.ifMatch {
            if !matches(ifMatch, file.etag, weak: false) { return StaticAnswer(status: 412, body: .errorPage) }
        } else if let ius = request.ifUnmodifiedSince, let date = HTTPDate.parse(ius), file.status.mtime > date {
            return StaticAnswer(status: 412, body: .errorPage)
        }
        return nil
    }

    /// If-None-Match (weak comparison), or If-Modified-Since when If-None-Match is absent.
    static func notModified(_ file: OpenFile, _ request: StaticRequest) -> Bool {
        if let inm = request.ifNoneMatch { return matches(inm, file.etag, weak: true) }
        if let ims = request.ifModifiedSince, let since = HTTPDate.parse(ims) { return file.status.mtime <= since }
        return false
    }

    /// If-Range: the range applies only if the client's validator is this file's ETag (strong
    /// comparison) or exactly its Last-Modified date.
    static func rangeStillValid(_ file: OpenFile, _ request: StaticRequest) -> Bool {
        guard let ifRange = request.ifRange?.trimmingCharacters() else { return true }
        if ifRange.hasSuffix("\"") { return ifRange == file.etag }
        return HTTPDate.parse(ifRange) == file.status.mtime
    }

    /// Whether a list of entity tags (or `*`) matches `etag`. The weak comparison ignores
    /// `W/`; the strong one refuses weak tags.
    static func matches(_ list: String, _ etag: String, weak: Bool) -> Bool {
        // By bytes: this runs on every revalidation, and String's split and trimming work
        // on Characters.
        withBytes(list) { list in withBytes(etag) { etag in matches(list, etag, weak: weak) } }
    }

    private static func withBytes<Result>(_ text: String, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        if let result = text.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) { return result }
        return Array(text.utf8).withUnsafeBytes(body)
    }

    private static func matches(_ list: UnsafeRawBufferPointer, _ etag: UnsafeRawBufferPointer, weak: Bool) -> Bool {
        FieldValue.containsItem(in: list) { tag in
            if tag.count == 1 && tag[0] == UInt8(ascii: "*") { return true }
            if tag.count >= 2 && tag[0] == UInt8(ascii: "W") && tag[1] == UInt8(ascii: "/") {
                return weak && tag.dropFirst(2).elementsEqual(etag)
            }
            return tag.elementsEqual(etag)
        }
    }

    // MARK: - Ranges

    private static let boundaryCounter = Atomic<UInt64>(0)

    /// RFC 9110 §14.6: each part with its own Content-Type and Content-Range.
    static func multipart(
        _ file: OpenFile, ranges: [Range<Int64>], contentType: String, headers validators: [(name: String, value: String)],
        coding: String?
    ) -> StaticAnswer {
        let n = boundaryCounter.wrappingAdd(1, ordering: .relaxed).newValue
        let digits = String(n)
        let boundary = String(repeating: "0", count: max(0, 20 - digits.count)) + digits
        var chunks: [StaticAnswer.Chunk] = []
        var length: Int64 = 0
        for range in ranges {
            let head = "\r\n--\(boundary)\r\nContent-Type: \(contentType)\r\n"
                + "Content-Range: bytes \(range.lowerBound)-\(range.upperBound - 1)/\(file.size)\r\n\r\n"
            chunks.append(.bytes(head))
            chunks.append(.file(file, offset: range.lowerBound, length: Int64(range.count)))
            length += Int64(head.utf8.count) + Int64(range.count)
        }
        let tail = "\r\n--\(boundary)--\r\n"
        chunks.append(.bytes(tail))
        length += Int64(tail.utf8.count)
        var headers = validators
        headers.append(("Content-Type", "multipart/byteranges; boundary=\(boundary)"))
        if let coding { headers.append(("Content-Encoding", coding)) }
        headers.append(("Content-Length", String(length)))
        return StaticAnswer(status: 206, headers: headers, body: .parts(chunks))
    }
}

extension StaticSite {
    /// Cache-Control and Expires as the route asks: `immutable`, then `cache_control`, then
    /// `expires` (nginx's form: Expires plus `Cache-Control: max-age`).
    func addCachingHeaders(to headers: inout [(name: String, value: String)]) {
        if options.immutable {
            headers.append(("Cache-Control", "public, max-age=31536000, immutable"))
        } else if let cacheControl = options.cacheControl {
            headers.append(("Cache-Control", cacheControl))
        }
        if let seconds = options.expires {
            headers.append(("Expires", HTTPDate.imf(Int(time(nil)) + seconds)))
            if !options.immutable && options.cacheControl == nil {
                headers.append(("Cache-Control", "max-age=\(seconds)"))
            }
        }
    }
}

extension String {
    func trimmingCharacters() -> String { String(Substring(self).trimmingSpaces()) }
}
