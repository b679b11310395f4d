import AppExchange
import NIOCore

/// A reload in two phases, so that several pools switch together or not at all:
/// `prepareReload` boots a new generation beside the serving one (which keeps serving) and
/// succeeds once all its workers are ready and, with a health path, the first answered it;
/// then `commitReload` switches atomically on the pool's loop — new requests go to the new
/// workers, old ones finish what they are doing and retire — or `abortReload` kills the new
/// generation and the old one goes on as if nothing happened.
extension WorkerPool {
    /// A reload in progress.
    struct PendingReload {
        var generation: Int
        var previous: PoolConfiguration
        var promise: EventLoopPromise<Void>
        var healthChecked: Bool
        /// Workers the new generation starts with: as many as serve now, within its range.
        var wanted: Int
        var deadline: Scheduled<Void>?
        /// Ready new workers, parked until the commit.
        var standby: [Worker] = []
    }

    /// Starts a new generation with `configuration`; the future succeeds when it can take
    /// over, or fails with `BootFailure` (import error, failed health check, too slow).
    public func prepareReload(_ configuration: PoolConfiguration, healthPath: String?, within seconds: Double) -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        onLoop { pool in
            guard !pool.stopping, pool.pending == nil else {
                promise.fail(BootFailure(message: pool.stopping ? "berth is stopping" : "a reload is already in progress"))
                return
            }
            pool.healthPath = healthPath
            let range = configuration.scaling.minWorkers...configuration.scaling.maxWorkers
            pool.pending = PendingReload(
                generation: pool.generation + 1, previous: pool.configuration, promise: promise, healthChecked: healthPath == nil,
                wanted: pool.scaler.target.clamped(to: range))
            pool.configuration = configuration
            pool.pending?.deadline = pool.loop.scheduleTask(in: .nanoseconds(Int64(seconds * 1e9))) {
                pool.reloadFailed("the new workers were not ready within \(seconds) s")
            }
            // A preload zygote imports the new code for the new generation's workers.
            pool.launcher.reload()
            pool.logger.info("reload: starting generation \(pool.generation + 1) beside the serving one")
            pool.reconcile(because: "reload (generation \(pool.generation + 1))")
        }
        return promise.futureResult
    }

    /// Switches to the prepared generation.
    public func commitReload() {
        onLoop { pool in
            guard let pending = pool.pending else { return }
            pool.pending = nil
            pending.deadline?.cancel()
            let old = pool.workers.filter { $0.generation == pool.generation && !$0.retiring && $0.exitStatus == nil }
            pool.restarts[.reload, default: 0] += old.count
            pool.generation = pending.generation
            pool.scaler = pool.configuration.scaling
            pool.scaler.resume(at: pending.wanted)
            pool.bootError = nil
            pool.crashTimes.removeAll()
            for worker in pool.workers where worker.generation < pool.generation {
                if case .idle = worker.state { pool.retire(worker) }
            }
            for worker in pending.standby { pool.workerAvailable(worker) }
            pool.logger.info("reload: generation \(pool.generation) serves; \(old.count) old worker(s) retire after their requests")
            pool.reconcile(because: "reload (generation \(pool.generation))")
        }
    }

    /// Drops the prepared generation; the serving one keeps serving.
    public func abortReload() {
        onLoop { pool in
            guard let pending = pool.pending else { return }
            pool.pending = nil
            pending.deadline?.cancel()
            pool.configuration = pending.previous
            for worker in pool.workers where worker.generation == pending.generation { pool.kill(worker) }
            pool.logger.warning("reload: generation \(pending.generation) dropped; generation \(pool.generation) keeps serving")
            pool.reconcile(because: "keeping generation \(pool.generation) at its size")
        }
    }

    /// The generation new workers join: the pending one during a reload.
    var spawnGeneration: Int { pending?.generation ?? generation }

    /// A pending-generation worker is ready or finished its health request: park it, check
    /// health with the first, and report readiness once all are there.
    func standbyAvailable(_ worker: Worker) {
        guard var pending else { return }
        worker.state = .idle
        if !pending.healthChecked, let healthPath {
            pending.healthChecked = true
            self.pending = pending
            checkHealth(of: worker, path: healthPath)
            return
        }
        pending.standby.append(worker)
        self.pending = pending
        let ready = pending.standby.count
        if ready >= pending.wanted && pending.healthChecked && !healthCheckRunning {
            pending.promise.succeed(())
        }
    }

    /// A new worker failed before the commit.
    func reloadFailed(_ message: String) {
        guard let pending else { return }
        logger.error("reload failed: \(message)")
        pending.promise.fail(BootFailure(message: message))
        abortReload()
    }

    private func checkHealth(of worker: Worker, path: String) {
        healthCheckRunning = true
        let request = AppRequest(
            method: "GET", path: path, query: "", version: "HTTP/1.1", headers: [("Host", "localhost"), ("User-Agent", "berth-health-check")],
            remoteAddress: "127.0.0.1", remotePort: 0, serverName: "localhost", serverPort: 80, scheme: "http",
            hasBody: false, requestID: "health-\(worker.id)")
        let writer = HealthCheckWriter { [self] status, detail in
            healthCheckRunning = false
            guard pending != nil else { return }
            if let status, status < 500 {
                logger.info("reload: GET \(path) answered \(status) on \(worker.label)")
            } else {
                reloadFailed("health check GET \(path) on \(worker.label): \(status.map { "status \($0)" } ?? detail)")
            }
        }
        dispatch(Exchange(request: request, writer: writer, pool: self), to: worker)
    }
}

/// Receives the response of a reload's health request (on the pool's loop).
final class HealthCheckWriter: AppResponseWriter, @unchecked Sendable {
    private var status: Int?
    private var done = false
    private let finish: (Int?, String) -> Void

    init(finish: @escaping (Int?, String) -> Void) {
        self.finish = finish
    }

    func responseHead(status: Int, reason: String, headers: [(name: String, value: String)]) { self.status = status }
    func responseBody(_ chunk: ByteBuffer) {}
    func responseFile(_ file: ResponseFile) { file.close() }
    func requestBodyWritabilityChanged(_ writable: Bool) {}

    func responseEnd() {
        guard !done else { return }
        done = true
        finish(status, "")
    }

    func responseFailed(_ failure: AppFailure, responseStarted: Bool) {
        guard !done else { return }
        done = true
        switch failure {
        case .appError(let traceback): finish(nil, "the app raised:\n\(traceback)")
        default: finish(nil, "\(failure)")
        }
    }
}
