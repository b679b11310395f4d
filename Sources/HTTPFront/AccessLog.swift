#if canImport(Glibc)
import Glibc
#endif
import LinuxSystem
import NIOConcurrencyHelpers

/// One line per request in nginx's "combined" format, followed by the request time in
/// seconds and berth's request id:
/// `127.0.0.1 - - [29/Nov/2026:05:00:00 +0000] "GET / HTTP/1.1" 200 13 "-" "curl/8.0" 0.001 r1f`
/// — or one JSON object per line (`AccessLog+JSON.swift`).
public final class AccessLog: Sendable {
    /// How each line is written.
    public enum Format: String, Sendable {
        case combined
        case json
    }

    /// Where lines go; reopened on SIGUSR1 for log rotation.
    public let destination: LogFile
    let format: Format

    /// Logs to standard output.
    public static func standardOutput(format: Format = .combined) -> AccessLog {
        AccessLog(destination: .standardOutput, format: format)
    }

    /// Appends to the file at `path`, creating it if needed.
    public static func file(_ path: String, format: Format = .combined) throws -> AccessLog {
        do {
            return AccessLog(destination: try LogFile(path: path), format: format)
        } catch {
            throw AccessLogError(description: "access_log: cannot open \(path): \(error)")
        }
    }

    public init(destination: LogFile, format: Format) {
        self.destination = destination
        self.format = format
    }

    /// Reopens a log file (after logrotate renamed it).
    public func reopen() throws {
        try destination.reopen()
    }

    struct Entry {
        var remote: String
        var method: String
        var uri: String
        var version: String
        var status: Int
        var bytes: Int64
        var referer: String?
        var userAgent: String?
        var host: String? = nil
        var seconds: Double
        var requestID: String
    }

    func write(_ e: Entry) {
        if format == .json { return writeJSON(e) }
        // Milliseconds as nginx's $request_time prints them: 0.001
        let millis = Int((e.seconds * 1000).rounded())
        let seconds = "\(millis / 1000).\(String(millis % 1000).leftPadded(to: 3))"
        var line = "\(e.remote) - - [\(HTTPDate.logNow())] \"\(escape(e.method)) \(escape(e.uri)) \(e.version)\" "
        line += "\(e.status) \(e.bytes) \"\(escape(e.referer ?? "-"))\" \"\(escape(e.userAgent ?? "-"))\" \(seconds) \(e.requestID)\n"
        destination.write(line)
    }

    /// Escapes `"`, `\` and control bytes like nginx's `\xHH`, so a line stays one line.
    private func escape(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5c || $0 >= 0x7f }) else { return text }
        var out = ""
        for byte in text.utf8 {
            if byte < 0x20 || byte == 0x22 || byte == 0x5c || byte >= 0x7f {
                out += "\\x" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            } else {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return out
    }
}

struct AccessLogError: Error, CustomStringConvertible {
    let description: String
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
