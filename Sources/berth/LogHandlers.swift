import BerthConfig
import Foundation
import LinuxSystem
import Logging

/// berth's log on standard error, one `write` per record so records from several threads
/// never interleave.
///
/// `text`: `TIME LEVEL message key=value ...` on one line; a multi-line field (a Python
/// traceback, a worker's stack) follows on indented lines, so the whole record stays
/// together and a reader sees where it ends.
/// `json`: one JSON object per line — `time`, `level`, `message` and the metadata as string
/// fields; a multi-line field stays in its string.
struct BerthLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info
    let format: LogFormat

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (key, value) in metadata { fields[key] = "\(value)" }
        for (key, value) in event.metadata ?? [:] { fields[key] = "\(value)" }
        let time = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
        Descriptors.writeAll(2, Self.render(time: time, level: event.level, message: "\(event.message)", fields: fields, format: format))
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
            var line = "\(time) \(level.rawValue) \(message)"
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
