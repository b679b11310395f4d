import Foundation

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
        guard let handle = FileHandle(forReadingAtPath: path) else { return path }
        defer { try? handle.close() }
        let magic = (try? handle.read(upToCount: 2)) ?? Data()
        guard magic == Data("#!".utf8) else { return path }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-c", "import sys; print(sys.executable)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let real = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0, real.hasPrefix("/") else {
            throw NotFound(description: "python: \(path) is a script and did not report sys.executable")
        }
        return real
    }

    /// Where an interpreter's files live: what a container must mount for it to run.
    public struct Facts: Sendable {
        /// sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix and the
        /// directory of the real executable, without duplicates.
        public var paths: [String]
    }

    /// Asks the interpreter itself (a venv's prefix differs from its base prefix).
    public static func facts(_ python: String) throws -> Facts {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            "-c",
            "import os, sys; print('\\n'.join([sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, os.path.dirname(os.path.realpath(sys.executable))]))",
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw NotFound(description: "python: \(python) could not report its prefixes")
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
