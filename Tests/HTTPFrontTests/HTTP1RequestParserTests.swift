import NIOCore
import NIOHTTP1
import Testing

@testable import HTTPFront

/// What a parser made of some input: the events in order, and the error it stopped with.
private struct Parsed {
    var heads: [HTTP1RequestHead] = []
    var framings: [HTTP1RequestParser.Framing] = []
    var facts: [RequestFacts] = []
    var bodies: [String] = []
    var ends = 0
    var error: HTTP1ParseError?
    /// Bytes left unconsumed.
    var rest = 0
}

/// Feeds `pieces` one after another (as separate reads) and parses everything it can.
private func parse(_ pieces: [[UInt8]], maxHeaderSize: Int = 16384, maxFieldCount: Int = 256) -> Parsed {
    var parser = HTTP1RequestParser(maxHeaderSize: maxHeaderSize, maxFieldCount: maxFieldCount)
    var result = Parsed()
    var buffer = ByteBuffer()
    var body = ""
    for piece in pieces {
        buffer.writeBytes(piece)
        do {
            while let event = try parser.next(&buffer) {
                switch event {
                case .head(let head, let framing, let facts):
                    result.heads.append(head)
                    result.framings.append(framing)
                    result.facts.append(facts)
                case .body(let chunk): body += String(buffer: chunk)
                case .end:
                    result.ends += 1
                    result.bodies.append(body)
                    body = ""
                }
            }
        } catch {
            result.error = error
            break
        }
    }
    result.rest = buffer.readableBytes
    return result
}

private func parse(_ text: String, maxHeaderSize: Int = 16384, maxFieldCount: Int = 256) -> Parsed {
    parse([Array(text.utf8)], maxHeaderSize: maxHeaderSize, maxFieldCount: maxFieldCount)
}

extension HTTP1RequestHead {
    /// NIO's head for the same request, its fields as Strings: the oracle the facts and the
    /// field reading are checked against.
    var nio: HTTPRequestHead { HTTPRequestHead(version: version, method: method, uri: uri, headers: fields.httpHeaders) }
}

@Suite("HTTP/1.1 request parser")
struct HTTP1RequestParserTests {
    @Test func simpleGet() {
        let parsed = parse("GET /a?b=1 HTTP/1.1\r\nHost: example\r\nAccept:  */*  \r\n\r\n")
        #expect(parsed.error == nil)
        #expect(parsed.heads.count == 1 && parsed.ends == 1 && parsed.rest == 0)
        let head = parsed.heads[0]
        #expect(head.method == .GET && head.uri == "/a?b=1" && head.version == .http1_1)
        #expect(head.nio.headers.first(name: "host") == "example")
        #expect(head.nio.headers.first(name: "accept") == "*/*")
        #expect(parsed.framings == [.none])
    }

