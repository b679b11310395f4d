import AppExchange
import NIOCore
import NIOHTTP1
import Synchronization

/// Serves one HTTP/1.1 connection: parses its requests (`HTTP1RequestParser`), validates and
/// routes each, and writes the response from a static file, an app, or an error as bytes
/// (`HTTP1ResponseHead`). Requests are served one at a time, in order: a pipelined request
/// waits, unparsed, in `input` until the one before it has been answered. Confined to the
/// channel's loop.
final class HTTPConnectionHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = IOData

    let configuration: FrontConfiguration
    let activity: ConnectionActivity
    let scheme: String
    private(set) var context: ChannelHandlerContext?
    var current: ActiveRequest?
    /// A static request's object, answered, for the connection's next one (`reusableRequest`).
    var spareRequest: ActiveRequest?
    /// Bytes read and not parsed yet: the rest of a request, or requests pipelined behind it.
    var input: ByteBuffer?
    var parser: HTTP1RequestParser
    /// Inside `processInput` (a response finished there must not start it again).
    private var parsing = false
    /// After a request that could not be parsed, or once the connection closed: nothing more
    /// is parsed.
    private var inputClosed = false
    /// Reading is off because too many pipelined bytes wait behind the current request.
    private var pipelinePaused = false
    /// A graceful stop asked this connection to close after the request in progress.
    var quiescing = false
    /// Once set (`passThrough(to:)`), bytes read go here untouched instead of to the parser.
    private var rawSink: ((ByteBuffer) -> Void)?
    /// Output bytes not yet handed to the channel (`HTTPConnectionHandler+Output`).
    var output: ByteBuffer
    var outputHandedOver = false
    /// App body chunks over `smallBody`, kept by reference in their places in the output.
    var outputBodies = OutputBodies()
    /// How the response being written frames its body.
    var framing = HTTP1ResponseHead.Framing(chunked: false, hasBody: true)
    /// After an early response: the rest of the request body is read and dropped, then
    /// the connection closes (a lingering close, so the client sees the response).
    var discardingBody = false
    var discardedBytes: Int64 = 0
    /// Reading is off because the app cannot take the request body as fast as it comes.
    var readingPaused = false
    /// Whether TCP_CORK can be set on this connection (false once it failed: a unix socket).
    var corkable = true
    /// The connection's addresses, formatted once it first needs them (`peers(_:)`).
    private var peersCache: ConnectionPeers?
    /// Inside a read burst (channelRead … channelReadComplete): responses finished now are
    /// flushed together at its end — one writev for a batch of pipelined requests.
    var inReadBurst = false
    var flushPending = false
    /// TCP_CORK is on until the next flush (see `uncork`).
    var corked = false
    /// The connection's socket when berth accepted it itself: output goes straight to it
    /// while NIO has nothing queued (`+Output`, "direct output"). Nil over TLS, in tests in
    /// memory, and once the connection is passed through.
    var socket: Int32?
    /// Writes handed to NIO (direct output on) that have not completed yet.
    var queuedWrites = 0
    /// Requests begun on this connection (for `maxRequestsPerConnection`).
    private var requestCount = 0
    private var timer: RepeatedTask?
    private static let requestCounter = Atomic<UInt64>(0)
    private static let idPrefix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    /// Pipelined bytes buffered behind an unfinished response before reading pauses.
    static let maxPipelinedBytes = 64 * 1024
    /// The head logged for a request that never got one.
    static let placeholderHead = HTTP1RequestHead(version: .http1_1, method: .GET, uri: "-")

    init(configuration: FrontConfiguration, activity: ConnectionActivity, scheme: String, socket: Int32? = nil) {
        self.configuration = configuration
        self.activity = activity
        self.scheme = scheme
        self.socket = socket
        parser = HTTP1RequestParser(maxHeaderSize: configuration.maxHeaderSize)
        output = ByteBufferAllocator().buffer(capacity: 0)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        output = context.channel.allocator.buffer(capacity: 2048)
        // Added after a TLS handshake: the channel went active before this handler was here.
        if context.channel.isActive { startTimer(context) }
    }

    /// The pipeline is torn down (the connection closed) or this handler taken out: the
    /// context holds the handler, so keeping the context here would keep both, with the
    /// buffers and the last request, for good — about 3 KB per connection ever served.
    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        startTimer(context)
        context.fireChannelActive()
    }

    private func startTimer(_ context: ChannelHandlerContext) {
        guard timer == nil else { return }
        activity.enterIdle()
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [self] _ in
            checkTimeouts()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        inputClosed = true
        input = nil
        if let request = current, case .app(let exchange) = request.kind, !request.responseComplete {
            exchange.cancel()
            if request.status == 0 { request.status = 499 }
            log(request)
        }
        current = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        activity.noteBytes()
        var bytes = unwrapInboundIn(data)
        if let rawSink {
            rawSink(bytes)
            return
        }
        guard !inputClosed else { return }
        inReadBurst = true
        if input == nil || input!.readableBytes == 0 {
            input = bytes
        } else {
            input!.writeBuffer(&bytes)
        }
        processInput(context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inReadBurst = false
        if flushPending {
            flushPending = false
            flushOutput(context)
            uncork(context)
        }
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if let request = current, case .app(let exchange) = request.kind, request.responseStarted {
            exchange.responseWritabilityChanged(context.channel.isWritable)
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            return context.fireUserInboundEventTriggered(event)
        }
        // A graceful stop: close now if between requests, else after the current response.
        quiescing = true
        if let request = current {
            if !request.responseStarted { request.keepAlive = false }
        } else {
            context.close(promise: nil)
        }
    }

    /// Hands the connection's bytes over to `sink` from now on (a protocol switch such as
    /// an Upgrade): returns the bytes already read past the current request, which the
    /// sink should take first. Output is then written with `writeRaw`.
    func passThrough(to sink: @escaping (ByteBuffer) -> Void) -> ByteBuffer? {
        rawSink = sink
        // Other handlers write to the channel from now on: every byte goes through NIO.
        socket = nil
        inputClosed = true
        defer { input = nil }
        return input?.readableBytes == 0 ? nil : input
    }

    /// Parses and serves what `input` holds, as far as the current request allows: its
    /// body goes on, but the next request's head waits until this one has been answered.
    func processInput(_ context: ChannelHandlerContext) {
        guard !parsing else { return }
        parsing = true
        defer { parsing = false }
        while !inputClosed {
            if current != nil && parser.expectsHead { break }
            // An empty buffer still yields the end of a request whose body is complete.
            var buffer = input ?? ByteBuffer()
            input = nil
            let event: HTTP1RequestParser.Event?
            do throws(HTTP1ParseError) {
                event = try parser.next(&buffer)
            } catch {
                input = buffer
                requestUnparsable(error, context: context)
                break
            }
            input = buffer.readableBytes == 0 ? nil : buffer
            guard let event else { break }
            switch event {
            case .head(let head, let framing, let facts):
                discardingBody = false
                requestHead(head, framing: framing, facts: facts, context: context)
            case .body(let chunk):
                requestBody(chunk, context: context)
            case .end:
                requestEnd(context: context)
            }
        }
        // Bounded buffering of pipelined requests: past the bound, stop reading until the
        // responses ahead of them are out.
        let waiting = input?.readableBytes ?? 0
        if !pipelinePaused && waiting > Self.maxPipelinedBytes {
            pipelinePaused = true
            _ = context.channel.setOption(ChannelOptions.autoRead, value: false)
        } else if pipelinePaused && waiting <= Self.maxPipelinedBytes {
            pipelinePaused = false
            if !readingPaused {
                context.channel.setOption(ChannelOptions.autoRead, value: true).whenSuccess { context.read() }
            }
        }
    }

    /// A request that cannot be parsed: answer if nothing is being answered yet, then close —
    /// the stream's framing can no longer be trusted (RFC 9112 §2.2).
    private func requestUnparsable(_ error: HTTP1ParseError, context: ChannelHandlerContext) {
        inputClosed = true
        input = nil
        if let request = current, request.responseStarted {
            request.keepAlive = false
            context.close(promise: nil)
            return
        }
        answerAndClose(error.status, head: current?.head ?? Self.placeholderHead, context: context)
    }

    /// Gives up on the current request (if any): answers `status` and closes the connection
    /// once the answer is out — nothing more of the request will be read.
    private func answerAndClose(_ status: Int, head: HTTP1RequestHead, context: ChannelHandlerContext) {
        inputClosed = true
        if let request = current, case .app(let exchange) = request.kind { exchange.cancel() }
        let request = ActiveRequest(
            head: head, requestID: nextRequestID(), kind: .deferred(.error(status: status, headers: [])),
            hasBody: false, keepAlive: false)
        request.requestComplete = true
        current = request
        sendError(request, status: status, context: context)
    }

    func nextRequestID() -> RequestID { Self.nextID() }

    /// A request id unique in this process (HTTP/2 streams draw from the same counter).
    static func nextID() -> RequestID {
        RequestID(prefix: idPrefix, number: requestCounter.wrappingAdd(1, ordering: .relaxed).newValue)
    }

    // MARK: - Request

    private func requestHead(
        _ head: HTTP1RequestHead, framing: HTTP1RequestParser.Framing, facts: RequestFacts, context: ChannelHandlerContext
    ) {
        activity.enterRequest()
        var contentLength: Int64?
        if case .length(let length) = framing { contentLength = length }
        let hasBody = framing != .none
        let id = nextRequestID()
        requestCount += 1
        // A keep-alive timeout of 0 turns keep-alive off; the connection's last allowed
        // request (nginx's keepalive_requests) closes it.
        // [upgrade] A request asking to upgrade ends the HTTP/1.1 stream (+Upgrade.swift).
        let keepAlive = facts.isKeepAlive(head.version) && configuration.keepAliveTimeout != 0
            && (configuration.maxRequestsPerConnection == 0 || requestCount < configuration.maxRequestsPerConnection)
            && !facts.asksToUpgrade
        func reject(_ status: Int, headers: [(String, String)] = []) {
            let request = ActiveRequest(
                head: head, requestID: id, kind: .deferred(.error(status: status, headers: headers)),
                hasBody: hasBody, keepAlive: false)
            current = request
            // Answer at once; the body (if any) is read and dropped before closing.
            sendError(request, status: status, context: context)
        }

        // RFC 9112 §3.2: exactly one Host in HTTP/1.1.
        let hosts = facts.hostCount
        if head.version == .http1_1 && hosts != 1 || hosts > 1 { return reject(400) }
        if let length = contentLength, configuration.maxBodySize > 0, length > configuration.maxBodySize {
            return reject(413)
        }
        if facts.expect == .other { return reject(417) }
        let target: RequestTarget
        do {
            target = try RequestTarget(head.uri)
        } catch {
            return reject(400)
        }

        if let port = configuration.redirectToHTTPSPort {
            return redirectToHTTPS(head, port: port, id: id, hasBody: hasBody, keepAlive: keepAlive, context: context)
        }
        let routing = configuration.routeRequest.map { $0(head.fields.first(name: "host"), target.normalizedPath) }
            ?? configuration.route(target.normalizedPath).map { Routing(target: $0) }
        switch routing?.target {
        case .none:
            current = ActiveRequest(
                head: head, requestID: id, kind: .deferred(.error(status: 404, headers: [])), hasBody: hasBody,
                keepAlive: keepAlive)
        case .staticFiles(let site, let prefix)?:
            startStatic(
                head, facts: facts, target: target, site: site, prefix: prefix, id: id, hasBody: hasBody,
                keepAlive: keepAlive, responseHeaders: routing?.responseHeaders ?? [], context: context)
        case .app(let service, _)?:
            openExchange(
                head, facts: facts, target: target, service: service, id: id, hasBody: hasBody, keepAlive: keepAlive,
                responseHeaders: routing?.responseHeaders ?? [], context: context)
        }
    }

    func openExchange(
        _ head: HTTP1RequestHead, facts: RequestFacts, target: RequestTarget, service: AppService, id: RequestID, hasBody: Bool,
        keepAlive: Bool, responseHeaders: [(String, String)], context: ChannelHandlerContext
    ) {
        let peers = peers(context)
        let hostHeader = head.fields.first(name: "host") ?? ""
        let serverName = hostHeader.isEmpty ? peers.localIP ?? "localhost" : FrontFields.hostName(hostHeader)
        let appRequest = AppRequest(
            method: head.method.rawValue, path: String(target.rawPath), query: String(target.query),
            version: head.version == .http1_1 ? "HTTP/1.1" : "HTTP/\(head.version.major).\(head.version.minor)",
            headers: head.fields.pairs,
            remoteAddress: peers.remoteIP ?? "127.0.0.1", remotePort: peers.remotePort,
            serverName: serverName, serverPort: peers.localPort, scheme: scheme,
            hasBody: hasBody, requestID: id.text)
        // The kind is a placeholder until the service hands back the exchange just below.
        // The request may outlive this read (a slow app, a tunnel): its fields get storage of
        // their own instead of keeping the read buffer.
        var ownHead = head
        ownHead.fields = head.fields.detached()
        let request = ActiveRequest(
            head: ownHead, requestID: id, kind: .deferred(.error(status: 500, headers: [])), hasBody: hasBody,
            keepAlive: keepAlive)
        request.responseHeaders = responseHeaders
        current = request
        let bridge = AppResponseBridge(loop: context.eventLoop, handler: self, request: request)
        // [upgrade] A writer that can switch to a tunnel when the request asks (+Upgrade.swift).
        let writer = upgradeWriter(bridge, head: head, facts: facts, hasBody: hasBody, request: request, loop: context.eventLoop)
        request.kind = .app(service.open(appRequest, writer: writer))
        if hasBody, facts.expect == .continue100 {
            writeOutput { HTTP1ResponseHead.writeContinue(into: &$0, version: head.version) }
            flushOutput(context)
        }
    }

    /// The connection's addresses, formatted on first use.
    func peers(_ context: ChannelHandlerContext) -> ConnectionPeers {
        if let peersCache { return peersCache }
        let peers = ConnectionPeers(context.channel)
        peersCache = peers
        return peers
    }

    private func requestBody(_ chunk: ByteBuffer, context: ChannelHandlerContext) {
        activity.noteBody()
        if discardingBody {
            discardedBytes += Int64(chunk.readableBytes)
            if discardedBytes > 1 << 20 { context.close(promise: nil) }
            return
        }
        guard let request = current else { return }
        request.bodyBytes += Int64(chunk.readableBytes)
        if configuration.maxBodySize > 0 && request.bodyBytes > configuration.maxBodySize {
            // A chunked body that grew past the limit.
            if case .app(let exchange) = request.kind { exchange.cancel() }
            request.keepAlive = false
            if request.responseStarted {
                context.close(promise: nil)
            } else {
                request.kind = .deferred(.error(status: 413, headers: []))
                sendError(request, status: 413, context: context)
            }
            return
        }
        if case .app(let exchange) = request.kind, !request.responseComplete {
            exchange.requestBody(chunk)
        }
    }

    private func requestEnd(context: ChannelHandlerContext) {
        activity.enterWaiting()
        if discardingBody {
            discardingBody = false
            context.close(promise: nil)
            return
        }
        guard let request = current else { return }
        request.requestComplete = true
        if request.responseComplete {
            // The response went out before the (empty) request finished arriving.
            if request.keepAlive && !quiescing {
                current = nil
                activity.enterIdle()
            } else {
                context.close(promise: nil)
            }
            return
        }
        switch request.kind {
        case .app(let exchange):
            if request.hasBody && !request.responseComplete { exchange.requestEnd() }
        case .deferred(.staticAnswer(let answer)):
            sendStatic(request, answer, context: context)
        case .deferred(.error(let status, _)):
            if !request.responseStarted { sendError(request, status: status, context: context) }
        }
    }

    // MARK: - Timeouts

    private func checkTimeouts() {
        guard let context else { return }
        switch activity.expired(configuration) {
        case .none:
            break
        case .idle, .lingerOver:
            context.close(promise: nil)
        case .slowRequest:
            if let request = current, request.responseStarted {
                context.close(promise: nil)
            } else {
                // A head that never completed, or a body too slow.
                answerAndClose(408, head: current?.head ?? Self.placeholderHead, context: context)
            }
        }
    }
}
