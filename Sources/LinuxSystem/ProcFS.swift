#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reading other processes' facts from /proc: their resident memory, their pid in their own
/// namespace, and a descriptor of theirs.
public enum ProcFS {
    /// Resident set size of `pid` in bytes (`/proc/PID/statm`), or nil once it is gone.
    public static func residentBytes(_ pid: pid_t) -> Int? {
        guard let text = readSmallFile("/proc/\(pid)/statm") else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// The host pid of the process that sees itself as `innerPID` and is `pid` itself or a
    /// child of it. A containerised worker runs under a small init (the pid berth started),
    /// in a pid namespace where it has another number. nil when no such process is found.
    public static func hostPID(of innerPID: pid_t, at pid: pid_t) -> pid_t? {
        if innerPID == pid || innermostPID(of: pid) == innerPID { return pid }
        guard let directory = opendir("/proc") else { return nil }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let candidate = pid_t(name), let status = readSmallFile("/proc/\(candidate)/status") else { continue }
            var parent: pid_t?
            var inner: pid_t?
            for line in status.split(separator: "\n") {
                if line.hasPrefix("PPid:") {
                    parent = pid_t(line.dropFirst(5).trimmingCharacters(in: " \t"))
                } else if line.hasPrefix("NSpid:") {
                    // Outermost namespace first, the process's own last.
                    inner = line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).last.flatMap { pid_t($0) }
                }
            }
            if parent == pid && inner == innerPID { return candidate }
        }
        return nil
    }

    /// The host pid of `parent`'s child that sees itself as `innerPID`, read from the
    /// parent's `children` list (a forked worker, reparented to its container's init, whose
    /// number inside the container is all the zygote could tell). nil when there is none.
    public static func childHostPID(of innerPID: pid_t, parent: pid_t) -> pid_t? {
        children(of: parent).first { innermostPID(of: $0) == innerPID }
    }

    /// The pids of `parent`'s children (its main thread's, as listed by /proc).
    public static func children(of parent: pid_t) -> [pid_t] {
        guard let children = readSmallFile("/proc/\(parent)/task/\(parent)/children") else { return [] }
        return children.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { pid_t($0) }
    }

    /// The pid `pid` has in its own (innermost) pid namespace: the last NSpid field.
    static func innermostPID(of pid: pid_t) -> pid_t? {
        guard let status = readSmallFile("/proc/\(pid)/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("NSpid:") {
            return line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).last.flatMap { pid_t($0) }
        }
        return nil
    }

    /// Opens descriptor `fd` of process `pid` anew (`/proc/PID/fd/FD`): for a pipe, another
    /// reader of the same pipe. Needs ptrace read access to the process (root, or its owner).
    public static func openDescriptor(_ fd: Int32, of pid: pid_t, flags: Int32) throws(SystemError) -> Int32 {
        let path = "/proc/\(pid)/fd/\(fd)"
        return try retryingSyscall("open", path) { open(path, flags | O_CLOEXEC) }
    }

    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> Substring {
        var s = self
        while let first = s.first, set.contains(first) { s = s.dropFirst() }
        while let last = s.last, set.contains(last) { s = s.dropLast() }
        return s
    }
}
