import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The HTTP/1.1 front: listens on TCP and unix sockets and serves each connection with
/// an `HTTPConnectionHandler`.
public final class HTTPServer: Sendable {
    public enum Address: Sendable, CustomStringConvertible {
        case tcp(host: String, port: Int)
        case unix(path: String)

        public var description: String {
            switch self {
            case .tcp(let host, let port): return host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
            case .unix(let path): return "unix:\(path)"
            }
        }
    }

    private let group: EventLoopGroup
    private let configuration: FrontConfiguration
    private let listeners: NIOLockedBox<[Channel]> = NIOLockedBox([])
    private let acceptors: NIOLockedBox<[SocketAcceptor]> = NIOLockedBox([])
    private let connections = ConnectionRegistry()
    private let gate: AcceptGate

    /// The access log, for reopening after rotation.
    public var accessLog: AccessLog? { configuration.accessLog }

    public init(group: EventLoopGroup, configuration: FrontConfiguration) {
        self.group = group
        self.configuration = configuration
        gate = AcceptGate(limit: configuration.maxConnections)
    }

    /// Binds `address` and starts accepting; returns the address actually bound (port 0
    /// becomes the kernel's choice). With `security` (TLS), requests are https; with
    /// `redirectToHTTPSPort`, every request gets a 301 to https on that port.
    public func bind(_ address: Address, security: ConnectionSecurity? = nil, redirectToHTTPSPort: Int? = nil) async throws -> Address {
        if security == nil && redirectToHTTPSPort == nil {
            return try bindAccepting(address)
        }
        var configuration = self.configuration
        configuration.redirectToHTTPSPort = redirectToHTTPSPort
        let connections = self.connections
        let gate = self.gate
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [configuration] channel in
                gate.opened(channel)
                guard let security else {
                    return channel.eventLoop.makeCompletedFuture {
                        // A redirecting listener answers HTTP/1.1 only: its job is one 301.
                        if configuration.redirectToHTTPSPort == nil {
                            try HTTPServer.configureCleartextPipeline(channel, configuration: configuration)
                        } else {
                            try HTTPServer.configurePipeline(channel, configuration: configuration)
                        }
                        connections.add(channel)
                    }
                }
                return channel.eventLoop.makeCompletedFuture {
                    connections.add(channel)
                    try security.secure(channel) { channel, negotiated in
                        channel.eventLoop.makeCompletedFuture {
                            try HTTPServer.configureNegotiated(channel, protocol: negotiated, configuration: configuration)
                        }
                    }
                }
            }
        let channel: Channel
        switch address {
        case .tcp(let host, let port):
            channel = try await bootstrap.bind(host: host, port: port).get()
        case .unix(let path):
            if let info = try? fileType(path), info == S_IFSOCK { unlink(path) }
            channel = try await bootstrap.bind(unixDomainSocketPath: path).get()
        }
        listeners.withLockedValue { $0.append(channel) }
        gate.add(listener: channel)
        switch address {
        case .tcp(let host, _):
            return .tcp(host: host, port: channel.localAddress?.port ?? 0)
        case .unix:
            return address
        }
    }

    /// A cleartext listener that accepts by itself (`SocketAcceptor`), so each connection's
    /// handler knows its socket and writes to it directly when it can.
    private func bindAccepting(_ address: Address) throws -> Address {
        let socketAddress: SocketAddress
        switch address {
        case .tcp(let host, let port):
            socketAddress = try SocketAddress.makeAddressResolvingHost(host, port: port)
        case .unix(let path):
            if let info = try? fileType(path), info == S_IFSOCK { unlink(path) }
            socketAddress = try SocketAddress(unixDomainSocketPath: path)
        }
        let acceptor = try SocketAcceptor(address: socketAddress, description: address.description)
        let (group, configuration, connections, gate) = (self.group, self.configuration, self.connections, self.gate)
        try acceptor.start(on: group.next()) { socket in
            // Counted here, before the next accept; uncounted when the channel closes, or
            // at once if NIO could not make a channel of the socket.
            gate.opened()
            let counted = NIOLockedBox(false)
            ClientBootstrap(group: group)
                .channelOption(.maxMessagesPerRead, value: 16)
                .channelInitializer { channel in
                    counted.withLockedValue { $0 = true }
                    channel.closeFuture.whenComplete { _ in gate.closed() }
                    return channel.eventLoop.makeCompletedFuture {
                        try HTTPServer.configureCleartextPipeline(channel, configuration: configuration, socket: socket)
                        connections.add(channel)
                    }
                }
                .withConnectedSocket(socket)
                .whenFailure { _ in
                    if !counted.withLockedValue({ $0 }) { gate.closed() }
                }
        }
        acceptors.withLockedValue { $0.append(acceptor) }
        gate.add { on in acceptor.setAccepting(on) }
        switch address {
        case .tcp(let host, _): return .tcp(host: host, port: acceptor.port)
        case .unix: return address
        }
    }

    /// Sets up one HTTP/1.1 connection's pipeline — the one place it is built: a single
    /// `HTTPConnectionHandler` that parses requests from the raw bytes itself
    /// (`HTTP1RequestParser`), serves pipelined requests in order, and writes responses as
    /// bytes and file regions (docs/front.md, "Performance"). A protocol switch hands the
    /// bytes over with `HTTPConnectionHandler.passThrough(to:)`.
    /// `socket` is the connection's descriptor when berth accepted it itself (cleartext only):
    /// responses may then be written to it directly.
    public static func configurePipeline(
        _ channel: Channel, configuration: FrontConfiguration, scheme: String = "http", socket: Int32? = nil
    ) throws {
        try channel.pipeline.syncOperations.addHandler(
            HTTPConnectionHandler(configuration: configuration, activity: ConnectionActivity(), scheme: scheme, socket: socket))
    }

    /// Sets up the protocol a TLS connection agreed on by ALPN: HTTP/2 for "h2" (offered
    /// only while HTTP/2 is on), HTTP/1.1 for "http/1.1" or when the client offered no
    /// protocol. Another protocol would have to be offered first, so a mismatch is closed.
    public static func configureNegotiated(_ channel: Channel, protocol negotiated: String?, configuration: FrontConfiguration) throws {
        switch negotiated {
        case "h2" where configuration.http2 != nil:
            try configureHTTP2Pipeline(channel, configuration: configuration, settings: configuration.http2!, scheme: "https")
        case nil, "http/1.1":
            try configurePipeline(channel, configuration: configuration, scheme: "https")
        default:
            channel.close(promise: nil)
        }
    }

    private func fileType(_ path: String) throws -> mode_t? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return info.st_mode & S_IFMT
    }

    /// Stops accepting; existing connections finish their current request.
    public func stopAccepting() async {
        gate.stop()
        let channels = listeners.withLockedValue { channels in
            defer { channels.removeAll() }
            return channels
        }
        for channel in channels { try? await channel.close() }
        let ownAcceptors = acceptors.withLockedValue { acceptors in
            defer { acceptors.removeAll() }
            return acceptors
        }
        for acceptor in ownAcceptors { await acceptor.stop() }
    }

    /// Waits until every connection has closed, or `seconds` have passed; then closes the
    /// rest and returns how many it closed (connections whose requests were cut).
    @discardableResult
    public func drainConnections(within seconds: Double) async -> Int {
        let deadline = NIODeadline.now() + .fromSeconds(seconds)
        while connections.count > 0 && NIODeadline.now() < deadline {
            connections.closeIdle()
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        return connections.closeAll()
    }
}

/// The open client connections, for a graceful stop.
final class ConnectionRegistry: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: Channel] = [:]
        var quiesced: Set<ObjectIdentifier> = []
    }
    private let state = NIOLockedBox(State())

    var count: Int { state.withLockedValue { $0.channels.count } }

    func add(_ channel: Channel) {
        let id = ObjectIdentifier(channel)
        state.withLockedValue { $0.channels[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in
            state.withLockedValue { state in
                state.channels.removeValue(forKey: id)
                state.quiesced.remove(id)
            }
        }
    }

    /// Asks each connection, once, to close when it is between requests.
    func closeIdle() {
        let fresh = state.withLockedValue { state -> [Channel] in
            let ids = state.channels.keys.filter { !state.quiesced.contains($0) }
            state.quiesced.formUnion(ids)
            return ids.compactMap { state.channels[$0] }
        }
        for channel in fresh {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    @discardableResult
    func closeAll() -> Int {
        let channels = state.withLockedValue { Array($0.channels.values) }
        for channel in channels { channel.close(promise: nil) }
        return channels.count
    }
}

/// A lock-protected value (NIOLockedValueBox under a shorter name for this file).
typealias NIOLockedBox = NIOLockedValueBox
