import ArgumentParser
import BerthConfig
import Foundation

/// `berth dev`: the developer loop.
struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Develop a Django project: one worker, reload on save, tracebacks in the browser.",
        discussion: """
            Finds manage.py in DIR (default: the current directory), reads its settings module,
            and serves the project's WSGI app on 127.0.0.1:8000 with Django's static files.
            Saving a .py file starts a fresh worker; requests wait for it.
            """)

    @Argument(help: "The Django project directory (the one with manage.py).")
    var directory: String = "."

    @Option(help: "A WSGI app as MODULE:CALLABLE instead of a Django project.")
    var app: String?

    @Option(name: [.short, .customLong("bind")], help: "Listen on HOST:PORT or unix:PATH (repeatable).")
    var bind: [String] = []

    @Option(help: "The Python interpreter (default: a .venv found in DIR or above it, or python3).")
    var python: String?

    @Flag(inversion: .prefixedNo, help: "Run each worker in a container (namespaces, read-only root, cgroup limits, seccomp). Default: on in serve mode, off in dev mode.")
    var isolate: Bool?

    @Option(help: settingHelp("--timeout", "Hard limit in seconds for one request (0 = none)."))
    var timeout: Double?

    @Option(name: .customLong("static"), help: "Also serve URL_PREFIX from DIR (repeatable).")
    var statics: [String] = []

    func run() async throws {
        let root: String
        let entry: AppEntry
        if let app {
            root = directory
            entry = .module(app)
        } else {
            do {
                let project = try DjangoProject.discover(directory: directory)
                root = project.root
                entry = .django(settings: project.settingsModule)
            } catch {
                printError("berth dev: \(error.description)")
                throw ExitCode(2)
            }
        }
        let overrides = ConfigOverrides(
            binds: bind.isEmpty ? ["127.0.0.1:8000"] : bind, python: python, chdir: root, statics: statics,
            appEntry: entry, isolate: isolate, timeout: timeout)
        let config: BerthConfig
        do {
            config = try BerthConfig.fromOverrides(overrides, mode: .dev)
        } catch {
            printError(error.description)
            throw ExitCode(2)
        }
        say("berth dev: serving \(entry) from \(root)")
        try await Runner.run(config: config, mode: .dev, environment: ["BERTH_DEV": "1"], watch: root)
    }
}
