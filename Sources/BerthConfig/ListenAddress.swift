/// Where berth accepts connections.
public enum ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// A TCP address. `host` is an IP address or a name; `:PORT` means `0.0.0.0`. Port 0 asks
    /// the kernel for a free port (useful in tests).
    case tcp(host: String, port: Int)
    /// A Unix domain socket.
    case unix(path: String)

    /// Parses `HOST:PORT`, `[IPv6]:PORT`, `:PORT` (all interfaces) or `unix:PATH`.
    public static func parse(_ text: String) throws(InvalidValue) -> ListenAddress {
        let expected = "expected HOST:PORT, [IPv6]:PORT, :PORT or unix:PATH, got \(quoted(text))"
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw InvalidValue("unix: needs a socket path, like unix:/run/berth.sock") }
            return .unix(path: path)
        }
        if !text.isEmpty, text.allSatisfy(\.isASCIIDigit) {
            throw InvalidValue("\(expected) (did you mean \(quoted(":" + text))?)")
        }
        guard let colon = text.lastIndex(of: ":") else { throw InvalidValue(expected) }
        var host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else { throw InvalidValue(expected) }
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            throw InvalidValue("IPv6 addresses need brackets, like [::1]:8000, got \(quoted(text))")
        } else if host.isEmpty {
            host = "0.0.0.0"
        }
        guard !host.contains(where: { $0.isWhitespace || $0 == "/" || $0 == "[" || $0 == "]" }) else {
            throw InvalidValue(expected)
        }
        guard !portText.isEmpty, portText.allSatisfy(\.isASCIIDigit) else {
            throw InvalidValue("port must be a number from 0 to 65535, got \(quoted(String(portText))) in \(quoted(text))")
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw InvalidValue("port must be from 0 to 65535, got \(portText)")
        }
        return .tcp(host: host, port: port)
    }

    /// `HOST:PORT`, `[IPv6]:PORT` or `unix:PATH`; parsing it gives back the same address.
    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): "unix:\(path)"
        }
    }

    /// A Unix socket path made absolute against `directory`; TCP addresses are unchanged.
    func resolved(against directory: String) -> ListenAddress {
        guard case .unix(let path) = self else { return self }
        return .unix(path: resolvePath(path, against: directory))
    }
}
