import AppExchange
import BerthConfig
import Container
import Foundation
import Gateway
import HTTP2
import HTTPFront
import HTTPFrontTLS
import HTTPProxy
import LinuxSystem
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The whole running stack for one config: a worker pool per app and the HTTP front.
final class Stack: Sendable {
    /// The config berth started with; `current` is the one in force after reloads.
    let config: BerthConfig
    let current: NIOLockedValueBox<BerthConfig>
    let extraEnvironment: [String: String]
    let mode: Mode
    /// The control socket and admin listener, once started.
    let operations = NIOLockedValueBox<(control: ControlServer?, admin: AdminServer?)>((nil, nil))
    let group: MultiThreadedEventLoopGroup
    let pools: [String: WorkerPool]
    /// One reverse proxy per proxy route (each with its own pools and failure marks).
    let proxies: [ReverseProxy]
    /// The container launchers, cleaned up (cgroups, staging roots) after the pools stop.
    let containerLaunchers: [ContainerLauncher]
    /// Preloading apps' zygotes, stopped after the pools.
    let zygoteLaunchers: [ZygoteLauncher]
    let server: HTTPServer
    let logger: Logger
    /// Where the error log goes (reopened on SIGUSR1).
    let errorLog: LogFile
    /// TLS per listener address (certificates reloaded on SIGHUP).
    let tlsListeners: [ListenAddress: TLSListener]
    /// Dev mode: Django's static URL and finder directories, learned from READY facts.
    let devStatic = NIOLockedValueBox<(prefix: String, site: StaticSite)?>(nil)

