@testable import HTTP2
import NIOCore
import Testing

/// The session glue against a real peer: a second nghttp2 session in the client role.
@Suite struct HTTP2SessionTests {
    /// A client and a server session wired back to back.
    final class Pair {
        let server: HTTP2Session
        let client: HTTP2Session
        var serverEvents: [HTTP2Event] = []
        var clientEvents: [HTTP2Event] = []
        /// Everything the server sent, for inspecting frames.
        var serverBytes: [UInt8] = []

        init(settings: HTTP2Settings = HTTP2Settings(), clientSettings: HTTP2Settings = HTTP2Settings()) throws {
            server = try HTTP2Session(role: .server, settings: settings)
            client = try HTTP2Session(role: .client, settings: clientSettings)
        }

        /// Moves bytes both ways until neither side has anything to send.
        func exchange(rounds: Int = 50) throws {
            for _ in 0..<rounds {
                var moved = false
                if let out = try client.output() {
                    moved = true
                    try server.receive(out)
                }
                serverEvents += server.takeEvents()
                if let out = try server.output() {
                    moved = true
                    serverBytes += out.bytes
                    try client.receive(out)
                }
                clientEvents += client.takeEvents()
                serverEvents += server.takeEvents()
                if !moved { return }
            }
        }
    }

    @Test func requestWithBodyAndTrailersThenResponse() throws {
        let pair = try Pair()
        let id = try pair.client.submitRequest(
            method: "POST", authority: "example.test", path: "/upload?x=1",
            headers: [("content-type", "text/plain"), ("cookie", "a=1"), ("cookie", "b=2")], hasBody: true)
        pair.client.sendBody(streamID: id, ByteBuffer(string: "hello "))
        pair.client.sendBody(streamID: id, ByteBuffer(string: "world"))
        pair.client.endBody(streamID: id, trailers: [("x-checksum", "abc")])
        try pair.exchange()

        var head: HTTP2RequestHead?
        var body = ""
        var trailers: [(name: String, value: String)]?
        for event in pair.serverEvents {
            switch event {
            case .request(let stream, let h, let endStream):
                #expect(stream == id)
                #expect(!(endStream))
                head = h
            case .data(let stream, let chunk):
                body += String(buffer: chunk)
                pair.server.consume(streamID: stream, count: chunk.readableBytes)
            case .end(_, let t):
                trailers = t
            default:
                break
            }
        }
        #expect(head?.method == "POST")
        #expect(head?.scheme == "http")
        #expect(head?.authority == "example.test")
        #expect(head?.path == "/upload?x=1")
        #expect(head?.first("content-type") == "text/plain")
        #expect(head?.first("cookie") == "a=1; b=2", "cookies are joined for HTTP/1-style apps")
        #expect(body == "hello world")
        #expect(trailers?.first?.name == "x-checksum")
        #expect(trailers?.first?.value == "abc")

        try pair.server.submitResponse(streamID: id, status: 201, headers: [("Content-Type", "text/plain")], hasBody: true)
        pair.server.sendBody(streamID: id, ByteBuffer(string: "created"))
        pair.server.endBody(streamID: id, trailers: [("grpc-status", "0")])
        try pair.exchange()
        var status = 0
        var responseBody = ""
        var responseTrailers: [(name: String, value: String)] = []
        var closed = false
        for event in pair.clientEvents {
            switch event {
            case .response(_, let s, let headers, _):
                status = s
                #expect(headers.first?.name == "content-type", "names go out lowercase")
            case .data(let stream, let chunk):
                responseBody += String(buffer: chunk)
                pair.client.consume(streamID: stream, count: chunk.readableBytes)
            case .end(_, let t): responseTrailers = t
            case .closed(let stream, let code):
                #expect(stream == id)
                #expect(code == .noError)
                closed = true
            default: break
            }
        }
        #expect(status == 201)
        #expect(responseBody == "created")
        #expect(responseTrailers.first?.value == "0")
        #expect(closed)
    }

    /// Unconsumed request bytes hold the client to the stream window; consuming reopens it.
    @Test func receivedBodyIsFlowControlledByConsume() throws {
        var settings = HTTP2Settings()
        settings.initialWindowSize = 16384
        let pair = try Pair(settings: settings)
        try pair.exchange()  // before the server's SETTINGS, RFC 9113's 65535 applies
        let id = try pair.client.submitRequest(method: "POST", authority: "x", path: "/", hasBody: true)
        pair.client.sendBody(streamID: id, ByteBuffer(repeating: 0x61, count: 100_000))
        try pair.exchange()
        func received() -> [ByteBuffer] {
            defer { pair.serverEvents.removeAll() }
            return pair.serverEvents.compactMap { if case .data(_, let chunk) = $0 { chunk } else { nil } }
        }
        let first = received().reduce(0) { $0 + $1.readableBytes }
        #expect(first == 16384, "the client may send one window, no more, until berth consumes")
        pair.server.consume(streamID: id, count: 16384)
        try pair.exchange()
        let second = received().reduce(0) { $0 + $1.readableBytes }
        #expect(second > 0, "consuming reopens the window")
        #expect(second <= 16384)
    }

