import Testing

@testable import BerthConfig

@Suite struct RouteTableTests {
    static let staticFiles = Route(path: "/static/", target: .static(StaticRoute(root: "/srv/static")))
    static let staticBare = Route(path: "/static", target: .app(name: "bare"))
    static let api = Route(path: "/api", target: .app(name: "api"))
    static let apiExact = Route(path: "/api", match: .exact, target: .app(name: "api-root"))
    static let favicon = Route(path: "/favicon.ico", match: .exact, target: .static(StaticRoute(root: "/srv/icons")))
    static let root = Route(path: "/", target: .app(name: "web"))
    // Declared in an order unrelated to how they match.
    static let table = RouteTable([root, staticBare, api, staticFiles, favicon, apiExact])

    @Test(arguments: [
        ("/", "/"),
        ("/anything/else", "/"),
        ("/static/", "/static/"),
        ("/static/css/app.css", "/static/"),
        ("/static", "/static"),
        ("/staticfoo", "/"),
        ("/static-files/x", "/"),
        ("/api", "/api exact"),
        ("/api/", "/api"),
        ("/api/users/1", "/api"),
        ("/apis", "/"),
        ("/favicon.ico", "/favicon.ico exact"),
        ("/favicon.ico/x", "/"),
    ])
    func longestPrefixAfterExact(path: String, expected: String) throws {
        let route = try #require(Self.table.match(path: path))
        #expect(route.path + (route.match == .exact ? " exact" : "") == expected)
    }

    @Test func noMatchIsNil() {
        let table = RouteTable([Self.staticFiles, Self.favicon])
        #expect(table.match(path: "/") == nil)
        #expect(table.match(path: "/static") == nil)
        #expect(table.match(path: "/staticfoo") == nil)
        #expect(table.match(path: "/static/x")?.path == "/static/")
        #expect(RouteTable().match(path: "/") == nil)
    }

    @Test func exactBeatsALongerPrefix() {
        let table = RouteTable([
            Route(path: "/a/b/c", target: .app(name: "prefix")),
            Route(path: "/a/b/c", match: .exact, target: .app(name: "exact")),
        ])
        #expect(table.match(path: "/a/b/c")?.target == .app(name: "exact"))
        #expect(table.match(path: "/a/b/c/d")?.target == .app(name: "prefix"))
    }

    @Test func keepsDeclarationOrder() {
        #expect(Self.table.routes.map(\.path) == ["/", "/static", "/api", "/static/", "/favicon.ico", "/api"])
    }
}
