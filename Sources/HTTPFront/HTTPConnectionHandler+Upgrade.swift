import AppExchange
import NIOCore
import NIOHTTP1

// HTTP/1.1 Upgrade pass-through (RFC 9110 §7.8) for services that can tunnel — the
// reverse proxy, for WebSocket and the like. The front offers the client's protocols to
// the service through an `AppUpgradeWriter`; when the service answers 101, the front sends
// it and its connection becomes one end of a byte tunnel (`TunnelHandler`).
// The hooks in HTTPConnectionHandler.swift are marked `[upgrade]`. HTTP/2 has no Upgrade
// (extended CONNECT, RFC 8441, is not supported).

extension HTTP1RequestHead {
    /// The protocols of `Upgrade` a tunnel may carry: all but `h2c` — berth speaks h2c by
    /// prior knowledge only, and RFC 9113 §3.1 retired the h2c upgrade.
    var tunnelProtocols: [String] {
        fields.httpHeaders[canonicalForm: "upgrade"].map(String.init).filter {
            $0.split(separator: "/").first?.lowercased() != "h2c"
        }
    }
}

extension HTTPConnectionHandler {
    /// The writer an app service gets: one that can upgrade when the request asks to
    /// (`RequestFacts.asksToUpgrade`) and may (HTTP/1.1, no body, a protocol other than h2c),
    /// else the plain bridge.
    func upgradeWriter(
        _ bridge: AppResponseBridge, head: HTTP1RequestHead, facts: RequestFacts, hasBody: Bool, request: ActiveRequest,
        loop: EventLoop
    ) -> AppResponseWriter {
        guard head.version == .http1_1, !hasBody, facts.asksToUpgrade else { return bridge }
        let protocols = head.tunnelProtocols
        guard !protocols.isEmpty else { return bridge }
        return UpgradeResponseBridge(bridge: bridge, handler: self, request: request, protocols: protocols, loop: loop)
    }

    /// The service answered 101: send it, put a tunnel end in front of this handler and join
    /// it to the service's.
    func beginTunnel(
        _ request: ActiveRequest, headers: [(name: String, value: String)], peer: AppTunnelEnd, deferred: Bool = false
    ) {
        guard let context, current === request, !request.responseStarted, context.channel.isActive else {
            peer.close()
            return
        }
        if !request.requestComplete {
            // A service that answers inside `open` does so while the parser is still
            // handing over the request: its end follows in the same parsing pass, and must
            // reach this handler, not the tunnel. Once, at the end of this tick.
            guard !deferred else {
                context.close(promise: nil)
                return peer.close()
            }
            let pending = NIOLoopBound(request, eventLoop: context.eventLoop)
            return context.eventLoop.execute { [self] in
                beginTunnel(pending.value, headers: headers, peer: peer, deferred: true)
            }
        }
        request.responseStarted = true
        request.responseComplete = true
        request.status = 101
        // The service's Connection and Upgrade fields go out as they are: no keep-alive or
        // close field of the front's own (keepAlive: true adds none on HTTP/1.1).
        writeOutput { buffer in
            _ = HTTP1ResponseHead.write(
                into: &buffer, version: .http1_1, status: 101, reason: "Switching Protocols", fields: headers,
                overrides: request.responseHeaders, keepAlive: true, isHead: false, date: HTTPDate.now())
        }
        flushOutput(context)
        let tunnel = TunnelHandler()
        tunnel.onClose = { [weak self, request] _ in
            request.bytesSent = tunnel.bytesWritten
            self?.log(request)
        }
        // The tunnel end goes in front of this handler: bytes read from now on reach it and
        // its writes go straight to the socket. This handler stays behind it, idle, until the
        // connection closes; the bytes it had read past the request are the tunnel's first.
        do {
            try context.pipeline.syncOperations.addHandler(tunnel, position: .before(self))
        } catch {
            context.close(promise: nil)
            peer.close()
            return
        }
        let early = passThrough { [weak tunnel] bytes in tunnel?.receiveEarlier(bytes) }
        tunnel.join(peer)
        peer.join(tunnel)
        // On the next tick: the service's end is still leaving its own HTTP handlers.
        if let early { context.eventLoop.assumeIsolated().execute { tunnel.receiveEarlier(early) } }
    }
}

/// The HTTP/1.1 front's writer for a request that asks to upgrade: the plain bridge, plus
/// the switch to a tunnel.
final class UpgradeResponseBridge: AppUpgradeWriter, @unchecked Sendable {
    private let bridge: AppResponseBridge
    private weak var handler: HTTPConnectionHandler?
    private weak var request: ActiveRequest?
    private let loop: EventLoop
    let upgradeProtocols: [String]

    init(bridge: AppResponseBridge, handler: HTTPConnectionHandler, request: ActiveRequest, protocols: [String], loop: EventLoop) {
        self.bridge = bridge
        self.handler = handler
        self.request = request
        self.upgradeProtocols = protocols
        self.loop = loop
    }

    func responseUpgraded(headers: [(name: String, value: String)], tunnel: AppTunnelEnd) {
        loop.preconditionInEventLoop()
        guard let handler, let request else {
            tunnel.close()
            return
        }
        handler.beginTunnel(request, headers: headers, peer: tunnel)
    }

    func responseHead(status: Int, reason: String, headers: [(name: String, value: String)]) {
        bridge.responseHead(status: status, reason: reason, headers: headers)
    }
    func responseBody(_ chunk: ByteBuffer) { bridge.responseBody(chunk) }
    func responseEnd() { bridge.responseEnd() }
    func responseFile(_ file: ResponseFile) { bridge.responseFile(file) }
    func responseFailed(_ failure: AppFailure, responseStarted: Bool) {
        bridge.responseFailed(failure, responseStarted: responseStarted)
    }
    func requestBodyWritabilityChanged(_ writable: Bool) { bridge.requestBodyWritabilityChanged(writable) }
}
