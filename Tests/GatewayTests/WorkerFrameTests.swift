import AppExchange
import NIOCore
import NIOEmbedded
import Testing

@testable import Gateway

@Suite("Worker protocol framing and environ")
struct WorkerFrameTests {
    @Test func decodesFramesSplitAnywhere() throws {
        var stream = ByteBuffer()
        WorkerFrame(kind: .responseStart, payload: ByteBuffer(string: "200 OK\0A\0b\0")).write(to: &stream)
        WorkerFrame(kind: .responseBody, payload: ByteBuffer(string: "hello")).write(to: &stream)
        WorkerFrame(kind: .responseEnd).write(to: &stream)
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(WorkerFrameDecoder()))
        // One byte at a time: the decoder must wait for whole frames.
        for byte in stream.readableBytesView {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        let frames = try (0..<3).map { _ in try #require(try channel.readInbound(as: WorkerFrame.self)) }
        #expect(frames.map(\.kind) == [.responseStart, .responseBody, .responseEnd])
        #expect(PairBlock.strings(in: frames[0].payload) == ["200 OK", "A", "b"])
        #expect(String(buffer: frames[1].payload) == "hello")
        #expect(try channel.readInbound(as: WorkerFrame.self) == nil)
    }

    @Test func framesCarryTheirLane() throws {
        var stream = ByteBuffer()
        WorkerFrame(kind: .responseEnd, lane: 3).write(to: &stream)
        WorkerFrame.writeHeader(.skipped, lane: 258, length: 0, to: &stream)
        #expect(stream.getInteger(at: 6, as: UInt16.self) == 3)
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(WorkerFrameDecoder()))
        try channel.writeInbound(stream)
        let frames = try (0..<2).map { _ in try #require(try channel.readInbound(as: WorkerFrame.self)) }
        #expect(frames.map(\.lane) == [3, 258])
        #expect(frames.map(\.kind) == [.responseEnd, .skipped])
    }

    @Test func rejectsUnknownTypesAndHugeFrames() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(WorkerFrameDecoder()))
        var bad = ByteBuffer()
        bad.writeMultipleIntegers(UInt32(0), UInt8(0x7f), UInt8(0), UInt16(0))
        #expect(throws: WorkerProtocolError.self) { try channel.writeInbound(bad) }

