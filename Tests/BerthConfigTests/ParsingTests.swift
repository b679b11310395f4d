import Foundation
import Testing

@testable import BerthConfig

@Suite struct ParsingTests {
    @Test func fullConfigBecomesTheModel() throws {
        let config = try parse(
            """
            python = "../venv/bin/python"

            [server]
            access_log = "logs/access.log"
            max_header_size = "32k"
            max_body_size = 0
            keepalive_timeout = 2.5
            header_timeout = 10
            body_timeout = 20
            shutdown_grace = 3
            debug_allowed = true

            [[listen]]
            bind = "127.0.0.1:8000"
            [[listen]]
            bind = "unix:run/berth.sock"

            [app.web]
            django = "mysite.settings"
            chdir = "../mysite"
            workers = 4
            timeout = 12.5
            queue_size = 10
            env = { A = "1", B = "two" }

            [app.api]
            module = "api.wsgi:create_app()"
            python = "/usr/bin/python3"

            [[route]]
            path = "/static/"
            static = "static"
            immutable = true
            index = []

            [[route]]
            path = "/api"
            app = "api"

            [[route]]
            path = "/"
            app = "web"
            """)
        var server = ServerSettings(mode: .serve)
        server.accessLog = .file(path: "/srv/site/logs/access.log")
        server.maxHeaderSize = 32768
        server.maxBodySize = 0
        server.keepaliveTimeout = 2.5
        server.headerTimeout = 10
        server.bodyTimeout = 20
        server.shutdownGrace = 3
        server.debugAllowed = true
        var web = AppConfig(
            name: "web", entry: .django(settings: "mysite.settings"), chdir: "/srv/mysite",
            python: "/srv/venv/bin/python", mode: .serve)
        web.workers = 4
        web.timeout = 12.5
        web.queueSize = 10
        web.env = ["A": "1", "B": "two"]
        let api = AppConfig(
            name: "api", entry: .module("api.wsgi:create_app()"), chdir: "/srv/site", python: "/usr/bin/python3",
            mode: .serve)
        let expected = BerthConfig(
            server: server,
            listeners: [.tcp(host: "127.0.0.1", port: 8000), .unix(path: "/srv/site/run/berth.sock")],
            apps: [api, web],
            routes: RouteTable([
                Route(path: "/static/", target: .static(StaticRoute(root: "/srv/site/static", index: [], immutable: true))),
                Route(path: "/api", target: .app(name: "api")),
                Route(path: "/", target: .app(name: "web")),
            ]),
            python: "/srv/venv/bin/python",
            sourcePath: "berth.toml")
        #expect(config == expected)
        #expect(config.apps.map(\.name) == ["api", "web"])
    }

    @Test func oneAppAndNoRoutesGetsTheDefaultRoute() throws {
        let config = try parse(
            """
            [app.hello]
            module = "hello:app"
            """)
        #expect(config.routes.routes == [Route(path: "/", target: .app(name: "hello"))])
        #expect(config.apps == [AppConfig(name: "hello", entry: .module("hello:app"), chdir: "/srv/site", mode: .serve)])
        #expect(config.listeners.isEmpty)
        #expect(config.server == ServerSettings(mode: .serve))
    }

    @Test func staticRoutesAloneStillGetTheDefaultAppRoute() throws {
        let config = try parse(
            """
            [app.hello]
            module = "hello:app"
            [[route]]
            path = "/static/"
            static = "static"
            """)
        #expect(config.routes.routes.map(\.path) == ["/static/", "/"])
    }

    @Test func emptyFileIsAnEmptyConfig() throws {
        let config = try parse("")
        #expect(config == BerthConfig(server: ServerSettings(mode: .serve), sourcePath: "berth.toml"))
    }

    @Test func poolSizeIsFixedOrARange() throws {
        let fixed = try parse("[app.a]\nmodule = \"a:app\"\nworkers = 3").apps[0]
        #expect(fixed.workerRange == 3...3)
        #expect(!fixed.autoscales)
        let scaling = try parse(
            """
            [app.a]
            module = "a:app"
            min_workers = 2
            max_workers = 6
            spare_workers = 2
            idle_timeout = 30
            max_starting = 3
            """).apps[0]
        #expect(scaling.workerRange == 2...6)
        #expect(scaling.autoscales)
        #expect((scaling.spareWorkers, scaling.idleTimeout, scaling.maxStarting) == (2, 30, 3))
        let upTo = try parse("[app.a]\nmodule = \"a:app\"\nmax_workers = 4").apps[0]
        #expect(upTo.workerRange == 1...4)
        #expect((upTo.spareWorkers, upTo.idleTimeout, upTo.maxStarting) == (1, 60, 2))
    }

