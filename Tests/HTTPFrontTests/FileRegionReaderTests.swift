import AppExchange
import Foundation
import NIOCore
import NIOEmbedded
import Testing

/// FileRegionReader, the handler under TLS: file regions leave as bytes read from the file,
/// in order with the writes around them, only while the channel is writable.
@Suite struct FileRegionReaderTests {
    /// Set by a promise's callback; the embedded loop runs callbacks on the test's thread.
    private final class Flag: @unchecked Sendable { var value = false }

    private static func file(_ bytes: [UInt8]) throws -> (NIOFileHandle, URL) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("berth-region-\(UUID().uuidString)")
        try Data(bytes).write(to: url)
        return (try NIOFileHandle(_deprecatedPath: url.path), url)
    }

    private static func drain(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var out: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { out += buffer.readableBytesView }
        return out
    }

    @Test func regionsLeaveAsBytesInOrderAndOnlyWhileWritable() throws {
        let content = (0..<(200 * 1024)).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let (handle, url) = try Self.file(content)
        defer { try? handle.close(); try? FileManager.default.removeItem(at: url) }
        let channel = EmbeddedChannel(handler: FileRegionReader())
        let region = FileRegion(fileHandle: handle, readerIndex: 1000, endIndex: content.count - 1000)
        let written = Flag()
        let promise = channel.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenSuccess { written.value = true }

        channel.isWritable = false
        channel.write(IOData.byteBuffer(ByteBuffer(string: "head|")), promise: nil)
        channel.write(IOData.fileRegion(region), promise: promise)
        channel.write(IOData.byteBuffer(ByteBuffer(string: "|tail")), promise: nil)
        channel.flush()
        // Bytes ahead of the region pass; the region waits for the channel to take more.
        #expect(try Self.drain(channel) == Array("head|".utf8))
        #expect(!written.value)

        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        channel.embeddedEventLoop.run()
        let rest = try Self.drain(channel)
        #expect(rest == Array(content[1000..<(content.count - 1000)]) + Array("|tail".utf8))
        #expect(written.value)
        _ = try channel.finish()
    }

    @Test func aFileThatShrankFailsItsWriteAndClosesTheConnection() throws {
        let (handle, url) = try Self.file([1, 2, 3])
        defer { try? handle.close(); try? FileManager.default.removeItem(at: url) }
        let channel = EmbeddedChannel(handler: FileRegionReader())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let promise = channel.eventLoop.makePromise(of: Void.self)
        let failed = Flag()
        promise.futureResult.whenFailure { _ in failed.value = true }
        channel.writeAndFlush(IOData.fileRegion(FileRegion(fileHandle: handle, readerIndex: 0, endIndex: 10)), promise: promise)
        channel.embeddedEventLoop.run()
        // The three bytes there were leave; the pread past the end fails the response.
        #expect(try Self.drain(channel) == [1, 2, 3])
        #expect(failed.value)
        #expect(!channel.isActive)
    }
}
