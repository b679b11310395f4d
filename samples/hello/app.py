"""A plain WSGI test app for berth (standard library only).

Run it with e.g. ``berth serve --chdir samples/hello app:app``.

Endpoints:
  /                   200 text/plain "Hello, world!" (13 bytes, Content-Length); benchmark path
  /echo               streams the request body back (64 KiB reads); echoes Content-Type,
                      sets Content-Length only if the request had one
  /upload             reads the body in chunks -> JSON {"bytes": N, "sha256": hex}
  /stream?n=&chunk=   streams n bytes (default 1 MiB) of the repeating pattern
                      b"0123456789abcdef" in chunks (default 64 KiB), no Content-Length;
                      byte i of the body is PATTERN[i % 16]
  /bytes?n=&chunk=&length=&stream=
                      n bytes (default 16384) of a body with no period (block k is
                      sha256(b"%d" % k), cut to n), in chunks of `chunk` bytes (default: one);
                      Content-Length unless length=0 (then chunked); stream=1 yields the chunks
                      from a generator (the worker sends each as it comes) instead of a list
                      (sent with the head in one frame batch)
  /environ            JSON of the environ: str/int/float/bool/None/tuple values as-is
                      (tuples as lists); any other value as {"__type__": "TypeName"}
  /error              raises RuntimeError("boom from /error") before start_response
  /crash              os._exit(1): the worker process dies mid-request
  /sleep?s=0.5        sleeps s seconds (capped at 60), then answers "slept"
  /status/NNN         answers status NNN (200-599) with a short body (no body for 204/304)
  /write              part of the body via start_response's write(), the rest via the iterable
  /pid                the worker's pid as text
  /file               this file via environ["wsgi.file_wrapper"], Content-Type text/x-python
Anything else: 404.
"""

import hashlib
import json
import os
import time
from http import HTTPStatus
from urllib.parse import parse_qs

CHUNK = 64 * 1024
PATTERN = b"0123456789abcdef"

_HELLO_BODY = b"Hello, world!"
_HELLO_HEADERS = [
    ("Content-Type", "text/plain"),
    ("Content-Length", str(len(_HELLO_BODY))),
]


def _text(start_response, status, body, content_type="text/plain; charset=utf-8"):
    if isinstance(body, str):
        body = body.encode("utf-8")
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def _json(start_response, obj, status="200 OK"):
    body = json.dumps(obj, sort_keys=True).encode("utf-8")
    return _text(start_response, status, body, "application/json")


def _query(environ):
    return parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)


def _query_num(environ, name, default, conv=int):
    values = _query(environ).get(name)
    if not values:
        return default
    return conv(values[0])


def _content_length(environ):
    """The request's Content-Length as an int, or None if it had none."""
    value = environ.get("CONTENT_LENGTH", "")
    if value in ("", None):
        return None
    return int(value)


def _read_body(environ):
    """Yield the request body in chunks of at most CHUNK bytes, never holding all of it.

    With a Content-Length, reads exactly that many bytes. Without one, reads until EOF
    only if the server says the input is terminated (wsgi.input_terminated, e.g. a
    chunked request body); otherwise the body is empty, as PEP 3333 requires.
    """
    stream = environ["wsgi.input"]
    remaining = _content_length(environ)
    if remaining is None:
        if not environ.get("wsgi.input_terminated"):
            return
        while True:
            data = stream.read(CHUNK)
            if not data:
                return
            yield data
    while remaining > 0:
        data = stream.read(min(CHUNK, remaining))
        if not data:
            return  # client sent less than it announced
        remaining -= len(data)
        yield data


def _echo(environ, start_response):
    headers = [("Content-Type", environ.get("CONTENT_TYPE") or "application/octet-stream")]
    length = _content_length(environ)
    if length is not None:
        headers.append(("Content-Length", str(length)))
    start_response("200 OK", headers)
    return _read_body(environ)


def _upload(environ, start_response):
    digest = hashlib.sha256()
    total = 0
    for data in _read_body(environ):
        total += len(data)
        digest.update(data)
    return _json(start_response, {"bytes": total, "sha256": digest.hexdigest()})


