import AppExchange
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

@testable import HTTPProxy

/// A small upstream for the proxy tests, on a real socket:
/// `/headers` answers the request's header block as text; `/close` answers with
/// `Connection: close`; `/silent` never answers; `/echo` streams the body back;
/// `/drop-once` closes a connection that served a request before without answering (once);
/// anything else answers "ok <path>".
final class TestUpstream: @unchecked Sendable {
    let channel: Channel
    let connections = NIOLockedValueBox(0)
    let requests = NIOLockedValueBox<[HTTPRequestHead]>([])
    static let dropped = NIOLockedValueBox(false)

    init(group: EventLoopGroup) throws {
        let connections = self.connections
        let requests = self.requests
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                connections.withLockedValue { $0 += 1 }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Responder(requests: requests))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    var port: Int { channel.localAddress!.port! }

    final class Responder: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let requests: NIOLockedValueBox<[HTTPRequestHead]>
        var head: HTTPRequestHead?
        var served = 0
        init(requests: NIOLockedValueBox<[HTTPRequestHead]>) { self.requests = requests }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                requests.withLockedValue { $0.append(head) }
                if head.uri == "/echo" {
                    var headers = HTTPHeaders()
                    if let length = head.headers.first(name: "content-length") { headers.add(name: "Content-Length", value: length) }
                    context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                }
            case .body(let chunk):
                if head?.uri == "/echo" { context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(chunk))), promise: nil) }
            case .end:
                guard let head else { return }
                served += 1
                switch head.uri {
                case "/drop-once" where served > 1:
                    let drop = TestUpstream.dropped.withLockedValue { dropped in
                        defer { dropped = true }
                        return !dropped
                    }
                    if drop {
                        context.close(promise: nil)
                        return
                    }
                    respond(context, body: "ok \(head.uri)")
                case "/silent":
                    return
                case "/echo":
                    context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                case "/headers":
                    respond(context, body: head.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n"))
                case "/close":
                    respond(context, body: "bye", extra: [("Connection", "close")])
                default:
                    respond(context, body: "ok \(head.uri)", extra: [("Keep-Alive", "timeout=5"), ("X-Upstream", "1")])
                }
            }
        }

        private func respond(_ context: ChannelHandlerContext, body: String, extra: [(String, String)] = []) {
            var headers = HTTPHeaders([("Content-Length", String(body.utf8.count))])
            for (name, value) in extra { headers.add(name: name, value: value) }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            let close = extra.contains { $0.0 == "Connection" }
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if close { context.close(promise: nil) }
            }
        }
    }
}

/// A TCP upstream that accepts connections and never reads from them.
final class DeafUpstream: @unchecked Sendable {
    let channel: Channel

    init(group: EventLoopGroup) throws {
        channel = try ServerBootstrap(group: group)
            .childChannelOption(.autoRead, value: false)
            .childChannelOption(.socketOption(.so_rcvbuf), value: 4096)
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    var port: Int { channel.localAddress!.port! }
}

/// A raw TCP upstream that answers every connection with `reply` and closes.
final class RawUpstream: @unchecked Sendable {
    let channel: Channel

    init(group: EventLoopGroup, reply: String) throws {
        channel = try ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Replier(reply: reply))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    var port: Int { channel.localAddress!.port! }

    final class Replier: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let reply: String
        init(reply: String) { self.reply = reply }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: reply))).whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }
}

/// Collects what the proxy hands the front.
final class CollectingWriter: AppResponseWriter, @unchecked Sendable {
    struct Result {
        var status = 0
        var headers: [(name: String, value: String)] = []
        var body = ""
        var failure: AppFailure?
    }

    private let state = NIOLockedValueBox(Result())
    let done: EventLoopPromise<Result>

    init(loop: EventLoop) {
        done = loop.makePromise()
    }

    func responseHead(status: Int, reason: String, headers: [(name: String, value: String)]) {
        state.withLockedValue {
            $0.status = status
            $0.headers = headers
        }
    }

    func responseBody(_ chunk: ByteBuffer) { state.withLockedValue { $0.body += String(buffer: chunk) } }
    func responseFile(_ file: ResponseFile) { file.close() }  // the proxy never sends files
    func responseEnd() { done.succeed(state.withLockedValue { $0 }) }
    func responseFailed(_ failure: AppFailure, responseStarted: Bool) {
        done.succeed(state.withLockedValue {
            $0.failure = failure
            return $0
        })
    }
    func requestBodyWritabilityChanged(_ writable: Bool) {}
}

func appRequest(_ method: String = "GET", _ path: String, headers: [(String, String)] = [("Host", "front.example")], hasBody: Bool = false) -> AppRequest {
    AppRequest(
        method: method, path: path, query: "", version: "HTTP/1.1", headers: headers.map { (name: $0.0, value: $0.1) },
        remoteAddress: "192.0.2.7", remotePort: 5555, serverName: "front.example", serverPort: 80, scheme: "https",
        hasBody: hasBody, requestID: "t1")
}
