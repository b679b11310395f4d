import LinuxSystem
import NIOCore

/// A whole request body read before the upstream is contacted (`buffer_request`): in
/// memory up to a bound, then in an unlinked temporary file (O_TMPFILE: nothing to clean
/// up, whatever happens). Sent upstream with a Content-Length; the file with sendfile.
final class RequestBuffer {
    private let memoryLimit: Int
    private let directory: String
    private var memory: ByteBuffer?
    private(set) var fd: Int32 = -1
    private(set) var count: Int64 = 0

    init(memoryLimit: Int, directory: String) {
        self.memoryLimit = memoryLimit
        self.directory = directory
    }

    deinit {
        if fd >= 0 { Descriptors.close(fd) }
    }

    func append(_ chunk: ByteBuffer) throws(SystemError) {
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
        if fd < 0 {
            fd = try Descriptors.openUnlinkedTemporary(in: directory)
            if let held = memory {
                memory = nil
                try writeToFile(held)
            }
        }
        try writeToFile(chunk)
    }

    private func writeToFile(_ chunk: ByteBuffer) throws(SystemError) {
        let result: Result<Void, SystemError> = chunk.withUnsafeReadableBytes { bytes in
            Result { () throws(SystemError) in try Descriptors.write(fd, bytes, object: "request buffer in \(directory)") }
        }
        try result.get()
    }

    /// The body as one part to write upstream, and the file handle to close once it is
    /// written; call once per attempt (a retry sends it again).
    func body() -> (IOData, NIOFileHandle?)? {
        if fd >= 0 {
            // A duplicate per attempt: the region's handle is closed after its write.
            // sendfile reads at explicit offsets, so sharing the file position is harmless.
            guard let copy = try? Descriptors.duplicate(fd) else { return nil }
            let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: copy)
            return (.fileRegion(FileRegion(fileHandle: handle, readerIndex: 0, endIndex: Int(count))), handle)
        }
        return memory.map { (.byteBuffer($0), nil) }
    }
}
