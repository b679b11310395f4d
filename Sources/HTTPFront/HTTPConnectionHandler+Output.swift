import NIOCore
import NIOHTTP1

/// The connection's output as bytes: heads and small bodies gather in one buffer, handed to
/// the channel only before a file region or a flush — so a static response is the head's
/// bytes and a sendfile, and pipelined small responses leave in one write.
extension HTTPConnectionHandler {
    /// Bodies up to this size are copied into the output buffer rather than written alone.
    static let smallBody = 4096

    /// Appends to the output buffer. Once handed over, the buffer is cleared before reuse:
    /// no allocation when the channel already wrote (and released) it.
    @discardableResult
    func writeOutput<Result>(_ body: (inout ByteBuffer) -> Result) -> Result {
        if outputHandedOver {
            outputHandedOver = false
            output.clear()
        }
        return body(&output)
    }

    /// Hands the gathered bytes to the channel (not flushed).
    func emitOutput(_ context: ChannelHandlerContext) {
        guard !outputHandedOver, output.readableBytes > 0 else { return }
        outputHandedOver = true
        context.write(wrapOutboundOut(.byteBuffer(output)), promise: nil)
    }

    func flushOutput(_ context: ChannelHandlerContext) {
        emitOutput(context)
        context.flush()
    }

    /// Writes what is gathered and flushes, then closes the connection once it is out.
    func flushOutputAndClose(_ context: ChannelHandlerContext) {
        var bytes = ByteBuffer()
        if !outputHandedOver, output.readableBytes > 0 {
            outputHandedOver = true
            bytes = output
        }
        context.writeAndFlush(wrapOutboundOut(.byteBuffer(bytes))).whenComplete { _ in context.close(promise: nil) }
    }

    /// Writes bytes as they are, after anything gathered (a passed-through connection's
    /// output, see `passThrough(to:)`).
    func writeRaw(_ bytes: ByteBuffer, flush: Bool, context: ChannelHandlerContext) {
        emitOutput(context)
        context.write(wrapOutboundOut(.byteBuffer(bytes)), promise: nil)
        if flush { context.flush() }
    }

    /// Writes a response head for `request` and notes how its body is framed. `http11Head` is
    /// the status line and `fields` already rendered (a static file's ready-made answer):
    /// copied as it is unless the request is HTTP/1.0 or the route overrides some field.
    func writeResponseHead(
        _ request: ActiveRequest, status: Int, reason: String? = nil, fields: [(name: String, value: String)],
        http11Head: ByteBuffer? = nil
    ) {
        if let http11Head, request.responseHeaders.isEmpty, request.head.version == .http1_1 {
            framing = writeOutput { buffer in
                HTTP1ResponseHead.write(
                    into: &buffer, rendered: http11Head, status: status, keepAlive: request.keepAlive,
                    isHead: request.head.method.isHEAD)
            }
            return
        }
        let text = HTTP1ResponseHead.reason(status, reason ?? ErrorPage.reasonPhrase(status))
        framing = writeOutput { buffer in
            HTTP1ResponseHead.write(
                into: &buffer, version: request.head.version, status: status, reason: text, fields: fields,
                overrides: request.responseHeaders, keepAlive: request.keepAlive,
                isHead: request.head.method.isHEAD, date: HTTPDate.now())
        }
    }

    /// Writes a piece of the body (in a chunk when the response is chunked; dropped when the
    /// response has no body).
    func writeBody(_ chunk: ByteBuffer, context: ChannelHandlerContext) {
        guard framing.hasBody, chunk.readableBytes > 0 else { return }
        if framing.chunked { writeOutput { HTTP1ResponseHead.writeChunkStart(chunk.readableBytes, into: &$0) } }
        if chunk.readableBytes <= Self.smallBody {
            var chunk = chunk
            writeOutput { $0.writeBuffer(&chunk) }
        } else {
            emitOutput(context)
            context.write(wrapOutboundOut(.byteBuffer(chunk)), promise: nil)
        }
        if framing.chunked { writeOutput { $0.writeStaticString("\r\n") } }
    }

    /// Writes a file region of the body (sendfile); `promise` completes when it is out.
    func writeBody(_ region: FileRegion, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext) {
        guard framing.hasBody, region.readableBytes > 0 else {
            promise?.succeed(())
            return
        }
        if framing.chunked { writeOutput { HTTP1ResponseHead.writeChunkStart(region.readableBytes, into: &$0) } }
        emitOutput(context)
        context.write(wrapOutboundOut(.fileRegion(region)), promise: promise)
        if framing.chunked { writeOutput { $0.writeStaticString("\r\n") } }
    }

    /// The end of the body: the last chunk of a chunked one.
    func writeBodyEnd() {
        if framing.chunked { writeOutput { $0.writeStaticString("0\r\n\r\n") } }
        framing = HTTP1ResponseHead.Framing(chunked: false, hasBody: true)
    }
}
