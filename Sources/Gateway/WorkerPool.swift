import AppExchange
import Container
import Foundation
import LinuxSystem
import Logging
import NIOCore
import NIOPosix

/// How one app's workers are started and run.
public struct PoolConfiguration: Sendable {
    public enum BootFailurePolicy: Sendable {
        /// Report it through `onBootFailure` and stop respawning (serve: berth exits).
        case fatal
        /// Answer requests with the boot error until `reload()` (dev: fix the file, save).
        case waitForReload
    }

    public var name: String
    /// The pool's size policy; `min_workers == max_workers` for a fixed pool.
    public var scaling: PoolScaler
    /// A fixed pool's size; setting it makes the pool fixed.
    public var workers: Int {
        get { scaling.minWorkers }
        set { scaling = PoolScaler(minWorkers: newValue, maxWorkers: newValue) }
    }
    /// The interpreter and its arguments, e.g. `[python, -c, <bootstrap>, --fd, 3, --app, x:y]`.
    public var command: [String]
    public var environment: [String: String]
    public var workingDirectory: String?
    /// Hard request timeout in seconds; 0 means none.
    public var requestTimeout: Double
    /// Requests that may wait for a worker before new ones get 503.
    public var queueSize: Int
    /// Seconds a request may wait in the queue before it gets 503; 0 for no limit.
    public var queueTimeout: Double
    public var bootFailurePolicy: BootFailurePolicy
    /// When workers are replaced by fresh ones.
    public var recycle: RecyclePolicy
    /// Most requests written to one worker at a time (docs/worker-protocol.md, "Several
    /// requests in flight"); 1 sends the next only after the previous was answered.
    public var window: Int
    /// Threads per worker (`--threads` is in `command`): each is a lane of its own, with a
    /// window of `window / threads` requests (at least 1).
    public var threads = 1
    /// A worker whose current request has run this long takes no more requests.
    public var slowAfter: TimeAmount = .milliseconds(5)
    /// ... and after this long, the requests waiting behind it go to other workers (or lanes).
    public var reclaimAfter: TimeAmount = .milliseconds(25)

    public init(
        name: String, workers: Int, command: [String], environment: [String: String],
        workingDirectory: String?, requestTimeout: Double, queueSize: Int,
        bootFailurePolicy: BootFailurePolicy, queueTimeout: Double = 0, recycle: RecyclePolicy = RecyclePolicy(),
        window: Int = 1
    ) {
        self.name = name
        self.scaling = PoolScaler(minWorkers: workers, maxWorkers: workers)
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.requestTimeout = requestTimeout
        self.queueSize = queueSize
        self.queueTimeout = queueTimeout
        self.bootFailurePolicy = bootFailurePolicy
        self.recycle = recycle
        self.window = max(1, window)
    }
}

/// The app failed to import; `message` names the module and the error.
public struct BootFailure: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// A pool of worker processes for one app: spawns them, hands each a bounded window of
/// requests, queues the rest, replaces workers that die. All state lives on one event loop.
public final class WorkerPool: AppService, @unchecked Sendable {
    public let loop: EventLoop
    var configuration: PoolConfiguration
    let launcher: WorkerLauncher
    var logger: Logger

    var workers: [Worker] = []
    var queue = CircularBuffer<Exchange>()
    /// Workers with frames written but not flushed; flushed once per loop tick.
    var unflushed: [Worker] = []
    var flushScheduled = false
    /// The next look at running requests (hard timeouts, reclaiming), and its task.
    var sweepAt: NIODeadline?
    var sweepTask: Scheduled<Void>?
    var generation = 0
    var nextWorkerID = 1
    var stopping = false
    /// Set while the current generation cannot boot (dev mode only).
    var bootError: String?
    var startPromise: EventLoopPromise<Void>?
    var stopPromise: EventLoopPromise<Void>?
    var crashTimes: [NIODeadline] = []
    /// Requests answered 503 because the queue was full or their wait ran out.
    var rejected = 0
    /// A reload's new generation while it boots (`prepareReload` … `commitReload`).
    var pending: PendingReload?
    var healthPath: String?
    var healthCheckRunning = false
    /// Answered requests by status, and their durations.
    var meter = ResponseMeter()
    /// Workers replaced so far, by why.
    var restarts: [RestartReason: Int] = [:]
    /// How many workers the pool wants, and which idle ones retire (`WorkerPool+Scaling`).
    var scaler: PoolScaler
    /// The latest starts and retirements and why, newest last, for `berth status`.
    var scalingEvents: [ScalingRecord] = []
    var random = SystemRandomNumberGenerator()
    /// The supervisor's once-a-second check (lifetimes, memory).
    var upkeepTask: RepeatedTask?

