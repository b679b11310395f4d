/// How a route's path is compared with a request path.
public enum RouteMatch: String, Sendable, Hashable {
    /// The request path starts with the route path, at a segment boundary.
    case prefix
    /// The request path equals the route path.
    case exact
}

/// A directory served as static files.
public struct StaticRoute: Sendable, Hashable {
    /// The directory, absolute.
    public var root: String
    /// Files tried, in order, for a request that names a directory.
    public var index: [String]
    /// Whether responses say `Cache-Control: public, max-age=31536000, immutable` (for
    /// hashed file names such as Django's ManifestStaticFilesStorage produces).
    public var immutable: Bool
    /// Whether loading creates `root` when it is missing (for upload directories).
    public var create: Bool
    /// A `Cache-Control` value sent as is.
    public var cacheControl: String?
    /// Seconds responses may be cached (`Expires` and `Cache-Control: max-age`).
    public var expires: Int?
    /// List directories that have no index file instead of answering 403.
    public var autoindex = false
    /// Follow symlinks that lead out of `root` (otherwise 403).
    public var followSymlinks = false
    /// Serve `NAME.br`/`NAME.gz` beside `NAME` to clients that accept them.
    public var precompressed = true
    /// Content types by extension, added to (or overriding) the built-in table.
    public var types: [String: String] = [:]
    /// The app that gets requests for which no file exists.
    public var fallback: String?

    public init(root: String, index: [String] = ["index.html"], immutable: Bool = false, create: Bool = false) {
        self.root = root
        self.index = index
        self.immutable = immutable
        self.create = create
    }
}

/// What a matching request goes to.
public enum RouteTarget: Sendable, Hashable {
    case `static`(StaticRoute)
    /// The app with this name.
    case app(name: String)
    /// A reverse proxy to these upstream servers.
    case proxy(UpstreamConfig)
}

/// One `[[route]]`: requests whose host and path match go to the target.
public struct Route: Sendable, Hashable {
    /// A URL path starting with `/`.
    public var path: String
    public var match: RouteMatch
    public var target: RouteTarget
    /// Host names (lowercased) the route serves: exact, or `*.example.com` for any name
    /// below example.com. Empty: the default server, for hosts no route names.
    public var hosts: [String]
    /// Fields added to every response of the route.
    public var headers: [String: String]

    public init(
        path: String, match: RouteMatch = .prefix, target: RouteTarget, hosts: [String] = [],
        headers: [String: String] = [:]
    ) {
        self.path = path
        self.match = match
        self.target = target
        self.hosts = hosts
        self.headers = headers
    }

    /// Whether `requestPath` falls under this route. A prefix ending in `/` matches any path
    /// that starts with it; a prefix without one matches itself and the paths below it, so
    /// `/static` matches `/static` and `/static/app.css` but not `/staticfoo`.
    public func matches(_ requestPath: String) -> Bool {
        switch match {
        case .exact:
            return requestPath == path
        case .prefix:
            // Bytes, as nginx compares them (String's hasPrefix compares Characters); and
            // without building `path + "/"`: this runs for every request.
            guard requestPath.utf8.starts(with: path.utf8) else { return false }
            if path.utf8.last == UInt8(ascii: "/") { return true }
            let rest = requestPath.utf8.dropFirst(path.utf8.count)
            return rest.isEmpty || rest.first == UInt8(ascii: "/")
        }
    }

    /// Hashes the path and match only (equal routes still compare every field): the router
    /// looks a route up per request, and a static route's settings are costly to hash.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(path)
        hasher.combine(match)
    }
}

/// The routes of a config, matched like nginx's server blocks and locations: first the
/// host — an exact name, else the longest matching `*.suffix` wildcard, else the routes
/// that name no host (the default server) — then, among that host's routes, an exact path
/// first and then the longest matching prefix.
public struct RouteTable: Sendable, Hashable {
    /// The routes in declaration order.
    public let routes: [Route]
    private let defaultServer: PathTable
    private let exactHosts: [String: PathTable]
    /// Wildcard hosts by suffix (`.example.com`), longest first.
    private let wildcardHosts: [(suffix: String, table: PathTable)]

