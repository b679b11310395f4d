"""berth's reverse proxy against real servers: gunicorn (the hello app, and samples/mysite
with a Django admin login) behind berth, and real nginx in front of berth.

Also: X-Forwarded-*, hop-by-hop headers, unix-socket upstreams, 100 MB both ways with
bounded memory, 502/504, round robin with failover, request buffering.
"""
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import ROOT, SAMPLES, VENV_PYTHON, Berth, admin_login, prepare_mysite
from test_gateway import RSS_BUDGET_KIB, RssSampler

TIMEOUT = 30.0
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
NGINX = "/usr/sbin/nginx"
PATTERN = b"0123456789abcdef"


# ----------------------------------------------------------------------------- upstreams

class Gunicorn:
    """A real gunicorn on 127.0.0.1:0 (or a unix socket) serving `app` from `chdir`."""

    def __init__(self, app, chdir, bind="127.0.0.1:0", workers=1, env=None, extra=()):
        self.bind = bind
        self.proc = subprocess.Popen(
            [str(GUNICORN), "-b", bind, "-w", str(workers), "--chdir", str(chdir), "--access-logfile", "-",
             "--graceful-timeout", "1", *extra, app],
            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.port = None
        listening = threading.Event()

        def pump():
            for line in self.proc.stdout:
                self.lines.append(line)
                m = re.search(r"Listening at: (\S+)", line)
                if m:
                    address = m.group(1)
                    if address.startswith("http://"):
                        self.port = int(address.rsplit(":", 1)[1].split(" ")[0])
                    listening.set()
        threading.Thread(target=pump, daemon=True).start()
        assert listening.wait(30), "gunicorn did not start:\n" + "".join(self.lines)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}" if self.port else self.bind

    def worker_pids(self):
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return sorted(int(p) for p in children)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def gunicorns():
    started = []

    def start(*args, **kwargs):
        g = Gunicorn(*args, **kwargs)
        started.append(g)
        return g
    yield start
    for g in started:
        g.stop()


def proxy_config(routes, server_lines=""):
    return f"""\
[server]
access_log = "-"
{server_lines}

[[listen]]
bind = "127.0.0.1:0"

{routes}
"""


def start_proxy(start_berth, tmp_path, routes, server_lines=""):
    config = tmp_path / "berth.toml"
    config.write_text(proxy_config(routes, server_lines))
    return start_berth("serve", "-c", config)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- gunicorn

