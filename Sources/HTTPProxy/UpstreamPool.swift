import NIOCore
import NIOHTTP1
import NIOPosix

/// The idle keep-alive connections of one upstream on one event loop, and the making of
/// new ones. Confined to its loop: client connections and their upstream connections share
/// it, so proxying never hops threads.
final class UpstreamPool: @unchecked Sendable {
    let loop: EventLoop
    private let configuration: ProxyConfiguration
    private let tls: UpstreamTLSContext?
    /// Idle connections per server index, most recently used last.
    private var idle: [[UpstreamConnection]]

    init(loop: EventLoop, configuration: ProxyConfiguration, tls: UpstreamTLSContext?) {
        self.loop = loop
        self.configuration = configuration
        self.tls = tls
        idle = Array(repeating: [], count: configuration.servers.count)
    }

    /// An idle connection to `server`, if one is open.
    func checkout(_ server: Int) -> UpstreamConnection? {
        while let connection = idle[server].popLast() {
            connection.onClose = nil
            connection.idleTimer?.cancel()
            connection.idleTimer = nil
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
        // Idle past keepalive_timeout, it is closed (nginx's keepalive_timeout in
        // `upstream`): the upstream's workers and sockets are not held forever.
        connection.idleTimer = loop.scheduleTask(in: .nanoseconds(Int64(configuration.keepaliveTimeout * 1e9))) {
            [weak self, weak connection] in
            guard let self, let connection else { return }
            connection.idleTimer = nil
            connection.onClose = nil
            idle[connection.server].removeAll { $0 === connection }
            connection.close()
        }
        idle[connection.server].append(connection)
    }

    /// Opens a new connection to `server`.
    /// Opens a new connection to `server`; for https, it is ready once the TLS handshake
    /// succeeded (a failed one fails the future with an `UpstreamHandshakeError`).
    func connect(_ server: Int) -> EventLoopFuture<UpstreamConnection> {
        let timeout = TimeAmount.nanoseconds(Int64(configuration.connectTimeout * 1e9))
        let address = configuration.servers[server]
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [tls] channel in
                channel.eventLoop.makeCompletedFuture {
                    var handshake: EventLoopFuture<Void>?
                    if case .tcp(let host, _, true) = address, let tls {
                        handshake = try tls.addHandlers(to: channel, host: host, timeout: timeout)
                    }
                    // Bytes after a `101 Switching Protocols` head belong to the tunnel
                    // that replaces the HTTP handlers (UpstreamConnection.becomeTunnel).
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(leftOverBytesStrategy: .forwardBytes)
                    let connection = UpstreamConnection(channel: channel, server: server)
                    connection.handshake = handshake
                    try channel.pipeline.syncOperations.addHandler(connection)
                }
            }
        let connected: EventLoopFuture<Channel>
        switch address {
        case .tcp(let host, let port, _): connected = bootstrap.connect(host: host, port: port)
        case .unix(let path): connected = bootstrap.connect(unixDomainSocketPath: path)
        }
        return connected.flatMap { channel in
            let connection: UpstreamConnection
            do {
                connection = try channel.pipeline.syncOperations.handler(type: UpstreamConnection.self)
            } catch {
                channel.close(promise: nil)
                return channel.eventLoop.makeFailedFuture(error)
            }
            guard let handshake = connection.handshake else { return channel.eventLoop.makeSucceededFuture(connection) }
            connection.handshake = nil
            return handshake.map { connection }.flatMapErrorThrowing { error in
                channel.close(promise: nil)
                throw error
            }
        }
    }

    /// Closes every idle connection (when the proxy stops).
    func closeIdle() {
        let all = idle.flatMap { $0 }
        idle = Array(repeating: [], count: idle.count)
        for connection in all {
            connection.onClose = nil
            connection.idleTimer?.cancel()
            connection.idleTimer = nil
            connection.close()
        }
    }
}
