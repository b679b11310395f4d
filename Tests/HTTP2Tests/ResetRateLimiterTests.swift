import NIOCore
import Testing

@testable import HTTP2

@Suite struct ResetRateLimiterTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    /// Records resets at the given seconds after `start`; returns what each record said.
    func record(_ limiter: inout ResetRateLimiter, at seconds: [Int64]) -> [Bool] {
        seconds.map { limiter.record(now: start + .seconds($0)) }
    }

    @Test func passesTheLimitOnlyWithinOneWindow() {
        var limiter = ResetRateLimiter(limit: 3, windowSeconds: 10)
        #expect(record(&limiter, at: [0, 1, 2, 5]) == [false, false, false, true], "a fourth reset inside 10 s")
    }

    @Test func aNewWindowStartsAfresh() {
        var limiter = ResetRateLimiter(limit: 3, windowSeconds: 10)
        #expect(record(&limiter, at: [0, 1, 2, 11]) == [false, false, false, false])
        #expect(limiter.count == 1)
    }
}
