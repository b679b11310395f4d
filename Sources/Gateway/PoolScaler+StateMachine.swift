import Foundation
import NIOCore

/// How many workers one pool wants, between `min_workers` and `max_workers`, and which idle
/// ones may retire. Plain data, tested without sockets or processes; the pool applies the
/// actions (`WorkerPool+Scaling.swift`).
///
/// Up: the pool wants every busy worker, one worker per queued request, and `spareWorkers`
/// idle ones on top — workers starting count as capacity already, and at most
/// `maxStarting` start at once (each one imports the app, or forks the zygote, and costs a
/// core for a while). Down: a worker idle for `idleTimeout` retires, as long as the pool
/// keeps its busy workers plus the spares, and never goes below `minWorkers`. A fixed pool
/// is `minWorkers == maxWorkers`: the target never moves.
public struct PoolScaler: Sendable, Equatable {
    public let minWorkers: Int
    public let maxWorkers: Int
    /// Idle workers kept ready ahead of demand.
    public let spareWorkers: Int
    /// A worker idle this long retires (above `minWorkers`).
    public let idleTimeout: TimeAmount
    /// Most workers starting at once.
    public let maxStarting: Int
    /// The workers the pool wants now; reconciling starts workers up to it.
    public private(set) var target: Int
    /// Why the target last grew: the reason of the starts that follow until it is reached.
    public private(set) var growth: String?

    /// One serving worker as the scaler sees it.
    public enum Member: Sendable, Equatable {
        /// Spawned, not yet ready.
        case starting
        case idle(id: Int, since: NIODeadline)
        case busy
    }

    public enum Action: Sendable, Equatable {
        /// Start this many workers now.
        case start(count: Int, reason: String)
        /// Ask this idle worker to stop.
        case retire(id: Int, reason: String)
    }

    public init(minWorkers: Int, maxWorkers: Int, spareWorkers: Int = 0, idleTimeout: TimeAmount = .seconds(60), maxStarting: Int = 2) {
        precondition(minWorkers >= 1 && maxWorkers >= minWorkers, "a pool has 1 <= min_workers <= max_workers")
        self.minWorkers = minWorkers
        self.maxWorkers = maxWorkers
        self.spareWorkers = max(0, spareWorkers)
        self.idleTimeout = idleTimeout
        self.maxStarting = max(1, maxStarting)
        self.target = minWorkers
    }

    /// Carries on from another scaler's target (a reload's new generation starts as large
    /// as the serving one was), within this one's range.
    public mutating func resume(at target: Int) {
        self.target = target.clamped(to: minWorkers...maxWorkers)
    }

    /// A pool whose size never changes.
    public var isFixed: Bool { minWorkers == maxWorkers }

    /// What to do about `members` (the current generation's serving workers: not due for
    /// recycling, not retiring) with `queued` requests waiting.
    public mutating func evaluate(_ members: [Member], queued: Int, now: NIODeadline) -> [Action] {
        var starting = 0, busy = 0
        var idle: [(id: Int, since: NIODeadline)] = []
        for member in members {
            switch member {
            case .starting: starting += 1
            case .busy: busy += 1
            case .idle(let id, let since): idle.append((id, since))
            }
        }
        let live = members.count
        let wanted = min(maxWorkers, max(minWorkers, busy + queued + spareWorkers))
        var actions: [Action] = []
        if wanted > target {
            target = wanted
            growth = queued > 0
                ? "\(queued) request(s) queued, \(busy) busy"
                : "fewer than spare_workers (\(spareWorkers)) idle: \(idle.count) idle, \(busy) busy"
        }
        // Down: the longest idle first, while what stays covers `wanted`.
        if live > wanted {
            let expired = idle.filter { now - $0.since >= idleTimeout }.sorted { $0.since < $1.since }
            let leaving = expired.prefix(live - wanted)
            for worker in leaving {
                let seconds = Double((now - worker.since).nanoseconds) / 1e9
                actions.append(.retire(id: worker.id, reason: "idle \(String(format: "%.1f", seconds)) s (idle_timeout)"))
            }
            target = max(wanted, min(target, live - leaving.count))
        }
        let count = startsAllowed(live: live, starting: starting)
        if count > 0 {
            let reason = live < minWorkers ? "below min_workers (\(minWorkers))" : growth ?? "pool below its target (\(target))"
            actions.append(.start(count: count, reason: reason))
        }
        return actions
    }

    /// How many workers may start now with `live` serving ones, `starting` of them not yet
    /// ready: up to `minWorkers` at once (boot, replacing crashed workers), beyond it up to
    /// `target` while fewer than `maxStarting` start.
    public func startsAllowed(live: Int, starting: Int) -> Int {
        let belowMin = minWorkers - live
        let demand = min(target - live, maxStarting - starting)
        return max(0, belowMin, demand)
    }
}

extension Comparable {
    func clamped(to range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}