    /// A client that does not read stalls the data provider; the queue reports full and the
    /// server sends no more than the client's window.
    @Test func slowReaderStallsTheDataProvider() throws {
        var clientSettings = HTTP2Settings()
        clientSettings.initialWindowSize = 65535
        clientSettings.connectionWindowSize = 65535
        var settings = HTTP2Settings()
        settings.streamSendBuffer = 64 * 1024
        let pair = try Pair(settings: settings, clientSettings: clientSettings)
        let id = try pair.client.submitRequest(method: "GET", authority: "x", path: "/big", hasBody: false)
        try pair.exchange()
        try pair.server.submitResponse(streamID: id, status: 200, headers: [], hasBody: true)
        func fill() -> Int {
            var accepted = 0
            while pair.server.sendBody(streamID: id, ByteBuffer(repeating: 0x62, count: 16384)) {
                accepted += 1
                #expect(accepted < 100, "the queue must report full")
            }
            return accepted
        }
        func delivered() -> Int {
            pair.clientEvents.reduce(0) { total, event in
                if case .data(_, let chunk) = event { return total + chunk.readableBytes }
                return total
            }
        }
        func writableEvents() -> Int {
            defer { pair.serverEvents.removeAll() }
            return pair.serverEvents.filter { if case .writable(id) = $0 { true } else { false } }.count
        }
        _ = fill()
        try pair.exchange()
        #expect(delivered() == 65535, "exactly the client's window went out")
        #expect(writableEvents() == 1, "what went out left the queue: the producer may refill it")
        _ = fill()
        try pair.exchange()
        #expect(delivered() == 65535, "the window is shut: nothing more goes out")
        #expect(writableEvents() == 0, "and the full queue stays full")
        #expect(pair.server.queuedBytes(streamID: id) >= settings.streamSendBuffer)
        pair.client.consume(streamID: id, count: 65535)
        try pair.exchange()
        #expect(delivered() > 65535, "the client read: more flows")
        #expect(writableEvents() == 1, "and the producer may resume")
    }

    @Test func rapidResetEndsTheConnectionWithEnhanceYourCalm() throws {
        var settings = HTTP2Settings()
        settings.maxResets = 50
        let server = try HTTP2Session(role: .server, settings: settings)
        var bytes = RawFrames.opening
        var stream: UInt32 = 1
        for _ in 0..<60 {
            bytes += RawFrames.get(stream: stream) + RawFrames.rst(stream: stream)
            stream += 2
        }
        try server.receive(ByteBuffer(bytes: bytes))
        let requests = server.takeEvents().filter { if case .request = $0 { true } else { false } }
        #expect(requests.count <= 51, "no new work past the limit")
        let frames = try framesOut(server)
        let goaway = try #require(frames.first { $0.type == RawFrames.Kind.goaway.rawValue })
        #expect(goaway.errorCode == 0xb, "ENHANCE_YOUR_CALM")
        #expect(!(server.wantsRead))
    }

    @Test func resetsBelowTheLimitAreFine() throws {
        let server = try HTTP2Session(role: .server)
        var bytes = RawFrames.opening
        for stream in stride(from: UInt32(1), to: 100, by: 2) {
            bytes += RawFrames.get(stream: stream) + RawFrames.rst(stream: stream)
        }
        try server.receive(ByteBuffer(bytes: bytes))
        let frames = try framesOut(server)
        #expect(!(frames.contains { $0.type == RawFrames.Kind.goaway.rawValue }))
        #expect(server.wantsRead)
    }

