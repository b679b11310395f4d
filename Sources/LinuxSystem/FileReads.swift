#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Descriptors {
    /// Reads up to `count` bytes of `fd` at `offset` into `buffer` (pread), retrying EINTR.
    /// Returns the bytes read; 0 at the end of the file.
    public static func readAt(
        _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, object: String? = nil
    ) throws(SystemError) -> Int {
        try retryingSyscall("pread", object) { pread(fd, buffer.baseAddress, buffer.count, off_t(offset)) }
    }
}
