import Foundation
import Testing

@testable import BerthConfig

/// Parses TOML as if it were /srv/site/berth.toml.
func parse(_ toml: String, mode: Mode = .serve, base: String = "/srv/site") throws(ConfigErrors) -> BerthConfig {
    try BerthConfig.parse(toml: toml, baseDirectory: base, mode: mode, sourceName: "berth.toml")
}

/// The error lines parsing `toml` gives; empty when it parses.
func errorLines(_ toml: String, mode: Mode = .serve) -> [String] {
    do {
        _ = try parse(toml, mode: mode)
        return []
    } catch {
        return error.errors.map(\.description)
    }
}

/// The error lines `body` throws, or empty.
func errorLines(_ body: () throws -> Void) -> [String] {
    do {
        try body()
        return []
    } catch let error as ConfigErrors {
        return error.errors.map(\.description)
    } catch {
        return ["unexpected error: \(error)"]
    }
}

/// A fresh temporary directory, removed when the value is deinitialised.
final class TemporaryDirectory {
    let path: String

    init() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("berth-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Creates a directory (and its parents) below the temporary directory.
    @discardableResult
    func directory(_ relative: String) throws -> String {
        let full = "\(path)/\(relative)"
        try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
        return full
    }

    /// Writes a file below the temporary directory, creating its parents.
    @discardableResult
    func file(_ relative: String, _ contents: String = "", executable: Bool = false) throws -> String {
        let full = "\(path)/\(relative)"
        try directory((relative as NSString).deletingLastPathComponent)
        try contents.write(toFile: full, atomically: true, encoding: .utf8)
        if executable {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: full)
        }
        return full
    }
}

/// The repository root, found from this file's path.
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            return url.path
        }
    }
    fatalError("no Package.swift above \(#filePath)")
}()
