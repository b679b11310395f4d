import NIOCore

/// What a connection is waiting for, and since when: the basis of its timeouts.
/// Kept by the connection's HTTP/1 handler.
final class ConnectionActivity: @unchecked Sendable {
    enum Phase {
        /// Between requests: keep-alive timeout; a first byte starts the header timeout.
        case idle
        /// Reading a request body: body timeout between reads.
        case body
        /// The request is in; the app's own timeout applies.
        case waiting
        /// The response is out and the connection closes once the client stops sending
        /// (a lingering close): a short timeout between reads.
        case lingering
    }

    /// How long a lingering close waits for more of an unwanted body.
    static let lingerTimeout: Double = 2

    enum Expiry {
        case none
        /// Idle past keep-alive: close quietly.
        case idle
        /// A request head or body too slow: 408.
        case slowRequest
        /// A lingering close waited long enough: close.
        case lingerOver
    }

    private(set) var phase = Phase.idle
    private var phaseStart = NIODeadline.now()
    private var firstByteAt: NIODeadline?
    private var lastBodyRead = NIODeadline.now()

    /// Raw bytes arrived (called for every read, before parsing).
    func noteBytes() {
        if phase == .idle && firstByteAt == nil { firstByteAt = .now() }
    }

    func enterIdle() {
        phase = .idle
        phaseStart = .now()
        firstByteAt = nil
    }

    func enterRequest() {
        phase = .body
        lastBodyRead = .now()
    }

    func noteBody() { lastBodyRead = .now() }

    func enterWaiting() { phase = .waiting }

    func enterLingering() {
        phase = .lingering
        lastBodyRead = .now()
    }

    func expired(_ configuration: FrontConfiguration) -> Expiry {
        let now = NIODeadline.now()
        switch phase {
        case .idle:
            if let first = firstByteAt {
                return configuration.headerTimeout > 0 && now - first > .fromSeconds(configuration.headerTimeout) ? .slowRequest : .none
            }
            return configuration.keepAliveTimeout >= 0 && now - phaseStart > .fromSeconds(configuration.keepAliveTimeout) ? .idle : .none
        case .body:
            return configuration.bodyTimeout > 0 && now - lastBodyRead > .fromSeconds(configuration.bodyTimeout) ? .slowRequest : .none
        case .waiting:
            return .none
        case .lingering:
            return now - lastBodyRead > .fromSeconds(Self.lingerTimeout) ? .lingerOver : .none
        }
    }
}

extension TimeAmount {
    static func fromSeconds(_ value: Double) -> TimeAmount { .nanoseconds(Int64(value * 1e9)) }
}
