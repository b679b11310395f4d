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
    /// A fixed pool's size (`workers`); an autoscaling pool sets `minWorkers` and `maxWorkers`.
    public var workers = 0
    /// Autoscaling: the fewest workers, when `max_workers` is set (1 unless given).
    public var minWorkers: Int?
    /// Autoscaling: the most workers; nil for a fixed pool of `workers`.
    public var maxWorkers: Int?
    /// Autoscaling: idle workers kept ready ahead of demand.
    public var spareWorkers = 1
    /// Autoscaling: seconds a worker may stay idle before it retires (above `min_workers`).
    public var idleTimeout = 60.0
    /// Autoscaling: most workers starting at once when the pool grows.
    public var maxStarting = 2
    /// Threads per worker, each running one request at a time.
    public var threads = 1
    /// Hard limit in seconds for one request; 0 for none.
    public var timeout = 0.0
    /// Requests that may wait for a free worker before new ones get 503.
    public var queueSize = 0
    /// Seconds a request may wait for a free worker before it gets 503; 0 for no limit.
    public var queueTimeout = 0.0
    /// Requests a worker serves before it is replaced; 0 for no limit.
    public var maxRequests = 0
    /// Up to this many requests are added to each worker's `maxRequests`, drawn at random.
    public var maxRequestsJitter = 0
    /// Seconds a worker lives before it is replaced; 0 for no limit.
    public var maxLifetime = 0.0
    /// Resident memory in bytes past which a worker is replaced; 0 for no limit.
    public var maxRSS = 0
    /// A path a reload's first new worker must answer (GET, status below 500) before the
    /// old workers retire; nil: the new workers' successful import is the check.
    public var healthPath: String?
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

    /// The pool's size range: `min_workers...max_workers`, or `workers...workers`.
    public var workerRange: ClosedRange<Int> {
        guard let maxWorkers else { return workers...workers }
        let low = minWorkers ?? 1
        return min(low, maxWorkers)...maxWorkers
    }

    /// Whether the pool grows and shrinks with demand.
    public var autoscales: Bool { workerRange.count > 1 }

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
            "min_workers", .integer(1...512), \.minWorkers, defaultText: "1 with `max_workers`, else `workers`",
            "Autoscaling: the fewest workers (set with `max_workers`, instead of `workers`)."),
        Setting(
            "max_workers", .integer(1...512), \.maxWorkers, defaultText: "none: a fixed pool of `workers`",
            "Autoscaling: the most workers. The pool grows when requests queue or fewer than `spare_workers` are idle, and shrinks as workers stay idle for `idle_timeout`."),
        Setting(
            "spare_workers", .integer(0...512), \.spareWorkers, default: 1,
            "Autoscaling: idle workers kept ready ahead of demand (starting ones count), within `max_workers`."),
        Setting(
            "idle_timeout", .seconds(0.1...86400), \.idleTimeout, default: 60,
            "Autoscaling: a worker idle this many seconds retires gracefully, never below `min_workers` nor the spares."),
        Setting(
            "max_starting", .integer(1...64), \.maxStarting, default: 2,
            "Autoscaling: most workers starting at once when the pool grows (each imports the app or forks the zygote); `min_workers` start together."),
        Setting(
            "threads", .integer(1...256), \.threads, default: 1,
            "Threads per worker, each running one request at a time: a worker serves this many requests at once (a slow one no longer holds the others). The app must be thread-safe (`wsgi.multithread` is true); Python code runs one thread at a time (the GIL), so threads help apps that wait (database, network, sleep), not CPU-bound ones."),
        Setting(
            "timeout", .seconds(0...86400), \.timeout, serve: 30, dev: 0, flag: "--timeout",
            "Hard limit in seconds for one request (0 = none): berth logs the worker's Python stack, kills it, answers 504 and starts a replacement."),
        Setting(
            "queue_size", .integer(0...1_000_000), \.queueSize, default: 1024,
            "Requests that may wait for a free worker; more get 503."),
        Setting(
            "queue_timeout", .seconds(0...86400), \.queueTimeout, serve: 30, dev: 0,
            "Seconds a request may wait for a free worker before it gets 503 with `Retry-After` (0 = no limit)."),
        Setting(
            "max_requests", .integer(0...100_000_000), \.maxRequests, default: 0,
            "Requests a worker serves before it is replaced by a fresh one (0 = no limit); the replacement is ready first."),
        Setting(
            "max_requests_jitter", .integer(0...100_000_000), \.maxRequestsJitter, default: 0,
            "Up to this many requests, drawn at random per worker, are added to `max_requests` so workers do not all recycle at once."),
        Setting(
            "max_lifetime", .seconds(0...31_536_000), \.maxLifetime, default: 0,
            "Seconds a worker lives before it is replaced (0 = no limit); each worker draws up to 10% more."),
        Setting(
            "max_rss", .byteSize(0...(1 << 40)), \.maxRSS, default: 0,
            "Resident memory of a worker past which it is replaced after its current request (0 = no limit), like `\"512m\"`."),
        Setting(
            "health_path", docType: "URL path", defaultText: "none: a successful import is the check",
            "Path a reload's first new worker must answer with a status below 500 (a real GET through the app) before old workers retire.",
            apply: { (app, node, _) throws(ValueProblem) in
                guard case .string(let s) = node, s.hasPrefix("/"), !s.contains(where: { $0 == " " || $0 == "#" }) else {
                    throw ValueProblem(problem: "must be a URL path starting with \"/\", like \"/healthz\", got \(node.shown)")
                }
                app.healthPath = s
            }),
        Setting(
            "in_flight", .integer(1...64), \.inFlight, serve: 16, dev: 1,
            "Requests written to one worker at a time; it answers them in order, replies batched. A worker whose current request runs long takes no more, and the ones behind it go to other workers. 1 turns batching off. With `threads`, each thread holds `in_flight / threads` (at least 1)."),
        Setting(
            "preload", .boolean, \.preload, default: false,
            "Import the app once in a zygote process and fork each worker from it: workers start in milliseconds and share the app's memory copy-on-write. A reload starts a fresh zygote. With isolation the zygote runs in one container per app and forks the workers inside it: they share its namespaces, root and cgroup (per-pool isolation; the memory, cpu and pids limits apply to the pool, scaled by the worker count)."),
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
