import Foundation
import NIOCore
import Testing

@testable import HTTPFront

@Suite("Static files, in memory")
final class StaticTests {
    let root: String
    let site: StaticSite

    init() throws {
        root = NSTemporaryDirectory() + "berth-static-\(UUID().uuidString)"
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/sub", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/empty", withIntermediateDirectories: true)
        try "hello file".write(toFile: root + "/a.txt", atomically: true, encoding: .utf8)
        try "body{}".write(toFile: root + "/s.css", atomically: true, encoding: .utf8)
        try "<p>index</p>".write(toFile: root + "/sub/index.html", atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: root + "/escape", withDestinationPath: "/etc/hostname")
        site = StaticSite(roots: [root])
    }

    deinit {
        try? FileManager.default.removeItem(atPath: root)
    }

    func get(_ path: String, headers: String = "") throws -> String {
        let front = try FrontHarness(configuration: FrontConfiguration(route: { [site] p in
            p.hasPrefix("/files/") ? .staticFiles(site, prefix: "/files/") : nil
        }))
        return try front.exchange("GET \(path) HTTP/1.1\r\nHost: h\r\n\(headers)\r\n")
    }

    func header(_ name: String, in response: String) -> String? {
        response.split(separator: "\r\n").first { $0.lowercased().hasPrefix(name.lowercased() + ":") }
            .map { String($0.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces) }
    }

    @Test func servesAFileWithValidators() throws {
        let out = try get("/files/a.txt")
        #expect(statusLine(out) == "HTTP/1.1 200 OK")
        #expect(header("Content-Type", in: out) == "text/plain; charset=utf-8")
        #expect(header("Content-Length", in: out) == "10")
        #expect(header("Last-Modified", in: out) != nil)
        #expect(out.hasSuffix("<file 10 bytes>"))
        #expect(header("Content-Type", in: try get("/files/s.css")) == "text/css; charset=utf-8")

        let etag = try #require(header("ETag", in: out))
        #expect(statusLine(try get("/files/a.txt", headers: "If-None-Match: \(etag)\r\n")) == "HTTP/1.1 304 Not Modified")
        let modified = try #require(header("Last-Modified", in: out))
        #expect(statusLine(try get("/files/a.txt", headers: "If-Modified-Since: \(modified)\r\n")) == "HTTP/1.1 304 Not Modified")
        #expect(statusLine(try get("/files/a.txt", headers: "If-None-Match: \"other\"\r\n")) == "HTTP/1.1 200 OK")
    }

    @Test func directories() throws {
        let redirect = try get("/files/sub?q=1")
        #expect(statusLine(redirect) == "HTTP/1.1 301 Moved Permanently")
        #expect(header("Location", in: redirect) == "/files/sub/?q=1")
        #expect(try get("/files/sub/").hasSuffix("<file 12 bytes>"))
        #expect(statusLine(try get("/files/empty/")) == "HTTP/1.1 403 Forbidden")
    }

    @Test func nothingOutsideTheRoot() throws {
        #expect(statusLine(try get("/files/missing")) == "HTTP/1.1 404 Not Found")
        #expect(statusLine(try get("/files/escape")) == "HTTP/1.1 403 Forbidden")
        #expect(statusLine(try get("/files/%2e%2e/%2e%2e/etc/passwd")) == "HTTP/1.1 400 Bad Request")
        #expect(statusLine(try get("/files/..%2f..%2fetc/passwd")) == "HTTP/1.1 400 Bad Request")
    }

    @Test func forbiddenAndRangesKeepTheConnection() throws {
        let front = try FrontHarness(configuration: FrontConfiguration(route: { [site] p in
            p.hasPrefix("/files/") ? .staticFiles(site, prefix: "/files/") : nil
        }))
        let out = try front.exchange(
            "GET /files/empty/ HTTP/1.1\r\nHost: h\r\n\r\n"
                + "GET /files/a.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=50-\r\n\r\n"
                + "HEAD /files/a.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=0-3\r\n\r\n")
        #expect(out.contains("HTTP/1.1 403 Forbidden"))
        #expect(out.contains("HTTP/1.1 416 Range Not Satisfiable"))
        #expect(out.contains("Content-Range: bytes */10"))
        #expect(out.contains("HTTP/1.1 206 Partial Content"))
        #expect(out.contains("Content-Range: bytes 0-3/10"))
        #expect(!out.contains("Connection: close"))
        #expect(!out.hasSuffix("bytes>"))  // HEAD: no body
        #expect(front.isActive)
    }

    @Test func pipelinedResponsesAreFlushedTogether() throws {
        let front = try FrontHarness(configuration: FrontConfiguration(route: { [site] p in
            p.hasPrefix("/files/") ? .staticFiles(site, prefix: "/files/") : nil
        }))
        let counter = FlushCounter()
        try front.channel.pipeline.syncOperations.addHandler(counter, position: .first)
        let one = "GET /files/a.txt HTTP/1.1\r\nHost: h\r\n\r\n"
        let out = try front.exchange(String(repeating: one, count: 5) + "GET /files/missing HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(out.components(separatedBy: "HTTP/1.1 200 OK").count == 6)
        #expect(out.contains("HTTP/1.1 404 Not Found"))
        #expect(counter.flushes == 1)
        // A lone request is flushed too.
        #expect(try front.exchange(one).hasSuffix("<file 10 bytes>"))
        #expect(counter.flushes == 2)
    }

    @Test func requestTargetNormalization() throws {
        #expect(try RequestTarget("/a/./b//c/../d?x=1#f").normalizedPath == "/a/b/d")
        #expect(try RequestTarget("/a/b/").normalizedPath == "/a/b/")
        #expect(try RequestTarget("http://host:8000/p?q").normalizedPath == "/p")
        #expect(try RequestTarget("/p?q=1#frag").query == "q=1")
        #expect(throws: RequestTarget.Problem.self) { try RequestTarget("/a/../../b") }
    }

    /// One connection, static requests between others: a static request's object is reused
    /// by the next one, which must start from nothing of the last (status, bytes, fields).
    @Test func staticRequestsInARowOnOneConnection() throws {
        let logPath = root + "/access.log"
        var configuration = FrontConfiguration(route: { [site] p in
            p.hasPrefix("/files/") ? .staticFiles(site, prefix: "/files/") : p.hasPrefix("/app/") ? .app(EchoService(), prefix: "/app/") : nil
        })
        configuration.accessLog = try AccessLog.file(logPath)
        let front = try FrontHarness(configuration: configuration)
        let full = try front.exchange("GET /files/a.txt HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(statusLine(full) == "HTTP/1.1 200 OK" && full.hasSuffix("<file 10 bytes>"))
        let etag = try #require(header("ETag", in: full))
        let notModified = try front.exchange("GET /files/a.txt HTTP/1.1\r\nHost: h\r\nIf-None-Match: \(etag)\r\n\r\n")
        #expect(statusLine(notModified) == "HTTP/1.1 304 Not Modified" && notModified.hasSuffix("\r\n\r\n"))
        #expect(header("Content-Length", in: notModified) == nil)
        let app = try front.exchange("GET /app/x?q HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(statusLine(app) == "HTTP/1.1 200 OK" && app.contains("GET /app/x?q []"))
        let head = try front.exchange("HEAD /files/s.css HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(statusLine(head) == "HTTP/1.1 200 OK" && header("Content-Length", in: head) == "6" && head.hasSuffix("\r\n\r\n"))
        // Two pipelined in one read: the second reuses the first's object at once.
        let pair = try front.exchange(
            "GET /files/missing HTTP/1.1\r\nHost: h\r\n\r\nGET /files/s.css HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        #expect(pair.hasPrefix("HTTP/1.1 404 Not Found\r\n"))
        #expect(pair.contains("HTTP/1.1 200 OK\r\n") && pair.contains("Connection: close\r\n") && pair.hasSuffix("<file 6 bytes>"))
        // Each access log line: "METHOD URI VERSION" STATUS BYTES (the 404 page's size aside).
        let lines = try String(contentsOfFile: logPath, encoding: .utf8).split(separator: "\n").map { line in
            let parts = line.split(separator: "\"")
            let numbers = parts[2].split(separator: " ")
            return "\(parts[1]) \(numbers[0])" + (numbers[0] == "404" ? "" : " \(numbers[1])")
        }
        #expect(lines == [
            "GET /files/a.txt HTTP/1.1 200 10", "GET /files/a.txt HTTP/1.1 304 0", "GET /app/x?q HTTP/1.1 200 15",
            "HEAD /files/s.css HTTP/1.1 200 0", "GET /files/missing HTTP/1.1 404", "GET /files/s.css HTTP/1.1 200 6",
        ])
    }

    /// How a target splits into path and query, each form: what the byte scan must keep.
    @Test(arguments: [
        ("/s/1k.bin", "/s/1k.bin", "", "/s/1k.bin"),
        ("/", "/", "", "/"),
        ("/p?", "/p", "", "/p"),
        ("/p?a=1&b=2#f?g", "/p", "a=1&b=2", "/p"),
        ("/p#frag", "/p#frag", "", "/p#frag"),
        ("/a%20b/c?x", "/a%20b/c", "x", "/a b/c"),
        ("/a//b/./c/", "/a//b/./c/", "", "/a/b/c/"),
        ("/.hidden", "/.hidden", "", "/.hidden"),
        ("/caf\u{e9}", "/caf\u{e9}", "", "/caf\u{e9}"),
        ("http://host", "/", "", "/"),
        ("http://host?x=1", "/", "", "/"),
        ("https://host:8443/a/b?c", "/a/b", "c", "/a/b"),
    ])
    func requestTargetParts(_ uri: String, _ rawPath: String, _ query: String, _ normalized: String) throws {
        let target = try RequestTarget(uri)
        #expect(String(target.rawPath) == rawPath)
        #expect(String(target.query) == query)
        #expect(target.normalizedPath == normalized)
    }

    @Test(arguments: ["", "*", "host/p", "http:/p", "http:", "/a%zz", "/a%00b", "/.."])
    func requestTargetRejected(_ uri: String) {
        #expect(throws: RequestTarget.Problem.self) { try RequestTarget(uri) }
    }
}

/// Counts the flushes that reach the socket end of the pipeline.
final class FlushCounter: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = Any
    var flushes = 0

    func flush(context: ChannelHandlerContext) {
        flushes += 1
        context.flush()
    }
}
