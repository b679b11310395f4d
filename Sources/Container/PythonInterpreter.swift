import Foundation
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// Finds the Python interpreter to exec for workers.
///
/// An explicit path is used as given (absolute, symlinks kept: a venv's `bin/python` is a
/// symlink and Python finds `pyvenv.cfg` next to it). A path that is a script — a pyenv
/// shim, say — is resolved to the real interpreter by asking it for `sys.executable`.
public enum PythonInterpreter {
    public struct NotFound: Error, CustomStringConvertible {
        public let description: String
    }

    /// The interpreter for an app in `appDirectory`: `explicit` if given, else
    /// `$VIRTUAL_ENV/bin/python`, else a `.venv/bin/python` in the app directory or one of
    /// its parents, else `python3` from PATH.
    public static func resolve(explicit: String?, appDirectory: String) throws -> String {
        let fm = FileManager.default
        if let explicit {
            let path = absolute(explicit)
            guard fm.isExecutableFile(atPath: path) else {
                throw NotFound(description: "python: \(path) is not an executable file")
            }
            return try realInterpreter(path)
        }
        if let venv = ProcessInfo.processInfo.environment["VIRTUAL_ENV"], !venv.isEmpty {
            let path = venv + "/bin/python"
            if fm.isExecutableFile(atPath: path) { return path }
        }
        var dir = URL(fileURLWithPath: absolute(appDirectory)).standardizedFileURL
        while true {
            let candidate = dir.appendingPathComponent(".venv/bin/python").path
            if fm.isExecutableFile(atPath: candidate) { return candidate }
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { break }
            dir = parent
        }
        for entry in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(entry)/python3"
            if fm.isExecutableFile(atPath: path) { return try realInterpreter(path) }
        }
        throw NotFound(description: "python: no interpreter found (set `python` in the config or pass --python)")
    }

    /// `path` itself when it is a binary (or a symlink to one); for a script, the
    /// interpreter it ends up running.
    static func realInterpreter(_ path: String) throws -> String {
        guard let magic = try? firstBytes(of: path, count: 2), magic == Array("#!".utf8) else { return path }
        let (status, output) = try Processes.output(of: path, arguments: [path, "-c", "import sys; print(sys.executable)"])
        let real = String(decoding: output, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        guard status == .exited(0), real.hasPrefix("/") else {
            throw NotFound(description: "python: \(path) is a script and did not report sys.executable")
        }
        return real
    }

    /// Up to `count` bytes from the start of the file at `path`.
    private static func firstBytes(of path: String, count: Int) throws(SystemError) -> [UInt8] {
        let fd = try Files.openAt(AT_FDCWD, path, flags: O_RDONLY | O_CLOEXEC)
        defer { Descriptors.close(fd) }
        return try Descriptors.readSome(fd, limit: count)
    }

    /// Where an interpreter's files live: what a container must mount for it to run.
    public struct Facts: Sendable {
        /// sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix and the
        /// directory of the real executable, without duplicates.
        public var paths: [String]
    }

    /// Asks the interpreter itself (a venv's prefix differs from its base prefix).
    public static func facts(_ python: String) throws -> Facts {
        let (status, output) = try Processes.output(of: python, arguments: [
            python, "-c",
            "import os, sys; print('\\n'.join([sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, os.path.dirname(os.path.realpath(sys.executable))]))",
        ])
        guard status == .exited(0) else {
            throw NotFound(description: "python: \(python) could not report its prefixes (\(status))")
        }
        var paths: [String] = []
        for line in String(decoding: output, as: UTF8.self).split(separator: "\n") where !paths.contains(String(line)) {
            paths.append(String(line))
        }
        return Facts(paths: paths)
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}
