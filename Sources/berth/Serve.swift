import ArgumentParser
import BerthConfig
import Foundation

/// `berth serve`: production.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve an app in production: a worker pool, static files, an access log.",
        discussion: """
            With a config file:   berth serve -c conf/berth.toml
            Like gunicorn:        berth serve mysite.wsgi:application --chdir samples/mysite -w 4 -b 127.0.0.1:8000 \\
                                      --static /static/=samples/mysite/staticfiles
            Flags override the file. SIGTERM or SIGINT stop gracefully; SIGHUP starts fresh workers.
            """)

    @Argument(help: "The WSGI app as MODULE:CALLABLE (or MODULE:FACTORY()).")
    var app: String?

    @Option(name: [.short, .customLong("config")], help: "A berth.toml config file.")
    var config: String?

    @Option(help: "A Django settings module; berth loads its WSGI_APPLICATION.")
    var django: String?

    @Option(help: "Change to this directory before loading the app (it goes first on sys.path).")
    var chdir: String?

    @Option(name: [.short, .customLong("workers")], help: "Number of worker processes.")
    var workers: Int?

    @Option(name: [.short, .customLong("bind")], help: "Listen on HOST:PORT, [IPv6]:PORT or unix:PATH (repeatable).")
    var bind: [String] = []

    @Option(name: .customLong("static"), help: "Serve URL_PREFIX from DIR, e.g. /static/=staticfiles (repeatable).")
    var statics: [String] = []

    @Option(help: "The Python interpreter for workers (a venv's bin/python).")
    var python: String?

    @Option(name: .customLong("access-log"), help: "Access log: - (stdout), off, or a file path.")
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
            appEntry: entry, accessLog: accessLog)
        let loaded: BerthConfig
        do {
            if let config {
                loaded = try BerthConfig.load(path: config, mode: .serve, overrides: overrides)
            } else {
                guard entry != nil else {
                    throw ValidationError("nothing to serve: give MODULE:CALLABLE, --django SETTINGS, or -c FILE")
                }
                loaded = try BerthConfig.fromOverrides(overrides, mode: .serve)
            }
            try loaded.validateForServing()
        } catch let errors as ConfigErrors {
            printError(errors.description)
            throw ExitCode(2)
        }
        try await Runner.run(config: loaded, mode: .serve)
    }
}
