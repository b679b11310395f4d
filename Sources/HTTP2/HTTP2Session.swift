import CNGHTTP2
import NIOCore

/// One HTTP/2 connection's protocol state: the only owner of an `nghttp2_session*`.
///
/// Feed it what the peer sent (`receive`), act on what it reports (`takeEvents`), submit
/// responses and their bodies, and write what `output` returns. One event loop uses it; it
/// is not thread-safe. nghttp2's callbacks reach this object through the session's
/// user-data pointer, unretained: this object owns the session and frees it in `deinit`.
///
/// Flow control is explicit both ways. Received body bytes hold the windows open only
/// until `consume` says the consumer took them, so a slow consumer slows the client
/// instead of growing a buffer. Outgoing bodies are pulled by nghttp2's data provider from
/// a per-stream queue only as the peer's windows allow; `sendBody` reports when a queue is
/// full and a `.writable` event when it has drained.
public final class HTTP2Session {
    public enum Role: Sendable { case server, client }

    /// A failure nghttp2 reports as fatal: the connection cannot continue.
    public struct Failure: Error, CustomStringConvertible {
        public let call: String
        public let code: Int
        public var description: String { "\(call): \(String(cString: nghttp2_strerror(Int32(code))))" }
    }

    public let role: Role
    public let settings: HTTP2Settings
    private var session: OpaquePointer?
    private var events: [HTTP2Event] = []
    private let allocator = ByteBufferAllocator()
    /// Header fields being collected, per stream, until the block's last frame.
    private var incoming: [Int32: HeaderBlock] = [:]
    /// Bodies waiting for the data provider, per stream.
    private var outgoing: [Int32: OutgoingBody] = [:]
    /// Body bytes delivered but not yet consumed, per stream.
    private var unconsumed: [Int32: Int] = [:]
    /// Unconsumed bytes of streams that closed: still owed to the connection window.
    private var orphanedBytes = 0
    private var resets: ResetRateLimiter
    /// Set when the peer passed the reset limit; the session ends after this read.
    private var calmDown = false
    private var terminated = false

    public init(role: Role, settings: HTTP2Settings = HTTP2Settings()) throws(Failure) {
        self.role = role
        self.settings = settings
        resets = ResetRateLimiter(limit: settings.maxResets, windowSeconds: settings.resetWindow)

        var callbacks: OpaquePointer?
        try Self.check("nghttp2_session_callbacks_new", Int(nghttp2_session_callbacks_new(&callbacks)))
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, user in
            HTTP2Session.from(user).beginHeaders(frame!.pointee)
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, user in
            HTTP2Session.from(user).header(
                frame!.pointee.hd.stream_id, UnsafeBufferPointer(start: name, count: nameLength),
                UnsafeBufferPointer(start: value, count: valueLength))
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, user in
            HTTP2Session.from(user).frameReceived(frame!.pointee)
        }
        nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(callbacks) { _, _, _, user in
            HTTP2Session.from(user).noteReset()
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, data, length, user in
            HTTP2Session.from(user).dataReceived(streamID, UnsafeRawBufferPointer(start: data, count: length))
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, errorCode, user in
            HTTP2Session.from(user).streamClosed(streamID, HTTP2ErrorCode(rawValue: errorCode))
        }

        var option: OpaquePointer?
        try Self.check("nghttp2_option_new", Int(nghttp2_option_new(&option)))
        defer { nghttp2_option_del(option) }
        // Window updates only for bytes the consumer took (see `consume`).
        nghttp2_option_set_no_auto_window_update(option, 1)
        // No priority tree: closed streams need not be kept (RFC 9113 deprecates it).
        nghttp2_option_set_no_closed_streams(option, 1)
        // Floods of SETTINGS entries, of frames that force an ACK (PING, SETTINGS), and of
        // CONTINUATION frames end the session (CVE-2019-9512/9515, CVE-2024-28182).
        nghttp2_option_set_max_settings(option, 32)
        nghttp2_option_set_max_outbound_ack(option, 1000)
        nghttp2_option_set_max_continuations(option, 8)
        // nghttp2's own reset limiter stays as a backstop well above berth's (which answers
        // ENHANCE_YOUR_CALM, where nghttp2's says INTERNAL_ERROR).
        let perSecond = UInt64(Double(settings.maxResets) / max(settings.resetWindow, 0.001))
        nghttp2_option_set_stream_reset_rate_limit(option, UInt64(settings.maxResets) * 2 + 1000, perSecond * 2 + 33)

