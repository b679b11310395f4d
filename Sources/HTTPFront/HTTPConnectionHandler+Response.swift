import AppExchange
import NIOCore
import NIOHTTP1

/// Writing responses: from the app, from files, and berth's own errors.
extension HTTPConnectionHandler {
    // MARK: - App responses (called on the loop by AppResponseBridge)

    func appResponseHead(_ request: ActiveRequest, status: Int, reason: String, headers: [(name: String, value: String)]) {
        guard current === request, !request.responseStarted else { return }
        var fields: [(name: String, value: String)] = []
        fields.reserveCapacity(headers.count)
        var hasLength = false
        for (name, value) in headers {
            if FrontFields.isHopByHop(name) { continue }
            if name.utf8.equalsIgnoringCase("content-length") { hasLength = true }
            fields.append((name, value))
        }
        if !hasLength && HTTP1ResponseHead.statusHasBody(status) && request.head.version.isBefore11 {
            // HTTP/1.0 has no chunked coding: the end of the body is the end of the connection.
            request.keepAlive = false
        }
        if !request.requestComplete && request.hasBody {
            // The app answered before the body was read: finish with a lingering close.
            request.keepAlive = false
        }
        request.responseStarted = true
        request.status = status
        writeResponseHead(request, status: status, reason: reason, fields: fields)
    }

    func appResponseBody(_ request: ActiveRequest, _ chunk: ByteBuffer) {
        guard let context, current === request, request.responseStarted else { return }
        if framing.hasBody { request.bytesSent += Int64(chunk.readableBytes) }
        writeBody(chunk, context: context)
    }

