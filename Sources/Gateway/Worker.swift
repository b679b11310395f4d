#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Container
import LinuxSystem
import NIOCore

/// One worker process as the pool sees it. Confined to the pool's event loop.
final class Worker: @unchecked Sendable {
    enum State {
        /// Spawned, waiting for READY.
        case booting
        /// Ready, holding no request.
        case idle
        /// Holding requests: `windows` have them.
        case busy
        /// Sent STOP; it exits when done.
        case stopping
        case dead
    }

    let id: Int
    let generation: Int
    let pid: Int32
    let startedAt: NIODeadline
    var channel: Channel?
    /// The gateway's end of the socketpair on which the worker passes file descriptors
    /// (RESPONSE_FILE); closed when its protocol socket closes.
    var fileSocket: Int32?
    var state: State = .booting
    /// When it last became idle (for `idle_timeout`).
    var idleSince = NIODeadline.uptimeNanoseconds(0)
    /// The requests written to each of its lanes (threads), in the order the lane answers
    /// them; one lane for a worker without threads.
    var windows: [WorkerWindow<Exchange>]
    /// Frames were written to its channel and await the pool's end-of-batch flush.
    var needsFlush = false
    /// Reading from it is off (response backpressure from a slow client).
    var readingPaused = false
    /// The text of a BOOT_ERROR frame, when the app failed to import.
    var bootError: String?
    /// It sent READY at some point (a worker that exits before that failed to boot).
    var becameReady = false
    /// Asked to stop (STOP frame): its exit is expected.
    var retiring = false
    /// What the launcher made for it (a cgroup), released once it is reaped.
    var resources: WorkerResources?
    /// Set once the process has been reaped.
    var exitStatus: ExitStatus?
    /// Set once its exit was acted on (after its socket was drained).
    var exitHandled = false
    /// Requests served, recycling, stack pipe: the supervisor's bookkeeping.
    var life = WorkerLife()

    /// `startedAt`: when the launch began (a container's setup happens inside the launch).
    init(id: Int, generation: Int, pid: Int32, startedAt: NIODeadline, windows: [WorkerWindow<Exchange>]) {
        self.id = id
        self.generation = generation
        self.pid = pid
        self.startedAt = startedAt
        self.windows = windows
    }

    var label: String { "worker \(id) (pid \(pid))" }

    var isBusy: Bool { windows.contains { !$0.isEmpty } }

    /// The request that has run longest of those its lanes run, and since when.
    var longestRunning: (exchange: Exchange, since: NIODeadline)? {
        var oldest: (exchange: Exchange, since: NIODeadline)?
        for window in windows {
            guard let head = window.head else { continue }
            if oldest == nil || window.headSince < oldest!.since { oldest = (head, window.headSince) }
        }
        return oldest
    }
}

/// The channel handler on the gateway's end of a worker's socketpair: passes frames and
/// state changes to the pool.
final class WorkerChannelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WorkerFrame

    private let pool: WorkerPool
    private let worker: Worker

    init(pool: WorkerPool, worker: Worker) {
        self.pool = pool
        self.worker = worker
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pool.workerFrame(worker, unwrapInboundIn(data))
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        pool.workerWritabilityChanged(worker, writable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        pool.workerDisconnected(worker)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A reset is the worker dying with bytes unread (a signal to the whole process
        // group, a crash): its end is reported when it is reaped, not as a protocol error.
        if let error = error as? IOError, error.errnoCode == ECONNRESET || error.errnoCode == EPIPE {
            context.close(promise: nil)
            return
        }
        pool.workerFailed(worker, error: error)
        context.close(promise: nil)
    }
}