    init(config: BerthConfig, mode: Mode, environment extraEnvironment: [String: String] = [:]) throws {
        self.config = config
        self.current = NIOLockedValueBox(config)
        self.extraEnvironment = extraEnvironment
        self.mode = mode
        switch config.server.errorLog {
        case .stderr: errorLog = .standardError
        case .file(let path):
            do {
                errorLog = try LogFile(path: path)
            } catch {
                throw StackError(description: "server.error_log: cannot open \(path): \(error)")
            }
        }
        let logger = BerthLogHandler.logger(config.server, destination: errorLog)
        self.logger = logger
        var tlsListeners: [ListenAddress: TLSListener] = [:]
        for (index, address) in config.listeners.enumerated() {
            guard let tls = config.listenerOptions[address]?.tls else { continue }
            do {
                let store = try CertificateStore(([tls.certificate] + tls.sni).map {
                    CertificateFiles(certificate: $0.certificate, key: $0.key)
                })
                tlsListeners[address] = try TLSListener(
                    certificates: store,
                    applicationProtocols: config.server.http2.enabled ? tls.alpn : tls.alpn.filter { $0 != "h2" },
                    handshakeTimeout: config.server.headerTimeout > 0 ? config.server.headerTimeout : 30)
            } catch {
                throw StackError(description: "listen[\(index)] (\(address)): TLS: \(error)")
            }
        }
        self.tlsListeners = tlsListeners
        group = MultiThreadedEventLoopGroup(numberOfThreads: Processes.usableCoreCount(machineCount: System.coreCount))

        let workerPath = try WorkerLocation.pythonPath()
        var pools: [String: WorkerPool] = [:]
        var containerLaunchers: [ContainerLauncher] = []
        var zygoteLaunchers: [ZygoteLauncher] = []
        for app in config.apps {
            let python = try PythonInterpreter.resolve(explicit: app.python ?? config.python, appDirectory: app.chdir)
            let launcher: WorkerLauncher
            if app.preload {
                var starter: WorkerLauncher = ProcessLauncher()
                if app.isolation.enabled {
                    // One container per zygote; its workers are forked inside it (per-pool isolation).
                    let containerLauncher = try Stack.containerLauncher(for: app, python: python, workerPath: workerPath, pool: true)
                    containerLaunchers.append(containerLauncher)
                    starter = containerLauncher
                }
                let zygote = try ZygoteLauncher(starter: starter, contained: app.isolation.enabled)
                zygote.log = { [logger, name = app.name] line in logger.warning("\(line)", metadata: ["app": "\(name)"]) }
                zygoteLaunchers.append(zygote)
                launcher = zygote
            } else if app.isolation.enabled {
                let containerLauncher = try Stack.containerLauncher(for: app, python: python, workerPath: workerPath)
                containerLaunchers.append(containerLauncher)
                launcher = containerLauncher
            } else {
                launcher = ProcessLauncher()
            }
            let poolConfiguration = try Stack.poolConfiguration(
                for: app, config: config, mode: mode, extraEnvironment: extraEnvironment, workerPath: workerPath)
            pools[app.name] = WorkerPool(
                configuration: poolConfiguration, launcher: launcher, loop: group.next(), logger: logger)
        }
        self.pools = pools
        self.containerLaunchers = containerLaunchers
        self.zygoteLaunchers = zygoteLaunchers

        var front = FrontConfiguration(route: { _ in nil })
        front.maxHeaderSize = config.server.maxHeaderSize
        front.maxBodySize = Int64(config.server.maxBodySize)
        front.keepAliveTimeout = config.server.keepaliveTimeout
        front.headerTimeout = config.server.headerTimeout
        front.bodyTimeout = config.server.bodyTimeout
        front.showTracebacks = mode == .dev
        front.http2 = Stack.http2Settings(config.server.http2)
        front.maxRequestsPerConnection = config.server.maxRequestsPerConnection
        front.maxConnections = config.server.maxConnections
        let format: HTTPFront.AccessLog.Format = config.server.accessLogFormat == .json ? .json : .combined
        switch config.server.accessLog {
        case .off: front.accessLog = nil
        case .stdout: front.accessLog = HTTPFront.AccessLog.standardOutput(format: format)
        case .file(let path): front.accessLog = try HTTPFront.AccessLog.file(path, format: format)
        }
        var proxies: [Route: ReverseProxy] = [:]
        for route in config.routes.routes {
            guard case .proxy(let upstream) = route.target else { continue }
            do {
                proxies[route] = try ReverseProxy(configuration: Stack.proxyConfiguration(upstream), group: group, logger: logger)
            } catch {
                throw StackError(description: "\(upstream.name.hasPrefix("route[") ? upstream.name + ".proxy" : "upstream." + upstream.name): \(error)")
            }
        }
        self.proxies = Array(proxies.values)
        front.routeRequest = Stack.router(config: config, pools: pools, proxies: proxies, devStatic: mode == .dev ? devStatic : nil)
        server = HTTPServer(group: group, configuration: front)
    }

    /// The worker's entry, run with `python -c` (berth_worker's `BOOTSTRAP`): `-m
    /// berth_worker` would import runpy, importlib.util and importlib.machinery into every
    /// worker for good (about 0.2 MiB each). The package is found on PYTHONPATH either way.
    static let workerBootstrap = "from berth_worker.__main__ import launch; launch()"

    /// How one app's workers are started and run, from its config.
    static func poolConfiguration(
        for app: AppConfig, config: BerthConfig, mode: Mode, extraEnvironment: [String: String], workerPath: String
    ) throws -> PoolConfiguration {
        let python = try PythonInterpreter.resolve(explicit: app.python ?? config.python, appDirectory: app.chdir)
        // The config's `env` gives defaults; berth's own environment overrides them
        // (file < environment < flags, as for every setting).
        var environment = app.env
        for (key, value) in ProcessInfo.processInfo.environment { environment[key] = value }
        for (key, value) in extraEnvironment { environment[key] = value }
        environment["PYTHONPATH"] = [workerPath, environment["PYTHONPATH"]].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ":")
        environment["PYTHONUNBUFFERED"] = "1"
        if app.isolation.enabled { environment["HOME"] = "/tmp" }
        var command = [python, "-c", Stack.workerBootstrap, "--fd", "3", "--chdir", app.chdir]
        switch app.entry {
        case .module(let entry): command += ["--app", entry]
        case .django(let settings): command += ["--django", settings]
        }
        if app.threads > 1 { command += ["--threads", "\(app.threads)"] }
        var pool = PoolConfiguration(
            name: app.name, workers: app.workers, command: command, environment: environment,
            workingDirectory: app.chdir, requestTimeout: app.timeout, queueSize: app.queueSize,
            bootFailurePolicy: mode == .dev ? .waitForReload : .fatal, queueTimeout: app.queueTimeout,
            recycle: RecyclePolicy(
                maxRequests: app.maxRequests, maxRequestsJitter: app.maxRequestsJitter,
                maxLifetime: app.maxLifetime, maxRSS: app.maxRSS),
            window: app.inFlight)
        pool.threads = app.threads
        let range = app.workerRange
        pool.scaling = PoolScaler(
            minWorkers: range.lowerBound, maxWorkers: range.upperBound, spareWorkers: app.spareWorkers,
            idleTimeout: .nanoseconds(Int64(app.idleTimeout * 1e9)), maxStarting: app.maxStarting)
        return pool
    }

