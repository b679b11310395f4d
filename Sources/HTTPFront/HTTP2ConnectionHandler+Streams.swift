import AppExchange
import HTTP2
import LinuxSystem
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Routing a stream's request and writing its answer: from the app, from a static file,
/// or one of berth's own pages.
extension HTTP2ConnectionHandler {
    func startRequest(_ id: Int32, head: HTTP2RequestHead, endStream: Bool) {
        let stream = HTTP2Stream(id: id, head: head, requestID: HTTPConnectionHandler.nextID().text, requestComplete: endStream)
        streams[id] = stream
        if head.method == "CONNECT" { return sendPage(stream, status: 405, extra: [("allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")]) }
        if let length = head.first("content-length").flatMap({ Int64($0) }),
            configuration.maxBodySize > 0, length > configuration.maxBodySize
        {
            return sendPage(stream, status: 413)
        }
        let target: RequestTarget
        do {
            target = try RequestTarget(head.path)
        } catch {
            return sendPage(stream, status: 400)
        }
        let host = head.authority.isEmpty ? head.first("host") : head.authority
        let routing = configuration.routeRequest.map { $0(host, target.normalizedPath) }
            ?? configuration.route(target.normalizedPath).map { Routing(target: $0) }
        stream.responseHeaders = routing?.responseHeaders ?? []
        switch routing?.target {
        case .none:
            sendPage(stream, status: 404)
        case .staticFiles(let site, let prefix)?:
            startStatic(stream, target: target, site: site, prefix: prefix)
        case .app(let service, _)?:
            openExchange(stream, target: target, service: service)
        }
    }

    /// A static route: the answer `StaticResponder` plans (the same as over HTTP/1), or the
    /// route's fallback app when no file answers or the method is not GET/HEAD.
    private func startStatic(_ stream: HTTP2Stream, target: RequestTarget, site: StaticSite, prefix: String) {
        let head = stream.head
        guard head.method == "GET" || head.method == "HEAD" else {
            if let app = site.fallback { return openExchange(stream, target: target, service: app) }
            return sendPage(stream, status: 405, extra: [("allow", "GET, HEAD")])
        }
        let path = target.normalizedPath
        var relative = path.dropFirst(min(prefix.count, path.count))
        if relative.hasPrefix("/") { relative = relative.dropFirst() }
        var request = StaticRequest(isHead: head.method == "HEAD", rawPath: target.rawPath, query: target.query)
        for (name, value) in head.headers { request.take(name: name, value: value) }
        let answer = StaticResponder.answer(site: site, relative: String(relative), request: request)
        if answer.noFile, let app = site.fallback { return openExchange(stream, target: target, service: app) }
        send(stream, answer)
    }

    private func openExchange(_ stream: HTTP2Stream, target: RequestTarget, service: AppService) {
        guard let context else { return }
        let peers = peers(context)
        let head = stream.head
        var headers = head.headers
        // WSGI apps (Django's ALLOWED_HOSTS) read the host from HTTP_HOST.
        if !head.authority.isEmpty && head.first("host") == nil {
            headers.insert(("host", head.authority), at: 0)
        }
        let serverName = head.authority.isEmpty ? peers.localIP ?? "localhost" : FrontFields.hostName(head.authority)
        let request = AppRequest(
            method: head.method, path: String(target.rawPath), query: String(target.query), version: "HTTP/2.0",
            headers: headers, remoteAddress: peers.remoteIP ?? "127.0.0.1", remotePort: peers.remotePort,
            serverName: serverName, serverPort: peers.localPort, scheme: scheme,
            hasBody: !stream.requestComplete, requestID: stream.requestID)
        let bridge = HTTP2AppResponseBridge(loop: context.eventLoop, handler: self, stream: stream)
        stream.kind = .app(service.open(request, writer: bridge))
    }

    // MARK: - App responses (called on the loop by HTTP2AppResponseBridge)

