import AppExchange
import NIOCore

/// One request on its way through the pool: queued, then on a worker (waiting in its
/// window, then running), then finished.
///
/// The front calls the `AppExchangeHandle` methods from its own event loop; each hops to
/// the pool's loop, where all other state lives. `execute` keeps their order.
final class Exchange: AppExchangeHandle, @unchecked Sendable {
    let request: AppRequest
    let writer: AppResponseWriter
    private unowned let pool: WorkerPool

    var worker: Worker?
    /// The worker's lane (thread) it was written to.
    var lane = 0
    /// Body chunks that arrived while the request waited in the queue.
    var pendingBody: [ByteBuffer] = []
    /// The client sent the whole body.
    var bodyComplete = false
    /// BODY_END went to the worker (or no body was announced).
    var bodyEndSent = false
    var responseStarted = false
    /// The response side is over: ended, failed, or the client is gone.
    var finished = false
    /// The queue wait limit (`queue_timeout`) while the request waits for a worker.
    var queueTimer: Scheduled<Void>?
    var cancelled = false

    init(request: AppRequest, writer: AppResponseWriter, pool: WorkerPool) {
        self.request = request
        self.writer = writer
        self.pool = pool
        self.bodyEndSent = !request.hasBody
    }

    func requestBody(_ chunk: ByteBuffer) {
        pool.onLoop { $0.exchangeBody(self, chunk) }
    }

    func requestEnd() {
        pool.onLoop { $0.exchangeBodyEnd(self) }
    }

    func cancel() {
        pool.onLoop { $0.exchangeCancelled(self) }
    }

    func responseWritabilityChanged(_ writable: Bool) {
        pool.onLoop { $0.exchangeResponseWritability(self, writable: writable) }
    }

    /// Ends the response side once: later calls do nothing.
    func fail(_ failure: AppFailure) {
        guard !finished else { return }
        finished = true
        if !cancelled { writer.responseFailed(failure, responseStarted: responseStarted) }
    }
}
