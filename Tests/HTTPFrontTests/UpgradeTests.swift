import AppExchange
import Foundation
import NIOCore
import Testing

@testable import HTTPFront

/// The far end of a tunnel, in memory: records what the front's end sends it.
final class RecordingTunnelEnd: AppTunnelEnd, @unchecked Sendable {
    var peer: AppTunnelEnd?
    var received = ""
    var flushes = 0
    var outputClosed = false
    var closed = false
    var reading: [Bool] = []

    func join(_ peer: AppTunnelEnd) { self.peer = peer }
    func write(_ bytes: ByteBuffer) { received += String(buffer: bytes) }
    func flush() { flushes += 1 }
    func closeOutput() { outputClosed = true }
    func close() { closed = true }
    func setReading(_ on: Bool) { reading.append(on) }
}

/// A service that switches protocols when the front offers it, else answers 200.
final class UpgradingService: AppService, @unchecked Sendable {
    let far = RecordingTunnelEnd()
    var offered: [String]?

    final class Handle: AppExchangeHandle, @unchecked Sendable {
        func requestBody(_ chunk: ByteBuffer) {}
        func requestEnd() {}
        func cancel() {}
        func responseWritabilityChanged(_ writable: Bool) {}
    }

    func open(_ request: AppRequest, writer: AppResponseWriter) -> AppExchangeHandle {
        offered = (writer as? AppUpgradeWriter)?.upgradeProtocols
        if let upgrader = writer as? AppUpgradeWriter {
            upgrader.responseUpgraded(headers: [("Connection", "upgrade"), ("Upgrade", "websocket"), ("X-Up", "1")], tunnel: far)
        } else {
            writer.responseHead(status: 200, reason: "OK", headers: [("Content-Length", "2")])
            writer.responseBody(ByteBuffer(string: "no"))
            writer.responseEnd()
        }
        return Handle()
    }
}

@Suite("HTTP/1.1 Upgrade pass-through, in memory")
struct UpgradeTests {
    let service = UpgradingService()

    func harness() throws -> FrontHarness {
        let service = self.service
        return try FrontHarness(configuration: FrontConfiguration(route: { _ in .app(service, prefix: "/") }))
    }

    @Test func switchesToATunnelBothWays() throws {
        let front = try harness()
        try front.send("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket, h2c\r\n\r\n")
        // This service answers inside `open`: the switch waits for the request's end, at
        // the end of the tick; then the decoder leaves on the next.
        front.channel.embeddedEventLoop.run()
        let head = try front.output()
        #expect(service.offered == ["websocket"])
        #expect(statusLine(head) == "HTTP/1.1 101 Switching Protocols")
        #expect(head.contains("Upgrade: websocket") && head.contains("X-Up: 1"))
        #expect(!head.lowercased().contains("content-length") && !head.lowercased().contains("transfer-encoding"))
        front.channel.embeddedEventLoop.run()

        // Client → far end: raw bytes, not parsed as HTTP.
        try front.send("GET /not-http HTTP/1.1\r\n\r\n\u{1}\u{2}")
        front.channel.embeddedEventLoop.run()
        #expect(service.far.received == "GET /not-http HTTP/1.1\r\n\r\n\u{1}\u{2}")
        #expect(service.far.flushes >= 1)

        // Far end → client.
        let near = try #require(service.far.peer)
        near.write(ByteBuffer(string: "from upstream"))
        near.flush()
        #expect(try front.output() == "from upstream")

        // The client half-closes: the far end's output is shut; the other way still flows.
        front.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(service.far.outputClosed)
        near.write(ByteBuffer(string: "more"))
        near.flush()
        #expect(try front.output() == "more")
        #expect(front.isActive)
        // The far end is done too: the client's connection closes.
        near.closeOutput()
        front.channel.embeddedEventLoop.run()
        #expect(!front.isActive)
    }

    @Test func h2cAloneIsNotOfferedAndTheConnectionCloses() throws {
        let front = try harness()
        let out = try front.exchange(
            "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
        #expect(service.offered == nil)
        #expect(statusLine(out) == "HTTP/1.1 200 OK")
        #expect(out.contains("Connection: close"))
    }

    @Test func farEndClosingClosesTheClient() throws {
        let front = try harness()
        _ = try front.exchange("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
        front.channel.embeddedEventLoop.run()
        let near = try #require(service.far.peer)
        near.close()
        front.channel.embeddedEventLoop.run()
        #expect(!front.isActive)
        #expect(service.far.closed)
    }
}