    private static func http2Settings(_ config: HTTP2Config) -> HTTP2Settings? {
        guard config.enabled else { return nil }
        var settings = HTTP2Settings()
        settings.maxConcurrentStreams = config.maxConcurrentStreams
        settings.initialWindowSize = config.initialWindowSize
        settings.connectionWindowSize = config.connectionWindowSize
        settings.maxHeaderListSize = config.maxHeaderListSize
        settings.maxResets = config.maxResets
        settings.resetWindow = config.resetWindow
        return settings
    }

    /// A launcher that puts each of the app's workers in a container holding exactly the
    /// interpreter's prefixes, the app, berth's worker code and the configured volumes.
    /// `pool`: the container holds a preload zygote and every worker it forks, so its init
    /// outlives the zygote and the cgroup limits are the pool's: each worker's limit times
    /// the workers, plus one share for the zygote (pids: plus its init and a fork in flight).
    private static func containerLauncher(for app: AppConfig, python: String, workerPath: String, pool: Bool = false) throws -> ContainerLauncher {
        let facts = try PythonInterpreter.facts(python)
        let readOnly = facts.paths + [app.chdir, workerPath] + app.isolation.readOnly
        var spec = IsolationSpec(
            hostname: app.isolation.hostname,
            contents: RootfsContents(readOnly: readOnly, writable: app.isolation.volumes),
            stagingRoot: temporaryDirectory() + "berth-\(getpid())-\(app.name)-root")
        spec.hostNetwork = app.isolation.network == .host
        spec.uid = app.isolation.uid
        spec.gid = app.isolation.gid
        let isolation = app.isolation
        if isolation.memory > 0 || isolation.cpu > 0 || isolation.pids > 0 {
            // An autoscaling pool's container holds up to `max_workers`.
            let most = app.workerRange.upperBound
            let shares = pool ? most + 1 : 1
            spec.limits = CgroupLimits(
                memoryBytes: isolation.memory > 0 ? isolation.memory * shares : nil,
                cpuFraction: isolation.cpu > 0 ? isolation.cpu * Double(pool ? most : 1) : nil,
                // A threaded worker's threads count as tasks too: its lanes and its reader.
                pidsMax: isolation.pids > 0 ? (isolation.pids + (app.threads > 1 ? app.threads + 1 : 0)) * shares + (pool ? 2 : 0) : nil)
        }
        spec.initOutlivesMain = pool
        spec.rootfs = isolation.rootfs == .overlay ? .overlay(size: isolation.rootfsSize) : .readOnly
        spec.processLimits = ProcessLimits(
            nofile: isolation.nofile, nproc: isolation.nproc,
            addressSpace: isolation.addressSpace > 0 ? isolation.addressSpace : nil)
        spec.seccomp = try SeccompProfile.default(allow: isolation.seccompAllow, deny: isolation.seccompDeny).compile()
        return try ContainerLauncher(isolation: spec)
    }

    private static func proxyConfiguration(_ upstream: UpstreamConfig) -> ProxyConfiguration {
        var proxy = ProxyConfiguration(servers: upstream.servers.map { server in
            switch server {
            case .tcp(let host, let port, let tls): .tcp(host: host, port: port, tls: tls)
            case .unix(let path): .unix(path: path)
            }
        })
        proxy.connectTimeout = upstream.connectTimeout
        proxy.readTimeout = upstream.readTimeout
        proxy.sendTimeout = upstream.sendTimeout
        proxy.maxFails = upstream.maxFails
        proxy.failTimeout = upstream.failTimeout
        proxy.keepalive = upstream.keepalive
        proxy.host = upstream.host
        proxy.bufferRequest = upstream.bufferRequest
        proxy.temporaryDirectory = temporaryDirectory()
        proxy.keepaliveTimeout = upstream.keepaliveTimeout
        proxy.upgradeTimeout = upstream.upgradeTimeout
        proxy.tls = UpstreamTLS(verify: upstream.tlsVerify, caFile: upstream.tlsCA, serverName: upstream.tlsServerName)
        return proxy
    }

