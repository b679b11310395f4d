import AppExchange
import Container
import Foundation
import LinuxSystem
import NIOCore
import NIOPosix

/// The supervisor's verbs: spawn, ready, retire, reap, reconcile.
extension WorkerPool {
    /// Starts workers for the current generation (the pending one during a reload) up to
    /// what the pool wants: its scaler's target, or the reload's size.
    func reconcile(because reason: String? = nil) {
        guard !stopping, bootError == nil else { return }
        let serving = servingWorkers()
        let count: Int
        if let pending {
            count = max(0, pending.wanted - serving.count)
        } else {
            let starting = serving.filter { if case .booting = $0.state { true } else { false } }.count
            count = scaler.startsAllowed(live: serving.count, starting: starting)
        }
        let why = reason ?? (serving.count < scaler.minWorkers ? "below min_workers (\(scaler.minWorkers))" : scaler.growth ?? "pool below its target (\(scaler.target))")
        for _ in 0..<count { spawn(because: why) }
    }

    /// The workers of the generation being started that serve or will: not due for
    /// recycling, not timed out, not retiring.
    func servingWorkers() -> [Worker] {
        let current = spawnGeneration
        return workers.filter { worker in
            guard worker.generation == current, worker.life.due == nil, !worker.life.timedOut else { return false }
            switch worker.state {
            case .stopping, .dead: return false
            default: return true
            }
        }
    }

