/// Turns a parsed TOML document into a `BerthConfig`, collecting every problem instead of
/// stopping at the first.
struct ConfigReader {
    var errors: ErrorCollector
    var config: BerthConfig
    let context: ReadContext
    let mode: Mode

    init(file: String?, baseDirectory: String, mode: Mode) {
        self.errors = ErrorCollector(file: file)
        self.config = BerthConfig(mode: mode)
        self.config.sourcePath = file
        self.context = ReadContext(baseDirectory: baseDirectory)
        self.mode = mode
    }

    private var file: String? { errors.file }

    mutating func read(_ document: [(key: String, value: TOMLNode)]) {
        let known = BerthConfig.settings.map(\.key) + BerthConfig.sections
        var sections: [String: TOMLNode] = [:]
        var topLevel: [(key: String, value: TOMLNode)] = []
        for (key, value) in document {
            if BerthConfig.sections.contains(key) {
                sections[key] = value
            } else if known.contains(key) {
                topLevel.append((key, value))
            } else {
                errors.unknownKey(key, at: key, known: known)
            }
        }
        errors.readSection(topLevel, at: "", into: &config, settings: BerthConfig.settings, context: context)
        config.origins[CheckID.python] = Origin(file: file, key: "python")

        if let server = sections["server"] {
            if case .table(let entries) = server {
                errors.readSection(
                    entries, at: "server", into: &config.server, settings: ServerSettings.settings, context: context)
            } else {
                errors.add("server", "must be a table, written [server], got \(server.shown)")
            }
        }
        config.origins[CheckID.accessLog] = Origin(file: file, key: "server.access_log")
        sections["listen"].map { readListeners($0) }
        sections["app"].map { readApps($0) }
        sections["upstream"].map { readUpstreams($0) }
        readRoutes(sections["route"])
    }

    private mutating func readListeners(_ node: TOMLNode) {
        for (key, entries) in tables(node, named: "listen") {
            var draft = ListenDraft()
            let present = errors.readSection(entries, at: key, into: &draft, settings: ListenDraft.settings, context: context)
            var options = ListenerOptions(httpsRedirectPort: draft.redirectHTTPS)
            switch (draft.tlsCertificate, draft.tlsKey) {
            case (let certificate?, let keyFile?):
                options.tls = ListenerTLS(
                    certificate: CertificatePair(certificate: certificate, key: keyFile), sni: draft.tlsSNI, alpn: draft.alpn)
                if draft.redirectHTTPS != nil {
                    errors.add("\(key).redirect_https", "is for a plain listener beside a TLS one; this listener has TLS")
                }
            case (.some, nil): errors.add("\(key).tls_key", "is required with tls_certificate")
            case (nil, .some): errors.add("\(key).tls_certificate", "is required with tls_key")
            case (nil, nil):
                for option in ["tls_sni", "alpn"] where present.contains(option) {
                    errors.add("\(key).\(option)", "only applies to TLS listeners (set tls_certificate and tls_key)")
                }
            }
            if let address = draft.bind {
                config.listeners.append(address)
                config.origins[CheckID.listen(address)] = Origin(file: file, key: "\(key).bind")
                if options != ListenerOptions() { config.listenerOptions[address] = options }
            }
        }
    }

    /// `workers` is a fixed pool; `min_workers`/`max_workers` an autoscaling one, whose
    /// other keys mean nothing to a fixed pool.
    private mutating func checkPoolSize(_ app: AppConfig, present: Set<String>, at key: String) {
        let scalingKeys = ["min_workers", "max_workers"].filter(present.contains)
        if present.contains("workers") && !scalingKeys.isEmpty {
            errors.add(
                "\(key).workers",
                "set either workers (a fixed pool) or \(scalingKeys.joined(separator: " and ")) (autoscaling), not both")
            return
        }
        if present.contains("min_workers") && !present.contains("max_workers") {
            errors.add("\(key).max_workers", "is required with min_workers (the pool grows up to it)")
            return
        }
        if let low = app.minWorkers, let high = app.maxWorkers, low > high {
            errors.add("\(key).min_workers", "must not exceed max_workers (\(high)), got \(low)")
            return
        }
        let tuning = ["spare_workers", "idle_timeout", "max_starting"].filter(present.contains)
        if scalingKeys.isEmpty && !tuning.isEmpty {
            errors.add(
                "\(key).\(tuning[0])",
                "only applies to an autoscaling pool: set max_workers (and min_workers) instead of workers")
        } else if let high = app.maxWorkers, present.contains("spare_workers"), app.spareWorkers > high {
            errors.add("\(key).spare_workers", "must not exceed max_workers (\(high)), got \(app.spareWorkers)")
        }
    }

