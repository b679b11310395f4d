import AppExchange
import NIOCore

/// Moving requests and responses between exchanges and workers.
extension WorkerPool {
    func dispatch(_ exchange: Exchange, to worker: Worker) {
        guard let channel = worker.channel else { return }
        worker.state = .busy(exchange)
        worker.life.requestStartedAt = .now()
        exchange.worker = worker
        var buffer = channel.allocator.buffer(capacity: 512)
        Environ.writeRequestFrame(exchange.request, to: &buffer)
        channel.write(buffer, promise: nil)
        for chunk in exchange.pendingBody { writeBody(chunk, to: channel) }
        exchange.pendingBody.removeAll()
        if exchange.bodyComplete { sendBodyEnd(exchange, aborted: false) }
        channel.flush()
        if configuration.requestTimeout > 0 {
            let seconds = configuration.requestTimeout
            exchange.timeoutTask = loop.scheduleTask(in: .nanoseconds(Int64(seconds * 1e9))) { [self] in
                requestTimedOut(exchange, seconds: seconds)
            }
        }
        if exchange.request.hasBody && !exchange.bodyComplete {
            exchange.writer.requestBodyWritabilityChanged(channel.isWritable)
        }
    }

    private func writeBody(_ chunk: ByteBuffer, to channel: Channel) {
        var header = channel.allocator.buffer(capacity: WorkerFrame.headerSize)
        WorkerFrame.writeHeader(.body, length: chunk.readableBytes, to: &header)
        channel.write(header, promise: nil)
        channel.write(chunk, promise: nil)
    }

    private func sendBodyEnd(_ exchange: Exchange, aborted: Bool) {
        guard !exchange.bodyEndSent, let channel = exchange.worker?.channel else { return }
        exchange.bodyEndSent = true
        var frame = channel.allocator.buffer(capacity: WorkerFrame.headerSize)
        WorkerFrame.writeHeader(.bodyEnd, flags: aborted ? WorkerFrame.aborted : 0, length: 0, to: &frame)
        channel.writeAndFlush(frame, promise: nil)
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
        // The worker keeps running the app; its response is dropped when it comes.
        sendBodyEnd(exchange, aborted: true)
        if !exchange.finished { setReading(worker, true) }
    }

    func exchangeResponseWritability(_ exchange: Exchange, writable: Bool) {
        guard let worker = exchange.worker, !exchange.finished else { return }
        setReading(worker, writable)
    }

    /// Response backpressure: a worker whose client is slow is not read from, so its
    /// socket fills and its `sendall` blocks — memory stays bounded on both sides.
    func setReading(_ worker: Worker, _ reading: Bool) {
        guard let channel = worker.channel else { return }
        channel.setOption(ChannelOptions.autoRead, value: reading).whenSuccess {
            if reading { channel.read() }
        }
    }

    func workerWritabilityChanged(_ worker: Worker, writable: Bool) {
        guard case .busy(let exchange) = worker.state, !exchange.bodyEndSent else { return }
        exchange.writer.requestBodyWritabilityChanged(writable)
    }

    // MARK: - Frames from a worker

    func workerFrame(_ worker: Worker, _ frame: WorkerFrame) {
        switch frame.kind {
        case .ready:
            workerReady(worker, facts: frame.payload)
        case .bootError:
            worker.bootError = frame.payload.getString(at: frame.payload.readerIndex, length: frame.payload.readableBytes)
        case .responseStart, .responseBody, .responseEnd, .appError:
            guard case .busy(let exchange) = worker.state else {
                workerFailed(worker, error: WorkerProtocolError(description: "\(frame.kind) frame while no request is running"))
                return
            }
            responseFrame(frame, exchange: exchange, worker: worker)
        case .pong:
            break
        case .request, .body, .bodyEnd, .ping, .stop:
            workerFailed(worker, error: WorkerProtocolError(description: "unexpected \(frame.kind) frame from a worker"))
        }
    }

    private func responseFrame(_ frame: WorkerFrame, exchange: Exchange, worker: Worker) {
        let live = !exchange.finished && !exchange.cancelled
        switch frame.kind {
        case .responseStart:
            guard live else { return }
            let strings = PairBlock.strings(in: frame.payload)
            guard let statusLine = strings.first, let status = Int(statusLine.prefix(3)), strings.count % 2 == 1 else {
                workerFailed(worker, error: WorkerProtocolError(description: "malformed RESPONSE_START"))
                return
            }
            var headers: [(name: String, value: String)] = []
            headers.reserveCapacity(strings.count / 2)
            var index = 1
            while index + 1 < strings.count {
                headers.append((strings[index], strings[index + 1]))
                index += 2
            }
            exchange.responseStarted = true
            let reason = statusLine.count > 4 ? String(statusLine.dropFirst(4)) : ""
            exchange.writer.responseHead(status: status, reason: reason, headers: headers)
        case .responseBody:
            if live { exchange.writer.responseBody(frame.payload) }
        case .responseEnd:
            if live {
                exchange.finished = true
                exchange.timeoutTask?.cancel()
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
        default:
            break
        }
    }

    /// The worker answered; it is free once the body is closed on its side.
    private func exchangeDone(_ exchange: Exchange, worker: Worker) {
        exchange.finished = true
        exchange.timeoutTask?.cancel()
        // An app that answered without reading the whole body: the worker discards the
        // rest until BODY_END, so end it now; later client chunks are dropped.
        sendBodyEnd(exchange, aborted: !exchange.bodyComplete)
        exchange.worker = nil
        setReading(worker, true)
        workerAvailable(worker)
    }
}
