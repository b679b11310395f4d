import NIOCore

/// One stream's outgoing body: bytes queued for nghttp2's data provider.
final class OutgoingBody {
    var chunks = CircularBuffer<ByteBuffer>()
    var queued = 0
    var ended = false
    var trailers: [(name: String, value: String)] = []
    /// The data provider found the queue empty and returned NGHTTP2_ERR_DEFERRED.
    var deferred = false
    /// `sendBody` reported the queue full; a `.writable` event is owed.
    var paused = false
}

/// The fields of one header block as they arrive, within the list-size limit.
struct HeaderBlock {
    var method = ""
    var scheme = ""
    var authority = ""
    var path = ""
    var status = 0
    var fields: [(name: String, value: String)] = []
    var cookies: [String] = []
    /// RFC 9113 §6.5.2's size: names and values plus 32 per field.
    var size = 0
    var tooLarge = false

    mutating func add(_ name: UnsafeBufferPointer<UInt8>, _ value: UnsafeBufferPointer<UInt8>, limit: Int) {
        size += name.count + value.count + 32
        if size > limit {
            // HPACK lets a small block expand to a huge one: stop storing, keep counting.
            if !tooLarge {
                tooLarge = true
                fields = []
                cookies = []
            }
            return
        }
        let nameText = String(decoding: name, as: UTF8.self)
        let valueText = String(decoding: value, as: UTF8.self)
        if name.first == UInt8(ascii: ":") {
            // nghttp2 has checked the pseudo-fields: known names, once each, first.
            switch nameText {
            case ":method": method = valueText
            case ":scheme": scheme = valueText
            case ":authority": authority = valueText
            case ":path": path = valueText
            case ":status": status = Int(valueText) ?? 0
            default: break
            }
        } else if nameText == "cookie" {
            cookies.append(valueText)
        } else {
            fields.append((nameText, valueText))
        }
    }

    var regularFields: [(name: String, value: String)] {
        cookies.isEmpty ? fields : fields + [("cookie", cookies.joined(separator: "; "))]
    }

    var requestHead: HTTP2RequestHead {
        let host = authority.isEmpty ? (fields.first { $0.name == "host" }?.value ?? "") : authority
        return HTTP2RequestHead(method: method, scheme: scheme, authority: host, path: path, headers: regularFields)
    }
}
