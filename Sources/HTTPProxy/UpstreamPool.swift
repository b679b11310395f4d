import NIOCore
import NIOHTTP1
import NIOPosix

/// The idle keep-alive connections of one upstream on one event loop, and the making of
/// new ones. Confined to its loop: client connections and their upstream connections share
/// it, so proxying never hops threads.
final class UpstreamPool: @unchecked Sendable {
    let loop: EventLoop
    private let configuration: ProxyConfiguration
    /// Idle connections per server index, most recently used last.
    private var idle: [[UpstreamConnection]]

    init(loop: EventLoop, configuration: ProxyConfiguration) {
        self.loop = loop
        self.configuration = configuration
        idle = Array(repeating: [], count: configuration.servers.count)
    }

    /// An idle connection to `server`, if one is open.
    func checkout(_ server: Int) -> UpstreamConnection? {
        while let connection = idle[server].popLast() {
            connection.onClose = nil
            if connection.isActive { return connection }
        }
        return nil
    }

    /// Takes back a connection whose exchange ended cleanly; beyond `keepalive` idle
    /// connections it is closed instead.
    func checkin(_ connection: UpstreamConnection) {
        connection.exchange = nil
        guard connection.isActive, idle[connection.server].count < configuration.keepalive else {
            connection.close()
            return
        }
        connection.reused = true
        connection.setReading(true)
        connection.onClose = { [weak self, weak connection] in
            guard let self, let connection else { return }
            idle[connection.server].removeAll { $0 === connection }
        }
        idle[connection.server].append(connection)
    }

    /// Opens a new connection to `server`.
    func connect(_ server: Int) -> EventLoopFuture<UpstreamConnection> {
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.nanoseconds(Int64(configuration.connectTimeout * 1e9)))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(
                        leftOverBytesStrategy: .fireError)
                    let connection = UpstreamConnection(channel: channel, server: server)
                    try channel.pipeline.syncOperations.addHandler(connection)
                }
            }
        let connected: EventLoopFuture<Channel>
        switch configuration.servers[server] {
        case .tcp(let host, let port): connected = bootstrap.connect(host: host, port: port)
        case .unix(let path): connected = bootstrap.connect(unixDomainSocketPath: path)
        }
        return connected.flatMapThrowing { channel in
            try channel.pipeline.syncOperations.handler(type: UpstreamConnection.self)
        }
    }

    /// Closes every idle connection (when the proxy stops).
    func closeIdle() {
        let all = idle.flatMap { $0 }
        idle = Array(repeating: [], count: idle.count)
        for connection in all {
            connection.onClose = nil
            connection.close()
        }
    }
}
