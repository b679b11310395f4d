import Foundation
import Testing

@testable import HTTPFront
import NIOCore

@Suite("Byte ranges, as nginx parses them")
struct ByteRangesTests {
    @Test func singleRanges() {
        #expect(ByteRanges.parse("bytes=0-99", size: 1000) == .ranges([0..<100]))
        #expect(ByteRanges.parse("bytes=900-", size: 1000) == .ranges([900..<1000]))
        #expect(ByteRanges.parse("bytes=-100", size: 1000) == .ranges([900..<1000]))
        #expect(ByteRanges.parse("bytes=-5000", size: 1000) == .ranges([0..<1000]))
        #expect(ByteRanges.parse("bytes=990-5000", size: 1000) == .ranges([990..<1000]))
        #expect(ByteRanges.parse("BYTES= 0 - 9 ", size: 1000) == .ranges([0..<10]))
    }

    @Test func multipleRanges() {
        #expect(ByteRanges.parse("bytes=0-9,20-29", size: 1000) == .ranges([0..<10, 20..<30]))
        #expect(ByteRanges.parse("bytes=0-0, 2-3, -1", size: 16) == .ranges([0..<1, 2..<4, 15..<16]))
        // Overlaps adding up to more than the file: the whole file instead.
        #expect(ByteRanges.parse("bytes=0-599,100-999", size: 1000) == .ignore)
    }

    @Test func ignoredAndUnsatisfiable() {
        #expect(ByteRanges.parse("items=0-1", size: 1000) == .ignore)
        #expect(ByteRanges.parse("bytes=", size: 1000) == .ignore)
        #expect(ByteRanges.parse("bytes=0-", size: 0) == .ignore)
        #expect(ByteRanges.parse("bytes=1000-", size: 1000) == .unsatisfiable)
        #expect(ByteRanges.parse("bytes=50-10", size: 1000) == .unsatisfiable)
        #expect(ByteRanges.parse("bytes=abc", size: 1000) == .unsatisfiable)
        #expect(ByteRanges.parse("bytes=1-2-3", size: 1000) == .unsatisfiable)
        #expect(ByteRanges.parse("bytes=-0", size: 1000) == .unsatisfiable)
        #expect(ByteRanges.parse("bytes=0-99999999999999999999999", size: 1000) == .unsatisfiable)
    }
}

@Suite("Accept-Encoding negotiation")
struct AcceptEncodingTests {
    @Test func choosesTheBestAvailable() {
        #expect(AcceptEncoding("gzip, deflate, br").choose(brotli: true, gzip: true) == "br")
        #expect(AcceptEncoding("gzip, deflate, br").choose(brotli: false, gzip: true) == "gzip")
        #expect(AcceptEncoding("br;q=0.5, gzip").choose(brotli: true, gzip: true) == "gzip")
        #expect(AcceptEncoding("gzip;q=0, identity").choose(brotli: false, gzip: true) == nil)
        #expect(AcceptEncoding("identity").choose(brotli: true, gzip: true) == nil)
        #expect(AcceptEncoding("*").choose(brotli: false, gzip: true) == "gzip")
        #expect(AcceptEncoding("*, br;q=0").choose(brotli: true, gzip: true) == "gzip")
        #expect(AcceptEncoding("x-gzip").choose(brotli: false, gzip: true) == "gzip")
        #expect(AcceptEncoding("GZIP ; Q=0.5").choose(brotli: false, gzip: true) == "gzip")
    }
}

@Suite("The static responder, as data")
final class StaticResponderTests {
    let root: String
    static let mtime = 1_700_000_000

