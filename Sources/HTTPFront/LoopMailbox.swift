import NIOConcurrencyHelpers
import NIOCore

/// Events for one event loop, posted from any thread and handed over there in batches:
/// whatever arrives before the loop runs the batch goes in the same hop. A worker's
/// RESPONSE_START, BODY and END usually arrive together, and one wake-up of the
/// connection's loop is much cheaper than three.
final class LoopMailbox<Event>: @unchecked Sendable {
    let loop: EventLoop
    private let box = NIOLockedValueBox<(events: [Event], scheduled: Bool)>(([], false))

    init(loop: EventLoop) {
        self.loop = loop
    }

    /// Queues `event` (nil queues nothing and only makes sure a batch runs) and, unless a
    /// batch is due already, schedules one: `drain` gets every event queued by then, on
    /// the loop.
    func post(_ event: Event?, drain: @escaping @Sendable ([Event]) -> Void) {
        let schedule = box.withLockedValue { box in
            if let event { box.events.append(event) }
            defer { box.scheduled = true }
            return !box.scheduled
        }
        guard schedule else { return }
        loop.execute { [self] in
            let events = box.withLockedValue { box in
                defer {
                    box.events.removeAll(keepingCapacity: true)
                    box.scheduled = false
                }
                return box.events
            }
            drain(events)
        }
    }
}
