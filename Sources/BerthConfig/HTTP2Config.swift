/// The HTTP/2 keys of the `[server]` table (docs/http2.md explains each protection).
public struct HTTP2Config: Sendable, Hashable {
    /// Accept h2c with prior knowledge beside HTTP/1.1 on cleartext listeners.
    public var enabled = true
    public var maxConcurrentStreams = 0
    public var initialWindowSize = 0
    public var connectionWindowSize = 0
    public var maxHeaderListSize = 0
    public var maxResets = 0
    public var resetWindow = 0.0

    public init() {}
}

extension ServerSettings {
    /// The `http2*` settings, declared once for loading, flags and docs.
    static let http2Settings: [Setting<ServerSettings>] = [
        Setting(
            "http2", .boolean, \.http2.enabled, default: true,
            "Serve HTTP/2 with prior knowledge (h2c) beside HTTP/1.1 on cleartext listeners, told apart by the client's first bytes."),
        Setting(
            "http2_max_concurrent_streams", .integer(1...10_000), \.http2.maxConcurrentStreams, default: 128,
            "Streams one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused."),
        Setting(
            "http2_initial_window_size", .byteSize(16384...(1 << 30)), \.http2.initialWindowSize, default: 256 << 10,
            "Request body bytes a client may send on one stream before berth's consumer (the app) has taken them."),
        Setting(
            "http2_connection_window_size", .byteSize(65535...(1 << 30)), \.http2.connectionWindowSize, default: 1 << 20,
            "Request body bytes in flight on all streams of a connection together: the most berth buffers per connection."),
        Setting(
            "http2_max_header_list_size", .byteSize(1024...1_048_576), \.http2.maxHeaderListSize, default: 32768,
            "Largest HTTP/2 request head (names + values + 32 per field, after HPACK decoding); a larger one gets 431."),
        Setting(
            "http2_max_resets", .integer(1...1_000_000), \.http2.maxResets, default: 200,
            "Stream resets a client may cause per `http2_reset_window` before GOAWAY ENHANCE_YOUR_CALM (rapid reset)."),
        Setting(
            "http2_reset_window", .seconds(0.1...3600), \.http2.resetWindow, default: 10,
            "The window, in seconds, over which `http2_max_resets` is counted."),
    ]
}
