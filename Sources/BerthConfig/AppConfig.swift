/// What a worker imports.
public enum AppEntry: Sendable, Hashable, CustomStringConvertible {
    /// A WSGI callable, `"package.module:callable"`; the callable may end with `()` to call a
    /// factory.
    case module(String)
    /// A Django project, by its settings module (`"mysite.settings"`).
    case django(settings: String)

    public var description: String {
        switch self {
        case .module(let target): target
        case .django(let settings): "django:\(settings)"
        }
    }

    /// Why `self` is malformed, or nil.
    var problem: String? {
        switch self {
        case .module(let target): moduleTargetProblem(target)
        case .django(let settings): settingsModuleProblem(settings)
        }
    }
}

/// One `[app.NAME]` table: a Python web app run by a pool of workers.
public struct AppConfig: Sendable, Hashable {
    /// The table's name; routes refer to it.
    public var name: String
    public var entry: AppEntry
    /// The directory workers start in and import from.
    public var chdir: String
    /// The Python interpreter; nil lets workers use `python3` from PATH.
    public var python: String?
    public var workers = 0
    /// Hard limit in seconds for one request; 0 for none.
    public var timeout = 0.0
    /// Requests that may wait for a free worker before new ones get 503.
    public var queueSize = 0
    /// Requests one worker may hold at once; 1 turns batching off.
    public var inFlight = 1
    /// Import the app once in a zygote and fork workers from it.
    public var preload = false
    /// Extra environment variables for the workers.
    public var env: [String: String] = [:]
    /// The container each worker runs in, from `[app.NAME.isolation]`.
    public var isolation: IsolationConfig

    /// An app with the defaults of `mode`.
    public init(name: String, entry: AppEntry, chdir: String, python: String? = nil, mode: Mode) {
        self.name = name
        self.entry = entry
        self.chdir = chdir
        self.python = python
        self.isolation = IsolationConfig(appName: name, mode: mode)
        Self.settings.applyDefaults(to: &self, mode: mode)
    }

    /// Keys of `[app.NAME]` that are tables with settings of their own.
    static let sections = ["isolation"]

    /// The `[app.NAME]` settings, declared once for loading, flags and docs.
    static let settings: [Setting<AppConfig>] = [
        Setting(
            "django", docType: "Python module name",
            "Django settings module, like `\"mysite.settings\"`; set this or `module`.",
            apply: { (app, node, _) throws(ValueProblem) in
                guard case .string(let s) = node else {
                    throw ValueProblem(problem: "must be a settings module name like \"mysite.settings\", got \(node.shown)")
                }
                if let problem = settingsModuleProblem(s) { throw ValueProblem(problem: problem) }
                app.entry = .django(settings: s)
            }),
        Setting(
            "module", docType: "`\"module:callable\"`",
            "WSGI callable, like `\"hello:app\"` or `\"pkg.wsgi:create_app()\"`; set this or `django`.",
            apply: { (app, node, _) throws(ValueProblem) in
                guard case .string(let s) = node else {
                    throw ValueProblem(problem: "must be \"package.module:callable\", got \(node.shown)")
                }
                if let problem = moduleTargetProblem(s) { throw ValueProblem(problem: problem) }
                app.entry = .module(s)
            }),
        Setting(
            "chdir", docType: "path", defaultText: "the config file's directory", flag: "--chdir",
            "Directory the workers start in and import the app from.",
            apply: { (app, node, context) throws(ValueProblem) in
                app.chdir = try ValueKind<String>.path.read(node, context)
            }),
        Setting(
            "python", .program, \.python, defaultText: "top-level `python`, else `python3` on PATH",
            flag: "--python", "Python interpreter for this app's workers."),
        Setting(
            "workers", .integer(1...512), \.workers, serve: 2, dev: 1, flag: "--workers",
            "Number of worker processes."),
        Setting(
            "timeout", .seconds(0...86400), \.timeout, serve: 30, dev: 0,
            "Hard limit in seconds for one request; the worker is killed after it (0 = none)."),
        Setting(
            "queue_size", .integer(0...1_000_000), \.queueSize, default: 1024,
            "Requests that may wait for a free worker; more get 503."),
        Setting(
            "in_flight", .integer(1...64), \.inFlight, serve: 16, dev: 1,
            "Requests written to one worker at a time; it answers them in order, replies batched. A worker whose current request runs long takes no more, and the ones behind it go to other workers. 1 turns batching off."),
        Setting(
            "preload", .boolean, \.preload, default: false,
            "Import the app once in a zygote process and fork each worker from it: workers start in milliseconds and share the app's memory copy-on-write. A reload starts a fresh zygote. Not yet with isolation."),
        Setting(
            "env", .environment, \.env, default: [:],
            "Extra environment variables for the workers (strings only)."),
    ]
}

/// App names are used in keys, routes and process titles: `[a-z0-9_-]+`.
func appNameProblem(_ name: String) -> String? {
    let ok = !name.isEmpty && name.allSatisfy { $0.isASCIIDigit || ("a"..."z").contains($0) || $0 == "_" || $0 == "-" }
    return ok ? nil : "app names may use only a-z, 0-9, \"_\" and \"-\""
}

private func isDottedName(_ s: Substring) -> Bool {
    !s.isEmpty && s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isIdentifier)
}

private func isIdentifier(_ s: Substring) -> Bool {
    guard let first = s.first, first == "_" || first.isLetter else { return false }
    return s.allSatisfy { $0 == "_" || $0.isLetter || $0.isNumber }
}

func settingsModuleProblem(_ s: String) -> String? {
    isDottedName(Substring(s)) ? nil : "must be a settings module name like \"mysite.settings\", got \(quoted(s))"
}

func moduleTargetProblem(_ s: String) -> String? {
    let parts = s.split(separator: ":", omittingEmptySubsequences: false)
    var callable = parts.count == 2 ? parts[1] : ""
    if callable.hasSuffix("()") { callable = callable.dropLast(2) }
    guard parts.count == 2, isDottedName(parts[0]), isDottedName(callable) else {
        return "must be \"package.module:callable\" (the callable may end with \"()\"), got \(quoted(s))"
    }
    return nil
}
