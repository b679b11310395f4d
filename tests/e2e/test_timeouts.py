"""Client timeouts of the front: slow heads and bodies get 408, idle keep-alive connections close."""
import socket
import time

import pytest

from conftest import write_config


@pytest.fixture
def strict(start_berth, tmp_path):
    conf = write_config(tmp_path, isolated=True, access_log=None,
                        server="header_timeout = 1\nbody_timeout = 1\nkeepalive_timeout = 1")
    return start_berth("serve", "-c", conf)


def connect(berth):
    s = socket.create_connection((berth.host, berth.port), timeout=10)
    return s


def read_all(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def test_slow_request_head_gets_408_and_close(strict):
    s = connect(strict)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # the head never ends
    started = time.monotonic()
    reply = read_all(s)
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:100]
    assert 0.9 < time.monotonic() - started < 4


def test_slow_body_gets_408_and_close(strict):
    s = connect(strict)
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
    started = time.monotonic()
    reply = read_all(s)
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:100]
    assert 0.9 < time.monotonic() - started < 4


def test_idle_keepalive_connection_closes_quietly(strict):
    s = connect(strict)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _ = read_response(s)
    assert head.startswith(b"HTTP/1.1 200 ")
    started = time.monotonic()
    assert read_all(s) == b""  # closed without a response
    assert 0.9 < time.monotonic() - started < 4


def read_response(s):
    """One response with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, f"closed early: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")).split(b":")[1])
    while len(body) < length:
        body += s.recv(65536)
    return head, body


def test_a_prompt_client_is_not_cut_off(strict):
    s = connect(strict)
    for _ in range(3):
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = read_response(s)
        assert head.startswith(b"HTTP/1.1 200 ") and body == b"Hello, world!"
        time.sleep(0.5)  # under the 1 s keep-alive timeout each time
