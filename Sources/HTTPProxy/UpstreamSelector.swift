import NIOConcurrencyHelpers
import NIOCore

/// Round-robin over an upstream's servers with passive failure marking, like nginx's
/// `max_fails`/`fail_timeout`: a server that failed `maxFails` times within `failTimeout`
/// is left out for `failTimeout`. Shared by every event loop.
final class UpstreamSelector: Sendable {
    private struct Health {
        var fails = 0
        var lastFailure = NIODeadline.uptimeNanoseconds(0)
    }

    private struct State {
        var next = 0
        var health: [Health]
    }

    private let count: Int
    private let maxFails: Int
    private let failTimeout: TimeAmount
    private let state: NIOLockedValueBox<State>

    init(count: Int, maxFails: Int, failTimeout: Double) {
        self.count = count
        self.maxFails = maxFails
        self.failTimeout = .nanoseconds(Int64(failTimeout * 1e9))
        state = NIOLockedValueBox(State(health: Array(repeating: Health(), count: count)))
    }

    /// The next server to try, skipping `excluded` and servers left out after failures;
    /// nil when none is left.
    func next(excluding excluded: Set<Int>, now: NIODeadline = .now()) -> Int? {
        state.withLockedValue { state in
            for step in 0..<count {
                let index = (state.next + step) % count
                guard !excluded.contains(index), isAvailable(state.health[index], now: now) else { continue }
                state.next = (index + 1) % count
                return index
            }
            return nil
        }
    }

    private func isAvailable(_ health: Health, now: NIODeadline) -> Bool {
        guard count > 1, maxFails > 0, health.fails >= maxFails else { return true }
        return now - health.lastFailure >= failTimeout
    }

    /// A connection error, timeout or broken response from server `index`.
    func failed(_ index: Int, now: NIODeadline = .now()) {
        state.withLockedValue { state in
            var health = state.health[index]
            // Failures count within one window: an old one starts a fresh count.
            if now - health.lastFailure >= failTimeout { health.fails = 0 }
            health.fails += 1
            health.lastFailure = now
            state.health[index] = health
        }
    }

    /// A complete response from server `index`.
    func succeeded(_ index: Int) {
        state.withLockedValue { state in
            if state.health[index].fails != 0 { state.health[index].fails = 0 }
        }
    }
}
