import AppExchange
import Foundation
import NIOCore
import NIOEmbedded
import Testing

@testable import HTTPFront

#if canImport(Glibc)
import Glibc
#endif

/// Bytes as a buffer whose content shows its place: byte i of `bytes(count, seed)` differs
/// from its neighbours, so a piece out of order or a byte lost shows in a comparison.
private func bytes(_ count: Int, seed: UInt8) -> ByteBuffer {
    ByteBuffer(bytes: (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) })
}

private func concatenated(_ pieces: [ByteBuffer]) -> [UInt8] {
    pieces.flatMap { Array($0.readableBytesView) }
}

@Suite("Output bodies kept by reference")
struct OutputBodiesTests {
    /// buffer "head", body A (5 bytes), buffer "mid", body B (3 bytes), buffer "tail".
    private func sample() -> (ByteBuffer, OutputBodies, [UInt8]) {
        var buffer = ByteBuffer(string: "xxhead")
        buffer.moveReaderIndex(forwardBy: 2)  // a buffer already partly sent
        var bodies = OutputBodies()
        let first = bytes(5, seed: 100)
        bodies.append(first, at: buffer.writerIndex)
        buffer.writeString("mid")
        let second = bytes(3, seed: 200)
        bodies.append(second, at: buffer.writerIndex)
        buffer.writeString("tail")
        let expected = Array("head".utf8) + Array(first.readableBytesView) + Array("mid".utf8)
            + Array(second.readableBytesView) + Array("tail".utf8)
        return (buffer, bodies, expected)
    }

    @Test func piecesComeInOrder() {
        let (buffer, bodies, expected) = sample()
        let pieces = bodies.pieces(of: buffer)
        #expect(pieces.map(\.readableBytes) == [4, 5, 3, 3, 4])
        #expect(concatenated(pieces) == expected)
    }

    @Test func ioVectorsCoverThePiecesInOrder() {
        let (buffer, bodies, expected) = sample()
        var seen: [UInt8] = []
        let count = bodies.withIOVectors(of: buffer) { vectors in
            for vector in vectors {
                seen += UnsafeRawBufferPointer(start: vector.iov_base, count: vector.iov_len)
            }
            return vectors.count
        }
        #expect(count == 5)
        #expect(seen == expected)
    }

    @Test func bodiesAtTheEdgesMakeNoEmptyPieces() {
        var buffer = ByteBuffer()
        var bodies = OutputBodies()
        bodies.append(bytes(6, seed: 1), at: 0)
        bodies.append(bytes(4, seed: 2), at: 0)
        let pieces = bodies.pieces(of: buffer)
        #expect(pieces.map(\.readableBytes) == [6, 4])
        #expect(bodies.withIOVectors(of: buffer) { $0.count } == 2)
        buffer.writeString("0\r\n\r\n")
        #expect(bodies.pieces(of: buffer).map(\.readableBytes) == [6, 4, 5])
    }

    /// What the socket took at every possible count: the rest is exactly the output's tail.
    @Test func consumingAnyCountLeavesTheRest() {
        let (_, _, expected) = sample()
        for sent in 0...expected.count {
            var (buffer, bodies, _) = sample()
            bodies.consume(sent, of: &buffer)
            let rest = concatenated(bodies.pieces(of: buffer))
            #expect(rest == Array(expected[sent...]), "after \(sent) bytes")
            // And the iovecs say the same, for the next sendmsg.
            var seen: [UInt8] = []
            _ = bodies.withIOVectors(of: buffer) { vectors in
                for vector in vectors { seen += UnsafeRawBufferPointer(start: vector.iov_base, count: vector.iov_len) }
                return 0
            }
            #expect(seen == rest, "after \(sent) bytes")
        }
    }

    @Test func consumingEverythingLetsTheBodiesGo() {
        let (_, _, expected) = sample()
        var (buffer, bodies, _) = sample()
        bodies.consume(expected.count, of: &buffer)
        #expect(bodies.isEmpty)
        #expect(buffer.readableBytes == 0)
    }
}

/// An app that answers each path with a planned body: its chunks, with or without a
/// Content-Length (then the front frames it chunked).
private final class PlannedBodyService: AppService, @unchecked Sendable {
    final class Handle: AppExchangeHandle, @unchecked Sendable {
        func requestBody(_ chunk: ByteBuffer) {}
        func requestEnd() {}
        func cancel() {}
        func responseWritabilityChanged(_ writable: Bool) {}
    }

    let plans: [String: (chunks: [Int], length: Bool)]

    init(_ plans: [String: (chunks: [Int], length: Bool)]) {
        self.plans = plans
    }

    static func chunks(_ sizes: [Int]) -> [ByteBuffer] {
        sizes.enumerated().map { bytes($0.element, seed: UInt8(truncatingIfNeeded: $0.offset * 31)) }
    }

    /// The body as the client must see it, framing included.
    func expectedBody(_ path: String) -> [UInt8] {
        let plan = plans[path]!
        let chunks = Self.chunks(plan.chunks)
        if plan.length { return concatenated(chunks) }
        var out: [UInt8] = []
        for chunk in chunks {
            out += Array((String(chunk.readableBytes, radix: 16) + "\r\n").utf8) + Array(chunk.readableBytesView) + [13, 10]
        }
        return out + Array("0\r\n\r\n".utf8)
    }

