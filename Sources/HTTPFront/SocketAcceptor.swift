import LinuxSystem
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A cleartext listener whose connections berth accepts itself, on a thread of its own, and
/// hands to NIO with `ClientBootstrap.withConnectedSocket`. NIO's own listeners never tell
/// a connection's handler its descriptor; knowing it, the HTTP/1 handler writes responses
/// straight to the socket while NIO has nothing queued for it (direct output,
/// `HTTPConnectionHandler+Output`): the head
/// with `send(MSG_MORE)` and a file with `sendfile`, two system calls and none of NIO's
/// per-write work (docs/front.md, "Direct output").
final class SocketAcceptor: Sendable {
    /// The listening socket; owned by the accepting thread once it runs, closed by `stop`.
    let fd: Int32
    /// The TCP port actually bound (0 for a unix socket).
    let port: Int
    private let state = NIOLockedValueBox((paused: false, stopped: false))
    /// Completes when the accepting thread has returned.
    private let finished: NIOLockedValueBox<EventLoopFuture<Void>?> = NIOLockedValueBox(nil)

    /// How long the thread naps while `max_connections` holds accepting off, or when the
    /// process is out of descriptors, before it looks again.
    private static let napMicroseconds: UInt32 = 5_000

    /// A unix socket's path, removed at `stop` (as NIO's listeners do).
    private let path: String?

    /// Binds and listens on `address` (backlog 1024, SO_REUSEADDR, as berth's NIO listeners).
    init(address: SocketAddress, description: String) throws {
        path = address.pathname
        fd = try address.withSockAddr { pointer, length in
            try Sockets.listen(
                family: Int32(address.protocol.rawValue), address: pointer, length: length, backlog: 1024,
                for: description)
        }
        port = Sockets.boundPort(fd)
    }

    /// Starts accepting on a thread of its own (`Threads.detach`): each connection's
    /// descriptor goes to `serve`, on that thread; `loop` completes `stop`'s wait. When no
    /// thread can be made, the listening socket is closed and the error thrown.
    func start(on loop: EventLoop, serve: @escaping @Sendable (Int32) -> Void) throws {
        let done = loop.makePromise(of: Void.self)
        do {
            try Threads.detach { [self] in
                acceptUntilStopped(serve)
                done.succeed(())
            }
        } catch {
            done.succeed(())
            state.withLockedValue { $0.stopped = true }
            Descriptors.close(fd)
            if let path { unlink(path) }
            throw error
        }
        finished.withLockedValue { $0 = done.futureResult }
    }

    private func acceptUntilStopped(_ serve: (Int32) -> Void) {
        while true {
            let (paused, stopped) = state.withLockedValue { ($0.paused, $0.stopped) }
            if stopped { return }
            if paused {
                usleep(Self.napMicroseconds)
                continue
            }
            switch Sockets.accept(fd) {
            case .connection(let connection):
                serve(connection)
            case .retry(let code):
                // Out of descriptors or memory: the backlog keeps the connection until
                // some close.
                if code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM {
                    usleep(Self.napMicroseconds)
                }
            case .closed:
                return
            }
        }
    }

    /// `max_connections`: accepting off at the limit, on again below it (`AcceptGate`).
    func setAccepting(_ on: Bool) {
        state.withLockedValue { $0.paused = !on }
    }

    /// Stops accepting and closes the listening socket; returns once the thread has left
    /// `accept` (a connection it took just before is still served).
    func stop() async {
        let first = state.withLockedValue { state -> Bool in
            defer { state.stopped = true }
            return !state.stopped
        }
        guard first else { return }
        Sockets.shutdownListening(fd)
        if let done = finished.withLockedValue({ $0 }) { try? await done.get() }
        Descriptors.close(fd)
        if let path { unlink(path) }
    }
}
