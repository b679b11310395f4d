import NIOCore

/// One end of a tunnel as the last handler of its connection, once the HTTP handlers are
/// gone: what the connection reads goes to the peer, what the peer reads is written here.
///
/// - Backpressure: while this socket is full the peer stops reading its own, and the
///   other way round (`setReading`), so neither end buffers more than a socket's worth.
/// - Half-close: the connections allow remote half-closure, so a FIN from one side is
///   passed on as a shutdown of the other's output (`closeOutput`) and the opposite
///   direction keeps flowing; a connection closes once both of its directions are shut.
/// - `idleTimeout` (set on one end: it sees both directions): the tunnel closes when no
///   byte has passed either way for that long.
/// Confined to the connection's event loop, which the peer shares.
public final class TunnelHandler: ChannelInboundHandler, RemovableChannelHandler, AppTunnelEnd, @unchecked Sendable {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Bytes read from this end's connection, and written to it.
    public private(set) var bytesRead: Int64 = 0
    public private(set) var bytesWritten: Int64 = 0
    /// Called once, when this end's connection has closed; `idle` tells whether the idle
    /// timeout closed it.
    public var onClose: ((_ idle: Bool) -> Void)?

    private let idleTimeout: TimeAmount?
    private var context: ChannelHandlerContext?
    private var peer: AppTunnelEnd?
    /// Read before the peer joined (bytes that followed the 101 in the same packet).
    private var held: [ByteBuffer] = []
    private var inputClosed = false
    private var outputClosed = false
    private var timedOut = false
    /// Bytes were passed to the peer and not flushed yet.
    private var flushQueued = false
    private var lastActivity = NIODeadline.now()
    private var timer: Scheduled<Void>?

    public init(idleTimeout: TimeAmount? = nil) {
        self.idleTimeout = idleTimeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        _ = context.channel.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
        if peer == nil { _ = context.channel.setOption(ChannelOptions.autoRead, value: false) }
        armTimer()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        self.context = nil
    }

    // MARK: - This end's connection

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        bytesRead += Int64(bytes.readableBytes)
        lastActivity = .now()
        guard let peer else { return held.append(bytes) }
        peer.write(bytes)
        // Bytes handed over by the HTTP handler (`receiveEarlier`: what it had read past
        // the request) come without a channelReadComplete: flush them at the end of this tick.
        if !flushQueued {
            flushQueued = true
            context.eventLoop.execute { [self] in
                if flushQueued { flushPeer() }
            }
        }
    }

    /// Bytes the connection read before this end was added (what followed the request that
    /// switched protocols, held by the HTTP handler): passed on as if just read.
    public func receiveEarlier(_ bytes: ByteBuffer) {
        guard let context, bytes.readableBytes > 0 else { return }
        channelRead(context: context, data: NIOAny(bytes))
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        flushPeer()
    }

    private func flushPeer() {
        flushQueued = false
        peer?.flush()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            inputClosed = true
            peer?.closeOutput()
            if outputClosed { context.close(promise: nil) }
            return
        }
        // Not forwarded: what is left of the HTTP handlers behind this one has no say
        // (a graceful stop's quiesce event, say — a tunnel ends when its sides end it).
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        peer?.setReading(context.channel.isWritable)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        let peer = self.peer
        self.peer = nil
        held = []
        peer?.close()
        onClose?(timedOut)
        onClose = nil
        // The handlers behind (the front's connection handler) stop their timers.
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    // MARK: - AppTunnelEnd (called by the peer)

    public func join(_ peer: AppTunnelEnd) {
        guard context != nil else {
            peer.close()
            return
        }
        self.peer = peer
        if !held.isEmpty {
            held.forEach(peer.write)
            held = []
            peer.flush()
        }
        if inputClosed { peer.closeOutput() }
        setReading(true)
    }

    public func write(_ bytes: ByteBuffer) {
        guard let context, !outputClosed else { return }
        bytesWritten += Int64(bytes.readableBytes)
        lastActivity = .now()
        context.write(wrapOutboundOut(bytes), promise: nil)
    }

    public func flush() {
        context?.flush()
    }

    public func closeOutput() {
        guard let context, !outputClosed else { return }
        outputClosed = true
        // Written in order: the empty write completes once everything before it is out.
        // (Through the channel: this handler is last, or followed by inbound-only ones.)
        let channel = context.channel
        channel.writeAndFlush(ByteBuffer()).whenComplete { [self] _ in
            channel.close(mode: .output).whenComplete { result in
                if case .failure = result {
                    channel.close(promise: nil)
                } else if self.inputClosed {
                    channel.close(promise: nil)
                }
            }
        }
    }

    public func close() {
        context?.close(promise: nil)
    }

    public func setReading(_ on: Bool) {
        guard let context, !inputClosed || !on else { return }
        let channel = context.channel
        channel.setOption(ChannelOptions.autoRead, value: on).whenSuccess {
            if on { channel.read() }
        }
    }

    // MARK: - Idle timeout

    private func armTimer() {
        guard let idleTimeout, let context else { return }
        let due = lastActivity + idleTimeout
        timer = context.eventLoop.scheduleTask(deadline: due) { [self] in
            guard let context = self.context else { return }
            if NIODeadline.now() >= lastActivity + idleTimeout {
                timedOut = true
                context.close(promise: nil)
            } else {
                armTimer()
            }
        }
    }
}