    public init(_ routes: [Route] = []) {
        self.routes = routes
        defaultServer = PathTable(routes, routes.indices.filter { routes[$0].hosts.isEmpty })
        var byHost: [String: [Int]] = [:]
        for (index, route) in routes.enumerated() {
            for host in route.hosts { byHost[host, default: []].append(index) }
        }
        exactHosts = byHost.filter { !$0.key.hasPrefix("*.") }.mapValues { PathTable(routes, $0) }
        wildcardHosts = byHost.filter { $0.key.hasPrefix("*.") }
            .map { (suffix: String($0.key.dropFirst()), table: PathTable(routes, $0.value)) }
            .sorted { $0.suffix.count > $1.suffix.count }
    }

    /// The route for a request to `host` (the Host header; nil or unknown: the default
    /// server) and `path` (percent-decoded, without the query), or nil when none matches
    /// and the request gets 404.
    public func match(host: String? = nil, path: String) -> Route? {
        matchIndex(host: host, path: path).map { routes[$0] }
    }

    /// `match`, as the route's index in `routes` (what a router keeps its per-route state by).
    public func matchIndex(host: String? = nil, path: String) -> Int? {
        guard let host, !exactHosts.isEmpty || !wildcardHosts.isEmpty else { return defaultServer.match(path) }
        let name = Self.normalizedHost(host)
        if let table = exactHosts[name] { return table.match(path) }
        if let wildcard = wildcardHosts.first(where: { name.hasSuffix($0.suffix) && name.count > $0.suffix.count }) {
            return wildcard.table.match(path)
        }
        return defaultServer.match(path)
    }

    /// A Host header's name: lowercased, without port or trailing dot.
    static func normalizedHost(_ host: String) -> String {
        var name = Substring(host)
        if name.hasPrefix("["), let close = name.firstIndex(of: "]") {
            name = name[...close]
        } else if let colon = name.firstIndex(of: ":") {
            name = name[..<colon]
        }
        if name.hasSuffix(".") { name = name.dropLast() }
        return name.lowercased()
    }

    public var isEmpty: Bool { routes.isEmpty }

    public static func == (lhs: RouteTable, rhs: RouteTable) -> Bool { lhs.routes == rhs.routes }
    public func hash(into hasher: inout Hasher) { hasher.combine(routes) }
}

/// One server's routes by path: exact paths, then prefixes longest first. Routes are kept
/// by their index in the config's list.
private struct PathTable: Sendable {
    let routes: [Route]
    let exact: [String: Int]
    /// Prefix routes, longest path first; equal lengths keep declaration order.
    let prefixes: [Int]

    init(_ routes: [Route], _ indices: [Int]) {
        self.routes = routes
        var exact: [String: Int] = [:]
        for index in indices where routes[index].match == .exact && exact[routes[index].path] == nil {
            exact[routes[index].path] = index
        }
        self.exact = exact
        self.prefixes = indices
            .filter { routes[$0].match == .prefix }
            .sorted { (routes[$0].path.count, -$0) > (routes[$1].path.count, -$1) }
    }

    func match(_ path: String) -> Int? {
        if let index = exact[path] { return index }
        return prefixes.first { routes[$0].matches(path) }
    }
}

/// A `[[route]]` table as read, before its target is known to be valid.
struct RouteDraft {
    var path: String?
    var match: RouteMatch = .prefix
    var staticRoot: String?
    var app: String?
    var proxy: String?
    var upstream: String?
    var hosts: [String] = []
    var headers: [String: String] = [:]
    var index: [String] = ["index.html"]
    var immutable = false
    var create = false
    var cacheControl: String?
    var expires: Double?
    var autoindex = false
    var followSymlinks = false
    var precompressed = true
    var types: [String: String] = [:]
    var fallback: String?

    /// Keys that only make sense for a static route.
    static let staticOnlyKeys = [
        "index", "immutable", "create", "cache_control", "expires", "autoindex", "follow_symlinks", "precompressed",
        "types", "fallback",
    ]

