import BerthConfig
import Foundation
import Gateway
import Logging
import NIOCore

/// Status, metrics and reload of a running stack.
extension Stack {
    /// Longest a reload waits for the new workers (and the health check).
    static let reloadWithin = 120.0

    /// Starts the control socket and the admin listener the config asks for. A control
    /// socket already served by another berth is logged, not fatal.
    func startOperations(reload: @escaping @Sendable () async -> ControlReply) async throws {
        if let path = config.server.controlSocket.path {
            do {
                let control = try await ControlServer.start(path: path, group: group, logger: logger) { [self] command in
                    switch command {
                    case "ping": return ControlReply(ok: true, message: "pong")
                    case "status": return ControlReply(ok: true, message: "status", body: await statusJSON())
                    case "reload": return await reload()
                    default: return ControlReply(ok: false, message: "unknown command \(command.debugDescription); try status or reload")
                    }
                }
                operations.withLockedValue { $0.control = control }
                logger.info("control socket \(path)")
            } catch {
                logger.warning("no control socket: \(error)")
            }
        }
        if let address = config.server.adminListen {
            let page: AdminServer.Page = { [self] path in
                switch path {
                case "/metrics": return (.ok, PrometheusText.contentType, PrometheusText.render(await poolStatuses()))
                case "/status": return (.ok, "application/json", String(decoding: await statusJSON(), as: UTF8.self) + "\n")
                default: return (.notFound, "text/plain", "not found: try /metrics or /status\n")
                }
            }
            let admin: AdminServer
            switch address {
            case .tcp(let host, let port):
                admin = try await AdminServer.start(host: host, port: port, unixPath: nil, group: group, page: page)
            case .unix(let path):
                admin = try await AdminServer.start(host: nil, port: 0, unixPath: path, group: group, page: page)
            }
            operations.withLockedValue { $0.admin = admin }
            say("berth: admin listening on \(admin.address)")
        }
    }

    func stopOperations() async {
        let (control, admin) = operations.withLockedValue { ops in
            defer { ops = (nil, nil) }
            return ops
        }
        await control?.stop()
        await admin?.stop()
    }

    func poolStatuses() async -> [PoolStatus] {
        var statuses: [PoolStatus] = []
        for (_, pool) in pools.sorted(by: { $0.key < $1.key }) {
            if let status = try? await pool.status().get() { statuses.append(status) }
        }
        return statuses
    }

    /// `{"pid": ..., "mode": ..., "config": ..., "apps": [...]}`, keys in snake_case.
    func statusJSON() async -> Data {
        struct Document: Encodable {
            var pid: Int32
            var mode: String
            var config: String?
            var apps: [PoolStatus]
        }
        let document = Document(
            pid: getpid(), mode: mode == .dev ? "dev" : "serve", config: current.withLockedValue { $0.sourcePath },
            apps: await poolStatuses())
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(document)) ?? Data("{}".utf8)
    }

    /// Applies `new` whole or not at all: every app boots a new generation beside the
    /// serving one; only when all are ready (and healthy) do they all switch; otherwise
    /// every new generation is dropped and the running config stays.
    func reload(to new: BerthConfig) async -> ControlReply {
        let running = current.withLockedValue { $0 }
        if let blocker = new.reloadBlocker(replacing: running) {
            logger.error("reload rejected: \(blocker)")
            return ControlReply(ok: false, message: "reload rejected: \(blocker)")
        }
        var prepared: [(WorkerPool, EventLoopFuture<Void>)] = []
        do {
            let workerPath = try WorkerLocation.pythonPath()
            for app in new.apps {
                guard let pool = pools[app.name] else { continue }
                let configuration = try Stack.poolConfiguration(
                    for: app, config: new, mode: mode, extraEnvironment: extraEnvironment, workerPath: workerPath)
                prepared.append((pool, pool.prepareReload(configuration, healthPath: app.healthPath, within: Stack.reloadWithin)))
            }
        } catch {
            for (pool, _) in prepared { pool.abortReload() }
            logger.error("reload rejected: \(error)")
            return ControlReply(ok: false, message: "reload rejected: \(error)")
        }
        var failures: [String] = []
        for (pool, future) in prepared {
            do {
                try await future.get()
            } catch {
                failures.append("\(error)")
                _ = pool
            }
        }
        if !failures.isEmpty {
            for (pool, _) in prepared { pool.abortReload() }
            let message = "reload failed, the running workers keep serving: " + failures.joined(separator: "; ")
            logger.error("\(message)")
            return ControlReply(ok: false, message: message)
        }
        for (pool, _) in prepared { pool.commitReload() }
        current.withLockedValue { $0 = new }
        logger.info("reload done: new workers serve")
        return ControlReply(ok: true, message: "reloaded: new workers serve")
    }
}
