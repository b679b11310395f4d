import AppExchange
import HTTP2
import NIOCore

/// Where a request goes, as decided by the router.
public enum RouteTarget: Sendable {
    case staticFiles(StaticSite, prefix: String)
    case app(AppService, prefix: String)
}

/// A routing decision that also carries fields for the response (a route's `headers`).
public struct Routing: Sendable {
    public var target: RouteTarget
    /// Set on every response of the route, replacing a field of the same name.
    public var responseHeaders: [(String, String)]

    public init(target: RouteTarget, responseHeaders: [(String, String)] = []) {
        self.target = target
        self.responseHeaders = responseHeaders
    }
}

/// Limits, timeouts and behaviour of the HTTP front.
public struct FrontConfiguration: Sendable {
    /// Header fields (names and values) larger than this get 431.
    public var maxHeaderSize = 16 * 1024
    /// Bodies larger than this get 413; 0 means no limit.
    public var maxBodySize: Int64 = 100 * 1024 * 1024
    /// Seconds a connection may sit idle between requests.
    public var keepAliveTimeout: Double = 75
    /// Seconds to receive a whole request head once it started.
    public var headerTimeout: Double = 30
    /// Seconds between two reads of a request body.
    public var bodyTimeout: Double = 60
    /// Show Python tracebacks on error pages (dev mode only).
    public var showTracebacks = false
    /// Chooses the target for a normalized, decoded path; nil means 404.
    public var route: @Sendable (String) -> RouteTarget?
    /// Routing by Host header (nil when absent) and path; when set, used instead of `route`.
    public var routeRequest: (@Sendable (_ host: String?, _ path: String) -> Routing?)?
    /// One line per request, or nil for none.
    public var accessLog: AccessLog?
    /// HTTP/2 (h2c with prior knowledge on cleartext listeners), or nil for HTTP/1.1 only.
    public var http2: HTTP2Settings? = HTTP2Settings()
    /// Requests one connection may carry before berth closes it (nginx's
    /// keepalive_requests); 0 for no limit.
    public var maxRequestsPerConnection = 0
    /// Client connections open at once; at the limit the listeners stop accepting until
    /// one closes. 0 for no limit.
    public var maxConnections = 0
    /// Answer every request with a 301 to `https://` on this port (443 is left out of the
    /// URL): the plain-HTTP listener beside a TLS one. Set per listener.
    public var redirectToHTTPSPort: Int?

    public init(route: @escaping @Sendable (String) -> RouteTarget?) {
        self.route = route
    }
}
