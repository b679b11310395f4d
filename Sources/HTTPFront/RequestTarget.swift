import AppExchange

/// A request target split into what routing and the app need.
struct RequestTarget {
    /// The path as sent, percent-encoded.
    var rawPath: Substring
    var query: Substring
    /// The decoded path with `.`/`..` segments resolved and `//` merged, for routing and
    /// file lookup (RFC 3986 §5.2.4).
    var normalizedPath: String

    enum Problem: Error {
        case malformed
    }

    /// Parses origin-form (`/a?b`) and absolute-form (`http://host/a?b`) targets.
    /// Fails on bad percent-encoding, NUL, or `..` above the root — what nginx answers 400 to.
    init(_ uri: String) throws(Problem) {
        // Split by bytes, once, on the string's own storage: String's searches (by Character,
        // or through UTF8View indices) cost several times more per request.
        var uri = uri
        guard let parts = uri.withUTF8({ Self.split(UnsafeRawBufferPointer($0)) }) else { throw .malformed }
        guard let path = parts.path else {
            // absolute-form without a path: the root.
            rawPath = "/"
            query = ""
            normalizedPath = "/"
            return
        }
        let utf8 = uri.utf8
        func index(_ offset: Int) -> String.Index { utf8.index(utf8.startIndex, offsetBy: offset) }
        rawPath = uri[index(path.lowerBound)..<index(path.upperBound)]
        query = parts.query.map { uri[index($0.lowerBound)..<index($0.upperBound)] } ?? ""
        if parts.plain {
            // The common case: nothing to decode, no dot segment, no empty segment.
            normalizedPath = String(rawPath)
            return
        }
        guard let decoded = PercentDecoding.decode(rawPath.utf8), !decoded.contains(0) else { throw .malformed }
        var segments: [Substring] = []
        let text = String(decoding: decoded, as: UTF8.self)
        for part in text.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..":
                guard !segments.isEmpty else { throw .malformed }
                segments.removeLast()
            default: segments.append(part)
            }
        }
        var normalized = "/" + segments.joined(separator: "/")
        if text.hasSuffix("/") && !segments.isEmpty { normalized += "/" }
        normalizedPath = normalized
    }

    /// Where the path and the query lie in `bytes` (nil path: an absolute-form target
    /// without one), and whether the path is already normalized and decoded; nil when
    /// the target is neither origin-form nor absolute-form.
    private static func split(
        _ bytes: UnsafeRawBufferPointer
    ) -> (path: Range<Int>?, query: Range<Int>?, plain: Bool)? {
        var start = 0
        if bytes.first != UInt8(ascii: "/") {
            // absolute-form (RFC 9112 §3.2.2): drop scheme and authority.
            guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon + 3 <= bytes.count,
                bytes[colon + 1] == UInt8(ascii: "/"), bytes[colon + 2] == UInt8(ascii: "/")
            else { return nil }
            guard let slash = bytes[(colon + 3)...].firstIndex(of: UInt8(ascii: "/")) else {
                return (nil, nil, true)
            }
            start = slash
        }
        // The query runs from "?" to "#" (a "#" before any "?" stays in the path, as sent).
        var end = start
        var plain = true
        var previous: UInt8 = 0
        while end < bytes.count {
            let byte = bytes[end]
            if byte == UInt8(ascii: "?") { break }
            switch byte {
            // Plain: no `%`, no segment starting with `.`, no `//`, no NUL.
            case UInt8(ascii: "%"), 0: plain = false
            case UInt8(ascii: "."), UInt8(ascii: "/"): if previous == UInt8(ascii: "/") { plain = false }
            default: break
            }
            previous = byte
            end += 1
        }
        guard end < bytes.count else { return (start..<end, nil, plain) }
        let queryEnd = bytes[(end + 1)...].firstIndex(of: UInt8(ascii: "#")) ?? bytes.count
        return (start..<end, (end + 1)..<queryEnd, plain)
    }
}