    @Test func malformedPseudoHeadersResetTheStreamWithProtocolError() throws {
        let cases: [[(String, String)]] = [
            [(":method", "GET"), (":scheme", "http"), (":authority", "x")],  // no :path
            [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":path", "/again")],  // twice
            [(":method", "GET"), ("accept", "*/*"), (":scheme", "http"), (":path", "/")],  // after a regular field
            [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":bogus", "1")],  // unknown
            [(":method", "GET"), (":scheme", "http"), (":path", "/"), ("connection", "keep-alive")],  // connection-specific
            [(":method", "GET"), (":scheme", "http"), (":path", "/"), ("Upper", "case")],  // uppercase name
        ]
        for fields in cases {
            let server = try HTTP2Session(role: .server)
            try server.receive(ByteBuffer(bytes: RawFrames.opening + RawFrames.headers(stream: 1, fields)))
            #expect(!(server.takeEvents().contains { if case .request = $0 { true } else { false } }), "\(fields)")
            let frames = try framesOut(server)
            let rst = frames.first { $0.type == RawFrames.Kind.rstStream.rawValue }
            #expect(rst?.stream == 1, "\(fields)")
            #expect(rst?.errorCode == 0x1, "PROTOCOL_ERROR for \(fields)")
            #expect(server.wantsRead, "a stream error leaves the connection usable")
        }
    }

    @Test func headerListPastTheLimitIsReportedNotStored() throws {
        var settings = HTTP2Settings()
        settings.maxHeaderListSize = 4096
        let server = try HTTP2Session(role: .server, settings: settings)
        var fields = [(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", "/")]
        for i in 0..<60 { fields.append(("x-filler-\(i)", String(repeating: "v", count: 100))) }
        try server.receive(ByteBuffer(bytes: RawFrames.opening + RawFrames.headers(stream: 1, fields)))
        let events = server.takeEvents()
        #expect(events.contains { if case .headersTooLarge(1) = $0 { true } else { false } })
        #expect(!(events.contains { if case .request = $0 { true } else { false } }))
    }

    @Test func continuationFloodEndsTheConnection() throws {
        let server = try HTTP2Session(role: .server)
        var bytes = RawFrames.opening
        let block = RawFrames.hpack([(":method", "GET"), (":scheme", "http"), (":path", "/")])
        bytes += RawFrames.frame(.headers, stream: 1, block)
        for _ in 0..<100 { bytes += RawFrames.frame(.continuation, stream: 1, RawFrames.hpack([("x", "y")])) }
        do {
            try server.receive(ByteBuffer(bytes: bytes))
        } catch {
            return  // nghttp2 gave up on the connection: fine, as long as nothing crashed
        }
        let frames = RawFrames.parse((try server.output())?.bytes ?? []) ?? []
        #expect(frames.contains { $0.type == RawFrames.Kind.goaway.rawValue } || !server.wantsRead)
    }

    @Test func pingIsAcknowledged() throws {
        let server = try HTTP2Session(role: .server)
        let opaque: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        try server.receive(ByteBuffer(bytes: RawFrames.opening + RawFrames.frame(.ping, opaque)))
        #expect(server.takeEvents().contains { if case .ping = $0 { true } else { false } })
        let frames = try framesOut(server)
        let ack = try #require(frames.first { $0.type == RawFrames.Kind.ping.rawValue })
        #expect(ack.flags & RawFrames.ack == RawFrames.ack)
        #expect(ack.payload == opaque)
    }

    @Test func badClientMagicFails() throws {
        let server = try HTTP2Session(role: .server)
        #expect(throws: HTTP2Session.Failure.self) {
            try server.receive(ByteBuffer(string: "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"))
        }
    }

    @Test func firstFrameOtherThanSettingsIsAConnectionError() throws {
        let server = try HTTP2Session(role: .server)
        try? server.receive(ByteBuffer(bytes: RawFrames.preface + RawFrames.get(stream: 1)))
        let frames = RawFrames.parse((try server.output())?.bytes ?? []) ?? []
        #expect(frames.first { $0.type == RawFrames.Kind.goaway.rawValue }?.errorCode == 0x1)
    }

    @Test func gracefulGoAwayLetsOpenStreamsFinish() throws {
        let pair = try Pair()
        let id = try pair.client.submitRequest(method: "GET", authority: "x", path: "/", hasBody: false)
        try pair.exchange()
        pair.server.goAway()
        try pair.exchange()
        #expect(pair.clientEvents.contains { if case .goaway(let last, .noError) = $0 { last == id } else { false } })
        #expect(pair.server.wantsRead, "the open stream still counts")
        try pair.server.submitResponse(streamID: id, status: 204, headers: [], hasBody: false)
        try pair.exchange()
        #expect(!(pair.server.wantsRead))
        #expect(!(pair.server.wantsWrite))
    }

    @Test func refusedAndResetStreamsLeaveNothingBehind() throws {
        var settings = HTTP2Settings()
        settings.maxConcurrentStreams = 2
        let server = try HTTP2Session(role: .server, settings: settings)
        var bytes = RawFrames.opening
        let head = RawFrames.hpack([(":method", "POST"), (":scheme", "http"), (":authority", "x"), (":path", "/")])
        for stream in stride(from: UInt32(1), to: 400, by: 2) {
            // Requests with a body that never ends: only two may be open at a time.
            bytes += RawFrames.frame(.headers, flags: RawFrames.endHeaders, stream: stream, head)
            bytes += RawFrames.frame(.data, stream: stream, Array(repeating: 0x61, count: 100))
        }
        try server.receive(ByteBuffer(bytes: bytes))
        var open = Set<Int32>()
        for event in server.takeEvents() {
            if case .request(let id, _, _) = event { open.insert(id) }
            if case .closed(let id, _) = event { open.remove(id) }
        }
        #expect(open.count <= 2)
        _ = try server.output()
        #expect(server.trackedStreams <= 2 * 2, "only the open streams' records remain")
        for id in open { server.resetStream(streamID: id, .cancel) }
        _ = try server.output()
        _ = server.takeEvents()
        #expect(server.trackedStreams == 0)
    }

    @Test func refusesStreamsPastTheConcurrencyLimit() throws {
        var settings = HTTP2Settings()
        settings.maxConcurrentStreams = 2
        let pair = try Pair(settings: settings)
        try pair.exchange()  // the client learns the limit
        var ids: [Int32] = []
        for _ in 0..<4 { ids.append(try pair.client.submitRequest(method: "GET", authority: "x", path: "/", hasBody: false)) }
        try pair.exchange()
        let opened = pair.serverEvents.filter { if case .request = $0 { true } else { false } }
        #expect(opened.count == 2, "nghttp2's client holds the rest back; the server never sees more than 2")
    }
}
