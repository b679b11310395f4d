#if canImport(Glibc)
import Glibc
#endif

/// Unbuffered writes to stdout/stderr, so lines reach a pipe at once (tests read them).
enum FileHandleWriter {
    static func write(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
        bytes.removeAll()
    }
}

/// Prints a line for the user on standard output, at once.
func say(_ text: String) {
    FileHandleWriter.write(1, text + "\n")
}
