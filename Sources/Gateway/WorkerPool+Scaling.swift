import NIOCore

/// Autoscaling between `min_workers` and `max_workers`: the pool shows its serving workers
/// to its `PoolScaler` and carries out what it decides. Looked at when a request queues,
/// when a worker takes its first request or becomes ready, and once a second (idle
/// timeouts). A fixed pool never gets here.
extension WorkerPool {
    /// Most start and retire events kept for `berth status`.
    static let scalingEventsKept = 20

    /// Starts or retires workers as the scaler decides.
    func scale() {
        guard !stopping, bootError == nil, pending == nil else { return }
        let serving = servingWorkers()
        var byID: [Int: Worker] = [:]
        let members = serving.map { worker -> PoolScaler.Member in
            switch worker.state {
            case .booting: return .starting
            case .idle:
                byID[worker.id] = worker
                return .idle(id: worker.id, since: worker.idleSince)
            default: return .busy
            }
        }
        for action in scaler.evaluate(members, queued: queue.count, now: .now()) {
            switch action {
            case .start(let count, let reason):
                logger.info("starting \(count) worker(s): \(reason)", metadata: ["reason": "\(reason)"])
                for _ in 0..<count { spawn(because: reason) }
            case .retire(let id, let reason):
                guard let worker = byID[id] else { continue }
                logger.info("\(worker.label) retires: \(reason)", metadata: ["worker": "\(id)", "reason": "\(reason)"])
                noteScaling(.retire, worker: worker, reason: reason)
                retire(worker)
            }
        }
    }

    /// Remembers a start or retirement for `berth status`.
    func noteScaling(_ action: ScalingRecord.Action, worker: Worker, reason: String) {
        if scalingEvents.count >= Self.scalingEventsKept { scalingEvents.removeFirst() }
        scalingEvents.append(ScalingRecord(action: action, worker: worker.id, reason: reason, at: .now()))
    }
}

/// A worker the pool started or retired, and why.
struct ScalingRecord {
    enum Action: String {
        case start, retire
    }

    var action: Action
    var worker: Int
    var reason: String
    var at: NIODeadline
}