    func appResponseHead(_ stream: HTTP2Stream, status: Int, headers: [(name: String, value: String)]) {
        guard streams[stream.id] === stream, !stream.responseStarted else { return }
        var fields: [(name: String, value: String)] = []
        fields.reserveCapacity(headers.count + 1)
        var hasDate = false
        for (name, value) in headers {
            if FrontFields.isHopByHop(name) { continue }
            let lower = name.lowercased()
            if lower == "date" { hasDate = true }
            guard let clean = Self.fieldValue(value) else { continue }
            fields.append((lower, clean))
        }
        if !hasDate { fields.append(("date", HTTPDate.now())) }
        applyRouteHeaders(stream, to: &fields)
        stream.dropBody = stream.head.method == "HEAD" || status == 204 || status == 304
        stream.status = status
        stream.responseStarted = true
        do {
            // HEAD, 204 and 304 end with the head (END_STREAM on HEADERS); the app's body, if
            // any, is dropped as it comes.
            try session.submitResponse(streamID: stream.id, status: status, headers: fields, hasBody: !stream.dropBody)
        } catch {
            session.resetStream(streamID: stream.id, .internalError)
        }
    }

    func appResponseBody(_ stream: HTTP2Stream, _ chunk: ByteBuffer) {
        guard streams[stream.id] === stream, stream.responseStarted, !stream.dropBody else { return }
        stream.bytesSent += Int64(chunk.readableBytes)
        if !session.sendBody(streamID: stream.id, chunk) && !stream.responsePaused, let exchange = stream.exchange {
            // The client reads slower than the app writes: the app waits for `.writable`.
            stream.responsePaused = true
            exchange.responseWritabilityChanged(false)
        }
    }

    /// The app's body is a file region (RESPONSE_FILE): read into the stream with pread as
    /// the window allows, like a static file, which also ends the stream. The stream owns
    /// the descriptor from here (closed when the body is sent or the stream goes away).
    func appResponseFile(_ stream: HTTP2Stream, _ file: ResponseFile) {
        guard streams[stream.id] === stream, stream.responseStarted, !stream.responseComplete, !stream.dropBody,
            file.length > 0, let fd = file.take()
        else {
            file.close()
            return
        }
        let status: FileStatus
        do {
            status = try Files.status(fd)
        } catch {
            Descriptors.close(fd)
            stream.kind = .own
            stream.responseComplete = true
            session.resetStream(streamID: stream.id, .internalError)
            log(stream)
            return
        }
        stream.kind = .staticBody([.file(OpenFile(fd: fd, status: status), offset: file.offset, length: file.length)])
        fillFromFile(stream)
    }

    func appResponseEnd(_ stream: HTTP2Stream) {
        guard streams[stream.id] === stream, stream.responseStarted, !stream.responseComplete else { return }
        // A file body (`appResponseFile`) ends the stream when it has been read out.
        if case .staticBody = stream.kind { return }
        stream.responseComplete = true
        session.endBody(streamID: stream.id)
        // Request body still arriving for an answered request is dropped as it comes.
        for chunk in stream.heldBody { session.consume(streamID: stream.id, count: chunk.readableBytes) }
        stream.heldBody = []
        log(stream)
    }

    func appResponseFailed(_ stream: HTTP2Stream, _ failure: AppFailure) {
        guard streams[stream.id] === stream, !stream.responseComplete else { return }
        stream.kind = .own
        if stream.responseStarted {
            // Headers are out: an incomplete body, signalled by a reset, is all that is left.
            stream.responseComplete = true
            session.resetStream(streamID: stream.id, .internalError)
            log(stream)
            return
        }
        let (status, html) = ErrorPage.forFailure(failure, showTracebacks: configuration.showTracebacks)
        sendPage(stream, status: status, html: html, extra: status == 503 ? [("retry-after", "1")] : [])
    }

    /// An app's field value as HTTP/2 accepts it (RFC 9113 §8.2.1): without leading or
    /// trailing whitespace (Django's `Set-Cookie` values start with a space, harmless in
    /// HTTP/1.1), and nil for a value holding CR, LF or NUL, which no peer may accept.
    static func fieldValue(_ value: String) -> String? {
        let bytes = value.utf8
        if bytes.contains(where: { $0 == 0x0d || $0 == 0x0a || $0 == 0x00 }) { return nil }
        guard let first = bytes.first, let last = bytes.last else { return value }
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        guard isSpace(first) || isSpace(last) else { return value }
        return String(Substring(value).trimmingSpaces())
    }

    // MARK: - berth's own answers and static files

