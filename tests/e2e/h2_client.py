"""A small HTTP/2 client over a plain socket (h2c with prior knowledge) on the `h2` library,
with explicit control over flow control, resets and raw frames for the e2e tests."""
import socket
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import h2.exceptions

TIMEOUT = 30.0


class Stream:
    def __init__(self):
        self.status = None
        self.headers = []
        self.body = bytearray()
        self.received = 0
        self.trailers = []
        self.ended = False
        self.reset_code = None

    def header(self, name):
        for k, v in self.headers:
            if k == name:
                return v
        return None


class H2Client:
    """One connection. `keep_body=False` counts body bytes without keeping them."""

    def __init__(self, host, port, validate=True, window=None):
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        config = h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8",
            validate_outbound_headers=validate, normalize_outbound_headers=validate,
            validate_inbound_headers=True)
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.initiate_connection()
        if window:
            self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.streams = {}
        self.terminated = None  # the ConnectionTerminated event, once it came
        self.pings = []
        self.closed = False
        self.auto_ack = True
        self.keep_body = True
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def close(self):
        self.sock.close()

    def request(self, method, path, headers=(), body=None, trailers=None, authority="localhost", keep_open=False):
        """Opens a stream; with `keep_open` the body follows through `send_body`."""
        sid = self.conn.get_next_available_stream_id()
        fields = [(":method", method), (":scheme", "http"), (":authority", authority), (":path", path)]
        fields += list(headers)
        end = body is None and trailers is None and not keep_open
        self.conn.send_headers(sid, fields, end_stream=end)
        self.streams[sid] = Stream()
        self.flush()
        if body is not None:
            self.send_body(sid, body, end_stream=trailers is None)
        if trailers is not None:
            self.conn.send_headers(sid, trailers, end_stream=True)
            self.flush()
        return sid

    def send_body(self, sid, body, end_stream=True, frame_size=None, padding=None):
        """Sends `body` within the server's flow-control windows, reading meanwhile.
        `padding` adds that many pad bytes to every DATA frame (they count against the
        windows too)."""
        view = memoryview(body)
        pad = 0 if padding is None else padding + 1  # the pad-length byte counts as well
        while view:
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size,
                         frame_size or 1 << 30) - pad
            if window <= 0:
                self.read_once()
                continue
            if padding is None:
                self.conn.send_data(sid, view[:window].tobytes())
            else:
                self.conn.send_data(sid, view[:window].tobytes(), pad_length=padding)
            view = view[window:]
            self.flush()
        if end_stream:
            self.conn.end_stream(sid)
            self.flush()

    def read_once(self, timeout=TIMEOUT):
        self.sock.settimeout(timeout)
        data = self.sock.recv(1 << 20)
        if not data:
            self.closed = True
            raise ConnectionError("server closed the connection")
        self.handle(self.conn.receive_data(data))
        self.flush()

    def handle(self, events):
        for event in events:
            stream = self.streams.get(getattr(event, "stream_id", None))
            if isinstance(event, h2.events.ResponseReceived):
                stream.headers = list(event.headers)
                stream.status = int(stream.header(":status"))
            elif isinstance(event, h2.events.DataReceived):
                stream.received += len(event.data)
                if self.keep_body:
                    stream.body += event.data
                if self.auto_ack:
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.TrailersReceived):
                stream.trailers = list(event.headers)
            elif isinstance(event, h2.events.StreamEnded):
                stream.ended = True
            elif isinstance(event, h2.events.StreamReset):
                if stream is not None:
                    stream.reset_code = event.error_code
                    stream.ended = True
            elif isinstance(event, h2.events.PingAckReceived):
                self.pings.append(event.ping_data)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.terminated = event

    def wait(self, predicate, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("condition not met in time")
            self.read_once(left)

    def wait_streams(self, sids, timeout=TIMEOUT):
        self.wait(lambda: all(self.streams[s].ended for s in sids), timeout)
        return [self.streams[s] for s in sids]

    def get(self, path, **kwargs):
        sid = self.request("GET", path, **kwargs)
        return self.wait_streams([sid])[0]


def read_frames(sock, timeout=10.0):
    """Reads raw frames until the peer closes; returns [(type, flags, stream, payload)]."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    frames = []
    while len(data) >= 9:
        length = int.from_bytes(data[:3], "big")
        frames.append((data[3], data[4], int.from_bytes(data[5:9], "big") & 0x7FFFFFFF, data[9:9 + length]))
        data = data[9 + length:]
    return frames
