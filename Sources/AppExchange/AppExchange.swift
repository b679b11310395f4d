import NIOCore

/// One HTTP request as the front hands it to an app service.
///
/// `path` is the request target's path as sent (still percent-encoded; the front has
/// checked that it decodes, without NUL); `query` is the raw query string without `?`.
public struct AppRequest: Sendable {
    public var method: String
    public var path: String
    public var query: String
    public var version: String
    /// Header fields in arrival order, names as sent.
    public var headers: [(name: String, value: String)]
    public var remoteAddress: String
    public var remotePort: Int
    public var serverName: String
    public var serverPort: Int
    public var scheme: String
    public var scriptName: String
    /// True when body parts follow (`requestBody` calls, ended by `requestEnd`).
    public var hasBody: Bool
    public var requestID: String

    public init(
        method: String, path: String, query: String, version: String,
        headers: [(name: String, value: String)], remoteAddress: String, remotePort: Int,
        serverName: String, serverPort: Int, scheme: String, scriptName: String = "",
        hasBody: Bool, requestID: String
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.remoteAddress = remoteAddress
        self.remotePort = remotePort
        self.serverName = serverName
        self.serverPort = serverPort
        self.scheme = scheme
        self.scriptName = scriptName
        self.hasBody = hasBody
        self.requestID = requestID
    }
}

/// Why an app could not answer. Each case maps to the status the client sees.
public enum AppFailure: Error, Sendable, Equatable {
    /// The app raised; `traceback` is Python's text. 500.
    case appError(traceback: String)
    /// The app does not import; `message` names the module and the error. 500 in dev, 503 otherwise.
    case bootError(message: String)
    /// The worker died while it had the request. 502.
    case workerDied(reason: String)
    /// The request ran past its hard timeout. 504. `stack` is the worker's Python stack at
    /// that moment (faulthandler's text), or why it could not be read.
    case timeout(seconds: Double, stack: String = "")
    /// No worker became free in time, or the queue is full. 503.
    case overloaded
    /// The service is stopping and takes no new requests. 503.
    case shuttingDown

    /// The HTTP status a client gets for this failure.
    public var status: Int {
        switch self {
        case .appError: return 500
        case .bootError: return 500
        case .workerDied: return 502
        case .timeout: return 504
        case .overloaded, .shuttingDown: return 503
        }
    }
}

/// The front's side of an exchange: where the app's response goes.
///
/// The service calls these from its own thread; an implementation hops to its event loop.
/// Calls arrive in order: `head`, any number of `body`, then `end` — or `fail` at any point.
public protocol AppResponseWriter: AnyObject, Sendable {
    func responseHead(status: Int, reason: String, headers: [(name: String, value: String)])
    func responseBody(_ chunk: ByteBuffer)
    func responseEnd()
    /// The rest of the body is a region of an open file (the app returned
    /// `wsgi.file_wrapper` over a regular file). The writer takes `file` and must let go of
    /// it on every path — sent, HEAD, client gone — so that its descriptor is closed
    /// (`ResponseFile` closes it when released). `responseEnd` follows.
    func responseFile(_ file: ResponseFile)
    /// The exchange failed. `responseStarted` tells whether `responseHead` was already called.
    func responseFailed(_ failure: AppFailure, responseStarted: Bool)
    /// Backpressure on the request body: `false` asks the front to stop reading it.
    func requestBodyWritabilityChanged(_ writable: Bool)
}

/// The service's side of an exchange: where the request body goes.
///
/// The front calls these from its event loop; an implementation hops to its own.
public protocol AppExchangeHandle: AnyObject, Sendable {
    func requestBody(_ chunk: ByteBuffer)
    func requestEnd()
    /// The client went away, or the front gave up on the exchange.
    func cancel()
    /// Backpressure on the response: `false` asks the service to stop producing it.
    func responseWritabilityChanged(_ writable: Bool)
}

/// Something that answers requests for an app route: the gateway's worker pool.
public protocol AppService: AnyObject, Sendable {
    func open(_ request: AppRequest, writer: AppResponseWriter) -> AppExchangeHandle
}
