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
        var target = Substring(uri)
        if !target.hasPrefix("/") {
            // absolute-form (RFC 9112 §3.2.2): drop scheme and authority.
            guard let colon = target.firstIndex(of: ":"), target[colon...].hasPrefix("://") else { throw .malformed }
            let rest = target[target.index(colon, offsetBy: 3)...]
            target = rest.firstIndex(of: "/").map { rest[$0...] } ?? "/"
        }
        if let question = target.firstIndex(of: "?") {
            rawPath = target[..<question]
            query = target[target.index(after: question)...]
        } else {
            rawPath = target
            query = ""
        }
        if let hash = query.firstIndex(of: "#") { query = query[..<hash] }
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
