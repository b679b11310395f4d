import AppExchange
import NIOHTTP1

/// The header rewriting of a reverse proxy (RFC 9110 §7.6.1): hop-by-hop fields stay on
/// their hop, both ways; the upstream learns who asked through X-Forwarded-*.
enum ForwardedHeaders {
    /// Fields that describe one connection, not the message.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
    ]

    /// Whether `name` (lowercased) must not cross the proxy: the fixed hop-by-hop set,
    /// `Proxy-*` (and `Proxy`, whose value CGI-style apps would read as HTTP_PROXY —
    /// "httpoxy"), and whatever the message's `Connection` field names.
    static func isHopByHop(_ name: String, named: Set<String>) -> Bool {
        hopByHop.contains(name) || name == "proxy" || name.hasPrefix("proxy-") || named.contains(name)
    }

    /// The field names a `Connection` header lists (lowercased).
    static func connectionOptions<S: Sequence>(_ headers: S) -> Set<String>
    where S.Element == (name: String, value: String) {
        var names = Set<String>()
        for (name, value) in headers where name.lowercased() == "connection" {
            for token in value.split(separator: ",") {
                names.insert(token.trimmingCharacters().lowercased())
            }
        }
        return names
    }

    /// How the request body travels upstream.
    enum Framing {
        case none
        case length(Int64)
        case chunked
    }

    /// The header block sent upstream for `request`.
    /// `upgrade`: the protocols the front can tunnel (RFC 9110 §7.8): sent on with
    /// `Connection: upgrade`, the one hop-by-hop request field that crosses.
    static func request(
        _ request: AppRequest, host: String?, fallbackHost: String, framing: Framing, upgrade: [String] = []
    ) -> HTTPHeaders {
        let named = connectionOptions(request.headers)
        var headers = HTTPHeaders()
        headers.reserveCapacity(request.headers.count + 4)
        var clientHost: String?
        var forwardedFor: [String] = []
        for (name, value) in request.headers {
            let lower = name.lowercased()
            switch lower {
            case "host":
                clientHost = value
                continue
            case "x-forwarded-for":
                forwardedFor.append(value)
                continue
            // Recomputed below, or answered by the front itself (100-continue).
            case "x-forwarded-proto", "x-forwarded-host", "content-length", "expect":
                continue
            default:
                if isHopByHop(lower, named: named) { continue }
            }
            headers.add(name: name, value: value)
        }
        headers.add(name: "Host", value: host ?? clientHost ?? fallbackHost)
        forwardedFor.append(request.remoteAddress)
        headers.add(name: "X-Forwarded-For", value: forwardedFor.joined(separator: ", "))
        headers.add(name: "X-Forwarded-Proto", value: request.scheme)
        if let clientHost { headers.add(name: "X-Forwarded-Host", value: clientHost) }
        if !upgrade.isEmpty {
            headers.add(name: "Connection", value: "upgrade")
            headers.add(name: "Upgrade", value: upgrade.joined(separator: ", "))
        }
        switch framing {
        case .none: break
        case .length(let length): headers.add(name: "Content-Length", value: String(length))
        case .chunked: headers.add(name: "Transfer-Encoding", value: "chunked")
        }
        return headers
    }

    /// A `101 Switching Protocols` head's fields for the client: hop-by-hop ones dropped
    /// but for `Upgrade` (the protocol switched to) and `Connection: upgrade`.
    static func upgradeResponse(_ headers: HTTPHeaders) -> [(name: String, value: String)] {
        var fields = response(headers)
        fields.append(("Connection", "upgrade"))
        for value in headers[canonicalForm: "upgrade"] { fields.append(("Upgrade", String(value))) }
        return fields
    }

    /// The upstream's response fields without the hop-by-hop ones (the front frames the
    /// response to its client itself).
    static func response(_ headers: HTTPHeaders) -> [(name: String, value: String)] {
        let named = connectionOptions(headers.map { (name: $0.name, value: $0.value) })
        var fields: [(name: String, value: String)] = []
        fields.reserveCapacity(headers.count)
        for (name, value) in headers where !isHopByHop(name.lowercased(), named: named) {
            fields.append((name, value))
        }
        return fields
    }
}

extension Substring {
    func trimmingCharacters() -> Substring {
        var s = self
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return s
    }
}
