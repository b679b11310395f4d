import Foundation
import NIOCore

/// One app's pool as `berth status` and `/metrics` show it: a copy taken on the pool's loop.
public struct PoolStatus: Codable, Sendable {
    public struct CurrentRequest: Codable, Sendable {
        public var id: String
        public var method: String
        public var path: String
        public var ageSeconds: Double
    }

    public struct WorkerStatus: Codable, Sendable {
        public var id: Int
        /// The host pid berth started (a container's init for isolated workers).
        public var pid: Int32
        /// The Python process's host pid, once known.
        public var pythonPID: Int32?
        public var generation: Int
        /// booting, idle, busy, stopping, dead.
        public var state: String
        public var requestsServed: Int
        public var residentBytes: Int?
        public var ageSeconds: Double
        /// Why it is being replaced, when it is due (max_requests, timeout, ...).
        public var recycling: String?
        /// Requests its lanes run now (up to `threads`).
        public var running: Int
        /// Why the pool started it ("starting", "3 request(s) queued, 2 busy", "replacing worker 4 (crashed)", ...).
        public var started: String
        /// The request it has run longest (of those its threads run).
        public var current: CurrentRequest?
    }

    /// A worker the pool started or retired, and why.
    public struct ScalingEvent: Codable, Sendable {
        /// "start" or "retire".
        public var action: String
        public var worker: Int
        public var reason: String
        public var ageSeconds: Double
    }

    public var app: String
    public var generation: Int
    /// Workers the pool wants now (its scaler's target).
    public var workersWanted: Int
    public var minWorkers: Int
    public var maxWorkers: Int
    /// The current generation's workers that serve or are starting (not retiring, not replaced).
    public var workersServing: Int
    /// The latest starts and retirements, oldest first.
    public var scaling: [ScalingEvent]
    public var workers: [WorkerStatus]
    public var queueDepth: Int
    public var queueLimit: Int
    /// Requests answered 503 because the queue was full or their wait ran out.
    public var rejected: Int
    /// Workers replaced, by reason (max_requests, max_lifetime, max_rss, timeout, crashed, reload).
    public var restarts: [String: Int]
    /// Answered requests by status code.
    public var responses: [String: Int]
    public var latency: LatencyHistogram
}

/// Request durations in fixed buckets (seconds), Prometheus style: `counts[i]` holds the
/// requests that took at most `bounds[i]`; the last count is the overflow (+Inf).
public struct LatencyHistogram: Codable, Sendable, Equatable {
    public static let defaultBounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
    public var bounds: [Double]
    public var counts: [Int]
    public var sum = 0.0

    public init(bounds: [Double] = LatencyHistogram.defaultBounds) {
        self.bounds = bounds
        self.counts = Array(repeating: 0, count: bounds.count + 1)
    }

    public mutating func record(_ seconds: Double) {
        var index = 0
        while index < bounds.count && seconds > bounds[index] { index += 1 }
        counts[index] += 1
        sum += seconds
    }

    public var count: Int { counts.reduce(0, +) }
}

extension WorkerPool {
    /// A snapshot of the pool, taken on its loop.
    public func status() -> EventLoopFuture<PoolStatus> {
        loop.submit { [self] in makeStatus() }
    }

    func makeStatus() -> PoolStatus {
        let now = NIODeadline.now()
        func seconds(since start: NIODeadline) -> Double { Double((now - start).nanoseconds) / 1e9 }
        let workerStatuses = workers.map { worker -> PoolStatus.WorkerStatus in
            var current: PoolStatus.CurrentRequest?
            if let (exchange, since) = worker.longestRunning {
                current = PoolStatus.CurrentRequest(
                    id: exchange.request.requestID, method: exchange.request.method, path: exchange.request.path,
                    ageSeconds: seconds(since: since))
            }
            return PoolStatus.WorkerStatus(
                id: worker.id, pid: worker.pid, pythonPID: worker.life.pythonPID, generation: worker.generation,
                state: worker.stateName, requestsServed: worker.life.requestsServed,
                residentBytes: worker.life.residentBytes, ageSeconds: seconds(since: worker.startedAt),
                recycling: worker.life.timedOut ? RestartReason.timeout.rawValue : worker.life.due?.rawValue,
                running: worker.windows.filter { !$0.isEmpty }.count, started: worker.life.startReason, current: current)
        }
        return PoolStatus(
            app: configuration.name, generation: generation, workersWanted: scaler.target,
            minWorkers: scaler.minWorkers, maxWorkers: scaler.maxWorkers,
            workersServing: pending == nil ? servingWorkers().count : workers.filter { $0.generation == generation && $0.acceptsRequests }.count,
            scaling: scalingEvents.map {
                PoolStatus.ScalingEvent(action: $0.action.rawValue, worker: $0.worker, reason: $0.reason, ageSeconds: seconds(since: $0.at))
            },
            workers: workerStatuses, queueDepth: queue.count, queueLimit: configuration.queueSize,
            rejected: rejected,
            restarts: Dictionary(uniqueKeysWithValues: restarts.map { ($0.key.rawValue, $0.value) }),
            responses: Dictionary(uniqueKeysWithValues: meter.responses.map { (String($0.key), $0.value) }),
            latency: meter.latency)
    }
}

extension Worker {
    var stateName: String {
        switch state {
        case .booting: "booting"
        case .idle: "idle"
        case .busy: "busy"
        case .stopping: "stopping"
        case .dead: "dead"
        }
    }
}
