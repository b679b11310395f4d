import Testing

@testable import BerthConfig

/// A config that must fail, and the exact lines it must fail with.
struct BadConfig: CustomTestStringConvertible, Sendable {
    let toml: String
    let errors: [String]
    init(_ toml: String, _ errors: String...) {
        self.toml = toml
        self.errors = errors
    }
    var testDescription: String { errors.first ?? toml }
}

/// Adds an app so that route cases have something to route to.
private let app = "[app.mysite]\ndjango = \"mysite.settings\"\n"

@Suite struct ErrorTests {
    static let badConfigs: [BadConfig] = [
        // Values out of range or of the wrong type.
        BadConfig(
            app + "workers = \"two\"",
            #"berth.toml: app.mysite.workers: must be an integer from 1 to 512, got "two""#),
        BadConfig(app + "workers = 0", "berth.toml: app.mysite.workers: must be an integer from 1 to 512, got 0"),
        BadConfig(app + "workers = 2.5", "berth.toml: app.mysite.workers: must be an integer from 1 to 512, got 2.5"),
        BadConfig(
            app + "timeout = -1", "berth.toml: app.mysite.timeout: must be a number of seconds from 0 to 86400, got -1"),
        BadConfig(
            app + "queue_size = true", "berth.toml: app.mysite.queue_size: must be an integer from 0 to 1000000, got true"),
        BadConfig(
            app + "env = { PORT = 8000 }", "berth.toml: app.mysite.env.PORT: must be a string, got 8000"),
        BadConfig(
            app + "env = [\"A=1\"]",
            #"berth.toml: app.mysite.env: must be a table of strings like { KEY = "value" }, got an array"#),
        BadConfig(app + "chdir = 3", "berth.toml: app.mysite.chdir: must be a path (a string), got 3"),
        BadConfig(app + "python = \"\"", "berth.toml: app.mysite.python: must not be empty"),
        BadConfig(
            "[server]\nmax_header_size = 100",
            "berth.toml: server.max_header_size: must be a size in bytes from 1024 to 1m, got 100"),
        BadConfig(
            "[server]\nmax_body_size = \"10 parsecs\"",
            #"berth.toml: server.max_body_size: must be a size in bytes from 0 to 1t (like 16384 or "16k"), got "10 parsecs""#),
        BadConfig(
            "[server]\nkeepalive_timeout = -1",
            "berth.toml: server.keepalive_timeout: must be a number of seconds from 0 to 3600, got -1"),
        BadConfig(
            "[server]\nheader_timeout = 1e9",
            "berth.toml: server.header_timeout: must be a number of seconds from 0 to 3600, got 1000000000.0"),
        BadConfig(
            "[server]\ndebug_allowed = \"yes\"", #"berth.toml: server.debug_allowed: must be true or false, got "yes""#),
        BadConfig(
            "[server]\naccess_log = \"\"",
            #"berth.toml: server.access_log: must be "-" (standard output), "off" or a file path, got """#),
        BadConfig("server = 1", "berth.toml: server: must be a table, written [server], got 1"),
        BadConfig("python = false", "berth.toml: python: must be a path or command name (a string), got false"),

        // Unknown keys, with and without a suggestion.
        BadConfig("[server]\nacces_log = \"-\"", #"berth.toml: server.acces_log: unknown key (did you mean "access_log"?)"#),
        BadConfig("pyhton = \"python3\"", #"berth.toml: pyhton: unknown key (did you mean "python"?)"#),
        BadConfig("[[routes]]\npath = \"/\"", #"berth.toml: routes: unknown key (did you mean "route"?)"#),
        BadConfig(app + "worker = 2", #"berth.toml: app.mysite.worker: unknown key (did you mean "workers"?)"#),
        BadConfig(app + "colour = \"blue\"", "berth.toml: app.mysite.colour: unknown key"),
        BadConfig(
            "[[listen]]\nport = 8000", "berth.toml: listen[0].port: unknown key", "berth.toml: listen[0].bind: is required"),

        // Apps.
        BadConfig(
            "[app.MySite]\ndjango = \"mysite.settings\"",
            #"berth.toml: app.MySite: app names may use only a-z, 0-9, "_" and "-""#),
        BadConfig(
            "[app.mysite]\nworkers = 2",
            #"berth.toml: app.mysite: needs django = "SETTINGS_MODULE" or module = "package.module:callable""#),
        BadConfig(app + "module = \"a:app\"", "berth.toml: app.mysite: set either django or module, not both"),
        // Pool size: a fixed pool or an autoscaling one, not both.
        BadConfig(
            app + "workers = 2\nmax_workers = 4",
            "berth.toml: app.mysite.workers: set either workers (a fixed pool) or max_workers (autoscaling), not both"),
        BadConfig(
            app + "workers = 2\nmin_workers = 1\nmax_workers = 4",
            "berth.toml: app.mysite.workers: set either workers (a fixed pool) or min_workers and max_workers (autoscaling), not both"),
        BadConfig(app + "min_workers = 2", "berth.toml: app.mysite.max_workers: is required with min_workers (the pool grows up to it)"),
        BadConfig(
            app + "min_workers = 5\nmax_workers = 4", "berth.toml: app.mysite.min_workers: must not exceed max_workers (4), got 5"),
        BadConfig(
            app + "spare_workers = 2",
            "berth.toml: app.mysite.spare_workers: only applies to an autoscaling pool: set max_workers (and min_workers) instead of workers"),
        BadConfig(
            app + "workers = 3\nidle_timeout = 5",
            "berth.toml: app.mysite.idle_timeout: only applies to an autoscaling pool: set max_workers (and min_workers) instead of workers"),
        BadConfig(
            app + "max_workers = 3\nspare_workers = 4", "berth.toml: app.mysite.spare_workers: must not exceed max_workers (3), got 4"),
        BadConfig(
            app + "max_workers = 3\nidle_timeout = 0",
            "berth.toml: app.mysite.idle_timeout: must be a number of seconds from 0.1 to 86400, got 0"),
        BadConfig(
            "[app.a]\nmodule = \"hello\"",
            #"berth.toml: app.a.module: must be "package.module:callable" (the callable may end with "()"), got "hello""#),
        BadConfig(
            "[app.a]\nmodule = \"hello:app(\"",
            #"berth.toml: app.a.module: must be "package.module:callable" (the callable may end with "()"), got "hello:app(""#),
        BadConfig(
            "[app.a]\ndjango = \"my-site.settings\"",
            #"berth.toml: app.a.django: must be a settings module name like "mysite.settings", got "my-site.settings""#),
        BadConfig("app = 1", "berth.toml: app: must hold one table per app, written [app.NAME], got 1"),
        BadConfig(
            "[app.a]\nmodule = \"a:app\"\n[app.b]\nmodule = \"b:app\"",
            #"berth.toml: route: no route sends requests to any app; add a [[route]] with app = "NAME" for each of "a", "b""#),

        // Isolation.
        BadConfig(
            app + "[app.mysite.isolation]\nuid = 0",
            "berth.toml: app.mysite.isolation.uid: must not be 0: the container's root would be the host's root"),
        BadConfig(
            app + "[app.mysite.isolation]\ngid = 0",
            "berth.toml: app.mysite.isolation.gid: must not be 0: the container's root group would be the host's root group"),
        BadConfig(
            app + "[app.mysite.isolation]\nuid = -5",
            "berth.toml: app.mysite.isolation.uid: must be an integer from 1 to 4294967294, got -5"),
        BadConfig(
            app + "[app.mysite.isolation]\ngid = 4294967295",
            "berth.toml: app.mysite.isolation.gid: must be an integer from 1 to 4294967294, got 4294967295"),
        BadConfig(
            app + "[app.mysite.isolation]\nmemory = \"lots\"",
            #"berth.toml: app.mysite.isolation.memory: must be a size in bytes from 0 to 1t (like 16384 or "16k"), got "lots""#),
        BadConfig(
            app + "[app.mysite.isolation]\ncpu = -1",
            "berth.toml: app.mysite.isolation.cpu: must be a number of CPUs from 0 to 64, got -1"),
        BadConfig(
            app + "[app.mysite.isolation]\ncpu = 65.5",
            "berth.toml: app.mysite.isolation.cpu: must be a number of CPUs from 0 to 64, got 65.5"),
        BadConfig(
            app + "[app.mysite.isolation]\npids = \"x\"",
            #"berth.toml: app.mysite.isolation.pids: must be an integer from 0 to 4194304, got "x""#),
        BadConfig(
            app + "[app.mysite.isolation]\nrootfs = \"overlayfs\"",
            #"berth.toml: app.mysite.isolation.rootfs: must be "read-only" or "overlay", got "overlayfs""#),
        BadConfig(
            app + "[app.mysite.isolation]\nrootfs_size = \"4k\"",
            "berth.toml: app.mysite.isolation.rootfs_size: must be a size in bytes from 1048576 to 1t, got \"4k\""),
        BadConfig(
            app + "[app.mysite.isolation]\naddress_space = \"1m\"",
            #"berth.toml: app.mysite.isolation.address_space: must be 0 (no limit) or at least 64m (Python needs more to start), got "1m""#),
        BadConfig(
            app + "[app.mysite.isolation]\nnofile = 10",
            "berth.toml: app.mysite.isolation.nofile: must be an integer from 64 to 1048576, got 10"),
        BadConfig(
            app + "[app.mysite.isolation]\nenabled = \"yes\"",
            #"berth.toml: app.mysite.isolation.enabled: must be true or false, got "yes""#),
        BadConfig(
            app + "[app.mysite.isolation]\nmemroy = \"1g\"",
            #"berth.toml: app.mysite.isolation.memroy: unknown key (did you mean "memory"?)"#),
        BadConfig(
            app + "[app.mysite.isolaton]\nmemory = \"1g\"",
            #"berth.toml: app.mysite.isolaton: unknown key (did you mean "isolation"?)"#),
        BadConfig(
            app + "isolation = true",
            "berth.toml: app.mysite.isolation: must be a table, written [app.mysite.isolation], got true"),
        BadConfig(
            app + "[app.mysite.isolation]\nnetwork = \"bridge\"",
            #"berth.toml: app.mysite.isolation.network: must be "none" or "host", got "bridge""#),
        BadConfig(
            app + "[app.mysite.isolation]\nhostname = \"My_Site\"",
            #"berth.toml: app.mysite.isolation.hostname: must be 1 to 63 of a-z, 0-9 and "-", not starting or ending with "-", got "My_Site""#),
        BadConfig(
            app + "[app.mysite.isolation]\nhostname = \"-web\"",
            #"berth.toml: app.mysite.isolation.hostname: must be 1 to 63 of a-z, 0-9 and "-", not starting or ending with "-", got "-web""#),
        BadConfig(
            app + "[app.mysite.isolation]\nhostname = \"\(String(repeating: "a", count: 64))\"",
            #"berth.toml: app.mysite.isolation.hostname: must be 1 to 63 of a-z, 0-9 and "-", not starting or ending with "-", got "\#(String(repeating: "a", count: 64))""#),
        BadConfig(
            app + "[app.mysite.isolation]\nhostname = 7",
            #"berth.toml: app.mysite.isolation.hostname: must be a host name like "berth-worker", got 7"#),
        BadConfig(
            app + "[app.mysite.isolation]\nvolumes = \"media\"",
            #"berth.toml: app.mysite.isolation.volumes: must be an array of paths, got "media""#),
        BadConfig(
            app + "[app.mysite.isolation]\nvolumes = [\"media\", 3, \"\"]",
            "berth.toml: app.mysite.isolation.volumes[1]: must be a path (a string), got 3"),
        BadConfig(
            app + "[app.mysite.isolation]\nvolumes = [\"/srv/..\"]",
            #"berth.toml: app.mysite.isolation.volumes[0]: must not be "/": the worker could write anywhere on the host"#),
        BadConfig(
            app + "[app.mysite.isolation]\nread_only = [\"\"]",
            "berth.toml: app.mysite.isolation.read_only[0]: must not be empty"),
        BadConfig(
            app + "[app.mysite.isolation]\nseccomp_allow = [\"ptrace\", \"Open-At\"]",
            #"berth.toml: app.mysite.isolation.seccomp_allow[1]: must be a system call name (a-z, 0-9 and "_"), got "Open-At""#),
        BadConfig(
            app + "[app.mysite.isolation]\nseccomp_deny = [\"\"]",
            #"berth.toml: app.mysite.isolation.seccomp_deny[0]: must be a system call name (a-z, 0-9 and "_"), got """#),
        BadConfig(
            app + "[app.mysite.isolation]\nseccomp_allow = [\"ptrace\"]\nseccomp_deny = [\"bpf\", \"ptrace\"]",
            #"berth.toml: app.mysite.isolation.seccomp_deny[1]: "ptrace" is also in seccomp_allow"#),

        // Listen addresses.
        BadConfig(
            "[[listen]]\nbind = \"8000\"",
            #"berth.toml: listen[0].bind: expected HOST:PORT, [IPv6]:PORT, :PORT or unix:PATH, got "8000" (did you mean ":8000"?)"#),
        BadConfig(
            "[[listen]]\nbind = \"127.0.0.1:70000\"", "berth.toml: listen[0].bind: port must be from 0 to 65535, got 70000"),
        BadConfig(
            "[listen]\nbind = \":80\"", "berth.toml: listen: must be an array of tables, written [[listen]], got a table"),

        // Routes.
        BadConfig(
            app + "[[route]]\npath = \"static/\"\nstatic = \"s\"",
            #"berth.toml: route[0].path: must start with "/", got "static/""#),
        BadConfig(
            app + "[[route]]\npath = \"/a b\"\napp = \"mysite\"",
            #"berth.toml: route[0].path: must be a URL path without query, fragment or spaces, got "/a b""#),
        BadConfig(app + "[[route]]\nstatic = \"s\"", "berth.toml: route[0].path: is required"),
        BadConfig(
            app + "[[route]]\npath = \"/\"\nstatic = \"s\"\napp = \"mysite\"",
            "berth.toml: route[0]: set one of static, app, proxy and upstream, not static and app"),
        BadConfig(
            app + "[[route]]\npath = \"/\"",
            #"berth.toml: route[0]: needs static = "DIRECTORY", app = "NAME", proxy = "URL" or upstream = "NAME""#),
        BadConfig(
            app + "[[route]]\npath = \"/\"\nproxy = \"http://127.0.0.1:9000\"\napp = \"mysite\"",
            "berth.toml: route[0]: set one of static, app, proxy and upstream, not app and proxy"),
        BadConfig(
            app + "[[route]]\npath = \"/api\"\nproxy = \"ftp://api:21\"",
            #"berth.toml: route[0].proxy: must be http://HOST:PORT, https://HOST:PORT or unix:PATH, got "ftp://api:21""#),
        BadConfig(
            app + "[[route]]\npath = \"/api\"\nproxy = \"http://api:9000/v1\"",
            #"berth.toml: route[0].proxy: must be http(s)://HOST:PORT without a path (the request's path is passed on as is), got "http://api:9000/v1""#),
        BadConfig(
            app + "[upstream.backend]\nservers = [\"http://127.0.0.1:1\"]\ntls_verify = false",
            "berth.toml: upstream.backend.tls_verify: only applies to https:// servers"),
        BadConfig(
            app + "[upstream.backend]\nservers = [\"https://127.0.0.1:1\"]\ntls_server_name = \"10.0.0.1\"",
            #"berth.toml: upstream.backend.tls_server_name: must be a DNS name, not an IP address (SNI cannot carry one; leave it out to check the address), got "10.0.0.1""#),
        BadConfig(
            app + "[upstream.backend]\nservers = [\"https://127.0.0.1:1\"]\nkeepalive_timeout = 0",
            "berth.toml: upstream.backend.keepalive_timeout: must be a number of seconds from 0.001 to 86400, got 0"),
        BadConfig(
            app + "[mime]\nwebp2 = 3",
            #"berth.toml: mime.webp2: must be a content type like "image/webp", got 3"#),
        BadConfig(
            app + "[mime]\n\"a/b\" = \"text/plain\"",
            "berth.toml: mime.a/b: must be a file extension like webp"),
        BadConfig(
            app + "[[route]]\npath = \"/api\"\nupstream = \"bakend\"\n[upstream.backend]\nservers = [\"http://127.0.0.1:1\"]",
            #"berth.toml: route[0].upstream: no upstream named "bakend" (did you mean "backend"?)"#),
        BadConfig(
            app + "[upstream.backend]\nkeepalive = 2",
            "berth.toml: upstream.backend.servers: is required"),
        BadConfig(
            app + "[upstream.backend]\nservers = [\"127.0.0.1:9000\"]",
            #"berth.toml: upstream.backend.servers[0]: must be http://HOST:PORT, https://HOST:PORT or unix:PATH, got "127.0.0.1:9000""#),
        BadConfig(
            app + "[[route]]\npath = \"/\"\napp = \"mysite\"\nhost = \"*.*.example.com\"",
            #"berth.toml: route[0].host: must be a host name like "example.com" or "*.example.com" (no port, no other wildcards), got "*.*.example.com""#),
        BadConfig(
            app + "[[route]]\npath = \"/\"\napp = \"mysite\"\nheaders = { \"X Bad\" = \"1\" }",
            "berth.toml: route[0].headers.X Bad: is not a valid header field name"),
        BadConfig(
            app + "[[route]]\npath = \"/\"\napp = \"mysiet\"",
            #"berth.toml: route[0].app: no app named "mysiet" (did you mean "mysite"?)"#),
        BadConfig(
            "[[route]]\npath = \"/\"\napp = \"mysite\"",
            #"berth.toml: route[0].app: no app named "mysite" (there is no [app.NAME] table)"#),
        BadConfig(
            app + "[[route]]\npath = \"/\"\napp = \"mysite\"\nimmutable = true",
            "berth.toml: route[0].immutable: only applies to static routes"),
        BadConfig(
            app + "[[route]]\npath = \"/\"\napp = \"mysite\"\nmatch = \"regex\"",
            #"berth.toml: route[0].match: must be "prefix" or "exact", got "regex""#),
        BadConfig(
            app + "[[route]]\npath = \"/s/\"\nstatic = \"s\"\nindex = [\"a/b.html\"]",
            #"berth.toml: route[0].index[0]: must be a file name without "/", got "a/b.html""#),
        BadConfig(
            app + "[[route]]\npath = \"/s/\"\nstatic = \"a\"\n[[route]]\npath = \"/s/\"\nstatic = \"b\"",
            #"berth.toml: route[1].path: prefix route "/s/" is already defined by route[0]"#),
        BadConfig(
            app + "[[route]]\npath = \"/\"\napp = \"mysite\"\n[[route]]\n",
            "berth.toml: route[1].path: is required"),
        BadConfig(
            "route = [1]", "berth.toml: route[0]: must be a table, got 1"),

        // Syntax errors point at a line and column.
        BadConfig(
            "[server]\nmax_body_size = 10\nkeepalive_timeout = = 3",
            "berth.toml:3:21: Error while parsing value: could not determine value type"),
        BadConfig(
            "[server]\nbody_timeout = 1\nbody_timeout = 2",
            "berth.toml:3:16: Error while parsing key-value pair: cannot redefine existing integer 'body_timeout'"),
        BadConfig(
            "[server]\nbody_timeout = 1\n[server]",
            "berth.toml:3:1: Error while parsing table header: cannot redefine existing table 'server'"),
    ]

    @Test(arguments: badConfigs)
    func badConfigFailsWithExactMessage(_ bad: BadConfig) {
        #expect(errorLines(bad.toml) == bad.errors)
    }

    @Test func allErrorsAreCollected() {
        let lines = errorLines(
            """
            pyhton = "python3"
            [server]
            acces_log = "-"
            max_header_size = 1
            [[listen]]
            bind = "nowhere"
            [app.web]
            django = "mysite.settings"
            workers = "two"
            [[route]]
            path = "static"
            static = "s"
            """)
        #expect(
            lines == [
                #"berth.toml: pyhton: unknown key (did you mean "python"?)"#,
                #"berth.toml: server.acces_log: unknown key (did you mean "access_log"?)"#,
                "berth.toml: server.max_header_size: must be a size in bytes from 1024 to 1m, got 1",
                #"berth.toml: listen[0].bind: expected HOST:PORT, [IPv6]:PORT, :PORT or unix:PATH, got "nowhere""#,
                #"berth.toml: app.web.workers: must be an integer from 1 to 512, got "two""#,
                #"berth.toml: route[0].path: must start with "/", got "static""#,
            ])
    }

    @Test func errorsDescribeThemselves() {
        let errors = ConfigErrors([
            ConfigError(file: "conf/berth.toml", key: "app.mysite.workers", problem: "must be an integer"),
            ConfigError(key: "--workers", problem: "must be an integer"),
            ConfigError(file: "conf/berth.toml", key: "", problem: "expected value", line: 12, column: 7),
        ])
        #expect(
            errors.description
                == "conf/berth.toml: app.mysite.workers: must be an integer\n--workers: must be an integer\n"
                + "conf/berth.toml:12:7: expected value")
    }

    @Test(arguments: [
        ("access_log", "acces_log", 1), ("workers", "worker", 1), ("python", "pyhton", 1), ("abc", "abc", 0),
        ("", "abc", 3), ("kitten", "sitting", 3),
    ])
    func editDistances(a: String, b: String, distance: Int) {
        #expect(editDistance(a, b) == distance)
    }

    @Test func suggestionsNeedToBeClose() {
        #expect(closestMatch(to: "chdri", among: ["chdir", "python"]) == "chdir")
        #expect(closestMatch(to: "env", among: ["chdir", "python"]) == nil)
        #expect(closestMatch(to: "ab", among: ["xy"]) == nil)
    }
}
