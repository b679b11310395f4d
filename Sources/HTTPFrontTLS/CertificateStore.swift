import NIOConcurrencyHelpers
import NIOSSL

/// A certificate chain and its key, as files.
public struct CertificateFiles: Sendable, Hashable {
    public var certificate: String
    public var key: String

    public init(certificate: String, key: String) {
        self.certificate = certificate
        self.key = key
    }
}

/// A listener's certificates: a default one and more chosen by the client's server name
/// (SNI), each serving the DNS names in its subjectAltName (and its subject CN when it has
/// no DNS names). `reload()` reads the files again — new handshakes use the new
/// certificates, open connections keep theirs.
public final class CertificateStore: Sendable {
    struct Loaded: Sendable {
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
        var names: [String]
    }

    struct Snapshot: Sendable {
        var fallback: Loaded
        var exact: [String: Loaded]
        /// `*.example.com` certificates by suffix (`.example.com`).
        var wildcard: [String: Loaded]
    }

    /// A certificate or key that cannot be loaded, naming the file.
    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    private let files: [CertificateFiles]
    private let snapshot: NIOLockedValueBox<Snapshot>

    /// `files[0]` is the default certificate.
    public init(_ files: [CertificateFiles]) throws {
        precondition(!files.isEmpty, "a TLS listener needs a certificate")
        self.files = files
        snapshot = NIOLockedValueBox(try Self.load(files))
    }

    /// Reads every file again; on any error the certificates in use stay.
    public func reload() throws {
        let fresh = try Self.load(files)
        snapshot.withLockedValue { $0 = fresh }
    }

    var current: Snapshot { snapshot.withLockedValue { $0 } }

    /// The certificate for a client hello naming `serverName`.
    func select(_ serverName: String?) -> Loaded {
        let snapshot = current
        guard let name = serverName?.lowercased() else { return snapshot.fallback }
        if let exact = snapshot.exact[name] { return exact }
        if let dot = name.firstIndex(of: "."), let wildcard = snapshot.wildcard[String(name[dot...])] {
            return wildcard
        }
        return snapshot.fallback
    }

    private static func load(_ files: [CertificateFiles]) throws -> Snapshot {
        var loaded: [Loaded] = []
        for file in files {
            let chain: [NIOSSLCertificate]
            let key: NIOSSLPrivateKey
            do {
                chain = try NIOSSLCertificate.fromPEMFile(file.certificate)
            } catch {
                throw LoadError(description: "cannot load the certificate \(file.certificate): \(error)")
            }
            guard let leaf = chain.first else {
                throw LoadError(description: "no certificate in \(file.certificate)")
            }
            do {
                key = try NIOSSLPrivateKey(file: file.key, format: .pem)
            } catch {
                throw LoadError(description: "cannot load the private key \(file.key): \(error)")
            }
            loaded.append(Loaded(chain: chain, key: key, names: dnsNames(leaf)))
        }
        var snapshot = Snapshot(fallback: loaded[0], exact: [:], wildcard: [:])
        // The first certificate naming a host wins, like nginx's first matching server.
        for certificate in loaded {
            for name in certificate.names {
                if name.hasPrefix("*.") {
                    let suffix = String(name.dropFirst())
                    if snapshot.wildcard[suffix] == nil { snapshot.wildcard[suffix] = certificate }
                } else if snapshot.exact[name] == nil {
                    snapshot.exact[name] = certificate
                }
            }
        }
        return snapshot
    }

    private static func dnsNames(_ certificate: NIOSSLCertificate) -> [String] {
        var names: [String] = []
        for name in certificate._subjectAlternativeNames() where name.nameType == .dnsName {
            names.append(String(decoding: name.contents, as: UTF8.self).lowercased())
        }
        return names
    }
}
