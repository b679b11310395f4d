import AppExchange
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// One request forwarded upstream and its response streamed back. Confined to the client
/// connection's event loop, which its upstream connection shares.
///
/// Backpressure runs both ways without buffering whole bodies: when the upstream socket is
/// full the front stops reading the client, and when the client socket is full the upstream
/// connection stops reading.
final class ProxyExchange: AppExchangeHandle, @unchecked Sendable {
    private let proxy: ReverseProxy
    private let pool: UpstreamPool
    private let request: AppRequest
    private let writer: AppResponseWriter
    private var configuration: ProxyConfiguration { proxy.configuration }

    // The request side.
    private var pending = CircularBuffer<ByteBuffer>()
    private var pendingBytes = 0
    private var clientEnded: Bool
    private var buffer: RequestBuffer?
    private var clientPaused = false
    /// Queued body bytes (before the upstream is connected) above which the client is paused.
    private static let pendingLimit = 256 * 1024

    // The upstream side.
    private var connection: UpstreamConnection?
    private var server = -1
    private var tried = Set<Int>()
    private var retriedStale = false
    private var lastConnectTimedOut = false
    private var requestSent = false
    private var responseStarted = false
    private var responseKeepAlive = true
    private var upstreamPaused = false
    /// The protocols the front can tunnel for this request (a WebSocket handshake, say);
    /// empty when it is not an upgrade.
    private let upgradeProtocols: [String]
    /// The upstream answered 101: the tunnel starts at the end of that head.
    private var switching: HTTPResponseHead?
    private var finished = false
    private var lastRead = NIODeadline.now()
    private var unwritableSince: NIODeadline?
    private var timer: Scheduled<Void>?

    init(proxy: ReverseProxy, pool: UpstreamPool, request: AppRequest, writer: AppResponseWriter) {
        self.proxy = proxy
        self.pool = pool
        self.request = request
        self.writer = writer
        clientEnded = !request.hasBody
        upgradeProtocols = (writer as? AppUpgradeWriter)?.upgradeProtocols ?? []
        if configuration.bufferRequest && request.hasBody {
            buffer = RequestBuffer(memoryLimit: configuration.bufferMemory, directory: configuration.temporaryDirectory)
        } else {
            start()
        }
    }

    private var isIdempotent: Bool {
        ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"].contains(request.method)
    }

    /// Whether the request can be sent again from the start.
    private var isReplayable: Bool { isIdempotent && (!request.hasBody || buffer != nil) }

    // MARK: - Choosing and connecting

    private func start() {
        guard let next = proxy.selector.next(excluding: tried) else {
            let status = lastConnectTimedOut ? "timed out" : "refused or failed"
            return fail(
                lastConnectTimedOut ? .timeout(seconds: configuration.connectTimeout) : .workerDied(reason: "no upstream server available (the last connection \(status))"),
                logging: tried.isEmpty ? "every upstream server is marked down" : nil)
        }
        server = next
        tried.insert(next)
        if let idle = pool.checkout(next) {
            attach(idle)
        } else {
            connect(next)
        }
    }

    private func connect(_ server: Int) {
        pool.connect(server).whenComplete { [self] result in
            switch result {
            case .success(let connection):
                guard !finished else {
                    pool.checkin(connection)
                    return
                }
                attach(connection)
            case .failure(let error):
                guard !finished else { return }
                proxy.selector.failed(server)
                if case ChannelError.connectTimeout = error {
                    lastConnectTimedOut = true
                } else {
                    lastConnectTimedOut = false
                }
                if let handshake = error as? UpstreamHandshakeError {
                    proxy.logger.error("proxy: TLS handshake with upstream \(configuration.servers[server]) failed: \(handshake)")
                } else {
                    proxy.logger.error("proxy: connect to upstream \(configuration.servers[server]) failed: \(Self.describe(error))")
                }
                start()
            }
        }
    }

