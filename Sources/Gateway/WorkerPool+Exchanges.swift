import AppExchange
import NIOCore

/// Moving requests and responses between exchanges and workers.
extension WorkerPool {
    /// The worker and lane that should take a request now: a ready worker of the current
    /// generation with a lane whose window accepts it, the emptiest first (an idle thread
    /// of a busy threaded worker before a batch behind a running request).
    func chooseLane(hasBody: Bool) -> WorkerLane? {
        let now = NIODeadline.now()
        let current = generation
        let choice = WorkerWindow.choose(
            among: workers.lazy.filter { $0.generation == current && $0.acceptsRequests && !$0.life.timedOut && !$0.life.replaced },
            hasBody: hasBody, now: now
        ) { $0.windows }
        return choice.map { WorkerLane(worker: $0.candidate, lane: $0.lane) }
    }

    /// Moves queued requests onto workers with room, oldest first. A request with a body
    /// at the front waits for an empty worker and holds the ones behind it, so that it
    /// cannot starve while windows keep filling.
    func pumpQueue() {
        while let first = queue.first, let choice = chooseLane(hasBody: first.request.hasBody) {
            _ = dequeue()
            dispatch(first, to: choice.worker, lane: choice.lane)
        }
    }

    /// Writes the request to the worker; the flush comes once per loop tick, so that the
    /// requests that became ready together reach a worker in one write.
    func dispatch(_ exchange: Exchange, to worker: Worker, lane: Int = 0) {
        guard let channel = worker.channel else { return }
        let now = NIODeadline.now()
        let wasIdle = !worker.isBusy
        let first = worker.windows[lane].isEmpty
        worker.windows[lane].append(exchange, hasBody: exchange.request.hasBody, now: now)
        worker.state = .busy
        exchange.worker = worker
        exchange.lane = lane
        var buffer = channel.allocator.buffer(capacity: 512)
        let header = buffer.writerIndex
        Environ.writeRequestFrame(exchange.request, to: &buffer)
        if lane != 0 { buffer.setInteger(UInt16(lane), at: header + 6) }  // the header's lane field
        channel.write(buffer, promise: nil)
        for chunk in exchange.pendingBody { writeBody(chunk, to: channel, lane: lane) }
        exchange.pendingBody.removeAll()
        if exchange.bodyComplete { sendBodyEnd(exchange, aborted: false, flush: false) }
        flushSoon(worker)
        if first {
            headStarted(on: worker, lane: lane)
        } else {
            scheduleSweep(at: worker.windows[lane].nextReclaimCheck)
        }
        // An idle worker fewer: a growing pool may want a spare.
        if wasIdle && !scaler.isFixed { scale() }
        if exchange.request.hasBody && !exchange.bodyComplete {
            exchange.writer.requestBodyWritabilityChanged(channel.isWritable)
        }
    }

    private func flushSoon(_ worker: Worker) {
        if !worker.needsFlush {
            worker.needsFlush = true
            unflushed.append(worker)
        }
        guard !flushScheduled else { return }
        flushScheduled = true
        loop.execute { [self] in
            flushScheduled = false
            for worker in unflushed {
                worker.needsFlush = false
                worker.channel?.flush()
            }
            unflushed.removeAll(keepingCapacity: true)
        }
    }

    /// The lane's head request starts running now: its hard timeout counts from here.
    private func headStarted(on worker: Worker, lane: Int) {
        if configuration.requestTimeout > 0 {
            scheduleSweep(at: worker.windows[lane].headSince + .nanoseconds(Int64(configuration.requestTimeout * 1e9)))
        }
        scheduleSweep(at: worker.windows[lane].nextReclaimCheck)
    }

    private func writeBody(_ chunk: ByteBuffer, to channel: Channel, lane: Int) {
        var header = channel.allocator.buffer(capacity: WorkerFrame.headerSize)
        WorkerFrame.writeHeader(.body, lane: UInt16(lane), length: chunk.readableBytes, to: &header)
        channel.write(header, promise: nil)
        channel.write(chunk, promise: nil)
    }

    private func sendBodyEnd(_ exchange: Exchange, aborted: Bool, flush: Bool = true) {
        guard !exchange.bodyEndSent, let channel = exchange.worker?.channel else { return }
        exchange.bodyEndSent = true
        var frame = channel.allocator.buffer(capacity: WorkerFrame.headerSize)
        WorkerFrame.writeHeader(.bodyEnd, flags: aborted ? WorkerFrame.aborted : 0, lane: UInt16(exchange.lane), length: 0, to: &frame)
        if flush {
            channel.writeAndFlush(frame, promise: nil)
        } else {
            channel.write(frame, promise: nil)
        }
    }

