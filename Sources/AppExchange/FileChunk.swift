#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import LinuxSystem
import NIOCore

/// Reading a file's bytes a chunk at a time into ByteBuffers, for bodies that cannot leave
/// with sendfile: a FileRegion under TLS (`FileRegionReader`) and a static file's DATA
/// frames over HTTP/2.
public enum FileChunk {
    /// The most one read takes: 64 KiB, a few TLS records or HTTP/2 frames, and little
    /// memory per slow client.
    public static let size = 64 * 1024

    /// The next chunk of the file at `fd`: at most `size` and at most `remaining` bytes read
    /// at `offset` (one pread; it may return fewer). Throws the read's error, or EIO when the
    /// file ends before `offset`: it shrank since its length was taken, and what was promised
    /// cannot be sent. `object` names the file in the error.
    public static func read(
        _ fd: Int32, at offset: Int64, remaining: Int64, object: String, allocator: ByteBufferAllocator
    ) throws(SystemError) -> ByteBuffer {
        let want = Int(min(Int64(size), remaining))
        var buffer = allocator.buffer(capacity: want)
        var failure: SystemError?
        let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { raw in
            do throws(SystemError) {
                return try Descriptors.readAt(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[..<want]), at: offset, object: object)
            } catch {
                failure = error
                return 0
            }
        }
        if let failure { throw failure }
        guard count > 0 else { throw SystemError(call: "pread", object: object, errno: EIO) }
        return buffer
    }
}
