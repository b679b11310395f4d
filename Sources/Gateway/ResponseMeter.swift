import AppExchange
import NIOCore

/// Counts a pool's answered requests by status and their durations. Lives on the pool's
/// loop, where the response writer is called, so it needs no lock.
struct ResponseMeter {
    var responses: [Int: Int] = [:]
    var latency = LatencyHistogram()

    mutating func record(status: Int, since start: NIODeadline) {
        responses[status, default: 0] += 1
        latency.record(Double((NIODeadline.now() - start).nanoseconds) / 1e9)
    }
}

/// Wraps the front's response writer to feed the pool's meter; every call passes through.
final class MeteredWriter: AppResponseWriter, @unchecked Sendable {
    private let inner: AppResponseWriter
    private unowned let pool: WorkerPool
    private let start = NIODeadline.now()
    private var status = 0

    init(_ inner: AppResponseWriter, pool: WorkerPool) {
        self.inner = inner
        self.pool = pool
    }

    func responseHead(status: Int, reason: String, headers: [(name: String, value: String)]) {
        self.status = status
        inner.responseHead(status: status, reason: reason, headers: headers)
    }

    func responseBody(_ chunk: ByteBuffer) {
        inner.responseBody(chunk)
    }

    func responseFile(_ file: ResponseFile) {
        inner.responseFile(file)
    }

    func responseEnd() {
        pool.meter.record(status: status, since: start)
        inner.responseEnd()
    }

    func responseFailed(_ failure: AppFailure, responseStarted: Bool) {
        pool.meter.record(status: responseStarted ? status : failure.status, since: start)
        inner.responseFailed(failure, responseStarted: responseStarted)
    }

    func requestBodyWritabilityChanged(_ writable: Bool) {
        inner.requestBodyWritabilityChanged(writable)
    }
}
