import AppExchange
import Foundation
import NIOCore
import Testing

@testable import HTTPFront

@Suite("Front: host routing, route headers, redirects, per-connection limits")
struct FrontRoutingTests {
    let service = EchoService()

    func harness(configure: (inout FrontConfiguration) -> Void = { _ in }) throws -> FrontHarness {
        let service = self.service
        var configuration = FrontConfiguration(route: { _ in nil })
        configuration.routeRequest = { host, path in
            switch host {
            case "framed": return Routing(target: .app(service, prefix: "/"), responseHeaders: [("X-Frame-Options", "DENY"), ("Content-Type", "text/x-mine")])
            case "none": return nil
            default: return Routing(target: .app(service, prefix: "/"))
            }
        }
        configure(&configuration)
        return try FrontHarness(configuration: configuration)
    }

    @Test func routesByHostAndAddsRouteHeaders() throws {
        let front = try harness()
        let framed = try front.exchange("GET /x HTTP/1.1\r\nHost: framed\r\n\r\n")
        #expect(framed.contains("X-Frame-Options: DENY\r\n"))
        #expect(framed.contains("Content-Type: text/x-mine\r\n"))
        #expect(!framed.contains("text/plain"), "the route's field replaces the app's")
        let plain = try front.exchange("GET /x HTTP/1.1\r\nHost: other\r\n\r\n")
        #expect(!plain.contains("X-Frame-Options"))
        #expect(statusLine(try front.exchange("GET /x HTTP/1.1\r\nHost: none\r\n\r\n")) == "HTTP/1.1 404 Not Found")
    }

    @Test func redirectsToHTTPS() throws {
        let front = try harness { $0.redirectToHTTPSPort = 8443 }
        let out = try front.exchange("GET /a/b?c=d HTTP/1.1\r\nHost: example.com:8080\r\n\r\n")
        #expect(statusLine(out) == "HTTP/1.1 301 Moved Permanently")
        #expect(out.contains("Location: https://example.com:8443/a/b?c=d\r\n"))
        let standard = try harness { $0.redirectToHTTPSPort = 443 }
        let v6 = try standard.exchange("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n")
        #expect(v6.contains("Location: https://[::1]/\r\n"))
        #expect(service.lastRequest == nil, "a redirect never reaches the app")
    }

    @Test func maxRequestsPerConnection() throws {
        let front = try harness { $0.maxRequestsPerConnection = 2 }
        let first = try front.exchange("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(!first.contains("Connection: close"))
        let second = try front.exchange("GET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(second.contains("Connection: close"))
        #expect(!front.isActive)
    }
}