def test_forwarded_headers_and_hop_by_hop(start_berth, gunicorns, tmp_path):
    g = gunicorns("app:app", SAMPLES / "hello")
    berth = start_proxy(start_berth, tmp_path, f'[[route]]\npath = "/"\nproxy = "{g.url}"\n')
    r = requests.get(berth.url + "/", timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == b"Hello, world!"
    r = requests.get(berth.url + "/environ?x=1", timeout=TIMEOUT, headers={
        "X-Forwarded-For": "203.0.113.9", "Connection": "keep-alive, X-Hop", "X-Hop": "secret",
        "Proxy": "http://evil", "X-Kept": "yes"})
    env = r.json()
    assert env["HTTP_X_FORWARDED_FOR"] == "203.0.113.9, 127.0.0.1"
    assert env["HTTP_X_FORWARDED_PROTO"] == "http"
    assert env["HTTP_HOST"] == f"127.0.0.1:{berth.port}"
    assert env["HTTP_X_FORWARDED_HOST"] == f"127.0.0.1:{berth.port}"
    assert env["QUERY_STRING"] == "x=1" and env["PATH_INFO"] == "/environ"
    assert env["HTTP_X_KEPT"] == "yes"
    assert "HTTP_X_HOP" not in env and "HTTP_PROXY" not in env
    # The upstream's hop-by-hop fields stay on its hop (gunicorn sends Connection: close
    # for HTTP/1.0-style sync workers; berth frames its own response).
    raw = socket.create_connection((berth.host, berth.port), timeout=TIMEOUT)
    raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while data.count(b"Hello, world!") < 2:
        chunk = raw.recv(65536)
        assert chunk, data
        data += chunk
    raw.close()
    assert b"Connection: close" not in data, "berth passed the upstream's Connection on"


def test_unix_socket_upstream(start_berth, gunicorns, tmp_path):
    sock = tmp_path / "gunicorn.sock"
    g = gunicorns("app:app", SAMPLES / "hello", bind=f"unix:{sock}")
    berth = start_proxy(start_berth, tmp_path, f'[[route]]\npath = "/"\nproxy = "unix:{sock}"\n')
    for _ in range(3):
        r = requests.get(berth.url + "/", timeout=TIMEOUT)
        assert r.status_code == 200 and r.content == b"Hello, world!"


def test_100mb_upload_and_download_with_bounded_memory(start_berth, gunicorns, tmp_path):
    g = gunicorns("app:app", SAMPLES / "hello", extra=["--timeout", "120"])
    berth = start_proxy(start_berth, tmp_path, f'[[route]]\npath = "/"\nproxy = "{g.url}"\n',
                        server_lines='max_body_size = "200m"')
    for _ in range(3):
        requests.post(berth.url + "/upload", data=os.urandom(1 << 20), timeout=TIMEOUT)
        requests.get(berth.url + "/stream?n=2000000", timeout=TIMEOUT)
    idle = berth.rss_kib()
    total = 100_000_000
    piece = 256 * 1024
    digest = hashlib.sha256()
    seed = os.urandom(piece)

    def body():
        sent, i = 0, 0
        while sent < total:
            n = min(piece, total - sent)
            data = i.to_bytes(8, "big") + seed[8:n]
            digest.update(data)
            sent += n
            i += 1
            yield data

    with RssSampler(berth) as rss:
        conn = http.client.HTTPConnection(berth.host, berth.port, timeout=120)
        conn.request("POST", "/upload", body=body(), headers={"Content-Length": str(total)})
        resp = conn.getresponse()
        result = resp.read()
        assert resp.status == 200, result[:300]
        assert json.loads(result) == {"bytes": total, "sha256": digest.hexdigest()}
        # Download, reading slowly at first: the proxy must stop reading gunicorn.
        conn.request("GET", f"/stream?n={total}")
        resp = conn.getresponse()
        assert resp.status == 200
        got = 0
        expected = hashlib.sha256()
        for _ in range(20):
            chunk = resp.read(64 * 1024)
            got += len(chunk)
            expected.update(chunk)
            time.sleep(0.05)
        slow_peak = rss.peak
        while True:
            chunk = resp.read(1 << 20)
            if not chunk:
                break
            got += len(chunk)
            expected.update(chunk)
        conn.close()
    assert got == total
    reference = hashlib.sha256()
    for start in range(0, total, 1 << 20):
        n = min(1 << 20, total - start)
        reference.update((PATTERN * ((n // 16) + 2))[start % 16:start % 16 + n])
    assert expected.hexdigest() == reference.hexdigest()
    assert slow_peak - idle < RSS_BUDGET_KIB, f"RSS {idle} → {slow_peak} KiB with a slow reader"
    assert rss.peak - idle < RSS_BUDGET_KIB, f"RSS {idle} → {rss.peak} KiB over 100 MB each way"


def test_refused_gives_502_and_timeout_gives_504(start_berth, gunicorns, tmp_path):
    # Two sync workers: one stays busy with the slow request after berth gives up on it.
    g = gunicorns("app:app", SAMPLES / "hello", workers=2)
    dead = free_port()
    berth = start_proxy(start_berth, tmp_path, f"""\
[upstream.slow]
servers = ["{g.url}"]
read_timeout = 1

[[route]]
path = "/dead"
proxy = "http://127.0.0.1:{dead}"

[[route]]
path = "/"
upstream = "slow"
""")
    r = requests.get(berth.url + "/dead", timeout=TIMEOUT)
    assert r.status_code == 502
    assert "Bad Gateway" in r.text
    started = time.monotonic()
    r = requests.get(berth.url + "/sleep?s=5", timeout=TIMEOUT)
    assert r.status_code == 504
    assert 0.9 < time.monotonic() - started < 4
    # The connection that timed out was dropped, not pooled: the next request is fine.
    assert requests.get(berth.url + "/", timeout=TIMEOUT).content == b"Hello, world!"
    assert "proxy: connect to upstream" in berth.stderr and "sent nothing for 1 s" in berth.stderr


def test_round_robin_and_failover(start_berth, gunicorns, tmp_path):
    a = gunicorns("app:app", SAMPLES / "hello")
    b = gunicorns("app:app", SAMPLES / "hello")
    berth = start_proxy(start_berth, tmp_path, f"""\
[upstream.pair]
servers = ["{a.url}", "{b.url}"]
max_fails = 1
fail_timeout = 30

[[route]]
path = "/"
upstream = "pair"
""")
    pids = {requests.get(berth.url + "/pid", timeout=TIMEOUT).text for _ in range(6)}
    assert pids == {str(p) for p in a.worker_pids() + b.worker_pids()}, pids
    b.stop()
    # b is gone: each request still succeeds (a refused connection moves on to a), and b is
    # then left out.
    for _ in range(6):
        r = requests.get(berth.url + "/pid", timeout=TIMEOUT)
        assert r.status_code == 200 and r.text == str(a.worker_pids()[0])


def test_buffer_request_reads_the_whole_body_before_connecting(start_berth, tmp_path):
    """With buffer_request, a slow client's body is read by berth before the upstream hears
    of the request; the upstream then gets it in one piece with a Content-Length."""
    upstream = socket.socket()
    upstream.bind(("127.0.0.1", 0))
    upstream.listen(8)
    port = upstream.getsockname()[1]
    berth = start_proxy(start_berth, tmp_path, f"""\
[upstream.sync]
servers = ["http://127.0.0.1:{port}"]
buffer_request = true

[[route]]
path = "/"
upstream = "sync"
""", server_lines='max_body_size = "10m"')
    body = os.urandom(3 << 20)  # beyond the in-memory part: spills to a temporary file
    client = socket.create_connection((berth.host, berth.port), timeout=TIMEOUT)
    client.sendall(b"POST /form HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    for i in range(3):
        part = body[i << 20:(i + 1) << 20]
        client.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        upstream.settimeout(0.4)
        with pytest.raises(socket.timeout):
            upstream.accept()  # nothing yet: the body is not complete
    client.sendall(b"0\r\n\r\n")
    upstream.settimeout(TIMEOUT)
    conn, _ = upstream.accept()
    conn.settimeout(TIMEOUT)
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, rest = data.split(b"\r\n\r\n", 1)
    assert b"content-length: %d" % len(body) in head.lower(), head
    assert b"transfer-encoding" not in head.lower()
    while len(rest) < len(body):
        chunk = conn.recv(1 << 20)
        assert chunk
        rest += chunk
    assert rest == body
    conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
    response = b""
    while not response.endswith(b"ok"):
        chunk = client.recv(65536)
        assert chunk, response
        response += chunk
    assert response.startswith(b"HTTP/1.1 201 ")
    conn.close()
    client.close()
    upstream.close()


def test_django_admin_login_through_proxy(start_berth, gunicorns, tmp_path):
    base = tmp_path / "site"
    base.mkdir()
    env = {
        "MYSITE_DB": str(base / "db.sqlite3"), "MYSITE_STATIC_ROOT": str(base / "static"),
        "MYSITE_MEDIA_ROOT": str(base / "media"), "MYSITE_DEBUG": "0",
        "MYSITE_SECRET_KEY": "proxy-" + uuid.uuid4().hex * 2, "MYSITE_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    prepare_mysite(SAMPLES / "mysite", env, "proxy-admin", "a long proxy password 7")
    g = gunicorns("mysite.wsgi:application", SAMPLES / "mysite", workers=2, env=env)
    berth = start_proxy(start_berth, tmp_path, f"""\
[[route]]
path = "/static/"
static = "{base / 'static'}"

[[route]]
path = "/"
proxy = "{g.url}"
""")
    session, r = admin_login(berth, "proxy-admin", "a long proxy password 7")
    assert r.status_code == 302 and r.headers["Location"] == "/admin/", (r.status_code, r.text[:500])
    page = session.get(berth.url + "/admin/", timeout=TIMEOUT)
    assert page.status_code == 200 and "Site administration" in page.text
    css = requests.get(berth.url + "/static/admin/css/base.css", timeout=TIMEOUT)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    # gunicorn saw the requests, berth logged them.
    assert any("/admin/login/" in line for line in g.lines)


# ----------------------------------------------------------------------------- nginx in front

def test_nginx_proxy_pass_to_berth(start_berth, tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    (static / "note.txt").write_text("a static note\n")
    config = tmp_path / "berth.toml"
    config.write_text(f"""\
python = "{VENV_PYTHON}"
[[listen]]
bind = "127.0.0.1:0"
[app.hello]
module = "app:app"
chdir = "{SAMPLES / 'hello'}"
workers = 2
[app.hello.isolation]
enabled = false
[[route]]
path = "/static/"
static = "{static}"
[[route]]
path = "/"
app = "hello"
""")
    berth = start_berth("serve", "-c", config)
    for attempt in range(5):
        port = free_port()
        (tmp_path / "nginx.conf").write_text(f"""\
daemon off;
master_process off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/nginx-error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    upstream berth {{ server 127.0.0.1:{berth.port}; keepalive 4; }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 20m;
        location / {{
            proxy_pass http://berth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
""")
        nginx = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 10
            up = False
            while time.monotonic() < deadline and nginx.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    up = True
                    break
                except OSError:
                    time.sleep(0.05)
            if not up:
                log = (tmp_path / "nginx-error.log").read_text() if (tmp_path / "nginx-error.log").exists() else ""
                if "Address already in use" in log and attempt < 4:
                    continue  # someone took the port between our check and nginx's bind
                raise AssertionError(f"nginx did not start: {log}")
            url = f"http://127.0.0.1:{port}"
            session = requests.Session()
            for _ in range(3):
                r = session.get(url + "/", timeout=TIMEOUT)
                assert r.status_code == 200 and r.content == b"Hello, world!"
            r = session.get(url + "/static/note.txt", timeout=TIMEOUT)
            assert r.status_code == 200 and r.text == "a static note\n" and "ETag" in r.headers
            r = session.get(url + "/static/note.txt", headers={"If-None-Match": r.headers["ETag"]}, timeout=TIMEOUT)
            assert r.status_code == 304
            payload = os.urandom(5 << 20)
            r = session.post(url + "/upload", data=payload, timeout=TIMEOUT)
            assert r.json() == {"bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
            env = session.get(url + "/environ", timeout=TIMEOUT).json()
            assert env["HTTP_X_FORWARDED_FOR"] == "127.0.0.1"
            assert env["HTTP_HOST"] == "127.0.0.1"
            assert len(session.get(url + "/stream?n=3000000", timeout=TIMEOUT).content) == 3000000
            # berth logged nginx's requests over nginx's kept-alive connections.
            assert berth.stdout.count('"GET / HTTP/1.1" 200 13') >= 3
            return
        finally:
            nginx.terminate()
            nginx.wait(10)
    raise AssertionError("no free port for nginx after 5 tries")


def test_proxied_requests_do_not_grow_berth_memory(start_berth, hello, tmp_path):
    """berth proxying to another berth (a keep-alive upstream, so the pool is used): the
    proxy's exchanges and pooled connections are freed; its RSS stays flat."""
    proxy = start_proxy(start_berth, tmp_path, f'[[route]]\npath = "/"\nproxy = "{hello.url}"\n')
    conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=10)

    def burst(n):
        for _ in range(n):
            conn.request("GET", "/")
            r = conn.getresponse()
            assert r.status == 200 and r.read() == b"Hello, world!"

    burst(1000)  # warm up: allocator pools, caches
    before = proxy.rss_kib()
    burst(4000)
    grown = proxy.rss_kib() - before
    assert grown < 3000, f"the proxy's RSS grew {grown} KiB over 4000 requests"
    # Pooled: a connection or two to the upstream, not one per request (closed ones would
    # linger in TIME_WAIT by the thousand).
    states = tcp_states(hello.port)
    assert states.get("ESTABLISHED", 0) <= 4 and states.get("TIME_WAIT", 0) < 50, states


def tcp_states(port):
    """Counts of TCP connection states (IPv4) with `port` at either end."""
    names = {"01": "ESTABLISHED", "06": "TIME_WAIT"}
    counts = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        if int(local.split(":")[1], 16) == port or int(remote.split(":")[1], 16) == port:
            name = names.get(state, state)
            counts[name] = counts.get(name, 0) + 1
    return counts


def test_proxy_route_over_http2(start_berth, gunicorns, tmp_path):
    """An h2c client reaches a proxied upstream (HTTP/1.1 on the upstream's side) with the
    forwarded fields, and the route's response headers apply."""
    from h2_client import H2Client

    g = gunicorns("app:app", SAMPLES / "hello")
    berth = start_proxy(
        start_berth, tmp_path,
        f'[[route]]\npath = "/"\nproxy = "{g.url}"\nheaders = {{ "X-Frame-Options" = "DENY" }}\n')
    client = H2Client(berth.host, berth.port)
    try:
        sids = [client.request("GET", f"/environ?n={i}") for i in range(10)]
        for i, stream in enumerate(client.wait_streams(sids)):
            assert stream.status == 200, stream.status
            assert stream.header("x-frame-options") == "DENY"
            env = json.loads(bytes(stream.body))
            assert env["QUERY_STRING"] == f"n={i}"
            assert env["HTTP_X_FORWARDED_PROTO"] == "http"
            assert env["HTTP_X_FORWARDED_FOR"] == "127.0.0.1"
    finally:
        client.close()
