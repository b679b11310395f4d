"""End-to-end tests of berth's HTTP/1.1 front: keep-alive, pipelining, HEAD, chunked and
100-continue request bodies, limits, strict parsing, static files and the access log.

Raw sockets are used wherever a normal client would hide or fix up what is on the wire.
"""
import email.utils
import hashlib
import json
import os
import re
import socket
import time

import pytest
import requests

from conftest import SAMPLES, VENV_PYTHON

TIMEOUT = 10.0
HELLO = b"Hello, world!"


# --------------------------------------------------------------------------- helpers

class Response:
    def __init__(self, version, status, reason, headers, body):
        self.version, self.status, self.reason = version, status, reason
        self.headers, self.body = headers, body

    def header(self, name):
        values = self.all(name)
        return values[0] if values else None

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return f"<Response {self.status} {self.reason} {self.headers} {self.body[:200]!r}>"


class RawConn:
    """One TCP connection to berth with a tiny, strict HTTP/1.1 response reader."""

    def __init__(self, host, port, timeout=TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed by berth")
        self.buf += data

    def _read_until(self, sep):
        while sep not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(sep, 1)
        return line

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_head(self):
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        assert m, f"bad status line {lines[0]!r}"
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            assert sep and name and name == name.strip(), f"bad header line {line!r}"
            headers.append((name, value.strip()))
        return m.group(1), int(m.group(2)), m.group(3) or "", headers

    def read_response(self, method="GET", allow_interim=False):
        """Reads one response; framing follows RFC 9112 §6.3."""
        while True:
            version, status, reason, headers = self.read_head()
            if 100 <= status < 200 and not allow_interim:
                continue
            break
        resp = Response(version, status, reason, headers, b"")
        if method == "HEAD" or 100 <= status < 200 or status in (204, 304):
            return resp
        te = resp.header("Transfer-Encoding")
        if te is not None:
            assert te.lower() == "chunked", te
            assert resp.header("Content-Length") is None, "both Content-Length and Transfer-Encoding"
            body = b""
            while True:
                size_line = self._read_until(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    while self._read_until(b"\r\n") != b"":  # trailers
                        pass
                    break
                body += self._read_exact(size)
                assert self._read_exact(2) == b"\r\n"
            resp.body = body
        elif resp.header("Content-Length") is not None:
            assert len(set(resp.all("Content-Length"))) == 1
            resp.body = self._read_exact(int(resp.header("Content-Length")))
        else:
            chunks = [self.buf]
            self.buf = b""
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
            resp.body = b"".join(chunks)
        return resp

    def closed_by_peer(self, timeout=5.0):
        """True if berth closes the connection (EOF or reset) with nothing more sent."""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(TIMEOUT)
        if data:
            self.buf += data
            return False
        return True


def req(method, target, host="localhost", headers=(), body=b"", version="HTTP/1.1"):
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def conn(berth):
    return RawConn(berth.host, berth.port)


def assert_root_ok(berth):
    c = conn(berth)
    try:
        c.send(req("GET", "/", headers=[("Connection", "close")]))
        r = c.read_response()
        assert r.status == 200 and r.body == HELLO, r
    finally:
        c.close()


# --------------------------------------------------------------------------- keep-alive

def test_keepalive_several_requests_one_connection(hello):
    c = conn(hello)
    try:
        pids = set()
        for i in range(10):
            c.send(req("GET", "/"))
            r = c.read_response()
            assert r.status == 200 and r.body == HELLO, r
            assert r.header("Content-Length") == "13"
            assert (r.header("Connection") or "").lower() != "close"
        c.send(req("GET", "/pid"))
        r = c.read_response()
        assert r.status == 200 and r.body.isdigit()
        pids.add(int(r.body))
        c.send(req("POST", "/upload", headers=[("Content-Length", "5")], body=b"hello"))
        r = c.read_response()
        assert r.status == 200
        assert json.loads(r.body) == {"bytes": 5, "sha256": hashlib.sha256(b"hello").hexdigest()}
        # "Connection: close" on the last one: berth answers and closes.
        c.send(req("GET", "/", headers=[("Connection", "close")]))
        r = c.read_response()
        assert r.status == 200 and r.body == HELLO
        assert c.closed_by_peer()
    finally:
        c.close()


def test_pipelining_three_requests_in_one_write(hello):
    c = conn(hello)
    try:
        c.send(req("GET", "/sleep?s=0.3") + req("GET", "/status/201") + req("GET", "/environ?third=1"))
        r1 = c.read_response()
        r2 = c.read_response()
        r3 = c.read_response()
        assert (r1.status, r1.body) == (200, b"slept"), r1
        assert (r2.status, r2.body) == (201, b"status 201\n"), r2
        assert r3.status == 200, r3
        assert json.loads(r3.body)["QUERY_STRING"] == "third=1"
        # The connection is still usable afterwards.
        c.send(req("GET", "/"))
        r4 = c.read_response()
        assert r4.status == 200 and r4.body == HELLO
    finally:
        c.close()


def test_pipelining_with_bodies(hello):
    c = conn(hello)
    try:
        bodies = [b"a" * 10, b"b" * 70000, b""]
        data = b"".join(req("POST", "/upload", headers=[("Content-Length", str(len(b)))], body=b)
                        for b in bodies)
        c.send(data)
        for b in bodies:
            r = c.read_response()
            assert r.status == 200, r
            assert json.loads(r.body) == {"bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()}
    finally:
        c.close()


def test_head_has_length_but_no_body(hello):
    c = conn(hello)
    try:
        c.send(req("HEAD", "/"))
        r = c.read_response("HEAD")
        assert r.status == 200
        assert r.header("Content-Length") == "13"
        assert r.header("Content-Type") == "text/plain"
        # If berth had sent a body, it would be parsed as the next status line and fail.
        c.send(req("GET", "/status/202"))
        r2 = c.read_response()
        assert (r2.status, r2.body) == (202, b"status 202\n"), r2
        # HEAD of a streamed response: no body either.
        c.send(req("HEAD", "/stream?n=100000"))
        r3 = c.read_response("HEAD")
        assert r3.status == 200
        c.send(req("GET", "/"))
        r4 = c.read_response()
        assert r4.status == 200 and r4.body == HELLO, r4
    finally:
        c.close()


# --------------------------------------------------------------------------- request bodies

def test_chunked_request_body(hello):
    parts = [b"x" * 1, os.urandom(1000), os.urandom(65536), os.urandom(100003), b"end"]
    body = b"".join(parts)
    wire = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in parts)
    wire += b"0\r\n\r\n"
    c = conn(hello)
    try:
        c.send(req("POST", "/upload", headers=[("Transfer-Encoding", "chunked")]))
        # Send in odd-sized pieces so chunk boundaries fall mid-read.
        for i in range(0, len(wire), 7777):
            c.send(wire[i:i + 7777])
        r = c.read_response()
        assert r.status == 200, r
        assert json.loads(r.body) == {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
        # Chunk extensions and trailers are allowed too.
        c.send(req("POST", "/upload", headers=[("Transfer-Encoding", "chunked")])
               + b"3;name=val\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n")
        r = c.read_response()
        assert r.status == 200, r
        assert json.loads(r.body) == {"bytes": 3, "sha256": hashlib.sha256(b"abc").hexdigest()}
    finally:
        c.close()


def test_expect_100_continue(hello):
    body = os.urandom(200000)
    c = conn(hello)
    try:
        c.send(req("POST", "/upload", headers=[("Content-Length", str(len(body))),
                                               ("Expect", "100-continue")]))
        version, status, reason, headers = c.read_head()
        assert (version, status) == ("HTTP/1.1", 100), (version, status, reason)
        assert c.buf == b"", f"more than the interim response before the body: {c.buf!r}"
        c.send(body)
        r = c.read_response()
        assert r.status == 200, r
        assert json.loads(r.body) == {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
        # Still keep-alive afterwards.
        c.send(req("GET", "/"))
        assert c.read_response().body == HELLO
    finally:
        c.close()


# --------------------------------------------------------------------------- limits

def test_header_block_too_large_gets_431_and_close(hello):
    c = conn(hello)
    try:
        c.send(req("GET", "/", headers=[("X-Big", "a" * 17000)]))
        r = c.read_response()
        assert r.status == 431, r
        assert c.closed_by_peer()
    finally:
        c.close()
    assert_root_ok(hello)


def test_many_headers_over_limit_gets_431(hello):
    c = conn(hello)
    try:
        c.send(req("GET", "/", headers=[(f"X-H{i}", "v" * 50) for i in range(400)]))
        r = c.read_response()
        assert r.status == 431, r
        assert c.closed_by_peer()
    finally:
        c.close()


def test_header_block_under_limit_is_fine(hello):
    c = conn(hello)
    try:
        c.send(req("GET", "/", headers=[("X-Big", "a" * 12000)]))
        r = c.read_response()
        assert r.status == 200 and r.body == HELLO, r
    finally:
        c.close()


def test_body_over_max_gets_413_and_close(hello):
    c = conn(hello)
    try:
        c.send(req("POST", "/upload", headers=[("Content-Length", "200000000")]))
        r = c.read_response()
        assert r.status == 413, r
        assert c.closed_by_peer()
    finally:
        c.close()
    assert_root_ok(hello)


def test_chunked_body_over_max_gets_413(hello):
    c = conn(hello)
    got = None
    try:
        c.send(req("POST", "/upload", headers=[("Transfer-Encoding", "chunked")]))
        chunk = b"%x\r\n" % (1 << 20) + b"z" * (1 << 20) + b"\r\n"
        try:
            for _ in range(110):  # 110 MiB > 100 MiB
                c.send(chunk)
            c.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            got = c.read_response()
        except (EOFError, ConnectionResetError):
            got = None
    finally:
        c.close()
    # Either the 413 reached us, or berth cut the connection; the app must not have
    # answered 200 for a body larger than the limit.
    assert got is None or got.status == 413, got
    assert_root_ok(hello)


# --------------------------------------------------------------------------- strict parsing

BAD_REQUESTS = {
    "cl_and_te": req("POST", "/upload", headers=[("Content-Length", "5"), ("Transfer-Encoding", "chunked")]),
    "space_in_header_name": req("GET", "/", headers=[("Bad Header", "x")]),
    "ctl_in_header_name": req("GET", "/", headers=[("X\x01", "y")]),
    "invalid_chunk_size": req("POST", "/upload", headers=[("Transfer-Encoding", "chunked")]) + b"zz\r\nabc\r\n0\r\n\r\n",
    "missing_host_http11": req("GET", "/", host=None),
    "two_host_headers": req("GET", "/", headers=[("Host", "other.example")]),
    "bad_percent_encoding": req("GET", "/%zz"),
    "nul_in_path": req("GET", "/environ%00x"),
    "path_escapes_root": req("GET", "/../../etc/passwd"),
    # Request smuggling and framing ambiguities (RFC 9112 §6.3, §5.2, §2.2).
    "te_and_cl": req("POST", "/upload", headers=[("Transfer-Encoding", "chunked"), ("Content-Length", "5")]),
    "two_content_lengths": req("POST", "/upload", headers=[("Content-Length", "5"), ("Content-Length", "6")]) + b"hello!",
    "content_length_list": req("POST", "/upload", headers=[("Content-Length", "5, 5")]) + b"hello",
    "content_length_sign": req("POST", "/upload", headers=[("Content-Length", "+5")]) + b"hello",
    "te_not_chunked_last": req("POST", "/upload", headers=[("Transfer-Encoding", "chunked, identity")]),
    "te_in_http10": req("POST", "/upload", host=None, version="HTTP/1.0",
                        headers=[("Transfer-Encoding", "chunked")]) + b"0\r\n\r\n",
    "space_before_colon": req("POST", "/upload", headers=[("Content-Length ", "5")]) + b"hello",
    "obs_fold": req("GET", "/", headers=[("X-A", "1\r\n folded")]),
    "bare_lf": b"GET / HTTP/1.1\nHost: localhost\n\n",
    "bare_cr": req("GET", "/", headers=[("X-A", "1\rX-B: 2")]),
    "chunk_not_followed_by_crlf": req("POST", "/upload", headers=[("Transfer-Encoding", "chunked")]) + b"3\r\nabcX\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_strict_parsing_400_and_close(hello, name):
    # A keep-alive connection opened (and used) before the bad request.
    other = conn(hello)
    try:
        other.send(req("GET", "/"))
        assert other.read_response().body == HELLO

        bad = conn(hello)
        try:
            bad.send(BAD_REQUESTS[name])
            r = bad.read_response()
            assert r.status == 400, r
            assert b"root:" not in r.body
            assert bad.closed_by_peer(), "berth kept the connection open after a 400"
        finally:
            bad.close()

        # The earlier connection is unaffected ...
        other.send(req("GET", "/"))
        r = other.read_response()
        assert r.status == 200 and r.body == HELLO, r
    finally:
        other.close()
    # ... and so are new ones.
    assert_root_ok(hello)


def test_smuggled_request_is_never_served(hello):
    # CL.TE: a front that took Content-Length would read "0\r\n\r\n" as the body and serve
    # the GET inside as a second request; a back end that took chunked would see it too.
    c = conn(hello)
    try:
        smuggled = req("GET", "/pid")
        c.send(req("POST", "/upload", headers=[("Content-Length", str(len(smuggled) + 5)),
                                               ("Transfer-Encoding", "chunked")]) + b"0\r\n\r\n" + smuggled)
        r = c.read_response()
        assert r.status == 400, r
        assert c.closed_by_peer(), "berth kept the connection open after a 400"
        assert c.buf == b"", f"a second response followed: {c.buf!r}"
    finally:
        c.close()


@pytest.mark.parametrize("data, status", [
    (req("GET", "/" + "a" * 20000), 414),
    (req("POST", "/upload", headers=[("Transfer-Encoding", "gzip, chunked")]), 501),
    (b"GET / HTTP/2.1\r\nHost: localhost\r\n\r\n", 400),
], ids=["uri_too_long", "unknown_transfer_coding", "http_version"])
def test_framing_errors_get_their_status_and_close(hello, data, status):
    c = conn(hello)
    try:
        c.send(data)
        r = c.read_response()
        assert r.status == status, r
        assert c.closed_by_peer()
    finally:
        c.close()
    assert_root_ok(hello)


def test_empty_lines_between_requests_are_ignored(hello):
    c = conn(hello)
    try:
        c.send(req("POST", "/upload", headers=[("Content-Length", "2")], body=b"hi") + b"\r\n" + req("GET", "/"))
        assert c.read_response().status == 200
        r = c.read_response()
        assert r.status == 200 and r.body == HELLO, r
    finally:
        c.close()


def test_many_pipelined_requests_in_one_write(hello):
    # More than the front buffers behind an unfinished response (64 KiB): reading pauses and
    # resumes, and every request is answered in order.
    c = conn(hello)
    try:
        count = 500  # under max_requests_per_connection (1000); 125 KiB with the padding
        c.send(b"".join(req("GET", f"/environ?n={i}", headers=[("X-Pad", "p" * 200)]) for i in range(count)))
        for i in range(count):
            r = c.read_response()
            assert r.status == 200, r
            assert json.loads(r.body)["QUERY_STRING"] == f"n={i}"
    finally:
        c.close()


def test_http10_without_host_closes_after_response(hello):
    c = conn(hello)
    try:
        c.send(req("GET", "/", host=None, version="HTTP/1.0"))
        r = c.read_response()
        assert r.status == 200 and r.body == HELLO, r
        assert c.closed_by_peer()
    finally:
        c.close()


def test_http10_keepalive_when_asked(hello):
    c = conn(hello)
    try:
        c.send(req("GET", "/", host=None, version="HTTP/1.0", headers=[("Connection", "keep-alive")]))
        r = c.read_response()
        assert r.status == 200 and r.body == HELLO, r
        assert (r.header("Connection") or "").lower() == "keep-alive", r
        assert r.header("Content-Length") == "13"
        c.send(req("GET", "/status/203", host=None, version="HTTP/1.0"))
        r = c.read_response()
        assert r.status == 203 and r.body == b"status 203\n", r
        assert c.closed_by_peer()
    finally:
        c.close()


def test_http10_streamed_response_is_closed_delimited(hello):
    # No chunked encoding in HTTP/1.0: the body ends when the connection does.
    c = conn(hello)
    try:
        c.send(req("GET", "/stream?n=100000", host=None, version="HTTP/1.0"))
        r = c.read_response()
        assert r.status == 200
        assert r.header("Transfer-Encoding") is None
        assert len(r.body) == 100000
        assert r.body == (b"0123456789abcdef" * 6250)
    finally:
        c.close()


def test_unknown_path_gets_app_404(hello):
    r = requests.get(hello.url + "/nope", timeout=TIMEOUT)
    assert r.status_code == 404
    assert r.text == "not found: /nope\n"


# --------------------------------------------------------------------------- static files

SECRET = b"TOP-SECRET-CONTENT-outside-the-root\n"
MTIME = 1_700_000_000  # 2023-11-14T22:13:20Z


@pytest.fixture
def static(start_berth, tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub2").mkdir()
    (root / "a.txt").write_bytes(b"plain text file\n")
    (root / "b.css").write_bytes(b"body { color: red }\n")
    (root / "sub" / "index.html").write_bytes(b"<h1>sub index</h1>\n")
    (root / "sub2" / "other.txt").write_bytes(b"other\n")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    os.symlink(tmp_path, root / "linkdir")
    for p in [root / "a.txt", root / "b.css", root / "sub" / "index.html"]:
        os.utime(p, (MTIME, MTIME))
    b = start_berth("serve", "app:app", "--chdir", SAMPLES / "hello", "-w", "1",
                    "-b", "127.0.0.1:0", "--python", VENV_PYTHON, "--static", f"/files/={root}")
    b.root = root
    return b


def test_closed_connections_leave_no_memory_behind(static):
    """Each connection's handler is freed once it closes (a kept context once held every
    handler, with its buffers, for good: about 3 KB per connection ever served)."""
    host, port = static.url[len("http://"):].split(":")

    def one_connection():
        with socket.create_connection((host, int(port)), timeout=TIMEOUT) as s:
            s.sendall(b"GET /files/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
            assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"plain text file\n")

    for _ in range(500):  # allocator pools and the binary's pages settle first
        one_connection()
    time.sleep(0.5)
    before = static.rss_kib()
    for _ in range(4000):
        one_connection()
    time.sleep(0.5)
    grown = static.rss_kib() - before
    assert grown < 2048, f"RSS grew by {grown} KiB over 4,000 closed connections"


def test_static_file_headers(static):
    r = requests.get(static.url + "/files/a.txt", timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.content == b"plain text file\n"
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.headers["Content-Length"] == str(len(b"plain text file\n"))
    lm = email.utils.parsedate_to_datetime(r.headers["Last-Modified"])
    assert int(lm.timestamp()) == MTIME
    assert r.headers["Last-Modified"].endswith(" GMT")
    assert re.fullmatch(r'(W/)?"[^"]+"', r.headers["ETag"]), r.headers["ETag"]

    r = requests.get(static.url + "/files/b.css", timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.content == b"body { color: red }\n"
    assert r.headers["Content-Type"] == "text/css; charset=utf-8"
    assert r.headers["Content-Length"] == "20"

    # HEAD: same headers, no body (checked on a raw connection).
    c = conn(static)
    try:
        c.send(req("HEAD", "/files/a.txt"))
        h = c.read_response("HEAD")
        assert h.status == 200 and h.header("Content-Length") == "16"
        c.send(req("GET", "/files/b.css"))
        g = c.read_response()
        assert g.status == 200 and g.body == b"body { color: red }\n", g
    finally:
        c.close()


def test_static_conditional_requests(static):
    r = requests.get(static.url + "/files/a.txt", timeout=TIMEOUT)
    etag, lm = r.headers["ETag"], r.headers["Last-Modified"]

    r = requests.get(static.url + "/files/a.txt", headers={"If-None-Match": etag}, timeout=TIMEOUT)
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers.get("ETag") == etag

    r = requests.get(static.url + "/files/a.txt", headers={"If-None-Match": '"nope", ' + etag}, timeout=TIMEOUT)
    assert r.status_code == 304

    r = requests.get(static.url + "/files/a.txt", headers={"If-None-Match": '"something-else"'}, timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == b"plain text file\n"

    r = requests.get(static.url + "/files/a.txt", headers={"If-Modified-Since": lm}, timeout=TIMEOUT)
    assert r.status_code == 304
    assert r.content == b""

    older = email.utils.formatdate(MTIME - 3600, usegmt=True)
    r = requests.get(static.url + "/files/a.txt", headers={"If-Modified-Since": older}, timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == b"plain text file\n"

    # The file changes: the old validators no longer match.
    (static.root / "a.txt").write_bytes(b"changed content!!\n")
    r = requests.get(static.url + "/files/a.txt", headers={"If-None-Match": etag}, timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == b"changed content!!\n"
    assert r.headers["ETag"] != etag


def test_static_directories(static):
    r = requests.get(static.url + "/files/sub", allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code == 301
    assert r.headers["Location"] == "/files/sub/"

    r = requests.get(static.url + "/files/sub/", timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.content == b"<h1>sub index</h1>\n"
    assert r.headers["Content-Type"].startswith("text/html")

    r = requests.get(static.url + "/files/sub2/", timeout=TIMEOUT)
    assert r.status_code == 403
    assert b"other.txt" not in r.content  # no directory listing

    r = requests.get(static.url + "/files/sub2/other.txt", timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == b"other\n"


def test_static_missing_is_404(static):
    r = requests.get(static.url + "/files/missing.txt", timeout=TIMEOUT)
    assert r.status_code == 404
    r = requests.get(static.url + "/files/sub/missing/deeper.css", timeout=TIMEOUT)
    assert r.status_code == 404
    r = requests.get(static.url + "/files/a.txt/", timeout=TIMEOUT)
    assert r.status_code == 404


@pytest.mark.parametrize("target", [
    "/files/../secret.txt",
    "/files/%2e%2e/secret.txt",
    "/files/%2E%2E/secret.txt",
    "/files/..%2fsecret.txt",
    "/files/%2e%2e%2fsecret.txt",
    "/files/sub/../../secret.txt",
    "/files/sub/%2e%2e/%2e%2e/secret.txt",
    "/files/./../secret.txt",
    "/files/..%5csecret.txt",
])
def test_static_traversal_never_leaks(static, target):
    c = conn(static)
    try:
        c.send(req("GET", target, headers=[("Connection", "close")]))
        r = c.read_response()
    finally:
        c.close()
    assert r.status in (400, 404), r
    assert SECRET not in r.body
    assert b"TOP-SECRET" not in r.body


def test_static_symlink_out_of_root_is_403(static):
    r = requests.get(static.url + "/files/link.txt", timeout=TIMEOUT)
    assert r.status_code == 403, r.status_code
    assert b"TOP-SECRET" not in r.content
    r = requests.get(static.url + "/files/linkdir/secret.txt", timeout=TIMEOUT)
    assert r.status_code in (403, 404), r.status_code
    assert b"TOP-SECRET" not in r.content


def test_static_post_is_405(static):
    r = requests.post(static.url + "/files/a.txt", data=b"x", timeout=TIMEOUT)
    assert r.status_code == 405
    allow = r.headers.get("Allow", "")
    assert "GET" in allow and "POST" not in allow, r.headers
    # The connection (and the server) still work for the next request.
    r = requests.get(static.url + "/files/a.txt", timeout=TIMEOUT)
    assert r.status_code == 200


def test_static_and_app_side_by_side(static):
    r = requests.get(static.url + "/", timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == HELLO
    r = requests.get(static.url + "/files", timeout=TIMEOUT)
    # "/files/" is the static prefix; "/files" itself is not under it and goes to the app.
    assert r.status_code == 404 and r.text == "not found: /files\n"


# --------------------------------------------------------------------------- access log

ACCESS_RE = re.compile(
    r'^(?P<addr>\S+) - (?P<user>\S+) \[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] '
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<ua>[^"]*)" '
    r'(?P<seconds>\d+\.\d+) (?P<rid>\S+)$')


def test_access_log_one_line_per_request(start_berth):
    b = start_berth("serve", "app:app", "--chdir", SAMPLES / "hello", "-w", "2",
                    "-b", "127.0.0.1:0", "--python", VENV_PYTHON, "--access-log", "-")
    s = requests.Session()
    ua = {"User-Agent": "berth-e2e/1.0"}
    expected = []  # (method, target, status, bytes)

    r = s.get(b.url + "/", headers=ua, timeout=TIMEOUT)
    expected.append(("GET", "/", 200, 13))
    r = s.head(b.url + "/", headers=ua, timeout=TIMEOUT)
    expected.append(("HEAD", "/", 200, 0))
    r = s.get(b.url + "/nope?x=1", headers=ua, timeout=TIMEOUT)
    assert r.status_code == 404
    expected.append(("GET", "/nope?x=1", 404, len(r.content)))
    r = s.post(b.url + "/upload", data=b"q" * 1000, headers=ua, timeout=TIMEOUT)
    expected.append(("POST", "/upload", 200, len(r.content)))
    r = s.get(b.url + "/status/204", headers=ua, timeout=TIMEOUT)
    assert r.status_code == 204
    expected.append(("GET", "/status/204", 204, 0))
    r = s.get(b.url + "/environ", headers=dict(ua, Referer="http://ref.example/page"), timeout=TIMEOUT)
    rid = r.json()["berth.request_id"]
    expected.append(("GET", "/environ", 200, len(r.content)))

    def access_lines():
        return [l for l in b.stdout_lines if not l.startswith("berth: listening")]

    b.wait_for(lambda: len(access_lines()) >= len(expected), 10, "access log lines")
    time.sleep(0.5)  # any duplicate line would show up by now
    lines = access_lines()
    assert len(lines) == len(expected), "\n".join(lines)
    for line, (method, target, status, nbytes) in zip(lines, expected):
        m = ACCESS_RE.match(line)
        assert m, f"not combined format: {line!r}"
        assert m["addr"] == "127.0.0.1"
        assert m["request"] == f"{method} {target} HTTP/1.1", line
        assert int(m["status"]) == status, line
        assert int(m["bytes"]) == nbytes, line
        assert m["ua"] == "berth-e2e/1.0", line
        assert float(m["seconds"]) < 10
    last = ACCESS_RE.match(lines[-1])
    assert last["referer"] == "http://ref.example/page"
    assert last["rid"] == rid
    assert ACCESS_RE.match(lines[0])["referer"] == "-"
    assert len({ACCESS_RE.match(l)["rid"] for l in lines}) == len(lines), "request ids not unique"
