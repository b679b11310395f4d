import Foundation
import LinuxSystem
import NIOCore

/// Recycling: workers past `max_requests`, `max_lifetime` or `max_rss` are replaced —
/// the replacement first, and the old worker retires only once the replacement is ready and
/// its own current request is done, so no request waits on a missing worker or fails.
extension WorkerPool {
    /// Picks up what berth acts on from a worker's READY facts: its pid as it sees itself
    /// and its stack pipe.
    func learnFacts(_ facts: ByteBuffer, of worker: Worker) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(facts.readableBytesView)) as? [String: Any] else {
            return
        }
        worker.life.innerPID = (object["pid"] as? Int).map(Int32.init)
        worker.life.stackFD = (object["stack_fd"] as? Int).map(Int32.init)
        worker.life.threadIDs = object["threads"] as? [String] ?? []
    }

    /// The worker finished a request.
    func requestDone(on worker: Worker) {
        worker.life.requestsServed += 1
        worker.life.requestStartedAt = nil
        if configuration.recycle.maxRSS > 0 { measure(worker) }
        checkDue(worker)
    }

    /// Starts the once-a-second check of lifetimes and memory.
    func startUpkeep() {
        guard upkeepTask == nil else { return }
        upkeepTask = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [weak self] _ in
            self?.upkeep()
        }
    }

    func upkeep() {
        guard !stopping else { return }
        for worker in workers where worker.becameReady {
            measure(worker)
            checkDue(worker)
        }
        if !scaler.isFixed { scale() }
    }

    /// Reads the worker's resident memory (the Python process's, not its container init's).
    func measure(_ worker: Worker) {
        if worker.life.pythonPID == nil, let inner = worker.life.innerPID {
            worker.life.pythonPID = ProcFS.hostPID(of: inner, at: worker.pid)
        }
        worker.life.residentBytes = ProcFS.residentBytes(worker.life.pythonPID ?? worker.pid)
    }

    /// Marks a worker that reached a limit as due and starts its replacement.
    func checkDue(_ worker: Worker) {
        guard !configuration.recycle.isOff, worker.life.due == nil, !worker.life.timedOut, !worker.retiring, worker.generation == generation, !stopping else {
            return
        }
        let age = Double((NIODeadline.now() - worker.startedAt).nanoseconds) / 1e9
        guard let reason = configuration.recycle.due(
            limits: worker.life.limits, served: worker.life.requestsServed, age: age, residentBytes: worker.life.residentBytes)
        else { return }
        worker.life.due = reason
        restarts[reason, default: 0] += 1
        let rss = worker.life.residentBytes.map { ", \($0 / 1024) KiB resident" } ?? ""
        logger.info(
            "\(worker.label) reached \(reason.rawValue) (\(worker.life.requestsServed) requests, \(Int(age)) s\(rss)); starting its replacement",
            metadata: ["worker": "\(worker.id)", "reason": "\(reason.rawValue)"])
        reconcile(because: "replacing worker \(worker.id) (\(reason.rawValue))")
    }

    /// Once replacements are ready, due workers retire: idle ones now, busy ones after
    /// their current request.
    func retireReplacedWorkers() {
        let current = workers.filter { $0.generation == generation && !$0.retiring && !$0.life.timedOut }
        let ready = current.filter { $0.life.due == nil && $0.isReadyOrBusy }.count
        let due = current.filter { $0.life.due != nil && !$0.life.replaced }
        let count = RecyclePolicy.retirements(ready: ready, due: due.count, target: scaler.target)
        for worker in due.prefix(count) {
            worker.life.replaced = true
            if case .idle = worker.state {
                logger.debug("\(worker.label) replaced; retiring")
                retire(worker)
            }
        }
    }
}
