import Testing

@testable import BerthConfig

/// What a reload may change: app settings yes; listeners, routes, [server], the set of apps
/// and isolation no — the whole reload is rejected naming the key.
@Suite struct ReloadTests {
    static let base = """
        [[listen]]
        bind = "127.0.0.1:8000"
        [app.site]
        module = "app:app"
        workers = 2
        [app.site.isolation]
        enabled = false
        """

    func blocker(_ old: String, _ new: String) throws -> String? {
        let running = try parse(old), next = try parse(new)
        return next.reloadBlocker(replacing: running)?.key
    }

    @Test func appSettingsMayChange() throws {
        let changed = Self.base.replacingOccurrences(of: "workers = 2", with: "workers = 4\ntimeout = 5\nmax_requests = 100\nenv = { A = \"b\" }")
        #expect(try blocker(Self.base, changed) == nil)
        #expect(try blocker(Self.base, Self.base.replacingOccurrences(of: "app:app", with: "other:app")) == nil)
    }

    @Test func wiredSettingsBlockTheWholeReloadNamingTheKey() throws {
        #expect(try blocker(Self.base, Self.base.replacingOccurrences(of: "8000", with: "8001")) == "listen")
        #expect(try blocker(Self.base, "[server]\nkeepalive_timeout = 5\n" + Self.base) == "server.keepalive_timeout")
        #expect(try blocker(Self.base, Self.base + "\n[[route]]\npath = \"/x/\"\napp = \"site\"\n[[route]]\npath = \"/\"\napp = \"site\"") == "route")
        let two = Self.base + "\n[app.more]\nmodule = \"b:app\"\n[[route]]\npath = \"/more/\"\napp = \"more\"\n[[route]]\npath = \"/\"\napp = \"site\"\n"
        #expect(try blocker(Self.base, two) == "app.more")
        #expect(try blocker(two, Self.base) == "app.more")
        #expect(try blocker(Self.base, Self.base.replacingOccurrences(of: "enabled = false", with: "enabled = true")) == "app.site.isolation")
    }

    @Test func isolatedAppsKeepTheirInterpreterAndDirectory() throws {
        let isolated = Self.base.replacingOccurrences(of: "enabled = false", with: "enabled = true")
        #expect(try blocker(isolated, isolated.replacingOccurrences(of: "workers = 2", with: "workers = 2\npython = \"/usr/bin/python3\"")) == "app.site.python")
        #expect(try blocker(isolated, isolated.replacingOccurrences(of: "workers = 2", with: "workers = 2\nchdir = \"/srv/other\"")) == "app.site.chdir")
        // Without isolation, both may change.
        #expect(try blocker(Self.base, Self.base.replacingOccurrences(of: "workers = 2", with: "workers = 2\npython = \"/usr/bin/python3\"")) == nil)
    }

    @Test func newSettingsValidate() {
        let app = "[app.site]\nmodule = \"app:app\"\n"
        #expect(errorLines(app + "health_path = \"healthz\"").first?.contains("app.site.health_path: must be a URL path") == true)
        #expect(errorLines(app + "max_rss = \"-1m\"").first?.contains("app.site.max_rss") == true)
        #expect(errorLines(app + "queue_timeout = -1").first?.contains("app.site.queue_timeout") == true)
        #expect(errorLines("[server]\ncontrol_socket = 3").first?.contains("server.control_socket") == true)
        #expect(errorLines("[server]\nlog_format = \"xml\"").first?.contains("server.log_format: must be \"text\" or \"json\"") == true)
        #expect(errorLines("[server]\nadmin_listen = \"nope\"").first?.contains("server.admin_listen") == true)
        #expect(errorLines(app + "max_rss = \"512m\"\nhealth_path = \"/healthz\"\n[server]\nadmin_listen = \"off\"\ncontrol_socket = \"off\"") == [])
    }
}
