import Testing

@testable import BerthConfig

@Suite struct ListenAddressTests {
    @Test(arguments: [
        ("127.0.0.1:8000", ListenAddress.tcp(host: "127.0.0.1", port: 8000), "127.0.0.1:8000"),
        ("localhost:0", .tcp(host: "localhost", port: 0), "localhost:0"),
        (":8080", .tcp(host: "0.0.0.0", port: 8080), "0.0.0.0:8080"),
        ("[::1]:443", .tcp(host: "::1", port: 443), "[::1]:443"),
        ("[::]:65535", .tcp(host: "::", port: 65535), "[::]:65535"),
        ("unix:/run/berth.sock", .unix(path: "/run/berth.sock"), "unix:/run/berth.sock"),
        ("unix:rel.sock", .unix(path: "rel.sock"), "unix:rel.sock"),
    ])
    func parsesAndRoundTrips(text: String, address: ListenAddress, description: String) throws {
        let parsed = try ListenAddress.parse(text)
        #expect(parsed == address)
        #expect(parsed.description == description)
        #expect(try ListenAddress.parse(parsed.description) == parsed)
    }

    @Test(arguments: [
        ("8000", #"expected HOST:PORT, [IPv6]:PORT, :PORT or unix:PATH, got "8000" (did you mean ":8000"?)"#),
        ("localhost", #"expected HOST:PORT, [IPv6]:PORT, :PORT or unix:PATH, got "localhost""#),
        ("", #"expected HOST:PORT, [IPv6]:PORT, :PORT or unix:PATH, got """#),
        ("host:", #"port must be a number from 0 to 65535, got "" in "host:""#),
        ("host:http", #"port must be a number from 0 to 65535, got "http" in "host:http""#),
        ("host:-1", #"port must be a number from 0 to 65535, got "-1" in "host:-1""#),
        ("host:65536", "port must be from 0 to 65535, got 65536"),
        ("host:99999999999999999999999", "port must be from 0 to 65535, got 99999999999999999999999"),
        ("::1:80", #"IPv6 addresses need brackets, like [::1]:8000, got "::1:80""#),
        ("[::1:80", #"expected HOST:PORT, [IPv6]:PORT, :PORT or unix:PATH, got "[::1:80""#),
        ("[]:80", #"expected HOST:PORT, [IPv6]:PORT, :PORT or unix:PATH, got "[]:80""#),
        ("my host:80", #"expected HOST:PORT, [IPv6]:PORT, :PORT or unix:PATH, got "my host:80""#),
        ("unix:", "unix: needs a socket path, like unix:/run/berth.sock"),
    ])
    func rejects(text: String, problem: String) {
        #expect(throws: InvalidValue(problem)) { try ListenAddress.parse(text) }
    }
}
