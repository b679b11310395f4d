import NIOCore

/// Counts stream resets on one connection in fixed windows of time (CVE-2023-44487: a
/// client that opens and cancels streams at once makes the server start work it never
/// finishes, without ever exceeding the concurrent-stream limit).
struct ResetRateLimiter {
    let limit: Int
    let window: TimeAmount
    private var windowStart: NIODeadline?
    private(set) var count = 0

    init(limit: Int, windowSeconds: Double) {
        self.limit = limit
        self.window = .nanoseconds(Int64(windowSeconds * 1e9))
    }

    /// Records one reset at `now`; true once the connection passed its limit.
    mutating func record(now: NIODeadline = .now()) -> Bool {
        if let start = windowStart, now - start < window {
            count += 1
        } else {
            windowStart = now
            count = 1
        }
        return count > limit
    }
}
