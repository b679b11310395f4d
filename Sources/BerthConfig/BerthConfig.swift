import Foundation

/// A whole berth configuration: what to listen on, which apps to run, and which requests go
/// where. Loaded from TOML (`load`), built from command-line flags (`fromOverrides`), or both
/// (`load(path:mode:overrides:)`; flags win).
public struct BerthConfig: Sendable, Equatable {
    public var server: ServerSettings
    public var listeners: [ListenAddress]
    /// TLS and redirects of the `[[listen]]` tables, by address (`--bind` addresses have none).
    public var listenerOptions: [ListenAddress: ListenerOptions] = [:]
    /// The apps, ordered by name.
    public var apps: [AppConfig]
    public var routes: RouteTable
    /// The `[upstream.NAME]` tables, ordered by name (routes hold their own copies).
    public var upstreams: [UpstreamConfig] = []
    /// The default interpreter for apps that set none.
    public var python: String?
    /// `[mime]`: content types by extension for every static route, over the built-in
    /// table; a route's own `types` win over it.
    public var mimeTypes: [String: String] = [:]
    /// The config file as it was named when loaded; nil when built from flags alone.
    public var sourcePath: String?
    /// Where each checked value came from (file and key, or flag), so filesystem errors name
    /// what the user wrote. Keyed by `CheckID`.
    var origins: [String: Origin] = [:]

    public init(
        server: ServerSettings, listeners: [ListenAddress] = [], apps: [AppConfig] = [],
        routes: RouteTable = RouteTable(), python: String? = nil, sourcePath: String? = nil
    ) {
        self.server = server
        self.listeners = listeners
        self.apps = apps.sorted { $0.name < $1.name }
        self.routes = routes
        self.python = python
        self.sourcePath = sourcePath
    }

    /// An empty configuration with the defaults of `mode`.
    public init(mode: Mode) {
        self.init(server: ServerSettings(mode: mode))
    }

    /// The app named `name`.
    public func app(named name: String) -> AppConfig? {
        apps.first { $0.name == name }
    }

    public static func == (lhs: BerthConfig, rhs: BerthConfig) -> Bool {
        lhs.server == rhs.server && lhs.listeners == rhs.listeners && lhs.apps == rhs.apps
            && lhs.routes == rhs.routes && lhs.python == rhs.python && lhs.sourcePath == rhs.sourcePath
            && lhs.upstreams == rhs.upstreams && lhs.listenerOptions == rhs.listenerOptions
            && lhs.mimeTypes == rhs.mimeTypes
    }

    /// The top-level keys: two settings, and the five sections.
    static let settings: [Setting<BerthConfig>] = [
        Setting(
            "python", .program, \.python, defaultText: "`python3` on PATH", flag: "--python",
            "Python interpreter for every app that does not set its own."),
        Setting(
            "mime", .mimeTypes, \.mimeTypes, default: [:],
            "`[mime]`: content types by file extension for every static route, added to (or overriding) the built-in table, like `webp2 = \"image/webp2\"`; a route's `types` win."),
    ]
    static let sections = ["server", "listen", "app", "upstream", "route"]

    // MARK: Loading

    /// Reads, validates and checks the config file at `path`, then applies `overrides`
    /// (flags win over the file). Relative paths in the file are resolved against its
    /// directory. Every problem found is reported, each naming its key.
    public static func load(
        path: String, mode: Mode, overrides: ConfigOverrides? = nil
    ) throws(ConfigErrors) -> BerthConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file"
            throw ConfigErrors([ConfigError(file: path, key: "", problem: reason)])
        }
        let absolute = resolvePath(path, against: FileManager.default.currentDirectoryPath)
        let directory = (absolute as NSString).deletingLastPathComponent
        var config = try parse(toml: text, baseDirectory: directory, mode: mode, sourceName: path)
        if let overrides {
            config = try config.applyingWithoutChecks(overrides, mode: mode)
        }
        try config.validateFilesystem()
        return config
    }

    /// Parses and validates TOML text without looking at the filesystem (see
    /// `validateFilesystem()`). `sourceName` is the file name errors start with.
    public static func parse(
        toml: String, baseDirectory: String, mode: Mode, sourceName: String? = nil
    ) throws(ConfigErrors) -> BerthConfig {
        let document: [(key: String, value: TOMLNode)]
        do {
            document = try TOMLNode.parseDocument(toml)
        } catch {
            throw ConfigErrors([
                ConfigError(file: sourceName, key: "", problem: error.message, line: error.line, column: error.column)
            ])
        }
        let base = resolvePath(baseDirectory, against: FileManager.default.currentDirectoryPath)
        var reader = ConfigReader(file: sourceName, baseDirectory: base, mode: mode)
        reader.read(document)
        try reader.errors.throwIfAny()
        return reader.config
    }

    /// Checks what serving needs beyond a valid config: somewhere to listen and something to
    /// serve. Separate from loading because `-b` may supply the address.
    public func validateForServing() throws(ConfigErrors) {
        var errors = ErrorCollector(file: sourcePath)
        if listeners.isEmpty {
            errors.add("listen", "no address to listen on: add a [[listen]] table or pass --bind HOST:PORT")
        }
        if routes.isEmpty {
            errors.add("route", "nothing to serve: add an [app.NAME] table or a [[route]]")
        }
        try errors.throwIfAny()
    }

    /// When no route sends requests to an app and there is exactly one app, adds `/` → that
    /// app (unless `/` is taken). With several apps and no app route, returns a problem.
    mutating func addDefaultRoute() -> String? {
        let routesApp = routes.routes.contains { if case .app = $0.target { true } else { false } }
        guard !routesApp, !apps.isEmpty else { return nil }
        guard apps.count == 1 else {
            return "no route sends requests to any app; add a [[route]] with app = \"NAME\" for each of "
                + apps.map { quoted($0.name) }.joined(separator: ", ")
        }
        if !routes.routes.contains(where: { $0.path == "/" && $0.match == .prefix }) {
            routes = RouteTable(routes.routes + [Route(path: "/", target: .app(name: apps[0].name))])
        }
        return nil
    }
}

/// Where a value came from: a file and key, or a flag (file nil).
struct Origin: Sendable, Equatable {
    var file: String?
    var key: String
}

/// Identities of values the filesystem check looks at, stable across overrides.
enum CheckID {
    static let python = "python"
    static let accessLog = "server.access_log"
    static func chdir(_ app: String) -> String { "app.\(app).chdir" }
    static func python(_ app: String) -> String { "app.\(app).python" }
    static func staticRoot(_ route: Route) -> String {
        "route \(route.match.rawValue) \(route.path)" + (route.hosts.isEmpty ? "" : " host \(route.hosts.joined(separator: ","))")
    }
    static func listen(_ address: ListenAddress) -> String { "listen \(address)" }
}
