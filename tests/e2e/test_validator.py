"""berth's gateway + worker checked by wsgiref.validate: samples/validated wraps the hello
app in the PEP 3333 validator, so any non-conforming environ, wsgi.input, start_response
or iterator handling raises AssertionError (→ a 500 and a traceback in berth's stderr) or
issues a WSGIWarning."""
import hashlib
import http.client
import json
import os
import socket

import pytest
import requests

from conftest import SAMPLES, VENV_PYTHON

TIMEOUT = 15.0
PATTERN = b"0123456789abcdef"
HELLO_FILE = (SAMPLES / "hello" / "app.py").read_bytes()


@pytest.fixture
def validated(start_berth):
    # --no-isolate: samples/validated imports ../hello/app.py, outside what a container grants.
    return start_berth("serve", "--no-isolate", "app:app", "--chdir", SAMPLES / "validated", "-w", "2",
                       "-b", "127.0.0.1:0", "--python", VENV_PYTHON)


def pattern(n):
    return (PATTERN * (n // 16 + 1))[:n]


def raw_exchange(berth, data):
    """Sends raw bytes, reads until berth closes; returns everything received."""
    s = socket.create_connection((berth.host, berth.port), timeout=TIMEOUT)
    try:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    finally:
        s.close()


def test_validator_sees_no_violations(validated):
    url = validated.url
    # One connection per request: keep-alive after uploads is covered (and currently
    # failing intermittently) in test_gateway.py::test_keepalive_request_after_uploads;
    # here only the WSGI conformance of each exchange is under test.
    s = requests
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)

    # GET with a query string, and HEAD.
    r = s.get(url + "/?a=1&b=two&c=%20x", timeout=TIMEOUT)
    check(r.status_code == 200 and r.content == b"Hello, world!", ("GET /?query", r.status_code, r.content[:200]))
    r = s.head(url + "/", timeout=TIMEOUT)
    check(r.status_code == 200 and r.headers.get("Content-Length") == "13" and r.content == b"",
          ("HEAD /", r.status_code, r.headers))
    r = s.head(url + "/stream?n=5000", timeout=TIMEOUT)
    check(r.status_code == 200 and r.content == b"", ("HEAD /stream", r.status_code))
    r = s.head(url + "/environ", timeout=TIMEOUT)
    check(r.status_code == 200, ("HEAD /environ", r.status_code))

    # POST bodies of several sizes, with Content-Length.
    for size in [0, 1, 1000, 65535, 65536, 65537, 1 << 20, 3 * (1 << 20) + 7]:
        body = os.urandom(size)
        r = s.post(url + "/upload", data=body, timeout=TIMEOUT)
        ok = r.status_code == 200 and r.json() == {"bytes": size, "sha256": hashlib.sha256(body).hexdigest()}
        check(ok, ("POST /upload", size, r.status_code, r.content[:300]))

    # Chunked request bodies (no CONTENT_LENGTH; wsgi.input_terminated).
    for pieces in [[b"abc"], [b"x" * 100000, b"y" * 3], [os.urandom(70000) for _ in range(5)], []]:
        body = b"".join(pieces)
        r = s.post(url + "/upload", data=iter(pieces), timeout=TIMEOUT)
        ok = r.status_code == 200 and r.json() == {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
        check(ok, ("chunked POST /upload", len(body), r.status_code, r.content[:300]))

    # /echo, Content-Length and chunked.
    for body in [b"", b"e", os.urandom(200000)]:
        r = s.post(url + "/echo", data=body, headers={"Content-Type": "application/x-thing"}, timeout=TIMEOUT)
        check(r.status_code == 200 and r.content == body, ("POST /echo", len(body), r.status_code))
    body = os.urandom(150000)
    r = s.post(url + "/echo", data=iter([body[:1], body[1:]]), timeout=TIMEOUT)
    check(r.status_code == 200 and r.content == body, ("chunked POST /echo", r.status_code))

    # Streamed responses, write(), the file wrapper.
    for n, chunk in [(0, 10), (1, 10), (100000, 1000), (1 << 20, 65536), (300001, 7777)]:
        r = s.get(url + f"/stream?n={n}&chunk={chunk}", timeout=TIMEOUT)
        check(r.status_code == 200 and r.content == pattern(n), ("/stream", n, chunk, r.status_code, len(r.content)))
    r = s.get(url + "/write", timeout=TIMEOUT)
    check(r.status_code == 200 and r.content == b"part 1 from write()\npart 2 from the iterable\n",
          ("/write", r.status_code, r.content))
    r = s.get(url + "/file", timeout=TIMEOUT)
    check(r.status_code == 200 and r.content == HELLO_FILE and r.headers.get("Content-Type") == "text/x-python",
          ("/file", r.status_code, len(r.content)))

    # Statuses, including bodiless ones.
    for code in [200, 201, 204, 301, 304, 400, 404, 418, 503]:
        r = s.get(url + f"/status/{code}", timeout=TIMEOUT, allow_redirects=False)
        expected_body = b"" if code in (204, 304) else b"status %d\n" % code
        check(r.status_code == code and r.content == expected_body, ("/status", code, r.status_code, r.content[:200]))

    # The environ with repeated headers, cookies, percent-encoded and UTF-8 paths.
    c = http.client.HTTPConnection(validated.host, validated.port, timeout=TIMEOUT)
    c.putrequest("GET", "/%65nviron?q=%C3%A9&x=1&x=2")
    for k, v in [("X-Rep", "1"), ("X-Rep", "2"), ("Cookie", "a=1"), ("Cookie", "b=2"), ("X-Under_Score", "no"),
                 ("Accept-Language", "fr, en;q=0.5")]:
        c.putheader(k, v)
    c.endheaders()
    resp = c.getresponse()
    data = resp.read()
    c.close()
    check(resp.status == 200, ("/environ with headers", resp.status, data[:500]))
    if resp.status == 200:
        env = json.loads(data)
        check(env.get("HTTP_X_REP") == "1, 2", ("HTTP_X_REP", env.get("HTTP_X_REP")))
        check(env.get("HTTP_COOKIE") == "a=1; b=2", ("HTTP_COOKIE", env.get("HTTP_COOKIE")))
        check("HTTP_X_UNDER_SCORE" not in env, "underscore header passed through")
        check(env.get("QUERY_STRING") == "q=%C3%A9&x=1&x=2", ("QUERY_STRING", env.get("QUERY_STRING")))

    r = s.post(url + "/environ?form=1", data=b"a=1&b=2",
               headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=TIMEOUT)
    check(r.status_code == 200, ("POST /environ", r.status_code, r.content[:500]))
    if r.status_code == 200:
        env = r.json()
        check(env.get("CONTENT_TYPE") == "application/x-www-form-urlencoded", ("CONTENT_TYPE", env.get("CONTENT_TYPE")))
        check(env.get("CONTENT_LENGTH") == "7", ("CONTENT_LENGTH", env.get("CONTENT_LENGTH")))

    for path, shown in [("/caf%C3%A9", "/café"), ("/%E2%9C%93/a%20b", "/✓/a b"), ("/~user/x;p=1", "/~user/x;p=1"),
                        ("/a/b/../c", "/a/c")]:
        r = s.get(url + path, timeout=TIMEOUT)
        latin1 = shown.encode("utf-8").decode("latin-1")
        check(r.status_code == 404 and r.content.decode("utf-8") == f"not found: {latin1}\n",
              ("unicode path", path, r.status_code, r.content[:200]))

    r = s.get(url + "/pid", timeout=TIMEOUT)
    check(r.status_code == 200 and r.text.isdigit(), ("/pid", r.status_code))
    r = s.get(url + "/sleep?s=0.05", timeout=TIMEOUT)
    check(r.status_code == 200 and r.text == "slept", ("/sleep", r.status_code))

    # HTTP/1.0, with and without a Host; a streamed response to an HTTP/1.0 client.
    out = raw_exchange(validated, b"GET /environ HTTP/1.0\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 200 ") or out.startswith(b"HTTP/1.0 200 "), ("HTTP/1.0 /environ", out[:200]))
    out = raw_exchange(validated, b"GET /stream?n=1000 HTTP/1.0\r\nHost: h\r\n\r\n")
    check(out.split(b"\r\n", 1)[0].split(b" ")[1] == b"200" and out.endswith(b"\r\n\r\n" + pattern(1000)),
          ("HTTP/1.0 /stream", out[:200]))

    # OPTIONS and a method with no body semantics the app does not care about.
    r = s.options(url + "/", timeout=TIMEOUT)
    check(r.status_code == 200, ("OPTIONS /", r.status_code))
    r = s.delete(url + "/status/202", timeout=TIMEOUT)
    check(r.status_code == 202, ("DELETE /status/202", r.status_code))

    rc = validated.stop()
    stderr = validated.stderr
    assert not failures, "\n".join(map(repr, failures)) + "\nstderr:\n" + stderr[-3000:]
    assert rc == 0
    for marker in ["AssertionError", "validator", "WSGIWarning", "Traceback", "app error"]:
        assert marker not in stderr, f"{marker!r} in berth's stderr:\n{stderr[-3000:]}"
    access = [l for l in validated.stdout_lines if '" 500 ' in l]
    assert not access, access
