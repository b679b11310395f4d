import NIOCore

/// Where an upstream server listens.
public enum UpstreamAddress: Sendable, Hashable, CustomStringConvertible {
    /// `tls`: https, with the proxy's `tls` settings.
    case tcp(host: String, port: Int, tls: Bool = false)
    case unix(path: String)

    public var description: String {
        switch self {
        case .tcp(let host, let port, let tls):
            (tls ? "https://" : "") + (host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
        case .unix(let path): "unix:\(path)"
        }
    }

    var isTLS: Bool {
        if case .tcp(_, _, true) = self { true } else { false }
    }

    /// The `Host` value a request carries when berth has none to pass on.
    var hostHeader: String {
        switch self {
        case .tcp: description
        case .unix: "localhost"
        }
    }
}

/// How a reverse proxy route talks to its upstream servers.
public struct ProxyConfiguration: Sendable {
    /// The servers, tried in round-robin order.
    public var servers: [UpstreamAddress]
    /// Seconds to establish a connection to an upstream server.
    public var connectTimeout: Double = 5
    /// Seconds to wait for the response head, and between two reads of the response body.
    public var readTimeout: Double = 60
    /// Seconds an upstream may refuse to take more of the request (its socket full).
    public var sendTimeout: Double = 60
    /// Failures within `failTimeout` after which a server is left out for `failTimeout`
    /// (nginx's max_fails and fail_timeout); 0 never leaves one out. A lone server is never
    /// left out.
    public var maxFails = 1
    public var failTimeout: Double = 10
    /// Idle keep-alive connections kept per server on each event loop.
    public var keepalive = 32
    /// The `Host` sent upstream; nil passes the client's on.
    public var host: String?
    /// Read the whole request body before connecting upstream (protects upstreams with few
    /// synchronous workers from slow clients). Bodies up to `bufferMemory` stay in memory,
    /// larger ones go to an unlinked temporary file; the front's body limit bounds both.
    public var bufferRequest = false
    /// Bytes of a buffered request body kept in memory before it spills to a temporary file.
    public var bufferMemory = 1 << 20
    /// Where spilled request bodies go (an unlinked file in this directory).
    public var temporaryDirectory = "/tmp"
    /// Seconds an idle pooled connection is kept before it is closed.
    public var keepaliveTimeout: Double = 60
    /// Seconds an upgraded connection (WebSocket) may pass without a byte either way.
    public var upgradeTimeout: Double = 600
    /// How https servers are checked.
    public var tls = UpstreamTLS()

    public init(servers: [UpstreamAddress]) {
        self.servers = servers
    }
}

/// How the proxy checks its https servers.
public struct UpstreamTLS: Sendable, Hashable {
    /// Verify the certificate chain and name; false accepts any certificate.
    public var verify = true
    /// A PEM file of CA certificates trusted instead of the system's store.
    public var caFile: String?
    /// The name sent by SNI and checked against the certificate; nil: the server's host
    /// (an IP address is not sent, and is checked against the certificate's IP entries).
    public var serverName: String?

    public init(verify: Bool = true, caFile: String? = nil, serverName: String? = nil) {
        self.verify = verify
        self.caFile = caFile
        self.serverName = serverName
    }
}
