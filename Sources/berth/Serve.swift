import ArgumentParser
import BerthConfig
import Foundation

/// `berth serve`: production.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve an app in production: a worker pool, static files, an access log.",
        discussion: """
            Examples:
              berth serve -c conf/berth.toml
              berth serve mysite.wsgi:application --chdir mysite -w 4 -b :8000
              berth serve --django mysite.settings --static /static/=staticfiles

            Flags override the config file. SIGTERM or SIGINT stop gracefully (in-flight
            requests finish); SIGHUP (or `berth reload`) re-reads the config and swaps in
            fresh workers once they are ready.
            """)

    @Argument(help: "The WSGI app as MODULE:CALLABLE (or MODULE:FACTORY()).")
    var app: String?

    @Option(name: [.short, .customLong("config")], help: "A berth.toml config file.")
    var config: String?

    @Option(help: "A Django settings module; berth loads its WSGI_APPLICATION.")
    var django: String?

    @Option(help: settingHelp("--chdir", "Change to this directory before loading the app (it goes first on sys.path)."))
    var chdir: String?

    @Option(name: [.short, .customLong("workers")], help: settingHelp("--workers", "Number of worker processes."))
    var workers: Int?

    @Option(name: [.short, .customLong("bind")], help: settingHelp("--bind", "Listen on HOST:PORT, [IPv6]:PORT or unix:PATH.", repeatable: true))
    var bind: [String] = []

    @Option(name: .customLong("static"), help: "Serve URL_PREFIX from the files in DIR, e.g. /static/=staticfiles. Repeatable.")
    var statics: [String] = []

    @Option(help: settingHelp("--python", "The Python interpreter for workers (a venv's bin/python)."))
    var python: String?

    @Flag(inversion: .prefixedNo, help: "Run each worker in a container (namespaces, read-only root, cgroup limits, seccomp). Default: on in serve mode, off in dev mode.")
    var isolate: Bool?

    @Option(help: settingHelp("--timeout", "Hard limit in seconds for one request (0 = none)."))
    var timeout: Double?

    @Option(name: .customLong("access-log"), help: settingHelp("--access-log", "Access log: - (stdout), off, or a file path."))
    var accessLog: String?

    func run() async throws {
        if app != nil && django != nil {
            throw ValidationError("give either MODULE:CALLABLE or --django SETTINGS, not both")
        }
        var entry: AppEntry?
        if let app { entry = .module(app) }
        if let django { entry = .django(settings: django) }
        let overrides = ConfigOverrides(
            binds: bind, workers: workers, python: python, chdir: chdir, statics: statics,
            appEntry: entry, accessLog: accessLog, isolate: isolate, timeout: timeout)
        if config == nil && entry == nil {
            throw ValidationError("nothing to serve: give MODULE:CALLABLE, --django SETTINGS, or -c FILE")
        }
        let path = config
        // Read at start and again on every reload (SIGHUP, `berth reload`).
        let read: @Sendable () throws -> BerthConfig = {
            let loaded = try path.map { path throws(ConfigErrors) in try BerthConfig.load(path: path, mode: .serve, overrides: overrides) }
                ?? BerthConfig.fromOverrides(overrides, mode: .serve)
            try loaded.validateForServing()
            return loaded
        }
        let loaded: BerthConfig
        do {
            loaded = try read()
        } catch let errors as ConfigErrors {
            printError(errors.description)
            throw ExitCode(2)
        }
        try await Runner.run(config: loaded, mode: .serve, reread: read)
    }
}

/// Help for a flag from the setting it overrides (docs/configuration.md comes from the same
/// declaration), falling back to `fallback` for flags that set no config key.
func settingHelp(_ flag: String, _ fallback: String, repeatable: Bool = false) -> ArgumentHelp {
    var text = ConfigDocs.flagHelp(flag) ?? fallback
    if repeatable { text += " Repeatable." }
    return ArgumentHelp(text)
}
