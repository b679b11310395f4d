import AppExchange
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import XCTest

@testable import HTTPProxy

final class ProxyTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!

    override func setUp() { group = MultiThreadedEventLoopGroup(numberOfThreads: 1) }
    override func tearDown() { try? group.syncShutdownGracefully() }

    private func proxy(_ servers: [UpstreamAddress], configure: (inout ProxyConfiguration) -> Void = { _ in }) -> ReverseProxy {
        var configuration = ProxyConfiguration(servers: servers)
        configure(&configuration)
        return try! ReverseProxy(configuration: configuration, group: group, logger: Logger(label: "test"))
    }

    /// Runs one exchange on the loop, like the front does, sending `body` if given.
    private func send(_ proxy: ReverseProxy, _ request: AppRequest, body: String? = nil) throws -> CollectingWriter.Result {
        let loop = group.next()
        let writer = CollectingWriter(loop: loop)
        try loop.submit {
            let exchange = proxy.open(request, writer: writer)
            if let body {
                exchange.requestBody(ByteBuffer(string: body))
                exchange.requestEnd()
            }
        }.wait()
        return try writer.done.futureResult.wait()
    }

    func testForwardsWithForwardedHeadersAndWithoutHopByHop() throws {
        let upstream = try TestUpstream(group: group)
        let proxy = proxy([.tcp(host: "127.0.0.1", port: upstream.port)])
        let request = appRequest("GET", "/headers", headers: [
            ("Host", "front.example"), ("X-Forwarded-For", "203.0.113.1"), ("Connection", "keep-alive, X-Secret"),
            ("X-Secret", "hop"), ("Keep-Alive", "300"), ("TE", "trailers"), ("Proxy-Authorization", "Basic x"),
            ("Upgrade", "websocket"), ("Accept", "text/plain"),
        ])
        let result = try send(proxy, request)
        XCTAssertEqual(result.status, 200)
        let lines = Set(result.body.split(separator: "\n").map { $0.lowercased() })
        XCTAssertTrue(lines.contains("host: front.example"), result.body)
        XCTAssertTrue(lines.contains("x-forwarded-for: 203.0.113.1, 192.0.2.7"), result.body)
        XCTAssertTrue(lines.contains("x-forwarded-proto: https"), result.body)
        XCTAssertTrue(lines.contains("x-forwarded-host: front.example"), result.body)
        XCTAssertTrue(lines.contains("accept: text/plain"), result.body)
        for gone in ["x-secret", "keep-alive", "te", "proxy-authorization", "upgrade"] {
            XCTAssertFalse(lines.contains { $0.hasPrefix(gone + ":") }, "\(gone) crossed the proxy: \(result.body)")
        }
    }

    func testResponseHopByHopRemovedAndConnectionReused() throws {
        let upstream = try TestUpstream(group: group)
        let proxy = proxy([.tcp(host: "127.0.0.1", port: upstream.port)])
        for i in 0..<3 {
            let result = try send(proxy, appRequest("GET", "/n\(i)"))
            XCTAssertEqual(result.body, "ok /n\(i)")
            XCTAssertFalse(result.headers.contains { $0.name.lowercased() == "keep-alive" })
            XCTAssertTrue(result.headers.contains { $0.name == "X-Upstream" })
        }
        XCTAssertEqual(upstream.connections.withLockedValue { $0 }, 1, "the keep-alive connection was not reused")
    }

    func testIdlePooledConnectionIsClosedAfterKeepaliveTimeout() throws {
        let upstream = try TestUpstream(group: group)
        let proxy = proxy([.tcp(host: "127.0.0.1", port: upstream.port)]) { $0.keepaliveTimeout = 0.3 }
        XCTAssertEqual(try send(proxy, appRequest("GET", "/a")).body, "ok /a")
        XCTAssertEqual(try send(proxy, appRequest("GET", "/b")).body, "ok /b")
        XCTAssertEqual(upstream.connections.withLockedValue { $0 }, 1, "reused within the timeout")
        Thread.sleep(forTimeInterval: 0.8)
        XCTAssertEqual(try send(proxy, appRequest("GET", "/c")).body, "ok /c")
        XCTAssertEqual(upstream.connections.withLockedValue { $0 }, 2, "the idle connection was not closed")
    }

    func testUpgradeFieldsCrossOnlyWhenTheFrontCanTunnel() {
        let request = appRequest("GET", "/ws", headers: [
            ("Host", "h"), ("Connection", "Upgrade, X-Hop"), ("Upgrade", "websocket, h2c"), ("X-Hop", "1"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Keep-Alive", "5"),
        ])
        let plain = ForwardedHeaders.request(request, host: nil, fallbackHost: "u", framing: .none)
        XCTAssertFalse(plain.contains(name: "upgrade") || plain.contains(name: "connection") || plain.contains(name: "x-hop"))
        let upgrading = ForwardedHeaders.request(request, host: nil, fallbackHost: "u", framing: .none, upgrade: ["websocket"])
        XCTAssertEqual(upgrading["connection"], ["upgrade"])
        XCTAssertEqual(upgrading["upgrade"], ["websocket"])
        XCTAssertEqual(upgrading["sec-websocket-key"], ["dGhlIHNhbXBsZSBub25jZQ=="])
        XCTAssertFalse(upgrading.contains(name: "x-hop") || upgrading.contains(name: "keep-alive"))
        var response = HTTPHeaders([("Connection", "Upgrade, Keep-Alive"), ("Upgrade", "websocket"), ("Keep-Alive", "5"),
                                    ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")])
        response.add(name: "Transfer-Encoding", value: "chunked")
        let fields = ForwardedHeaders.upgradeResponse(response).map { "\($0.name.lowercased()): \($0.value)" }
        XCTAssertEqual(Set(fields), ["sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "connection: upgrade", "upgrade: websocket"])
    }

    func testHostCanBeSet() throws {
        let upstream = try TestUpstream(group: group)
        let proxy = proxy([.tcp(host: "127.0.0.1", port: upstream.port)]) { $0.host = "app.internal" }
        let result = try send(proxy, appRequest("GET", "/headers"))
        XCTAssertTrue(result.body.lowercased().contains("host: app.internal"), result.body)
        XCTAssertTrue(result.body.lowercased().contains("x-forwarded-host: front.example"), result.body)
    }

    func testConnectionCloseIsNotPooled() throws {
        let upstream = try TestUpstream(group: group)
        let proxy = proxy([.tcp(host: "127.0.0.1", port: upstream.port)])
        XCTAssertEqual(try send(proxy, appRequest("GET", "/close")).body, "bye")
        XCTAssertEqual(try send(proxy, appRequest("GET", "/after")).body, "ok /after")
        XCTAssertEqual(upstream.connections.withLockedValue { $0 }, 2)
    }

    func testRefusedGives502() throws {
        // A port nothing listens on: bind one, note it, close it.
        let closed = try ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).wait()
        let port = closed.localAddress!.port!
        try closed.close().wait()
        let result = try send(proxy([.tcp(host: "127.0.0.1", port: port)]), appRequest("GET", "/"))
        XCTAssertEqual(result.failure?.status, 502)
    }

    func testGarbageGives502() throws {
        let raw = try RawUpstream(group: group, reply: "this is not HTTP\r\n\r\n")
        let result = try send(proxy([.tcp(host: "127.0.0.1", port: raw.port)]), appRequest("GET", "/"))
        XCTAssertEqual(result.failure?.status, 502)
    }

    func testEarlyCloseGives502() throws {
        let raw = try RawUpstream(group: group, reply: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
        let result = try send(proxy([.tcp(host: "127.0.0.1", port: raw.port)]), appRequest("GET", "/"))
        XCTAssertEqual(result.status, 200)
        XCTAssertEqual(result.failure?.status, 502, "a body cut short must not look complete")
    }

    func testReadTimeoutGives504() throws {
        let upstream = try TestUpstream(group: group)
        let proxy = proxy([.tcp(host: "127.0.0.1", port: upstream.port)]) { $0.readTimeout = 0.3 }
        let started = NIODeadline.now()
        let result = try send(proxy, appRequest("GET", "/silent"))
        XCTAssertEqual(result.failure?.status, 504)
        XCTAssertLessThan(NIODeadline.now() - started, .seconds(3))
    }

    func testSendTimeoutGives504() throws {
        let deaf = try DeafUpstream(group: group)
        let proxy = proxy([.tcp(host: "127.0.0.1", port: deaf.port)]) { $0.sendTimeout = 0.3 }
        let loop = group.next()
        let writer = CollectingWriter(loop: loop)
        let request = appRequest("PUT", "/", headers: [("Host", "h"), ("Content-Length", "\(64 << 20)")], hasBody: true)
        let started = NIODeadline.now()
        try loop.submit {
            let exchange = proxy.open(request, writer: writer)
            let chunk = ByteBuffer(repeating: 0x61, count: 1 << 20)
            for _ in 0..<64 { exchange.requestBody(chunk) }
        }.wait()
        let result = try writer.done.futureResult.wait()
        XCTAssertEqual(result.failure?.status, 504)
        XCTAssertLessThan(NIODeadline.now() - started, .seconds(5))
    }

    func testRoundRobinAndFailureMarking() throws {
        let a = try TestUpstream(group: group)
        let b = try TestUpstream(group: group)
        let dead = try ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).wait()
        let deadPort = dead.localAddress!.port!
        try dead.close().wait()
        let proxy = proxy([
            .tcp(host: "127.0.0.1", port: a.port), .tcp(host: "127.0.0.1", port: deadPort),
            .tcp(host: "127.0.0.1", port: b.port),
        ]) { $0.keepalive = 0 }
        for i in 0..<6 {
            // The dead server is tried once, fails over to the next, and is then left out.
            XCTAssertEqual(try send(proxy, appRequest("GET", "/r\(i)")).body, "ok /r\(i)")
        }
        let servedA = a.requests.withLockedValue { $0.count }
        let servedB = b.requests.withLockedValue { $0.count }
        XCTAssertEqual(servedA + servedB, 6)
        XCTAssertGreaterThanOrEqual(min(servedA, servedB), 2, "round robin: a \(servedA), b \(servedB)")
    }

    func testStalePooledConnectionIsRetriedForIdempotentRequests() throws {
        let upstream = try TestUpstream(group: group)
        let proxy = proxy([.tcp(host: "127.0.0.1", port: upstream.port)])
        TestUpstream.dropped.withLockedValue { $0 = false }
        XCTAssertEqual(try send(proxy, appRequest("GET", "/one")).body, "ok /one")
        // The pooled connection is closed by the upstream as the request arrives: the proxy
        // tries once more on a fresh connection.
        XCTAssertEqual(try send(proxy, appRequest("GET", "/drop-once")).body, "ok /drop-once")
        XCTAssertEqual(upstream.connections.withLockedValue { $0 }, 2)
    }

    func testStalePooledConnectionIsNotRetriedForPost() throws {
        let upstream = try TestUpstream(group: group)
        let proxy = proxy([.tcp(host: "127.0.0.1", port: upstream.port)])
        TestUpstream.dropped.withLockedValue { $0 = false }
        XCTAssertEqual(try send(proxy, appRequest("GET", "/one")).body, "ok /one")
        let post = appRequest("POST", "/drop-once", headers: [("Host", "h"), ("Content-Length", "0")])
        XCTAssertEqual(try send(proxy, post).failure?.status, 502)
    }

    func testBufferedBodySpillsToFile() throws {
        let upstream = try TestUpstream(group: group)
        let proxy = proxy([.tcp(host: "127.0.0.1", port: upstream.port)]) {
            $0.bufferRequest = true
            $0.bufferMemory = 1000
        }
        let body = String(repeating: "abcdefghij", count: 500)
        let request = appRequest("POST", "/echo", headers: [("Host", "h"), ("Transfer-Encoding", "chunked")], hasBody: true)
        let result = try send(proxy, request, body: body)
        XCTAssertEqual(result.body, body)
        let head = try XCTUnwrap(upstream.requests.withLockedValue { $0.last })
        XCTAssertEqual(head.headers.first(name: "content-length"), "5000", "a buffered body goes with its length")
        XCTAssertFalse(head.headers.contains(name: "transfer-encoding"))
    }

    func testSelectorLeavesFailedServerOutThenTriesAgain() {
        let selector = UpstreamSelector(count: 2, maxFails: 2, failTimeout: 10)
        let t0 = NIODeadline.now()
        selector.failed(0, now: t0)
        XCTAssertEqual(Set([selector.next(excluding: [], now: t0)!, selector.next(excluding: [], now: t0)!]), [0, 1])
        selector.failed(0, now: t0)
        XCTAssertEqual(selector.next(excluding: [], now: t0), 1)
        XCTAssertEqual(selector.next(excluding: [], now: t0), 1)
        XCTAssertNil(selector.next(excluding: [1], now: t0))
        XCTAssertEqual(selector.next(excluding: [1], now: t0 + .seconds(11)), 0)
        let lone = UpstreamSelector(count: 1, maxFails: 1, failTimeout: 10)
        lone.failed(0, now: t0)
        XCTAssertEqual(lone.next(excluding: [], now: t0), 0, "a lone server is never left out")
    }
}
