import NIOCore

/// What a secured listener (TLS) does to each new connection before HTTP: a seam so the
/// front does not depend on a TLS library (the HTTPFrontTLS target implements it).
public protocol ConnectionSecurity: Sendable {
    /// Adds the handlers that secure `channel`. Once the handshake is done, calls `ready`
    /// with the application protocol the client and berth agreed on by ALPN (nil when the
    /// client offered none); `ready` adds the handlers for that protocol.
    func secure(
        _ channel: Channel, ready: @escaping @Sendable (Channel, String?) -> EventLoopFuture<Void>
    ) throws
}