    /// Maps a request's host and path to its target: dev static files first, then the
    /// config's routes.
    private static func router(
        config: BerthConfig, pools: [String: WorkerPool], proxies: [Route: ReverseProxy],
        devStatic: NIOLockedValueBox<(prefix: String, site: StaticSite)?>?
    ) -> @Sendable (String?, String) -> Routing? {
        // By the route's index in the table: no hashing of a Route per request.
        var targets = [Routing?](repeating: nil, count: config.routes.routes.count)
        for (index, route) in config.routes.routes.enumerated() {
            let headers = route.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            switch route.target {
            case .static(let files):
                var options = staticOptions(config.server)
                options.indexFiles = files.index
                options.immutable = files.immutable
                options.cacheControl = files.cacheControl
                options.expires = files.expires
                options.autoindex = files.autoindex
                options.followSymlinks = files.followSymlinks
                options.precompressed = files.precompressed
                // The route's own types win over the config's [mime] table.
                options.types = config.mimeTypes.merging(files.types) { _, route in route }
                options.fallback = files.fallback.flatMap { pools[$0] }
                targets[index] = Routing(
                    target: .staticFiles(StaticSite(roots: [files.root], options: options), prefix: route.path),
                    responseHeaders: headers)
            case .app(let name):
                if let pool = pools[name] {
                    targets[index] = Routing(target: .app(pool, prefix: route.path), responseHeaders: headers)
                }
            case .proxy:
                if let proxy = proxies[route] {
                    targets[index] = Routing(target: .app(proxy, prefix: route.path), responseHeaders: headers)
                }
            }
        }
        let table = config.routes
        let frozen = targets
        return { host, path in
            if let dev = devStatic?.withLockedValue({ $0 }), path.hasPrefix(dev.prefix) {
                return Routing(target: .staticFiles(dev.site, prefix: dev.prefix))
            }
            return table.matchIndex(host: host, path: path).flatMap { frozen[$0] }
        }
    }

    /// The static file options every static site shares (the open-file cache).
    private static func staticOptions(_ server: ServerSettings) -> StaticOptions {
        var options = StaticOptions()
        options.cacheEntries = server.openFileCache
        options.cacheValidity = server.openFileCacheValid
        return options
    }

    /// Starts every pool and waits until their workers are ready. In serve mode, an app
    /// that stops booting later (a replacement fails to import) calls `onFatal`.
    func startPools(onFatal: @escaping @Sendable (String) -> Void) async throws {
        for (name, pool) in pools.sorted(by: { $0.key < $1.key }) {
            if mode == .dev {
                pool.onReady = { [devStatic, types = config.mimeTypes] facts in
                    Stack.learnDevStatic(facts, types: types, into: devStatic)
                }
                _ = pool.start()  // dev: a boot error is shown in the browser, not fatal
            } else {
                pool.onBootFailure = { failure in
                    onFatal("app '\(name)' failed to boot; stopping: \(failure.message)")
                }
                try await pool.start().get()
            }
        }
    }

    /// Binds every listener; returns the addresses actually bound, as URLs (`https://` for
    /// TLS listeners).
    func bind() async throws -> [String] {
        var bound: [String] = []
        for listener in config.listeners {
            let address: HTTPServer.Address =
                switch listener {
                case .tcp(let host, let port): .tcp(host: host, port: port)
                case .unix(let path): .unix(path: path)
                }
            let actual = try await server.bind(
                address, security: tlsListeners[listener],
                redirectToHTTPSPort: config.listenerOptions[listener]?.httpsRedirectPort)
            let url = actual.description
            bound.append(tlsListeners[listener] != nil && url.hasPrefix("http://") ? "https://" + url.dropFirst(7) : url)
        }
        return bound
    }

    /// Fresh workers (dev mode, and serve without a config file to re-read).
    func reload() {
        for pool in pools.values { pool.reload() }
    }

