#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import LinuxSystem
import NIOCore
import NIOHTTP1

/// The connection's output as bytes: heads and small bodies gather in one buffer, larger app
/// body chunks are kept by reference in their places (`outputBodies`), and all of it is
/// handed on only before a file region or a flush — so a static response is the head's
/// bytes and a sendfile, and pipelined small responses leave in one write.
///
/// Direct output: when berth accepted the connection itself (`socket`), and NIO has no
/// write of this connection queued, the gathered bytes go straight to the socket with one
/// `send` (with the bodies kept by reference, one `sendmsg`), and a file region after them
/// with `sendfile` (the head sent with MSG_MORE, so a small file leaves in the head's
/// packet, as TCP_CORK would do). Whatever the socket does not take at once is handed to
/// NIO, which waits for the socket and reports errors; until NIO has written it all, every
/// later byte goes through NIO too, so the order holds. All of it runs on the channel's
/// loop, where an active channel's descriptor cannot be closed under us.
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

    /// Hands the gathered bytes to the channel (not flushed): the output buffer, or its
    /// pieces with the bodies kept by reference between them. `promise`, if any, completes
    /// once all of it is written (an empty write carries it when nothing is gathered).
    func emitOutput(_ context: ChannelHandlerContext, promise: EventLoopPromise<Void>? = nil) {
        let gathered = !outputHandedOver && (output.readableBytes > 0 || !outputBodies.isEmpty)
        guard gathered else {
            if let promise { channelWrite(.byteBuffer(ByteBuffer()), promise: promise, context: context) }
            return
        }
        outputHandedOver = true
        guard !outputBodies.isEmpty else {
            return channelWrite(.byteBuffer(output), promise: promise, context: context)
        }
        let pieces = outputBodies.pieces(of: output)
        outputBodies.removeAll()
        for (index, piece) in pieces.enumerated() {
            channelWrite(.byteBuffer(piece), promise: index == pieces.count - 1 ? promise : nil, context: context)
        }
    }

    func flushOutput(_ context: ChannelHandlerContext) {
        if sendOutputDirectly(more: false, context: context) { return }
        emitOutput(context)
        context.flush()
    }

    /// Writes what is gathered and flushes, then closes the connection once it is out.
    func flushOutputAndClose(_ context: ChannelHandlerContext) {
        if sendOutputDirectly(more: false, context: context) {
            context.close(promise: nil)
            return
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        emitOutput(context, promise: promise)
        context.flush()
        promise.futureResult.whenComplete { _ in context.close(promise: nil) }
    }

    /// Writes bytes as they are, after anything gathered (a passed-through connection's
    /// output, see `passThrough(to:)`).
    func writeRaw(_ bytes: ByteBuffer, flush: Bool, context: ChannelHandlerContext) {
        emitOutput(context)
        channelWrite(.byteBuffer(bytes), promise: nil, context: context)
        if flush { context.flush() }
    }

    /// Every write this handler hands to NIO goes through here: with direct output on, it is
    /// counted until it completes (written, or failed because the connection closed).
    private func channelWrite(_ data: IOData, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext) {
        guard socket != nil else {
            return context.write(wrapOutboundOut(data), promise: promise)
        }
        queuedWrites += 1
        let counted = promise ?? context.eventLoop.makePromise(of: Void.self)
        counted.futureResult.whenComplete { [self] _ in queuedWrites -= 1 }
        context.write(wrapOutboundOut(data), promise: counted)
    }

    /// The socket, when output may go to it now: direct output on, nothing of this
    /// connection queued in NIO, and the channel still open (so the descriptor is ours).
    func directSocket(_ context: ChannelHandlerContext) -> Int32? {
        guard let socket, queuedWrites == 0, context.channel.isActive else { return nil }
        return socket
    }

    /// Sends the gathered bytes straight to the socket, if direct output may; what it does
    /// not take stays gathered for NIO. True when nothing is left.
    ///
    /// Bodies kept by reference go in the same call (sendmsg), between the buffer's bytes
    /// around them: a 16 KiB page's head, its body (and a chunked body's framing) leave in
    /// one system call, as full packets. `more` (MSG_MORE) only when the next bytes follow
    /// at once (a file region): for a streaming app's chunk the kernel would hold the last
    /// partial packet for as long as the app pauses.
    private func sendOutputDirectly(more: Bool, context: ChannelHandlerContext) -> Bool {
        guard let socket = directSocket(context) else { return false }
        if outputHandedOver { return true }
        if outputBodies.isEmpty {
            if output.readableBytes == 0 { return true }
            let sent = output.withUnsafeReadableBytes { Sockets.sendNow(socket, $0, more: more) }
            output.moveReaderIndex(forwardBy: sent)
        } else {
            let sent = outputBodies.withIOVectors(of: output) { Sockets.sendNow(socket, $0, more: more) }
            outputBodies.consume(sent, of: &output)
            guard outputBodies.isEmpty else { return false }
        }
        guard output.readableBytes == 0 else { return false }
        output.clear()
        return true
    }

    /// Sends a region of the body straight to the socket with sendfile, after the gathered
    /// bytes, if direct output may. Returns the part still to write (nil: all of it went).
    private func sendFileDirectly(_ region: FileRegion, context: ChannelHandlerContext) -> FileRegion? {
        guard sendOutputDirectly(more: true, context: context), let socket = directSocket(context) else { return region }
        var region = region
        let sent = (try? region.fileHandle.withUnsafeFileDescriptor { file in
            Sockets.sendFileNow(socket, file: file, offset: Int64(region.readerIndex), count: region.readableBytes)
        }) ?? 0
        region.moveReaderIndex(forwardBy: sent)
        return region.readableBytes == 0 ? nil : region
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
            gatherBody(chunk, context: context)
        }
        if framing.chunked { writeOutput { $0.writeStaticString("\r\n") } }
    }

    /// Keeps a larger chunk by reference in its place in the output, without a copy: it
    /// leaves with the gathered bytes at the next flush — at the end of the app's batch of
    /// events, so the head, every chunk of the batch with its framing, and a chunked body's
    /// last chunk go in one `sendmsg`. Sending at once instead would cost a system call per
    /// chunk plus one for what follows it (a chunk's CRLF, the last chunk), each a packet.
    private func gatherBody(_ chunk: ByteBuffer, context: ChannelHandlerContext) {
        let index = writeOutput { $0.writerIndex }
        outputBodies.append(chunk, at: index)
        guard outputBodies.count >= OutputBodies.limit else { return }
        // Many chunks in one batch: send what is gathered now, so the iovecs stay few.
        if !sendOutputDirectly(more: false, context: context) { emitOutput(context) }
    }

    /// Writes a file region of the body (sendfile); `owner` is released once it is out.
    func writeBody(_ region: FileRegion, owner: RegionOwner, context: ChannelHandlerContext) {
        guard framing.hasBody, region.readableBytes > 0 else {
            owner.release()
            return
        }
        if framing.chunked { writeOutput { HTTP1ResponseHead.writeChunkStart(region.readableBytes, into: &$0) } }
        if let rest = sendFileDirectly(region, context: context) {
            // A promise only when NIO writes it: on the direct path it costs more than the
            // rest of the write.
            let promise = context.eventLoop.makePromise(of: Void.self)
            promise.futureResult.whenComplete { _ in owner.release() }
            emitOutput(context)
            channelWrite(.fileRegion(rest), promise: promise, context: context)
        } else {
            owner.release()
        }
        if framing.chunked { writeOutput { $0.writeStaticString("\r\n") } }
    }

    /// The end of the body: the last chunk of a chunked one.
    func writeBodyEnd() {
        if framing.chunked { writeOutput { $0.writeStaticString("0\r\n\r\n") } }
        framing = HTTP1ResponseHead.Framing(chunked: false, hasBody: true)
    }
}

/// What a file region's write keeps until it is done: a file of the open-file cache (kept
/// open while the cache may drop it), or a descriptor of the response's own (closed then).
enum RegionOwner {
    case cached(OpenFile)
    case owned(NIOFileHandle)

    func release() {
        switch self {
        case .cached(let file): withExtendedLifetime(file) {}
        case .owned(let handle): try? handle.close()
        }
    }
}
