import AppExchange
import HTTPFront
import NIOCore
import NIOSSL
import NIOTLS

/// TLS for one listener: the certificate for each handshake comes from a
/// `CertificateStore` (SNI, reloadable), the application protocol from ALPN.
public final class TLSListener: ConnectionSecurity {
    public let certificates: CertificateStore
    /// Offered to clients in order of preference (`"http/1.1"`; `"h2"` once HTTP/2 lands).
    public let applicationProtocols: [String]
    private let context: NIOSSLContext
    private let handshakeTimeout: TimeAmount

    /// `handshakeTimeout`: seconds a client has to finish the TLS handshake.
    public init(certificates: CertificateStore, applicationProtocols: [String] = ["http/1.1"], handshakeTimeout: Double = 10) throws {
        self.certificates = certificates
        self.applicationProtocols = applicationProtocols
        self.handshakeTimeout = .nanoseconds(Int64(handshakeTimeout * 1e9))
        let initial = certificates.select(nil)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: initial.chain.map { .certificate($0) }, privateKey: .privateKey(initial.key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = applicationProtocols
        // Every handshake picks its certificate here, from the store's current snapshot: by
        // server name, and the reloaded files after SIGHUP.
        configuration.sslContextCallback = { [certificates] values, promise in
            let chosen = certificates.select(values.serverHostname)
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = chosen.chain.map { .certificate($0) }
            override.privateKey = .privateKey(chosen.key)
            promise.succeed(override)
        }
        context = try NIOSSLContext(configuration: configuration)
    }

    public func secure(
        _ channel: Channel, ready: @escaping @Sendable (Channel, String?) -> EventLoopFuture<Void>
    ) throws {
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(NIOSSLServerHandler(context: context))
        try sync.addHandler(FileRegionReader())  // static files and file_wrapper bodies: no sendfile under TLS
        // A client that connects and never completes the handshake is dropped.
        let timeout = channel.eventLoop.scheduleTask(in: handshakeTimeout) { channel.close(promise: nil) }
        try sync.addHandler(ApplicationProtocolNegotiationHandler(alpnCompleteHandler: { result, channel in
            timeout.cancel()
            let negotiated: String?
            switch result {
            case .negotiated(let name): negotiated = name
            case .fallback: negotiated = nil
            }
            return ready(channel, negotiated)
        }))
    }
}