        let user = Unmanaged.passUnretained(self).toOpaque()
        let created = role == .server
            ? nghttp2_session_server_new2(&session, callbacks, user, option)
            : nghttp2_session_client_new2(&session, callbacks, user, option)
        try Self.check(role == .server ? "nghttp2_session_server_new2" : "nghttp2_session_client_new2", Int(created))

        var entries = [
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
                value: UInt32(clamping: settings.maxConcurrentStreams)),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
                value: UInt32(clamping: settings.initialWindowSize)),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
                value: UInt32(clamping: settings.maxHeaderListSize)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES.rawValue), value: 1),
        ]
        if role == .client {
            entries.append(nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0))
        }
        try Self.check(
            "nghttp2_submit_settings",
            Int(nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count)))
        try Self.check(
            "nghttp2_session_set_local_window_size",
            Int(nghttp2_session_set_local_window_size(
                session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(clamping: settings.connectionWindowSize))))
    }

    deinit {
        nghttp2_session_del(session)
    }

    private static func from(_ user: UnsafeMutableRawPointer?) -> HTTP2Session {
        Unmanaged<HTTP2Session>.fromOpaque(user!).takeUnretainedValue()
    }

    private static func check(_ call: String, _ result: Int) throws(Failure) {
        if result < 0 { throw Failure(call: call, code: result) }
    }

    // MARK: - Driving the session

    /// Processes bytes the peer sent; events go to `takeEvents()`. Protocol errors the
    /// peer made are answered by the session itself (RST_STREAM or GOAWAY, then
    /// `wantsRead`/`wantsWrite` turn false); a thrown failure means the connection must close.
    public func receive(_ buffer: ByteBuffer) throws(Failure) {
        let result = buffer.withUnsafeReadableBytes { raw in
            nghttp2_session_mem_recv(session, raw.baseAddress?.assumingMemoryBound(to: UInt8.self), raw.count)
        }
        try Self.check("nghttp2_session_mem_recv", result)
        settle()
    }

    /// The frames ready to go out, up to about `maxBytes` in one buffer; nil when none.
    public func output(maxBytes: Int = 1 << 20) throws(Failure) -> ByteBuffer? {
        var buffer: ByteBuffer?
        while (buffer?.readableBytes ?? 0) < maxBytes {
            var data: UnsafePointer<UInt8>?
            let length = nghttp2_session_mem_send(session, &data)
            try Self.check("nghttp2_session_mem_send", length)
            guard length > 0, let data else { break }
            if buffer == nil { buffer = allocator.buffer(capacity: max(length, 4096)) }
            buffer!.writeBytes(UnsafeRawBufferPointer(start: data, count: length))
        }
        settle()
        return buffer
    }

    /// The events since the last call, in order.
    public func takeEvents() -> [HTTP2Event] {
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }

    public var hasEvents: Bool { !events.isEmpty }

    /// Per-stream records kept (header blocks, send queues, unconsumed counts): for tests
    /// that check closed and refused streams leave nothing behind.
    var trackedStreams: Int { incoming.count + outgoing.count + unconsumed.count }

    /// False once the session will read nothing more (after GOAWAY with no streams left, or a
    /// connection error).
    public var wantsRead: Bool { nghttp2_session_want_read(session) != 0 }

    /// True while frames are waiting to be produced by `output`.
    public var wantsWrite: Bool { nghttp2_session_want_write(session) != 0 }

    /// Work the callbacks could not do inside nghttp2's own calls.
    private func settle() {
        if orphanedBytes > 0 {
            nghttp2_session_consume_connection(session, orphanedBytes)
            orphanedBytes = 0
        }
        if calmDown && !terminated {
            terminate(.enhanceYourCalm)
        }
    }

    // MARK: - Flow control of received bodies

    /// The consumer took `count` body bytes of `streamID`: the client may send as many more.
    public func consume(streamID: Int32, count: Int) {
        guard count > 0, let pending = unconsumed[streamID] else { return }
        let taken = min(count, pending)
        unconsumed[streamID] = pending - taken
        nghttp2_session_consume(session, streamID, taken)
    }

    // MARK: - Sending

    /// Submits a response head; with `hasBody`, its body follows through `sendBody` and
    /// `endBody`, otherwise the stream ends with the head.
    public func submitResponse(
        streamID: Int32, status: Int, headers: [(name: String, value: String)], hasBody: Bool
    ) throws(Failure) {
        var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: Self.readCallback)
        if hasBody { outgoing[streamID] = OutgoingBody() }
        let result = Self.withFields([(":status", String(status))] + headers) { fields, count in
            hasBody
                ? nghttp2_submit_response(session, streamID, fields, count, &provider)
                : nghttp2_submit_response(session, streamID, fields, count, nil)
        }
        if result < 0 { outgoing[streamID] = nil }
        try Self.check("nghttp2_submit_response", Int(result))
    }

    /// Client role: submits a request; returns its stream id. With `hasBody`, the body
    /// follows through `sendBody` and `endBody`.
    public func submitRequest(
        method: String, scheme: String = "http", authority: String, path: String,
        headers: [(name: String, value: String)] = [], hasBody: Bool
    ) throws(Failure) -> Int32 {
        var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: Self.readCallback)
        let fields = [(":method", method), (":scheme", scheme), (":authority", authority), (":path", path)] + headers
        let streamID = Self.withFields(fields) { fields, count in
            hasBody
                ? nghttp2_submit_request(session, nil, fields, count, &provider, nil)
                : nghttp2_submit_request(session, nil, fields, count, nil, nil)
        }
        try Self.check("nghttp2_submit_request", Int(streamID))
        if hasBody { outgoing[streamID] = OutgoingBody() }
        return streamID
    }

    /// Queues body bytes for `streamID`. Returns false when the queue is at its limit: the
    /// producer should pause until a `.writable` event for the stream.
    @discardableResult
    public func sendBody(streamID: Int32, _ chunk: ByteBuffer) -> Bool {
        guard let body = outgoing[streamID], !body.ended else { return true }
        if chunk.readableBytes > 0 {
            body.chunks.append(chunk)
            body.queued += chunk.readableBytes
            resumeIfDeferred(streamID, body)
        }
        if body.queued >= settings.streamSendBuffer {
            body.paused = true
            return false
        }
        return true
    }

    /// Ends the body of `streamID`, with trailer fields if any.
    public func endBody(streamID: Int32, trailers: [(name: String, value: String)] = []) {
        guard let body = outgoing[streamID], !body.ended else { return }
        body.ended = true
        body.trailers = trailers
        resumeIfDeferred(streamID, body)
    }

    /// Body bytes of `streamID` queued and not yet taken by nghttp2.
    public func queuedBytes(streamID: Int32) -> Int {
        outgoing[streamID]?.queued ?? 0
    }

    private func resumeIfDeferred(_ streamID: Int32, _ body: OutgoingBody) {
        guard body.deferred else { return }
        body.deferred = false
        nghttp2_session_resume_data(session, streamID)
    }

    /// Resets one stream (RST_STREAM).
    public func resetStream(streamID: Int32, _ code: HTTP2ErrorCode) {
        outgoing[streamID] = nil
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, code.rawValue)
    }

    /// Graceful shutdown: GOAWAY naming the last stream berth took; those finish, no new
    /// ones start, and `wantsRead` turns false once they are done.
    public func goAway() {
        let last = nghttp2_session_get_last_proc_stream_id(session)
        nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), last, HTTP2ErrorCode.noError.rawValue, nil, 0)
    }

    /// Ends the session with a connection error: GOAWAY with `code`, nothing more is read.
    public func terminate(_ code: HTTP2ErrorCode) {
        terminated = true
        nghttp2_session_terminate_session(session, code.rawValue)
    }

    /// Sends a PING (client role, and tests).
    public func ping() {
        nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil)
    }

    // MARK: - Callbacks (called by nghttp2 inside receive/output)

    private func beginHeaders(_ frame: nghttp2_frame) -> Int32 {
        guard frame.hd.type == UInt8(NGHTTP2_HEADERS.rawValue) else { return 0 }
        incoming[frame.hd.stream_id] = HeaderBlock()
        return 0
    }

    private func header(_ streamID: Int32, _ name: UnsafeBufferPointer<UInt8>, _ value: UnsafeBufferPointer<UInt8>) -> Int32 {
        incoming[streamID]?.add(name, value, limit: settings.maxHeaderListSize)
        return 0
    }

    private func frameReceived(_ frame: nghttp2_frame) -> Int32 {
        let streamID = frame.hd.stream_id
        let endStream = frame.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        switch UInt32(frame.hd.type) {
        case NGHTTP2_HEADERS.rawValue:
            guard let block = incoming.removeValue(forKey: streamID) else { break }
            switch frame.headers.cat {
            case NGHTTP2_HCAT_REQUEST:
                // Past the reset limit: take no new work; the session ends after this read.
                if calmDown { break }
                events.append(
                    block.tooLarge
                        ? .headersTooLarge(streamID: streamID)
                        : .request(streamID: streamID, head: block.requestHead, endStream: endStream))
            case NGHTTP2_HCAT_RESPONSE:
                events.append(.response(streamID: streamID, status: block.status, headers: block.regularFields, endStream: endStream))
            case NGHTTP2_HCAT_HEADERS:
                if endStream { events.append(.end(streamID: streamID, trailers: block.tooLarge ? [] : block.regularFields)) }
            default:
                break
            }
        case NGHTTP2_DATA.rawValue:
            if endStream { events.append(.end(streamID: streamID, trailers: [])) }
        case NGHTTP2_RST_STREAM.rawValue:
            events.append(.reset(streamID: streamID, HTTP2ErrorCode(rawValue: frame.rst_stream.error_code)))
            noteReset()
        case NGHTTP2_PING.rawValue:
            if frame.hd.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0 { events.append(.ping) }
        case NGHTTP2_GOAWAY.rawValue:
            events.append(.goaway(lastStreamID: frame.goaway.last_stream_id, HTTP2ErrorCode(rawValue: frame.goaway.error_code)))
        default:
            break
        }
        return 0
    }

    /// A reset the peer caused: its RST_STREAM, or a stream nghttp2 refused as malformed.
    private func noteReset() {
        guard role == .server, !calmDown else { return }
        if resets.record() { calmDown = true }
    }

    private func dataReceived(_ streamID: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
        unconsumed[streamID, default: 0] += bytes.count
        events.append(.data(streamID: streamID, allocator.buffer(bytes: bytes)))
        return 0
    }

    private func streamClosed(_ streamID: Int32, _ code: HTTP2ErrorCode) -> Int32 {
        incoming[streamID] = nil
        outgoing[streamID] = nil
        if let pending = unconsumed.removeValue(forKey: streamID) { orphanedBytes += pending }
        events.append(.closed(streamID: streamID, code))
        return 0
    }

    /// nghttp2's data provider: copies queued body bytes into the frame being built, ends
    /// the stream (or hands over trailers) when the queue is empty and ended, and defers
    /// the stream while it is empty and not ended.
    private static var readCallback: nghttp2_data_source_read_callback {
        { _, streamID, buffer, length, flags, _, user in
            HTTP2Session.from(user).readBody(streamID, into: buffer!, length: length, flags: flags!)
        }
    }

    private func readBody(_ streamID: Int32, into buffer: UnsafeMutablePointer<UInt8>, length: Int, flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let body = outgoing[streamID] else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
        var written = 0
        while written < length, var chunk = body.chunks.first {
            let count = min(chunk.readableBytes, length - written)
            chunk.withUnsafeReadableBytes { raw in
                UnsafeMutableRawPointer(buffer + written).copyMemory(from: raw.baseAddress!, byteCount: count)
            }
            written += count
            chunk.moveReaderIndex(forwardBy: count)
            if chunk.readableBytes == 0 {
                body.chunks.removeFirst()
            } else {
                body.chunks[body.chunks.startIndex] = chunk
            }
        }
        body.queued -= written
        if body.paused && body.queued < settings.streamSendBuffer / 2 {
            body.paused = false
            events.append(.writable(streamID: streamID))
        }
        if body.queued == 0 && body.ended {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            if !body.trailers.isEmpty {
                flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                let result = Self.withFields(body.trailers) { fields, count in
                    nghttp2_submit_trailer(session, streamID, fields, count)
                }
                if result < 0 { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
            }
            return written
        }
        if written == 0 {
            body.deferred = true
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        return written
    }

    /// Calls `body` with `fields` as an `nghttp2_nv` array (names lowercased, as HTTP/2
    /// requires). nghttp2 copies the fields during the submit call.
    private static func withFields<T>(_ fields: [(name: String, value: String)], _ body: (UnsafePointer<nghttp2_nv>, Int) -> T) -> T {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count })
        var spans: [(name: Range<Int>, value: Range<Int>)] = []
        spans.reserveCapacity(fields.count)
        for (name, value) in fields {
            let nameStart = bytes.count
            bytes.append(contentsOf: name.utf8)
            for i in nameStart..<bytes.count where bytes[i] >= 0x41 && bytes[i] <= 0x5a { bytes[i] |= 0x20 }
            let valueStart = bytes.count
            bytes.append(contentsOf: value.utf8)
            spans.append((nameStart..<valueStart, valueStart..<bytes.count))
        }
        return bytes.withUnsafeMutableBufferPointer { raw in
            let base = raw.baseAddress ?? UnsafeMutablePointer<UInt8>(bitPattern: 1)!
            let nv = spans.map { span in
                nghttp2_nv(
                    name: base + span.name.lowerBound, value: base + span.value.lowerBound,
                    namelen: span.name.count, valuelen: span.value.count, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            }
            return nv.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
        }
    }
}
