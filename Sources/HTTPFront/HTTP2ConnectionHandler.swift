import AppExchange
import HTTP2
import NIOCore

/// Serves one HTTP/2 connection: feeds the client's bytes to the nghttp2 session, routes
/// each stream's request like the HTTP/1 handler does (app, static files, errors), and
/// writes what the session produces — once per event-loop tick, in one buffer, and only
/// while the socket takes it. Confined to the channel's loop.
final class HTTP2ConnectionHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let configuration: FrontConfiguration
    let scheme: String
    let session: HTTP2Session
    private(set) var context: ChannelHandlerContext?
    var streams: [Int32: HTTP2Stream] = [:]
    /// The connection's addresses, formatted once it first needs them (`peers(_:)`).
    private var peersCache: ConnectionPeers?
    private var started = false
    private var outputScheduled = false
    private var closing = false
    /// GOAWAY sent for a graceful stop: in-flight streams finish, then the connection closes.
    private var draining = false
    private var idleSince = NIODeadline.now()
    private var timer: RepeatedTask?

    init(configuration: FrontConfiguration, settings: HTTP2Settings, scheme: String) throws {
        self.configuration = configuration
        self.scheme = scheme
        session = try HTTP2Session(role: .server, settings: settings)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Installed after TLS negotiated h2, the channel is already active.
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        idleSince = .now()
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [self] _ in
            checkIdle()
        }
        // The server's connection preface: its SETTINGS frame.
        writeOutput()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        closing = true
        for stream in streams.values { abandon(stream) }
        streams.removeAll()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        for stream in streams.values { abandon(stream) }
        streams.removeAll()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        do {
            try session.receive(unwrapInboundIn(data))
        } catch {
            // nghttp2 could not go on (bad client magic, a flood, memory): say why if it can.
            session.terminate(.protocolError)
            writeOutput()
            close()
            return
        }
        handleEvents()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        writeOutput()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { writeOutput() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            guard !draining else { return }
            draining = true
            session.goAway()
            writeOutput()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        close()
    }

    // MARK: - Output

    /// Writes what the session has, once for everything that happened in this tick.
    func scheduleOutput() {
        guard !outputScheduled, let context else { return }
        outputScheduled = true
        context.eventLoop.execute { [self] in
            outputScheduled = false
            writeOutput()
        }
    }

    /// Acts on pending events, then writes the session's frames while the socket takes
    /// them; closes the connection once the session has nothing more to read or write.
    func writeOutput() {
        guard let context, !closing else { return }
        var lastWrite: EventLoopFuture<Void>?
        while true {
            handleEvents()
            guard context.channel.isWritable else { break }
            let output: ByteBuffer?
            do {
                output = try session.output(maxBytes: 256 * 1024)
            } catch {
                close()
                return
            }
            guard let output else {
                if session.hasEvents { continue }
                break
            }
            lastWrite = context.write(wrapOutboundOut(output))
        }
        if lastWrite != nil { context.flush() }
        if !session.wantsRead && !session.wantsWrite {
            closing = true
            if let lastWrite {
                lastWrite.whenComplete { [self] _ in lingerAndClose() }
            } else {
                lingerAndClose()
            }
        }
    }

    /// Ends the connection once the session is done. Closing a socket that still holds
    /// unread bytes makes the kernel send RST, which can destroy the GOAWAY before the
    /// client reads it (a client in mid-flood always has bytes in flight): so shut the
    /// write side, drop what still arrives for a moment, then close.
    private func lingerAndClose() {
        guard let context else { return }
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: promise)
        promise.futureResult.whenComplete { result in
            if case .failure = result {
                context.close(promise: nil)
            } else {
                context.eventLoop.scheduleTask(in: .seconds(2)) { context.close(promise: nil) }
            }
        }
    }

    private func close() {
        guard let context, !closing else { return }
        closing = true
        context.close(promise: nil)
    }

    // MARK: - Events

    private func handleEvents() {
        while session.hasEvents {
            for event in session.takeEvents() { handle(event) }
        }
    }

    private func handle(_ event: HTTP2Event) {
        switch event {
        case .request(let id, let head, let endStream):
            startRequest(id, head: head, endStream: endStream)
        case .headersTooLarge(let id):
            let head = HTTP2RequestHead(method: "-", scheme: scheme, authority: "", path: "-", headers: [])
            let stream = HTTP2Stream(id: id, head: head, requestID: HTTPConnectionHandler.nextID().text, requestComplete: false)
            streams[id] = stream
            sendPage(stream, status: 431)
        case .data(let id, let chunk):
            requestBody(id, chunk)
        case .end(let id, _):
            // Request trailers have no place in WSGI: they are read and dropped.
            requestEnd(id)
        case .closed(let id, _):
            if let stream = streams.removeValue(forKey: id) { abandon(stream) }
            if streams.isEmpty { idleSince = .now() }
        case .writable(let id):
            guard let stream = streams[id] else { break }
            switch stream.kind {
            case .app(let exchange):
                if stream.responsePaused {
                    stream.responsePaused = false
                    exchange.responseWritabilityChanged(true)
                }
            case .staticBody:
                fillFromFile(stream)
            case .own:
                break
            }
        case .reset, .ping, .goaway, .response:
            break
        }
    }

    /// The stream closed (or the connection did) before its answer finished: stop its
    /// producer, and log what the client got (499 if nothing).
    private func abandon(_ stream: HTTP2Stream) {
        switch stream.kind {
        case .app(let exchange):
            if !stream.responseComplete { exchange.cancel() }
        case .staticBody, .own:
            break
        }
        stream.kind = .own
        if !stream.logged {
            if !stream.responseStarted { stream.status = 499 }
            log(stream)
        }
    }

    private func checkIdle() {
        guard !closing else { return }
        checkBodyTimeouts()
        guard streams.isEmpty, configuration.keepAliveTimeout >= 0 else { return }
        let idle = NIODeadline.now() - idleSince
        if idle > .fromSeconds(configuration.keepAliveTimeout + 5) {
            // GOAWAY did not end it: a header block left unfinished still counts as a stream
            // for nghttp2. Nothing of ours is open: close.
            close()
        } else if idle > .fromSeconds(configuration.keepAliveTimeout) && !draining {
            // RFC 9113 §9.1: a server closing an idle connection should send GOAWAY first.
            draining = true
            session.goAway()
            writeOutput()
        }
    }

    /// A request body that stopped arriving for `body_timeout` (the client holds a worker
    /// with a half-sent body): 408 if nothing was answered yet, else a reset.
    private func checkBodyTimeouts() {
        guard configuration.bodyTimeout > 0 else { return }
        let limit = NIODeadline.now() - .fromSeconds(configuration.bodyTimeout)
        var expired = false
        for stream in streams.values where !stream.requestComplete && stream.lastBodyAt < limit {
            guard case .app(let exchange) = stream.kind, !stream.responseComplete else { continue }
            exchange.cancel()
            stream.kind = .own
            if stream.responseStarted {
                stream.responseComplete = true
                session.resetStream(streamID: stream.id, .cancel)
                log(stream)
            } else {
                sendPage(stream, status: 408)
            }
            expired = true
        }
        if expired { writeOutput() }
    }

    // MARK: - Request bodies

    private func requestBody(_ id: Int32, _ chunk: ByteBuffer) {
        guard let stream = streams[id], case .app(let exchange) = stream.kind, !stream.responseComplete else {
            // Nobody wants this body (a static file, an error, an answered request): drop
            // it and reopen the window.
            session.consume(streamID: id, count: chunk.readableBytes)
            return
        }
        stream.bodyBytes += Int64(chunk.readableBytes)
        stream.lastBodyAt = .now()
        if configuration.maxBodySize > 0 && stream.bodyBytes > configuration.maxBodySize {
            exchange.cancel()
            stream.kind = .own
            if stream.responseStarted {
                session.resetStream(streamID: id, .cancel)
            } else {
                sendPage(stream, status: 413)
            }
            session.consume(streamID: id, count: chunk.readableBytes)
            return
        }
        if stream.bodyPaused {
            stream.heldBody.append(chunk)
        } else {
            exchange.requestBody(chunk)
            session.consume(streamID: id, count: chunk.readableBytes)
        }
    }

    private func requestEnd(_ id: Int32) {
        guard let stream = streams[id] else { return }
        stream.requestComplete = true
        if stream.heldBody.isEmpty, let exchange = stream.exchange, !stream.responseComplete {
            exchange.requestEnd()
        }
    }

    /// The app's backpressure on the request body: held chunks go on once it takes more.
    func appRequestBodyWritability(_ stream: HTTP2Stream, _ writable: Bool) {
        guard streams[stream.id] === stream else { return }
        stream.bodyPaused = !writable
        guard writable, let exchange = stream.exchange else { return }
        let held = stream.heldBody
        stream.heldBody = []
        for chunk in held {
            exchange.requestBody(chunk)
            session.consume(streamID: stream.id, count: chunk.readableBytes)
        }
        if !held.isEmpty && stream.requestComplete { exchange.requestEnd() }
    }
}

extension HTTP2ConnectionHandler {
    /// The connection's addresses, formatted on first use (not per stream).
    func peers(_ context: ChannelHandlerContext) -> ConnectionPeers {
        if let peersCache { return peersCache }
        let peers = ConnectionPeers(context.channel)
        peersCache = peers
        return peers
    }
}
