import AppExchange
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A reverse proxy route's target: forwards each request to one of its upstream servers
/// over HTTP/1.1 and streams the response back. The front sees it as an `AppService`.
///
/// Each event loop keeps its own pool of keep-alive connections, so a request and its
/// upstream connection live on the same thread.
public final class ReverseProxy: AppService, Sendable {
    public let configuration: ProxyConfiguration
    let selector: UpstreamSelector
    let logger: Logger
    private let group: EventLoopGroup
    /// The client context for https servers; nil when none is https.
    private let tls: UpstreamTLSContext?
    private let pools = NIOLockedValueBox<[ObjectIdentifier: UpstreamPool]>([:])

    /// Throws when the TLS settings of https servers cannot be used (a `tls_ca` that does
    /// not load), naming the setting.
    public init(configuration: ProxyConfiguration, group: EventLoopGroup, logger: Logger) throws {
        precondition(!configuration.servers.isEmpty, "a proxy needs at least one upstream server")
        tls = configuration.servers.contains(where: \.isTLS) ? try UpstreamTLSContext(configuration.tls) : nil
        self.configuration = configuration
        self.group = group
        self.logger = logger
        selector = UpstreamSelector(
            count: configuration.servers.count, maxFails: configuration.maxFails, failTimeout: configuration.failTimeout)
    }

    /// Called by the front on the client connection's event loop.
    public func open(_ request: AppRequest, writer: AppResponseWriter) -> AppExchangeHandle {
        let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? group.next()
        return ProxyExchange(proxy: self, pool: pool(for: loop), request: request, writer: writer)
    }

    private func pool(for loop: EventLoop) -> UpstreamPool {
        let key = ObjectIdentifier(loop)
        return pools.withLockedValue { pools in
            if let pool = pools[key] { return pool }
            let pool = UpstreamPool(loop: loop, configuration: configuration, tls: tls)
            pools[key] = pool
            return pool
        }
    }

    /// Closes the idle upstream connections (at shutdown).
    public func closeIdleConnections() {
        for pool in pools.withLockedValue({ Array($0.values) }) {
            pool.loop.execute { pool.closeIdle() }
        }
    }
}
