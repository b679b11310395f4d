import ArgumentParser

@main
struct Berth: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "Serve Django and other WSGI apps: static files and app workers in one program.",
        discussion: """
            berth dev [DIR]              develop: reload on save, tracebacks in the browser
            berth serve MODULE:CALLABLE  production, with gunicorn-style flags
            berth serve -c berth.toml    production, from a config file
            berth check -c berth.toml    validate a config without serving
            berth status                 workers, queue and restarts of a running berth
            berth reload                 re-read the config, swap in fresh workers
            """,
        version: version,
        subcommands: [Dev.self, Serve.self, Check.self, Status.self, Reload.self])
}