    func spawn(because reason: String) {
        let id = nextWorkerID
        nextWorkerID += 1
        let label = "worker \(id)"
        let started = NIODeadline.now()
        let worker: Worker
        let parentFD: Int32
        let launched: LaunchedWorker
        do {
            let (parent, child) = try Descriptors.socketPair(for: label)
            defer { Descriptors.close(child) }
            // Bigger buffers let a whole typical response travel in one write.
            try? Descriptors.setBufferSizes(parent, bytes: 256 * 1024)
            try? Descriptors.setBufferSizes(child, bytes: 256 * 1024)
            let spec = WorkerSpec(
                executable: configuration.command[0], arguments: configuration.command,
                environment: configuration.environment, workingDirectory: configuration.workingDirectory,
                protocolFD: child, label: label)
            do {
                launched = try launcher.launch(spec)
            } catch {
                Descriptors.close(parent)
                throw error
            }
            worker = Worker(
                id: id, generation: spawnGeneration, pid: launched.pid, startedAt: started,
                windows: (0..<max(1, configuration.threads)).map { _ in
                    WorkerWindow(
                        limit: max(1, configuration.window / max(1, configuration.threads)), slowAfter: configuration.slowAfter,
                        reclaimAfter: configuration.reclaimAfter)
                })
            worker.resources = launched.resources
            worker.life.limits = configuration.recycle.limits(using: &random)
            worker.life.startReason = reason
            parentFD = parent
        } catch {
            logger.error("cannot start \(label): \(error)")
            bootFailed(message: "cannot start \(label): \(error)")
            return
        }
        workers.append(worker)
        logger.debug("spawned \(worker.label): \(reason)")
        noteScaling(.start, worker: worker, reason: reason)
        offerFileSocket(to: worker, protocolSocket: parentFD)
        let pool = self
        ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(WorkerFrameDecoder()),
                        WorkerChannelHandler(pool: pool, worker: worker))
                }
            }
            .withConnectedSocket(parentFD)
            .whenComplete { result in
                switch result {
                case .success(let channel): worker.channel = channel
                case .failure(let error):
                    pool.logger.error("\(worker.label): cannot watch its socket: \(error)")
                    Processes.signal(worker.pid, SIGKILL)
                }
            }
        do {
            try Threads.detach { [launched] in
                let status = launched.wait()
                pool.onLoop { $0.workerExited(worker, status: status) }
            }
        } catch {
            // Nothing would notice its end: stop it now (it is gone within moments) and reap it.
            logger.error("\(worker.label): cannot start the thread that waits for it: \(error); killing it")
            Processes.signal(worker.pid, SIGKILL)
            let status = launched.wait()
            workerExited(worker, status: status)
        }
    }

    func workerReady(_ worker: Worker, facts: ByteBuffer) {
        guard case .booting = worker.state else { return }
        let bootMillis = (NIODeadline.now() - worker.startedAt).nanoseconds / 1_000_000
        logger.info("\(worker.label) ready in \(bootMillis) ms")
        worker.state = .idle
        worker.becameReady = true
        learnFacts(facts, of: worker)
        onReady?(facts)
        workerAvailable(worker)
        retireReplacedWorkers()
        if let promise = startPromise,
            workers.filter({ $0.generation == generation && $0.isReadyOrBusy }).count >= scaler.minWorkers
        {
            startPromise = nil
            promise.succeed(())
        }
        // A growing pool starts the next workers as these become ready.
        if !scaler.isFixed { scale() }
    }

    /// A worker answered all it held, or booted: it takes queued requests, or waits.
    func workerAvailable(_ worker: Worker) {
        if worker.life.timedOut { return }  // being killed
        if let pending, worker.generation == pending.generation {
            standbyAvailable(worker)
            return
        }
        if worker.generation != generation || worker.life.replaced {
            retire(worker)
            return
        }
        worker.state = .idle
        worker.idleSince = .now()
        pumpQueue()
        if stopping { drainIfStopping() }
    }

    /// Asks a worker to stop once it is idle (STOP frame); it exits by itself.
    func retire(_ worker: Worker) {
        worker.state = .stopping
        worker.retiring = true
        guard let channel = worker.channel else {
            Processes.signal(worker.pid, SIGTERM)
            return
        }
        var frame = channel.allocator.buffer(capacity: WorkerFrame.headerSize)
        WorkerFrame.writeHeader(.stop, length: 0, to: &frame)
        channel.writeAndFlush(frame, promise: nil)
    }

    func kill(_ worker: Worker) {
        Processes.signal(worker.pid, SIGKILL)
    }

    /// The worker's socket closed: it is gone, or going. The request it ran fails with
    /// 502; the ones waiting behind it never reached the app and go to other workers.
    func workerDisconnected(_ worker: Worker) {
        var unstarted: [Exchange] = []
        for lane in worker.windows.indices {
            let (running, waiting) = worker.windows[lane].removeAll()
            if let running {
                running.fail(.workerDied(reason: "\(worker.label) exited while handling the request"))
                running.worker = nil
            }
            unstarted += waiting
        }
        for exchange in unstarted.reversed() {
            exchange.worker = nil
            if !exchange.finished && !exchange.cancelled { queue.prepend(exchange) }
        }
        if case .dead = worker.state {} else { worker.state = .dead }
        worker.channel = nil
        closeFileSocket(of: worker)
        if !unstarted.isEmpty {
            logger.info("\(worker.label): \(unstarted.count) requests it had not started go to other workers")
            pumpQueue()
        }
        // A worker whose socket closed is exiting; one that lingers is killed.
        if let status = worker.exitStatus {
            exitHandled(worker, status: status)
        } else {
            loop.scheduleTask(in: .seconds(2)) {
                if worker.exitStatus == nil { Processes.signal(worker.pid, SIGKILL) }
            }
        }
    }

    func workerFailed(_ worker: Worker, error: Error) {
        logger.error("\(worker.label): protocol error: \(error); killing it")
        kill(worker)
        let channel = worker.channel
        workerDisconnected(worker)
        channel?.close(promise: nil)  // nothing more it says can be trusted
    }

    /// The process was reaped. What it wrote before it died (answers to the requests it
    /// finished, a BOOT_ERROR) may still be unread on its socket, and the reap can overtake
    /// the socket's end on the loop: those frames are read first, and the exit is handled
    /// once the socket reports its end (`workerDisconnected`) — or after a second, should
    /// something else (a forked child of the app) still hold the worker's end open.
    func workerExited(_ worker: Worker, status: ExitStatus) {
        worker.exitStatus = status
        guard let channel = worker.channel else { return exitHandled(worker, status: status) }
        func closeIfStillOpen() {
            loop.scheduleTask(in: .seconds(1)) { [self] in
                guard worker.channel != nil else { return }
                if worker.readingPaused { return closeIfStillOpen() }  // its last answer is still being read
                channel.close(promise: nil)
            }
        }
        closeIfStillOpen()
    }

    /// The worker is gone and its socket is drained: release what it held, then replace it
    /// or stop the respawn loop.
    func exitHandled(_ worker: Worker, status: ExitStatus) {
        guard !worker.exitHandled else { return }
        worker.exitHandled = true
        let cause = worker.resources?.exitCause()
        do {
            try worker.resources?.release()
        } catch {
            logger.warning("\(worker.label): cannot remove its cgroup: \(error)")
        }
        let retired = worker.retiring
        let wasBooting = !worker.becameReady && !retired
        let expected = retired || stopping
        workerDisconnected(worker)
        workers.removeAll { $0 === worker }

        if let pending, worker.generation == pending.generation, !stopping {
            reloadFailed(worker.bootError ?? "\(worker.label) \(status) before the new generation took over")
        } else if wasBooting && worker.generation == generation && !stopping {
            let message = worker.bootError ?? "\(worker.label) \(status) before it was ready"
            logger.error("\(worker.label) failed to boot: \(message)")
            bootFailed(message: message)
        } else if worker.life.timedOut && !stopping {
            restarts[.timeout, default: 0] += 1
            reconcile(because: "replacing worker \(worker.id) (timeout)")
        } else if !expected && worker.generation == generation {
            logger.error(
                "\(worker.label) \(status)\(cause.map { ": " + $0 } ?? ""); starting a replacement",
                metadata: ["worker": "\(worker.id)", "pid": "\(worker.pid)", "reason": "crashed"])
            restarts[.crashed, default: 0] += 1
            crashTimes.append(.now())
            respawnWithBackoff()
        } else {
            logger.debug("\(worker.label) \(status)")
        }
        drainIfStopping()
    }

    /// Respawns at once, or after a growing delay when workers keep crashing.
    private func respawnWithBackoff() {
        let window = NIODeadline.now() - .seconds(10)
        crashTimes.removeAll { $0 < window }
        let excess = crashTimes.count - scaler.maxWorkers
        guard excess > 0 else {
            reconcile(because: "replacing a crashed worker")
            return
        }
        let delay = min(100 << min(excess, 6), 5000)
        logger.warning("workers keep crashing; next start in \(delay) ms")
        loop.scheduleTask(in: .milliseconds(Int64(delay))) { [self] in reconcile(because: "replacing a crashed worker") }
    }

    func bootFailed(message: String) {
        let failure = BootFailure(message: message)
        let starting = startPromise != nil
        if let promise = startPromise {
            startPromise = nil
            promise.fail(failure)
        }
        switch configuration.bootFailurePolicy {
        case .fatal:
            // While starting, whoever awaits `start()` reports it; afterwards, the callback.
            bootError = message
            if !starting { onBootFailure?(failure) }
        case .waitForReload:
            bootError = message
        }
        // Nothing will serve the waiting requests until a reload.
        while let exchange = queue.popFirst() { exchange.fail(.bootError(message: message)) }
        for other in workers where other.generation == generation {
            if case .booting = other.state { kill(other) }
        }
    }

    /// When stopping: once no request is queued or running, stop every worker; once all
    /// have exited, complete the stop.
    func drainIfStopping() {
        guard stopping else { return }
        pumpQueue()
        if queue.isEmpty && !workers.contains(where: { $0.isBusy }) {
            for worker in workers {
                switch worker.state {
                case .idle, .booting: retire(worker)
                default: break
                }
            }
        }
        if workers.isEmpty {
            // Killed at the end of the grace period with requests not yet started.
            while let exchange = queue.popFirst() { exchange.fail(.shuttingDown) }
        }
        if workers.isEmpty, let promise = stopPromise {
            stopPromise = nil
            promise.succeed(())
        }
    }
}

extension Worker {
    var isReadyOrBusy: Bool {
        switch state {
        case .idle, .busy: return true
        default: return false
        }
    }

    var isIdle: Bool {
        if case .idle = state { return true }
        return false
    }

    /// Ready and not asked to stop: it may be given requests.
    var acceptsRequests: Bool { isReadyOrBusy && !retiring }
}