    func open(_ request: AppRequest, writer: AppResponseWriter) -> AppExchangeHandle {
        let plan = plans[request.path]!
        var headers: [(name: String, value: String)] = [("Content-Type", "application/octet-stream")]
        if plan.length { headers.append(("Content-Length", String(plan.chunks.reduce(0, +)))) }
        writer.responseHead(status: 200, reason: "OK", headers: headers)
        for chunk in Self.chunks(plan.chunks) { writer.responseBody(chunk) }
        writer.responseEnd()
        return Handle()
    }
}

/// App bodies through the whole HTTP/1 handler: in memory (NIO's writes), and with a real
/// socket for direct output whose small send buffer makes the kernel take part of a
/// response, the rest going to NIO.
@Suite("App bodies over 4 KiB, NIO and direct output")
struct AppBodyOutputTests {
    static let plans: [String: (chunks: [Int], length: Bool)] = [
        "/one": ([16384], true),
        "/mixed": ([5000, 100, 70000, 4097, 20, 4096], true),
        "/mixed-chunked": ([5000, 100, 70000, 4097, 20, 4096], false),
        // More chunks than one sendmsg gathers (OutputBodies.limit).
        "/many": (Array(repeating: 5000, count: 45) + [10], false),
        "/many-length": (Array(repeating: 4100, count: 40), true),
    ]
    private let service = PlannedBodyService(AppBodyOutputTests.plans)

    private func connection(socket: Int32?) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let service = self.service
        try HTTPServer.configurePipeline(
            channel, configuration: FrontConfiguration(route: { _ in .app(service, prefix: "/") }), socket: socket)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1234)).wait()
        return channel
    }

    private func outbound(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var out: [UInt8] = []
        while let data = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = data else {
                Issue.record("a file region in an app response")
                continue
            }
            out += buffer.readableBytesView
        }
        return out
    }

    /// Checks one response: its head's framing, then the body byte for byte.
    private func check(_ response: [UInt8], _ path: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let text = response.prefix(400)
        guard let end = text.indices.first(where: { text[$0...].starts(with: Array("\r\n\r\n".utf8)) }) else {
            Issue.record("no response head for \(path)", sourceLocation: sourceLocation)
            return
        }
        let head = String(decoding: response[..<end], as: UTF8.self)
        #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"), sourceLocation: sourceLocation)
        let plan = Self.plans[path]!
        if plan.length {
            #expect(head.contains("Content-Length: \(plan.chunks.reduce(0, +))"), sourceLocation: sourceLocation)
        } else {
            #expect(head.lowercased().contains("transfer-encoding: chunked"), sourceLocation: sourceLocation)
        }
        let body = Array(response[(end + 4)...])
        let expected = service.expectedBody(path)
        #expect(body.count == expected.count, "\(path)", sourceLocation: sourceLocation)
        #expect(body == expected, "\(path): bytes out of place", sourceLocation: sourceLocation)
    }

    @Test func inMemoryEveryPieceInOrder() throws {
        let channel = try connection(socket: nil)
        for path in Self.plans.keys.sorted() {
            try channel.writeInbound(ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: h\r\n\r\n"))
            check(try outbound(channel), path)
        }
        // Pipelined: every response in order.
        let paths = Self.plans.keys.sorted()
        try channel.writeInbound(ByteBuffer(string: paths.map { "GET \($0) HTTP/1.1\r\nHost: h\r\n\r\n" }.joined()))
        var all = try outbound(channel)[...]
        for path in paths {
            let response = Array(all)
            let headEnd = response.indices.first { response[$0...].starts(with: Array("\r\n\r\n".utf8)) }!
            let length = headEnd + 4 + service.expectedBody(path).count
            check(Array(response[..<length]), path)
            all = all.dropFirst(length)
        }
        #expect(all.isEmpty)
    }

    /// A socketpair stands for the client's socket. What the socket took comes first, then
    /// what went to NIO (the embedded channel's outbound): together, the whole response.
    @Test(arguments: [4096, 1 << 20])
    func directOutputHandsTheRestToNIOInOrder(sendBuffer: Int) throws {
        var fds: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { for fd in fds { _ = close(fd) } }
        var size = Int32(sendBuffer)
        #expect(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size)) == 0)
        let channel = try connection(socket: fds[0])
        var handedOver = 0
        for path in Self.plans.keys.sorted() {
            try channel.writeInbound(ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: h\r\n\r\n"))
            let direct = receiveAll(fds[1])
            let queued = try outbound(channel)
            if !queued.isEmpty { handedOver += 1 }
            #expect(!direct.isEmpty, "\(path): nothing went directly")
            check(direct + queued, path)
        }
        if sendBuffer == 4096 {
            #expect(handedOver == Self.plans.count, "a small send buffer must hand every response over")
        } else {
            // Room for every response: all of each left directly, none through NIO.
            #expect(handedOver == 0)
        }
    }

    private func receiveAll(_ fd: Int32) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n <= 0 { return out }
            out += chunk[..<n]
        }
    }
}