    /// The `[[route]]` settings, declared once for loading and docs.
    static let settings: [Setting<RouteDraft>] = [
        Setting(
            "path", .text("URL path", expected: "a URL path like \"/static/\"", validate: urlPathProblem),
            \.path, required: true, "URL path the route serves; must start with `/`."),
        Setting(
            "match", .routeMatch, \.match, default: .prefix,
            "`\"prefix\"`: the path and everything below it; `\"exact\"`: only the path itself."),
        Setting(
            "static", .path, \.staticRoot, defaultText: "—", flag: "--static",
            "Directory to serve files from; set this, `app`, `proxy` or `upstream`."),
        Setting(
            "app", .text("app name", expected: "the name of an [app.NAME] table"), \.app, defaultText: "—",
            "Name of the `[app.NAME]` that handles these requests; set this, `static`, `proxy` or `upstream`."),
        Setting(
            "proxy", .text("URL", expected: "an upstream address like \"http://127.0.0.1:9000\" or \"unix:/run/app.sock\""),
            \.proxy, defaultText: "—",
            "Reverse proxy to one server, `\"http://HOST:PORT\"` or `\"unix:PATH\"`, with the `[upstream.NAME]` defaults."),
        Setting(
            "upstream", .text("upstream name", expected: "the name of an [upstream.NAME] table"), \.upstream,
            defaultText: "—", "Reverse proxy to the servers of this `[upstream.NAME]`."),
        Setting(
            "host", .hostPatterns, \.hosts, default: [],
            "Host names the route serves (`\"example.com\"`, `\"*.example.com\"`, or an array); none: the default server."),
        Setting(
            "headers", .responseHeaders, \.headers, default: [:],
            "Fields added to every response of the route, like `{ \"X-Frame-Options\" = \"DENY\" }`."),
        Setting(
            "index", .strings, \.index, default: ["index.html"],
            "Static routes: files tried, in order, when a request names a directory."),
        Setting(
            "immutable", .boolean, \.immutable, default: false,
            "Static routes: mark responses cacheable forever (for hashed file names)."),
        Setting(
            "create", .boolean, \.create, default: false,
            "Static routes: create the directory if it is missing (for uploads such as media)."),
        Setting(
            "cache_control", .text("string", expected: "a Cache-Control value like \"public, max-age=3600\"",
                                   validate: headerValueProblem),
            \.cacheControl, defaultText: "—", "Static routes: a `Cache-Control` value sent with every file."),
        Setting(
            "expires", .seconds(0...315_360_000), \.expires, defaultText: "—",
            "Static routes: seconds a file may be cached — `Expires` and `Cache-Control: max-age` (nginx's `expires`)."),
        Setting(
            "autoindex", .boolean, \.autoindex, default: false,
            "Static routes: list a directory that has no index file (otherwise 403)."),
        Setting(
            "follow_symlinks", .boolean, \.followSymlinks, default: false,
            "Static routes: follow symlinks that lead out of the directory (otherwise 403)."),
        Setting(
            "precompressed", .boolean, \.precompressed, default: true,
            "Static routes: serve `NAME.br` / `NAME.gz` beside `NAME` to clients that accept them."),
        Setting(
            "types", .mimeTypes, \.types, default: [:],
            "Static routes: content types by file extension, added to the built-in table (`{ webp = \"image/webp\" }`)."),
        Setting(
            "fallback", .text("app name", expected: "the name of an [app.NAME] table"), \.fallback, defaultText: "—",
            "Static routes: the app that gets a request when no file exists (like nginx's `try_files $uri @app`)."),
    ]
}

/// A `[[listen]]` table as read.
struct ListenDraft {
    var bind: ListenAddress?
    var tlsCertificate: String?
    var tlsKey: String?
    var tlsSNI: [CertificatePair] = []
    var alpn: [String] = supportedApplicationProtocols
    var redirectHTTPS: Int?

    static let settings: [Setting<ListenDraft>] = [
        Setting(
            "bind", .listenAddress, \.bind, required: true, flag: "--bind",
            "`HOST:PORT`, `[IPv6]:PORT`, `:PORT` (all interfaces) or `unix:PATH`."),
        Setting(
            "tls_certificate", .path, \.tlsCertificate, defaultText: "— (plain HTTP)",
            "PEM certificate chain (leaf first): the listener speaks TLS. Needs `tls_key`; reloaded on SIGHUP."),
        Setting(
            "tls_key", .path, \.tlsKey, defaultText: "—", "PEM private key of `tls_certificate`."),
        Setting(
            "tls_sni", .certificatePairs, \.tlsSNI, default: [],
            "More certificates, `[{ certificate = \"FILE\", key = \"FILE\" }]`, each chosen when the client asks (SNI) for a DNS name in its subjectAltName."),
        Setting(
            "alpn", .applicationProtocols, \.alpn, default: supportedApplicationProtocols,
            "TLS listeners: application protocols offered by ALPN, in order of preference."),
        Setting(
            "redirect_https", .integer(1...65535), \.redirectHTTPS, defaultText: "—",
            "Answer every request on this (plain) listener with a 301 to the same host and path over https on this port."),
    ]
}
