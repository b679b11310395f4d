import HTTP2
import NIOCore

/// Tells HTTP/1.1 from HTTP/2 with prior knowledge (h2c, RFC 9113 §3.3) by a cleartext
/// connection's first bytes, installs the matching handlers behind itself, hands them the
/// bytes read so far and steps aside.
///
/// Bytes that begin like the 24-byte client preface keep the decision open; the first byte
/// that differs decides HTTP/1.1 — unless "PRI " already matched, which only an HTTP/2
/// client sends: that connection gets GOAWAY PROTOCOL_ERROR.
final class ProtocolSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    enum Decision: Equatable {
        case undecided, http1, http2, badPreface
    }

    let configuration: FrontConfiguration
    let settings: HTTP2Settings
    /// The connection's descriptor, for an HTTP/1 handler's direct output.
    let socket: Int32?
    private var buffered: ByteBuffer?
    private var timeout: Scheduled<Void>?
    private var sawBytes = false

    init(configuration: FrontConfiguration, settings: HTTP2Settings, socket: Int32? = nil) {
        self.configuration = configuration
        self.settings = settings
        self.socket = socket
    }

    static func decide(_ bytes: ByteBufferView) -> Decision {
        for (index, byte) in zip(preface.indices, bytes) where byte != preface[index] {
            return index >= 4 ? .badPreface : .http1
        }
        return bytes.count >= preface.count ? .http2 : .undecided
    }

    func channelActive(context: ChannelHandlerContext) {
        // The handlers that will serve the connection see it become active once installed.
        // Until then, a client that sends nothing is closed like an idle keep-alive one.
        let seconds = configuration.keepAliveTimeout > 0 ? configuration.keepAliveTimeout : max(configuration.headerTimeout, 1)
        timeout = context.eventLoop.scheduleTask(in: .fromSeconds(seconds)) {
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A graceful stop before the client said anything: nothing to finish.
        if event is ChannelShouldQuiesceEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var chunk = unwrapInboundIn(data)
        if buffered == nil {
            buffered = chunk
        } else {
            buffered!.writeBuffer(&chunk)
        }
        let decision = Self.decide(buffered!.readableBytesView)
        guard decision != .undecided else {
            // Part of a preface: from here on, the header timeout applies.
            if !sawBytes && configuration.headerTimeout > 0 {
                sawBytes = true
                timeout?.cancel()
                timeout = context.eventLoop.scheduleTask(in: .fromSeconds(configuration.headerTimeout)) {
                    context.close(promise: nil)
                }
            }
            return
        }
        timeout?.cancel()
        do {
            switch decision {
            case .http1:
                try HTTPServer.configurePipeline(context.channel, configuration: configuration, socket: socket)
            case .http2:
                try HTTPServer.configureHTTP2Pipeline(context.channel, configuration: configuration, settings: settings, scheme: "http")
            case .badPreface, .undecided:
                refuse(context)
                return
            }
        } catch {
            context.close(promise: nil)
            return
        }
        context.fireChannelActive()
        let bytes = buffered!
        buffered = nil
        context.fireChannelRead(wrapInboundOut(bytes))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// An HTTP/2 client whose preface is wrong: GOAWAY PROTOCOL_ERROR (RFC 9113 §3.4), made
    /// by an nghttp2 session like every other frame berth sends.
    private func refuse(_ context: ChannelHandlerContext) {
        guard let session = try? HTTP2Session(role: .server, settings: settings) else {
            context.close(promise: nil)
            return
        }
        session.terminate(.protocolError)
        guard let frames = try? session.output() else {
            context.close(promise: nil)
            return
        }
        context.writeAndFlush(wrapOutboundOut(frames)).whenComplete { _ in context.close(promise: nil) }
    }
}
