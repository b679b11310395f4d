/// The `[server]` table: limits and timeouts of the HTTP front.
public struct ServerSettings: Sendable, Hashable {
    /// Where the access log goes.
    public var accessLog: AccessLog = .stdout
    public var accessLogFormat: AccessLogFormat = .combined
    /// Where front and gateway errors go, and from which level on.
    public var errorLog: ErrorLog = .stderr
    public var errorLogLevel: LogLevel = .info
    /// Requests one connection may carry (nginx's keepalive_requests); 0 for no limit.
    public var maxRequestsPerConnection = 0
    /// Open client connections berth accepts at once; 0 for no limit.
    public var maxConnections = 0
    /// Largest request head (request line and headers) in bytes; larger gets 431.
    public var maxHeaderSize = 0
    /// Largest request body in bytes, 0 for unlimited; larger gets 413.
    public var maxBodySize = 0
    /// Seconds an idle keep-alive connection stays open; 0 disables keep-alive.
    public var keepaliveTimeout = 0.0
    /// Seconds to receive a full request head; 0 for no limit.
    public var headerTimeout = 0.0
    /// Seconds allowed between two reads of a request body; 0 for no limit.
    public var bodyTimeout = 0.0
    /// Seconds in-flight requests get to finish after SIGTERM.
    public var shutdownGrace = 0.0
    /// Whether serve mode may run a Django app that has DEBUG = True.
    public var debugAllowed = false
    /// How berth's own log records are written: `text` lines, or one JSON object per line.
    public var logFormat: LogFormat = .text
    /// The Unix socket `berth status` and `berth reload` talk to.
    public var controlSocket: ControlSocket = .automatic
    /// Where `/metrics` (Prometheus text) and `/status` (JSON) are served; nil for nowhere.
    public var adminListen: ListenAddress?
    /// HTTP/2: on or off, SETTINGS and protections (HTTP2Config.swift).
    public var http2 = HTTP2Config()
    /// Static file lookups (open descriptors, stat results) each event loop keeps per route.
    public var openFileCache = 0
    /// Seconds a cached static file lookup is trusted before the path is resolved again.
    public var openFileCacheValid = 0.0

    /// The defaults of `mode`.
    public init(mode: Mode) {
        Self.settings.applyDefaults(to: &self, mode: mode)
    }

    /// The `[server]` settings, declared once for loading, flags and docs.
    static let settings: [Setting<ServerSettings>] = [
        Setting(
            "access_log", .accessLog, \.accessLog, default: .stdout, flag: "--access-log",
            "Access log: `\"-\"` for standard output, `\"off\"`, or a file to append to (reopened on SIGUSR1)."),
        Setting(
            "access_log_format", .choice(AccessLogFormat.self), \.accessLogFormat, default: .combined,
            "`\"combined\"`: nginx's combined format plus request time and id; `\"json\"`: one JSON object per line."),
        Setting(
            "error_log", .errorLog, \.errorLog, default: .stderr,
            "Where front and gateway errors go: `\"-\"` for standard error, or a file to append to (reopened on SIGUSR1)."),
        Setting(
            "error_log_level", .choice(LogLevel.self), \.errorLogLevel, default: .info,
            "The least severe messages the error log keeps; `BERTH_LOG_LEVEL` in the environment overrides it."),
        Setting(
            "max_header_size", .byteSize(1024...1_048_576), \.maxHeaderSize, default: 16384,
            "Largest request line plus headers, in bytes; a larger request head gets 431."),
        Setting(
            "max_body_size", .byteSize(0...(1 << 40)), \.maxBodySize, default: 100 << 20,
            "Largest request body, in bytes (0 = unlimited); a larger body gets 413."),
        Setting(
            "keepalive_timeout", .seconds(0...3600), \.keepaliveTimeout, default: 75,
            "Seconds an idle keep-alive connection is kept open; 0 disables keep-alive."),
        Setting(
            "header_timeout", .seconds(0...3600), \.headerTimeout, default: 30,
            "Seconds a client has to send a complete request head (0 = no limit)."),
        Setting(
            "body_timeout", .seconds(0...3600), \.bodyTimeout, default: 60,
            "Seconds allowed between two reads of a request body (0 = no limit)."),
        Setting(
            "max_requests_per_connection", .integer(0...100_000_000), \.maxRequestsPerConnection, default: 1000,
            "Requests one keep-alive connection may carry before berth closes it (0 = no limit), like nginx's `keepalive_requests`."),
        Setting(
            "max_connections", .integer(0...10_000_000), \.maxConnections, default: 10000,
            "Client connections open at once (0 = no limit); at the limit berth stops accepting until one closes."),
        Setting(
            "shutdown_grace", .seconds(0...3600), \.shutdownGrace, serve: 30, dev: 5,
            "Seconds in-flight requests get to finish after SIGTERM or SIGINT."),
        Setting(
            "debug_allowed", .boolean, \.debugAllowed, serve: false, dev: true,
            "Let serve mode run a Django app whose settings have `DEBUG = True`."),
        Setting(
            "log_format", .logFormat, \.logFormat, default: .text,
            "berth's own log on standard error: `\"text\"`, or `\"json\"` (one object per line; a traceback or stack stays in one record)."),
        Setting(
            "control_socket", .controlSocket, \.controlSocket, default: .automatic,
            "Unix socket for `berth status` and `berth reload`; `\"auto\"` is `/run/berth/berth.sock` for root, else under `$XDG_RUNTIME_DIR` or `/tmp/berth-UID/`."),
        Setting(
            "admin_listen", .optionalListenAddress, \.adminListen, default: nil,
            "Address of the admin listener serving `/metrics` (Prometheus text) and `/status` (JSON); keep it private."),
        Setting(
            "open_file_cache", .integer(0...1_000_000), \.openFileCache, default: 1024,
            "Static file lookups (open files and their stat) each event loop keeps per route; 0 turns the cache off."),
        Setting(
            "open_file_cache_valid", .seconds(0...3600), \.openFileCacheValid, default: 2,
            "Seconds a cached lookup is trusted before the path is looked up again (a cached file is still checked with fstat on every use)."),
    ] + http2Settings
}
