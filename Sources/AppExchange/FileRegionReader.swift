import NIOCore

/// Turns file regions into bytes read with pread, for a channel whose lower handlers take
/// only bytes: TLS encrypts in user space, so sendfile cannot apply (NIOSSLHandler traps on a
/// FileRegion). Added just above the TLS handler; everything above it writes file regions as
/// on a plain socket.
///
/// A region is read a chunk at a time (`FileChunk`) and only while the channel is writable,
/// so a large file to a slow reader never sits in memory whole. Writes behind a region wait
/// for it: bytes leave in the order they were written. A region's promise completes when its
/// last chunk is written (the writer closes the file then).
public final class FileRegionReader: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = NIOAny
    public typealias InboundOut = NIOAny
    public typealias OutboundIn = IOData
    public typealias OutboundOut = ByteBuffer

    /// Chunks read in one go before the loop gets a turn (a fast reader of a large file).
    private static let chunksPerTurn = 16

    private struct Pending {
        var data: IOData
        var promise: EventLoopPromise<Void>?
        var flushed = false
    }

    private var queue = CircularBuffer<Pending>()
    private var pumping = false
    private var turnScheduled = false

    public init() {}

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let data = unwrapOutboundIn(data)
        if queue.isEmpty, case .byteBuffer(let bytes) = data {
            context.write(wrapOutboundOut(bytes), promise: promise)  // the common case: no file ahead
            return
        }
        queue.append(Pending(data: data, promise: promise))
    }

    public func flush(context: ChannelHandlerContext) {
        guard !queue.isEmpty else { return context.flush() }
        for index in queue.indices { queue[index].flushed = true }
        pump(context: context)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { pump(context: context) }
        context.fireChannelWritabilityChanged()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        failAll(ChannelError.ioOnClosedChannel)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        failAll(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    /// Writes the flushed head of the queue: bytes as they are, regions a chunk at a time
    /// while the channel takes more. Stops at an unflushed entry, an unwritable channel
    /// (`channelWritabilityChanged` resumes), or after a turn's worth of chunks (resumed on
    /// the loop's next turn).
    private func pump(context: ChannelHandlerContext) {
        guard !pumping else { return }
        pumping = true
        defer {
            pumping = false
            context.flush()  // what went down before a stop; cheap when nothing did
        }
        var chunks = 0
        while let first = queue.first, first.flushed {
            switch first.data {
            case .byteBuffer(let bytes):
                queue.removeFirst()
                context.write(wrapOutboundOut(bytes), promise: first.promise)
            case .fileRegion(var region):
                guard context.channel.isWritable else { return }
                guard chunks < Self.chunksPerTurn else { return scheduleTurn(context: context) }
                let bytes: ByteBuffer
                do {
                    bytes = try read(&region, allocator: context.channel.allocator)
                } catch {
                    queue.removeFirst()
                    first.promise?.fail(error)
                    context.close(promise: nil)  // the response cannot be completed
                    return
                }
                chunks += 1
                if region.readableBytes == 0 {
                    queue.removeFirst()
                    context.write(wrapOutboundOut(bytes), promise: first.promise)
                } else {
                    queue[queue.startIndex].data = .fileRegion(region)
                    context.write(wrapOutboundOut(bytes), promise: nil)
                }
                context.flush()  // the TLS handler encrypts on flush; writability follows
            }
        }
    }

    private func scheduleTurn(context: ChannelHandlerContext) {
        guard !turnScheduled else { return }
        turnScheduled = true
        context.eventLoop.assumeIsolated().execute { [self] in
            turnScheduled = false
            pump(context: context)
        }
    }

    /// The next chunk of `region`, moving its reader index past it.
    private func read(_ region: inout FileRegion, allocator: ByteBufferAllocator) throws -> ByteBuffer {
        let (offset, remaining) = (Int64(region.readerIndex), Int64(region.readableBytes))
        let bytes = try region.fileHandle.withUnsafeFileDescriptor { fd in
            try FileChunk.read(fd, at: offset, remaining: remaining, object: "file region", allocator: allocator)
        }
        region.moveReaderIndex(forwardBy: bytes.readableBytes)
        return bytes
    }

    private func failAll(_ error: Error) {
        while let pending = queue.popFirst() { pending.promise?.fail(error) }
    }
}
