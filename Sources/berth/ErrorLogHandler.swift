import BerthConfig
import Foundation
import LinuxSystem
import Logging

/// The error log: one line per message, `2026-11-29T07:50:00.123Z [error] message key=value`,
/// to standard error or a file reopened on SIGUSR1.
struct ErrorLogHandler: LogHandler {
    let destination: LogFile
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = "\(Self.timestamp()) [\(event.level)] \(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
        destination.write(line + "\n")
    }

    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var parts = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
            parts.tm_hour, parts.tm_min, parts.tm_sec, Int32(now.tv_nsec / 1_000_000))
    }

    /// berth's logger for `settings`: the level from `BERTH_LOG_LEVEL` when set, else the config's.
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
        return Logger(label: "berth") { _ in ErrorLogHandler(destination: destination, logLevel: level) }
    }
}
