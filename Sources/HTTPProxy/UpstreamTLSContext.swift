import AppExchange
import NIOCore
import NIOSSL
import NIOTLS

/// TLS to https upstream servers: one client context per proxy (loading the trust store is
/// costly), and per connection a client handler plus a wait for its handshake, so that a
/// certificate that does not verify is a connect failure (next server, 502) and never a
/// request sent into a broken connection.
struct UpstreamTLSContext: Sendable {
    let context: NIOSSLContext
    let settings: UpstreamTLS

    /// A setting that cannot be used, naming it.
    struct SetupError: Error, CustomStringConvertible {
        var description: String
    }

    init(_ settings: UpstreamTLS) throws(SetupError) {
        self.settings = settings
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = ["http/1.1"]
        if !settings.verify {
            configuration.certificateVerification = .none
        } else if let file = settings.caFile {
            // Loaded here, not lazily by BoringSSL: a bad bundle stops berth at start.
            do {
                let certificates = try NIOSSLCertificate.fromPEMFile(file)
                guard !certificates.isEmpty else { throw SetupError(description: "tls_ca: no certificate in \(file)") }
                configuration.trustRoots = .certificates(certificates)
            } catch let error as SetupError {
                throw error
            } catch {
                throw SetupError(description: "tls_ca: cannot load \(file): \(error)")
            }
        }
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw SetupError(description: "TLS: \(error)")
        }
    }

    /// Adds the TLS client and the handshake wait to a new connection to `host`.
    func addHandlers(to channel: Channel, host: String, timeout: TimeAmount) throws -> EventLoopFuture<Void> {
        // SNI carries DNS names only: for an address, none is sent and the certificate's
        // IP entries are checked against the address connected to.
        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        let name = settings.serverName ?? (isAddress ? nil : host)
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(NIOSSLClientHandler(context: context, serverHostname: name))
        try sync.addHandler(FileRegionReader())  // a buffered request body (an O_TMPFILE): no sendfile under TLS
        let waiter = HandshakeWaiter(promise: channel.eventLoop.makePromise(), timeout: timeout, name: name ?? host)
        try sync.addHandler(waiter)
        return waiter.promise.futureResult
    }
}

/// A TLS handshake with an upstream that failed, with the reason in words.
struct UpstreamHandshakeError: Error, CustomStringConvertible {
    var description: String
}

/// Completes its promise when the TLS handshake completes, fails it when the handshake
/// fails, times out or the connection closes first; then steps aside.
private final class HandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny
    let promise: EventLoopPromise<Void>
    private let timeout: TimeAmount
    private let name: String
    private var timer: Scheduled<Void>?
    private var done = false

    init(promise: EventLoopPromise<Void>, timeout: TimeAmount, name: String) {
        self.promise = promise
        self.timeout = timeout
        self.name = name
    }

    func channelActive(context: ChannelHandlerContext) {
        // The handshake gets its own connect_timeout, from the moment TCP is connected.
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) { [self] in
            finish(.failure(UpstreamHandshakeError(description: "timed out after \(ProxyExchange.seconds(Double(timeout.nanoseconds) / 1e9))")))
            channel.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            finish(.success(()))
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        finish(.failure(UpstreamHandshakeError(description: Self.explain(error, name: name))))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(UpstreamHandshakeError(description: "the server closed the connection during the handshake")))
        context.fireChannelInactive()
    }

    private func finish(_ result: Result<Void, Error>) {
        guard !done else { return }
        done = true
        timer?.cancel()
        promise.completeWith(result)
    }

    /// NIOSSL's error in words a user can act on.
    static func explain(_ error: Error, name: String) -> String {
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return "the certificate is not valid for \(quotedName(name)) (set tls_server_name to a name it holds): \(extra)"
        }
        if case NIOSSLError.handshakeFailed(let reason) = error {
            let text = "\(reason)"
            if text.contains("CERTIFICATE_VERIFY_FAILED") {
                return "certificate verify failed: its chain does not lead to a trusted CA (set tls_ca to the CA bundle that signed it, or tls_verify = false) [\(text)]"
            }
            return "handshake failed: \(text)"
        }
        return "\(error)"
    }

    private static func quotedName(_ name: String) -> String { "\"\(name)\"" }
}
