import Foundation
import LinuxSystem
import Testing

@testable import HTTPFront

@Suite("Access log formats and reopening")
struct AccessLogTests {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("berth-access-\(UUID().uuidString).log").path

    func entry(uri: String, agent: String?) -> AccessLog.Entry {
        AccessLog.Entry(
            remote: "10.0.0.1", method: "GET", uri: uri, version: "HTTP/1.1", status: 200, bytes: 42,
            referer: nil, userAgent: agent, host: "h.test", seconds: 0.0123456, requestID: "abc-1")
    }

    @Test func jsonLinesParseBackWithEscapes() throws {
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = try AccessLog.file(path, format: .json)
        log.write(entry(uri: "/a\"b\\c\u{1}\u{7f}é", agent: "line\nbreak\ttab"))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasSuffix("}\n") && text.filter { $0 == "\n" }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["uri"] as? String == "/a\"b\\c\u{1}\u{7f}é")
        #expect(object["user_agent"] as? String == "line\nbreak\ttab")
        #expect(object["referer"] is NSNull)
        #expect(object["status"] as? Int == 200 && object["bytes"] as? Int == 42)
        #expect(object["request_time"] as? Double == 0.012346)
        #expect(object["host"] as? String == "h.test")
    }

    @Test func reopenStartsAFreshFile() throws {
        let rotated = path + ".1"
        defer {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: rotated)
        }
        let log = try AccessLog.file(path)
        log.write(entry(uri: "/before", agent: nil))
        try FileManager.default.moveItem(atPath: path, toPath: rotated)
        log.write(entry(uri: "/between", agent: nil))  // still the renamed file: nothing lost
        try log.reopen()
        log.write(entry(uri: "/after", agent: nil))
        let old = try String(contentsOfFile: rotated, encoding: .utf8)
        let new = try String(contentsOfFile: path, encoding: .utf8)
        #expect(old.contains("\"GET /before HTTP/1.1\"") && old.contains("/between") && !old.contains("/after"))
        #expect(new.contains("\"GET /after HTTP/1.1\" 200 42 \"-\" \"-\" 0.012 abc-1") && !new.contains("/before"))
    }
}
