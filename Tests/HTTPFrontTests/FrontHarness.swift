import AppExchange
import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1

@testable import HTTPFront

/// An in-memory connection: raw bytes in, raw bytes out, through the real pipeline.
final class FrontHarness {
    let channel = EmbeddedChannel()

    init(configuration: FrontConfiguration) throws {
        try HTTPServer.configurePipeline(channel, configuration: configuration)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1234)).wait()
    }

    /// Sends `text` and returns everything written back so far.
    func exchange(_ text: String) throws -> String {
        try send(text)
        return try output()
    }

    func send(_ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    func output() throws -> String {
        var out = ""
        while let data = try channel.readOutbound(as: IOData.self) {
            switch data {
            case .byteBuffer(let buffer): out += String(buffer: buffer)
            case .fileRegion(let region):
                // The front closes the file once the write completes, which an embedded
                // channel does at once: note the region's size instead of its bytes.
                out += "<file \(region.readableBytes) bytes>"
            }
        }
        return out
    }

    var isActive: Bool { channel.isActive }
}

/// An app service answering in memory: echoes the method, path and body it received.
final class EchoService: AppService, @unchecked Sendable {
    final class Handle: AppExchangeHandle, @unchecked Sendable {
        let request: AppRequest
        let writer: AppResponseWriter
        var body = ""
        init(request: AppRequest, writer: AppResponseWriter) {
            self.request = request
            self.writer = writer
        }
        func requestBody(_ chunk: ByteBuffer) { body += String(buffer: chunk) }
        func requestEnd() { answer() }
        func cancel() {}
        func responseWritabilityChanged(_ writable: Bool) {}
        func answer() {
            let text = "\(request.method) \(request.path)?\(request.query) [\(body)]"
            writer.responseHead(status: 200, reason: "OK", headers: [("Content-Type", "text/plain"), ("Connection", "close-me")])
            writer.responseBody(ByteBuffer(string: text))
            writer.responseEnd()
        }
    }

    var lastRequest: AppRequest?

    func open(_ request: AppRequest, writer: AppResponseWriter) -> AppExchangeHandle {
        lastRequest = request
        let handle = Handle(request: request, writer: writer)
        if !request.hasBody { handle.answer() }
        return handle
    }
}

func statusLine(_ response: String) -> String {
    String(response.split(separator: "\r\n", maxSplits: 1).first ?? "")
}
