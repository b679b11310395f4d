import AppExchange
import NIOCore

/// Builds the REQUEST frame's pair block: the CGI and WSGI keys of PEP 3333 for one request.
enum Environ {
    /// Writes a complete REQUEST frame for `request` into `buffer`.
    static func writeRequestFrame(_ request: AppRequest, to buffer: inout ByteBuffer) {
        let headerIndex = buffer.writerIndex
        WorkerFrame.writeHeader(.request, flags: request.hasBody ? WorkerFrame.hasBody : 0, length: 0, to: &buffer)
        let start = buffer.writerIndex
        PairBlock.append("REQUEST_METHOD", request.method, to: &buffer)
        PairBlock.append("SCRIPT_NAME", request.scriptName, to: &buffer)
        // PATH_INFO is the decoded path as raw bytes; the worker reads them as latin-1.
        buffer.writeString("PATH_INFO")
        buffer.writeInteger(UInt8(0))
        buffer.writeBytes(PercentDecoding.decode(request.path.utf8) ?? Array(request.path.utf8))
        buffer.writeInteger(UInt8(0))
        PairBlock.append("QUERY_STRING", request.query, to: &buffer)
        PairBlock.append("SERVER_NAME", request.serverName, to: &buffer)
        PairBlock.append("SERVER_PORT", String(request.serverPort), to: &buffer)
        PairBlock.append("SERVER_PROTOCOL", request.version, to: &buffer)
        PairBlock.append("REMOTE_ADDR", request.remoteAddress, to: &buffer)
        PairBlock.append("REMOTE_PORT", String(request.remotePort), to: &buffer)
        PairBlock.append("wsgi.url_scheme", request.scheme, to: &buffer)
        PairBlock.append("berth.request_id", request.requestID, to: &buffer)
        for (key, value) in headerKeys(request.headers) {
            PairBlock.append(key, value, to: &buffer)
        }
        let length = buffer.writerIndex - start
        buffer.setInteger(UInt32(length), at: headerIndex)
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
