"""Routing by host (exact, wildcard, default server) and path, several listeners, and
per-route response headers, against the real binary."""
import re
import socket

import requests

from conftest import SAMPLES, VENV_PYTHON

TIMEOUT = 15.0


def write_config(tmp_path, body):
    a = tmp_path / "a"
    b = tmp_path / "b"
    for d, text in ((a, "site a\n"), (b, "site b\n")):
        d.mkdir()
        (d / "index.html").write_text(text)
        (d / "only.txt").write_text(text)
    config = tmp_path / "berth.toml"
    config.write_text(f"""\
python = "{VENV_PYTHON}"

[server]
access_log = "off"

[[listen]]
bind = "127.0.0.1:0"

[[listen]]
bind = "127.0.0.1:0"

[app.hello]
module = "app:app"
chdir = "{SAMPLES / 'hello'}"
workers = 1
[app.hello.isolation]
enabled = false
{body.format(a=a, b=b)}
""")
    return config


ROUTES = """
[[route]]
path = "/"
static = "{a}"
host = "a.test"
headers = {{ "X-Site" = "a" }}

[[route]]
path = "/status"
app = "hello"
host = "a.test"
headers = {{ "X-Frame-Options" = "DENY", "Content-Type" = "text/x-replaced" }}

[[route]]
path = "/"
static = "{b}"
host = ["*.b.test", "b.example"]

[[route]]
path = "/"
app = "hello"
"""


def get(berth, path, host, port=None):
    return requests.get(f"http://127.0.0.1:{port or berth.port}{path}", headers={"Host": host},
                        timeout=TIMEOUT, allow_redirects=False)


def test_host_routing_exact_wildcard_default(start_berth, tmp_path):
    berth = start_berth("serve", "-c", write_config(tmp_path, ROUTES))
    r = get(berth, "/", "a.test")
    assert r.text == "site a\n" and r.headers["X-Site"] == "a"
    assert get(berth, "/only.txt", "A.Test:8080").text == "site a\n", "host names are case-blind, ports ignored"
    assert get(berth, "/", "a.test.").text == "site a\n", "a trailing dot is the same name"
    assert get(berth, "/only.txt", "x.b.test").text == "site b\n"
    assert get(berth, "/only.txt", "deep.x.b.test").text == "site b\n"
    assert get(berth, "/only.txt", "b.example").text == "site b\n"
    # b.test itself is not under *.b.test: the default server (the app) answers.
    r = get(berth, "/", "b.test")
    assert r.content == b"Hello, world!" and "X-Site" not in r.headers
    assert get(berth, "/", "unknown.example").content == b"Hello, world!"
    # A host's routes are its own: a path it lacks is 404, not the default server's.
    assert get(berth, "/nothing-here.txt", "a.test").status_code == 404


def test_route_headers_replace_the_apps(start_berth, tmp_path):
    berth = start_berth("serve", "-c", write_config(tmp_path, ROUTES))
    r = get(berth, "/status/200", "a.test")
    assert r.status_code == 200
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Content-Type"] == "text/x-replaced"
    assert r.raw.headers.getlist("Content-Type") == ["text/x-replaced"], "replaced, not added"
    # Headers are per route: the default server's responses do not get them.
    assert "X-Frame-Options" not in get(berth, "/", "other").headers


def test_exact_path_wins_over_prefix(start_berth, tmp_path):
    routes = ROUTES + """
[[route]]
path = "/pinned"
match = "exact"
static = "{b}"
"""
    berth = start_berth("serve", "-c", write_config(tmp_path, routes))
    # The exact route (b's directory, so its index) wins over the "/" prefix (the app) for
    # its one path; below it, the prefix route answers (the hello app's 404).
    assert get(berth, "/pinned", "other").text == "site b\n"
    r = get(berth, "/pinned/more", "other")
    assert r.status_code == 404 and r.text != "site b\n"
    assert get(berth, "/", "other").content == b"Hello, world!"


def test_several_listeners_serve_the_same_routes(start_berth, tmp_path):
    berth = start_berth("serve", "-c", write_config(tmp_path, ROUTES))
    ports = [int(p) for p in re.findall(r"listening on http://127\.0\.0\.1:(\d+)", berth.stdout)]
    assert len(ports) == 2 and ports[0] != ports[1], berth.stdout
    for port in ports:
        assert get(berth, "/", "a.test", port).text == "site a\n"
        assert get(berth, "/", "other", port).content == b"Hello, world!"
