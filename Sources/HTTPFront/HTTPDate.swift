#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

/// IMF-fixdate (RFC 9110 §5.6.7) and the access log's time, cached per second and per
/// thread (each event loop formats its own once a second; no lock per response).
enum HTTPDate {
    private final class Cache: @unchecked Sendable {  // one per thread
        var imfSecond = -1
        var imf = ""
        /// `Date: <imf>\r\n`, for HTTP/1 heads.
        var fieldLine = ByteBuffer()
        var logSecond = -1
        var log = ""
    }
    private static let caches = ThreadSpecificVariable<Cache>()

    private static var cache: Cache {
        if let cache = caches.currentValue { return cache }
        let cache = Cache()
        caches.currentValue = cache
        return cache
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT` for now.
    static func now() -> String { current().imf }

    /// `Date: <now>\r\n`, the field line HTTP/1 heads end with.
    static func fieldLine() -> ByteBuffer { current().fieldLine }

    /// This thread's cache, its IMF-fixdate forms renewed when the second changed.
    private static func current() -> Cache {
        let second = time(nil)
        let cache = self.cache
        if cache.imfSecond != second {
            cache.imfSecond = second
            cache.imf = format(second, "%a, %d %b %Y %H:%M:%S GMT")
            cache.fieldLine.clear()
            cache.fieldLine.writeStaticString("Date: ")
            cache.fieldLine.writeString(cache.imf)
            cache.fieldLine.writeStaticString("\r\n")
        }
        return cache
    }

    /// `06/Nov/1994:08:49:37 +0000` for now, as nginx's `$time_local` in UTC.
    static func logNow() -> String {
        let second = time(nil)
        let cache = self.cache
        if cache.logSecond != second {
            cache.logSecond = second
            cache.log = format(second, "%d/%b/%Y:%H:%M:%S +0000")
        }
        return cache.log
    }

    /// Formats a Unix time in UTC.
    static func format(_ seconds: Int, _ pattern: String) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        var buffer = [Int8](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, pattern, &parts)
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// IMF-fixdate for a Unix time.
    static func imf(_ seconds: Int) -> String { format(seconds, "%a, %d %b %Y %H:%M:%S GMT") }

    /// Parses IMF-fixdate (the only form senders may generate); nil otherwise.
    static func parse(_ text: String) -> Int? {
        // "Sun, 06 Nov 1994 08:49:37 GMT": fixed positions.
        let bytes = Array(text.utf8)
        guard bytes.count == 29, bytes[3] == UInt8(ascii: ","), text.hasSuffix(" GMT") else { return nil }
        func number(_ range: Range<Int>) -> Int32? {
            Int32(String(decoding: bytes[range], as: UTF8.self))
        }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let day = number(5..<7), let year = number(12..<16), let hour = number(17..<19),
            let minute = number(20..<22), let second = number(23..<25),
            let month = months.firstIndex(of: String(decoding: bytes[8..<11], as: UTF8.self))
        else { return nil }
        var parts = tm()
        parts.tm_mday = day
        parts.tm_mon = Int32(month)
        parts.tm_year = year - 1900
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        return Int(timegm(&parts))
    }
}
