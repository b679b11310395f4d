import HTTP2
import NIOCore

extension HTTPServer {
    /// Sets up a cleartext connection: HTTP/1.1 and, when HTTP/2 is on, h2c with prior
    /// knowledge on the same port, told apart by the first bytes.
    public static func configureCleartextPipeline(_ channel: Channel, configuration: FrontConfiguration, socket: Int32? = nil) throws {
        guard let settings = configuration.http2 else {
            return try configurePipeline(channel, configuration: configuration, socket: socket)
        }
        try channel.pipeline.syncOperations.addHandler(ProtocolSniffer(configuration: configuration, settings: settings, socket: socket))
    }

    /// Serves the channel with HTTP/2 from its first byte: after the protocol sniffer
    /// decided, or after TLS negotiated "h2" by ALPN (the hook for TLS listeners: call it
    /// with `scheme: "https"` on the channel's loop once the handshake completed).
    public static func configureHTTP2Pipeline(
        _ channel: Channel, configuration: FrontConfiguration, settings: HTTP2Settings, scheme: String
    ) throws {
        let handler = try HTTP2ConnectionHandler(configuration: configuration, settings: settings, scheme: scheme)
        try channel.pipeline.syncOperations.addHandler(handler)
    }
}
