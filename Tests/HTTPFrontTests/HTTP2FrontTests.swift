import AppExchange
import Foundation
import HTTP2
import NIOCore
import NIOEmbedded
import Testing

@testable import HTTPFront

/// The cleartext pipeline in memory: the protocol sniffer, then HTTP/1.1 or the HTTP/2
/// handler, driven by an nghttp2 client session.
@Suite struct HTTP2FrontTests {
    final class Connection {
        let channel = EmbeddedChannel()
        let client: HTTP2Session
        var events: [HTTP2Event] = []
        /// Whether the client takes (consumes) what it receives, reopening its windows.
        var consumes = true
        private var unconsumed: [Int32: Int] = [:]

        init(configuration: FrontConfiguration) throws {
            try HTTPServer.configureCleartextPipeline(channel, configuration: configuration)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1234)).wait()
            client = try HTTP2Session(role: .client)
        }

        /// Moves bytes both ways until both sides are quiet.
        func pump() throws {
            for _ in 0..<100 {
                var moved = false
                if let out = try client.output() {
                    moved = true
                    try channel.writeInbound(out)
                }
                channel.embeddedEventLoop.run()
                while let data = try channel.readOutbound(as: ByteBuffer.self) {
                    moved = true
                    try client.receive(data)
                }
                for event in client.takeEvents() {
                    if case .data(let id, let chunk) = event { unconsumed[id, default: 0] += chunk.readableBytes }
                    events.append(event)
                }
                if consumes {
                    for (id, count) in unconsumed where count > 0 {
                        client.consume(streamID: id, count: count)
                        moved = true
                    }
                    unconsumed = [:]
                }
                if !moved { return }
            }
        }

        func response(_ id: Int32) -> (status: Int, headers: [(name: String, value: String)], body: String)? {
            var status = 0
            var headers: [(name: String, value: String)] = []
            var body = ""
            var ended = false
            for event in events {
                switch event {
                case .response(id, let s, let h, let endStream):
                    status = s
                    headers = h
                    ended = ended || endStream
                case .data(id, let chunk): body += String(buffer: chunk)
                case .end(id, _): ended = true
                default: break
                }
            }
            return ended ? (status, headers, body) : nil
        }
    }

    func configuration(static root: String? = nil) -> FrontConfiguration {
        let service = EchoService()
        let site = root.map { StaticSite(roots: [$0]) }
        return FrontConfiguration { path in
            if let site, path.hasPrefix("/files/") { return .staticFiles(site, prefix: "/files/") }
            return .app(service, prefix: "/")
        }
    }

    @Test func prefaceDecision() {
        let preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        #expect(ProtocolSniffer.decide(ByteBuffer(string: "GET / HTTP/1.1\r\n").readableBytesView) == .http1)
        #expect(ProtocolSniffer.decide(ByteBuffer(string: "PR").readableBytesView) == .undecided)
        #expect(ProtocolSniffer.decide(ByteBuffer(string: "PRIX").readableBytesView) == .http1)
        #expect(ProtocolSniffer.decide(ByteBuffer(string: "PRI * HTTP/1.1").readableBytesView) == .badPreface)
        #expect(ProtocolSniffer.decide(ByteBuffer(string: String(preface.dropLast())).readableBytesView) == .undecided)
        #expect(ProtocolSniffer.decide(ByteBuffer(string: preface + "xyz").readableBytesView) == .http2)
    }

    @Test func appFieldValuesAreMadeValidForHTTP2() {
        #expect(HTTP2ConnectionHandler.fieldValue(" csrftoken=abc; Path=/") == "csrftoken=abc; Path=/")
        #expect(HTTP2ConnectionHandler.fieldValue("\tx \t") == "x")
        #expect(HTTP2ConnectionHandler.fieldValue("a b") == "a b")
        #expect(HTTP2ConnectionHandler.fieldValue("") == "")
        #expect(HTTP2ConnectionHandler.fieldValue("a\r\nset-cookie: evil") == nil)
    }

    @Test func http1StillServedBehindTheSniffer() throws {
        let connection = try Connection(configuration: configuration())
        // Shorter than the preface, and sent in two pieces.
        try connection.channel.writeInbound(ByteBuffer(string: "GET /a HTT"))
        try connection.channel.writeInbound(ByteBuffer(string: "P/1.0\r\n\r\n"))
        connection.channel.embeddedEventLoop.run()
        var out = ""
        while let data = try connection.channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(let buffer) = data { out += String(buffer: buffer) }
        }
        #expect(out.hasPrefix("HTTP/1.0 200 OK"), "\(out)")
        #expect(out.hasSuffix("GET /a? []"), "\(out)")
    }

    @Test func appRequestsOverHTTP2() throws {
        let connection = try Connection(configuration: configuration())
        let get = try connection.client.submitRequest(method: "GET", authority: "example.test", path: "/x?q=1", hasBody: false)
        let post = try connection.client.submitRequest(method: "POST", authority: "example.test", path: "/up", hasBody: true)
        connection.client.sendBody(streamID: post, ByteBuffer(string: "abc"))
        connection.client.endBody(streamID: post)
        try connection.pump()
        let first = try #require(connection.response(get))
        #expect(first.status == 200)
        #expect(first.body == "GET /x?q=1 []")
        #expect(first.headers.contains { $0 == ("content-type", "text/plain") })
        #expect(!(first.headers.contains { $0.name == "connection" }), "connection-specific fields never go out on HTTP/2")
        #expect(first.headers.contains { $0.name == "date" })
        let second = try #require(connection.response(post))
        #expect(second.body == "POST /up? [abc]")
    }

    @Test func unknownPathsAndBadTargets() throws {
        var configuration = configuration()
        configuration.route = { _ in nil }
        let connection = try Connection(configuration: configuration)
        let missing = try connection.client.submitRequest(method: "GET", authority: "x", path: "/nope", hasBody: false)
        let bad = try connection.client.submitRequest(method: "GET", authority: "x", path: "/%zz", hasBody: false)
        try connection.pump()
        #expect(connection.response(missing)?.status == 404)
        #expect(connection.response(bad)?.status == 400)
    }

    @Test func staticFilesOverHTTP2() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-h2-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let big = String(repeating: "0123456789abcdef", count: 20_000)  // 320 000 bytes: several refills
        try "small\n".write(to: root.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
        try big.write(to: root.appendingPathComponent("big.txt"), atomically: true, encoding: .utf8)
        let connection = try Connection(configuration: configuration(static: root.path))
        let small = try connection.client.submitRequest(method: "GET", authority: "x", path: "/files/a.txt", hasBody: false)
        let large = try connection.client.submitRequest(method: "GET", authority: "x", path: "/files/big.txt", hasBody: false)
        let post = try connection.client.submitRequest(method: "POST", authority: "x", path: "/files/a.txt", hasBody: false)
        try connection.pump()
        let a = try #require(connection.response(small))
        #expect(a.status == 200)
        #expect(a.body == "small\n")
        #expect(a.headers.contains { $0 == ("content-length", "6") })
        let etag = try #require(a.headers.first { $0.name == "etag" }?.value)
        #expect(connection.response(large)?.body == big)
        #expect(connection.response(post)?.status == 405)

        let revalidate = try connection.client.submitRequest(
            method: "GET", authority: "x", path: "/files/a.txt", headers: [("if-none-match", etag)], hasBody: false)
        try connection.pump()
        #expect(connection.response(revalidate)?.status == 304)
    }

    @Test func gracefulStopSendsGoAwayAndCloses() throws {
        let connection = try Connection(configuration: configuration())
        try connection.pump()
        connection.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        try connection.pump()
        #expect(connection.events.contains { if case .goaway(_, .noError) = $0 { true } else { false } })
        #expect(!(connection.channel.isActive), "no streams were open: the connection closes at once")
    }

    /// An app that the test steers: it holds the writer and records what the front tells it.
    final class SteeredService: AppService, @unchecked Sendable {
        final class Handle: AppExchangeHandle, @unchecked Sendable {
            var received = 0
            var ended = false
            var responseWritable: [Bool] = []
            var cancelled = false
            func requestBody(_ chunk: ByteBuffer) { received += chunk.readableBytes }
            func requestEnd() { ended = true }
            func cancel() { cancelled = true }
            func responseWritabilityChanged(_ writable: Bool) { responseWritable.append(writable) }
        }
        var writer: AppResponseWriter?
        let handle = Handle()
        func open(_ request: AppRequest, writer: AppResponseWriter) -> AppExchangeHandle {
            self.writer = writer
            return handle
        }
    }

    @Test func requestBodyWaitsForTheAppWithinTheWindow() throws {
        let service = SteeredService()
        let connection = try Connection(configuration: FrontConfiguration { _ in .app(service, prefix: "/") })
        try connection.pump()  // SETTINGS both ways: the 256 KiB stream window applies
        let id = try connection.client.submitRequest(method: "POST", authority: "x", path: "/", hasBody: true)
        try connection.pump()
        service.writer?.requestBodyWritabilityChanged(false)  // the worker's socket is full
        connection.client.sendBody(streamID: id, ByteBuffer(repeating: 0x61, count: 600_000))
        connection.client.endBody(streamID: id)
        try connection.pump()
        #expect(service.handle.received == 0, "nothing reaches a paused app")
        #expect(connection.client.queuedBytes(streamID: id) >= 600_000 - 256 * 1024,
                "the client holds the rest: berth buffered no more than the stream window")
        service.writer?.requestBodyWritabilityChanged(true)
        try connection.pump()
        #expect(service.handle.received == 600_000)
        #expect(service.handle.ended)
    }

    @Test func aSlowClientPausesTheApp() throws {
        let service = SteeredService()
        let connection = try Connection(configuration: FrontConfiguration { _ in .app(service, prefix: "/") })
        let id = try connection.client.submitRequest(method: "GET", authority: "x", path: "/", hasBody: false)
        connection.consumes = false  // the client stops reading
        try connection.pump()
        let writer = try #require(service.writer)
        writer.responseHead(status: 200, reason: "OK", headers: [])
        for _ in 0..<40 { writer.responseBody(ByteBuffer(repeating: 0x62, count: 16384)) }
        try connection.pump()
        #expect(service.handle.responseWritable == [false], "the app is asked to pause")
        connection.consumes = true
        try connection.pump()
        #expect(service.handle.responseWritable == [false, true], "and to resume once the client reads")
        writer.responseEnd()
        try connection.pump()
        #expect(connection.response(id)?.body.utf8.count == 40 * 16384)
    }
}