    private mutating func readApps(_ node: TOMLNode) {
        guard case .table(let entries) = node else {
            errors.add("app", "must hold one table per app, written [app.NAME], got \(node.shown)")
            return
        }
        for (name, value) in entries {
            let key = "app.\(name)"
            if let problem = appNameProblem(name) {
                errors.add(key, problem)
                continue
            }
            guard case .table(let settings) = value else {
                errors.add(key, "must be a table, written [app.\(name)], got \(value.shown)")
                continue
            }
            var app = AppConfig(name: name, entry: .module(""), chdir: context.baseDirectory, mode: mode)
            let present = errors.readSection(
                settings, at: key, into: &app, settings: AppConfig.settings, sections: AppConfig.sections,
                context: context)
            if let isolation = settings.first(where: { $0.key == "isolation" })?.value {
                readIsolation(isolation, at: "\(key).isolation", into: &app.isolation)
            }
            switch (present.contains("django"), present.contains("module")) {
            case (true, true): errors.add(key, "set either django or module, not both")
            case (false, false):
                errors.add(key, "needs django = \"SETTINGS_MODULE\" or module = \"package.module:callable\"")
            default: break
            }
            checkPoolSize(app, present: present, at: key)
            let pythonKey = present.contains("python") ? "\(key).python" : "python"
            if app.python == nil { app.python = config.python }
            config.origins[CheckID.python(name)] = Origin(file: file, key: pythonKey)
            config.origins[CheckID.chdir(name)] = Origin(file: file, key: "\(key).chdir")
            config.apps.append(app)
        }
        config.apps.sort { $0.name < $1.name }
    }

    private mutating func readIsolation(_ node: TOMLNode, at key: String, into isolation: inout IsolationConfig) {
        guard case .table(let entries) = node else {
            errors.add(key, "must be a table, written [\(key)], got \(node.shown)")
            return
        }
        errors.readSection(entries, at: key, into: &isolation, settings: IsolationConfig.settings, context: context)
        for (i, name) in isolation.seccompDeny.enumerated() where isolation.seccompAllow.contains(name) {
            errors.add("\(key).seccomp_deny[\(i)]", "\(quoted(name)) is also in seccomp_allow")
        }
    }

    private mutating func readRoutes(_ node: TOMLNode?) {
        var routes: [Route] = []
        var seen: [String: String] = [:]
        for (key, entries) in node.map({ tables($0, named: "route") }) ?? [] {
            var draft = RouteDraft()
            let present = errors.readSection(
                entries, at: key, into: &draft, settings: RouteDraft.settings, context: context)
            guard let path = draft.path, let target = target(of: draft, at: key, present: present) else { continue }
            let route = Route(path: path, match: draft.match, target: target, hosts: draft.hosts, headers: draft.headers)
            let identity = CheckID.staticRoot(route)
            if let earlier = seen[identity] {
                errors.add("\(key).path", "\(route.match.rawValue) route \(quoted(path)) is already defined by \(earlier)")
                continue
            }
            seen[identity] = key
            config.origins[identity] = Origin(file: file, key: "\(key).static")
            routes.append(route)
        }
        config.routes = RouteTable(routes)
        if let problem = config.addDefaultRoute() {
            errors.add("route", problem)
        }
    }

    private mutating func readUpstreams(_ node: TOMLNode) {
        guard case .table(let entries) = node else {
            errors.add("upstream", "must hold one table per upstream, written [upstream.NAME], got \(node.shown)")
            return
        }
        for (name, value) in entries {
            let key = "upstream.\(name)"
            if appNameProblem(name) != nil {
                errors.add(key, "upstream names may use only a-z, 0-9, \"_\" and \"-\"")
                continue
            }
            guard case .table(let settings) = value else {
                errors.add(key, "must be a table, written [upstream.\(name)], got \(value.shown)")
                continue
            }
            var upstream = UpstreamConfig(name: name)
            let present = errors.readSection(
                settings, at: key, into: &upstream, settings: UpstreamConfig.settings, context: context)
            if !present.contains("servers") { errors.add("\(key).servers", "is required") }
            for (option, problem) in upstream.tlsProblems(present: present) { errors.add("\(key).\(option)", problem) }
            config.upstreams.append(upstream)
        }
        config.upstreams.sort { $0.name < $1.name }
    }

