import NIOConcurrencyHelpers
import NIOCore

/// `max_connections`: at the limit, berth stops accepting (the listeners stop reading or
/// accepting, so new connections wait in the kernel's backlog, as with nginx's
/// worker_connections) and resumes when a connection closes. On a listener NIO accepts for
/// (TLS), a few accepted in the same wake-up as the one that reached the limit are served,
/// not dropped; berth's own acceptor counts before its next accept and stops at the limit.
final class AcceptGate: Sendable {
    private struct State {
        var open = 0
        var paused = false
        var stopped = false
        /// Each listener's switch: accepting on (true) or off.
        var listeners: [@Sendable (Bool) -> Void] = []
    }

    /// 0 for no limit.
    let limit: Int
    private let state = NIOLockedValueBox(State())

    init(limit: Int) {
        self.limit = limit
    }

    /// A listener served by NIO: accepting off is reading off.
    func add(listener: Channel) {
        add { on in _ = listener.setOption(ChannelOptions.autoRead, value: on) }
    }

    /// A listener that accepts by itself (`SocketAcceptor`).
    func add(listener: @escaping @Sendable (Bool) -> Void) {
        state.withLockedValue { $0.listeners.append(listener) }
    }

    /// No more resuming: the server is stopping.
    func stop() {
        state.withLockedValue { $0.stopped = true }
    }

    /// A connection was accepted; counts it until it closes.
    func opened(_ channel: Channel) {
        guard limit > 0 else { return }
        opened()
        channel.closeFuture.whenComplete { [self] _ in closed() }
    }

    /// A connection was accepted (counted from here, on the accepting thread, so that the
    /// next `accept` already sees the limit); `closed()` once it is gone.
    func opened() {
        guard limit > 0 else { return }
        let pause = state.withLockedValue { state -> [@Sendable (Bool) -> Void] in
            state.open += 1
            guard state.open >= limit, !state.paused else { return [] }
            state.paused = true
            return state.listeners
        }
        for listener in pause { listener(false) }
    }

    func closed() {
        guard limit > 0 else { return }
        let resume = state.withLockedValue { state -> [@Sendable (Bool) -> Void] in
            state.open -= 1
            guard state.paused, state.open < limit, !state.stopped else { return [] }
            state.paused = false
            return state.listeners
        }
        for listener in resume { listener(true) }
    }
}
