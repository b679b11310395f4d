import Foundation

/// Command-line flags that override (or, without a config file, make up) a configuration.
/// Relative paths in flags are resolved against `workingDirectory`.
public struct ConfigOverrides: Sendable, Equatable {
    /// `--bind`: when given, replaces every `[[listen]]` of the file.
    public var binds: [String]
    /// `--workers`: for every app.
    public var workers: Int?
    /// `--python`: for every app, and the top-level default.
    public var python: String?
    /// `--chdir`: for the only app.
    public var chdir: String?
    /// `--static URL_PREFIX=DIR`: static prefix routes, taking precedence over file routes
    /// with the same path.
    public var statics: [String]
    /// The app argument (`hello:app`, or a discovered Django project): replaces the only app's
    /// entry, or creates an app named `app` when there is none.
    public var appEntry: AppEntry?
    /// `--access-log`: `-`, `off` or a path.
    public var accessLog: String?
    /// `--isolate` (true) or `--no-isolate` (false): whether every app's workers run in
    /// containers.
    public var isolate: Bool?
    /// `--timeout`: every app's hard request timeout in seconds.
    public var timeout: Double?
    public var workingDirectory: String

    public init(
        binds: [String] = [], workers: Int? = nil, python: String? = nil, chdir: String? = nil,
        statics: [String] = [], appEntry: AppEntry? = nil, accessLog: String? = nil, isolate: Bool? = nil,
        timeout: Double? = nil, workingDirectory: String = FileManager.default.currentDirectoryPath
    ) {
        self.binds = binds
        self.workers = workers
        self.python = python
        self.chdir = chdir
        self.statics = statics
        self.appEntry = appEntry
        self.accessLog = accessLog
        self.isolate = isolate
        self.timeout = timeout
        self.workingDirectory = workingDirectory
    }

    /// The name of the app created from flags alone.
    public static let defaultAppName = "app"
    /// How errors name the app argument.
    static let appArgument = "APP"
}

extension BerthConfig {
    /// A configuration from flags alone: an app named `app` when `appEntry` is given, routes
    /// for the statics first and then `/` → the app. The filesystem is checked.
    public static func fromOverrides(_ overrides: ConfigOverrides, mode: Mode) throws(ConfigErrors) -> BerthConfig {
        try BerthConfig(mode: mode).applying(overrides, mode: mode)
    }

    /// This configuration with `overrides` applied (flags win), checked against the
    /// filesystem. Errors name the flag.
    public func applying(_ overrides: ConfigOverrides, mode: Mode) throws(ConfigErrors) -> BerthConfig {
        let config = try applyingWithoutChecks(overrides, mode: mode)
        try config.validateFilesystem()
        return config
    }

    func applyingWithoutChecks(_ o: ConfigOverrides, mode: Mode) throws(ConfigErrors) -> BerthConfig {
        var config = self
        var errors = ErrorCollector(file: nil)
        let context = ReadContext(baseDirectory: o.workingDirectory)

        func read<Value>(_ kind: ValueKind<Value>, _ value: TOMLNode, flag: String) -> Value? {
            do { return try kind.read(value, context) } catch {
                errors.add(flag, error.problem)
                return nil
            }
        }

        if !o.binds.isEmpty {
            let addresses = o.binds.compactMap { read(.listenAddress, .string($0), flag: "--bind") }
            config.listeners = addresses
            for address in addresses { config.origins[CheckID.listen(address)] = Origin(key: "--bind") }
        }
        if let text = o.accessLog, let log = read(.accessLog, .string(text), flag: "--access-log") {
            config.server.accessLog = log
            config.origins[CheckID.accessLog] = Origin(key: "--access-log")
        }
        if let text = o.python, let python = read(.program, .string(text), flag: "--python") {
            config.python = python
            config.origins[CheckID.python] = Origin(key: "--python")
            for i in config.apps.indices {
                config.apps[i].python = python
                config.origins[CheckID.python(config.apps[i].name)] = Origin(key: "--python")
            }
        }
        let chdir = o.chdir.flatMap { read(.path, .string($0), flag: "--chdir") }

        if let entry = o.appEntry {
            if let problem = entry.problem {
                errors.add(ConfigOverrides.appArgument, problem)
            } else if config.apps.isEmpty {
                let name = ConfigOverrides.defaultAppName
                config.apps = [
                    AppConfig(
                        name: name, entry: entry, chdir: chdir ?? o.workingDirectory, python: config.python,
                        mode: mode)
                ]
                config.origins[CheckID.chdir(name)] = Origin(key: "--chdir")
            } else if config.apps.count == 1 {
                config.apps[0].entry = entry
            } else {
                errors.add(ConfigOverrides.appArgument, "the config has several apps (\(appList(config))); name none")
            }
        }
        if let chdir {
            switch config.apps.count {
            case 1:
                config.apps[0].chdir = chdir
                config.origins[CheckID.chdir(config.apps[0].name)] = Origin(key: "--chdir")
            case 0: errors.add("--chdir", "there is no app to run in it")
            default: errors.add("--chdir", "the config has several apps (\(appList(config))); set chdir in each")
            }
        }
        if let workers = o.workers {
            if read(ValueKind<Int>.integer(1...512), .integer(workers), flag: "--workers") != nil {
                // The flag makes a fixed pool, also of an app that autoscales in the file.
                for i in config.apps.indices {
                    config.apps[i].workers = workers
                    config.apps[i].minWorkers = nil
                    config.apps[i].maxWorkers = nil
                }
            }
        }
        if let timeout = o.timeout, let seconds = read(ValueKind<Double>.seconds(0...86400), .float(timeout), flag: "--timeout") {
            for i in config.apps.indices { config.apps[i].timeout = seconds }
        }
        if let isolate = o.isolate {
            for i in config.apps.indices { config.apps[i].isolation.enabled = isolate }
        }

        var flagRoutes: [Route] = []
        for spec in o.statics {
            guard let equals = spec.firstIndex(of: "="), equals != spec.startIndex,
                spec.index(after: equals) != spec.endIndex
            else {
                errors.add("--static", "expected URL_PREFIX=DIR, got \(quoted(spec))")
                continue
            }
            let prefix = String(spec[..<equals])
            if let problem = urlPathProblem(prefix) {
                errors.add("--static", "URL prefix \(problem)")
                continue
            }
            let root = resolvePath(String(spec[spec.index(after: equals)...]), against: o.workingDirectory)
            let route = Route(path: prefix, target: .static(StaticRoute(root: root)))
            flagRoutes.append(route)
            config.origins[CheckID.staticRoot(route)] = Origin(key: "--static")
        }
        if !flagRoutes.isEmpty {
            let replaced = Set(flagRoutes.map(CheckID.staticRoot))
            config.routes = RouteTable(flagRoutes + config.routes.routes.filter { !replaced.contains(CheckID.staticRoot($0)) })
        }
        if let problem = config.addDefaultRoute() {
            errors.add("route", problem)
        }
        try errors.throwIfAny()
        return config
    }
}

private func appList(_ config: BerthConfig) -> String {
    config.apps.map(\.name).joined(separator: ", ")
}
