import NIOCore
import Testing

@testable import Gateway

@Suite("Worker window: how many requests a worker holds, and when they are reclaimed")
struct WorkerWindowTests {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func window(limit: Int = 4) -> WorkerWindow<Int> {
        WorkerWindow(limit: limit, slowAfter: .milliseconds(5), reclaimAfter: .milliseconds(20))
    }

    @Test func fillsUpToTheLimitWhileTheHeadIsYoung() {
        var w = window(limit: 3)
        for id in 1...3 {
            #expect(w.canAccept(hasBody: false, now: t0))
            w.append(id, hasBody: false, now: t0)
        }
        #expect(!w.canAccept(hasBody: false, now: t0))
        let r1 = w.popHead(now: t0 + .milliseconds(1))
        #expect(r1 == 1)
        #expect(w.canAccept(hasBody: false, now: t0 + .milliseconds(1)))
        #expect(w.elements == [2, 3])
    }

    @Test func limitOneIsOneRequestAtATime() {
        var w = window(limit: 1)
        w.append(1, hasBody: false, now: t0)
        #expect(!w.canAccept(hasBody: false, now: t0))
    }

    @Test func aSlowHeadTakesNoMoreAndReclaimsTheRest() {
        var w = window()
        w.append(1, hasBody: false, now: t0)
        #expect(w.nextReclaimCheck == nil)  // nothing waits behind it
        w.append(2, hasBody: false, now: t0 + .milliseconds(1))
        w.append(3, hasBody: false, now: t0 + .milliseconds(2))
        #expect(w.nextReclaimCheck == t0 + .milliseconds(20))
        #expect(w.canAccept(hasBody: false, now: t0 + .milliseconds(4)))
        // At 5 ms it stops taking requests; at 20 ms the ones behind are reclaimed.
        #expect(!w.canAccept(hasBody: false, now: t0 + .milliseconds(5)))
        let r2 = w.reclaimIfDue(now: t0 + .milliseconds(19))
        #expect(!r2)
        let r3 = w.reclaimIfDue(now: t0 + .milliseconds(20))
        #expect(r3)
        let r4 = w.reclaimIfDue(now: t0 + .milliseconds(50))
        #expect(!r4)  // once
        #expect(w.nextReclaimCheck == nil)
        // Until the three sent before RECLAIM are answered, nothing joins.
        let r5 = w.popHead(now: t0 + .milliseconds(60))
        #expect(r5 == 1)
        #expect(!w.canAccept(hasBody: false, now: t0 + .milliseconds(60)))
        let r6 = w.popHead(now: t0 + .milliseconds(60))
        #expect(r6 == 2)
        let r7 = w.popHead(now: t0 + .milliseconds(60))
        #expect(r7 == 3)
        #expect(w.isEmpty)
        #expect(w.canAccept(hasBody: false, now: t0 + .milliseconds(60)))
        w.append(4, hasBody: false, now: t0 + .milliseconds(60))
        #expect(w.canAccept(hasBody: false, now: t0 + .milliseconds(61)))
    }

    @Test func theHeadsAgeCountsFromWhenItStarted() {
        var w = window()
        w.append(1, hasBody: false, now: t0)
        w.append(2, hasBody: false, now: t0)
        _ = w.popHead(now: t0 + .milliseconds(4))
        w.append(3, hasBody: false, now: t0 + .milliseconds(4))
        // 2 started at 4 ms: at 8 ms it is 4 ms old, still young.
        #expect(w.canAccept(hasBody: false, now: t0 + .milliseconds(8)))
        #expect(!w.canAccept(hasBody: false, now: t0 + .milliseconds(9)))
        let r8 = w.reclaimIfDue(now: t0 + .milliseconds(23))
        #expect(!r8)
        let r9 = w.reclaimIfDue(now: t0 + .milliseconds(24))
        #expect(r9)
    }

    @Test func bodiesGoOnlyToAnEmptyWindowAndNothingJoinsThem() {
        var w = window()
        #expect(w.canAccept(hasBody: true, now: t0))
        w.append(1, hasBody: true, now: t0)
        #expect(!w.canAccept(hasBody: false, now: t0))
        #expect(!w.canAccept(hasBody: true, now: t0))
        _ = w.popHead(now: t0)
        w.append(2, hasBody: false, now: t0)
        #expect(!w.canAccept(hasBody: true, now: t0))
    }

    @Test func aDeadWorkersHeadFailsAndTheRestAreRedispatched() {
        var w = window()
        for id in 1...3 { w.append(id, hasBody: false, now: t0) }
        let (running, unstarted) = w.removeAll()
        #expect(running == 1)
        #expect(unstarted == [2, 3])
        #expect(w.isEmpty)
        let again = w.removeAll()
        #expect(again.running == nil)
    }

    @Test func choosesTheEmptiestWindowThatAccepts() {
        var a = window(), b = window(), c = window()
        a.append(1, hasBody: false, now: t0)
        a.append(2, hasBody: false, now: t0)
        b.append(3, hasBody: false, now: t0)
        c.append(4, hasBody: false, now: t0 - .milliseconds(10))  // slow head
        let windows = [a, b, c]
        #expect(WorkerWindow.choose(among: 0..<3, hasBody: false, now: t0) { [windows[$0]] }?.candidate == 1)
        #expect(WorkerWindow.choose(among: 0..<3, hasBody: true, now: t0) { [windows[$0]] } == nil)
        #expect(WorkerWindow.choose(among: [0, 2], hasBody: false, now: t0) { [windows[$0]] }?.candidate == 0)
        var full = window(limit: 2)
        full.append(5, hasBody: false, now: t0)
        full.append(6, hasBody: false, now: t0)
        #expect(WorkerWindow.choose(among: 0..<2, hasBody: false, now: t0) { _ in [full] } == nil)
    }

    @Test func aThreadedWorkersFreeLaneTakesARequestWhileAnotherLaneIsSlow() {
        // One worker with two threads: lane 0 runs a slow request (past slowAfter).
        var slow = window(), free = window()
        slow.append(1, hasBody: false, now: t0 - .seconds(1))
        let worker = [slow, free]
        let choice = WorkerWindow.choose(among: [0], hasBody: false, now: t0) { _ in worker }
        #expect(choice?.candidate == 0 && choice?.lane == 1)
        // A body needs an empty window: the free lane is one, whatever the other runs.
        #expect(WorkerWindow.choose(among: [0], hasBody: true, now: t0) { _ in worker }?.lane == 1)
        // Both lanes slow: none takes it, and the request waits in the pool's queue.
        free.append(2, hasBody: false, now: t0 - .seconds(1))
        #expect(WorkerWindow.choose(among: [0], hasBody: false, now: t0) { _ in [slow, free] } == nil)
    }

    @Test func anIdleWorkerGoesBeforeAFreeThreadOfABusyOne() {
        var running = window()
        running.append(1, hasBody: false, now: t0)
        let busy = [running, window()]
        let idle = [window(), window()]
        let workers = [busy, idle]
        let choice = WorkerWindow.choose(among: 0..<2, hasBody: false, now: t0) { workers[$0] }
        #expect(choice?.candidate == 1 && choice?.lane == 0)
    }
}
