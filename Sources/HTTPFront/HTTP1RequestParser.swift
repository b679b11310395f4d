import NIOCore
import NIOHTTP1

/// Why a request could not be parsed, as the status berth answers with (the connection
/// then closes: its framing can no longer be trusted, RFC 9112 §2.2).
struct HTTP1ParseError: Error, Equatable, CustomStringConvertible {
    /// 400, 414, 431 or 501.
    let status: Int
    /// What was wrong, for tests and the error log.
    let reason: String

    static func bad(_ reason: String) -> HTTP1ParseError { HTTP1ParseError(status: 400, reason: reason) }

    var description: String { "\(status): \(reason)" }
}

/// A strict, incremental HTTP/1.1 request parser (RFC 9112) working on the connection's
/// input buffer: it consumes what it returns and leaves the rest (the next pipelined
/// request) for the next call. It never reads ahead into a request the caller has not
/// asked for, so the caller decides when the next request begins.
///
/// Rejected with 400: bare CR or LF line ends, obs-fold, whitespace before a field's colon,
/// control characters, Content-Length with Transfer-Encoding, repeated or non-numeric
/// Content-Length, a Transfer-Encoding whose last coding is not chunked, bad chunk framing.
/// A request line longer than `maxHeaderSize` gets 414, a field block longer than it (or more
/// than `maxFieldCount` fields) 431, a transfer coding other than chunked 501. An HTTP
/// version other than 1.0 and 1.1 is a 400.
struct HTTP1RequestParser {
    enum Event {
        /// A request head, how its body is framed (`.none`: no body), and what the front
        /// asks of every head.
        /// The head's fields are a slice of the input buffer (no copy).
        case head(HTTP1RequestHead, Framing, RequestFacts)
        /// A slice of the input buffer (no copy).
        case body(ByteBuffer)
        case end
    }

    private enum State {
        case head
        /// Content-Length bytes still to come.
        case body(remaining: Int64)
        case chunkSize
        case chunkData(remaining: Int64)
        /// The CRLF after a chunk's data.
        case chunkEnd
        case trailers
        /// After an error: nothing more is parsed.
        case failed
    }

    let maxHeaderSize: Int
    let maxFieldCount: Int
    private var state = State.head
    /// How far the input was already searched for the end of the head (a head that arrives
    /// in pieces is not rescanned from its start each time).
    private var scanned = 0

    static let maxChunkLineSize = 4096

    init(maxHeaderSize: Int, maxFieldCount: Int = 256) {
        self.maxHeaderSize = maxHeaderSize
        self.maxFieldCount = maxFieldCount
    }

    /// Between requests: the next call reads a request head.
    var expectsHead: Bool {
        if case .head = state { return true }
        return false
    }

    /// The next event from `buffer`, or nil when more bytes are needed.
    mutating func next(_ buffer: inout ByteBuffer) throws(HTTP1ParseError) -> Event? {
        do throws(HTTP1ParseError) {
            return try step(&buffer)
        } catch {
            state = .failed
            throw error
        }
    }

