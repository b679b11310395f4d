import NIOCore

/// A request head as nghttp2 validated it (RFC 9113 §8.3: pseudo-header fields present,
/// once, before the others; no connection-specific fields; lowercase names).
public struct HTTP2RequestHead: Sendable {
    public var method: String
    public var scheme: String
    /// `:authority`, or the `host` field when the client sent that instead; "" if neither.
    public var authority: String
    public var path: String
    /// The regular fields in arrival order; `cookie` fields are joined with "; " into one
    /// (RFC 9113 §8.2.3), as an HTTP/1.1 app expects.
    public var headers: [(name: String, value: String)]

    public init(method: String, scheme: String, authority: String, path: String, headers: [(name: String, value: String)]) {
        self.method = method
        self.scheme = scheme
        self.authority = authority
        self.path = path
        self.headers = headers
    }

    /// The first field named `name` (lowercase).
    public func first(_ name: String) -> String? {
        headers.first { $0.name == name }?.value
    }
}

/// What happened on a session, in order. Events are collected while bytes are received or
/// sent and taken with `HTTP2Session.takeEvents()`.
public enum HTTP2Event {
    /// A client opened a stream. `endStream`: the request has no body.
    case request(streamID: Int32, head: HTTP2RequestHead, endStream: Bool)
    /// A request head larger than `maxHeaderListSize`: answer 431 (nothing of it was kept).
    case headersTooLarge(streamID: Int32)
    /// A server answered (client role). `endStream`: no body follows.
    case response(streamID: Int32, status: Int, headers: [(name: String, value: String)], endStream: Bool)
    /// Body bytes. They count against the flow-control windows until `consume` is called.
    case data(streamID: Int32, ByteBuffer)
    /// The peer finished its side of the stream, with trailer fields if it sent any.
    case end(streamID: Int32, trailers: [(name: String, value: String)])
    /// The peer reset the stream (RST_STREAM).
    case reset(streamID: Int32, HTTP2ErrorCode)
    /// The stream is closed for good (after both ends finished, or a reset either way).
    case closed(streamID: Int32, HTTP2ErrorCode)
    /// A stream's send queue fell below its low-water mark: its producer may resume.
    case writable(streamID: Int32)
    /// A PING arrived (the acknowledgement is already queued).
    case ping
    /// The peer sent GOAWAY.
    case goaway(lastStreamID: Int32, HTTP2ErrorCode)
}
