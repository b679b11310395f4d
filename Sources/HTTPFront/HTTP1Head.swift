import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// Parsing one complete request head (request line and field lines, without the final
/// empty line) from raw bytes, for `HTTP1RequestParser`.
enum HTTP1Head {
    /// Where the head ends (the index of "\r\n\r\n") searching from `start`; nil if not yet.
    /// A LF without CR before it ends the search at once: `parse` rejects it.
    static func endOfHead(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var index = start
        // From LF to LF with memchr: a head's bytes are mostly not line ends.
        while let lf = find(0x0A, in: bytes, from: index, to: bytes.count) {
            if lf == 0 || bytes[lf - 1] != 0x0D { return lf }
            if lf >= 3 && bytes[lf - 2] == 0x0A && bytes[lf - 3] == 0x0D { return lf - 3 }
            index = lf + 1
        }
        return nil
    }

    /// The index of the first `byte` in `bytes[from..<to]`, or nil.
    private static func find(_ byte: UInt8, in bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        guard from < to, let base = bytes.baseAddress, let found = memchr(base + from, Int32(byte), to - from) else {
            return nil
        }
        return base.distance(to: UnsafeRawPointer(found))
    }

    /// A head's request line, where its field lines start, its framing and facts.
    struct Parsed {
        var method: HTTPMethod
        var uri: String
        var version: HTTPVersion
        /// Where the field lines start (`bytes.count` when there are none).
        var fieldsStart: Int
        var fieldCount: Int
        var framing: HTTP1RequestParser.Framing
        var facts: RequestFacts
    }

    static func parse(
        _ bytes: UnsafeRawBufferPointer, maxHeaderSize: Int, maxFieldCount: Int
    ) throws(HTTP1ParseError) -> Parsed {
        // The block ends where a bare LF was found, or at "\r\n\r\n" (excluded): every line
        // inside must end with CRLF.
        var lines = LineIterator(bytes: bytes)
        guard let requestLine = try lines.next() else { throw .bad("empty request") }
        if requestLine.count > maxHeaderSize { throw HTTP1ParseError(status: 414, reason: "request line too long") }
        let (method, uri, version) = try parseRequestLine(UnsafeRawBufferPointer(rebasing: bytes[requestLine]))
        if bytes.count - requestLine.upperBound > maxHeaderSize {
            throw HTTP1ParseError(status: 431, reason: "header fields too large")
        }
        let fieldsStart = lines.position
        var fieldCount = 0
        var contentLength: Int64?
        var transferEncoding: [UInt8]?
        var facts = RequestFacts()
        while let range = try lines.next() {
            let line = UnsafeRawBufferPointer(rebasing: bytes[range])
            let (name, value) = try field(line)
            if fieldCount >= maxFieldCount { throw HTTP1ParseError(status: 431, reason: "too many header fields") }
            fieldCount += 1
            if name.count == 14 && name.equalsIgnoringCase("content-length") {
                guard contentLength == nil else { throw .bad("repeated Content-Length") }
                contentLength = try parseLength(value)
            } else if name.count == 17 && name.equalsIgnoringCase("transfer-encoding") {
                if transferEncoding == nil {
                    transferEncoding = Array(value)
                } else {
                    transferEncoding!.append(UInt8(ascii: ","))
                    transferEncoding!.append(contentsOf: value)
                }
            } else {
                facts.note(name: name, value: value)
            }
        }
        var framing = HTTP1RequestParser.Framing.none
        if let coding = transferEncoding {
            if contentLength != nil { throw .bad("Content-Length with Transfer-Encoding") }
            if version == .http1_0 { throw .bad("Transfer-Encoding in an HTTP/1.0 request") }
            framing = .chunked
            let codings = String(decoding: coding, as: UTF8.self).split(separator: ",")
                .map { $0.trimmingSpaces().lowercased() }
            guard codings.last == "chunked" else { throw .bad("Transfer-Encoding does not end with chunked") }
            if codings.count > 1 {
                throw HTTP1ParseError(status: codings.dropLast().contains("chunked") ? 400 : 501, reason: "unsupported transfer coding")
            }
        } else if let length = contentLength, length > 0 {
            framing = .length(length)
        }
        return Parsed(
            method: method, uri: uri, version: version, fieldsStart: fieldsStart, fieldCount: fieldCount, framing: framing,
            facts: facts)
    }

