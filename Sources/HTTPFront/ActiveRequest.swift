import AppExchange
import NIOCore
import NIOHTTP1

/// The one request a connection is working on (the pipelining handler in front of us
/// hands over the next only when this one's response has ended).
final class ActiveRequest {
    enum Kind {
        /// Waiting for the request to end before answering (static files, errors).
        case deferred(DeferredResponse)
        case app(AppExchangeHandle)
    }

    enum DeferredResponse {
        case staticAnswer(StaticAnswer)
        case error(status: Int, headers: [(String, String)])
    }

    private(set) var head: HTTP1RequestHead
    private(set) var start = NIODeadline.now()
    private(set) var requestID: RequestID
    var kind: Kind
    var keepAlive: Bool
    var hasBody: Bool
    // A stored property added here needs its starting value set again in `reuse`.
    var bodyBytes: Int64 = 0
    var requestComplete = false
    var responseStarted = false
    var responseComplete = false
    var status = 0
    var bytesSent: Int64 = 0
    /// The route's own response fields (`Routing.responseHeaders`).
    var responseHeaders: [(String, String)] = []
    /// Made for a static answer: only the connection holds it, so once answered it may
    /// serve the connection's next static request (`HTTPConnectionHandler.reusableRequest`).
    var recyclable = false

    /// `keepAlive`: whether the connection may carry another request after this one (the
    /// client asked for it and the front allows it).
    init(head: HTTP1RequestHead, requestID: RequestID, kind: Kind, hasBody: Bool, keepAlive: Bool) {
        self.head = head
        self.requestID = requestID
        self.kind = kind
        self.keepAlive = keepAlive
        self.hasBody = hasBody
    }

    /// Lets go of what a finished request holds while it waits to be reused: its answer (an
    /// open file) and its head (a slice of the read buffer, which NIO reuses only when no
    /// one else holds it).
    func retire() {
        head = HTTPConnectionHandler.placeholderHead
        kind = .deferred(.error(status: 0, headers: []))
    }

    /// Makes this finished request's object the new request `init` would make.
    func reuse(head: consuming HTTP1RequestHead, requestID: RequestID, kind: consuming Kind, hasBody: Bool, keepAlive: Bool) {
        self.head = head
        start = NIODeadline.now()
        self.requestID = requestID
        self.kind = kind
        self.keepAlive = keepAlive
        self.hasBody = hasBody
        bodyBytes = 0
        requestComplete = false
        responseStarted = false
        responseComplete = false
        status = 0
        bytesSent = 0
        responseHeaders = []
    }
}

/// A request's id, `<process prefix>-<counter in base 36>`: formatted only when the access
/// log or the app needs it, not for every request.
struct RequestID {
    let prefix: String
    let number: UInt64

    var text: String { prefix + "-" + String(number, radix: 36) }
}

/// Carries an app's response from the gateway's thread to the connection's event loop,
/// through a `LoopMailbox` (one hop for the events that arrive together).
final class AppResponseBridge: AppResponseWriter, @unchecked Sendable {
    private enum Event {
        case head(Int, String, [(name: String, value: String)])
        case body(ByteBuffer)
        /// Released with the event if it is never delivered: the descriptor closes.
        case file(ResponseFile)
        case end
        case failed(AppFailure)
        case bodyWritability(Bool)
    }

    // Weak: the request holds its exchange, which holds this bridge. Once the connection
    // moves on, late events have no one to go to and are dropped.
    private weak var handler: HTTPConnectionHandler?
    private weak var request: ActiveRequest?
    private let mailbox: LoopMailbox<Event>

    init(loop: EventLoop, handler: HTTPConnectionHandler, request: ActiveRequest) {
        self.mailbox = LoopMailbox(loop: loop)
        self.handler = handler
        self.request = request
    }

    private func post(_ event: Event) {
        if mailbox.loop.inEventLoop {
            deliver(event)
            // A worker's RESPONSE_START, BODY and END usually come in one read: flush once,
            // at the end of this loop tick (the end flushes by itself), not per event —
            // each flush is a write to the client's socket.
            if case .end = event { return }
            mailbox.post(nil, drain: drain)
            return
        }
        mailbox.post(event, drain: drain)
    }

    /// A batch from the mailbox: every event, then one flush.
    private func drain(_ events: [Event]) {
        events.forEach(deliver)
        flush()
    }

    private func flush() {
        if let handler, let request { handler.appFlush(request) }
    }

    private func deliver(_ event: Event) {
        guard let handler, let request else { return }
        switch event {
        case .head(let status, let reason, let headers):
            handler.appResponseHead(request, status: status, reason: reason, headers: headers)
        case .body(let chunk): handler.appResponseBody(request, chunk)
        case .file(let file): handler.appResponseFile(request, file)
        case .end: handler.appResponseEnd(request)
        case .failed(let failure): handler.appResponseFailed(request, failure)
        case .bodyWritability(let writable): handler.appRequestBodyWritability(request, writable)
        }
    }

    func responseHead(status: Int, reason: String, headers: [(name: String, value: String)]) {
        post(.head(status, reason, headers))
    }

    func responseBody(_ chunk: ByteBuffer) { post(.body(chunk)) }

    func responseFile(_ file: ResponseFile) { post(.file(file)) }

    func responseEnd() { post(.end) }

    func responseFailed(_ failure: AppFailure, responseStarted: Bool) { post(.failed(failure)) }

    func requestBodyWritabilityChanged(_ writable: Bool) { post(.bodyWritability(writable)) }
}