    init() throws {
        root = NSTemporaryDirectory() + "berth-responder-\(UUID().uuidString)"
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/listed", withIntermediateDirectories: true)
        try Data((0..<1000).map { UInt8($0 % 251) }).write(to: URL(fileURLWithPath: root + "/data.bin"))
        try "plain text file\n".write(toFile: root + "/hello.txt", atomically: false, encoding: .utf8)
        try String(repeating: "a { b: c }\n", count: 50).write(toFile: root + "/c.css", atomically: false, encoding: .utf8)
        try "gz".write(toFile: root + "/c.css.gz", atomically: false, encoding: .utf8)
        try "brotli".write(toFile: root + "/c.css.br", atomically: false, encoding: .utf8)
        try "x".write(toFile: root + "/listed/<b>&.txt", atomically: false, encoding: .utf8)
        try "webp".write(toFile: root + "/i.webp2", atomically: false, encoding: .utf8)
        for name in ["data.bin", "hello.txt", "c.css", "c.css.gz", "c.css.br"] {
            try fm.setAttributes(
                [.modificationDate: Date(timeIntervalSince1970: Double(Self.mtime))], ofItemAtPath: root + "/" + name)
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func site(_ configure: (inout StaticOptions) -> Void = { _ in }) -> StaticSite {
        var options = StaticOptions()
        configure(&options)
        return StaticSite(roots: [root], options: options)
    }

    func answer(_ path: String, site: StaticSite? = nil, head: Bool = false, _ fields: [(String, String)] = []) -> StaticAnswer {
        var request = StaticRequest(isHead: head, rawPath: Substring("/s/" + path), query: "q=1")
        for (name, value) in fields { request.take(name: name, value: value) }
        return StaticResponder.answer(site: site ?? self.site(), relative: path, request: request)
    }

    func region(_ answer: StaticAnswer) -> (Int64, Int64)? {
        if case .file(_, let offset, let length) = answer.body { return (offset, length) }
        return nil
    }

    @Test func plainFile() {
        let a = answer("hello.txt")
        #expect(a.status == 200)
        #expect(a.header("Content-Type") == "text/plain; charset=utf-8")
        #expect(a.header("Content-Length") == "16")
        #expect(a.header("ETag") == "\"6553f100-10\"")
        #expect(a.header("Last-Modified") == "Tue, 14 Nov 2023 22:13:20 GMT")
        #expect(a.header("Accept-Ranges") == "bytes")
        #expect(a.header("Vary") == nil)
        #expect(region(a)! == (0, 16))
    }

    @Test func conditionals() {
        let etag = "\"6553f100-10\"", lm = "Tue, 14 Nov 2023 22:13:20 GMT", earlier = "Tue, 14 Nov 2023 21:13:20 GMT"
        #expect(answer("hello.txt", [("If-None-Match", etag)]).status == 304)
        #expect(answer("hello.txt", [("if-none-match", "\"x\", W/" + etag)]).status == 304)
        #expect(answer("hello.txt", [("If-None-Match", "*")]).status == 304)
        #expect(answer("hello.txt", [("If-None-Match", "\"x\"")]).status == 200)
        #expect(answer("hello.txt", [("If-Modified-Since", lm)]).status == 304)
        #expect(answer("hello.txt", [("If-Modified-Since", earlier)]).status == 200)
        #expect(answer("hello.txt", [("If-Modified-Since", "yesterday")]).status == 200)
        // If-None-Match wins over If-Modified-Since (RFC 9110 §13.1.3).
        #expect(answer("hello.txt", [("If-None-Match", etag), ("If-Modified-Since", earlier)]).status == 304)
        #expect(answer("hello.txt", [("If-None-Match", "\"x\""), ("If-Modified-Since", lm)]).status == 200)
        #expect(answer("hello.txt", [("If-Match", etag)]).status == 200)
        #expect(answer("hello.txt", [("If-Match", "W/" + etag)]).status == 412)
        #expect(answer("hello.txt", [("If-Match", "\"x\"")]).status == 412)
        #expect(answer("hello.txt", [("If-Unmodified-Since", earlier)]).status == 412)
        #expect(answer("hello.txt", [("If-Unmodified-Since", lm)]).status == 200)
        #expect(answer("hello.txt", [("If-Unmodified-Since", "nonsense")]).status == 200)
        let notModified = answer("hello.txt", [("If-None-Match", etag)])
        #expect(notModified.header("Content-Length") == nil && notModified.header("ETag") == etag)
    }

    @Test func ranges() {
        let single = answer("data.bin", [("Range", "bytes=100-199")])
        #expect(single.status == 206)
        #expect(single.header("Content-Range") == "bytes 100-199/1000")
        #expect(single.header("Content-Length") == "100")
        #expect(region(single)! == (100, 100))

        let bad = answer("data.bin", [("Range", "bytes=2000-")])
        #expect(bad.status == 416 && bad.header("Content-Range") == "bytes */1000")

        let multi = answer("data.bin", [("Range", "bytes=0-9,20-29")])
        #expect(multi.status == 206)
        let type = multi.header("Content-Type") ?? ""
        #expect(type.hasPrefix("multipart/byteranges; boundary="))
        guard case .parts(let chunks) = multi.body else {
            Issue.record("not multipart")
            return
        }
        var length: Int64 = 0
        for chunk in chunks {
            switch chunk {
            case .bytes(let text): length += Int64(text.utf8.count)
            case .file(_, _, let n): length += n
            }
        }
        #expect(multi.header("Content-Length") == String(length))
        if case .bytes(let first) = chunks[0] {
            #expect(first.contains("Content-Range: bytes 0-9/1000\r\n"))
        }

        let etag = "\"6553f100-3e8\""
        #expect(answer("data.bin", [("Range", "bytes=0-9"), ("If-Range", etag)]).status == 206)
        #expect(answer("data.bin", [("Range", "bytes=0-9"), ("If-Range", "\"other\"")]).status == 200)
        #expect(answer("data.bin", [("Range", "bytes=0-9"), ("If-Range", "Tue, 14 Nov 2023 22:13:20 GMT")]).status == 206)
        #expect(answer("data.bin", [("Range", "bytes=0-9"), ("If-Range", "Tue, 14 Nov 2023 22:13:21 GMT")]).status == 200)
    }

    @Test func precompressedVariants() {
        let br = answer("c.css", [("Accept-Encoding", "gzip, br")])
        #expect(br.header("Content-Encoding") == "br")
        #expect(br.header("Content-Length") == "6")
        #expect(br.header("Vary") == "Accept-Encoding")
        #expect(br.header("Content-Type") == "text/css; charset=utf-8")
        #expect(br.header("ETag") == "\"6553f100-6\"")
        let gz = answer("c.css", [("Accept-Encoding", "gzip")])
        #expect(gz.header("Content-Encoding") == "gzip" && gz.header("Content-Length") == "2")
        let plain = answer("c.css", [("Accept-Encoding", "gzip;q=0, br;q=0")])
        #expect(plain.header("Content-Encoding") == nil && plain.header("Content-Length") == "550")
        #expect(plain.header("Vary") == "Accept-Encoding")
        #expect(answer("c.css").header("Vary") == "Accept-Encoding")
        // Off: no siblings looked for, no Vary.
        let off = answer("c.css", site: site { $0.precompressed = false }, [("Accept-Encoding", "br")])
        #expect(off.header("Content-Encoding") == nil && off.header("Vary") == nil)
    }

    @Test func directoriesAndListings() {
        let redirect = answer("listed")
        #expect(redirect.status == 301 && redirect.header("Location") == "/s/listed/?q=1")
        #expect(answer("listed/").status == 403)
        let listing = answer("listed/", site: site { $0.autoindex = true })
        #expect(listing.status == 200)
        guard case .bytes(let html) = listing.body else {
            Issue.record("no listing")
            return
        }
        #expect(html.contains("&lt;b&gt;&amp;.txt"))
        #expect(html.contains("href=\"%3Cb%3E%26.txt\""))
        #expect(!html.contains("<b>&"))
    }

    @Test func cachingHeadersAndTypes() {
        let expires = answer("hello.txt", site: site { $0.expires = 3600 })
        #expect(expires.header("Cache-Control") == "max-age=3600")
        #expect(expires.header("Expires") != nil)
        let explicit = answer("hello.txt", site: site { $0.cacheControl = "no-cache" })
        #expect(explicit.header("Cache-Control") == "no-cache")
        let immutable = answer("hello.txt", site: site { $0.immutable = true })
        #expect(immutable.header("Cache-Control") == "public, max-age=31536000, immutable")
        let typed = answer("i.webp2", site: site { $0.types = ["webp2": "image/webp2"] })
        #expect(typed.header("Content-Type") == "image/webp2")
        #expect(answer("i.webp2").header("Content-Type") == "application/octet-stream")
    }

    @Test func theCacheKeepsFilesAndNoticesChanges() throws {
        let site = site { $0.cacheValidity = 0.3 }
        let first = answer("hello.txt", site: site)
        #expect(site.cache.count == 1)
        guard case .file(let firstFile, _, _) = first.body else { throw CancellationError() }
        // Served again from the same open file.
        guard case .file(let again, _, _) = answer("hello.txt", site: site).body else { throw CancellationError() }
        #expect(again === firstFile)

        // Rewritten in place: the fstat on use notices at once.
        try "rewritten in place, longer\n".write(toFile: root + "/hello.txt", atomically: false, encoding: .utf8)
        let rewritten = answer("hello.txt", site: site)
        #expect(rewritten.header("Content-Length") == "27")

        // Replaced by rename: the old file lost its last link, which changed its ctime, so
        // the fstat on use notices that too.
        try "replaced\n".write(toFile: root + "/new.txt", atomically: false, encoding: .utf8)
        #expect(rename(root + "/new.txt", root + "/hello.txt") == 0)
        #expect(answer("hello.txt", site: site).header("Content-Length") == "9")

        // Deleted: the same.
        unlink(root + "/hello.txt")
        #expect(answer("hello.txt", site: site).status == 404)

        // A missing file is cached as missing until the validity runs out; then it is found.
        try "appeared\n".write(toFile: root + "/hello.txt", atomically: false, encoding: .utf8)
        #expect(answer("hello.txt", site: site).status == 404)
        Thread.sleep(forTimeInterval: 0.4)
        #expect(answer("hello.txt", site: site).header("Content-Length") == "9")
    }

    @Test func theCacheIsBounded() {
        let site = site { $0.cacheEntries = 4 }
        for i in 0..<20 { _ = answer("missing-\(i)", site: site) }
        #expect(site.cache.count <= 4)
        let off = self.site { $0.cacheEntries = 0 }
        _ = answer("hello.txt", site: off)
        #expect(off.cache.count == 0)
    }

    @Test func requestFieldsAnyCase() {
        var request = StaticRequest(isHead: false, rawPath: "/")
        request.take(name: "RANGE", value: "bytes=0-1")
        request.take(name: "If-None-Match", value: "\"a\"")
        request.take(name: "if-none-match", value: "\"b\"")
        request.take(name: "X-Other", value: "1")
        #expect(request.range == "bytes=0-1")
        #expect(request.ifNoneMatch == "\"a\", \"b\"")
    }

    /// The HTTP/1.1 head an identity answer carries ready-made says exactly what its fields
    /// say, with the right status line; answers that differ per request carry none.
    @Test func readyMadeHeadsMatchTheirFields() {
        func rendered(_ a: StaticAnswer) -> String? {
            a.http11Head.map { String(buffer: $0) }
        }
        func expected(_ statusLine: String, _ a: StaticAnswer) -> String {
            statusLine + a.headers.map { "\($0.name): \($0.value)\r\n" }.joined()
        }
        let full = answer("hello.txt")
        #expect(rendered(full) == expected("HTTP/1.1 200 OK\r\n", full))
        let notModified = answer("hello.txt", [("If-None-Match", "\"6553f100-10\"")])
        #expect(rendered(notModified) == expected("HTTP/1.1 304 Not Modified\r\n", notModified))
        let withVariants = answer("c.css")
        #expect(withVariants.header("Vary") == "Accept-Encoding")
        #expect(rendered(withVariants) == expected("HTTP/1.1 200 OK\r\n", withVariants))
        let immutable = answer("hello.txt", site: site { $0.immutable = true })
        #expect(rendered(immutable) == expected("HTTP/1.1 200 OK\r\n", immutable))
        // Per request: a range, a compressed variant, a date that moves (Expires), an error.
        #expect(answer("data.bin", [("Range", "bytes=0-9")]).http11Head == nil)
        #expect(answer("c.css", [("Accept-Encoding", "gzip")]).http11Head == nil)
        #expect(answer("hello.txt", site: site { $0.expires = 60 }).http11Head == nil)
        #expect(answer("hello.txt", [("If-Match", "\"x\"")]).http11Head == nil)
        #expect(answer("missing").http11Head == nil)
    }

    /// Entity-tag lists as RFC 9110 §8.8.3 writes them: spaces and tabs around items, empty
    /// items, `*`, weak tags only where the comparison is weak.
    @Test func entityTagLists() {
        let etag = "\"6553f100-10\""
        #expect(StaticResponder.matches(etag, etag, weak: false))
        #expect(StaticResponder.matches(" \t\"a\" ,, \(etag)\t", etag, weak: false))
        #expect(StaticResponder.matches("*", etag, weak: false))
        #expect(StaticResponder.matches("W/\(etag)", etag, weak: true))
        #expect(!StaticResponder.matches("W/\(etag)", etag, weak: false))
        #expect(!StaticResponder.matches("\"6553f100-1\", \"6553f100-100\"", etag, weak: true))
        #expect(!StaticResponder.matches("", etag, weak: true))
        #expect(!StaticResponder.matches(",", etag, weak: true))
        #expect(!StaticResponder.matches("W/", etag, weak: true))
        #expect(StaticResponder.matches("\"é\", \(etag)", etag, weak: false))
    }
}
