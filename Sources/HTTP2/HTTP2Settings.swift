/// What berth advertises in its SETTINGS frame and the limits it enforces on a connection.
public struct HTTP2Settings: Sendable, Equatable {
    /// SETTINGS_MAX_CONCURRENT_STREAMS: streams past it are refused (RST_STREAM REFUSED_STREAM).
    public var maxConcurrentStreams = 128
    /// SETTINGS_INITIAL_WINDOW_SIZE: request body bytes a client may send on one stream
    /// before berth's consumer has taken them.
    public var initialWindowSize = 256 * 1024
    /// The connection's receive window: request body bytes in flight on all streams
    /// together, so the most berth buffers per connection for slow consumers.
    public var connectionWindowSize = 1024 * 1024
    /// SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113 §6.5.2: names + values + 32 per field); a
    /// larger request head is answered 431 without being stored.
    public var maxHeaderListSize = 16 * 1024
    /// RST_STREAM frames (and streams nghttp2 reset as malformed) a client may cause within
    /// `resetWindow` seconds; one more and the connection ends with GOAWAY
    /// ENHANCE_YOUR_CALM (CVE-2023-44487, "rapid reset").
    public var maxResets = 200
    public var resetWindow = 10.0
    /// Response bytes queued per stream before its producer is asked to pause.
    public var streamSendBuffer = 128 * 1024

    public init() {}
}

/// HTTP/2 error codes (RFC 9113 §7).
public struct HTTP2ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let noError = HTTP2ErrorCode(rawValue: 0x0)
    public static let protocolError = HTTP2ErrorCode(rawValue: 0x1)
    public static let internalError = HTTP2ErrorCode(rawValue: 0x2)
    public static let flowControlError = HTTP2ErrorCode(rawValue: 0x3)
    public static let refusedStream = HTTP2ErrorCode(rawValue: 0x7)
    public static let cancel = HTTP2ErrorCode(rawValue: 0x8)
    public static let compressionError = HTTP2ErrorCode(rawValue: 0x9)
    public static let enhanceYourCalm = HTTP2ErrorCode(rawValue: 0xb)

    public var description: String {
        switch rawValue {
        case 0x0: return "NO_ERROR"
        case 0x1: return "PROTOCOL_ERROR"
        case 0x2: return "INTERNAL_ERROR"
        case 0x3: return "FLOW_CONTROL_ERROR"
        case 0x4: return "SETTINGS_TIMEOUT"
        case 0x5: return "STREAM_CLOSED"
        case 0x6: return "FRAME_SIZE_ERROR"
        case 0x7: return "REFUSED_STREAM"
        case 0x8: return "CANCEL"
        case 0x9: return "COMPRESSION_ERROR"
        case 0xa: return "CONNECT_ERROR"
        case 0xb: return "ENHANCE_YOUR_CALM"
        case 0xc: return "INADEQUATE_SECURITY"
        case 0xd: return "HTTP_1_1_REQUIRED"
        default: return "0x" + String(rawValue, radix: 16)
        }
    }
}