    private func attach(_ connection: UpstreamConnection) {
        self.connection = connection
        connection.exchange = self
        let framing: ForwardedHeaders.Framing
        if let buffer {
            framing = .length(buffer.count)
        } else if let length = request.headers.first(where: { $0.name.lowercased() == "content-length" }).flatMap({ Int64($0.value) }) {
            framing = .length(length)
        } else {
            framing = request.hasBody ? .chunked : .none
        }
        let headers = ForwardedHeaders.request(
            request, host: configuration.host, fallbackHost: configuration.servers[server].hostHeader, framing: framing,
            upgrade: upgradeProtocols)
        let uri = request.query.isEmpty ? request.path : request.path + "?" + request.query
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method), uri: uri, headers: headers)
        connection.write(.head(head), flush: false)
        if let buffer {
            if let (body, handle) = buffer.body() {
                connection.channel.write(HTTPClientRequestPart.body(body)).whenComplete { _ in try? handle?.close() }
            }
        } else {
            while let chunk = pending.popFirst() {
                connection.write(.body(.byteBuffer(chunk)), flush: false)
            }
            pendingBytes = 0
        }
        if clientEnded {
            sendEnd()
        } else {
            connection.channel.flush()
            updateClientReading()
        }
    }

    private func sendEnd() {
        requestSent = true
        lastRead = .now()
        connection?.write(.end(nil), flush: true)
        armTimer()
    }

    // MARK: - AppExchangeHandle (the front, on this loop)

    func requestBody(_ chunk: ByteBuffer) {
        guard !finished else { return }
        if let buffer {
            do {
                try buffer.append(chunk)
            } catch {
                fail(.workerDied(reason: "cannot buffer the request body"), logging: "proxy: \(error)")
            }
            return
        }
        if let connection {
            connection.write(.body(.byteBuffer(chunk)), flush: true)
            updateClientReading()
        } else {
            pending.append(chunk)
            pendingBytes += chunk.readableBytes
            if pendingBytes > Self.pendingLimit { pauseClient(true) }
        }
    }

    func requestEnd() {
        guard !finished else { return }
        clientEnded = true
        if buffer != nil {
            start()
        } else if connection != nil {
            sendEnd()
        }
    }

    func cancel() {
        guard !finished else { return }
        finish()
    }

    /// Ends the exchange: its timer stops and its upstream connection is closed (its state
    /// mid-response cannot go back to the pool).
    private func finish() {
        finished = true
        timer?.cancel()
        if let connection {
            self.connection = nil
            connection.exchange = nil
            connection.close()
        }
    }

    func responseWritabilityChanged(_ writable: Bool) {
        guard !finished, let connection, upstreamPaused == writable else { return }
        upstreamPaused = !writable
        if writable {
            lastRead = .now()
            armTimer()
        }
        connection.setReading(writable)
    }

    // MARK: - The upstream (UpstreamConnection, on this loop)

    func upstreamRead(_ part: HTTPClientResponsePart, from connection: UpstreamConnection) {
        guard !finished, connection === self.connection else { return }
        lastRead = .now()
        switch part {
        case .head(let head):
            if head.status == .switchingProtocols {
                guard !upgradeProtocols.isEmpty else {
                    // Nothing can follow on this connection: the response is not HTTP any more.
                    self.connection = nil
                    connection.exchange = nil
                    connection.close()
                    proxy.selector.failed(server)
                    let message = "upstream \(configuration.servers[server]) switched protocols (101) without being asked to"
                    return fail(.workerDied(reason: message), logging: "proxy: \(message) (\(request.method) \(request.path))")
                }
                switching = head
                return
            }
            // Other 1xx interim responses are the upstream's business with this hop.
            if head.status.code < 200 { return }
            responseStarted = true
            // A connection that was offered an upgrade is not reused.
            responseKeepAlive = head.isKeepAlive && upgradeProtocols.isEmpty
            armTimer()
            writer.responseHead(
                status: Int(head.status.code), reason: head.status.reasonPhrase,
                headers: ForwardedHeaders.response(head.headers))
        case .body(let chunk):
            writer.responseBody(chunk)
        case .end:
            if let switching { return beginTunnel(switching, on: connection) }
            finished = true
            timer?.cancel()
            proxy.selector.succeeded(server)
            self.connection = nil
            // A response that ended before the request was all sent leaves the connection
            // mid-message: it cannot carry another request.
            if responseKeepAlive && requestSent {
                pool.checkin(connection)
            } else {
                connection.exchange = nil
                connection.close()
            }
            writer.responseEnd()
        }
    }

    /// The upstream switched protocols (101): the exchange ends, and the upstream
    /// connection becomes the upstream end of a tunnel the front joins to its client.
    private func beginTunnel(_ head: HTTPResponseHead, on connection: UpstreamConnection) {
        finished = true
        timer?.cancel()
        self.connection = nil
        proxy.selector.succeeded(server)
        let tunnel = TunnelHandler(idleTimeout: .nanoseconds(Int64(configuration.upgradeTimeout * 1e9)))
        let (logger, upstream, timeout) = (proxy.logger, configuration.servers[server], configuration.upgradeTimeout)
        let what = "\(request.method) \(request.path)"
        tunnel.onClose = { idle in
            if idle {
                logger.info("proxy: upgraded connection to upstream \(upstream) passed no byte for \(Self.seconds(timeout)): closed (\(what))")
            }
        }
        do {
            try connection.becomeTunnel(tunnel)
        } catch {
            connection.close()
            proxy.logger.error("proxy: cannot switch the connection to upstream \(upstream) to a tunnel: \(error)")
            writer.responseFailed(.workerDied(reason: "upgrade failed"), responseStarted: false)
            return
        }
        // Checked at init: only an upgrade writer offers protocols.
        (writer as! AppUpgradeWriter).responseUpgraded(headers: ForwardedHeaders.upgradeResponse(head.headers), tunnel: tunnel)
    }

    func upstreamClosed(_ connection: UpstreamConnection, error: Error?) {
        guard !finished, connection === self.connection else { return }
        self.connection = nil
        let server = configuration.servers[self.server]
        if !responseStarted && connection.reused && !retriedStale && isReplayable {
            // A kept-alive connection the upstream closed meanwhile (a race every pool has):
            // once, on a fresh connection to the same server.
            retriedStale = true
            requestSent = false
            timer?.cancel()
            timer = nil
            connect(self.server)
            return
        }
        let what = error.map { $0 is HTTPParserError ? "sent an invalid response (\($0))" : "failed: \($0)" }
            ?? "closed the connection before the response ended"
        proxy.selector.failed(self.server)
        fail(.workerDied(reason: "upstream \(server) \(what)"), logging: "proxy: upstream \(server) \(what) (\(request.method) \(request.path))")
    }

    func upstreamWritabilityChanged(_ writable: Bool) {
        guard !finished else { return }
        updateClientReading()
    }

    // MARK: - Backpressure and timeouts

    /// The client is read only while the upstream socket takes more.
    private func updateClientReading() {
        guard let connection else { return }
        let writable = connection.channel.isWritable
        if writable {
            unwritableSince = nil
        } else if unwritableSince == nil {
            unwritableSince = .now()
            armTimer()
        }
        if !clientEnded { pauseClient(!writable) }
    }

    private func pauseClient(_ pause: Bool) {
        guard pause != clientPaused else { return }
        clientPaused = pause
        writer.requestBodyWritabilityChanged(!pause)
    }

    /// One scheduled check at a time, due when the nearest timeout could expire.
    private func armTimer(in seconds: Double? = nil) {
        guard timer == nil, !finished else { return }
        let delay = max(seconds ?? min(configuration.readTimeout, configuration.sendTimeout), 0.01)
        timer = pool.loop.scheduleTask(in: .nanoseconds(Int64(delay * 1e9))) { [self] in
            timer = nil
            checkTimeouts()
        }
    }

    private func checkTimeouts() {
        guard !finished else { return }
        let now = NIODeadline.now()
        var next = Double.infinity
        if let since = unwritableSince {
            let left = configuration.sendTimeout - Double((now - since).nanoseconds) / 1e9
            if left <= 0 {
                return timedOut("did not take the request body for \(Self.seconds(configuration.sendTimeout))", seconds: configuration.sendTimeout)
            }
            next = left
        }
        // While the client is too slow to take the response, the upstream is not waited for.
        if (requestSent || responseStarted) && !upstreamPaused {
            let left = configuration.readTimeout - Double((now - lastRead).nanoseconds) / 1e9
            if left <= 0 {
                return timedOut("sent nothing for \(Self.seconds(configuration.readTimeout))", seconds: configuration.readTimeout)
            }
            next = min(next, left)
        }
        if next.isFinite { armTimer(in: next) }
    }

    private func timedOut(_ what: String, seconds: Double) {
        proxy.selector.failed(server)
        if let connection {
            self.connection = nil
            connection.exchange = nil
            connection.close()
        }
        fail(.timeout(seconds: seconds), logging: "proxy: upstream \(configuration.servers[server]) \(what) (\(request.method) \(request.path))")
    }

    private func fail(_ failure: AppFailure, logging message: String?) {
        guard !finished else { return }
        finish()
        if let message { proxy.logger.error("\(message)") }
        writer.responseFailed(failure, responseStarted: responseStarted)
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    }

    /// A connect error without NIO's wrapping: "Connection refused (errno: 111)".
    static func describe(_ error: Error) -> String {
        if let failure = error as? NIOConnectionError, let last = failure.connectionErrors.last {
            if let io = last.error as? IOError { return "\(io.description)" }
            return "\(last.error)"
        }
        if case ChannelError.connectTimeout(let amount) = error {
            return "timed out after \(seconds(Double(amount.nanoseconds) / 1e9))"
        }
        return "\(error)"
    }
}