    /// The app's body is a file region (docs/worker-protocol.md, RESPONSE_FILE): sent with
    /// sendfile. The region's write owns the descriptor and closes it when it completes or
    /// fails (the connection closed first); every other path closes it here.
    func appResponseFile(_ request: ActiveRequest, _ file: ResponseFile) {
        guard let context, current === request, request.responseStarted, !request.head.method.isHEAD,
            request.status != 204, request.status != 304, file.length > 0, let fd = file.take()
        else {
            file.close()
            return
        }
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd)
        let region = FileRegion(fileHandle: handle, readerIndex: Int(file.offset), endIndex: Int(file.offset + file.length))
        request.bytesSent += file.length
        writeBody(region, owner: .owned(handle), context: context)
    }

    /// Flushes what a batch of app events wrote (the end flushes by itself), and passes
    /// backpressure to the app when the socket is full.
    func appFlush(_ request: ActiveRequest) {
        guard let context, current === request, request.responseStarted, !request.responseComplete else { return }
        flushOutput(context)
        // A write that failed inside the flush (the client left) closed the connection and
        // cancelled the exchange already: pausing it now would stop its worker for good.
        guard current === request, context.channel.isActive else { return }
        if !context.channel.isWritable, case .app(let exchange) = request.kind {
            exchange.responseWritabilityChanged(false)
        }
    }

    func appResponseEnd(_ request: ActiveRequest) {
        guard current === request, request.responseStarted else { return }
        finishResponse(request)
    }

    func appResponseFailed(_ request: ActiveRequest, _ failure: AppFailure) {
        guard let context, current === request else { return }
        if request.responseStarted {
            // Headers are out: the only honest signal left is an incomplete body.
            request.keepAlive = false
            request.responseComplete = true
            log(request)
            context.close(promise: nil)
            current = nil
            return
        }
        let (status, page) = ErrorPage.forFailure(failure, showTracebacks: configuration.showTracebacks)
        var extra: [(String, String)] = []
        if status == 503 { extra.append(("Retry-After", "1")) }
        sendPage(request, status: status, html: page, extraHeaders: extra, context: context)
    }

    func appRequestBodyWritability(_ request: ActiveRequest, _ writable: Bool) {
        guard let context, current === request else { return }
        if writable {
            resumeReading(context)
        } else if !request.requestComplete && !readingPaused {
            readingPaused = true
            _ = context.channel.setOption(ChannelOptions.autoRead, value: false)
        }
    }

    // MARK: - Common

    /// Writes the end of the response, logs it, and either readies the connection for the
    /// next request (parsing any that waits) or closes it.
    func finishResponse(_ request: ActiveRequest) {
        guard let context else { return }
        request.responseComplete = true
        log(request)
        writeBodyEnd()
        defer { if !flushPending { uncork(context) } }
        if !request.requestComplete && !request.hasBody {
            // A bodyless request whose end has not been read yet: `requestEnd` finishes up.
            flushOutput(context)
            return
        }
        if request.keepAlive && !quiescing {
            current = nil
            if request.recyclable {
                request.retire()
                spareRequest = request
            }
            activity.enterIdle()
            resumeReading(context)
            if inReadBurst {
                // Flushed at channelReadComplete, with any pipelined responses after it.
                flushPending = true
            } else {
                flushOutput(context)
            }
            processInput(context)
        } else if request.requestComplete {
            flushOutputAndClose(context)
        } else {
            // The body is still coming: read and drop it (up to a limit and a lingering
            // timeout), then close — closing with unread data would reset the connection
            // and could destroy the response before the client reads it.
            discardingBody = true
            discardedBytes = 0
            activity.enterLingering()
            flushOutput(context)
            resumeReading(context)
        }
    }

    /// Undoes request-body backpressure: the next request, or the rest of this body, must be read.
    func resumeReading(_ context: ChannelHandlerContext) {
        guard readingPaused else { return }
        readingPaused = false
        context.channel.setOption(ChannelOptions.autoRead, value: true).whenSuccess { context.read() }
    }

    func sendError(_ request: ActiveRequest, status: Int, context: ChannelHandlerContext) {
        var extra: [(String, String)] = []
        if case .deferred(.error(_, let headers)) = request.kind { extra = headers }
        sendPage(request, status: status, html: ErrorPage.html(status: status, reason: ErrorPage.reasonPhrase(status)),
                 extraHeaders: extra, context: context)
    }

    func sendPage(_ request: ActiveRequest, status: Int, html: String, extraHeaders: [(String, String)], context: ChannelHandlerContext) {
        switch status {
        case 400, 408, 411, 413, 414, 417, 431, 501:
            // The request itself was wrong or cut short: what follows on the stream cannot
            // be trusted. Other errors (403, 404, 412, 416, 5xx...) keep the connection, as
            // nginx does.
            request.keepAlive = false
        default:
            break
        }
        if !request.requestComplete && request.hasBody { request.keepAlive = false }
        var fields: [(name: String, value: String)] = [
            ("Content-Type", "text/html; charset=utf-8"), ("Content-Length", String(html.utf8.count)),
        ]
        for (name, value) in extraHeaders { fields.append((name, value)) }
        request.status = status
        request.responseStarted = true
        writeResponseHead(request, status: status, fields: fields)
        if framing.hasBody {
            writeOutput { request.bytesSent = Int64($0.writeString(html)) }
        }
        finishResponse(request)
    }

    func log(_ request: ActiveRequest) {
        guard let accessLog = configuration.accessLog else { return }

        let version = request.head.version
        accessLog.write(AccessLog.Entry(
            remote: context.flatMap { peers($0).remoteIP } ?? "-", method: request.head.method.rawValue, uri: request.head.uri,
            version: version == .http1_1 ? "HTTP/1.1" : version == .http1_0 ? "HTTP/1.0" : "HTTP/\(version.major).\(version.minor)",
            status: request.status, bytes: request.bytesSent,
            referer: request.head.fields.first(name: "referer"), userAgent: request.head.fields.first(name: "user-agent"),
            host: configuration.accessLog?.format == .json ? request.head.fields.first(name: "host") : nil,
            seconds: Double((NIODeadline.now() - request.start).nanoseconds) / 1e9, requestID: request.requestID.text))
    }
}
