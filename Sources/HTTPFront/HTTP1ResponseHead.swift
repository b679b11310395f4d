import AppExchange
import NIOCore
import NIOHTTP1

/// Serialises an HTTP/1.1 response head straight into bytes, with the framing rules NIO's
/// encoder applied: no Content-Length or Transfer-Encoding on a status without a body
/// (1xx, 204, 304); an HTTP/1.1 response without Content-Length is chunked; an HTTP/1.0 one
/// ends with the connection.
enum HTTP1ResponseHead {
    struct Framing: Equatable {
        /// The body (if any is written) goes in chunks, ended by a last chunk.
        var chunked: Bool
        /// A body may follow (false for HEAD, 1xx, 204 and 304: body writes are dropped).
        var hasBody: Bool
    }

    /// Writes the head for `status` with `fields`, then Date, the route's `overrides`
    /// (replacing fields of the same name) and the connection's management fields.
    static func write(
        into buffer: inout ByteBuffer, version: HTTPVersion, status: Int, reason: String,
        fields: [(name: String, value: String)], overrides: [(String, String)] = [],
        keepAlive: Bool, isHead: Bool, date: String
    ) -> Framing {
        let statusHasBody = Self.statusHasBody(status)
        var hasLength = false
        if statusHasBody {
            for field in fields where isNamed(field.name, "content-length") {
                hasLength = !overridden(field.name, overrides)
                if hasLength { break }
            }
            if !hasLength { hasLength = overrides.contains { isNamed($0.0, "content-length") } }
        }
        let chunked = statusHasBody && !hasLength && !version.isBefore11

        // Room for every piece (some fields may be skipped): one capacity check in all.
        var capacity = 9 + 21 + reason.utf8.count + 2 + 6 + date.utf8.count + 2 + 24 + 28 + 2
        for (name, value) in fields { capacity += name.utf8.count + value.utf8.count + 4 }
        for (name, value) in overrides { capacity += name.utf8.count + value.utf8.count + 4 }
        buffer.writePacked(capacity: capacity) { out in
            out.write(version.isBefore11 ? "HTTP/1.0 " : "HTTP/1.1 ")
            out.write(decimal: status)
            out.write(byte: UInt8(ascii: " "))
            out.write(reason)
            out.write("\r\n")
            for (name, value) in fields {
                if !overrides.isEmpty && overridden(name, overrides) { continue }
                if isFraming(name) && (!statusHasBody || isNamed(name, "transfer-encoding")) { continue }
                writeField(name, value, into: &out)
            }
            out.write("Date: ")
            out.write(date)
            out.write("\r\n")
            for (name, value) in overrides {
                if isFraming(name) && (!statusHasBody || isNamed(name, "transfer-encoding")) { continue }
                writeField(name, value, into: &out)
            }
            if !keepAlive {
                out.write("Connection: close\r\n")
            } else if version.isBefore11 {
                out.write("Connection: keep-alive\r\n")
            }
            if chunked { out.write("transfer-encoding: chunked\r\n") }
            out.write("\r\n")
        }
        return Framing(chunked: chunked && !isHead, hasBody: statusHasBody && !isHead)
    }

    /// Writes an HTTP/1.1 head rendered ahead (`rendered`: the status line and the field
    /// lines, with Content-Length where the status has a body) that no route overrides, then
    /// Date and the connection's management fields.
    static func write(
        into buffer: inout ByteBuffer, rendered: ByteBuffer, status: Int, keepAlive: Bool, isHead: Bool
    ) -> Framing {
        let statusHasBody = Self.statusHasBody(status)
        buffer.writeImmutableBuffer(rendered)
        buffer.writeImmutableBuffer(HTTPDate.fieldLine())
        if !keepAlive { buffer.writeStaticString("Connection: close\r\n") }
        buffer.writeStaticString("\r\n")
        return Framing(chunked: false, hasBody: statusHasBody && !isHead)
    }

    /// Whether a response with `status` may have a body (RFC 9110 §6.4.1: not 1xx, 204, 304).
    static func statusHasBody(_ status: Int) -> Bool {
        !(100..<200).contains(status) && status != 204 && status != 304
    }

    /// An HTTP/1.1 status line (with the standard reason) and `fields`, rendered once for
    /// heads written many times (`write(into:rendered:…)`).
    static func rendered(status: Int, fields: [(name: String, value: String)]) -> ByteBuffer {
        let reason = ErrorPage.reasonPhrase(status)
        var capacity = 9 + 21 + reason.utf8.count + 2
        for (name, value) in fields { capacity += name.utf8.count + value.utf8.count + 4 }
        var buffer = ByteBuffer()
        buffer.writePacked(capacity: capacity) { out in
            out.write("HTTP/1.1 ")
            out.write(decimal: status)
            out.write(byte: UInt8(ascii: " "))
            out.write(reason)
            out.write("\r\n")
            for (name, value) in fields { writeField(name, value, into: &out) }
        }
        return buffer
    }

    /// The reason phrase to send: the app's (or berth's) own, except where NIO's encoder used
    /// the standard one (no reason given, or a status without a body).
    static func reason(_ code: Int, _ reason: String?) -> String {
        let standard = HTTPResponseStatus(statusCode: code)
        guard let reason, !reason.isEmpty, code >= 200, standard.mayHaveResponseBody else {
            return standard.reasonPhrase
        }
        return reason
    }

    /// An interim `100 Continue`.
    static func writeContinue(into buffer: inout ByteBuffer, version: HTTPVersion) {
        buffer.writeStaticString(version.isBefore11 ? "HTTP/1.0 100 Continue\r\n\r\n" : "HTTP/1.1 100 Continue\r\n\r\n")
    }

    /// A chunk's size line (RFC 9112 §7.1).
    static func writeChunkStart(_ size: Int, into buffer: inout ByteBuffer) {
        buffer.writeString(String(size, radix: 16))
        buffer.writeStaticString("\r\n")
    }

    private static func writeField(_ name: String, _ value: String, into out: inout PackedWriter) {
        out.write(name)
        out.write(": ")
        out.write(value)
        out.write("\r\n")
    }

    private static func isFraming(_ name: String) -> Bool {
        isNamed(name, "content-length") || isNamed(name, "transfer-encoding")
    }

    private static func overridden(_ name: String, _ overrides: [(String, String)]) -> Bool {
        overrides.contains { $0.0.utf8.count == name.utf8.count && $0.0.lowercased() == name.lowercased() }
    }

    private static func isNamed(_ name: String, _ lower: StaticString) -> Bool {
        name.utf8.equalsIgnoringCase(lower)
    }
}
