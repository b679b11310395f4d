#if canImport(Glibc)
import Glibc
#endif

/// The JSON access log: one object per line, for log shippers.
/// `{"time":"2026-11-29T05:00:00.123Z","remote":"127.0.0.1","method":"GET","uri":"/",...}`
extension AccessLog {
    func writeJSON(_ e: Entry) {
        var line = "{\"time\":\"\(Self.isoNow())\",\"remote\":"
        Self.appendJSON(e.remote, to: &line)
        line += ",\"method\":"
        Self.appendJSON(e.method, to: &line)
        line += ",\"uri\":"
        Self.appendJSON(e.uri, to: &line)
        line += ",\"protocol\":\"\(e.version)\",\"status\":\(e.status),\"bytes\":\(e.bytes)"
        line += ",\"host\":"
        Self.appendJSON(e.host, to: &line)
        line += ",\"referer\":"
        Self.appendJSON(e.referer, to: &line)
        line += ",\"user_agent\":"
        Self.appendJSON(e.userAgent, to: &line)
        let micros = Int((e.seconds * 1_000_000).rounded())
        line += ",\"request_time\":\(micros / 1_000_000).\(String(micros % 1_000_000).leftPadded(to: 6))"
        line += ",\"request_id\":\"\(e.requestID)\"}\n"
        destination.write(line)
    }

    /// A JSON string (or null), escaped per RFC 8259 §7.
    static func appendJSON(_ text: String?, to out: inout String) {
        guard let text else {
            out += "null"
            return
        }
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f:
                out += "\\u" + String(scalar.value, radix: 16).leftPadded(to: 4)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    /// UTC now as ISO 8601 with milliseconds (`2026-11-29T05:00:00.123Z`): the access log's
    /// and berth's own log's time. libc's gmtime_r, not Foundation's ISO 8601 format style,
    /// whose calendar, locale and time-zone caches (and ICU behind them) were start-up pages.
    public static func isoNow() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var parts = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { String(n).leftPadded(to: 2) }
        let millis = String(now.tv_nsec / 1_000_000).leftPadded(to: 3)
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(millis)Z"
    }
}
