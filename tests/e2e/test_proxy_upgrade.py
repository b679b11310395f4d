"""WebSocket and other HTTP/1.1 Upgrade requests through a proxy route: forwarded with
`Connection: upgrade` and `Upgrade`; on the upstream's 101 both connections become a byte
tunnel with backpressure and half-close, closed after `upgrade_timeout` without traffic.
A real WebSocket server and client (the `websockets` package), and raw sockets for the
byte-level behaviour. h2c is never passed on; a non-101 answer is an ordinary response."""
import hashlib
import json
import os
import signal
import socket
import ssl
import threading
import time

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import serve as ws_serve

from test_gateway import RssSampler
from conftest import free_port
from test_proxy import start_proxy
from test_proxy_tls import pki  # noqa: F401 (a fixture: a CA and a certificate for localhost)

TIMEOUT = 15.0
# What a tunnel may add to berth's RSS while 128 MiB cross it to a stalled reader: socket
# buffers and a read or two, not the payload.
TUNNEL_RSS_BUDGET_KIB = 24 * 1024


@pytest.fixture
def ws_upstream():
    """A websockets echo server; its first message reports the handshake's fields."""
    def handler(websocket):
        headers = websocket.request.headers
        websocket.send(json.dumps({name: headers.get(name) for name in [
            "Host", "Upgrade", "Connection", "X-Forwarded-For", "X-Forwarded-Proto", "Sec-WebSocket-Protocol"]}))
        for message in websocket:
            websocket.send(message)

    server = ws_serve(handler, "127.0.0.1", 0, subprotocols=["chat"], max_size=None, compression=None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.socket.getsockname()[1]
    server.shutdown()
    thread.join(5)


class RawUpstream:
    """A socket server that runs `serve(conn, head)` per connection after reading a request head."""

    def __init__(self, serve):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.heads, self.errors = [], []

        def accept():
            while True:
                try:
                    conn, _ = self.sock.accept()
                except OSError:
                    return
                threading.Thread(target=self._one, args=(conn, serve), daemon=True).start()
        threading.Thread(target=accept, daemon=True).start()

    def _one(self, conn, serve):
        try:
            conn.settimeout(TIMEOUT * 2)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                head += chunk
            head, rest = head.split(b"\r\n\r\n", 1)
            self.heads.append(head.decode())
            serve(conn, rest)
        except Exception as error:  # reported by the test
            self.errors.append(repr(error))
        finally:
            conn.close()

    def close(self):
        self.sock.close()


def read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    return head.decode(), rest


def upgrade_request(path, protocol="raw-test", extra="", connection="Upgrade"):
    return (f"GET {path} HTTP/1.1\r\nHost: tunnel.test\r\nConnection: {connection}\r\nUpgrade: {protocol}\r\n"
            f"{extra}\r\n").encode()


def test_websocket_echo_through_proxy(start_berth, tmp_path, ws_upstream):
    berth = start_proxy(start_berth, tmp_path, f'[[route]]\npath = "/ws"\nproxy = "http://127.0.0.1:{ws_upstream}"\n')
    with ws_connect(f"ws://{berth.host}:{berth.port}/ws/echo", subprotocols=["chat"], max_size=None,
                    compression=None, open_timeout=TIMEOUT) as ws:
        seen = json.loads(ws.recv(timeout=TIMEOUT))
        assert seen["Upgrade"] == "websocket" and "upgrade" in seen["Connection"].lower()
        assert seen["Host"] == f"{berth.host}:{berth.port}"
        assert seen["X-Forwarded-For"] == "127.0.0.1" and seen["X-Forwarded-Proto"] == "http"
        assert seen["Sec-WebSocket-Protocol"] == "chat" and ws.subprotocol == "chat"
        ws.send("hello")
        assert ws.recv(timeout=TIMEOUT) == "hello"
        big = os.urandom(4 << 20)
        ws.send(big)
        assert ws.recv(timeout=TIMEOUT) == big
        for i in range(200):
            ws.send(f"m{i}")
        assert [ws.recv(timeout=TIMEOUT) for _ in range(200)] == [f"m{i}" for i in range(200)]
    # The access log has the 101 once the tunnel closed.
    berth.wait_for(lambda: '"GET /ws/echo HTTP/1.1" 101' in berth.stdout, 5, "the 101 in the access log")


def test_half_close_and_large_transfer_with_backpressure(start_berth, tmp_path):
    """The client sends 32 MiB then half-closes; the upstream reads to EOF (the FIN came
    through), answers with the digest and 128 MiB, and closes. The client reads nothing for
    two seconds, which must stop berth reading the upstream, not buffer what it sends."""
    download = 128 << 20
    pattern = os.urandom(1 << 20)

    def serve(conn, rest):
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: raw-test\r\n\r\n"
                     b"first bytes after the 101\n")
        digest, total = hashlib.sha256(rest), len(rest)
        while True:
            chunk = conn.recv(1 << 20)
            if not chunk:
                break
            digest.update(chunk)
            total += len(chunk)
        conn.sendall(f"{total} {digest.hexdigest()}\n".encode())
        for _ in range(download // len(pattern)):
            conn.sendall(pattern)

    upstream = RawUpstream(serve)
    try:
        berth = start_proxy(start_berth, tmp_path, f'[[route]]\npath = "/"\nproxy = "http://127.0.0.1:{upstream.port}"\n')
        client = socket.create_connection((berth.host, berth.port), timeout=TIMEOUT)
        client.sendall(upgrade_request("/tunnel"))
        head, rest = read_head(client)
        assert head.startswith("HTTP/1.1 101 "), head
        assert "upgrade: raw-test" in head.lower() and "connection: upgrade" in head.lower(), head
        while b"\n" not in rest:
            rest += client.recv(65536)
        assert rest.startswith(b"first bytes after the 101\n"), rest
        rest = rest[len(b"first bytes after the 101\n"):]

        upload = hashlib.sha256()
        for i in range(32):
            piece = i.to_bytes(4, "big") + pattern[4:]
            upload.update(piece)
            client.sendall(piece)
        client.shutdown(socket.SHUT_WR)

        with RssSampler(berth) as rss:
            idle = berth.rss_kib()
            while b"\n" not in rest:
                chunk = client.recv(65536)
                assert chunk, "the upstream never saw the client's half-close"
                rest += chunk
            line, rest = rest.split(b"\n", 1)
            assert line.decode() == f"{32 << 20} {upload.hexdigest()}"
            time.sleep(2)  # a slow reader: berth must stop reading the upstream
            received = hashlib.sha256(rest)
            got = len(rest)
            while True:
                chunk = client.recv(1 << 20)
                if not chunk:
                    break
                received.update(chunk)
                got += len(chunk)
        assert got == download
        assert received.hexdigest() == hashlib.sha256(pattern * (download // len(pattern))).hexdigest()
        assert rss.peak - idle < TUNNEL_RSS_BUDGET_KIB, f"RSS {idle} → {rss.peak} KiB through the tunnel"
        client.close()
        assert not upstream.errors, upstream.errors
        head = upstream.heads[0].lower()
        assert "connection: upgrade" in head and "upgrade: raw-test" in head, head
    finally:
        upstream.close()


def test_bytes_sent_with_the_upgrade_request_reach_the_upstream(start_berth, tmp_path):
    """A client that does not wait for the 101: what it sent in the same write as its
    request is held by the front and is the first thing through the tunnel."""
    def serve(conn, rest):
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: raw-test\r\n\r\n")
        while b"\n" not in rest:
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
        conn.sendall(b"upstream got: " + rest)

    upstream = RawUpstream(serve)
    try:
        berth = start_proxy(start_berth, tmp_path, f'[[route]]\npath = "/"\nproxy = "http://127.0.0.1:{upstream.port}"\n')
        with socket.create_connection((berth.host, berth.port), timeout=TIMEOUT) as client:
            client.sendall(upgrade_request("/early") + b"early bytes\n")
            head, rest = read_head(client)
            assert head.startswith("HTTP/1.1 101 "), head
            while not rest.endswith(b"\n"):
                chunk = client.recv(65536)
                assert chunk, rest
                rest += chunk
            assert rest == b"upstream got: early bytes\n"
        assert not upstream.errors, upstream.errors
    finally:
        upstream.close()


def test_idle_tunnel_is_closed_after_upgrade_timeout(start_berth, tmp_path):
    def serve(conn, rest):
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: raw-test\r\n\r\n")
        conn.recv(1)  # until berth closes the tunnel

    upstream = RawUpstream(serve)
    try:
        berth = start_proxy(start_berth, tmp_path, f"""\
[upstream.quiet]
servers = ["http://127.0.0.1:{upstream.port}"]
upgrade_timeout = 1

[[route]]
path = "/"
upstream = "quiet"
""")
        client = socket.create_connection((berth.host, berth.port), timeout=TIMEOUT)
        client.sendall(upgrade_request("/idle"))
        head, _ = read_head(client)
        assert head.startswith("HTTP/1.1 101 ")
        started = time.monotonic()
        assert client.recv(1) == b""
        assert 0.9 < time.monotonic() - started < 4
        berth.wait_for(lambda: "passed no byte for 1 s" in berth.stderr, 5, "the idle log line")
        client.close()
    finally:
        upstream.close()


def test_non_101_answer_is_an_ordinary_response_and_h2c_is_not_passed(start_berth, tmp_path):
    def serve(conn, rest):
        conn.sendall(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 4\r\nContent-Type: text/plain\r\n\r\nnope")

    upstream = RawUpstream(serve)
    try:
        berth = start_proxy(start_berth, tmp_path, f'[[route]]\npath = "/"\nproxy = "http://127.0.0.1:{upstream.port}"\n')
        client = socket.create_connection((berth.host, berth.port), timeout=TIMEOUT)
        client.sendall(upgrade_request("/refused", "websocket"))
        head, body = read_head(client)
        assert head.startswith("HTTP/1.1 426 "), head
        while len(body) < 4:
            body += client.recv(65536)
        assert body == b"nope"
        # The connection ends with that response: the request asked to leave HTTP.
        assert "connection: close" in head.lower()
        assert client.recv(65536) == b""
        client.close()

        # h2c: the upgrade is dropped, the request goes upstream as plain HTTP/1.1.
        client = socket.create_connection((berth.host, berth.port), timeout=TIMEOUT)
        client.sendall(upgrade_request("/h2c", "h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n",
                                       connection="Upgrade, HTTP2-Settings"))
        head, _ = read_head(client)
        assert head.startswith("HTTP/1.1 426 ")
        client.close()
        sent = upstream.heads[1].lower()
        assert "upgrade" not in sent and "http2-settings" not in sent, sent
        # The WebSocket attempt went upstream with its upgrade fields.
        assert "upgrade: websocket" in upstream.heads[0].lower()
    finally:
        upstream.close()


def test_upgrade_request_to_a_static_route_is_answered_then_closed(start_berth, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "a.txt").write_text("static\n")
    berth = start_proxy(start_berth, tmp_path, f'[[route]]\npath = "/"\nstatic = "{root}"\n')
    client = socket.create_connection((berth.host, berth.port), timeout=TIMEOUT)
    client.sendall(upgrade_request("/a.txt", "websocket"))
    head, body = read_head(client)
    assert head.startswith("HTTP/1.1 200 ") and "connection: close" in head.lower(), head
    while len(body) < 7:
        body += client.recv(65536)
    assert body == b"static\n" and client.recv(65536) == b""
    client.close()
    assert requests.get(berth.url + "/a.txt", timeout=TIMEOUT).text == "static\n"


def test_websocket_over_a_tls_listener(start_berth, tmp_path, pki, ws_upstream):
    """wss:// — the tunnel runs inside the client's TLS connection."""
    for attempt in range(5):
        port = free_port()
        config = tmp_path / "berth.toml"
        config.write_text(f"""\
[server]
access_log = "-"

[[listen]]
bind = "127.0.0.1:0"

[[listen]]
bind = "127.0.0.1:{port}"
tls_certificate = "{pki}/host.crt"
tls_key = "{pki}/host.key"

[[route]]
path = "/"
proxy = "http://127.0.0.1:{ws_upstream}"
""")
        try:
            berth = start_berth("serve", "-c", config)
            break
        except AssertionError as error:
            if "Address already in use" not in str(error) or attempt == 4:
                raise
    berth.wait_for(lambda: f"https://127.0.0.1:{port}" in berth.stdout, 10, "the TLS listener")
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    with ws_connect(f"wss://localhost:{port}/secure", ssl=context, subprotocols=["chat"], max_size=None, compression=None,
                    open_timeout=TIMEOUT) as ws:
        seen = json.loads(ws.recv(timeout=TIMEOUT))
        assert seen["X-Forwarded-Proto"] == "https" and seen["Upgrade"] == "websocket"
        big = os.urandom(1 << 20)
        ws.send(big)
        assert ws.recv(timeout=TIMEOUT) == big


def test_open_tunnel_is_served_during_a_graceful_stop_then_cut_at_the_grace(start_berth, tmp_path, ws_upstream):
    berth = start_proxy(start_berth, tmp_path, f'[[route]]\npath = "/"\nproxy = "http://127.0.0.1:{ws_upstream}"\n',
                        server_lines="shutdown_grace = 2")
    with ws_connect(f"ws://{berth.host}:{berth.port}/x", subprotocols=["chat"], open_timeout=TIMEOUT) as ws:
        ws.recv(timeout=TIMEOUT)  # the handshake report
        started = time.monotonic()
        berth.proc.send_signal(signal.SIGTERM)
        ws.send("still here")
        assert ws.recv(timeout=TIMEOUT) == "still here"
        assert berth.proc.wait(TIMEOUT) == 0
        assert 1.8 < time.monotonic() - started < 6
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=TIMEOUT)
