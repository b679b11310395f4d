import AppExchange
import NIOCore

/// Builds the REQUEST frame's pair block: the CGI and WSGI keys of PEP 3333 for one request.
enum Environ {
    /// Writes a complete REQUEST frame for `request` into `buffer`.
    ///
    /// Everything goes straight into `buffer` in one packed write (one capacity check):
    /// constant keys as static strings, header names mapped to their CGI names byte by byte.
    /// Only a request with a repeated header field (which must be joined) takes the slower
    /// path through `headerKeys`.
    static func writeRequestFrame(_ request: AppRequest, to buffer: inout ByteBuffer) {
        let headerIndex = buffer.writerIndex
        WorkerFrame.writeHeader(.request, flags: request.hasBody ? WorkerFrame.hasBody : 0, length: 0, to: &buffer)
        let start = buffer.writerIndex
        let repeated = hasRepeatedField(request.headers)
        // The keys and NULs below (147 + 11 bytes) and two ports, then the values.
        var capacity = 200 + request.method.utf8.count + request.scriptName.utf8.count + request.path.utf8.count
            + request.query.utf8.count + request.serverName.utf8.count + request.version.utf8.count
            + request.remoteAddress.utf8.count + request.scheme.utf8.count + request.requestID.utf8.count
        if !repeated {
            // "HTTP_" + name + NUL + value + NUL at most.
            for (name, value) in request.headers { capacity += name.utf8.count + value.utf8.count + 7 }
        }
        buffer.writePacked(capacity: capacity) { out in
            writePair("REQUEST_METHOD\0", request.method, to: &out)
            writePair("SCRIPT_NAME\0", request.scriptName, to: &out)
            // PATH_INFO is the decoded path as raw bytes; the worker reads them as latin-1.
            if request.path.utf8.contains(UInt8(ascii: "%")) {
                out.write("PATH_INFO\0")
                let decoded = PercentDecoding.decode(request.path.utf8) ?? Array(request.path.utf8)
                decoded.withUnsafeBytes { out.write($0) }
                out.write(byte: 0)
            } else {
                writePair("PATH_INFO\0", request.path, to: &out)
            }
            writePair("QUERY_STRING\0", request.query, to: &out)
            writePair("SERVER_NAME\0", request.serverName, to: &out)
            writePair("SERVER_PORT\0", port: request.serverPort, to: &out)
            writePair("SERVER_PROTOCOL\0", request.version, to: &out)
            writePair("REMOTE_ADDR\0", request.remoteAddress, to: &out)
            writePair("REMOTE_PORT\0", port: request.remotePort, to: &out)
            writePair("wsgi.url_scheme\0", request.scheme, to: &out)
            writePair("berth.request_id\0", request.requestID, to: &out)
            guard !repeated else { return }
            for (name, value) in request.headers where !name.utf8.contains(UInt8(ascii: "_")) {
                writeCGIName(name, to: &out)
                writeValue(value, to: &out)
            }
        }
        if repeated {
            for (key, value) in headerKeys(request.headers) {
                PairBlock.append(key, value, to: &buffer)
            }
        }
        let length = buffer.writerIndex - start
        buffer.setInteger(UInt32(length), at: headerIndex)
    }

    /// A key (with its NUL) and a value, then the value's NUL.
    @inline(__always)
    private static func writePair(_ key: StaticString, _ value: String, to out: inout PackedWriter) {
        out.write(key)
        writeValue(value, to: &out)
    }

    @inline(__always)
    private static func writePair(_ key: StaticString, port: Int, to out: inout PackedWriter) {
        out.write(key)
        out.write(decimal: port)
        out.write(byte: 0)
    }

    @inline(__always)
    private static func writeValue(_ value: String, to out: inout PackedWriter) {
        out.write(value)
        out.write(byte: 0)
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
    static func writeCGIName(_ header: String, to out: inout PackedWriter) {
        let name = header.utf8
        if asciiEqualIgnoringCase(name, "content-type".utf8) {
            out.write("CONTENT_TYPE\0")
            return
        }
        if asciiEqualIgnoringCase(name, "content-length".utf8) {
            out.write("CONTENT_LENGTH\0")
            return
        }
        out.write("HTTP_")
        for byte in name {
            switch byte {
            case UInt8(ascii: "-"): out.write(byte: UInt8(ascii: "_"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): out.write(byte: byte - 32)
            default: out.write(byte: byte)
            }
        }
        out.write(byte: 0)
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
