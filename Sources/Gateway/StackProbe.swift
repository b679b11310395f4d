import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// Reads a stuck worker's Python stack.
///
/// At boot the worker registers `faulthandler` on SIGUSR2, writing every thread's stack into
/// a pipe whose read end it keeps open and names in its READY facts (`stack_fd`). berth
/// opens that descriptor through `/proc/PID/fd`, sends the signal and reads the pipe.
/// faulthandler's handler is C that runs inside the signal delivery, so it answers even
/// when the main thread is stuck in C code (`time.sleep`, a loop holding the GIL) where no
/// Python code — a watchdog thread, a control frame — could run. The protocol socket is
/// left alone: the stuck thread may be halfway through writing a frame on it.
struct StackProbe: Sendable {
    static let signal = SIGUSR2
    /// The host pid of the Python process.
    let pid: Int32
    /// The pipe's read end, a descriptor number in the worker.
    let fd: Int32

    /// Signals the worker and returns what faulthandler wrote: waits up to `wait` seconds
    /// for the first bytes, then reads until the pipe stays quiet for 50 ms.
    /// Blocking: call it off the event loop.
    func capture(wait: Double = 1) throws -> String {
        let pipe = try ProcFS.openDescriptor(fd, of: pid, flags: O_RDONLY | O_NONBLOCK)
        defer { Descriptors.close(pipe) }
        while !(try Descriptors.readAvailable(pipe, limit: 65536)).isEmpty {}  // an old dump
        Processes.signal(pid, Self.signal)
        guard try Descriptors.waitReadable(pipe, milliseconds: Int32(wait * 1000)) else {
            throw StackUnavailable(description: "the worker wrote no stack within \(wait) s of SIGUSR2")
        }
        var bytes: [UInt8] = []
        while true {
            bytes += try Descriptors.readAvailable(pipe, limit: 65536)
            guard bytes.count < 1 << 20, try Descriptors.waitReadable(pipe, milliseconds: 50) else { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Why no stack could be read from a worker.
struct StackUnavailable: Error, CustomStringConvertible {
    let description: String
}
