import NIOCore

/// A connection's two addresses as environs and the access log give them, formatted once
/// per connection (an inet_ntop and a String each, which per request cost more than the
/// rest of an environ). nil where the socket has no IP address (a unix socket).
struct ConnectionPeers {
    let remoteIP: String?
    let remotePort: Int
    let localIP: String?
    let localPort: Int

    init(_ channel: Channel) {
        let remote = channel.remoteAddress
        let local = channel.localAddress
        remoteIP = remote?.ipAddress
        remotePort = remote?.port ?? 0
        localIP = local?.ipAddress
        localPort = local?.port ?? 0
    }
}

/// Field rules both HTTP versions of the front apply.
enum FrontFields {
    /// Hop-by-hop fields an app must not send (PEP 3333, RFC 9110 §7.6.1; over HTTP/2 they
    /// are connection-specific, RFC 9113 §8.2.2): the front owns the connection's framing.
    /// By bytes: this runs for every field of every app response.
    static func isHopByHop(_ name: String) -> Bool {
        let utf8 = name.utf8
        switch utf8.count {
        case 2: return utf8.equalsIgnoringCase("te")
        case 7: return utf8.equalsIgnoringCase("upgrade") || utf8.equalsIgnoringCase("trailer")
        case 10: return utf8.equalsIgnoringCase("connection") || utf8.equalsIgnoringCase("keep-alive")
        case 16: return utf8.equalsIgnoringCase("proxy-connection")
        case 17: return utf8.equalsIgnoringCase("transfer-encoding")
        default: return false
        }
    }

    /// A Host value (or `:authority`) without its port: `[v6]` keeps its brackets. By bytes
    /// (String's split works on Characters).
    static func hostName(_ host: String) -> String {
        let bytes = host.utf8
        if bytes.first == UInt8(ascii: "["), let close = bytes.firstIndex(of: UInt8(ascii: "]")) {
            return String(host[...close])
        }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return host }
        return String(host[..<colon])
    }
}
