"""A WSGI app that misbehaves on purpose, for berth's operations tests.

Endpoints:
  /              200 "ok <pid>"
  /pid           the worker's pid as text
  /sleep?s=5     sleeps s seconds in time.sleep (stuck in C, the GIL released)
  /spin?s=5      a pure-Python busy loop for s seconds
  /spin-c        a busy loop in C holding the GIL: sum() over a huge range
  /grow?mb=50    keeps mb MiB more allocated for the worker's life, answers its pid
  /version       the text of version.txt beside this file (read at import), or "none"
  /error         raises RuntimeError("boom from misbehaving")
"""

import os
import time
from urllib.parse import parse_qs

_HERE = os.path.dirname(os.path.abspath(__file__))
try:
    with open(os.path.join(_HERE, "version.txt")) as f:
        VERSION = f.read().strip()
except FileNotFoundError:
    VERSION = "none"

_kept = []


def _arg(environ, name, default):
    values = parse_qs(environ.get("QUERY_STRING", "")).get(name)
    return float(values[0]) if values else default


def _spin(seconds):
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
    return n


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/sleep":
        time.sleep(_arg(environ, "s", 5))
        body = b"slept"
    elif path == "/spin":
        body = b"spun %d" % _spin(_arg(environ, "s", 5))
    elif path == "/spin-c":
        body = b"%d" % sum(range(10 ** 13))
    elif path == "/grow":
        _kept.append(bytearray(int(_arg(environ, "mb", 50) * 1024 * 1024)))
        body = b"%d" % os.getpid()
    elif path == "/error":
        raise RuntimeError("boom from misbehaving")
    elif path == "/pid":
        body = b"%d" % os.getpid()
    elif path == "/version":
        body = VERSION.encode()
    else:
        body = b"ok %d" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


application = app