    /// On reload (SIGHUP, `berth reload`): the TLS certificates read again (new handshakes
    /// use them; open connections keep theirs). A certificate that fails to load leaves the
    /// old one in use.
    func reloadCertificates() {
        for (address, tls) in tlsListeners {
            do {
                try tls.certificates.reload()
                logger.info("reload: TLS certificates of \(address) reloaded")
            } catch {
                logger.error("reload: TLS certificates of \(address) not reloaded, the old ones stay: \(error)")
            }
        }
    }

    /// SIGUSR1: reopen the access and error log files (after logrotate renamed them).
    func reopenLogs() {
        do {
            try server.accessLog?.reopen()
            try errorLog.reopen()
            logger.info("SIGUSR1: log files reopened")
        } catch {
            logger.error("SIGUSR1: cannot reopen a log file: \(error)")
        }
    }

    /// Graceful stop: stop accepting, let requests finish within the grace period, stop workers.
    func stop() async {
        let grace = config.server.shutdownGrace
        await stopOperations()
        await server.stopAccepting()
        let cut = await server.drainConnections(within: grace)
        if cut > 0 {
            logger.warning("shutdown_grace (\(grace) s) is over: closing \(cut) connection(s) whose requests are still running")
        }
        for pool in pools.values {
            _ = try? await pool.shutdown(grace: 2).get()
        }
        for launcher in zygoteLaunchers { launcher.shutdown() }
        for launcher in containerLaunchers { launcher.shutdown() }
        for proxy in proxies { proxy.closeIdleConnections() }
        try? await group.shutdownGracefully()
    }

    private static func learnDevStatic(_ facts: ByteBuffer, types: [String: String], into box: NIOLockedValueBox<(prefix: String, site: StaticSite)?>) {
        guard let facts = ReadyFacts(facts), let url = facts.staticURL, url.hasPrefix("/"), !facts.staticDirs.isEmpty else { return }
        let prefix = url.hasSuffix("/") ? url : url + "/"
        // Dev mode: files change under the developer's hands; look them up every time.
        var options = StaticOptions()
        options.cacheEntries = 0
        options.types = types
        box.withLockedValue { $0 = (prefix, StaticSite(roots: facts.staticDirs, options: options)) }
    }
}

/// The config asks for something the stack cannot build.
struct StackError: Error, CustomStringConvertible {
    var description: String
}

/// The parts of a worker's READY facts that berth acts on.
struct ReadyFacts {
    var staticURL: String?
    var staticDirs: [String] = []
    var debug = false
    var settings: String?

    init?(_ buffer: ByteBuffer) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] else {
            return nil
        }
        if let django = object["django"] as? [String: Any] {
            staticURL = django["static_url"] as? String
            staticDirs = django["static_dirs"] as? [String] ?? []
            debug = django["debug"] as? Bool ?? false
            settings = django["settings"] as? String
        }
    }
}

/// Where the Python side of berth (`python/berth_worker`) lives.
enum WorkerLocation {
    struct NotFound: Error, CustomStringConvertible {
        var description: String
    }

    /// `$BERTH_WORKER_PATH`, else `../share/berth/python` beside the executable (an install),
    /// else a `python/` folder holding `berth_worker` found by walking up from the executable
    /// (a build tree). Plain path strings: Foundation's URL parser was start-up pages for nothing.
    static func pythonPath() throws -> String {
        let fm = FileManager.default
        if let explicit = ProcessInfo.processInfo.environment["BERTH_WORKER_PATH"], !explicit.isEmpty {
            return explicit
        }
        var executable = (try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        if !executable.hasPrefix("/") { executable = fm.currentDirectoryPath + "/" + executable }
        var dir = parent(of: executable)
        let share = join(parent(of: dir), "share/berth/python")
        if fm.fileExists(atPath: join(share, "berth_worker/__init__.py")) { return share }
        while dir != "/" {
            let candidate = join(dir, "python")
            if fm.fileExists(atPath: join(candidate, "berth_worker/__init__.py")) { return candidate }
            dir = parent(of: dir)
        }
        throw NotFound(description: "cannot find the berth_worker Python package; set BERTH_WORKER_PATH to the folder that holds it")
    }

    /// The directory part of an absolute path ("/" for "/x" and for "/").
    static func parent(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/"), slash != trimmed.startIndex else { return "/" }
        return String(trimmed[..<slash])
    }

    private static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
