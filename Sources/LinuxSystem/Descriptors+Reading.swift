#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Descriptors {
    /// Waits up to `milliseconds` for `fd` to become readable (or hung up); false on timeout.
    public static func waitReadable(_ fd: Int32, milliseconds: Int32) throws(SystemError) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return try retryingSyscall("poll", "fd \(fd)") { poll(&entry, 1, milliseconds) } > 0
    }

    /// Reads what is available from a non-blocking `fd`, up to `limit` bytes; empty when
    /// nothing is (EAGAIN) or at end of file.
    public static func readAvailable(_ fd: Int32, limit: Int) throws(SystemError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: limit)
        let n: Int
        do {
            n = try retryingSyscall("read", "fd \(fd)") { buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, limit) } }
        } catch {
            if error.errno == EAGAIN { return [] }
            throw error
        }
        return Array(buffer[0..<n])
    }
}
