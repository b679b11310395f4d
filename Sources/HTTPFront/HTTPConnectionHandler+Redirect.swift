import NIOCore
import NIOHTTP1

/// The plain-HTTP listener beside a TLS one: every request gets a 301 to the same host
/// and path over https.
extension HTTPConnectionHandler {
    func redirectToHTTPS(
        _ head: HTTP1RequestHead, port: Int, id: RequestID, hasBody: Bool, keepAlive: Bool, context: ChannelHandlerContext
    ) {
        let hostHeader = head.fields.first(name: "host") ?? ""
        var host = hostHeader.isEmpty ? (context.channel.localAddress?.ipAddress ?? "localhost") : hostHeader
        // The Host's port is the plain listener's; the redirect names the TLS one.
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            host = String(host[...close])
        } else if let colon = host.firstIndex(of: ":") {
            host = String(host[..<colon])
        } else if host.contains(":") {
            host = "[\(host)]"
        }
        var location = "https://" + host + (port == 443 ? "" : ":\(port)")
        if head.uri.hasPrefix("/") {
            location += head.uri
        } else if let target = try? RequestTarget(head.uri) {
            location += String(target.rawPath) + (target.query.isEmpty ? "" : "?" + String(target.query))
        } else {
            location += "/"
        }
        let request = ActiveRequest(
            head: head, requestID: id, kind: .deferred(.error(status: 301, headers: [("Location", location)])),
            hasBody: hasBody, keepAlive: keepAlive)
        current = request
        // Answered once the request has ended (its body, if any, is read and dropped).
    }
}
