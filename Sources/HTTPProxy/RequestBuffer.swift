import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A whole request body read before the upstream is contacted (`buffer_request`): in
/// memory up to a bound, then in an unlinked temporary file (O_TMPFILE: nothing to clean
/// up, whatever happens). Sent upstream with a Content-Length; the file with sendfile.
final class RequestBuffer {
    private let memoryLimit: Int
    private let directory: String
    private var memory: ByteBuffer?
    private(set) var fd: Int32 = -1
    private(set) var count: Int64 = 0

    struct WriteFailed: Error, CustomStringConvertible {
        var description: String
    }

    init(memoryLimit: Int, directory: String) {
        self.memoryLimit = memoryLimit
        self.directory = directory
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    func append(_ chunk: ByteBuffer) throws {
        count += Int64(chunk.readableBytes)
        if fd < 0 && count <= memoryLimit {
            if memory == nil {
                memory = chunk
            } else {
                var chunk = chunk
                memory!.writeBuffer(&chunk)
            }
            return
        }
        if fd < 0 { try spill() }
        try writeToFile(chunk)
    }

    private func spill() throws {
        // O_TMPFILE is __O_TMPFILE | O_DIRECTORY; Glibc's Swift overlay lacks the macro.
        let tmpfile: Int32 = 0o20_000_000 | O_DIRECTORY
        fd = open(directory, tmpfile | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw WriteFailed(description: "open(O_TMPFILE) in \(directory): \(String(cString: strerror(errno)))")
        }
        if let held = memory {
            memory = nil
            try writeToFile(held)
        }
    }

    private func writeToFile(_ chunk: ByteBuffer) throws {
        try chunk.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw WriteFailed(description: "write to the request buffer in \(directory): \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }
    }

    /// The body as one part to write upstream, and the file handle to close once it is
    /// written; call once per attempt (a retry sends it again).
    func body() -> (IOData, NIOFileHandle?)? {
        if fd >= 0 {
            // A duplicate per attempt: the region's handle is closed after its write.
            // sendfile reads at explicit offsets, so sharing the file position is harmless.
            let copy = dup(fd)
            guard copy >= 0 else { return nil }
            let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: copy)
            return (.fileRegion(FileRegion(fileHandle: handle, readerIndex: 0, endIndex: Int(count))), handle)
        }
        return memory.map { (.byteBuffer($0), nil) }
    }
}
