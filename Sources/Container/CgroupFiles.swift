import LinuxSystem

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A cgroup setup problem that is not one failed call: a missing mount, a refused layout.
public struct CgroupError: Error, CustomStringConvertible, Equatable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// The few file calls cgroups need, each through `retryingSyscall` so a failure names the
/// call and the file: `write(/sys/fs/cgroup/memory/.../memory.limit_in_bytes): EINVAL`.
enum CgroupFiles {
    /// The whole of a small file (cgroup and /proc files are read in one go).
    static func read(_ path: String) throws(SystemError) -> String {
        let fd = try retryingSyscall("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { _ = close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = try retryingSyscall("read", path) {
                chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            }
            if count == 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The file's text, or nil when it does not exist (an optional controller file).
    static func readIfPresent(_ path: String) throws(SystemError) -> String? {
        do {
            return try read(path)
        } catch where error.errno == ENOENT {
            return nil
        }
    }

    /// Writes `text` in one `write`: cgroupfs parses each write on its own, so a value must
    /// never be split. The file must exist (no O_CREAT: a typo must not make a plain file).
    static func write(_ path: String, _ text: String) throws(SystemError) {
        let fd = try retryingSyscall("open", path) { open(path, O_WRONLY | O_CLOEXEC) }
        defer { _ = close(fd) }
        var bytes = Array(text.utf8)
        let written = try retryingSyscall("write", path) {
            bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        }
        if written != bytes.count {
            throw SystemError(call: "write", object: "\(path): \(written) of \(bytes.count) bytes", errno: EIO)
        }
    }

    /// Creates a directory; returns false when it already existed.
    @discardableResult
    static func makeDirectory(_ path: String, allowExisting: Bool) throws(SystemError) -> Bool {
        do {
            _ = try retryingSyscall("mkdir", path) { mkdir(path, 0o755) }
            return true
        } catch where allowExisting && error.errno == EEXIST {
            return false
        }
    }

    /// Removes a cgroup directory. A cgroup stays busy for a moment after its last process
    /// was reaped (the kernel frees the task asynchronously), so EBUSY is retried for up to
    /// `patience` seconds. A directory already gone is not an error.
    static func removeDirectory(_ path: String, patience: Double = 2) throws(SystemError) {
        let deadline = monotonicSeconds() + patience
        while true {
            do {
                _ = try retryingSyscall("rmdir", path) { rmdir(path) }
                return
            } catch where error.errno == ENOENT {
                return
            } catch where error.errno == EBUSY && monotonicSeconds() < deadline {
                usleep(10_000)
            }
        }
    }

    /// A read-only, close-on-exec descriptor of a directory.
    static func openDirectory(_ path: String) throws(SystemError) -> Int32 {
        try retryingSyscall("open", path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// `key value` lines (memory.events, memory.oom_control, pids.events) as a dictionary.
    static func keyedCounters(_ text: String) -> [String: Int] {
        var result: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = Int(parts[1]) { result[String(parts[0])] = value }
        }
        return result
    }

    /// A single integer file (memory.failcnt, pids.max); nil when absent or not a number.
    static func integer(_ path: String) throws(SystemError) -> Int? {
        guard let text = try readIfPresent(path) else { return nil }
        return Int(text.trimmingWhitespace())
    }

    private static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return String(self[first...last])
    }
}
