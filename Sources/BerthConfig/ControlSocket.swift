import Foundation

/// Where `berth status` and `berth reload` reach a running berth: a Unix socket.
public enum ControlSocket: Sendable, Hashable, CustomStringConvertible {
    /// The default location: `/run/berth/berth.sock` for root, else
    /// `$XDG_RUNTIME_DIR/berth/berth.sock`, else `/tmp/berth-UID/berth.sock`.
    case automatic
    case off
    case path(String)

    /// The socket's path, nil when off.
    public var path: String? {
        switch self {
        case .off: nil
        case .path(let path): path
        case .automatic: Self.defaultPath()
        }
    }

    public var description: String {
        switch self {
        case .automatic: "auto"
        case .off: "off"
        case .path(let path): path
        }
    }

    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let uid = getuid()
        if uid == 0 { return "/run/berth/berth.sock" }
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty { return runtime + "/berth/berth.sock" }
        return "/tmp/berth-\(uid)/berth.sock"
    }
}

extension ValueKind where Value == ControlSocket {
    static var controlSocket: ValueKind<ControlSocket> {
        ValueKind<ControlSocket>(
            docType: "`\"auto\"`, `\"off\"` or path",
            read: { (node, context) throws(ValueProblem) in
                guard case .string(let s) = node, !s.isEmpty else {
                    throw ValueProblem(problem: "must be \"auto\", \"off\" or a socket path, got \(node.shown)")
                }
                switch s {
                case "auto": return .automatic
                case "off": return .off
                default: return .path(resolvePath(s, against: context.baseDirectory))
                }
            },
            show: { quoted($0.description) })
    }
}

extension ValueKind where Value == ListenAddress? {
    /// An address as for `listenAddress`, or `"off"` for none.
    static var optionalListenAddress: ValueKind<ListenAddress?> {
        let address = ValueKind<ListenAddress>.listenAddress
        return ValueKind<ListenAddress?>(
            docType: "address or `\"off\"`",
            read: { (node, context) throws(ValueProblem) in
                if case .string("off") = node { return nil }
                return try address.read(node, context)
            },
            show: { $0.map { quoted($0.description) } ?? "\"off\"" })
    }
}

/// How berth writes its own log records (not the access log).
public enum LogFormat: String, Sendable, Hashable {
    case text
    case json
}

extension ValueKind where Value == LogFormat {
    static var logFormat: ValueKind<LogFormat> {
        ValueKind<LogFormat>(
            docType: "`\"text\"` or `\"json\"`",
            read: { (node, _) throws(ValueProblem) in
                guard case .string(let s) = node, let format = LogFormat(rawValue: s) else {
                    throw ValueProblem(problem: "must be \"text\" or \"json\", got \(node.shown)")
                }
                return format
            },
            show: { quoted($0.rawValue) })
    }
}
