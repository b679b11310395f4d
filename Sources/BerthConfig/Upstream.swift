/// An upstream server address: `http://HOST:PORT` (port 80 when left out), `https://HOST:PORT`
/// (port 443 when left out) or `unix:PATH`.
public enum UpstreamServer: Sendable, Hashable, CustomStringConvertible {
    /// `tls`: the server speaks https.
    case tcp(host: String, port: Int, tls: Bool = false)
    case unix(path: String)

    /// Parses `http(s)://HOST[:PORT]`, `http(s)://[IPv6][:PORT]` or `unix:PATH` (a relative
    /// path is resolved against `directory`).
    static func parse(_ text: String, directory: String) throws(InvalidValue) -> UpstreamServer {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw InvalidValue("unix: needs a socket path, like unix:/run/app.sock") }
            return .unix(path: resolvePath(path, against: directory))
        }
        let tls = text.hasPrefix("https://")
        guard tls || text.hasPrefix("http://") else {
            throw InvalidValue("must be http://HOST:PORT, https://HOST:PORT or unix:PATH, got \(quoted(text))")
        }
        var authority = String(text.dropFirst(tls ? 8 : 7))
        if authority.hasSuffix("/") { authority.removeLast() }
        guard !authority.contains("/"), !authority.contains("?") else {
            throw InvalidValue("must be http(s)://HOST:PORT without a path (the request's path is passed on as is), got \(quoted(text))")
        }
        let address: ListenAddress
        do throws(InvalidValue) {
            let hasPort = authority.hasPrefix("[") ? authority.contains("]:") : authority.contains(":")
            address = try ListenAddress.parse(hasPort ? authority : authority + (tls ? ":443" : ":80"))
        } catch {
            throw InvalidValue("must be http(s)://HOST:PORT or unix:PATH: \(error.problem)")
        }
        guard case .tcp(let host, let port) = address, !authority.hasPrefix(":"), port != 0 else {
            throw InvalidValue("must name a host and a port from 1 to 65535, like http://127.0.0.1:9000, got \(quoted(text))")
        }
        return .tcp(host: host, port: port, tls: tls)
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port, let tls):
            (tls ? "https://" : "http://") + (host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
        case .unix(let path): "unix:\(path)"
        }
    }

    /// Whether the server speaks https.
    public var isTLS: Bool {
        if case .tcp(_, _, true) = self { true } else { false }
    }
}

/// An `[upstream.NAME]` table, or the upstream a route's `proxy = "URL"` stands for: the
/// servers a reverse proxy route forwards to, and how.
public struct UpstreamConfig: Sendable, Hashable {
    /// The table's name; `route[i]` for a route's own `proxy` URL.
    public var name: String
    public var servers: [UpstreamServer] = []
    public var connectTimeout = 0.0
    public var readTimeout = 0.0
    public var sendTimeout = 0.0
    public var maxFails = 0
    public var failTimeout = 0.0
    public var keepalive = 0
    /// The `Host` sent upstream; nil passes the client's on.
    public var host: String?
    public var bufferRequest = false
    /// Seconds an idle pooled connection is kept before berth closes it.
    public var keepaliveTimeout = 0.0
    /// Seconds an upgraded connection (WebSocket) may pass without a byte either way.
    public var upgradeTimeout = 0.0
    /// https servers: verify their certificate (chain and name).
    public var tlsVerify = true
    /// https servers: a PEM bundle of the CAs to trust instead of the system's.
    public var tlsCA: String?
    /// https servers: the name sent by SNI and checked against the certificate; nil: the
    /// server's host.
    public var tlsServerName: String?

    /// The keys that only make sense with an https server.
    static let tlsKeys = ["tls_verify", "tls_ca", "tls_server_name"]

    /// An upstream with the defaults.
    public init(name: String, servers: [UpstreamServer] = []) {
        self.name = name
        self.servers = servers
        Self.settings.applyDefaults(to: &self, mode: .serve)
    }

