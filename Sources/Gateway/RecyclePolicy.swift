/// Why the supervisor replaced a worker: the `reason` label of berth's restart counters.
public enum RestartReason: String, Sendable, CaseIterable {
    case maxRequests = "max_requests"
    case maxLifetime = "max_lifetime"
    case maxRSS = "max_rss"
    /// A request ran past the hard timeout; the worker was killed.
    case timeout
    /// It exited or was killed without being asked to.
    case crashed
    /// A reload started a new generation.
    case reload
}

/// When a worker is due for recycling (gunicorn's `max_requests` and `max_requests_jitter`,
/// uWSGI's `max-worker-lifetime` and `reload-on-rss`). A due worker is never stopped at
/// once: a replacement starts first, and the old one retires after it is ready and the
/// old one's current request is done.
public struct RecyclePolicy: Sendable, Equatable {
    /// Requests a worker serves before it is recycled; 0 for no limit.
    public var maxRequests = 0
    /// Each worker's limit is `maxRequests` plus a random 0...jitter, so workers started
    /// together do not all recycle at once.
    public var maxRequestsJitter = 0
    /// Seconds a worker lives before it is recycled; 0 for no limit. Each worker draws up to
    /// 10% more, for the same reason.
    public var maxLifetime = 0.0
    /// Resident memory in bytes above which a worker is recycled; 0 for no limit.
    public var maxRSS = 0

    public init(maxRequests: Int = 0, maxRequestsJitter: Int = 0, maxLifetime: Double = 0, maxRSS: Int = 0) {
        self.maxRequests = maxRequests
        self.maxRequestsJitter = maxRequestsJitter
        self.maxLifetime = maxLifetime
        self.maxRSS = maxRSS
    }

    /// No limit is set: workers are never recycled.
    public var isOff: Bool { maxRequests == 0 && maxLifetime == 0 && maxRSS == 0 }

    /// One worker's own limits, drawn when it is spawned.
    public struct Limits: Sendable, Equatable {
        public var requests: Int?
        public var lifetime: Double?
    }

    /// Draws a new worker's limits.
    public func limits(using random: inout some RandomNumberGenerator) -> Limits {
        Limits(
            requests: maxRequests > 0 ? maxRequests + Int.random(in: 0...max(0, maxRequestsJitter), using: &random) : nil,
            lifetime: maxLifetime > 0 ? maxLifetime * Double.random(in: 1...1.1, using: &random) : nil)
    }

    /// Why a worker with these facts is due, or nil. `residentBytes` is nil when unknown.
    public func due(limits: Limits, served: Int, age: Double, residentBytes: Int?) -> RestartReason? {
        if let limit = limits.requests, served >= limit { return .maxRequests }
        if let lifetime = limits.lifetime, age >= lifetime { return .maxLifetime }
        if maxRSS > 0, let rss = residentBytes, rss > maxRSS { return .maxRSS }
        return nil
    }

    /// How many due workers may retire now: as many as leave at least `target` workers
    /// ready (`ready` counts only workers not due). A due worker keeps serving until then.
    public static func retirements(ready: Int, due: Int, target: Int) -> Int {
        max(0, min(due, ready + due - target))
    }
}
