import NIOCore

/// What the supervisor tracks over one worker's life besides its state: requests served,
/// its recycling limits and whether it is due, how to read its Python stack.
struct WorkerLife {
    var requestsServed = 0
    /// Why the pool started it (`berth status`).
    var startReason = ""
    var limits = RecyclePolicy.Limits()
    /// Set when the worker is due for recycling; it retires once a replacement is ready.
    var due: RestartReason?
    /// A ready replacement exists: retire as soon as the current request is done.
    var replaced = false
    /// A request ran past the timeout: the worker is being killed and takes no more.
    var timedOut = false
    /// When the current request was handed to the worker.
    var requestStartedAt: NIODeadline?
    /// Last measured resident memory of the Python process, in bytes.
    var residentBytes: Int?
    /// The worker's pid as it sees it (inside its container's pid namespace), from READY.
    var innerPID: Int32?
    /// The read end of its stack pipe, a descriptor number in the worker (from READY).
    var stackFD: Int32?
    /// Each lane's thread id as faulthandler prints it (`0x00007f…`), from READY; empty
    /// for a worker without threads.
    var threadIDs: [String] = []
    /// The host pid of the Python process, once looked up.
    var pythonPID: Int32?
}
