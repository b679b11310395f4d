import BerthConfig
import Foundation
import HTTPFront
import LinuxSystem
import Logging

/// berth's own log (the error log: standard error, or `error_log`'s file, reopened on
/// SIGUSR1), one `write` per record so records from several threads never interleave.
///
/// `text`: `TIME [level] message key=value ...` on one line (nginx's error-log shape); a multi-line field (a Python
/// traceback, a worker's stack) follows on indented lines, so the whole record stays
/// together and a reader sees where it ends.
/// `json`: one JSON object per line — `time`, `level`, `message` and the metadata as string
/// fields; a multi-line field stays in its string.
struct BerthLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info
    let format: LogFormat
    let destination: LogFile

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (key, value) in metadata { fields[key] = "\(value)" }
        for (key, value) in event.metadata ?? [:] { fields[key] = "\(value)" }
        let time = HTTPFront.AccessLog.isoNow()
        destination.write(Self.render(time: time, level: event.level, message: "\(event.message)", fields: fields, format: format))
    }

    static func render(time: String, level: Logger.Level, message: String, fields: [String: String], format: LogFormat) -> String {
        switch format {
        case .json:
            var object = fields
            object["time"] = time
            object["level"] = level.rawValue
            object["message"] = message
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            return String(decoding: data, as: UTF8.self) + "\n"
        case .text:
            var line = "\(time) [\(level.rawValue)] \(message)"
            var blocks = ""
            for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
                if value.contains("\n") {
                    let trimmed = value.reversed().drop(while: \.isNewline).reversed()
                    blocks += "  \(key):\n" + String(trimmed).split(separator: "\n", omittingEmptySubsequences: false)
                        .map { "    " + $0 }.joined(separator: "\n")
                    if !blocks.hasSuffix("\n") { blocks += "\n" }
                } else {
                    line += " \(key)=\(value)"
                }
            }
            return line + "\n" + blocks
        }
    }
}

extension BerthLogHandler {
    /// berth's logger for `settings`: its format, destination and level (`error_log_level`;
    /// `BERTH_LOG_LEVEL` in the environment wins).
    static func logger(_ settings: ServerSettings, destination: LogFile) -> Logger {
        let configured: Logger.Level =
            switch settings.errorLogLevel {
            case .debug: .debug
            case .info: .info
            case .notice: .notice
            case .warning: .warning
            case .error: .error
            case .critical: .critical
            }
        let level = ProcessInfo.processInfo.environment["BERTH_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? configured
        let format = settings.logFormat
        return Logger(label: "berth") { _ in BerthLogHandler(logLevel: level, format: format, destination: destination) }
    }
}