    func sendPage(_ stream: HTTP2Stream, status: Int, html: String? = nil, extra: [(name: String, value: String)] = []) {
        let page = html ?? ErrorPage.html(status: status, reason: ErrorPage.reasonPhrase(status))
        let headers = [("content-type", "text/html; charset=utf-8"), ("content-length", String(page.utf8.count))] + extra
        send(stream, StaticAnswer(status: status, headers: headers, body: .bytes(page)))
    }

    /// Queues a complete answer: the head, then the body from memory or from the file,
    /// read as the client's window allows (HEAD, 204 and 304 end with the head).
    func send(_ stream: HTTP2Stream, _ answer: StaticAnswer) {
        if case .errorPage = answer.body {
            return sendPage(stream, status: answer.status, extra: answer.headers)
        }
        var headers = answer.headers
        headers.append(("date", HTTPDate.now()))
        applyRouteHeaders(stream, to: &headers)
        stream.status = answer.status
        stream.responseStarted = true
        var chunks: [StaticAnswer.Chunk] = []
        if stream.head.method != "HEAD" {
            switch answer.body {
            case .none, .errorPage: break
            case .bytes(let text): chunks = [.bytes(text)]
            case .file(let file, let offset, let length): chunks = [.file(file, offset: offset, length: length)]
            case .parts(let parts): chunks = parts
            }
        }
        do {
            try session.submitResponse(streamID: stream.id, status: answer.status, headers: headers, hasBody: !chunks.isEmpty)
        } catch {
            session.resetStream(streamID: stream.id, .internalError)
            return
        }
        guard !chunks.isEmpty else { return finishOwn(stream) }
        stream.kind = .staticBody(chunks)
        fillFromFile(stream)
    }

    /// The route's `headers` replace fields of the same name (as over HTTP/1).
    private func applyRouteHeaders(_ stream: HTTP2Stream, to fields: inout [(name: String, value: String)]) {
        for (name, value) in stream.responseHeaders {
            let lower = name.lowercased()
            fields.removeAll { $0.name.lowercased() == lower }
            fields.append((lower, value))
        }
    }

    private func finishOwn(_ stream: HTTP2Stream) {
        stream.kind = .own
        stream.responseComplete = true
        log(stream)
    }

    /// Moves the rest of a static body into the stream's send queue until the queue is full
    /// or the body ends; file regions are read a `FileChunk` at a time. nghttp2 takes
    /// the bytes as the client's window allows; a `.writable` event calls this again.
    func fillFromFile(_ stream: HTTP2Stream) {
        guard case .staticBody(var chunks) = stream.kind, let context else { return }
        while let chunk = chunks.first {
            let buffer: ByteBuffer
            switch chunk {
            case .bytes(let text):
                buffer = context.channel.allocator.buffer(string: text)
                chunks.removeFirst()
            case .file(let file, let offset, let length):
                do {
                    buffer = try FileChunk.read(file.fd, at: offset, remaining: length, object: "static file", allocator: context.channel.allocator)
                } catch {
                    // The file shrank or failed under us: the body cannot be completed.
                    stream.kind = .own
                    stream.responseComplete = true
                    session.resetStream(streamID: stream.id, .internalError)
                    log(stream)
                    return
                }
                let count = Int64(buffer.readableBytes)
                if count == length {
                    chunks.removeFirst()
                } else {
                    chunks[0] = .file(file, offset: offset + count, length: length - count)
                }
            }
            stream.bytesSent += Int64(buffer.readableBytes)
            let more = session.sendBody(streamID: stream.id, buffer)
            stream.kind = .staticBody(chunks)
            if !more && !chunks.isEmpty { return }
        }
        session.endBody(streamID: stream.id)
        finishOwn(stream)
    }

    func log(_ stream: HTTP2Stream) {
        guard !stream.logged else { return }
        stream.logged = true
        guard let accessLog = configuration.accessLog else { return }
        accessLog.write(AccessLog.Entry(
            remote: context.flatMap { peers($0).remoteIP } ?? "-", method: stream.head.method, uri: stream.head.path,
            version: "HTTP/2.0", status: stream.status, bytes: stream.bytesSent,
            referer: stream.head.first("referer"), userAgent: stream.head.first("user-agent"),
            seconds: Double((NIODeadline.now() - stream.start).nanoseconds) / 1e9, requestID: stream.requestID))
    }
}
