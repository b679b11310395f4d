import Testing

@testable import Gateway

@Suite("Recycling decisions")
struct RecyclePolicyTests {
    @Test func noLimitsMeansNeverDue() {
        var random = SystemRandomNumberGenerator()
        let policy = RecyclePolicy()
        let limits = policy.limits(using: &random)
        #expect(limits == RecyclePolicy.Limits(requests: nil, lifetime: nil))
        #expect(policy.due(limits: limits, served: 1_000_000, age: 1e9, residentBytes: 1 << 40) == nil)
    }

    @Test func maxRequestsWithJitterStaysInRange() {
        var random = SystemRandomNumberGenerator()
        let policy = RecyclePolicy(maxRequests: 100, maxRequestsJitter: 20)
        let drawn = (0..<500).map { _ in policy.limits(using: &random).requests! }
        #expect(drawn.allSatisfy { (100...120).contains($0) })
        #expect(Set(drawn).count > 5, "jitter spreads the limits")
        let limits = RecyclePolicy.Limits(requests: 110, lifetime: nil)
        #expect(policy.due(limits: limits, served: 109, age: 0, residentBytes: nil) == nil)
        #expect(policy.due(limits: limits, served: 110, age: 0, residentBytes: nil) == .maxRequests)
    }

    @Test func lifetimeGetsUpToTenPercentMore() {
        var random = SystemRandomNumberGenerator()
        let policy = RecyclePolicy(maxLifetime: 100)
        let drawn = (0..<500).map { _ in policy.limits(using: &random).lifetime! }
        #expect(drawn.allSatisfy { (100...110).contains($0) })
        #expect(Set(drawn).count > 5, "workers started together get different lifetimes")
        let limits = RecyclePolicy.Limits(requests: nil, lifetime: 105)
        #expect(policy.due(limits: limits, served: 0, age: 104.9, residentBytes: nil) == nil)
        #expect(policy.due(limits: limits, served: 0, age: 105, residentBytes: nil) == .maxLifetime)
    }

    @Test func memoryOverTheLimitIsDueUnknownIsNot() {
        let policy = RecyclePolicy(maxRSS: 100 << 20)
        let limits = RecyclePolicy.Limits()
        #expect(policy.due(limits: limits, served: 0, age: 0, residentBytes: nil) == nil)
        #expect(policy.due(limits: limits, served: 0, age: 0, residentBytes: 100 << 20) == nil)
        #expect(policy.due(limits: limits, served: 0, age: 0, residentBytes: (100 << 20) + 1) == .maxRSS)
    }

    @Test func dueWorkersRetireOnlyWhenReplacementsAreReady() {
        // 2 wanted, one due, its replacement still booting: keep the due one.
        #expect(RecyclePolicy.retirements(ready: 1, due: 1, target: 2) == 0)
        // The replacement is ready: the due one may go.
        #expect(RecyclePolicy.retirements(ready: 2, due: 1, target: 2) == 1)
        // Two due, one replacement ready: one goes, the other waits for its own.
        #expect(RecyclePolicy.retirements(ready: 2, due: 2, target: 3) == 1)
        #expect(RecyclePolicy.retirements(ready: 3, due: 2, target: 3) == 2)
        // A crash's replacement must not let a due worker go early.
        #expect(RecyclePolicy.retirements(ready: 0, due: 1, target: 1) == 0)
        #expect(RecyclePolicy.retirements(ready: 1, due: 1, target: 1) == 1)
    }
}

@Suite("Latency histogram")
struct LatencyHistogramTests {
    @Test func bucketsByUpperBoundWithOverflow() {
        var histogram = LatencyHistogram(bounds: [0.1, 1])
        for seconds in [0.05, 0.1, 0.5, 1, 3] { histogram.record(seconds) }
        #expect(histogram.counts == [2, 2, 1])  // ≤0.1, ≤1, +Inf
        #expect(histogram.count == 5)
        #expect(abs(histogram.sum - 4.65) < 1e-9)
    }
}
