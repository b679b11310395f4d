import HTTP2
import NIOCore
import Testing

/// Hand-made HTTP/2 frames for what a well-behaved client library refuses to send
/// (malformed heads, floods), and a reader for what the server sent back.
enum RawFrames {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    enum Kind: UInt8 {
        case data = 0, headers = 1, priority = 2, rstStream = 3, settings = 4, pushPromise = 5, ping = 6
        case goaway = 7, windowUpdate = 8, continuation = 9
    }

    static let endStream: UInt8 = 0x1
    static let endHeaders: UInt8 = 0x4
    static let ack: UInt8 = 0x1

    static func frame(_ type: UInt8, flags: UInt8 = 0, stream: UInt32 = 0, _ payload: [UInt8] = []) -> [UInt8] {
        let length = payload.count
        return [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), type, flags]
            + be32(stream & 0x7fff_ffff) + payload
    }

    static func frame(_ kind: Kind, flags: UInt8 = 0, stream: UInt32 = 0, _ payload: [UInt8] = []) -> [UInt8] {
        frame(kind.rawValue, flags: flags, stream: stream, payload)
    }

    static func be32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24 & 0xff), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    /// An HPACK block of literal fields without indexing and without Huffman coding
    /// (RFC 7541 §6.2.2), lengths below 127.
    static func hpack(_ fields: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = []
        for (name, value) in fields {
            out.append(0x00)
            out.append(UInt8(name.utf8.count))
            out += name.utf8
            out.append(UInt8(value.utf8.count))
            out += value.utf8
        }
        return out
    }

    static func headers(stream: UInt32, _ fields: [(String, String)], endStream: Bool = true) -> [UInt8] {
        frame(.headers, flags: endHeaders | (endStream ? self.endStream : 0), stream: stream, hpack(fields))
    }

    static func get(stream: UInt32, path: String = "/") -> [UInt8] {
        headers(stream: stream, [(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", path)])
    }

    static func rst(stream: UInt32, code: UInt32 = 8) -> [UInt8] {
        frame(.rstStream, stream: stream, be32(code))
    }

    /// The client's opening: preface and an empty SETTINGS frame.
    static var opening: [UInt8] { preface + frame(.settings) }

    struct Frame {
        var type: UInt8
        var flags: UInt8
        var stream: UInt32
        var payload: [UInt8]

        /// The error code of RST_STREAM or GOAWAY.
        var errorCode: UInt32? {
            switch type {
            case Kind.rstStream.rawValue where payload.count >= 4: return u32(payload, 0)
            case Kind.goaway.rawValue where payload.count >= 8: return u32(payload, 4)
            default: return nil
            }
        }
    }

    static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
    }

    /// Splits a server's output into frames; nil if it is not a whole number of well-formed frames.
    static func parse(_ bytes: [UInt8]) -> [Frame]? {
        var frames: [Frame] = []
        var at = 0
        while at < bytes.count {
            guard bytes.count - at >= 9 else { return nil }
            let length = Int(bytes[at]) << 16 | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2])
            guard bytes.count - at - 9 >= length else { return nil }
            frames.append(Frame(
                type: bytes[at + 3], flags: bytes[at + 4], stream: u32(bytes, at + 5) & 0x7fff_ffff,
                payload: Array(bytes[(at + 9)..<(at + 9 + length)])))
            at += 9 + length
        }
        return frames
    }
}

extension ByteBuffer {
    var bytes: [UInt8] { Array(readableBytesView) }
}

/// What `session` has to send, as frames; fails the test if it has nothing or it is not frames.
func framesOut(_ session: HTTP2Session) throws -> [RawFrames.Frame] {
    let out = try #require(try session.output())
    return try #require(RawFrames.parse(out.bytes))
}
