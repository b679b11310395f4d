import Testing

@testable import BerthConfig

/// Host routing, route headers, proxy routes and upstreams, TLS listeners, logs and limits.
@Suite struct FrontConfigTests {
    static let a = Route(path: "/", target: .app(name: "a"), hosts: ["a.test"])
    static let aAPI = Route(path: "/api", target: .app(name: "a-api"), hosts: ["a.test"])
    static let wild = Route(path: "/", target: .app(name: "wild"), hosts: ["*.b.test"])
    static let deeper = Route(path: "/", target: .app(name: "deeper"), hosts: ["*.x.b.test"])
    static let fallback = Route(path: "/", target: .app(name: "default"))
    static let table = RouteTable([fallback, wild, deeper, a, aAPI])

    @Test(arguments: [
        ("a.test", "/", "a"),
        ("A.TEST:8000", "/api/x", "a-api"),
        ("a.test.", "/", "a"),
        ("one.b.test", "/", "wild"),
        ("two.one.b.test", "/", "wild"),
        ("y.x.b.test", "/", "deeper"),
        ("b.test", "/", "default"),
        ("other", "/", "default"),
        ("[::1]:80", "/", "default"),
    ])
    func hostThenPath(host: String, path: String, expected: String) throws {
        let route = try #require(Self.table.match(host: host, path: path))
        guard case .app(let name) = route.target else { throw Failure() }
        #expect(name == expected)
    }

    @Test func aHostsRoutesAreItsOwn() {
        let table = RouteTable([Self.aAPI, Self.fallback])
        #expect(table.match(host: "a.test", path: "/") == nil)
        #expect(table.match(host: nil, path: "/")?.target == .app(name: "default"))
    }

    struct Failure: Error {}

    @Test func proxyRoutesUpstreamsAndHeaders() throws {
        let config = try parse("""
            [upstream.api]
            servers = ["http://10.0.0.1:9000", "http://[::1]", "unix:run/api.sock"]
            max_fails = 3
            read_timeout = 2.5
            buffer_request = true
            host = "api.internal"

            [[route]]
            path = "/api"
            upstream = "api"
            host = ["example.com", "*.example.com"]
            headers = { "X-Frame-Options" = "DENY" }

            [[route]]
            path = "/"
            proxy = "http://127.0.0.1:8001"
            """)
        #expect(config.upstreams.map(\.name) == ["api"])
        let api = config.routes.routes[0]
        guard case .proxy(let upstream) = api.target else { throw Failure() }
        #expect(upstream.servers == [.tcp(host: "10.0.0.1", port: 9000), .tcp(host: "::1", port: 80), .unix(path: "/srv/site/run/api.sock")])
        #expect(upstream.maxFails == 3 && upstream.readTimeout == 2.5 && upstream.bufferRequest)
        #expect(upstream.host == "api.internal" && upstream.connectTimeout == 5 && upstream.keepalive == 32)
        #expect(api.hosts == ["example.com", "*.example.com"])
        #expect(api.headers == ["X-Frame-Options": "DENY"])
        guard case .proxy(let single) = config.routes.routes[1].target else { throw Failure() }
        #expect(single.servers == [.tcp(host: "127.0.0.1", port: 8001)] && single.maxFails == 1)
    }