    /// Fields are read from the head's bytes when asked: names and values as sent (values
    /// without the whitespace around them), in order, repeated ones included.
    @Test func fieldsAreReadFromTheHeadsBytes() {
        let text = "GET / HTTP/1.1\r\nHost:h\r\nX-Empty:\r\nIf-None-Match: \t\"a\", W/\"b\" \t\r\n"
            + "REFERER: http://x/\r\nhost: second\r\nX-Bytes: caf\u{e9}\r\n\r\nGET /next HTTP/1.1\r\n\r\n"
        let parsed = parse(text)
        #expect(parsed.error == nil && parsed.heads.count == 2)
        let fields = parsed.heads[0].fields
        #expect(fields.count == 6)
        #expect(fields.pairs.map { "\($0.0)=\($0.1)" } == [
            "Host=h", "X-Empty=", "If-None-Match=\"a\", W/\"b\"", "REFERER=http://x/", "host=second", "X-Bytes=caf\u{e9}",
        ])
        #expect(fields.first(name: "host") == "h")
        #expect(fields.first(name: "referer") == "http://x/")
        #expect(fields.first(name: "x-empty") == "")
        #expect(fields.first(name: "user-agent") == nil)
        // A copy in storage of its own reads the same.
        let detached = fields.detached()
        #expect(detached.pairs.map(\.1) == fields.pairs.map(\.1) && detached.count == 6)
        // No fields at all (the request line is the head's last line).
        #expect(parsed.heads[1].fields.count == 0 && parsed.heads[1].fields.pairs.isEmpty)
        #expect(parsed.heads[1].uri == "/next")
    }

    @Test func methodsAndVersions() {
        let head = parse("HEAD / HTTP/1.0\r\n\r\n").heads.first
        #expect(head?.method == .HEAD && head?.version == .http1_0)
        #expect(parse("PATCH / HTTP/1.1\r\nHost: h\r\n\r\n").heads.first?.method == .PATCH)
        #expect(parse("BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n").heads.first?.method == .RAW(value: "BREW"))
        #expect(parse("GET / HTTP/2.0\r\n\r\n").error?.status == 400)
        #expect(parse("GET / HTTP/0.9\r\n\r\n").error?.status == 400)
        #expect(parse("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").error?.status == 400)
        #expect(parse("GET / HTTP/1.10\r\n\r\n").error?.status == 400)
        #expect(parse("GET / http/1.1\r\n\r\n").error?.status == 400)
    }

    @Test func contentLengthBody() {
        let parsed = parse("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(parsed.error == nil)
        #expect(parsed.framings == [.length(5), .none])
        #expect(parsed.bodies == ["hello", ""])
    }

    @Test func chunkedBodyWithExtensionsAndTrailers() {
        let parsed = parse(
            "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "3;name=value\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: yes\r\n\r\n")
        #expect(parsed.error == nil)
        #expect(parsed.framings == [.chunked])
        #expect(parsed.bodies == ["abc0123456789"])
        #expect(parsed.rest == 0)
    }

    @Test func byteByByteGivesTheSameResult() {
        let text = "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\n"
            + "\r\nGET /next HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok"
        let parsed = parse(text.utf8.map { [$0] })
        #expect(parsed.error == nil)
        #expect(parsed.heads.map(\.uri) == ["/p", "/next"])
        #expect(parsed.bodies == ["wxyz", "ok"])
    }

    @Test func stopsAfterEachRequestsEnd() throws {
        // The caller decides when the next request starts: after `.end`, only the bytes of
        // the first request are consumed.
        var parser = HTTP1RequestParser(maxHeaderSize: 1024)
        var buffer = ByteBuffer(string: "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
        guard case .head(let head, _, _) = try parser.next(&buffer) else { Issue.record("no head"); return }
        #expect(head.uri == "/1")
        guard case .end = try parser.next(&buffer) else { Issue.record("no end"); return }
        #expect(parser.expectsHead)
        #expect(buffer.readableBytes == 28)
    }

    static let smuggling: [(String, String)] = [
        ("CL and TE", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("TE and CL", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
        ("two CL", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
        ("same CL twice", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
        ("CL list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello"),
        ("CL sign", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello"),
        ("CL hex", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\nhello"),
        ("CL huge", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n"),
        ("TE not last chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n"),
        ("TE chunked twice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("space before colon", "GET / HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\n\r\nhello"),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  folded\r\n\r\n"),
        ("obs-fold tab", "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\tTransfer-Encoding: chunked\r\n\r\n"),
        ("bare CR in value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\rX-B: 2\r\n\r\n"),
        ("bare LF", "GET / HTTP/1.1\nHost: h\n\n"),
        ("bare LF in fields", "GET / HTTP/1.1\r\nHost: h\nX-A: 1\r\n\r\n"),
        ("NUL in value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\u{0}b\r\n\r\n"),
        ("control in name", "GET / HTTP/1.1\r\nHost: h\r\nX\u{1}: y\r\n\r\n"),
        ("space in name", "GET / HTTP/1.1\r\nHost: h\r\nBad Header: y\r\n\r\n"),
        ("empty name", "GET / HTTP/1.1\r\nHost: h\r\n: y\r\n\r\n"),
        ("no colon", "GET / HTTP/1.1\r\nHost: h\r\nnocolon\r\n\r\n"),
        ("space in target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("control in target", "GET /a\u{7f}b HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("no version", "GET /\r\nHost: h\r\n\r\n"),
        ("two spaces", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("bad method", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n"),
        ("invalid chunk size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
        ("chunk size overflow", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n"),
        ("chunk without CRLF", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n"),
        ("chunk size bare LF", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n"),
        ("negative chunk", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n"),
        ("bad trailer", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n"),
    ]

    @Test(arguments: smuggling)
    func malformedIsRejectedWith400(_ name: String, _ text: String) {
        let parsed = parse(text)
        #expect(parsed.error?.status == 400, "\(name): \(String(describing: parsed.error)), heads \(parsed.heads.count)")
    }

    /// The facts noted while parsing say what NIO's HTTPHeaders say of the same fields.
    @Test(arguments: [
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, keep-alive\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nconnection: TE ,\tCLOSE \r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHOST: b\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive,upgrade\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx",
        "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue-ish\r\nContent-Length: 1\r\n\r\nx",
        "POST / HTTP/1.1\r\nHost: a\r\nExpect: \r\nContent-Length: 1\r\n\r\nx",
    ])
    func factsAgreeWithTheHeaders(_ text: String) throws {
        let parsed = parse(text)
        let head = try #require(parsed.heads.first)
        let facts = try #require(parsed.facts.first)
        #expect(facts.hostCount == head.nio.headers[canonicalForm: "host"].count)
        #expect(facts.isKeepAlive(head.version) == head.nio.isKeepAlive)
        let asksToUpgrade = head.nio.headers.contains(name: "upgrade")
            && head.nio.headers[canonicalForm: "connection"].contains { $0.lowercased() == "upgrade" }
        #expect(facts.asksToUpgrade == asksToUpgrade)
        let expect = head.nio.headers.first(name: "expect")
        let expected: RequestFacts.Expectation =
            expect == nil ? .none : expect!.lowercased() == "100-continue" ? .continue100 : .other
        #expect(facts.expect == expected)
    }

    @Test func unknownTransferCodingIs501() {
        #expect(parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").error?.status == 501)
    }

    @Test func limits() {
        let longTarget = "GET /" + String(repeating: "a", count: 2000) + " HTTP/1.1\r\nHost: h\r\n\r\n"
        #expect(parse(longTarget, maxHeaderSize: 1024).error?.status == 414)
        // Still arriving, with no line end yet: refused before the rest is buffered.
        #expect(parse("GET /" + String(repeating: "a", count: 2000), maxHeaderSize: 1024).error?.status == 414)
        let bigField = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + String(repeating: "a", count: 2000) + "\r\n\r\n"
        #expect(parse(bigField, maxHeaderSize: 1024).error?.status == 431)
        #expect(parse("GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + String(repeating: "a", count: 2000), maxHeaderSize: 1024).error?.status == 431)
        let many = "GET / HTTP/1.1\r\n" + (0..<20).map { "X-\($0): v\r\n" }.joined() + "\r\n"
        #expect(parse(many, maxFieldCount: 10).error?.status == 431)
        #expect(parse(many, maxFieldCount: 20).error == nil)
        let underLimit = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + String(repeating: "a", count: 900) + "\r\n\r\n"
        #expect(parse(underLimit, maxHeaderSize: 1024).error == nil)
    }

    @Test func leadingEmptyLinesAreIgnored() {
        let parsed = parse("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(parsed.error == nil && parsed.heads.count == 1)
    }

    @Test func nothingAfterAnError() {
        var parser = HTTP1RequestParser(maxHeaderSize: 1024)
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\nBad Header: x\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(throws: HTTP1ParseError.self) { _ = try parser.next(&buffer) }
        #expect((try? parser.next(&buffer)).flatMap { $0 } == nil)
    }

    /// Random and mutated requests: the parser never crashes or loops, and either parses or
    /// stops with a 4xx/5xx status; a body never runs past its framing.
    @Test func fuzzNeverCrashes() {
        var generator = SystemRandomNumberGenerator()
        let seeds: [String] = [
            "GET /static/app.css HTTP/1.1\r\nHost: example.com\r\nIf-None-Match: \"abc\"\r\nRange: bytes=0-10\r\n\r\n",
            "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\nhello world",
            "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n",
            "HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
        ]
        let alphabet: [UInt8] = Array("\r\n :;,\t\0\u{7f}0123456789abcdefABCDEF-/?%.HTTPGETchunkedContent-Length".utf8) + [0x80, 0xff]
        var parsedCount = 0
        for round in 0..<4000 {
            var bytes: [UInt8]
            if round % 5 == 4 {
                bytes = (0..<Int.random(in: 0..<300, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            } else {
                bytes = Array(seeds.randomElement(using: &generator)!.utf8)
                for _ in 0..<Int.random(in: 1...6, using: &generator) {
                    let position = Int.random(in: 0..<bytes.count, using: &generator)
                    switch Int.random(in: 0..<4, using: &generator) {
                    case 0: bytes[position] = alphabet.randomElement(using: &generator)!
                    case 1: bytes.remove(at: position)
                    case 2: bytes.insert(alphabet.randomElement(using: &generator)!, at: position)
                    default:
                        let end = min(bytes.count, position + Int.random(in: 1...20, using: &generator))
                        bytes.insert(contentsOf: bytes[position..<end], at: position)
                    }
                    if bytes.isEmpty { bytes = [0x47] }
                }
            }
            // Split at a random point, as two reads.
            let cut = Int.random(in: 0...bytes.count, using: &generator)
            let parsed = parse([Array(bytes[..<cut]), Array(bytes[cut...])], maxHeaderSize: 256)
            if let error = parsed.error {
                #expect([400, 414, 431, 501].contains(error.status), "\(error) for \(bytes)")
            } else {
                parsedCount += parsed.heads.count
                #expect(parsed.ends <= parsed.heads.count)
            }
        }
        #expect(parsedCount > 0)
    }
}

@Suite("tchar, the bytes of a token")
struct TokenByteTests {
    /// The masks against RFC 9110 §5.6.2's definition, written out, for every byte.
    @Test func everyByteIsClassedAsTheRFCSays() {
        let specials = Set("!#$%&'*+-.^_`|~".utf8)
        for value in 0...255 {
            let byte = UInt8(value)
            let expected = (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte)
                || (0x61...0x7A).contains(byte) || specials.contains(byte)
            #expect(HTTP1Head.isTokenByte(byte) == expected, "byte \(value)")
        }
    }
}