        let channel2 = EmbeddedChannel(handler: ByteToMessageHandler(WorkerFrameDecoder()))
        var huge = ByteBuffer()
        huge.writeMultipleIntegers(UInt32(WorkerFrame.maxPayload + 1), WorkerFrame.Kind.responseBody.rawValue, UInt8(0), UInt16(0))
        #expect(throws: WorkerProtocolError.self) { try channel2.writeInbound(huge) }
    }

    @Test func latin1PairBlocks() {
        let block = ByteBuffer(bytes: Array("K\0".utf8) + [0xE9, 0xFF, 0] as [UInt8])
        #expect(PairBlock.strings(in: block) == ["K", "\u{E9}\u{FF}"])
    }

    @Test func environFromARequest() throws {
        let request = AppRequest(
            method: "POST", path: "/caf%C3%A9/x%2Fy", query: "a=1&b=%20", version: "HTTP/1.1",
            headers: [
                ("Host", "example.org:8000"), ("Content-Type", "text/plain"), ("Content-Length", "3"),
                ("Accept", "a"), ("accept", "b"), ("Cookie", "x=1"), ("Cookie", "y=2"), ("X-Foo_Bar", "spoof"),
            ],
            remoteAddress: "10.0.0.1", remotePort: 5555, serverName: "example.org", serverPort: 8000,
            scheme: "http", hasBody: true, requestID: "r1")
        var buffer = ByteBuffer()
        Environ.writeRequestFrame(request, to: &buffer)
        let header = buffer.readMultipleIntegers(as: (UInt32, UInt8, UInt8, UInt16).self)
        let (length, type, flags, _) = try #require(header)
        #expect(type == WorkerFrame.Kind.request.rawValue)
        #expect(flags == WorkerFrame.hasBody)
        #expect(Int(length) == buffer.readableBytes)
        let strings = PairBlock.strings(in: buffer)
        var environ: [String: String] = [:]
        for index in stride(from: 0, to: strings.count, by: 2) { environ[strings[index]] = strings[index + 1] }
        // PATH_INFO: decoded bytes, as latin-1 (PEP 3333): é is two UTF-8 bytes.
        #expect(environ["PATH_INFO"] == "/caf\u{C3}\u{A9}/x/y")
        #expect(environ["QUERY_STRING"] == "a=1&b=%20")
        #expect(environ["CONTENT_TYPE"] == "text/plain")
        #expect(environ["CONTENT_LENGTH"] == "3")
        #expect(environ["HTTP_ACCEPT"] == "a, b")
        #expect(environ["HTTP_COOKIE"] == "x=1; y=2")
        #expect(environ["HTTP_X_FOO_BAR"] == nil)
        #expect(environ["HTTP_CONTENT_TYPE"] == nil)
        #expect(environ["SERVER_PORT"] == "8000")
        #expect(environ["REMOTE_ADDR"] == "10.0.0.1")
        #expect(environ["wsgi.url_scheme"] == "http")
        #expect(environ["SCRIPT_NAME"] == "")
    }

    @Test func responseHeadInOnePass() throws {
        let block = ByteBuffer(bytes: Array("404 Not Found\0Content-Type\0text/plain\0X-E\0".utf8) + [0xE9, 0] as [UInt8])
        let head = try #require(PairBlock.responseHead(in: block))
        #expect(head.status == 404)
        #expect(head.reason == "Not Found")
        #expect(head.headers.map(\.name) == ["Content-Type", "X-E"])
        #expect(head.headers.map(\.value) == ["text/plain", "\u{E9}"])
        #expect(PairBlock.responseHead(in: ByteBuffer(string: "200\0"))?.reason == "")
        #expect(PairBlock.responseHead(in: ByteBuffer(string: "204 \0"))?.status == 204)
        for bad in ["", "20\0", "2x0 OK\0", "200 OK\0A\0", "200 OK"] {
            #expect(PairBlock.responseHead(in: ByteBuffer(string: bad)) == nil, "\(bad)")
        }
    }

    /// The direct path (no repeated field) writes what the joining path writes.
    @Test func environHeadersDirectAndJoinedAgree() {
        let sets: [[(name: String, value: String)]] = [
            [], [("Host", "h")], [("content-TYPE", "t"), ("Content-Length", "1"), ("X-A-b", "v")],
            [("Accept", "a"), ("accept", "b")], [("X_Y", "drop"), ("X-Y", "keep")],
            [("Cookie", "a=1"), ("COOKIE", "b=2")], [("A", "1"), ("B", "2"), ("a", "3")],
            (0..<40).map { (name: "X-H\($0)", value: "\($0)") },
        ]
        for headers in sets {
            let request = AppRequest(
                method: "GET", path: "/", query: "", version: "HTTP/1.1", headers: headers,
                remoteAddress: "::1", remotePort: 1, serverName: "s", serverPort: 2, scheme: "http",
                hasBody: false, requestID: "r")
            var buffer = ByteBuffer()
            Environ.writeRequestFrame(request, to: &buffer)
            buffer.moveReaderIndex(forwardBy: WorkerFrame.headerSize)
            let strings = PairBlock.strings(in: buffer)
            let written = stride(from: 22, to: strings.count, by: 2).map { "\(strings[$0])=\(strings[$0 + 1])" }
            let expected = Environ.headerKeys(headers).map { "\($0.0)=\($0.1)" }
            #expect(written == expected, "\(headers)")
        }
        #expect(!Environ.hasRepeatedField([("A-B", "1"), ("A_B", "2"), ("a-c", "3")]))
        #expect(Environ.hasRepeatedField([("A-B", "1"), ("a-b", "2")]))
    }
}
