import Foundation
import Testing

@testable import BerthConfig

@Suite struct OverridesTests {
    @Test func flagsAloneMakeAConfig() throws {
        let tmp = try TemporaryDirectory()
        try tmp.directory("samples/hello/static")
        let overrides = ConfigOverrides(
            binds: ["127.0.0.1:0"], workers: 4, chdir: "samples/hello", statics: ["/static/=samples/hello/static"],
            appEntry: .module("hello:app"), workingDirectory: tmp.path)
        let config = try BerthConfig.fromOverrides(overrides, mode: .serve)
        var app = AppConfig(name: "app", entry: .module("hello:app"), chdir: "\(tmp.path)/samples/hello", mode: .serve)
        app.workers = 4
        let expected = BerthConfig(
            server: ServerSettings(mode: .serve),
            listeners: [.tcp(host: "127.0.0.1", port: 0)],
            apps: [app],
            routes: RouteTable([
                Route(path: "/static/", target: .static(StaticRoute(root: "\(tmp.path)/samples/hello/static"))),
                Route(path: "/", target: .app(name: "app")),
            ]))
        #expect(config == expected)
        try config.validateForServing()
    }

    @Test func flagsWinOverTheFile() throws {
        let file = try parse(
            """
            python = "/usr/bin/python3"
            [[listen]]
            bind = ":8000"
            [app.web]
            django = "mysite.settings"
            workers = 8
            [[route]]
            path = "/static/"
            static = "static"
            immutable = true
            [[route]]
            path = "/media/"
            static = "media"
            """)
        let config = try file.applyingWithoutChecks(
            ConfigOverrides(
                binds: ["unix:berth.sock", "[::1]:9000"], workers: 3, python: "python3", chdir: "/srv/other",
                statics: ["/static/=/tmp/collected"], accessLog: "off", workingDirectory: "/home/me"),
            mode: .serve)
        #expect(config.listeners == [.unix(path: "/home/me/berth.sock"), .tcp(host: "::1", port: 9000)])
        #expect(config.server.accessLog == .off)
        #expect(config.python == "python3")
        let web = try #require(config.app(named: "web"))
        #expect(web.workers == 3)
        #expect(web.python == "python3")
        #expect(web.chdir == "/srv/other")
        #expect(web.entry == .django(settings: "mysite.settings"))
        #expect(
            config.routes.routes == [
                Route(path: "/static/", target: .static(StaticRoute(root: "/tmp/collected"))),
                Route(path: "/media/", target: .static(StaticRoute(root: "/srv/site/media"))),
                Route(path: "/", target: .app(name: "web")),
            ])
    }

    @Test func appArgumentReplacesTheOnlyApp() throws {
        let file = try parse("[app.web]\ndjango = \"mysite.settings\"")
        let config = try file.applyingWithoutChecks(ConfigOverrides(appEntry: .module("other:app")), mode: .serve)
        #expect(config.apps.map(\.entry) == [.module("other:app")])
        #expect(config.apps.map(\.name) == ["web"])
    }

    @Test func noOverridesChangeNothing() throws {
        let file = try parse("[app.web]\ndjango = \"mysite.settings\"\n[[listen]]\nbind = \":1\"")
        #expect(try file.applyingWithoutChecks(ConfigOverrides(), mode: .serve) == file)
    }

    @Test func devModeDefaultsForFlagApps() throws {
        let config = try BerthConfig.fromOverrides(
            ConfigOverrides(appEntry: .django(settings: "mysite.settings"), workingDirectory: "/"), mode: .dev)
        #expect(config.apps.map(\.workers) == [1])
        #expect(config.apps.map(\.timeout) == [0])
        #expect(config.apps.map(\.chdir) == ["/"])
    }

    @Test func isolateFlagsSetEveryApp() throws {
        let toml = """
            [app.a]
            module = "a:app"
            [app.a.isolation]
            memory = "1g"
            [app.b]
            module = "b:app"
            [app.b.isolation]
            enabled = false
            [[route]]
            path = "/"
            app = "a"
            """
        let dev = try parse(toml, mode: .dev)
        #expect(dev.apps.map(\.isolation.enabled) == [false, false])
        let isolated = try dev.applyingWithoutChecks(ConfigOverrides(isolate: true), mode: .dev)
        #expect(isolated.apps.map(\.isolation.enabled) == [true, true])
        // Only `enabled` changes.
        #expect(isolated.apps[0].isolation.memory == 1 << 30)

        let serve = try parse(toml, mode: .serve)
        #expect(serve.apps.map(\.isolation.enabled) == [true, false])
        let plain = try serve.applyingWithoutChecks(ConfigOverrides(isolate: false), mode: .serve)
        #expect(plain.apps.map(\.isolation.enabled) == [false, false])
        #expect(try serve.applyingWithoutChecks(ConfigOverrides(), mode: .serve) == serve)
    }

    @Test func flagAppsGetTheModesIsolation() throws {
        let entry = AppEntry.module("hello:app")
        let serve = try BerthConfig.fromOverrides(ConfigOverrides(appEntry: entry, workingDirectory: "/"), mode: .serve)
        #expect(serve.apps.map(\.isolation) == [IsolationConfig(appName: "app", mode: .serve)])
        #expect(serve.apps[0].isolation.enabled)
        #expect(serve.apps[0].isolation.hostname == "berth-app")
        let dev = try BerthConfig.fromOverrides(
            ConfigOverrides(appEntry: entry, isolate: true, workingDirectory: "/"), mode: .dev)
        #expect(dev.apps[0].isolation.enabled)
    }

    @Test func flagErrorsNameTheFlag() {
        let lines = errorLines {
            _ = try BerthConfig.fromOverrides(
                ConfigOverrides(
                    binds: ["8000", "localhost:1"], workers: 0, python: "", statics: ["x", "static/=dir", "=dir", "/s="],
                    appEntry: .module("hello"), accessLog: "", workingDirectory: "/"),
                mode: .serve)
        }
        #expect(
            lines == [
                #"--bind: expected HOST:PORT, [IPv6]:PORT, :PORT or unix:PATH, got "8000" (did you mean ":8000"?)"#,
                #"--access-log: must be "-" (standard output), "off" or a file path, got """#,
                "--python: must not be empty",
                #"APP: must be "package.module:callable" (the callable may end with "()"), got "hello""#,
                "--workers: must be an integer from 1 to 512, got 0",
                #"--static: expected URL_PREFIX=DIR, got "x""#,
                #"--static: URL prefix must start with "/", got "static/""#,
                #"--static: expected URL_PREFIX=DIR, got "=dir""#,
                #"--static: expected URL_PREFIX=DIR, got "/s=""#,
            ])
    }

    @Test func appFlagsNeedASingleApp() throws {
        let file = try parse(
            """
            [app.a]
            module = "a:app"
            [app.b]
            module = "b:app"
            [[route]]
            path = "/"
            app = "a"
            """)
        let lines = errorLines {
            _ = try file.applyingWithoutChecks(
                ConfigOverrides(chdir: "/x", appEntry: .module("c:app"), workingDirectory: "/"), mode: .serve)
        }
        #expect(
            lines == [
                "APP: the config has several apps (a, b); name none",
                "--chdir: the config has several apps (a, b); set chdir in each",
            ])
        #expect(
            errorLines { _ = try BerthConfig(mode: .serve).applyingWithoutChecks(ConfigOverrides(chdir: "/x"), mode: .serve) }
                == ["--chdir: there is no app to run in it"])
    }

    @Test func servingNeedsAnAddressAndRoutes() {
        #expect(
            errorLines { try BerthConfig(mode: .serve).validateForServing() } == [
                "listen: no address to listen on: add a [[listen]] table or pass --bind HOST:PORT",
                "route: nothing to serve: add an [app.NAME] table or a [[route]]",
            ])
    }
}
