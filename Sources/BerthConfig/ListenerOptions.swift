/// A certificate chain and key, as PEM files.
public struct CertificatePair: Sendable, Hashable {
    public var certificate: String
    public var key: String

    public init(certificate: String, key: String) {
        self.certificate = certificate
        self.key = key
    }
}

/// TLS on one listener.
public struct ListenerTLS: Sendable, Hashable {
    /// The default certificate (for clients that send no server name, or one no certificate
    /// names).
    public var certificate: CertificatePair
    /// More certificates, each chosen for the DNS names in its subjectAltName (SNI).
    public var sni: [CertificatePair]
    /// Application protocols offered by ALPN, in order of preference.
    public var alpn: [String]

    public init(certificate: CertificatePair, sni: [CertificatePair] = [], alpn: [String] = ["http/1.1"]) {
        self.certificate = certificate
        self.sni = sni
        self.alpn = alpn
    }
}

/// What a `[[listen]]` table sets besides its address.
public struct ListenerOptions: Sendable, Hashable {
    public var tls: ListenerTLS?
    /// Answer every request with a 301 to https on this port.
    public var httpsRedirectPort: Int?

    public init(tls: ListenerTLS? = nil, httpsRedirectPort: Int? = nil) {
        self.tls = tls
        self.httpsRedirectPort = httpsRedirectPort
    }
}

/// ALPN protocols berth can speak, in its order of preference ("h2" is dropped from what a
/// listener offers while `[server] http2 = false`).
let supportedApplicationProtocols = ["h2", "http/1.1"]

extension ValueKind {
    static var certificatePairs: ValueKind<[CertificatePair]> {
        ValueKind<[CertificatePair]>(
            docType: "array of tables",
            read: { (node, context) throws(ValueProblem) in
                let expected = "an array of { certificate = \"FILE\", key = \"FILE\" }"
                guard case .array(let items) = node else {
                    throw ValueProblem(problem: "must be \(expected), got \(node.shown)")
                }
                return try items.enumerated().map { (i, item) throws(ValueProblem) in
                    guard case .table(let entries) = item else {
                        throw ValueProblem(suffix: "[\(i)]", problem: "must be { certificate = \"FILE\", key = \"FILE\" }, got \(item.shown)")
                    }
                    var certificate: String?
                    var key: String?
                    for (name, value) in entries {
                        let path: String
                        do throws(ValueProblem) { path = try ValueKind<String>.path.read(value, context) } catch {
                            throw ValueProblem(suffix: "[\(i)].\(name)", problem: error.problem)
                        }
                        switch name {
                        case "certificate": certificate = path
                        case "key": key = path
                        default: throw ValueProblem(suffix: "[\(i)].\(name)", problem: "unknown key (expected certificate and key)")
                        }
                    }
                    guard let certificate else { throw ValueProblem(suffix: "[\(i)].certificate", problem: "is required") }
                    guard let key else { throw ValueProblem(suffix: "[\(i)].key", problem: "is required") }
                    return CertificatePair(certificate: certificate, key: key)
                }
            },
            show: { "[" + $0.map { "{ certificate = \(quoted($0.certificate)), key = \(quoted($0.key)) }" }.joined(separator: ", ") + "]" })
    }

    static var applicationProtocols: ValueKind<[String]> {
        ValueKind<[String]>(
            docType: "array of protocol names",
            read: { (node, _) throws(ValueProblem) in
                let allowed = supportedApplicationProtocols.map(quoted).joined(separator: ", ")
                guard case .array(let items) = node, !items.isEmpty else {
                    throw ValueProblem(problem: "must be a non-empty array of protocol names (\(allowed)), got \(node.shown)")
                }
                return try items.enumerated().map { (i, item) throws(ValueProblem) in
                    guard case .string(let s) = item, supportedApplicationProtocols.contains(s) else {
                        throw ValueProblem(suffix: "[\(i)]", problem: "must be one of \(allowed), got \(item.shown)")
                    }
                    return s
                }
            },
            show: { "[" + $0.map(quoted).joined(separator: ", ") + "]" })
    }
}
