import Foundation

/// Generates docs/configuration.md from the setting declarations, so the reference cannot
/// drift from what the loader accepts.
public enum ConfigDocs {
    /// The full text of docs/configuration.md.
    public static func markdown() -> String {
        var out = """
            # Configuration reference

            <!-- Generated from the setting declarations in Sources/BerthConfig by ConfigDocs.markdown().
                 Do not edit by hand: run `BERTH_UPDATE_DOCS=1 swift test --filter ConfigDocsTests`. -->

            berth reads one TOML file, given with `-c` (see `conf/berth.toml` and `conf/dev.toml`).
            Flags override the file; without a file, flags alone describe what to serve
            (`berth serve hello:app --chdir samples/hello --static /static/=static`).

            - **Paths** in the file are relative to the file's directory; paths in flags are
              relative to the current directory. They are resolved without following symlinks (a
              virtualenv's `bin/python` must stay the symlink it is). A program such as `python`
              may also be a bare command name, looked up on PATH.
            - **Modes**: `berth serve` and `berth dev` differ only in defaults, shown below as
              "dev: …". A value set in the file or by a flag always wins.
            - **Errors** name the file and key (`conf/berth.toml: app.mysite.workers: must be an
              integer from 1 to 512, got "two"`) or the flag (`--workers: …`). Unknown keys are
              errors, with a suggestion for likely typos. All problems are reported at once.
            - **Filesystem checks** happen when the file is loaded: app directories and static
              roots must be directories, interpreters must be executable. A static root that does
              not exist is an error (run `manage.py collectstatic` first) unless the route sets
              `create = true`. An isolated app's `volumes` are created when missing; its
              `read_only` paths must exist.


            """
        out += section(
            "Top level", intro: "Keys outside any table.", BerthConfig.settings)
        out += section(
            "[server]", intro: "Limits and timeouts of the HTTP front, shared by all listeners.",
            ServerSettings.settings)
        out += section(
            "[[listen]]",
            intro: """
                One table per address to accept connections on. At least one is needed to serve, \
                unless `--bind` is given (which replaces them all). Port 0 picks a free port. \
                With `tls_certificate` and `tls_key` the listener speaks TLS (see [TLS](front.md#tls)); \
                `redirect_https` makes a plain listener send every request to https.
                """,
            ListenDraft.settings)
        out += section(
            "[app.NAME]",
            intro: """
                One table per Python web app; NAME uses `a-z`, `0-9`, `_` and `-`. Each app needs \
                exactly one of `django` and `module`. `env` is written `env = { KEY = "value" }`. \
                The app's worker containers are set up in `[app.NAME.isolation]`, below.
                """,
            AppConfig.settings)
        out += section(
            "[app.NAME.isolation]",
            intro: """
                Each worker of the app runs in a container berth makes itself: namespaces of its \
                own (user, mount, PID, network, UTS, IPC), cgroup limits and a seccomp filter. \
                Its root is an unprivileged host user (`uid`, `gid`). It sees only what the \
                worker needs, read-only (system directories, the interpreter and virtualenv, the \
                app directory, a few files of /etc, plus `read_only`), a private /tmp, and \
                `volumes`, which are writable and created (mode 0755) when missing. On by default \
                in serve mode, off in dev mode; `--isolate` and `--no-isolate` set `enabled` for \
                every app.
                """,
            IsolationConfig.settings)
        out += section(
            "[upstream.NAME]",
            intro: """
                A group of HTTP/1.1 servers a reverse proxy route forwards to (`upstream = \"NAME\"`); \
                a route's `proxy = \"URL\"` is the same with one server and these defaults. \
                See [the front](front.md) for what is forwarded and how.
                """,
            UpstreamConfig.settings)
        out += section(
            "[[route]]",
            intro: """
                Which requests go where. Each route needs exactly one of `static`, `app`, `proxy` \
                and `upstream`; `index`, `immutable` and `create` apply to static routes only.
                """,
            RouteDraft.settings)
        out += """
            Routes are matched like nginx locations: an `exact` route whose path equals the request
            path wins; otherwise the longest matching `prefix` route. A prefix ending in `/`
            matches every path that starts with it (`/static/` matches `/static/app.css` but not
            `/static`); a prefix without one matches itself and the paths below it (`/static`
            matches `/static` and `/static/app.css` but not `/staticfoo`). A request no route
            matches gets 404.

            With `host`, routes are grouped like nginx server blocks: a request's Host picks the
            routes that name it exactly, else those of the longest matching `*.suffix` wildcard
            (`*.example.com` matches `a.example.com` and `a.b.example.com`, not `example.com`),
            else the routes without `host` (the default server). Paths are then matched among
            that group's routes only.

            When no route sends requests to an app and there is exactly one app, berth adds the
            route `/` → that app (unless a `/` prefix route exists), so a file with one app and
            no routes serves it. Static routes given with `--static` come before the file's routes
            and replace a file route with the same path.

            """
        return out
    }

    private static func section<Model>(_ title: String, intro: String, _ settings: [Setting<Model>]) -> String {
        var out = "## \(title)\n\n\(intro)\n\n"
        out += "| Key | Type | Default | Flag | Description |\n"
        out += "| --- | --- | --- | --- | --- |\n"
        for s in settings {
            out += "| `\(s.key)` | \(s.docType) | \(defaultCell(s)) | \(s.flag.map { "`\($0)`" } ?? "") | \(s.summary) |\n"
        }
        return out + "\n"
    }

    private static func defaultCell<Model>(_ setting: Setting<Model>) -> String {
        guard let serve = setting.docDefault(.serve) else { return "" }
        if let dev = setting.docDefault(.dev), dev != serve {
            return "\(serve) (dev: \(dev))"
        }
        return serve
    }
}

extension ConfigDocs {
    /// Help text for a command-line flag, from the setting it overrides (`"--workers"` →
    /// `"Number of worker processes. Default: 2 (dev: 1)."`), so CLI help matches the docs.
    public static func flagHelp(_ flag: String) -> String? {
        func find<Model>(_ settings: [Setting<Model>]) -> String? {
            guard let s = settings.first(where: { $0.flag == flag }) else { return nil }
            var text = s.summary
            if let serve = s.docDefault(.serve), !s.isRequired, serve != "—" {
                let dev = s.docDefault(.dev)
                text += " Default: \(serve)" + (dev != nil && dev != serve ? " (dev: \(dev!))" : "") + "."
            }
            return text.filter { $0 != "`" }  // stdlib: Foundation's string search costs start-up pages
        }
        return find(AppConfig.settings) ?? find(ServerSettings.settings) ?? find(BerthConfig.settings)
            ?? find(ListenDraft.settings) ?? find(RouteDraft.settings) ?? find(IsolationConfig.settings)
    }
}
