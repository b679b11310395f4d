import AppExchange
import Foundation
import LinuxSystem
import Logging
import NIOCore

/// The hard request timeout: read the stuck worker's stack, log it, answer 504, kill it.
extension WorkerPool {
    /// Longest the 504 waits for the stack of a worker that does not answer SIGUSR2.
    static let stackWait = 1.0

    func requestTimedOut(_ exchange: Exchange, seconds: Double) {
        guard !exchange.finished, let worker = exchange.worker, !worker.life.timedOut else { return }
        // From here the worker takes no more requests, and a late answer reaches nobody.
        worker.life.timedOut = true
        exchange.finished = true
        let probe = stackProbe(for: worker)
        do {
            try Threads.detach { [self] in
                let stack: String
                do {
                    guard let probe else { throw StackUnavailable(description: "the worker named no stack pipe in READY") }
                    stack = try probe.capture(wait: Self.stackWait)
                } catch {
                    stack = "(no stack: \(error))"
                }
                onLoop { pool in pool.timedOutWithStack(exchange, worker: worker, seconds: seconds, stack: stack) }
            }
        } catch {
            timedOutWithStack(exchange, worker: worker, seconds: seconds, stack: "(no stack: cannot start the thread that reads it: \(error))")
        }
    }

    private func timedOutWithStack(_ exchange: Exchange, worker: Worker, seconds: Double, stack: String) {
        let request = exchange.request
        var stack = stack
        var metadata: Logger.Metadata = [
            "worker": "\(worker.id)", "pid": "\(worker.life.pythonPID ?? worker.pid)",
            "request": "\(request.requestID)", "method": "\(request.method)", "path": "\(request.path)",
        ]
        // A threaded worker's dump has a stack per thread: name the one that was stuck.
        if let thread = Self.thread(of: exchange, in: worker) {
            stack = "The request timed out in Thread \(thread) (lane \(exchange.lane) of \(worker.windows.count)).\n" + stack
            metadata["thread"] = "\(thread)"
        }
        metadata["stack"] = "\(stack)"
        logger.error("request timed out after \(seconds) s; killing \(worker.label)", metadata: metadata)
        if !exchange.cancelled {
            exchange.writer.responseFailed(.timeout(seconds: seconds, stack: stack), responseStarted: exchange.responseStarted)
        }
        kill(worker)
    }

    /// The thread id (as faulthandler prints it) of the lane that ran `exchange`, for a
    /// threaded worker.
    static func thread(of exchange: Exchange, in worker: Worker) -> String? {
        let ids = worker.life.threadIDs
        return worker.windows.count > 1 && exchange.lane < ids.count ? ids[exchange.lane] : nil
    }

    /// How to read `worker`'s stack, from its READY facts; nil when it named no pipe.
    func stackProbe(for worker: Worker) -> StackProbe? {
        guard let fd = worker.life.stackFD, let inner = worker.life.innerPID else { return nil }
        if worker.life.pythonPID == nil { worker.life.pythonPID = ProcFS.hostPID(of: inner, at: worker.pid) }
        return worker.life.pythonPID.map { StackProbe(pid: $0, fd: fd) }
    }
}