    @Test func modeChangesOnlyDefaults() throws {
        let toml = """
            [app.a]
            module = "a:app"
            """
        let serve = try parse(toml, mode: .serve).apps[0]
        let dev = try parse(toml, mode: .dev).apps[0]
        #expect((serve.workers, serve.timeout, serve.queueSize) == (2, 30, 1024))
        #expect((dev.workers, dev.timeout, dev.queueSize) == (1, 0, 1024))
        #expect(ServerSettings(mode: .serve).debugAllowed == false)
        #expect(ServerSettings(mode: .dev).debugAllowed == true)

        let explicit = try parse(
            """
            [server]
            debug_allowed = false
            [app.a]
            module = "a:app"
            workers = 3
            timeout = 60
            """, mode: .dev)
        #expect(explicit.apps[0].workers == 3)
        #expect(explicit.apps[0].timeout == 60)
        #expect(explicit.server.debugAllowed == false)
    }

    @Test func serveDefaultsMatchTheSchema() {
        let s = ServerSettings(mode: .serve)
        #expect(s.accessLog == .stdout)
        #expect(s.maxHeaderSize == 16384)
        #expect(s.maxBodySize == 104_857_600)
        #expect((s.keepaliveTimeout, s.headerTimeout, s.bodyTimeout, s.shutdownGrace) == (75, 30, 60, 30))
    }

    @Test func isolationTableBecomesTheModel() throws {
        let config = try parse(
            """
            [app.web]
            django = "mysite.settings"
            [app.web.isolation]
            enabled = true
            network = "host"
            memory = "1g"
            cpu = 0.5
            pids = 0
            uid = 1000
            gid = 1001
            volumes = ["media", "../var/./web"]
            read_only = ["/etc/web.conf", "~/shared"]
            seccomp_allow = ["ptrace"]
            seccomp_deny = ["io_uring_setup", "bpf"]
            hostname = "web-1"
            rootfs = "overlay"
            rootfs_size = "32m"
            address_space = "2GiB"
            nofile = 1024
            nproc = 512
            """, mode: .dev)
        var expected = IsolationConfig(appName: "web", mode: .dev)
        expected.enabled = true
        expected.network = .host
        expected.memory = 1 << 30
        expected.cpu = 0.5
        expected.pids = 0
        expected.uid = 1000
        expected.gid = 1001
        expected.volumes = ["/srv/site/media", "/srv/var/web"]
        expected.readOnly = ["/etc/web.conf", NSHomeDirectory() + "/shared"]
        expected.seccompAllow = ["ptrace"]
        expected.seccompDeny = ["io_uring_setup", "bpf"]
        expected.hostname = "web-1"
        expected.rootfs = .overlay
        expected.rootfsSize = 32 << 20
        expected.addressSpace = 2 << 30
        expected.nofile = 1024
        expected.nproc = 512
        #expect(config.apps.map(\.isolation) == [expected])

        // Inline tables work too, and an integer CPU count is a float.
        let inline = try parse(
            """
            [app.web]
            django = "mysite.settings"
            isolation = { cpu = 2, memory = 0, network = "none" }
            """)
        #expect(inline.apps[0].isolation.cpu == 2)
        #expect(inline.apps[0].isolation.memory == 0)
        #expect(inline.apps[0].isolation.network == .none)
    }

    @Test func isolationDefaultsPerMode() throws {
        let toml = """
            [app.my_site]
            module = "a:app"
            """
        let serve = try parse(toml, mode: .serve).apps[0].isolation
        let dev = try parse(toml, mode: .dev).apps[0].isolation
        #expect(serve.enabled == true)
        #expect(dev.enabled == false)
        for isolation in [serve, dev] {
            #expect(isolation.network == .none)
            #expect(isolation.memory == 512 << 20)
            #expect(isolation.cpu == 1.0)
            #expect(isolation.pids == 128)
            #expect((isolation.uid, isolation.gid) == (65534, 65534))
            #expect(isolation.volumes.isEmpty && isolation.readOnly.isEmpty)
            #expect(isolation.seccompAllow.isEmpty && isolation.seccompDeny.isEmpty)
            #expect(isolation.rootfs == .readOnly && isolation.rootfsSize == 64 << 20)
            #expect((isolation.addressSpace, isolation.nofile, isolation.nproc) == (0, 4096, 4096))
            // "_" is not allowed in host names.
            #expect(isolation.hostname == "berth-my-site")
        }
        #expect(serve == IsolationConfig(appName: "my_site", mode: .serve))
        #expect(dev == IsolationConfig(appName: "my_site", mode: .dev))

        let explicit = try parse(toml + "\n[app.my_site.isolation]\nenabled = true", mode: .dev)
        #expect(explicit.apps[0].isolation.enabled == true)
        #expect(explicit.apps[0].isolation.pids == 128)
    }

