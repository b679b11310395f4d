/// An upstream server address: `http://HOST:PORT` (port 80 when left out) or `unix:PATH`.
public enum UpstreamServer: Sendable, Hashable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    /// Parses `http://HOST[:PORT]`, `http://[IPv6][:PORT]` or `unix:PATH` (a relative path
    /// is resolved against `directory`).
    static func parse(_ text: String, directory: String) throws(InvalidValue) -> UpstreamServer {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw InvalidValue("unix: needs a socket path, like unix:/run/app.sock") }
            return .unix(path: resolvePath(path, against: directory))
        }
        guard text.hasPrefix("http://") else {
            if text.hasPrefix("https://") {
                throw InvalidValue("https upstreams are not supported; use http://HOST:PORT or unix:PATH, got \(quoted(text))")
            }
            throw InvalidValue("must be http://HOST:PORT or unix:PATH, got \(quoted(text))")
        }
        var authority = String(text.dropFirst(7))
        if authority.hasSuffix("/") { authority.removeLast() }
        guard !authority.contains("/"), !authority.contains("?") else {
            throw InvalidValue("must be http://HOST:PORT without a path (the request's path is passed on as is), got \(quoted(text))")
        }
        let address: ListenAddress
        do throws(InvalidValue) {
            let hasPort = authority.hasPrefix("[") ? authority.contains("]:") : authority.contains(":")
            address = try ListenAddress.parse(hasPort ? authority : authority + ":80")
        } catch {
            throw InvalidValue("must be http://HOST:PORT or unix:PATH: \(error.problem)")
        }
        guard case .tcp(let host, let port) = address, !authority.hasPrefix(":"), port != 0 else {
            throw InvalidValue("must name a host and a port from 1 to 65535, like http://127.0.0.1:9000, got \(quoted(text))")
        }
        return .tcp(host: host, port: port)
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
        case .unix(let path): "unix:\(path)"
        }
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
            "Servers to forward to, in round-robin order: `\"http://HOST:PORT\"` or `\"unix:PATH\"`. Required.",
            apply: { (upstream, node, context) throws(ValueProblem) in
                guard case .array(let items) = node, !items.isEmpty else {
                    throw ValueProblem(problem: "must be a non-empty array of \"http://HOST:PORT\" or \"unix:PATH\", got \(node.shown)")
                }
                upstream.servers = try items.enumerated().map { (i, item) throws(ValueProblem) in
                    guard case .string(let s) = item else {
                        throw ValueProblem(suffix: "[\(i)]", problem: "must be \"http://HOST:PORT\" or \"unix:PATH\", got \(item.shown)")
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
            "host", .text("string", expected: "a Host header value like \"app.internal\""), \.host,
            defaultText: "the client's `Host`", "The `Host` header sent upstream."),
        Setting(
            "buffer_request", .boolean, \.bufferRequest, default: false,
            "Read the whole request body before contacting the server (for upstreams with few sync workers); up to 1 MiB in memory, beyond in an unlinked temporary file, at most `server.max_body_size`."),
    ]
}
