import AppExchange
import NIOCore

/// Builds the REQUEST frame's pair block: the CGI and WSGI keys of PEP 3333 for one request.
enum Environ {
    /// Writes a complete REQUEST frame for `request` into `buffer`.
    ///
    /// Everything goes straight into `buffer`: constant keys as static strings, header
    /// names mapped to their CGI names byte by byte. Only a request with a repeated header
    /// field (which must be joined) takes the slower path through `headerKeys`.
    static func writeRequestFrame(_ request: AppRequest, to buffer: inout ByteBuffer) {
        let headerIndex = buffer.writerIndex
        WorkerFrame.writeHeader(.request, flags: request.hasBody ? WorkerFrame.hasBody : 0, length: 0, to: &buffer)
        let start = buffer.writerIndex
        buffer.writeStaticString("REQUEST_METHOD\0")
        writeValue(request.method, to: &buffer)
        buffer.writeStaticString("SCRIPT_NAME\0")
        writeValue(request.scriptName, to: &buffer)
        // PATH_INFO is the decoded path as raw bytes; the worker reads them as latin-1.
        buffer.writeStaticString("PATH_INFO\0")
        if request.path.utf8.contains(UInt8(ascii: "%")) {
            buffer.writeBytes(PercentDecoding.decode(request.path.utf8) ?? Array(request.path.utf8))
            buffer.writeInteger(UInt8(0))
        } else {
            writeValue(request.path, to: &buffer)
        }
        buffer.writeStaticString("QUERY_STRING\0")
        writeValue(request.query, to: &buffer)
        buffer.writeStaticString("SERVER_NAME\0")
        writeValue(request.serverName, to: &buffer)
        buffer.writeStaticString("SERVER_PORT\0")
        writeValue(String(request.serverPort), to: &buffer)
        buffer.writeStaticString("SERVER_PROTOCOL\0")
        writeValue(request.version, to: &buffer)
        buffer.writeStaticString("REMOTE_ADDR\0")
        writeValue(request.remoteAddress, to: &buffer)
        buffer.writeStaticString("REMOTE_PORT\0")
        writeValue(String(request.remotePort), to: &buffer)
        buffer.writeStaticString("wsgi.url_scheme\0")
        writeValue(request.scheme, to: &buffer)
        buffer.writeStaticString("berth.request_id\0")
        writeValue(request.requestID, to: &buffer)
        if hasRepeatedField(request.headers) {
            for (key, value) in headerKeys(request.headers) {
                PairBlock.append(key, value, to: &buffer)
            }
        } else {
            for (name, value) in request.headers where !name.utf8.contains(UInt8(ascii: "_")) {
                writeCGIName(name, to: &buffer)
                writeValue(value, to: &buffer)
            }
        }
        let length = buffer.writerIndex - start
        buffer.setInteger(UInt32(length), at: headerIndex)
    }

    @inline(__always)
    private static func writeValue(_ value: String, to buffer: inout ByteBuffer) {
        buffer.writeString(value)
        buffer.writeInteger(UInt8(0))
    }

    /// Whether two fields share a name (ASCII case-insensitively), so that their values must
    /// be joined. Quadratic, but over a few short names; long header lists take the
    /// dictionary of `headerKeys` instead.
    static func hasRepeatedField(_ headers: [(name: String, value: String)]) -> Bool {
        if headers.count > 32 { return true }
        for i in headers.indices {
            let a = headers[i].name.utf8
            for j in (i + 1)..<headers.count where headers[j].name.utf8.count == a.count {
                if asciiEqualIgnoringCase(a, headers[j].name.utf8) { return true }
            }
        }
        return false
    }

    private static func asciiEqualIgnoringCase(_ a: String.UTF8View, _ b: String.UTF8View) -> Bool {
        guard a.count == b.count else { return false }
        for (x, y) in zip(a, b) where x != y {
            // Only letters may differ, and only by case.
            guard x | 0x20 == y | 0x20, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(x | 0x20) else { return false }
        }
        return true
    }

    /// Writes `cgiName(header)` and its NUL.
    static func writeCGIName(_ header: String, to buffer: inout ByteBuffer) {
        let name = header.utf8
        if asciiEqualIgnoringCase(name, "content-type".utf8) {
            buffer.writeStaticString("CONTENT_TYPE\0")
            return
        }
        if asciiEqualIgnoringCase(name, "content-length".utf8) {
            buffer.writeStaticString("CONTENT_LENGTH\0")
            return
        }
        buffer.writeStaticString("HTTP_")
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: name.count + 1) { out in
            var index = 0
            for byte in name {
                switch byte {
                case UInt8(ascii: "-"): out[index] = UInt8(ascii: "_")
                case UInt8(ascii: "a")...UInt8(ascii: "z"): out[index] = byte - 32
                default: out[index] = byte
                }
                index += 1
            }
            out[index] = 0
            return index + 1
        }
    }

    /// CGI names for the request headers: `CONTENT_TYPE`, `CONTENT_LENGTH`, `HTTP_*`.
    ///
    /// Repeated fields are joined with ", " (RFC 9110 §5.3), Cookie with "; " (RFC 6265
    /// §5.4). Names with `_` are dropped: after the `-` → `_` mapping `X-Foo_Bar` would
    /// be indistinguishable from `X-Foo-Bar`, and a proxy's header could be spoofed.
    static func headerKeys(_ headers: [(name: String, value: String)]) -> [(String, String)] {
        var keys: [(String, String)] = []
        keys.reserveCapacity(headers.count)
        var positions: [String: Int] = [:]
        for (name, value) in headers {
            if name.utf8.contains(UInt8(ascii: "_")) { continue }
            let key = cgiName(name)
            if let index = positions[key] {
                let separator = key == "HTTP_COOKIE" ? "; " : ", "
                keys[index].1 += separator + value
            } else {
                positions[key] = keys.count
                keys.append((key, value))
            }
        }
        return keys
    }

    static func cgiName(_ header: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(header.utf8.count + 5)
        let lowered = header.lowercased()
        if lowered == "content-type" { return "CONTENT_TYPE" }
        if lowered == "content-length" { return "CONTENT_LENGTH" }
        bytes.append(contentsOf: "HTTP_".utf8)
        for byte in header.utf8 {
            switch byte {
            case UInt8(ascii: "-"): bytes.append(UInt8(ascii: "_"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): bytes.append(byte - 32)
            default: bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