    @Test(arguments: [
        ("web", "berth-web"), ("my_site", "berth-my-site"), ("a-", "berth-a"),
        (String(repeating: "x", count: 70), "berth-" + String(repeating: "x", count: 57)),
        (String(repeating: "x", count: 56) + "_y", "berth-" + String(repeating: "x", count: 56)),
    ])
    func defaultHostnamesAreValid(app: String, hostname: String) {
        #expect(IsolationConfig.defaultHostname(appName: app) == hostname)
        #expect(hostnameProblem(hostname) == nil)
    }

    @Test(arguments: [
        ("\"100m\"", 104_857_600), ("\"1g\"", 1 << 30), ("\"512k\"", 524_288), ("\"512K\"", 524_288),
        ("\"1MiB\"", 1 << 20), ("\"2mb\"", 2 << 20), ("\"123\"", 123), ("4096", 4096), ("0", 0),
    ])
    func bodySizeUnits(value: String, bytes: Int) throws {
        let config = try parse("[server]\nmax_body_size = \(value)")
        #expect(config.server.maxBodySize == bytes)
    }

    @Test func byteSizeFormatting() {
        #expect(ByteSize.format(104_857_600) == "100m")
        #expect(ByteSize.format(1536) == "1536")
        #expect(ByteSize.format(16384) == "16k")
        #expect(throws: InvalidValue.self) { try ByteSize.parse("1.5m") }
        #expect(throws: InvalidValue.self) { try ByteSize.parse("m") }
        #expect(throws: InvalidValue.self) { try ByteSize.parse("99999999999999g") }
    }

    @Test(arguments: [
        ("-", AccessLog.stdout), ("off", .off), ("/var/log/berth.log", .file(path: "/var/log/berth.log")),
        ("access.log", .file(path: "/srv/site/access.log")),
    ])
    func accessLogValues(value: String, log: AccessLog) throws {
        #expect(try parse("[server]\naccess_log = \"\(value)\"").server.accessLog == log)
    }

    @Test func pathsResolveLexicallyAgainstTheFileDirectory() throws {
        let config = try parse(
            """
            python = "./../a/./b/../python"
            [app.x]
            module = "x:app"
            chdir = "/abs/./dir/"
            """)
        #expect(config.python == "/srv/a/python")
        #expect(config.apps[0].chdir == "/abs/dir")
        #expect(config.apps[0].python == "/srv/a/python")
    }

    @Test func bareProgramNamesStayNames() throws {
        let config = try parse("python = \"python3\"")
        #expect(config.python == "python3")
    }

    @Test func exampleConfigsParse() throws {
        for (name, mode) in [("berth.toml", Mode.serve), ("dev.toml", .dev)] {
            let path = "\(repositoryRoot)/conf/\(name)"
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let config = try BerthConfig.parse(
                toml: text, baseDirectory: "\(repositoryRoot)/conf", mode: mode, sourceName: "conf/\(name)")
            #expect(config.listeners == [.tcp(host: "127.0.0.1", port: 8000)])
            #expect(config.python == "\(repositoryRoot)/.venv/bin/python")
            let app = try #require(config.app(named: "mysite"))
            #expect(app.entry == .django(settings: "mysite.settings"))
            #expect(app.chdir == "\(repositoryRoot)/samples/mysite")
            #expect(app.workers == (mode == .dev ? 1 : 2))
            #expect(app.timeout == (mode == .dev ? 0 : 30))
            #expect(config.routes.routes.map(\.path) == ["/static/", "/media/", "/"])
            #expect(
                config.routes.match(path: "/static/app.css")?.target
                    == .static(
                        StaticRoute(
                            root: "\(repositoryRoot)/samples/mysite/staticfiles", immutable: mode == .serve)))
            #expect(config.routes.match(path: "/admin/")?.target == .app(name: "mysite"))
            #expect(app.isolation.enabled == (mode == .serve))
            if mode == .serve {
                #expect(app.isolation.memory == 512 << 20)
                #expect(app.isolation.pids == 128)
                #expect(
                    app.isolation.volumes == [
                        "\(repositoryRoot)/samples/mysite/media", "\(repositoryRoot)/samples/mysite/var",
                    ])
                // Relative to the workers' directory, samples/mysite: the database is in the volume.
                #expect(app.env["MYSITE_DB"] == "var/db.sqlite3")
            }
        }
    }
}
