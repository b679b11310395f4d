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
    /// Bytes read from a static file per refill of a stream's send queue.
    static let fileChunk = 64 * 1024

    /// Fields HTTP/2 forbids (RFC 9113 §8.2.2) or that the front owns.
    static let connectionSpecific: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer",
    ]

    func startRequest(_ id: Int32, head: HTTP2RequestHead, endStream: Bool) {
        let stream = HTTP2Stream(id: id, head: head, requestID: HTTPConnectionHandler.nextID(), requestComplete: endStream)
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
        switch configuration.route(target.normalizedPath) {
        case .none:
            sendPage(stream, status: 404)
        case .staticFiles(let site, let prefix)?:
            guard head.method == "GET" || head.method == "HEAD" else {
                return sendPage(stream, status: 405, extra: [("allow", "GET, HEAD")])
            }
            let relative = String(target.normalizedPath.dropFirst(min(prefix.count, target.normalizedPath.count)))
            let trimmed = relative.hasPrefix("/") ? String(relative.dropFirst()) : relative
            let answer = StaticAnswer.answer(
                site: site, relative: trimmed, isHEAD: head.method == "HEAD", rawPath: target.rawPath,
                query: target.query, field: head.first)
            send(stream, answer)
        case .app(let service, _)?:
            openExchange(stream, target: target, service: service)
        }
    }

    private func openExchange(_ stream: HTTP2Stream, target: RequestTarget, service: AppService) {
        guard let context else { return }
        let local = context.channel.localAddress
        let remote = context.channel.remoteAddress
        let head = stream.head
        var headers = head.headers
        // WSGI apps (Django's ALLOWED_HOSTS) read the host from HTTP_HOST.
        if !head.authority.isEmpty && head.first("host") == nil {
            headers.insert(("host", head.authority), at: 0)
        }
        let serverName = head.authority.isEmpty ? (local?.ipAddress ?? "localhost") : hostName(head.authority)
        let request = AppRequest(
            method: head.method, path: String(target.rawPath), query: String(target.query), version: "HTTP/2.0",
            headers: headers, remoteAddress: remote?.ipAddress ?? "127.0.0.1", remotePort: remote?.port ?? 0,
            serverName: serverName, serverPort: local?.port ?? 0, scheme: scheme,
            hasBody: !stream.requestComplete, requestID: stream.requestID)
        let bridge = HTTP2AppResponseBridge(loop: context.eventLoop, handler: self, stream: stream)
        stream.kind = .app(service.open(request, writer: bridge))
    }

    private func hostName(_ host: String) -> String {
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") { return String(host[...close]) }
        return String(host.split(separator: ":", maxSplits: 1).first ?? "")
    }

    // MARK: - App responses (called on the loop by HTTP2AppResponseBridge)

    func appResponseHead(_ stream: HTTP2Stream, status: Int, headers: [(name: String, value: String)]) {
        guard streams[stream.id] === stream, !stream.responseStarted else { return }
        var fields: [(name: String, value: String)] = []
        fields.reserveCapacity(headers.count + 1)
        var hasDate = false
        for (name, value) in headers {
            let lower = name.lowercased()
            if Self.connectionSpecific.contains(lower) { continue }
            if lower == "date" { hasDate = true }
            guard let clean = Self.fieldValue(value) else { continue }
            fields.append((lower, clean))
        }
        if !hasDate { fields.append(("date", HTTPDate.now())) }
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

    func appResponseEnd(_ stream: HTTP2Stream) {
        guard streams[stream.id] === stream, stream.responseStarted, !stream.responseComplete else { return }
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
        var answer = StaticAnswer.page(status)
        if let html {
            answer.body = .bytes(ByteBuffer(string: html))
            answer.headers = [("content-type", "text/html; charset=utf-8"), ("content-length", String(html.utf8.count))]
        }
        answer.headers += extra
        send(stream, answer)
    }

    /// Queues a complete answer: head, then the body from bytes or a file.
    func send(_ stream: HTTP2Stream, _ answer: StaticAnswer) {
        var headers = answer.headers
        headers.append(("date", HTTPDate.now()))
        stream.status = answer.status
        stream.responseStarted = true
        let isHEAD = stream.head.method == "HEAD"
        let hasBody: Bool
        switch answer.body {
        case .none: hasBody = false
        case .bytes: hasBody = !isHEAD
        case .file: hasBody = true
        }
        do {
            try session.submitResponse(streamID: stream.id, status: answer.status, headers: headers, hasBody: hasBody)
        } catch {
            if case .file(let fd, _, _) = answer.body { closeFile(fd) }
            session.resetStream(streamID: stream.id, .internalError)
            return
        }
        switch answer.body {
        case .none:
            finishOwn(stream)
        case .bytes(let bytes):
            if !isHEAD {
                stream.bytesSent = Int64(bytes.readableBytes)
                session.sendBody(streamID: stream.id, bytes)
                session.endBody(streamID: stream.id)
            }
            finishOwn(stream)
        case .file(let fd, let offset, let length):
            stream.kind = .file(fd: fd, offset: offset, remaining: length)
            fillFromFile(stream)
        }
    }

    private func finishOwn(_ stream: HTTP2Stream) {
        stream.kind = .own
        stream.responseComplete = true
        log(stream)
    }

    /// Reads the stream's file into its send queue until the queue is full or the file ends.
    /// nghttp2 takes the bytes as the client's window allows; a `.writable` event calls
    /// this again.
    func fillFromFile(_ stream: HTTP2Stream) {
        guard case .file(let fd, var offset, var remaining) = stream.kind, let context else { return }
        while remaining > 0 {
            let want = Int(min(Int64(Self.fileChunk), remaining))
            var chunk = context.channel.allocator.buffer(capacity: want)
            let count: Int
            do {
                count = try chunk.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw in
                    try Descriptors.readAt(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[..<want]), at: offset)
                }
            } catch {
                count = 0
            }
            guard count > 0 else {
                // The file shrank or failed under us: the body cannot be completed.
                closeFile(fd)
                stream.kind = .own
                stream.responseComplete = true
                session.resetStream(streamID: stream.id, .internalError)
                log(stream)
                return
            }
            offset += Int64(count)
            remaining -= Int64(count)
            stream.bytesSent += Int64(count)
            let more = session.sendBody(streamID: stream.id, chunk)
            stream.kind = .file(fd: fd, offset: offset, remaining: remaining)
            if !more { return }
        }
        closeFile(fd)
        session.endBody(streamID: stream.id)
        finishOwn(stream)
    }

    func closeFile(_ fd: Int32) {
        Descriptors.close(fd)
    }

    func log(_ stream: HTTP2Stream) {
        guard !stream.logged else { return }
        stream.logged = true
        guard let accessLog = configuration.accessLog else { return }
        accessLog.write(AccessLog.Entry(
            remote: context?.channel.remoteAddress?.ipAddress ?? "-", method: stream.head.method, uri: stream.head.path,
            version: "HTTP/2.0", status: stream.status, bytes: stream.bytesSent,
            referer: stream.head.first("referer"), userAgent: stream.head.first("user-agent"),
            seconds: Double((NIODeadline.now() - stream.start).nanoseconds) / 1e9, requestID: stream.requestID))
    }
}