def _stream_body(n, chunk):
    # A buffer long enough that any chunk-sized window starting at offset 0..15 exists.
    buf = PATTERN * (chunk // len(PATTERN) + 2)
    sent = 0
    while sent < n:
        size = min(chunk, n - sent)
        start = sent % len(PATTERN)
        yield buf[start:start + size]
        sent += size


def _stream(environ, start_response):
    try:
        n = _query_num(environ, "n", 1024 * 1024)
        chunk = _query_num(environ, "chunk", CHUNK)
    except ValueError:
        return _text(start_response, "400 Bad Request", "n and chunk must be integers\n")
    if n < 0 or chunk <= 0:
        return _text(start_response, "400 Bad Request", "need n >= 0 and chunk > 0\n")
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return _stream_body(n, chunk)


_BYTES_CACHE = {}


def bytes_body(n):
    """The /bytes body: block k is sha256(b"%d" % k), cut to n bytes (a byte out of place
    changes its digest, unlike a repeated pattern's)."""
    body = _BYTES_CACHE.get(n)
    if body is None:
        body = b"".join(hashlib.sha256(b"%d" % k).digest() for k in range((n + 31) // 32))[:n]
        if len(_BYTES_CACHE) < 16:
            _BYTES_CACHE[n] = body
    return body


def _bytes(environ, start_response):
    try:
        n = _query_num(environ, "n", 16384)
        chunk = _query_num(environ, "chunk", max(n, 1))
        length = _query_num(environ, "length", 1)
        stream = _query_num(environ, "stream", 0)
    except ValueError:
        return _text(start_response, "400 Bad Request", "n, chunk, length and stream must be integers\n")
    if not 0 <= n <= 64 * 1024 * 1024 or chunk <= 0:
        return _text(start_response, "400 Bad Request", "need 0 <= n <= 64 MiB and chunk > 0\n")
    body = bytes_body(n)
    headers = [("Content-Type", "application/octet-stream")]
    if length:
        headers.append(("Content-Length", str(n)))
    start_response("200 OK", headers)
    pieces = (body[i:i + chunk] for i in range(0, n, chunk))
    return pieces if stream else list(pieces)


def _jsonable(value):
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return {"__type__": type(value).__name__}


def _environ(environ, start_response):
    return _json(start_response, {k: _jsonable(v) for k, v in environ.items()})


def _error(environ, start_response):
    raise RuntimeError("boom from /error")


def _crash(environ, start_response):
    os._exit(1)


def _sleep(environ, start_response):
    try:
        seconds = _query_num(environ, "s", 0.5, float)
    except ValueError:
        return _text(start_response, "400 Bad Request", "s must be a number\n")
    time.sleep(min(max(seconds, 0.0), 60.0))
    return _text(start_response, "200 OK", "slept")


def _status(environ, start_response, code_text):
    if not (len(code_text) == 3 and code_text.isdigit() and 200 <= int(code_text) <= 599):
        return _text(start_response, "400 Bad Request", "status must be 200-599\n")
    code = int(code_text)
    try:
        reason = HTTPStatus(code).phrase
    except ValueError:
        reason = "Unknown"
    status = "%d %s" % (code, reason)
    if code in (204, 304):
        # No body, and (per wsgiref.validate) no Content-Type either.
        start_response(status, [])
        return []
    return _text(start_response, status, "status %d\n" % code)


def _write(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    write(b"part 1 from write()\n")
    return [b"part 2 from the iterable\n"]


def _pid(environ, start_response):
    return _text(start_response, "200 OK", str(os.getpid()))


def _file(environ, start_response):
    f = open(__file__, "rb")
    size = os.fstat(f.fileno()).st_size
    start_response("200 OK", [("Content-Type", "text/x-python"), ("Content-Length", str(size))])
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return wrapper(f, CHUNK)
    return _file_iter(f)


def _file_iter(f):
    with f:
        while True:
            data = f.read(CHUNK)
            if not data:
                return
            yield data


_ROUTES = {
    "/echo": _echo,
    "/upload": _upload,
    "/stream": _stream,
    "/bytes": _bytes,
    "/environ": _environ,
    "/error": _error,
    "/crash": _crash,
    "/sleep": _sleep,
    "/write": _write,
    "/pid": _pid,
    "/file": _file,
}


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/":
        start_response("200 OK", _HELLO_HEADERS[:])  # copy: servers may append to it
        return [_HELLO_BODY]
    handler = _ROUTES.get(path)
    if handler is not None:
        return handler(environ, start_response)
    if path.startswith("/status/"):
        return _status(environ, start_response, path[len("/status/"):])
    return _text(start_response, "404 Not Found", "not found: %s\n" % path)


application = app
