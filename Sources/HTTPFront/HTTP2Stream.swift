import AppExchange
import HTTP2
import NIOCore

/// One HTTP/2 request being served: what it asked, where it went, how far its answer got.
/// Confined to the connection's loop.
final class HTTP2Stream {
    enum Kind {
        /// berth answers itself (errors, redirects) or the answer is fully queued.
        case own
        case app(AppExchangeHandle)
        /// A static answer's body still being read into the stream's send queue: what is
        /// left of it, in order (file regions hold their file open).
        case staticBody([StaticAnswer.Chunk])
    }

    let id: Int32
    let head: HTTP2RequestHead
    let requestID: String
    let start = NIODeadline.now()
    var kind = Kind.own
    /// The route's own response fields (`Routing.responseHeaders`).
    var responseHeaders: [(String, String)] = []
    var requestComplete: Bool
    var bodyBytes: Int64 = 0
    /// When request body bytes last arrived (or the stream opened): the body timeout.
    var lastBodyAt = NIODeadline.now()
    /// Request body chunks held back while the app asked the front to stop reading; they
    /// stay unconsumed, so the client's window stays closed.
    var heldBody: [ByteBuffer] = []
    var bodyPaused = false
    var responseStarted = false
    var responseComplete = false
    /// The response has a body the client must not get (HEAD, 204, 304).
    var dropBody = false
    /// The app was asked to stop producing until the stream's send queue drains.
    var responsePaused = false
    var status = 0
    var bytesSent: Int64 = 0
    var logged = false

    init(id: Int32, head: HTTP2RequestHead, requestID: String, requestComplete: Bool) {
        self.id = id
        self.head = head
        self.requestID = requestID
        self.requestComplete = requestComplete
    }

    var exchange: AppExchangeHandle? {
        if case .app(let exchange) = kind { return exchange }
        return nil
    }
}

/// Carries an app's response for one stream from the gateway's thread to the connection's
/// loop: events queue in a mailbox and arrive in one hop, like `AppResponseBridge` does for
/// HTTP/1.
final class HTTP2AppResponseBridge: AppResponseWriter, @unchecked Sendable {
    private enum Event {
        case head(Int, [(name: String, value: String)])
        case body(ByteBuffer)
        /// Released with the event if it is never delivered: the descriptor closes.
        case file(ResponseFile)
        case end
        case failed(AppFailure)
        case bodyWritability(Bool)
    }

    // Weak: once the stream is gone, late events have no one to go to and are dropped.
    private weak var handler: HTTP2ConnectionHandler?
    private weak var stream: HTTP2Stream?
    private let mailbox: LoopMailbox<Event>

    init(loop: EventLoop, handler: HTTP2ConnectionHandler, stream: HTTP2Stream) {
        self.mailbox = LoopMailbox(loop: loop)
        self.handler = handler
        self.stream = stream
    }

    private func post(_ event: Event) {
        if mailbox.loop.inEventLoop {
            deliver(event)
            handler?.scheduleOutput()
            return
        }
        mailbox.post(event, drain: drain)
    }

    /// A batch from the mailbox: every event, then the session's output once.
    private func drain(_ events: [Event]) {
        events.forEach(deliver)
        handler?.scheduleOutput()
    }

    private func deliver(_ event: Event) {
        guard let handler, let stream else { return }
        switch event {
        case .head(let status, let headers): handler.appResponseHead(stream, status: status, headers: headers)
        case .body(let chunk): handler.appResponseBody(stream, chunk)
        case .file(let file): handler.appResponseFile(stream, file)
        case .end: handler.appResponseEnd(stream)
        case .failed(let failure): handler.appResponseFailed(stream, failure)
        case .bodyWritability(let writable): handler.appRequestBodyWritability(stream, writable)
        }
    }

    func responseHead(status: Int, reason: String, headers: [(name: String, value: String)]) {
        post(.head(status, headers))
    }

    func responseBody(_ chunk: ByteBuffer) { post(.body(chunk)) }

    func responseFile(_ file: ResponseFile) { post(.file(file)) }

    func responseEnd() { post(.end) }

    func responseFailed(_ failure: AppFailure, responseStarted: Bool) { post(.failed(failure)) }

    func requestBodyWritabilityChanged(_ writable: Bool) { post(.bodyWritability(writable)) }
}