    func exchangeBody(_ exchange: Exchange, _ chunk: ByteBuffer) {
        guard !exchange.bodyEndSent, chunk.readableBytes > 0 else { return }
        guard let channel = exchange.worker?.channel else {
            exchange.pendingBody.append(chunk)
            return
        }
        // Chunks larger than a frame may carry are split.
        var rest = chunk
        while rest.readableBytes > 0 {
            let piece = rest.readSlice(length: min(rest.readableBytes, WorkerFrame.maxPayload))!
            writeBody(piece, to: channel, lane: exchange.lane)
        }
        channel.flush()
        if !channel.isWritable { exchange.writer.requestBodyWritabilityChanged(false) }
    }

    func exchangeBodyEnd(_ exchange: Exchange) {
        exchange.bodyComplete = true
        if exchange.worker != nil { sendBodyEnd(exchange, aborted: false) }
    }

    func exchangeCancelled(_ exchange: Exchange) {
        exchange.cancelled = true
        guard let worker = exchange.worker else {
            if let index = queue.firstIndex(where: { $0 === exchange }) { queue.remove(at: index) }
            exchange.finished = true
            return
        }
        // The worker runs the app anyway (or skips it); its response is dropped when it comes.
        sendBodyEnd(exchange, aborted: true)
        if !exchange.finished { setReading(worker, true) }
    }

    func exchangeResponseWritability(_ exchange: Exchange, writable: Bool) {
        guard let worker = exchange.worker, !exchange.finished, !exchange.cancelled, worker.windows[exchange.lane].head === exchange else {
            return
        }
        setReading(worker, writable)
    }

    /// Response backpressure: a worker whose client is slow is not read from, so its
    /// socket fills and its `sendall` blocks — memory stays bounded on both sides.
    func setReading(_ worker: Worker, _ reading: Bool) {
        guard let channel = worker.channel, worker.readingPaused == reading else { return }
        worker.readingPaused = !reading
        channel.setOption(ChannelOptions.autoRead, value: reading).whenSuccess {
            if reading { channel.read() }
        }
    }

    func workerWritabilityChanged(_ worker: Worker, writable: Bool) {
        for window in worker.windows {
            guard let exchange = window.head, !exchange.bodyEndSent else { continue }
            exchange.writer.requestBodyWritabilityChanged(writable)
        }
    }

    // MARK: - Frames from a worker

    func workerFrame(_ worker: Worker, _ frame: WorkerFrame) {
        switch frame.kind {
        case .ready:
            workerReady(worker, facts: frame.payload)
        case .bootError:
            worker.bootError = frame.payload.getString(at: frame.payload.readerIndex, length: frame.payload.readableBytes)
        case .responseStart, .responseBody, .responseFile, .responseEnd, .appError, .skipped:
            let lane = Int(frame.lane)
            guard lane < worker.windows.count, let exchange = worker.windows[lane].head else {
                workerFailed(worker, error: WorkerProtocolError(description: "\(frame.kind) frame while no request is running on lane \(lane)"))
                return
            }
            responseFrame(frame, exchange: exchange, worker: worker, lane: lane)
        case .pong:
            break
        case .request, .body, .bodyEnd, .reclaim, .fileSocket, .ping, .stop:
            workerFailed(worker, error: WorkerProtocolError(description: "unexpected \(frame.kind) frame from a worker"))
        }
    }

