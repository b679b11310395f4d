import AppExchange
import NIOCore
import NIOHTTP1

/// Static files over HTTP/1: the request is planned by `StaticResponder` as soon as its
/// head is in, and the answer written once the request has ended.
extension HTTPConnectionHandler {
    /// Routes a request for a static route: its planned answer, or the route's fallback app
    /// when no file exists (or the method is not GET/HEAD), or 405.
    func startStatic(
        _ head: HTTP1RequestHead, facts: RequestFacts, target: RequestTarget, site: StaticSite, prefix: String, id: RequestID,
        hasBody: Bool, keepAlive: Bool, responseHeaders: [(String, String)], context: ChannelHandlerContext
    ) {
        guard head.method.isGETOrHEAD else {
            if let app = site.fallback {
                return openExchange(
                    head, facts: facts, target: target, service: app, id: id, hasBody: hasBody,
                    keepAlive: keepAlive, responseHeaders: responseHeaders, context: context)
            }
            let request = ActiveRequest(
                head: head, requestID: id, kind: .deferred(.error(status: 405, headers: [("Allow", "GET, HEAD")])),
                hasBody: hasBody, keepAlive: false)
            current = request
            return sendError(request, status: 405, context: context)
        }
        // The path below the prefix (which it starts with), by bytes.
        let path = target.normalizedPath.utf8
        var start = path.index(path.startIndex, offsetBy: min(prefix.utf8.count, path.count))
        if start < path.endIndex && path[start] == UInt8(ascii: "/") { start = path.index(after: start) }
        let relative = target.normalizedPath[start...]
        var staticRequest = StaticRequest(isHead: head.method.isHEAD, rawPath: target.rawPath, query: target.query)
        head.fields.walk { name, value in
            staticRequest.take(name: name, value: value)
            return false
        }
        let answer = StaticResponder.answer(site: site, relative: String(relative), request: staticRequest)
        if answer.noFile, let app = site.fallback {
            return openExchange(
                head, facts: facts, target: target, service: app, id: id, hasBody: hasBody, keepAlive: keepAlive,
                responseHeaders: responseHeaders, context: context)
        }
        let request = reusableRequest(
            head: head, requestID: id, kind: .deferred(.staticAnswer(answer)), hasBody: hasBody, keepAlive: keepAlive)
        request.responseHeaders = responseHeaders
        current = request
    }

    /// The object for a static request: the connection's last static one if nothing else
    /// holds it (no allocation and free per request), else new.
    private func reusableRequest(
        head: consuming HTTP1RequestHead, requestID: RequestID, kind: consuming ActiveRequest.Kind, hasBody: Bool, keepAlive: Bool
    ) -> ActiveRequest {
        if var spare = spareRequest {
            spareRequest = nil
            if isKnownUniquelyReferenced(&spare) {
                spare.reuse(head: head, requestID: requestID, kind: kind, hasBody: hasBody, keepAlive: keepAlive)
                return spare
            }
        }
        let request = ActiveRequest(head: head, requestID: requestID, kind: kind, hasBody: hasBody, keepAlive: keepAlive)
        request.recyclable = true
        return request
    }

    /// Writes a planned answer: the head, then the body from memory or with sendfile.
    func sendStatic(_ request: ActiveRequest, _ answer: StaticAnswer, context: ChannelHandlerContext) {
        if case .errorPage = answer.body {
            let html = ErrorPage.html(status: answer.status, reason: ErrorPage.reasonPhrase(answer.status))
            return sendPage(request, status: answer.status, html: html, extraHeaders: answer.headers, context: context)
        }
        request.status = answer.status
        request.responseStarted = true
        // Direct output sends the head with MSG_MORE instead (+Output).
        if !request.head.method.isHEAD, answer.sendsFile, !corked, directSocket(context) == nil {
            corked = setCork(true, context: context)
        }
        writeResponseHead(request, status: answer.status, fields: answer.headers, http11Head: answer.http11Head)
        if !request.head.method.isHEAD {
            switch answer.body {
            case .none, .errorPage:
                break
            case .bytes(let text):
                writeBytes(text, request, context: context)
            case .file(let file, let offset, let length):
                writeFile(file, offset: offset, length: length, request, context: context)
            case .parts(let chunks):
                for chunk in chunks {
                    switch chunk {
                    case .bytes(let text): writeBytes(text, request, context: context)
                    case .file(let file, let offset, let length):
                        writeFile(file, offset: offset, length: length, request, context: context)
                    }
                }
            }
        }
        finishResponse(request)
    }

    /// Takes the cork out after a flush: whatever is still queued in the kernel goes now.
    func uncork(_ context: ChannelHandlerContext) {
        guard corked else { return }
        corked = false
        _ = setCork(false, context: context)
    }

    /// TCP_CORK on while the head and a file region are flushed: with TCP_NODELAY the head
    /// would leave as a packet of its own, then the file as another; corked, a small file goes
    /// out in the same packet as its head (nginx's `tcp_nopush`). Off again right after the
    /// flush (`uncork`), which sends whatever is pending. Not a TCP socket (a unix socket):
    /// never again.
    private func setCork(_ on: Bool, context: ChannelHandlerContext) -> Bool {
        guard corkable, let options = context.channel.syncOptions else { return false }
        do {
            try options.setOption(Self.tcpCork, value: on ? 1 : 0)
            return true
        } catch {
            corkable = false
            return false
        }
    }

    private static let tcpCork = ChannelOptions.tcpOption(NIOBSDSocket.Option(rawValue: 3))  // TCP_CORK, linux/tcp.h

    private func writeBytes(_ text: String, _ request: ActiveRequest, context: ChannelHandlerContext) {
        guard framing.hasBody else { return }
        writeOutput { request.bytesSent += Int64($0.writeString(text)) }
    }

    /// Sends a region of `file` with sendfile. The write holds the file until it is done: the
    /// cache may drop (and close) it meanwhile.
    private func writeFile(_ file: OpenFile, offset: Int64, length: Int64, _ request: ActiveRequest, context: ChannelHandlerContext) {
        guard length > 0 else { return }
        let region = FileRegion(fileHandle: file.handle, readerIndex: Int(offset), endIndex: Int(offset + length))
        request.bytesSent += length
        writeBody(region, owner: .cached(file), context: context)
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return s
    }
}

extension HTTPMethod {
    /// By pattern: HTTPMethod's `==` goes through `rawValue` (a String per side), and the
    /// front asks this several times per request.
    var isHEAD: Bool {
        if case .HEAD = self { return true }
        return false
    }

    var isGETOrHEAD: Bool {
        switch self {
        case .GET, .HEAD: return true
        default: return false
        }
    }
}

extension HTTPVersion {
    var isBefore11: Bool { major < 1 || (major == 1 && minor < 1) }
}
