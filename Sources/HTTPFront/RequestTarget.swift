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
        // Searched by bytes: String's Character-based searches cost far more per request.
        let bytes = uri.utf8
        var start = bytes.startIndex
        var target = Substring(uri)
        if bytes.first != UInt8(ascii: "/") {
            // absolute-form (RFC 9112 §3.2.2): drop scheme and authority.
            guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), bytes[colon...].starts(with: "://".utf8) else {
                throw .malformed
            }
            let authority = bytes.index(colon, offsetBy: 3)
            if let slash = bytes[authority...].firstIndex(of: UInt8(ascii: "/")) {
                start = slash
            } else {
                target = "/"
                start = target.startIndex
            }
        }
        target = target[start...]
        if let question = target.utf8.firstIndex(of: UInt8(ascii: "?")) {
            rawPath = target[..<question]
            query = target[target.utf8.index(after: question)...]
            if let hash = query.utf8.firstIndex(of: UInt8(ascii: "#")) { query = query[..<hash] }
        } else {
            rawPath = target
            query = ""
        }
        if Self.isPlain(rawPath.utf8) {
            // The common case: nothing to decode, no dot segment, no empty segment.
            normalizedPath = String(rawPath)
            return
        }
        guard let decoded = PercentDecoding.decode(rawPath.utf8), !decoded.contains(0) else { throw .malformed }
        var segments: [Substring] = []
        let text = String(decoding: decoded, as: UTF8.self)
        let parts = text.split(separator: "/", omittingEmptySubsequences: true)
        for part in parts {
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

    /// Whether `path` is already normalized and decoded: no `%`, no segment starting with
    /// `.`, no `//`, no NUL.
    private static func isPlain(_ path: Substring.UTF8View) -> Bool {
        path.withContiguousStorageIfAvailable(isPlain) ?? isPlain(Array(path))
    }

    private static func isPlain<Bytes: Collection<UInt8>>(_ path: Bytes) -> Bool {
        var previous: UInt8 = 0
        for byte in path {
            switch byte {
            case UInt8(ascii: "%"), 0: return false
            case UInt8(ascii: "."), UInt8(ascii: "/"): if previous == UInt8(ascii: "/") { return false }
            default: break
            }
            previous = byte
        }
        return true
    }
}
