import NIOCore
import Testing

@testable import Gateway

@Suite("Pool scaler: how many workers a pool wants, and which idle ones retire")
struct PoolScalerTests {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    func scaler(min: Int = 1, max: Int = 4, spare: Int = 1, idle: Int64 = 10, starting: Int = 2) -> PoolScaler {
        PoolScaler(minWorkers: min, maxWorkers: max, spareWorkers: spare, idleTimeout: .seconds(idle), maxStarting: starting)
    }

    func idle(_ id: Int, for seconds: Int64 = 0, now: NIODeadline) -> PoolScaler.Member {
        .idle(id: id, since: now - .seconds(seconds))
    }

    func starts(_ actions: [PoolScaler.Action]) -> Int {
        actions.reduce(0) { if case .start(let n, _) = $1 { $0 + n } else { $0 } }
    }

    func retired(_ actions: [PoolScaler.Action]) -> [Int] {
        actions.compactMap { if case .retire(let id, _) = $0 { id } else { nil } }
    }

    @Test func bootStartsMinAtOnceWhateverTheStartLimit() {
        var s = scaler(min: 3, max: 6, starting: 1)
        let actions = s.evaluate([], queued: 0, now: t0)
        #expect(starts(actions) == 3)
        #expect(actions == [.start(count: 3, reason: "below min_workers (3)")])
    }

    @Test func aBusyWorkerWithoutASpareStartsOne() {
        var s = scaler(min: 1, max: 4, spare: 1)
        let actions = s.evaluate([.busy], queued: 0, now: t0)
        #expect(actions == [.start(count: 1, reason: "fewer than spare_workers (1) idle: 0 idle, 1 busy")])
        #expect(s.target == 2)
        // Once it is starting, it counts: nothing more starts.
        #expect(s.evaluate([.busy, .starting], queued: 0, now: t0).isEmpty)
        // Ready and idle, it is the spare.
        #expect(s.evaluate([.busy, idle(2, now: t0)], queued: 0, now: t0).isEmpty)
    }

    @Test func queuedRequestsGrowThePoolButNeverPastMax() {
        var s = scaler(min: 1, max: 4, spare: 0, starting: 8)
        let actions = s.evaluate([.busy], queued: 10, now: t0)
        #expect(actions == [.start(count: 3, reason: "10 request(s) queued, 1 busy")])
        #expect(s.target == 4)
        #expect(s.evaluate([.busy, .busy, .busy, .busy], queued: 50, now: t0).isEmpty)
        #expect(s.target == 4)
    }

    @Test func atMostMaxStartingStartAtOnceAndTheRestFollowAsTheyBecomeReady() {
        var s = scaler(min: 1, max: 8, spare: 0, starting: 2)
        #expect(starts(s.evaluate([.busy], queued: 20, now: t0)) == 2)
        #expect(s.target == 8)
        #expect(starts(s.evaluate([.busy, .starting, .starting], queued: 20, now: t0)) == 0)
        // One became ready (and took a request): one more may start.
        #expect(starts(s.evaluate([.busy, .busy, .starting], queued: 20, now: t0)) == 1)
        #expect(s.startsAllowed(live: 3, starting: 1) == 1)
    }

    @Test func anIdleWorkerRetiresAfterIdleTimeoutButNotBeforeAndNeverBelowMin() {
        var s = scaler(min: 1, max: 4, spare: 0, idle: 10)
        _ = s.evaluate([.busy, .busy, .busy], queued: 1, now: t0)
        #expect(s.target == 4)
        let now = t0 + .seconds(100)
        // Load stopped: four idle workers, two of them for longer than the timeout.
        let members = [idle(1, for: 30, now: now), idle(2, for: 9, now: now), idle(3, for: 11, now: now), idle(4, for: 1, now: now)]
        let actions = s.evaluate(members, queued: 0, now: now)
        #expect(retired(actions) == [1, 3])  // the longest idle first
        #expect(starts(actions) == 0)
        #expect(s.target == 2)
        // Later all four ran out: only down to min.
        let later = [idle(2, for: 21, now: now), idle(4, for: 20, now: now)]
        #expect(retired(s.evaluate(later, queued: 0, now: now)) == [2])
        #expect(s.target == 1)
        #expect(s.evaluate([idle(4, for: 1000, now: now)], queued: 0, now: now).isEmpty)
    }

    @Test func spareWorkersAreKeptIdleAndNotChurned() {
        var s = scaler(min: 1, max: 6, spare: 2, idle: 5)
        #expect(starts(s.evaluate([.busy], queued: 0, now: t0)) == 2)
        let now = t0 + .seconds(60)
        // One busy, three idle for long: the busy one and two spares stay.
        let actions = s.evaluate([.busy, idle(2, for: 60, now: now), idle(3, for: 50, now: now), idle(4, for: 40, now: now)], queued: 0, now: now)
        #expect(retired(actions) == [2])
        #expect(starts(actions) == 0)
        #expect(s.target == 3)
    }

    @Test func busyWorkersAreNeverRetired() {
        var s = scaler(min: 1, max: 3, spare: 0, idle: 1)
        _ = s.evaluate([.busy, .busy], queued: 1, now: t0)
        #expect(retired(s.evaluate([.busy, .busy, .busy], queued: 0, now: t0 + .seconds(100))).isEmpty)
    }

    @Test func aCrashedWorkerIsReplacedUpToTheTarget() {
        var s = scaler(min: 1, max: 4, spare: 1)
        _ = s.evaluate([.busy, .busy], queued: 0, now: t0)
        #expect(s.target == 3)
        // One of three died: the two left are busy; the pool wants three.
        #expect(s.startsAllowed(live: 2, starting: 0) == 1)
    }

    @Test func aFixedPoolNeverMoves() {
        var s = scaler(min: 2, max: 2, spare: 3, idle: 1)
        #expect(s.isFixed)
        #expect(starts(s.evaluate([], queued: 0, now: t0)) == 2)
        #expect(s.evaluate([.busy, .busy], queued: 100, now: t0).isEmpty)
        let now = t0 + .seconds(100)
        #expect(s.evaluate([idle(1, for: 99, now: now), idle(2, for: 99, now: now)], queued: 0, now: now).isEmpty)
        #expect(s.target == 2)
    }

    @Test func aReloadCarriesTheTargetOverWithinTheNewRange() {
        var s = scaler(min: 2, max: 4)
        s.resume(at: 9)
        #expect(s.target == 4)
        s.resume(at: 1)
        #expect(s.target == 2)
    }
}