    private mutating func target(of draft: RouteDraft, at key: String, present: Set<String>) -> RouteTarget? {
        let targets = ["static", "app", "proxy", "upstream"].filter(present.contains)
        if targets.count > 1 {
            errors.add(key, "set one of static, app, proxy and upstream, not \(targets.joined(separator: " and "))")
            return nil
        }
        if draft.proxy != nil || draft.upstream != nil {
            for option in RouteDraft.staticOnlyKeys where present.contains(option) {
                errors.add("\(key).\(option)", "only applies to static routes")
            }
        }
        if let url = draft.proxy {
            do throws(InvalidValue) {
                return .proxy(UpstreamConfig(name: key, servers: [try UpstreamServer.parse(url, directory: context.baseDirectory)]))
            } catch {
                errors.add("\(key).proxy", error.problem)
                return nil
            }
        }
        if let name = draft.upstream {
            guard let upstream = config.upstreams.first(where: { $0.name == name }) else {
                var problem = "no upstream named \(quoted(name))"
                if let near = closestMatch(to: name, among: config.upstreams.map(\.name)) {
                    problem += " (did you mean \(quoted(near))?)"
                } else if config.upstreams.isEmpty {
                    problem += " (there is no [upstream.NAME] table)"
                }
                errors.add("\(key).upstream", problem)
                return nil
            }
            return .proxy(upstream)
        }
        switch (draft.staticRoot, draft.app) {
        case (let root?, nil):
            var route = StaticRoute(root: root, index: draft.index, immutable: draft.immutable, create: draft.create)
            route.cacheControl = draft.cacheControl
            route.expires = draft.expires.map { Int($0) }
            route.autoindex = draft.autoindex
            route.followSymlinks = draft.followSymlinks
            route.precompressed = draft.precompressed
            route.types = draft.types
            if let name = draft.fallback {
                guard config.app(named: name) != nil else {
                    errors.add("\(key).fallback", noAppProblem(name))
                    return nil
                }
                route.fallback = name
            }
            return .static(route)
        case (nil, let name?):
            for option in RouteDraft.staticOnlyKeys where present.contains(option) {
                errors.add("\(key).\(option)", "only applies to static routes")
            }
            guard config.app(named: name) != nil else {
                errors.add("\(key).app", noAppProblem(name))
                return nil
            }
            return .app(name: name)
        case (.some, .some):
            errors.add(key, "set either static or app, not both")
        case (nil, nil):
            if targets.isEmpty {
                errors.add(key, "needs static = \"DIRECTORY\", app = \"NAME\", proxy = \"URL\" or upstream = \"NAME\"")
            }
        }
        return nil
    }

    private func noAppProblem(_ name: String) -> String {
        var problem = "no app named \(quoted(name))"
        if let near = closestMatch(to: name, among: config.apps.map(\.name)) {
            problem += " (did you mean \(quoted(near))?)"
        } else if config.apps.isEmpty {
            problem += " (there is no [app.NAME] table)"
        }
        return problem
    }

    /// The tables of an array of tables (`[[name]]`), each with its key (`name[i]`); other
    /// shapes are reported.
    private mutating func tables(_ node: TOMLNode, named name: String) -> [(String, [(key: String, value: TOMLNode)])] {
        guard case .array(let items) = node else {
            errors.add(name, "must be an array of tables, written [[\(name)]], got \(node.shown)")
            return []
        }
        var result: [(String, [(key: String, value: TOMLNode)])] = []
        for (i, item) in items.enumerated() {
            guard case .table(let entries) = item else {
                errors.add("\(name)[\(i)]", "must be a table, got \(item.shown)")
                continue
            }
            result.append(("\(name)[\(i)]", entries))
        }
        return result
    }
}
