"""Direct output: berth writes responses of connections it accepted itself straight to the
socket (send with MSG_MORE, then sendfile) while NIO has nothing queued for them, and
hands NIO whatever the socket does not take at once (docs/front.md, "Direct output").

These tests check the bytes a client gets when the socket fills in the middle of a
response (the hand-over to NIO, then pipelined responses queued behind it), and, with
strace, that a static response really leaves by the direct path.
"""
import hashlib
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import SAMPLES, VENV_PYTHON

TIMEOUT = 30
BIG = 8 * 1024 * 1024


@pytest.fixture
def site(start_berth, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    # Not one repeated byte: a byte out of place must show in the digest.
    block = hashlib.sha256(b"berth").digest() * 32
    (root / "big.bin").write_bytes((block * (BIG // len(block) + 1))[:BIG])
    (root / "small.txt").write_bytes(b"small file\n" * 90)
    b = start_berth("serve", "app:app", "--chdir", SAMPLES / "hello", "-w", "1", "-b", "127.0.0.1:0",
                    "--python", VENV_PYTHON, "--no-isolate", "--static", f"/s/={root}")
    b.root = root
    return b


def connect(berth, receive_buffer=None):
    host, port = berth.url[len("http://"):].split(":")
    conn = socket.socket()
    if receive_buffer:
        # Before connect, so the window the server sees is small from the start.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    conn.connect((host, int(port)))
    conn.settimeout(TIMEOUT)
    return conn


class Reader:
    """Reads HTTP/1.1 responses with Content-Length bodies off a socket."""

    def __init__(self, conn):
        self.conn = conn
        self.data = b""

    def _fill(self):
        chunk = self.conn.recv(1 << 16)
        assert chunk, "the connection closed in the middle of a response"
        self.data += chunk

    def response(self):
        while b"\r\n\r\n" not in self.data:
            self._fill()
        head, self.data = self.data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(fields.get("content-length", "0"))
        while len(self.data) < length:
            self._fill()
        body, self.data = self.data[:length], self.data[length:]
        return status, fields, body


def test_a_slow_reader_gets_every_byte_and_the_pipelined_responses_behind_it(site):
    big = (site.root / "big.bin").read_bytes()
    small = (site.root / "small.txt").read_bytes()
    conn = connect(site, receive_buffer=4096)
    request = "GET /s/{} HTTP/1.1\r\nHost: x\r\n\r\n"
    conn.sendall((request.format("big.bin") + request.format("small.txt") + request.format("big.bin")).encode())
    # The client reads nothing for a while: the socket fills in the middle of the first
    # file, and the responses behind it must wait in NIO's queue, in order.
    time.sleep(0.5)
    reader = Reader(conn)
    for expected in (big, small, big):
        status, fields, body = reader.response()
        assert status == 200
        assert len(body) == len(expected)
        assert hashlib.sha256(body).digest() == hashlib.sha256(expected).digest()
    # The connection is still sound: once NIO's queue is written, direct output resumes.
    for _ in range(20):
        conn.sendall(request.format("small.txt").encode())
        status, _, body = reader.response()
        assert (status, body) == (200, small)
    conn.close()


def test_keepalive_mixes_direct_and_queued_output(site):
    small = (site.root / "small.txt").read_bytes()
    big = (site.root / "big.bin").read_bytes()
    conn = connect(site, receive_buffer=8192)
    reader = Reader(conn)
    etag = None
    for i in range(30):
        if i % 3 == 0:
            conn.sendall(b"GET /s/big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=1000-300000\r\n\r\n")
            status, _, body = reader.response()
            assert (status, body) == (206, big[1000:300001])
        elif i % 3 == 1:
            conn.sendall(b"GET /s/small.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            status, fields, body = reader.response()
            assert (status, body) == (200, small)
            etag = fields["etag"]
        else:
            conn.sendall(f"GET /s/small.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n".encode())
            status, _, body = reader.response()
            assert (status, body) == (304, b"")
        # An app response between them, from the worker.
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = reader.response()
        assert status == 200 and body.startswith(b"Hello")
    conn.close()


def test_a_client_that_leaves_mid_file_costs_only_its_connection(site):
    for _ in range(5):
        conn = connect(site, receive_buffer=4096)
        conn.sendall(b"GET /s/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        conn.recv(100)
        # RST instead of FIN: the server's next write fails (EPIPE/ECONNRESET).
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()
    conn = connect(site)
    conn.sendall(b"GET /s/small.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, body = Reader(conn).response()
    assert (status, body) == (200, (site.root / "small.txt").read_bytes())
    conn.close()
    assert site.proc.poll() is None


def test_static_responses_leave_by_send_and_sendfile(site, tmp_path):
    """The direct path itself, seen from the kernel's side: a static 200 is one send with
    MSG_MORE and one sendfile; a 304 one send; no TCP_CORK, no writev."""
    trace = tmp_path / "strace.txt"
    strace = subprocess.Popen(
        ["strace", "-f", "-qq", "-e", "trace=sendto,sendfile,writev,setsockopt", "-o", str(trace),
         "-p", str(site.proc.pid)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # strace attaches to every thread before the first event it reports.
        deadline = time.time() + 10
        while time.time() < deadline and not trace.exists():
            time.sleep(0.05)
        time.sleep(0.5)
        conn = connect(site)
        reader = Reader(conn)
        small = (site.root / "small.txt").read_bytes()
        for _ in range(3):
            conn.sendall(b"GET /s/small.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            status, fields, body = reader.response()
            assert (status, body) == (200, small)
        conn.sendall(f"GET /s/small.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {fields['etag']}\r\n\r\n".encode())
        assert reader.response()[0] == 304
        conn.close()
        time.sleep(0.3)
    finally:
        strace.send_signal(signal.SIGINT)
        strace.wait(timeout=10)
    text = trace.read_text()
    heads = re.findall(r'sendto\(\d+, "HTTP/1.1 200 OK.*MSG_MORE.*\) = \d+', text)
    files = re.findall(rf"sendfile\(\d+, \d+, \[0\] => \[{len(small)}\], {len(small)}\) = {len(small)}", text)
    not_modified = re.findall(r'sendto\(\d+, "HTTP/1.1 304 Not Modified', text)
    assert len(heads) == 3, text
    assert len(files) == 3, text
    assert len(not_modified) == 1, text
    assert "TCP_CORK" not in text, text
    assert "writev(" not in text, text