    /// The `[upstream.NAME]` settings, declared once for loading and docs.
    static let settings: [Setting<UpstreamConfig>] = [
        Setting(
            "servers", docType: "array of addresses",
            "Servers to forward to, in round-robin order: `\"http://HOST:PORT\"`, `\"https://HOST:PORT\"` or `\"unix:PATH\"`. Required.",
            apply: { (upstream, node, context) throws(ValueProblem) in
                guard case .array(let items) = node, !items.isEmpty else {
                    throw ValueProblem(problem: "must be a non-empty array of \"http(s)://HOST:PORT\" or \"unix:PATH\", got \(node.shown)")
                }
                upstream.servers = try items.enumerated().map { (i, item) throws(ValueProblem) in
                    guard case .string(let s) = item else {
                        throw ValueProblem(suffix: "[\(i)]", problem: "must be \"http(s)://HOST:PORT\" or \"unix:PATH\", got \(item.shown)")
                    }
                    do throws(InvalidValue) {
                        return try UpstreamServer.parse(s, directory: context.baseDirectory)
                    } catch {
                        throw ValueProblem(suffix: "[\(i)]", problem: error.problem)
                    }
                }
            }),
        Setting(
            "connect_timeout", .seconds(0.001...3600), \.connectTimeout, default: 5,
            "Seconds to connect to a server; then the next server is tried, and 504 when none is left."),
        Setting(
            "read_timeout", .seconds(0.001...86400), \.readTimeout, default: 60,
            "Seconds to wait for the response head, and between two reads of the response; 504 (or a cut-off body)."),
        Setting(
            "send_timeout", .seconds(0.001...86400), \.sendTimeout, default: 60,
            "Seconds a server may refuse to take more of the request body; then 504."),
        Setting(
            "max_fails", .integer(0...1000), \.maxFails, default: 1,
            "Failures (refused, timed out, broken response) within `fail_timeout` after which a server is left out for `fail_timeout`; 0 never leaves one out."),
        Setting(
            "fail_timeout", .seconds(0.001...86400), \.failTimeout, default: 10,
            "Seconds failures are counted over, and a failed server is left out for."),
        Setting(
            "keepalive", .integer(0...10000), \.keepalive, default: 32,
            "Idle keep-alive connections kept per server on each event loop (0 = a new connection per request)."),
        Setting(
            "keepalive_timeout", .seconds(0.001...86400), \.keepaliveTimeout, default: 60,
            "Seconds an idle kept-alive connection waits for its next request before berth closes it (nginx's `keepalive_timeout` in `upstream`)."),
        Setting(
            "upgrade_timeout", .seconds(0.001...86400), \.upgradeTimeout, default: 600,
            "Seconds an upgraded connection (WebSocket) may pass without a byte either way before berth closes both sides."),
        Setting(
            "tls_verify", .boolean, \.tlsVerify, default: true,
            "https servers: verify the certificate chain (system trust store, or `tls_ca`) and the server name; `false` accepts any certificate."),
        Setting(
            "tls_ca", .path, \.tlsCA, defaultText: "the system's trust store",
            "https servers: a PEM file of CA certificates to trust instead of the system's."),
        Setting(
            "tls_server_name", .text("string", expected: "a DNS name like \"api.internal\"", validate: serverNameProblem),
            \.tlsServerName, defaultText: "the server's host",
            "https servers: the name sent by SNI and checked against the certificate."),
        Setting(
            "host", .text("string", expected: "a Host header value like \"app.internal\""), \.host,
            defaultText: "the client's `Host`", "The `Host` header sent upstream."),
        Setting(
            "buffer_request", .boolean, \.bufferRequest, default: false,
            "Read the whole request body before contacting the server (for upstreams with few sync workers); up to 1 MiB in memory, beyond in an unlinked temporary file, at most `server.max_body_size`."),
    ]
}

/// Why `name` cannot be a TLS server name (SNI carries DNS names only).
func serverNameProblem(_ name: String) -> String? {
    let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
    guard !name.isEmpty, name.count <= 253, name.allSatisfy(allowed.contains), !name.hasPrefix("."), !name.hasPrefix("-")
    else { return "must be a DNS name like \"api.internal\", got \(quoted(name))" }
    if name.split(separator: ".").allSatisfy({ $0.allSatisfy(\.isNumber) }) {
        return "must be a DNS name, not an IP address (SNI cannot carry one; leave it out to check the address), got \(quoted(name))"
    }
    return nil
}

extension UpstreamConfig {
    /// Problems of settings that need an https server, for an upstream that has none;
    /// `present` are the keys the table set.
    func tlsProblems(present: Set<String>) -> [(key: String, problem: String)] {
        guard !servers.contains(where: \.isTLS) else { return [] }
        return Self.tlsKeys.filter(present.contains).map { ($0, "only applies to https:// servers") }
    }
}