    private mutating func step(_ buffer: inout ByteBuffer) throws(HTTP1ParseError) -> Event? {
        switch state {
        case .failed:
            return nil
        case .head:
            guard let (head, framing, facts) = try parseHead(&buffer) else { return nil }
            switch framing {
            case .none: state = .body(remaining: 0)
            case .length(let length): state = .body(remaining: length)
            case .chunked: state = .chunkSize
            }
            return .head(head, framing, facts)
        case .body(let remaining):
            if remaining == 0 {
                state = .head
                return .end
            }
            guard buffer.readableBytes > 0 else { return nil }
            let count = Int(min(Int64(buffer.readableBytes), remaining))
            state = .body(remaining: remaining - Int64(count))
            return .body(buffer.readSlice(length: count)!)
        case .chunkSize:
            guard let line = try readLine(&buffer, limit: Self.maxChunkLineSize, tooLong: .bad("chunk size line too long")) else {
                return nil
            }
            let size = try Self.chunkSize(line)
            if size == 0 {
                state = .trailers
                scanned = 0
                return try step(&buffer)
            }
            state = .chunkData(remaining: size)
            return try step(&buffer)
        case .chunkData(let remaining):
            guard buffer.readableBytes > 0 else { return nil }
            let count = Int(min(Int64(buffer.readableBytes), remaining))
            state = remaining == Int64(count) ? .chunkEnd : .chunkData(remaining: remaining - Int64(count))
            return .body(buffer.readSlice(length: count)!)
        case .chunkEnd:
            guard buffer.readableBytes >= 2 else { return nil }
            guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw .bad("chunk data not followed by CRLF") }
            state = .chunkSize
            return try step(&buffer)
        case .trailers:
            // Trailer fields are checked for syntax and dropped (nothing downstream takes them).
            while true {
                guard let line = try readLine(&buffer, limit: maxHeaderSize, tooLong: HTTP1ParseError(status: 431, reason: "trailer section too large")) else {
                    return nil
                }
                if line.isEmpty {
                    state = .head
                    return .end
                }
                try HTTP1Head.checkField(line)
            }
        }
    }

    /// One CRLF-terminated line (without its CRLF), consumed; nil when it has not all arrived.
    private func readLine(_ buffer: inout ByteBuffer, limit: Int, tooLong: HTTP1ParseError) throws(HTTP1ParseError) -> [UInt8]? {
        let view = buffer.readableBytesView
        guard let lf = view.firstIndex(of: 0x0A) else {
            if view.count > limit + 1 { throw tooLong }
            return nil
        }
        let length = lf - view.startIndex
        guard length > 0, view[lf - 1] == 0x0D else { throw .bad("bare LF") }
        if length - 1 > limit { throw tooLong }
        let line = buffer.readBytes(length: length - 1)!
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }

    private static func chunkSize(_ line: [UInt8]) throws(HTTP1ParseError) -> Int64 {
        var size: Int64 = 0
        var digits = 0
        var index = 0
        while index < line.count, let value = hexValue(line[index]) {
            guard digits < 15 else { throw .bad("chunk size too large") }
            size = size << 4 | Int64(value)
            digits += 1
            index += 1
        }
        guard digits > 0 else { throw .bad("invalid chunk size") }
        // chunk-ext: BWS ";" name [ "=" value ], whose syntax is not used: only checked for
        // what must never appear in a line (controls other than HTAB, a bare CR).
        if index < line.count {
            var rest = line[index...].drop { $0 == 0x20 || $0 == 0x09 }
            guard rest.first == UInt8(ascii: ";") else { throw .bad("invalid chunk size") }
            rest = rest.dropFirst()
            for byte in rest where byte < 0x20 && byte != 0x09 || byte == 0x7F { throw .bad("control character in chunk extension") }
        }
        return size
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }

    // MARK: - Head

    enum Framing: Equatable {
        case none
        case length(Int64)
        case chunked
    }

    private mutating func parseHead(_ buffer: inout ByteBuffer) throws(HTTP1ParseError) -> (HTTP1RequestHead, Framing, RequestFacts)? {
        // RFC 9112 §2.2: empty lines before a request line are ignored (a client may send a
        // CRLF after a body).
        while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
            buffer.moveReaderIndex(forwardBy: 2)
            scanned = 0
        }
        let found: Int? = buffer.withUnsafeReadableBytes { bytes in
            HTTP1Head.endOfHead(bytes, from: scanned)
        }
        guard let end = found else {
            scanned = max(0, buffer.readableBytes - 3)
            try checkIncompleteHead(buffer)
            return nil
        }
        scanned = 0
        let (maxHeaderSize, maxFieldCount) = (self.maxHeaderSize, self.maxFieldCount)
        let result = buffer.withUnsafeReadableBytes { bytes -> Result<HTTP1Head.Parsed, HTTP1ParseError> in
            if bytes[end] == 0x0A { return .failure(.bad("bare LF")) }
            return Result { () throws(HTTP1ParseError) in
                try HTTP1Head.parse(
                    UnsafeRawBufferPointer(rebasing: bytes[..<end]), maxHeaderSize: maxHeaderSize, maxFieldCount: maxFieldCount)
            }
        }
        let parsed = try result.get()
        // The field lines with the CRLF of the last one ("\r\n\r\n" starts at `end`).
        var fields = RequestFields()
        if parsed.fieldsStart < end {
            let block = buffer.getSlice(at: buffer.readerIndex + parsed.fieldsStart, length: end + 2 - parsed.fieldsStart)!
            fields = RequestFields(checkedBlock: block, count: parsed.fieldCount)
        }
        buffer.moveReaderIndex(forwardBy: end + 4)
        let head = HTTP1RequestHead(version: parsed.version, method: parsed.method, uri: parsed.uri, fields: fields)
        return (head, parsed.framing, parsed.facts)
    }

    /// Limits for a head still arriving: a request line or a field block already too long
    /// is refused now, before the rest of it is buffered.
    private func checkIncompleteHead(_ buffer: ByteBuffer) throws(HTTP1ParseError) {
        guard buffer.readableBytes > maxHeaderSize else { return }
        let view = buffer.readableBytesView
        guard let lf = view.firstIndex(of: 0x0A) else {
            throw HTTP1ParseError(status: 414, reason: "request line too long")
        }
        if lf - view.startIndex > maxHeaderSize + 1 { throw HTTP1ParseError(status: 414, reason: "request line too long") }
        if view.endIndex - lf > maxHeaderSize + 3 { throw HTTP1ParseError(status: 431, reason: "header fields too large") }
    }
}