    private func responseFrame(_ frame: WorkerFrame, exchange: Exchange, worker: Worker, lane: Int) {
        let live = !exchange.finished && !exchange.cancelled
        switch frame.kind {
        case .responseStart:
            guard live else { return }
            guard let head = PairBlock.responseHead(in: frame.payload) else {
                workerFailed(worker, error: WorkerProtocolError(description: "malformed RESPONSE_START"))
                return
            }
            exchange.responseStarted = true
            exchange.writer.responseHead(status: head.status, reason: head.reason, headers: head.headers)
        case .responseBody:
            if live { exchange.writer.responseBody(frame.payload) }
        case .responseFile:
            // Taken even when the exchange is over, so the next RESPONSE_FILE gets its own.
            guard let file = takeResponseFile(frame, from: worker), live else { return }  // released: closed
            // (A cancelled exchange drops RESPONSE_START too, so it is only checked while live.)
            guard exchange.responseStarted else {
                workerFailed(worker, error: WorkerProtocolError(description: "RESPONSE_FILE before RESPONSE_START"))
                return
            }
            exchange.writer.responseFile(file)
        case .responseEnd:
            if live {
                exchange.finished = true
                exchange.writer.responseEnd()
            }
            exchangeDone(exchange, worker: worker, lane: lane)
        case .appError:
            let traceback = frame.payload.getString(at: frame.payload.readerIndex, length: frame.payload.readableBytes) ?? ""
            logger.error(
                "app error",
                metadata: ["request": "\(exchange.request.requestID)", "worker": "\(worker.id)", "traceback": "\(traceback)"])
            exchange.fail(.appError(traceback: traceback))
            exchangeDone(exchange, worker: worker, lane: lane)
        case .skipped:
            // Reclaimed before it started: the app never saw it; another worker takes it.
            guard !exchange.request.hasBody, !exchange.responseStarted else {
                workerFailed(worker, error: WorkerProtocolError(description: "SKIPPED for a request that cannot be skipped"))
                return
            }
            _ = worker.windows[lane].popHead(now: .now())
            exchange.worker = nil
            if !exchange.finished && !exchange.cancelled { queue.prepend(exchange) }
            nextOnWorker(worker, lane: lane)
        default:
            break
        }
    }

    /// The worker answered; the next request it holds starts, and it may take more.
    private func exchangeDone(_ exchange: Exchange, worker: Worker, lane: Int) {
        exchange.finished = true
        // An app that answered without reading the whole body: the worker discards the
        // rest until BODY_END, so end it now; later client chunks are dropped.
        sendBodyEnd(exchange, aborted: !exchange.bodyComplete)
        exchange.worker = nil
        _ = worker.windows[lane].popHead(now: .now())
        requestDone(on: worker)
        setReading(worker, true)
        nextOnWorker(worker, lane: lane)
    }

    private func nextOnWorker(_ worker: Worker, lane: Int) {
        if !worker.windows[lane].isEmpty {
            headStarted(on: worker, lane: lane)
            pumpQueue()
        } else if worker.isBusy {
            pumpQueue()  // a free thread of a worker still running others
        } else {
            workerAvailable(worker)
        }
    }

    // MARK: - Hard timeouts and reclaiming

    /// Makes sure a sweep runs by `deadline`.
    func scheduleSweep(at deadline: NIODeadline?) {
        guard let deadline else { return }
        if let at = sweepAt, at <= deadline { return }
        sweepTask?.cancel()
        sweepAt = deadline
        sweepTask = loop.scheduleTask(deadline: deadline) { [self] in sweep() }
    }

    /// Looks at every worker's running request: past the hard timeout it fails with 504
    /// and its worker is killed; a slow one gets the requests behind it reclaimed.
    func sweep() {
        sweepAt = nil
        sweepTask = nil
        let now = NIODeadline.now()
        let timeout = configuration.requestTimeout
        var next: NIODeadline?
        func later(_ deadline: NIODeadline?) {
            guard let deadline else { return }
            next = min(next ?? deadline, deadline)
        }
        for worker in workers {
            for lane in worker.windows.indices {
                guard let head = worker.windows[lane].head, !head.finished else { continue }
                if timeout > 0 {
                    let due = worker.windows[lane].headSince + .nanoseconds(Int64(timeout * 1e9))
                    if due <= now {
                        requestTimedOut(head, seconds: timeout)
                        continue
                    }
                    later(due)
                }
                if worker.windows[lane].reclaimIfDue(now: now), let channel = worker.channel {
                    logger.debug("\(worker.label): reclaiming \(worker.windows[lane].count - 1) requests behind a slow one on lane \(lane)")
                    var frame = channel.allocator.buffer(capacity: WorkerFrame.headerSize)
                    WorkerFrame.writeHeader(.reclaim, lane: UInt16(lane), length: 0, to: &frame)
                    channel.writeAndFlush(frame, promise: nil)
                }
                later(worker.windows[lane].nextReclaimCheck)
            }
        }
        scheduleSweep(at: next)
    }
}

/// One lane (thread) of one worker: where a request is written.
struct WorkerLane {
    let worker: Worker
    let lane: Int
}
