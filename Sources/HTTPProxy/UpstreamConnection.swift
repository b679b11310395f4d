import AppExchange
import NIOCore
import NIOHTTP1

/// One HTTP/1.1 connection to an upstream server, and the handler at the end of its
/// pipeline. It carries one exchange at a time; between exchanges it waits in its loop's
/// pool, where any byte or close from the upstream retires it. Confined to its loop.
final class UpstreamConnection: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let channel: Channel
    let server: Int
    /// Whether it served an exchange before (a reused connection the upstream may have
    /// closed meanwhile: the first request on it may be retried).
    var reused = false
    /// The exchange using it; nil while idle.
    var exchange: ProxyExchange?
    /// Called once when the connection closes (the pool forgets it).
    var onClose: (() -> Void)?
    /// While idle in the pool: closes it after the upstream's keepalive_timeout.
    var idleTimer: Scheduled<Void>?
    /// https, until connected: completes when the TLS handshake has succeeded.
    var handshake: EventLoopFuture<Void>?

    init(channel: Channel, server: Int) {
        self.channel = channel
        self.server = server
    }

    var isActive: Bool { channel.isActive }

    func write(_ part: HTTPClientRequestPart, flush: Bool) {
        if flush {
            channel.writeAndFlush(part, promise: nil)
        } else {
            channel.write(part, promise: nil)
        }
    }

    func setReading(_ on: Bool) {
        channel.setOption(ChannelOptions.autoRead, value: on).whenSuccess { [channel] in
            if on { channel.read() }
        }
    }

    func close() {
        channel.close(promise: nil)
    }

    /// After a `101 Switching Protocols`: the HTTP handlers (and this one) leave the
    /// pipeline and `tunnel` takes their place. The decoder leaves on the next loop tick and
    /// hands the tunnel the bytes that followed the 101 (`leftOverBytesStrategy: .forwardBytes`).
    func becomeTunnel(_ tunnel: TunnelHandler) throws {
        exchange = nil
        onClose = nil
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(tunnel)
        sync.removeHandler(self, promise: nil)
        if let validator = try? sync.handler(type: NIOHTTPRequestHeadersValidator.self) {
            sync.removeHandler(validator, promise: nil)
        }
        sync.removeHandler(try sync.handler(type: HTTPRequestEncoder.self), promise: nil)
        sync.removeHandler(try sync.handler(type: ByteToMessageHandler<HTTPResponseDecoder>.self), promise: nil)
    }

    // MARK: - ChannelInboundHandler

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        guard let exchange else {
            // An idle connection has nothing to say: whatever this is, it is not ours.
            context.close(promise: nil)
            return
        }
        exchange.upstreamRead(part, from: self)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let exchange = self.exchange
        self.exchange = nil
        onClose?()
        onClose = nil
        exchange?.upstreamClosed(self, error: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        let exchange = self.exchange
        self.exchange = nil
        exchange?.upstreamClosed(self, error: error)
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        exchange?.upstreamWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }
}
