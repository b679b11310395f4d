import NIOCore

/// One frame of the worker protocol (docs/worker-protocol.md): an 8-byte header —
/// payload length (u32), type, flags, lane (u16), big-endian — then the payload. The lane
/// is 0 except for a threaded worker's requests (docs/worker-protocol.md, "Threads").
public struct WorkerFrame: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        // gateway → worker
        case request = 0x01
        case body = 0x02
        case bodyEnd = 0x03
        case reclaim = 0x04
        /// The worker's end of its file socket, attached (SCM_RIGHTS); the first frame sent.
        case fileSocket = 0x05
        case ping = 0x10
        case stop = 0x11
        // worker → gateway
        case ready = 0x20
        case bootError = 0x21
        case responseStart = 0x22
        case responseBody = 0x23
        case responseEnd = 0x24
        case appError = 0x25
        case pong = 0x26
        case skipped = 0x27
        /// The body is a file region: offset (u64), length (u64); the descriptor waits on
        /// the worker's file socket.
        case responseFile = 0x29
    }

    /// REQUEST: BODY frames follow.
    public static let hasBody: UInt8 = 0x01
    /// BODY_END: the client went away before the body ended.
    public static let aborted: UInt8 = 0x01

    public static let headerSize = 8
    public static let maxPayload = 1 << 24

    public var kind: Kind
    public var flags: UInt8
    /// The thread of a threaded worker the frame is for or from.
    public var lane: UInt16
    public var payload: ByteBuffer

    public init(kind: Kind, flags: UInt8 = 0, lane: UInt16 = 0, payload: ByteBuffer = ByteBuffer()) {
        self.kind = kind
        self.flags = flags
        self.lane = lane
        self.payload = payload
    }

    /// Appends a frame header for a payload of `length` bytes.
    @inlinable
    public static func writeHeader(_ kind: Kind, flags: UInt8 = 0, lane: UInt16 = 0, length: Int, to buffer: inout ByteBuffer) {
        buffer.writeMultipleIntegers(UInt32(length), kind.rawValue, flags, lane)
    }

    /// Appends the whole frame.
    public func write(to buffer: inout ByteBuffer) {
        Self.writeHeader(kind, flags: flags, lane: lane, length: payload.readableBytes, to: &buffer)
        var copy = payload
        buffer.writeBuffer(&copy)
    }
}

/// The stream from a worker was not a valid sequence of frames.
public struct WorkerProtocolError: Error, CustomStringConvertible {
    public let description: String
}

/// Splits the byte stream from a worker into frames.
public struct WorkerFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = WorkerFrame

    public init() {}

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let (length, type, flags, lane) = buffer.getMultipleIntegers(
            at: buffer.readerIndex, as: (UInt32, UInt8, UInt8, UInt16).self)
        else { return .needMoreData }
        guard Int(length) <= WorkerFrame.maxPayload else {
            throw WorkerProtocolError(description: "frame of \(length) bytes exceeds the 16 MiB limit")
        }
        guard let kind = WorkerFrame.Kind(rawValue: type) else {
            throw WorkerProtocolError(description: "unknown frame type 0x\(String(type, radix: 16))")
        }
        guard buffer.readableBytes >= WorkerFrame.headerSize + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: WorkerFrame.headerSize)
        let payload = buffer.readSlice(length: Int(length))!
        context.fireChannelRead(wrapInboundOut(WorkerFrame(kind: kind, flags: flags, lane: lane, payload: payload)))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// Reading and writing NUL-separated pair blocks (environ, response headers).
public enum PairBlock {
    /// Appends `key\0value\0`.
    @inlinable
    public static func append(_ key: String, _ value: String, to buffer: inout ByteBuffer) {
        buffer.writeString(key)
        buffer.writeInteger(UInt8(0))
        buffer.writeString(value)
        buffer.writeInteger(UInt8(0))
    }

    /// Splits a block into its NUL-terminated strings, decoded as latin-1.
    public static func strings(in buffer: ByteBuffer) -> [String] {
        buffer.readableBytesView.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { bytes in
            bytes.withContiguousStorageIfAvailable { latin1($0) } ?? Array(bytes).withUnsafeBufferPointer { latin1($0) }
        }
    }

    /// A RESPONSE_START block read in one pass: the status line (three digits, a space, the
    /// reason), then names and values. nil when it is malformed: no status digits, or a
    /// name without its value. Bytes after the last NUL are ignored, as in `strings(in:)`.
    public static func responseHead(in buffer: ByteBuffer) -> (status: Int, reason: String, headers: [(name: String, value: String)])? {
        buffer.withUnsafeReadableBytes { raw -> (status: Int, reason: String, headers: [(name: String, value: String)])? in
            let bytes = raw.bindMemory(to: UInt8.self)
            var status = -1
            var reason = ""
            var headers: [(name: String, value: String)] = []
            var name = ""
            var field = 0
            var start = 0
            for index in bytes.indices where bytes[index] == 0 {
                let text = UnsafeBufferPointer(rebasing: bytes[start..<index])
                if field == 0 {
                    guard text.count >= 3 else { return nil }
                    status = 0
                    for digit in text.prefix(3) {
                        guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { return nil }
                        status = status * 10 + Int(digit - UInt8(ascii: "0"))
                    }
                    reason = text.count > 4 ? latin1(UnsafeBufferPointer(rebasing: text[(text.startIndex + 4)...])) : ""
                    headers.reserveCapacity(8)
                } else if field % 2 == 1 {
                    name = latin1(text)
                } else {
                    headers.append((name, latin1(text)))
                }
                field += 1
                start = index + 1
            }
            guard status >= 0, field % 2 == 1 else { return nil }
            return (status, reason, headers)
        }
    }

    /// Latin-1: each byte is the code point of the same value.
    @inline(__always)
    static func latin1(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }
}