    /// Called with a worker's READY facts (JSON), on the pool's loop.
    public var onReady: (@Sendable (ByteBuffer) -> Void)?
    /// Called when the app does not boot and the policy is `.fatal`.
    public var onBootFailure: (@Sendable (BootFailure) -> Void)?

    public init(configuration: PoolConfiguration, launcher: WorkerLauncher, loop: EventLoop, logger: Logger) {
        self.configuration = configuration
        self.scaler = configuration.scaling
        self.launcher = launcher
        self.loop = loop
        self.logger = logger
        self.logger[metadataKey: "app"] = "\(configuration.name)"
    }

    /// Runs `body` on the pool's loop.
    @inline(__always)
    func onLoop(_ body: @escaping @Sendable (WorkerPool) -> Void) {
        if loop.inEventLoop {
            body(self)
        } else {
            loop.execute { body(self) }
        }
    }

    // MARK: - Lifecycle

    /// Starts the workers; the future succeeds when all are ready and fails with
    /// `BootFailure` when the app does not import.
    public func start() -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        onLoop { pool in
            pool.startPromise = promise
            pool.startUpkeep()
            pool.reconcile(because: "starting")
        }
        return promise.futureResult
    }

    /// Replaces every worker with a fresh one running the code as it is now on disk.
    /// Requests that arrive meanwhile wait for the new workers.
    public func reload() {
        onLoop { pool in
            pool.generation += 1
            pool.bootError = nil
            pool.launcher.reload()
            pool.crashTimes.removeAll()
            pool.logger.info("reloading: starting generation \(pool.generation)")
            pool.restarts[.reload, default: 0] += pool.workers.filter { !$0.retiring && $0.exitStatus == nil }.count
            for worker in pool.workers where worker.generation < pool.generation {
                if case .idle = worker.state { pool.retire(worker) }
            }
            pool.reconcile(because: "reload (generation \(pool.generation))")
        }
    }

    /// Stops taking requests, lets queued and running ones finish for up to `grace`
    /// seconds, then stops the workers.
    public func shutdown(grace: Double) -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        onLoop { pool in
            pool.reloadFailed("berth is stopping")
            pool.stopping = true
            pool.upkeepTask?.cancel()
            pool.stopPromise = promise
            pool.loop.scheduleTask(in: .milliseconds(Int64(grace * 1000))) {
                for worker in pool.workers { Processes.signal(worker.pid, SIGKILL) }
            }
            pool.drainIfStopping()
        }
        return promise.futureResult
    }

    // MARK: - AppService

    public func open(_ request: AppRequest, writer: AppResponseWriter) -> AppExchangeHandle {
        let exchange = Exchange(request: request, writer: MeteredWriter(writer, pool: self), pool: self)
        onLoop { $0.submit(exchange) }
        return exchange
    }

    func submit(_ exchange: Exchange) {
        if stopping && queue.isEmpty && !workers.contains(where: { $0.isBusy || $0.isIdle }) {
            exchange.fail(.shuttingDown)
            return
        }
        if let bootError {
            exchange.fail(.bootError(message: bootError))
            return
        }
        // Queued requests go first (a request with a body may wait there for an empty worker).
        if queue.isEmpty, let choice = chooseLane(hasBody: exchange.request.hasBody) {
            dispatch(exchange, to: choice.worker, lane: choice.lane)
            return
        }
        guard queue.count < configuration.queueSize else {
            rejected += 1
            logger.warning(
                "queue full (\(configuration.queueSize)): 503 for \(exchange.request.requestID)",
                metadata: ["request": "\(exchange.request.requestID)"])
            exchange.fail(.overloaded)
            return
        }
        enqueue(exchange)
        if !scaler.isFixed { scale() }
        if exchange.request.hasBody { exchange.writer.requestBodyWritabilityChanged(false) }
    }
}
