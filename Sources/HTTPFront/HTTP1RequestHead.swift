import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// A parsed HTTP/1 request head: the request line as values, the field lines as the bytes
/// they arrived in (`RequestFields`), read when asked. A static request reads two or three
/// fields; building a String for every name and value (NIO's `HTTPRequestHead`) cost more
/// than the rest of the parse.
struct HTTP1RequestHead {
    var version: HTTPVersion
    var method: HTTPMethod
    /// The request target as sent.
    var uri: String
    var fields: RequestFields

    init(version: HTTPVersion, method: HTTPMethod, uri: String, fields: RequestFields = RequestFields()) {
        self.version = version
        self.method = method
        self.uri = uri
        self.fields = fields
    }
}

/// The field lines of a request head, as the parser found and checked them: each
/// `name ":" OWS value OWS CRLF`, with a token for a name and no controls in the value.
/// By default a slice of the connection's input (no copy); `detached()` for a head that
/// outlives the read it came in.
struct RequestFields {
    /// The field lines, each ending in CRLF.
    private(set) var block: ByteBuffer
    /// How many field lines `block` holds.
    private(set) var count: Int

    /// No fields.
    init() {
        block = ByteBuffer()
        count = 0
    }

    /// `block` must hold `count` lines the parser accepted (`HTTP1Head.field`), each ending
    /// in CRLF.
    init(checkedBlock block: ByteBuffer, count: Int) {
        self.block = block
        self.count = count
    }

    /// Calls `visit` with each field's name and value (without the whitespace around it),
    /// in order, until it returns true. The pointers are valid only during the call.
    func walk(_ visit: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool) {
        block.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            var start = 0
            while start < bytes.count {
                // Checked lines: each has a colon and ends in CRLF.
                let lf = base.distance(to: UnsafeRawPointer(memchr(base + start, 0x0A, bytes.count - start)!))
                let colon = base.distance(to: UnsafeRawPointer(memchr(base + start, Int32(UInt8(ascii: ":")), lf - start)!))
                let name = UnsafeRawBufferPointer(rebasing: bytes[start..<colon])
                let value = UnsafeRawBufferPointer(rebasing: bytes[FieldValue.trimmingWhitespace(bytes, (colon + 1)..<(lf - 1))])
                if visit(name, value) { return }
                start = lf + 1
            }
        }
    }

    /// The first value of the field `name` (lowercase ASCII; matched in any case), as
    /// NIO's `HTTPHeaders.first(name:)` gives it.
    func first(name: StaticString) -> String? {
        var found: String?
        walk { fieldName, value in
            guard fieldName.equalsIgnoringCase(name) else { return false }
            found = String(decoding: value, as: UTF8.self)
            return true
        }
        return found
    }

    /// Every field as (name, value) Strings, in order (invalid UTF-8 replaced, as
    /// `String(decoding:)` does).
    var pairs: [(String, String)] {
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(count)
        walk { name, value in
            pairs.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
            return false
        }
        return pairs
    }

    /// The fields as NIO's `HTTPHeaders` (for the rare path that wants its list parsing).
    var httpHeaders: HTTPHeaders { HTTPHeaders(pairs) }

    /// The same fields in storage of their own: a slice of the input keeps the whole read
    /// buffer alive (and NIO from reusing it) as long as the head lives.
    func detached() -> RequestFields {
        guard block.readableBytes > 0 else { return self }
        var copy = ByteBufferAllocator().buffer(capacity: block.readableBytes)
        copy.writeImmutableBuffer(block)
        return RequestFields(checkedBlock: copy, count: count)
    }
}
