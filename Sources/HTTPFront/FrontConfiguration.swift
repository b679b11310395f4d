import AppExchange
import HTTP2
import NIOCore

/// Where a request goes, as decided by the router.
public enum RouteTarget: Sendable {
    case staticFiles(StaticSite, prefix: String)
    case app(AppService, prefix: String)
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
    /// One line per request, or nil for none.
    public var accessLog: AccessLog?
    /// HTTP/2 (h2c with prior knowledge on cleartext listeners), or nil for HTTP/1.1 only.
    public var http2: HTTP2Settings? = HTTP2Settings()

    public init(route: @escaping @Sendable (String) -> RouteTarget?) {
        self.route = route
    }
}
