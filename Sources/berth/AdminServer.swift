import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The optional admin listener (`server.admin_listen`): `GET /metrics` in Prometheus text,
/// `GET /status` as JSON. Separate from the public listeners so it can stay private.
final class AdminServer: Sendable {
    typealias Page = @Sendable (String) async -> (status: HTTPResponseStatus, contentType: String, body: String)
    private let channel: Channel
    let address: String

    private init(channel: Channel, address: String) {
        self.channel = channel
        self.address = address
    }

    static func start(host: String?, port: Int, unixPath: String?, group: EventLoopGroup, page: @escaping Page) async throws -> AdminServer {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(page: page))
                }
            }
        let channel: Channel
        let address: String
        if let unixPath {
            channel = try await bootstrap.bind(unixDomainSocketPath: unixPath, cleanupExistingSocketFile: true).get()
            address = "unix:\(unixPath)"
        } else {
            channel = try await bootstrap.bind(host: host ?? "127.0.0.1", port: port).get()
            let local = channel.localAddress
            address = "http://\(local?.ipAddress ?? "?"):\(local?.port ?? 0)"
        }
        return AdminServer(channel: channel, address: address)
    }

    func stop() async {
        try? await channel.close()
    }
}

private final class AdminHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let page: AdminServer.Page
    private var head: HTTPRequestHead?

    init(page: @escaping AdminServer.Page) {
        self.page = page
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let channel = context.channel
            let page = self.page
            let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
            let allowed = head.method == .GET || head.method == .HEAD
            Task {
                let (status, type, body) = allowed ? await page(path) : (.methodNotAllowed, "text/plain", "GET only\n")
                var headers = HTTPHeaders([("Content-Type", type), ("Content-Length", "\(body.utf8.count)")])
                if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
                let response = HTTPResponseHead(version: head.version, status: status, headers: headers)
                channel.write(HTTPServerResponsePart.head(response), promise: nil)
                if head.method != .HEAD {
                    channel.write(HTTPServerResponsePart.body(.byteBuffer(channel.allocator.buffer(string: body))), promise: nil)
                }
                let done = channel.eventLoop.makePromise(of: Void.self)
                channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: done)
                if !head.isKeepAlive { done.futureResult.whenComplete { _ in channel.close(promise: nil) } }
            }
        }
    }
}