    @Test func httpsUpstreamsAndPoolSettings() throws {
        let config = try parse("""
            [upstream.secure]
            servers = ["https://api.example.com", "https://10.0.0.2:8443", "http://10.0.0.3:80"]
            tls_ca = "tls/ca.pem"
            tls_server_name = "api.internal"
            keepalive_timeout = 5
            upgrade_timeout = 30

            [[route]]
            path = "/"
            upstream = "secure"

            [[route]]
            path = "/one"
            proxy = "https://[::1]"
            """)
        let secure = try #require(config.upstreams.first)
        #expect(secure.servers == [
            .tcp(host: "api.example.com", port: 443, tls: true), .tcp(host: "10.0.0.2", port: 8443, tls: true),
            .tcp(host: "10.0.0.3", port: 80),
        ])
        #expect(secure.servers.map(\.description) == ["https://api.example.com:443", "https://10.0.0.2:8443", "http://10.0.0.3:80"])
        #expect(secure.tlsCA == "/srv/site/tls/ca.pem" && secure.tlsServerName == "api.internal" && secure.tlsVerify)
        #expect(secure.keepaliveTimeout == 5 && secure.upgradeTimeout == 30)
        guard case .proxy(let single) = config.routes.routes[1].target else { throw Failure() }
        #expect(single.servers == [.tcp(host: "::1", port: 443, tls: true)])
        #expect(single.keepaliveTimeout == 60 && single.upgradeTimeout == 600 && single.tlsVerify && single.tlsCA == nil)
    }

    @Test func mimeTableIsGlobal() throws {
        let config = try parse("""
            [mime]
            webp2 = "image/webp2"
            ".TXT" = "text/x-custom"

            [[route]]
            path = "/"
            static = "www"
            """)
        #expect(config.mimeTypes == ["webp2": "image/webp2", "txt": "text/x-custom"])
    }

    @Test func tlsListenersAndRedirects() throws {
        let config = try parse("""
            [[listen]]
            bind = ":80"
            redirect_https = 443

            [[listen]]
            bind = ":443"
            tls_certificate = "tls/a.crt"
            tls_key = "tls/a.key"
            tls_sni = [{ certificate = "tls/b.crt", key = "/etc/b.key" }]

            [[route]]
            path = "/"
            static = "www"
            """)
        #expect(config.listenerOptions[.tcp(host: "0.0.0.0", port: 80)] == ListenerOptions(httpsRedirectPort: 443))
        let tls = try #require(config.listenerOptions[.tcp(host: "0.0.0.0", port: 443)]?.tls)
        #expect(tls.certificate == CertificatePair(certificate: "/srv/site/tls/a.crt", key: "/srv/site/tls/a.key"))
        #expect(tls.sni == [CertificatePair(certificate: "/srv/site/tls/b.crt", key: "/etc/b.key")])
        #expect(tls.alpn == ["h2", "http/1.1"])
    }

    @Test(arguments: [
        ("[[listen]]\nbind = \":443\"\ntls_certificate = \"a.crt\"", "berth.toml: listen[0].tls_key: is required with tls_certificate"),
        ("[[listen]]\nbind = \":80\"\nalpn = [\"http/1.1\"]", "berth.toml: listen[0].alpn: only applies to TLS listeners (set tls_certificate and tls_key)"),
        ("[[listen]]\nbind = \":443\"\ntls_certificate = \"a\"\ntls_key = \"k\"\nalpn = [\"spdy\"]", #"berth.toml: listen[0].alpn[0]: must be one of "h2", "http/1.1", got "spdy""#),
        ("[[listen]]\nbind = \":443\"\ntls_certificate = \"a\"\ntls_key = \"k\"\nredirect_https = 443", "berth.toml: listen[0].redirect_https: is for a plain listener beside a TLS one; this listener has TLS"),
        ("[[listen]]\nbind = \":443\"\ntls_certificate = \"a\"\ntls_key = \"k\"\ntls_sni = [{ certificate = \"b\" }]", "berth.toml: listen[0].tls_sni[0].key: is required"),
        ("[server]\naccess_log_format = \"xml\"", #"berth.toml: server.access_log_format: must be "combined" or "json", got "xml""#),
        ("[server]\nerror_log_level = \"loud\"", #"berth.toml: server.error_log_level: must be "debug", "info", "notice", "warning", "error" or "critical", got "loud""#),
        ("[server]\nmax_connections = -1", "berth.toml: server.max_connections: must be an integer from 0 to 10000000, got -1"),
    ])
    func badFrontSettings(toml: String, expected: String) {
        #expect(errorLines(toml + "\n[[route]]\npath = \"/\"\nstatic = \"www\"\n") == [expected])
    }

    @Test func logsAndLimitsDefaults() throws {
        let config = try parse("[server]\nerror_log = \"log/error.log\"\naccess_log_format = \"json\"\n[[route]]\npath = \"/\"\nstatic = \"www\"")
        #expect(config.server.errorLog == .file(path: "/srv/site/log/error.log"))
        #expect(config.server.accessLogFormat == .json)
        #expect(config.server.errorLogLevel == .info)
        #expect(config.server.maxRequestsPerConnection == 1000 && config.server.maxConnections == 10000)
    }
}
