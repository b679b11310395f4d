import NIOCore

/// What a static request asks for, whatever HTTP version carried it: the method and the
/// header fields the static responder reads.
public struct StaticRequest: Sendable {
    public var isHead: Bool
    /// The path as sent (percent-encoded) and the query, for a redirect's Location.
    public var rawPath: Substring
    public var query: Substring
    public var ifMatch: String?
    public var ifNoneMatch: String?
    public var ifModifiedSince: String?
    public var ifUnmodifiedSince: String?
    public var range: String?
    public var ifRange: String?
    public var acceptEncoding: String?

    public init(isHead: Bool, rawPath: Substring, query: Substring = "") {
        self.isHead = isHead
        self.rawPath = rawPath
        self.query = query
    }

    /// Keeps `value` if `name` is one of the fields the responder reads (any case; a
    /// repeated field is joined with ", " as RFC 9110 §5.3 allows for list fields).
    public mutating func take(name: String, value: String) {
        var name = name
        guard let field = name.withUTF8({ Field(UnsafeRawBufferPointer($0)) }) else { return }
        take(field, value)
    }

    /// `take(name:value:)` for a field as bytes: a String is made only for a field kept.
    mutating func take(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        guard let field = Field(name) else { return }
        take(field, String(decoding: value, as: UTF8.self))
    }

    /// The fields the responder reads.
    private enum Field {
        case range, ifMatch, ifRange, ifNoneMatch, acceptEncoding, ifModifiedSince, ifUnmodifiedSince

        init?(_ name: UnsafeRawBufferPointer) {
            switch name.count {
            case 5 where name.equalsIgnoringCase("range"): self = .range
            case 8 where name.equalsIgnoringCase("if-match"): self = .ifMatch
            case 8 where name.equalsIgnoringCase("if-range"): self = .ifRange
            case 13 where name.equalsIgnoringCase("if-none-match"): self = .ifNoneMatch
            case 15 where name.equalsIgnoringCase("accept-encoding"): self = .acceptEncoding
            case 17 where name.equalsIgnoringCase("if-modified-since"): self = .ifModifiedSince
            case 19 where name.equalsIgnoringCase("if-unmodified-since"): self = .ifUnmodifiedSince
            default: return nil
            }
        }
    }

    private mutating func take(_ field: Field, _ value: String) {
        func set(_ field: inout String?) { field = field.map { $0 + ", " + value } ?? value }
        switch field {
        case .range: set(&range)
        case .ifMatch: set(&ifMatch)
        case .ifRange: ifRange = value
        case .ifNoneMatch: set(&ifNoneMatch)
        case .acceptEncoding: set(&acceptEncoding)
        case .ifModifiedSince: ifModifiedSince = value
        case .ifUnmodifiedSince: ifUnmodifiedSince = value
        }
    }
}

extension String.UTF8View {
    /// Compares with a lowercase ASCII `other`, ignoring the case of this view's letters.
    func equalsIgnoringCase(_ other: StaticString) -> Bool {
        // Native and small strings lend their bytes: no index arithmetic per byte.
        if let equal = withContiguousStorageIfAvailable({ UnsafeRawBufferPointer($0).equalsIgnoringCase(other) }) {
            return equal
        }
        guard count == other.utf8CodeUnitCount else { return false }
        var i = 0
        let base = other.utf8Start
        for byte in self {
            if asciiLowered(byte) != base[i] { return false }
            i += 1
        }
        return true
    }
}

extension UnsafeRawBufferPointer {
    /// Compares with a lowercase ASCII `other`, ignoring the case of these bytes' letters.
    func equalsIgnoringCase(_ other: StaticString) -> Bool {
        guard count == other.utf8CodeUnitCount else { return false }
        let base = other.utf8Start
        for i in 0..<count where asciiLowered(self[i]) != base[i] { return false }
        return true
    }
}

/// An ASCII capital letter as its small letter; any other byte as it is.
@inline(__always)
func asciiLowered(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }

/// The response to a static request, as data: status, header fields and what the body is.
/// The HTTP/1 writer (and later the HTTP/2 one) only carries it out.
public struct StaticAnswer: Sendable {
    /// A piece of a body: bytes, or a region of an open file (sent with sendfile).
    public enum Chunk: Sendable {
        case bytes(String)
        case file(OpenFile, offset: Int64, length: Int64)
    }

    public enum Body: Sendable {
        case none
        /// berth's own HTML page for the status (the writer renders it and sets its length).
        case errorPage
        case bytes(String)
        case file(OpenFile, offset: Int64, length: Int64)
        /// `multipart/byteranges`: part headers as bytes between file regions.
        case parts([Chunk])
    }

    public var status: Int
    /// Header fields other than Date, Server and connection management. Content-Length is
    /// included for every body but `errorPage`.
    public var headers: [(name: String, value: String)]
    public var body: Body
    /// No file answers the request (missing, or a directory without index file): a route's
    /// fallback app gets it instead.
    public var noFile = false
    /// The HTTP/1.1 status line and `headers`, already rendered (each line ending in CRLF),
    /// when they are a file's ready-made set (`StaticFile.IdentityFields`): the HTTP/1 writer
    /// copies them and adds Date and the connection's fields.
    public var http11Head: ByteBuffer?

    public init(status: Int, headers: [(name: String, value: String)] = [], body: Body = .none) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// Whether the body includes a file region (sent with sendfile).
    public var sendsFile: Bool {
        switch body {
        case .file(_, _, let length): return length > 0
        case .parts: return true
        case .none, .errorPage, .bytes: return false
        }
    }

    /// The first value of `name` (case-insensitive); for tests and logs.
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }
}
