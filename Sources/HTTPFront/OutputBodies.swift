#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore

/// App body chunks an HTTP/1 connection's output holds by reference instead of copying them
/// into its output buffer (those over `smallBody`). Each goes after the buffer's bytes
/// before its index, so the output is, in order,
/// `buffer[reader..<at₀]`, body₀, `buffer[at₀..<at₁]`, body₁, …, `buffer[atₙ..<writer]` —
/// a chunked body's size line before a chunk and its CRLF after it included. Direct output
/// sends all of it with one `sendmsg`; NIO gets the same pieces as separate writes.
///
/// The indices are the buffer's own (its writer index when the body came), so they hold
/// while the buffer's reader index moves; the buffer is cleared only once both are handed
/// over.
struct OutputBodies {
    private(set) var entries: [(at: Int, bytes: ByteBuffer)] = []

    /// At most this many bodies wait for one flush: one `sendmsg` takes 2 × this + 1 iovecs
    /// (the kernel's limit is 1024), on the stack.
    static let limit = 32

    var isEmpty: Bool { entries.isEmpty }
    var count: Int { entries.count }

    /// Places `bytes` (not empty) after the buffer's bytes before `index`: the buffer's
    /// writer index now.
    mutating func append(_ bytes: ByteBuffer, at index: Int) {
        precondition(bytes.readableBytes > 0 && (entries.last.map { $0.at <= index } ?? true))
        entries.append((index, bytes))
    }

    mutating func removeAll() {
        entries.removeAll(keepingCapacity: true)
    }

    /// The output in order: slices of `buffer` and the bodies, empty pieces left out.
    func pieces(of buffer: ByteBuffer) -> [ByteBuffer] {
        var pieces: [ByteBuffer] = []
        pieces.reserveCapacity(2 * entries.count + 1)
        var position = buffer.readerIndex
        for (at, bytes) in entries {
            if at > position { pieces.append(buffer.getSlice(at: position, length: at - position)!) }
            pieces.append(bytes)
            position = at
        }
        if buffer.writerIndex > position {
            pieces.append(buffer.getSlice(at: position, length: buffer.writerIndex - position)!)
        }
        return pieces
    }

    /// Drops the first `count` bytes of the output (what the socket took): `buffer`'s reader
    /// index and the bodies' move past them, and bodies sent whole are let go.
    mutating func consume(_ count: Int, of buffer: inout ByteBuffer) {
        var left = count
        var done = 0
        for index in entries.indices {
            let before = entries[index].at - buffer.readerIndex
            if left < before {
                buffer.moveReaderIndex(forwardBy: left)
                left = 0
                break
            }
            buffer.moveReaderIndex(to: entries[index].at)
            left -= before
            let size = entries[index].bytes.readableBytes
            if left < size {
                entries[index].bytes.moveReaderIndex(forwardBy: left)
                left = 0
                break
            }
            left -= size
            done += 1
        }
        entries.removeFirst(done)
        precondition(left <= buffer.readableBytes, "consumed more than the output holds")
        buffer.moveReaderIndex(forwardBy: left)
    }

    /// Calls `body` with an iovec for each non-empty piece of the output, in order. The
    /// pointers are valid only inside `body`.
    func withIOVectors(of buffer: ByteBuffer, _ body: (UnsafeBufferPointer<iovec>) -> Int) -> Int {
        buffer.withUnsafeReadableBytes { gathered in
            withUnsafeTemporaryAllocation(of: iovec.self, capacity: 2 * entries.count + 1) { vectors in
                fill(vectors, count: 0, entry: 0, gathered: gathered, from: buffer.readerIndex,
                     position: buffer.readerIndex, body)
            }
        }
    }

    /// Adds the buffer's bytes before entry `entry` and the entry's body, then recurses to
    /// the next one inside the body's `withUnsafeReadableBytes` (which keeps its pointer
    /// valid); the last step adds the buffer's tail and calls `body`.
    private func fill(
        _ vectors: UnsafeMutableBufferPointer<iovec>, count: Int, entry: Int, gathered: UnsafeRawBufferPointer,
        from readerIndex: Int, position: Int, _ body: (UnsafeBufferPointer<iovec>) -> Int
    ) -> Int {
        var count = count
        let end = entry < entries.count ? entries[entry].at : readerIndex + gathered.count
        if end > position {
            vectors[count] = iovec(
                iov_base: UnsafeMutableRawPointer(mutating: gathered.baseAddress! + (position - readerIndex)),
                iov_len: end - position)
            count += 1
        }
        guard entry < entries.count else {
            return body(UnsafeBufferPointer(rebasing: vectors[..<count]))
        }
        return entries[entry].bytes.withUnsafeReadableBytes { piece in
            vectors[count] = iovec(iov_base: UnsafeMutableRawPointer(mutating: piece.baseAddress!), iov_len: piece.count)
            return fill(vectors, count: count + 1, entry: entry + 1, gathered: gathered, from: readerIndex,
                        position: end, body)
        }
    }
}
