import AppExchange
import Foundation
import NIOCore
import Testing

@testable import HTTPFront

@Suite("HTTP/1.1 front, in memory")
struct FrontTests {
    let service = EchoService()

    func harness(static site: StaticSite? = nil, configure: (inout FrontConfiguration) -> Void = { _ in }) throws -> FrontHarness {
        let service = self.service
        var configuration = FrontConfiguration(route: { path in
            if let site, path.hasPrefix("/files/") { return .staticFiles(site, prefix: "/files/") }
            if path.hasPrefix("/none") { return nil }
            return .app(service, prefix: "/")
        })
        configure(&configuration)
        return try FrontHarness(configuration: configuration)
    }

    @Test func appRequestAndKeepAlive() throws {
        let front = try harness()
        let first = try front.exchange("GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(statusLine(first) == "HTTP/1.1 200 OK")
        #expect(first.contains("GET /a%20b?x=1 []"))
        // The app's hop-by-hop header is dropped; the front owns the framing.
        #expect(!first.contains("close-me"))
        #expect(front.isActive)
        let second = try front.exchange("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
        #expect(second.contains("POST /p? [hello]"))
    }

    @Test func chunkedBodyAndPipelining() throws {
        let front = try harness()
        let out = try front.exchange(
            "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                + "GET /second HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(out.contains("POST /c? [abcde]"))
        #expect(out.contains("GET /second? []"))
    }

    @Test func expectContinue() throws {
        let front = try harness()
        let interim = try front.exchange("PUT /u HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        #expect(interim == "HTTP/1.1 100 Continue\r\n\r\n")
        let final = try front.exchange("ok")
        #expect(final.contains("PUT /u? [ok]"))
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\r\n\r\n", "missing Host"),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "two Hosts"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "CL and TE"),
        ("GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n", "space in a header name"),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        ("GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n", "bad percent-encoding"),
        ("GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n", "NUL in the path"),
        ("GET /../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n", "above the root"),
    ])
    func malformedRequestsGet400AndClose(request: String, what: String) throws {
        let front = try harness()
        let out = try front.exchange(request)
        #expect(statusLine(out) == "HTTP/1.1 400 Bad Request", "\(what)")
        #expect(out.contains("Connection: close"), "\(what)")
        #expect(!front.isActive, "\(what): the connection must close")
    }

    @Test func headerTooLargeGets431() throws {
        let front = try harness { $0.maxHeaderSize = 1024 }
        let out = try front.exchange("GET / HTTP/1.1\r\nHost: h\r\nX-Big: \(String(repeating: "a", count: 2000))\r\n\r\n")
        #expect(statusLine(out) == "HTTP/1.1 431 Request Header Fields Too Large")
        #expect(!front.isActive)
    }

    @Test func bodyTooLargeGets413() throws {
        let front = try harness { $0.maxBodySize = 10 }
        let out = try front.exchange("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n")
        #expect(statusLine(out).hasPrefix("HTTP/1.1 413 "))
        let chunked = try harness { $0.maxBodySize = 10 }
        let out2 = try chunked.exchange("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n")
        #expect(statusLine(out2).hasPrefix("HTTP/1.1 413 "))
    }

    @Test func unroutedPathGets404AndKeepsTheConnection() throws {
        let front = try harness()
        let out = try front.exchange("GET /none HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(statusLine(out) == "HTTP/1.1 404 Not Found")
        #expect(front.isActive)
    }

    @Test func http10ClosesAfterTheResponse() throws {
        let front = try harness()
        let out = try front.exchange("GET / HTTP/1.0\r\n\r\n")
        #expect(statusLine(out) == "HTTP/1.0 200 OK")
        #expect(out.contains("Connection: close"))
    }
}
