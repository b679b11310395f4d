import AppExchange
import NIOCore

/// Moving requests and responses between exchanges and workers.
extension WorkerPool {
    /// The worker that should take a request now: a ready one of the current generation
    /// whose window accepts it, the emptiest first.
    func chooseWorker(hasBody: Bool) -> Worker? {
        let now = NIODeadline.now()
        let current = generation
        return WorkerWindow.choose(
            among: workers.lazy.filter { $0.generation == current && $0.acceptsRequests && !$0.life.timedOut && !$0.life.replaced },
            hasBody: hasBody, now: now
        ) { $0.window }
    }

    /// Moves queued requests onto workers with room, oldest first. A request with a body
    /// at the front waits for an empty worker and holds the ones behind it, so that it
    /// cannot starve while windows keep filling.
    func pumpQueue() {
        while let first = queue.first, let worker = chooseWorker(hasBody: first.request.hasBody) {
            _ = dequeue()
            dispatch(first, to: worker)
        }
    }

    /// Writes the request to the worker; the flush comes once per loop tick, so that the
    /// requests that became ready together reach a worker in one write.
    func dispatch(_ exchange: Exchange, to worker: Worker) {
        guard let channel = worker.channel else { return }
        let now = NIODeadline.now()
        let first = worker.window.isEmpty
        worker.window.append(exchange, hasBody: exchange.request.hasBody, now: now)
        worker.state = .busy
        exchange.worker = worker
        var buffer = channel.allocator.buffer(capacity: 512)
        Environ.writeRequestFrame(exchange.request, to: &buffer)
        channel.write(buffer, promise: nil)
        for chunk in exchange.pendingBody { writeBody(chunk, to: channel) }
        exchange.pendingBody.removeAll()
        if exchange.bodyComplete { sendBodyEnd(exchange, aborted: false, flush: false) }
        flushSoon(worker)
        if first {
            headStarted(on: worker)
        } else {
            scheduleSweep(at: worker.window.nextReclaimCheck)
        }
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

    /// The worker's head request starts running now: its hard timeout counts from here.
    private func headStarted(on worker: Worker) {
        if configuration.requestTimeout > 0 {
            scheduleSweep(at: worker.window.headSince + .nanoseconds(Int64(configuration.requestTimeout * 1e9)))
        }
        scheduleSweep(at: worker.window.nextReclaimCheck)
    }

    private func writeBody(_ chunk: ByteBuffer, to channel: Channel) {
        var header = channel.allocator.buffer(capacity: WorkerFrame.headerSize)
        WorkerFrame.writeHeader(.body, length: chunk.readableBytes, to: &header)
        channel.write(header, promise: nil)
        channel.write(chunk, promise: nil)
    }

    private func sendBodyEnd(_ exchange: Exchange, aborted: Bool, flush: Bool = true) {
        guard !exchange.bodyEndSent, let channel = exchange.worker?.channel else { return }
        exchange.bodyEndSent = true
        var frame = channel.allocator.buffer(capacity: WorkerFrame.headerSize)
        WorkerFrame.writeHeader(.bodyEnd, flags: aborted ? WorkerFrame.aborted : 0, length: 0, to: &frame)
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
            writeBody(piece, to: channel)
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
        guard let worker = exchange.worker, !exchange.finished, !exchange.cancelled, worker.window.head === exchange else { return }
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
        guard let exchange = worker.window.head, !exchange.bodyEndSent else { return }
        exchange.writer.requestBodyWritabilityChanged(writable)
    }

    // MARK: - Frames from a worker

    func workerFrame(_ worker: Worker, _ frame: WorkerFrame) {
        switch frame.kind {
        case .ready:
            workerReady(worker, facts: frame.payload)
        case .bootError:
            worker.bootError = frame.payload.getString(at: frame.payload.readerIndex, length: frame.payload.readableBytes)
        case .responseStart, .responseBody, .responseFile, .responseEnd, .appError, .skipped:
            guard let exchange = worker.window.head else {
                workerFailed(worker, error: WorkerProtocolError(description: "\(frame.kind) frame while no request is running"))
                return
            }
            responseFrame(frame, exchange: exchange, worker: worker)
        case .pong:
            break
        case .request, .body, .bodyEnd, .reclaim, .fileSocket, .ping, .stop:
            workerFailed(worker, error: WorkerProtocolError(description: "unexpected \(frame.kind) frame from a worker"))
        }
    }

    private func responseFrame(_ frame: WorkerFrame, exchange: Exchange, worker: Worker) {
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
            exchangeDone(exchange, worker: worker)
        case .appError:
            let traceback = frame.payload.getString(at: frame.payload.readerIndex, length: frame.payload.readableBytes) ?? ""
            logger.error(
                "app error",
                metadata: ["request": "\(exchange.request.requestID)", "worker": "\(worker.id)", "traceback": "\(traceback)"])
            exchange.fail(.appError(traceback: traceback))
            exchangeDone(exchange, worker: worker)
        case .skipped:
            // Reclaimed before it started: the app never saw it; another worker takes it.
            guard !exchange.request.hasBody, !exchange.responseStarted else {
                workerFailed(worker, error: WorkerProtocolError(description: "SKIPPED for a request that cannot be skipped"))
                return
            }
            _ = worker.window.popHead(now: .now())
            exchange.worker = nil
            if !exchange.finished && !exchange.cancelled { queue.prepend(exchange) }
            nextOnWorker(worker)
        default:
            break
        }
    }

    /// The worker answered; the next request it holds starts, and it may take more.
    private func exchangeDone(_ exchange: Exchange, worker: Worker) {
        exchange.finished = true
        // An app that answered without reading the whole body: the worker discards the
        // rest until BODY_END, so end it now; later client chunks are dropped.
        sendBodyEnd(exchange, aborted: !exchange.bodyComplete)
        exchange.worker = nil
        _ = worker.window.popHead(now: .now())
        requestDone(on: worker)
        setReading(worker, true)
        nextOnWorker(worker)
    }

    private func nextOnWorker(_ worker: Worker) {
        if worker.window.isEmpty {
            workerAvailable(worker)
        } else {
            headStarted(on: worker)
            pumpQueue()
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
            guard let head = worker.window.head, !head.finished else { continue }
            if timeout > 0 {
                let due = worker.window.headSince + .nanoseconds(Int64(timeout * 1e9))
                if due <= now {
                    requestTimedOut(head, seconds: timeout)
                    continue
                }
                later(due)
            }
            if worker.window.reclaimIfDue(now: now), let channel = worker.channel {
                logger.debug("\(worker.label): reclaiming \(worker.window.count - 1) requests behind a slow one")
                var frame = channel.allocator.buffer(capacity: WorkerFrame.headerSize)
                WorkerFrame.writeHeader(.reclaim, length: 0, to: &frame)
                channel.writeAndFlush(frame, promise: nil)
            }
            later(worker.window.nextReclaimCheck)
        }
        scheduleSweep(at: next)
    }
}
