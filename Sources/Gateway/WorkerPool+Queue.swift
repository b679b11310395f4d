import AppExchange
import NIOCore

/// The bounded wait for a worker: at most `queue_size` requests wait, each at most
/// `queue_timeout` seconds; past either a request gets 503 with Retry-After, never a hang.
extension WorkerPool {
    func enqueue(_ exchange: Exchange) {
        queue.append(exchange)
        let wait = configuration.queueTimeout
        guard wait > 0 else { return }
        exchange.queueTimer = loop.scheduleTask(in: .nanoseconds(Int64(wait * 1e9))) { [self] in
            queueWaitExpired(exchange, seconds: wait)
        }
    }

    /// The next queued request, its queue timer stopped.
    func dequeue() -> Exchange? {
        let exchange = queue.popFirst()
        exchange?.queueTimer?.cancel()
        exchange?.queueTimer = nil
        return exchange
    }

    private func queueWaitExpired(_ exchange: Exchange, seconds: Double) {
        guard exchange.worker == nil, !exchange.finished, let index = queue.firstIndex(where: { $0 === exchange }) else { return }
        queue.remove(at: index)
        rejected += 1
        logger.warning(
            "no worker free within queue_timeout (\(seconds) s): 503",
            metadata: ["request": "\(exchange.request.requestID)", "queued": "\(queue.count)"])
        exchange.fail(.overloaded)
    }
}
