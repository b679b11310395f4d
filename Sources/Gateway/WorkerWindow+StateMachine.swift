import NIOCore

/// The requests one worker holds, in the order it answers them, and the decisions about
/// giving it more (docs/worker-protocol.md, "Several requests in flight").
///
/// The head is the request the worker runs; the ones behind it were written to its socket
/// but have not started. A worker takes more only while its head is young: once the head
/// has run for `slowAfter`, it takes none; once it has run for `reclaimAfter`, the ones
/// behind it are reclaimed (a RECLAIM frame; the worker answers each with SKIPPED and the
/// pool gives them to another worker). The reclaim waits longer than the stop because on a
/// busy machine a worker that is merely not scheduled for a few ms looks slow too, and a
/// reclaim costs a round trip per request.
/// A request with a body goes only to an empty window and nothing joins it: its BODY
/// frames must follow its REQUEST on the stream. Plain data, tested without sockets.
struct WorkerWindow<Element> {
    private struct Entry {
        var element: Element
        var hasBody: Bool
    }

    /// Most requests a worker may hold; 1 turns batching off.
    let limit: Int
    /// A head older than this makes the worker take no more.
    let slowAfter: TimeAmount
    /// A head older than this has the requests behind it reclaimed.
    let reclaimAfter: TimeAmount

    private var entries = CircularBuffer<Entry>()
    /// When the head became the request the worker runs.
    private(set) var headSince = NIODeadline.uptimeNanoseconds(0)
    /// Requests sent before an unanswered RECLAIM: they may come back SKIPPED.
    private(set) var reclaimFence = 0

    init(limit: Int, slowAfter: TimeAmount, reclaimAfter: TimeAmount) {
        precondition(limit >= 1, "a window holds at least one request")
        self.limit = limit
        self.slowAfter = slowAfter
        self.reclaimAfter = max(reclaimAfter, slowAfter)
    }

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }
    var head: Element? { entries.first?.element }
    var elements: [Element] { entries.map(\.element) }

    /// Whether a request may be written to this worker now.
    func canAccept(hasBody: Bool, now: NIODeadline) -> Bool {
        guard let first = entries.first else { return true }
        guard !hasBody, !first.hasBody, entries.count < limit, reclaimFence == 0 else { return false }
        return now - headSince < slowAfter
    }

    /// The request was written to the worker.
    mutating func append(_ element: Element, hasBody: Bool, now: NIODeadline) {
        if entries.isEmpty { headSince = now }
        entries.append(Entry(element: element, hasBody: hasBody))
    }

    /// The head was answered (RESPONSE_END, APP_ERROR) or skipped (SKIPPED): it leaves,
    /// and the next request, if any, starts running now.
    mutating func popHead(now: NIODeadline) -> Element? {
        guard let entry = entries.popFirst() else { return nil }
        if reclaimFence > 0 { reclaimFence -= 1 }
        headSince = now
        return entry.element
    }

    /// True when a RECLAIM should go to the worker now: requests wait behind a head that
    /// has run for `reclaimAfter`, and none was sent for them yet.
    mutating func reclaimIfDue(now: NIODeadline) -> Bool {
        guard entries.count > 1, reclaimFence == 0, now - headSince >= reclaimAfter else { return false }
        reclaimFence = entries.count
        return true
    }

    /// When `reclaimIfDue` may next say yes; nil when nothing waits behind the head.
    var nextReclaimCheck: NIODeadline? {
        entries.count > 1 && reclaimFence == 0 ? headSince + reclaimAfter : nil
    }

    /// The worker is gone: the head may have run (it fails); the rest never started.
    mutating func removeAll() -> (running: Element?, unstarted: [Element]) {
        defer {
            entries.removeAll()
            reclaimFence = 0
        }
        return (entries.first?.element, entries.dropFirst().map(\.element))
    }

    /// Picks the worker and lane (a threaded worker has one window per thread) that should
    /// take a request: the emptiest window that accepts it (spreads the load and keeps
    /// batches short), and of equally empty ones, the lane of the worker holding the fewest
    /// requests — an idle worker before a free thread of a busy one, since threads share
    /// one interpreter lock. Nil when none accepts.
    static func choose<Candidates: Sequence>(
        among candidates: Candidates, hasBody: Bool, now: NIODeadline,
        windows: (Candidates.Element) -> [WorkerWindow]
    ) -> (candidate: Candidates.Element, lane: Int)? {
        var best: (candidate: Candidates.Element, lane: Int)?
        var bestCount = Int.max, bestLoad = Int.max
        for candidate in candidates {
            let lanes = windows(candidate)
            var load = 0
            if lanes.count > 1 {
                for w in lanes { load += w.count }
            }
            for lane in lanes.indices {
                let w = lanes[lane]
                guard w.count < bestCount || (w.count == bestCount && load < bestLoad),
                    w.canAccept(hasBody: hasBody, now: now)
                else { continue }
                best = (candidate, lane)
                bestCount = w.count
                bestLoad = load
                if bestCount == 0 && load == 0 { return best }
            }
        }
        return best
    }
}
