import NIOCore

/// One end of a byte tunnel: an HTTP/1.1 connection after `101 Switching Protocols`
/// (RFC 9110 §7.8), joined to the other end (the client's connection to the upstream's).
/// Each end passes what its connection reads to the other with `write` and `flush`, and
/// asks the other to stop reading while its own socket is full (`setReading`).
///
/// Both ends live on the same event loop and call each other directly, on it.
public protocol AppTunnelEnd: AnyObject, Sendable {
    /// The other end: from now on this end sends it what its connection reads.
    func join(_ peer: AppTunnelEnd)
    /// Bytes the other end read: write them to this end's connection.
    func write(_ bytes: ByteBuffer)
    /// The end of a burst of `write`s.
    func flush()
    /// The other end's connection sends no more (it half-closed): once what was written is
    /// out, shut this connection's output.
    func closeOutput()
    /// The tunnel is over (an error, a reset, the idle timeout): close this connection.
    func close()
    /// Backpressure: the other end's socket is full (`false`) or drained (`true`); stop or
    /// resume reading this end's connection.
    func setReading(_ on: Bool)
}

/// A response writer whose connection can become a tunnel: the HTTP/1.1 front's.
/// (HTTP/2 would need extended CONNECT, RFC 8441; its writer does not conform.)
public protocol AppUpgradeWriter: AppResponseWriter {
    /// The protocols of the client's `Upgrade` field the front would tunnel for this
    /// request, as sent; empty when it would not (no upgrade asked, only `h2c`, a request
    /// with a body).
    var upgradeProtocols: [String] { get }
    /// Instead of `responseHead`: sends `101 Switching Protocols` with `headers` (their
    /// `Connection` and `Upgrade` included), then joins the client's connection to `tunnel`
    /// (`tunnel.join` gets the client's end). If the client is gone, `tunnel.close()` is called.
    /// Call on the connection's event loop.
    func responseUpgraded(headers: [(name: String, value: String)], tunnel: AppTunnelEnd)
}
