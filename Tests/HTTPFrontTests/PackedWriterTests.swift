import AppExchange
import NIOCore
import Testing

@testable import HTTPFront

@Suite("Packed writes and byte-level field helpers")
struct PackedWriterTests {
    @Test func writesEveryKindOfPieceInOrder() {
        var buffer = ByteBuffer(string: "head:")
        let long = String(repeating: "é", count: 40)  // 80 bytes, not ASCII
        buffer.writePacked(capacity: 200) { out in
            out.write("static ")
            out.write("small")
            out.write(byte: UInt8(ascii: " "))
            out.write(long)
            out.write(Substring("--sub--").dropFirst(2).dropLast(2))
            out.write(decimal: 0)
            out.write(byte: UInt8(ascii: ","))
            out.write(decimal: 65535)
            out.write(byte: UInt8(ascii: ","))
            out.write(decimal: -42)
            out.write(byte: UInt8(ascii: ","))
            out.write(decimal: Int.max)
            [UInt8(0), 1].withUnsafeBytes { out.write($0) }
        }
        #expect(String(buffer: buffer) == "head:static small " + long + "sub0,65535,-42,\(Int.max)\u{0}\u{1}")
    }

    @Test func nothingForAnEmptyCapacity() {
        var buffer = ByteBuffer()
        buffer.writePacked(capacity: 0) { _ in }
        #expect(buffer.readableBytes == 0)
    }

    @Test func hostNamesLoseTheirPort() {
        #expect(FrontFields.hostName("example.com:8080") == "example.com")
        #expect(FrontFields.hostName("example.com") == "example.com")
        #expect(FrontFields.hostName("[::1]:8000") == "[::1]")
        #expect(FrontFields.hostName("[::1]") == "[::1]")
        #expect(FrontFields.hostName("") == "")
        #expect(FrontFields.hostName("bücher.example:80") == "bücher.example")
    }

    @Test func hopByHopFieldsInAnyCase() {
        for name in ["Connection", "keep-alive", "Proxy-Connection", "TRANSFER-ENCODING", "Upgrade", "te", "Trailer"] {
            #expect(FrontFields.isHopByHop(name), "\(name)")
        }
        for name in ["Content-Length", "Content-Type", "Trailers", "t", "Connections", "X-Upgrade", "Set-Cookie"] {
            #expect(!FrontFields.isHopByHop(name), "\(name)")
        }
    }
}