    /// The lines of a head block, each without its CRLF; a LF without CR, or a CR not
    /// followed by LF, is an error.
    private struct LineIterator {
        let bytes: UnsafeRawBufferPointer
        private(set) var position = 0

        mutating func next() throws(HTTP1ParseError) -> Range<Int>? {
            guard position < bytes.count else { return nil }
            let start = position
            // The line ends at the next LF (or the block's end); the only CR in it may be the
            // one right before that LF.
            let lf = HTTP1Head.find(0x0A, in: bytes, from: start, to: bytes.count)
            let end = lf ?? bytes.count
            if let cr = HTTP1Head.find(0x0D, in: bytes, from: start, to: end) {
                guard let lf, cr == lf - 1 else { throw .bad("bare CR") }
                position = lf + 1
                return start..<cr
            }
            // A LF without CR before it; none at all: the block's last line, whose CRLF is
            // part of the "\r\n\r\n" cut off.
            if lf != nil { throw .bad("bare LF") }
            position = bytes.count
            return start..<bytes.count
        }
    }

    private static func parseRequestLine(_ line: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> (HTTPMethod, String, HTTPVersion) {
        guard let firstSpace = line.firstIndex(of: 0x20) else { throw .bad("malformed request line") }
        let method = UnsafeRawBufferPointer(rebasing: line[..<firstSpace])
        guard !method.isEmpty, isToken(method) else { throw .bad("invalid method") }
        let rest = line[(firstSpace + 1)...]
        guard let secondSpace = rest.lastIndex(of: 0x20), secondSpace > firstSpace + 1 else {
            throw .bad("malformed request line")
        }
        let target = UnsafeRawBufferPointer(rebasing: line[(firstSpace + 1)..<secondSpace])
        // Visible ASCII and obs-text; no spaces, no controls (RFC 9112 §3.2).
        guard target.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else { throw .bad("invalid request target") }
        let version = try parseVersion(UnsafeRawBufferPointer(rebasing: line[(secondSpace + 1)...]))
        return (methodValue(method), String(decoding: target, as: UTF8.self), version)
    }

    private static func parseVersion(_ bytes: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> HTTPVersion {
        // "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3).
        guard bytes.count == 8, bytes[0] == 0x48, bytes[1] == 0x54, bytes[2] == 0x54, bytes[3] == 0x50,
            bytes[4] == 0x2F, bytes[6] == 0x2E, (0x30...0x39).contains(bytes[5]), (0x30...0x39).contains(bytes[7])
        else { throw .bad("invalid HTTP version") }
        let major = Int(bytes[5] - 0x30)
        let minor = Int(bytes[7] - 0x30)
        // Another version (the HTTP/2 preface "PRI * HTTP/2.0" included) is a bad request, as
        // it was with llhttp.
        guard major == 1, minor <= 1 else { throw .bad("HTTP version not supported") }
        return HTTPVersion(major: major, minor: minor)
    }

    private static func methodValue(_ bytes: UnsafeRawBufferPointer) -> HTTPMethod {
        switch bytes.count {
        case 3 where bytes[0] == 0x47 && bytes[1] == 0x45 && bytes[2] == 0x54: return .GET
        case 4 where bytes[0] == 0x48 && bytes[1] == 0x45 && bytes[2] == 0x41 && bytes[3] == 0x44: return .HEAD
        case 4 where bytes[0] == 0x50 && bytes[1] == 0x4F && bytes[2] == 0x53 && bytes[3] == 0x54: return .POST
        default: return HTTPMethod(rawValue: String(decoding: bytes, as: UTF8.self))
        }
    }

    /// A field line's name and value (value without surrounding whitespace). No whitespace
    /// before the colon, no obs-fold (a line starting with whitespace), no controls.
    static func field(_ line: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> (UnsafeRawBufferPointer, UnsafeRawBufferPointer) {
        guard let colon = find(UInt8(ascii: ":"), in: line, from: 0, to: line.count) else {
            if let first = line.first, first == 0x20 || first == 0x09 { throw .bad("obs-fold") }
            throw .bad("field line without colon")
        }
        let name = UnsafeRawBufferPointer(rebasing: line[..<colon])
        guard !name.isEmpty else { throw .bad("empty field name") }
        if name[0] == 0x20 || name[0] == 0x09 { throw .bad("obs-fold") }
        guard isToken(name) else { throw .bad("invalid field name") }
        let value = UnsafeRawBufferPointer(rebasing: line[FieldValue.trimmingWhitespace(line, (colon + 1)..<line.count)])
        for byte in value where byte < 0x20 && byte != 0x09 || byte == 0x7F { throw .bad("control character in field value") }
        return (name, value)
    }

    /// Checks a trailer field line's syntax.
    static func checkField(_ line: [UInt8]) throws(HTTP1ParseError) {
        let result = line.withUnsafeBytes { bytes in
            Result { () throws(HTTP1ParseError) in _ = try field(bytes) }
        }
        try result.get()
    }

    private static func parseLength(_ value: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> Int64 {
        guard !value.isEmpty, value.count <= 18 else { throw .bad("invalid Content-Length") }
        var length: Int64 = 0
        for byte in value {
            guard (0x30...0x39).contains(byte) else { throw .bad("invalid Content-Length") }
            length = length * 10 + Int64(byte - 0x30)
        }
        return length
    }

    /// tchar (RFC 9110 §5.6.2): DIGIT, ALPHA and !#$%&'*+-.^_`|~, as bits of two masks
    /// (bytes 0–63, 64–127; no byte from 128 is one). A table behind a global would cost a
    /// once-check and a bounds check per byte of every field name.
    @inline(__always)
    static func isTokenByte(_ byte: UInt8) -> Bool {
        let mask: UInt64 = byte < 64 ? 0x03ff_6cfa_0000_0000 : byte < 128 ? 0x57ff_ffff_c7ff_fffe : 0
        return mask & (1 << UInt64(byte & 63)) != 0
    }

    /// Whether every byte of `bytes` is a tchar.
    @inline(__always)
    static func isToken(_ bytes: UnsafeRawBufferPointer) -> Bool {
        for byte in bytes where !isTokenByte(byte) { return false }
        return true
    }
}

/// What the front asks of every request head — how many Host values, Expect, whether the
/// connection stays open, Upgrade — noted while the head's fields are parsed. Asking the
/// finished `HTTPHeaders` instead costs a scan with String comparisons per question.
struct RequestFacts: Equatable {
    enum Expectation: Equatable {
        case none
        /// `Expect: 100-continue` (any case).
        case continue100
        /// Another expectation: 417.
        case other
    }

    /// Host values: each Host field, plus one per comma in its value (RFC 9112 §3.2 wants
    /// exactly one).
    var hostCount = 0
    /// The first Expect field's expectation.
    var expect = Expectation.none
    /// Connection's `close` token; how many `keep-alive` tokens; its `upgrade` token.
    var connectionClose = false
    var connectionKeepAlive = 0
    var connectionUpgrade = false
    /// An Upgrade field.
    var hasUpgrade = false

    /// Notes one field (Content-Length and Transfer-Encoding are the parser's).
    mutating func note(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        switch name.count {
        case 4 where name.equalsIgnoringCase("host"):
            hostCount += 1
            for byte in value where byte == UInt8(ascii: ",") { hostCount += 1 }
        case 6 where name.equalsIgnoringCase("expect"):
            if expect == .none { expect = value.equalsIgnoringCase("100-continue") ? .continue100 : .other }
        case 7 where name.equalsIgnoringCase("upgrade"):
            hasUpgrade = true
        case 10 where name.equalsIgnoringCase("connection"):
            // Every token counts: the predicate never stops the walk.
            _ = FieldValue.containsItem(in: value) { token in
                if token.equalsIgnoringCase("close") {
                    connectionClose = true
                } else if token.equalsIgnoringCase("keep-alive") {
                    connectionKeepAlive += 1
                } else if token.equalsIgnoringCase("upgrade") {
                    connectionUpgrade = true
                }
                return false
            }
        default:
            break
        }
    }

    /// Whether the connection stays open after this request, as NIO's `isKeepAlive` decides
    /// it: `close` closes; `keep-alive` keeps it open, but said twice it is taken as
    /// confusion and closes; without either, HTTP/1.1 keeps it open and HTTP/1.0 closes.
    func isKeepAlive(_ version: HTTPVersion) -> Bool {
        if connectionClose || connectionKeepAlive > 1 { return false }
        if connectionKeepAlive == 1 { return true }
        return version.major == 1 && version.minor >= 1
    }

    /// Whether the request asks to switch protocols: an Upgrade field, with `upgrade` among
    /// Connection's tokens (RFC 9110 §7.8). What follows such a request may be another
    /// protocol, so the connection carries no further request: it upgrades, or closes after
    /// the answer.
    var asksToUpgrade: Bool { hasUpgrade && connectionUpgrade }
}
