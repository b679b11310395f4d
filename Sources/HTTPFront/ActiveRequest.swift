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
        case staticFile(StaticSite, relative: String)
        case error(status: Int, headers: [(String, String)])
    }

    let head: HTTPRequestHead
    let start = NIODeadline.now()
    let requestID: String
    var kind: Kind
    var keepAlive: Bool
    var hasBody: Bool
    var bodyBytes: Int64 = 0
    var requestComplete = false
    var responseStarted = false
    var responseComplete = false
    var status = 0
    var bytesSent: Int64 = 0

    init(head: HTTPRequestHead, requestID: String, kind: Kind, hasBody: Bool) {
        self.head = head
        self.requestID = requestID
        self.kind = kind
        self.keepAlive = head.isKeepAlive
        self.hasBody = hasBody
    }
}

/// Carries an app's response from the gateway's thread to the connection's event loop.
final class AppResponseBridge: AppResponseWriter, @unchecked Sendable {
    private let loop: EventLoop
    private let handler: HTTPConnectionHandler
    private let request: ActiveRequest

    init(loop: EventLoop, handler: HTTPConnectionHandler, request: ActiveRequest) {
        self.loop = loop
        self.handler = handler
        self.request = request
    }

    private func run(_ body: @escaping @Sendable (HTTPConnectionHandler, ActiveRequest) -> Void) {
        let handler = self.handler
        let request = UnsafeTransfer(request)
        if loop.inEventLoop {
            body(handler, request.value)
        } else {
            loop.execute { body(handler, request.value) }
        }
    }

    func responseHead(status: Int, reason: String, headers: [(name: String, value: String)]) {
        run { $0.appResponseHead($1, status: status, reason: reason, headers: headers) }
    }

    func responseBody(_ chunk: ByteBuffer) {
        run { $0.appResponseBody($1, chunk) }
    }

    func responseEnd() {
        run { $0.appResponseEnd($1) }
    }

    func responseFailed(_ failure: AppFailure, responseStarted: Bool) {
        run { $0.appResponseFailed($1, failure) }
    }

    func requestBodyWritabilityChanged(_ writable: Bool) {
        run { $0.appRequestBodyWritability($1, writable) }
    }
}

/// Moves a loop-confined reference into a closure that runs on that same loop.
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
