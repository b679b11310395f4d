"""End-to-end tests of HTTP/2 (h2c with prior knowledge) against the real berth binary:
the Python `h2` library over plain sockets, curl --http2-prior-knowledge and h2load.

The same port serves HTTP/1.1 and HTTP/2; berth tells them apart by the first bytes."""
import hashlib
import os
import re
import signal
import socket
import subprocess
import threading
import time

import h2.errors
import hpack
import pytest
import requests

from conftest import SAMPLES, VENV_PYTHON, write_config
from h2_client import H2Client, read_frames

HELLO = b"Hello, world!"
PATTERN = b"0123456789abcdef"
DATA, HEADERS, RST_STREAM, GOAWAY = 0, 1, 3, 7
END_STREAM = 0x1


@pytest.fixture
def site(start_berth, tmp_path):
    """The hello app at / with static files under /files/ (a 1 KiB and a 20 MiB file)."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "one.txt").write_bytes(bytes(range(256)) * 4)
    (root / "big.bin").write_bytes(os.urandom(1 << 20) * 20)
    b = start_berth("serve", "app:app", "--chdir", SAMPLES / "hello", "-w", "2",
                    "-b", "127.0.0.1:0", "--python", VENV_PYTHON, "--static", f"/files/={root}",
                    "--access-log", "-")
    b.root = root
    return b


def client(berth, **kwargs):
    return H2Client(berth.host, berth.port, **kwargs)


def test_hundred_concurrent_streams_to_app_and_static(site):
    c = client(site)
    try:
        one = (site.root / "one.txt").read_bytes()
        app = [c.request("GET", "/") for _ in range(50)]
        static = [c.request("GET", "/files/one.txt") for _ in range(50)]
        assert len(c.streams) == 100
        for s in c.wait_streams(app):
            assert s.status == 200 and bytes(s.body) == HELLO, s.headers
        for s in c.wait_streams(static):
            assert s.status == 200 and bytes(s.body) == one
            assert s.header("content-type") == "text/plain; charset=utf-8"
            assert s.header("content-length") == "1024"
            assert re.fullmatch(r'"[0-9a-f]+-400"', s.header("etag"))
        # HTTP/1.1 still works on the same port.
        r = requests.get(site.url + "/", timeout=10)
        assert r.status_code == 200 and r.content == HELLO
    finally:
        c.close()


def test_static_conditional_head_missing_and_methods(site):
    c = client(site)
    try:
        s = c.get("/files/one.txt")
        etag = s.header("etag")
        assert c.get("/files/one.txt", headers=[("if-none-match", etag)]).status == 304
        head = c.wait_streams([c.request("HEAD", "/files/one.txt")])[0]
        assert head.status == 200 and head.header("content-length") == "1024" and not head.body
        assert c.get("/files/nothing.txt").status == 404
        post = c.wait_streams([c.request("POST", "/files/one.txt", body=b"x")])[0]
        assert post.status == 405 and post.header("allow") == "GET, HEAD"
        assert c.get("/files/../../etc/passwd").status in (400, 404)
    finally:
        c.close()


def test_twenty_megabytes_up_and_down(site):
    c = client(site)
    try:
        body = os.urandom(20 << 20)
        sid = c.request("POST", "/upload", headers=[("content-length", str(len(body)))], body=body)
        s = c.wait_streams([sid], timeout=120)[0]
        assert s.status == 200, bytes(s.body)
        assert s.body.decode().count(hashlib.sha256(body).hexdigest()) == 1
        assert f'"bytes": {len(body)}' in s.body.decode()

        n = 20 << 20
        s = c.wait_streams([c.request("GET", f"/stream?n={n}")], 120)[0]
        assert s.status == 200 and len(s.body) == n
        assert bytes(s.body[:32]) == PATTERN * 2 and bytes(s.body[-16:]) == PATTERN

        big = (site.root / "big.bin").read_bytes()
        s = c.wait_streams([c.request("GET", "/files/big.bin")], 120)[0]
        assert s.status == 200 and len(s.body) == len(big) and bytes(s.body) == big
    finally:
        c.close()


def test_padded_upload_does_not_leak_the_connection_window(site):
    # 4 MiB in 1 KiB DATA frames each padded with 255 bytes: 1 MiB of padding in all, as
    # much as the whole connection window. Padding berth never handed to the app must
    # still be returned to the window, or the upload stalls.
    c = client(site)
    try:
        body = os.urandom(4 << 20)
        sid = c.request("POST", "/upload", headers=[("content-length", str(len(body)))], keep_open=True)
        c.send_body(sid, body, frame_size=1024, padding=255)
        s = c.wait_streams([sid], timeout=120)[0]
        assert s.status == 200 and hashlib.sha256(body).hexdigest() in s.body.decode()
    finally:
        c.close()


def test_echo_with_trailers_on_the_request(site):
    c = client(site)
    try:
        body = b"trailer test " * 1000
        sid = c.request("POST", "/upload", headers=[("content-type", "application/octet-stream")],
                        body=body, trailers=[("x-checksum", hashlib.sha256(body).hexdigest())])
        s = c.wait_streams([sid])[0]
        assert s.status == 200
        assert hashlib.sha256(body).hexdigest() in s.body.decode()
    finally:
        c.close()


def test_slow_reader_of_a_100_mb_response_keeps_rss_bounded(site):
    c = client(site)
    try:
        c.keep_body = False
        c.auto_ack = False  # the client's window closes: berth must stop, not buffer
        n = 100 << 20
        sid = c.request("GET", f"/stream?n={n}")
        c.wait(lambda: c.streams[sid].received >= 60000)
        before = site.rss_kib()
        time.sleep(3)  # the app keeps wanting to write meanwhile
        stalled = site.rss_kib()
        assert c.streams[sid].received <= 65535, "no more than the client's window was sent"
        assert stalled - before < 16 * 1024, f"RSS grew {stalled - before} KiB while the client did not read"
        # Now read it all, acknowledging as we go.
        c.conn.acknowledge_received_data(c.streams[sid].received, sid)
        c.auto_ack = True
        c.flush()
        peak = [stalled]

        def sample():
            while not c.streams[sid].ended and not c.closed:
                peak[0] = max(peak[0], site.rss_kib())
                time.sleep(0.05)
        t = threading.Thread(target=sample)
        t.start()
        c.wait_streams([sid], timeout=300)
        t.join()
        assert c.streams[sid].received == n
        assert peak[0] - before < 64 * 1024, f"RSS grew {peak[0] - before} KiB over a 100 MiB response"
    finally:
        c.close()


def test_rst_stream_mid_response_then_the_connection_goes_on(site):
    c = client(site)
    try:
        c.keep_body = False
        sid = c.request("GET", f"/stream?n={50 << 20}")
        c.wait(lambda: c.streams[sid].received > 100_000)
        c.conn.reset_stream(sid, error_code=h2.errors.ErrorCodes.CANCEL)
        c.flush()
        c.keep_body = True
        for _ in range(3):
            s = c.get("/")
            assert s.status == 200 and bytes(s.body) == HELLO
        assert c.terminated is None
    finally:
        c.close()
    # The worker that was streaming is free again: both workers answer.
    pids = {requests.get(site.url + "/pid", timeout=10).text for _ in range(20)}
    assert pids


def test_ping(site):
    c = client(site)
    try:
        c.conn.ping(b"berthpng")
        c.flush()
        c.wait(lambda: b"berthpng" in c.pings)
    finally:
        c.close()


def test_bad_preface_gets_goaway_protocol_error(site):
    sock = socket.create_connection((site.host, site.port), timeout=10)
    try:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
        frames = read_frames(sock)
    finally:
        sock.close()
    goaways = [f for f in frames if f[0] == GOAWAY]
    assert goaways, frames
    assert int.from_bytes(goaways[0][3][4:8], "big") == h2.errors.ErrorCodes.PROTOCOL_ERROR


def test_first_frame_not_settings_is_a_connection_error(site):
    sock = socket.create_connection((site.host, site.port), timeout=10)
    try:
        ping = (8).to_bytes(3, "big") + bytes([6, 0]) + (0).to_bytes(4, "big") + b"12345678"
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + ping)
        frames = read_frames(sock)
    finally:
        sock.close()
    goaways = [f for f in frames if f[0] == GOAWAY]
    assert goaways and int.from_bytes(goaways[0][3][4:8], "big") == h2.errors.ErrorCodes.PROTOCOL_ERROR


@pytest.mark.parametrize("fields", [
    [(":method", "GET"), (":scheme", "http"), (":authority", "x")],                 # no :path
    [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":path", "/")],      # twice
    [(":method", "GET"), ("accept", "*/*"), (":scheme", "http"), (":path", "/")],   # after a field
    [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":nope", "1")],      # unknown
    [(":method", "GET"), (":scheme", "http"), (":path", "/"), ("connection", "close")],
])
def test_malformed_pseudo_headers_reset_the_stream(site, fields):
    c = client(site, validate=False)
    try:
        sid = c.conn.get_next_available_stream_id()
        from h2_client import Stream
        c.streams[sid] = Stream()
        c.conn.send_headers(sid, fields, end_stream=True)
        c.flush()
        c.wait_streams([sid])
        assert c.streams[sid].reset_code == h2.errors.ErrorCodes.PROTOCOL_ERROR
        s = c.get("/")  # a stream error, not a connection error
        assert s.status == 200
    finally:
        c.close()


def test_header_list_too_large_gets_431(site):
    c = client(site)
    try:
        s = c.get("/", headers=[(f"x-big-{i}", "v" * 1000) for i in range(40)])
        assert s.status == 431
        assert c.get("/").status == 200
    finally:
        c.close()


def test_rapid_reset_gets_goaway_enhance_your_calm(site):
    c = client(site)
    try:
        for _ in range(300):
            sid = c.request("GET", "/")
            c.conn.reset_stream(sid, error_code=h2.errors.ErrorCodes.CANCEL)
        c.flush()
        try:
            c.wait(lambda: c.terminated is not None)
        except ConnectionError:
            pass
        assert c.terminated is not None
        assert c.terminated.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    finally:
        c.close()
    # berth itself is fine.
    assert requests.get(site.url + "/", timeout=10).content == HELLO


def test_access_log_says_http2(site):
    c = client(site)
    try:
        assert c.get("/?from=h2", headers=[("user-agent", "h2-test")]).status == 200
    finally:
        c.close()
    site.wait_for(lambda: re.search(r'"GET /\?from=h2 HTTP/2\.0" 200 13 "-" "h2-test"', site.stdout), 10, "access log")


def test_app_sees_http2_request(site):
    c = client(site)
    try:
        s = c.get("/environ", authority="example.test:8443", headers=[("cookie", "a=1"), ("cookie", "b=2")])
        assert s.status == 200
        import json
        environ = json.loads(bytes(s.body))
        assert environ["SERVER_PROTOCOL"] == "HTTP/2.0"
        assert environ["HTTP_HOST"] == "example.test:8443"
        assert environ["HTTP_COOKIE"] == "a=1; b=2"
        assert environ["wsgi.url_scheme"] == "http"
    finally:
        c.close()


def test_graceful_stop_finishes_in_flight_streams(site):
    # Raw frames: the h2 library treats any GOAWAY as the end of the connection, even one
    # that lets open streams finish (RFC 9113 §6.8).
    c = client(site)
    try:
        sid = c.request("GET", "/sleep?s=1")
        time.sleep(0.3)
        site.proc.send_signal(signal.SIGTERM)
        frames = read_frames(c.sock, timeout=20)
    finally:
        c.close()
    goaways = [f for f in frames if f[0] == GOAWAY]
    assert goaways, frames
    last_stream = int.from_bytes(goaways[0][3][:4], "big") & 0x7FFFFFFF
    assert last_stream == sid and int.from_bytes(goaways[0][3][4:8], "big") == 0
    data = [f for f in frames if f[0] == DATA and f[2] == sid]
    assert b"".join(f[3] for f in data) == b"slept"
    assert data[-1][1] & END_STREAM
    headers = [f for f in frames if f[0] == HEADERS and f[2] == sid]
    assert dict(hpack.Decoder().decode(headers[0][3]))[":status"] == "200"
    assert site.proc.wait(30) == 0


def test_curl_prior_knowledge(site):
    # One URL per curl: curl 7.88.1 fails to reuse a prior-knowledge connection for a
    # second URL ("Error in the HTTP2 framing layer", the same against nginx).
    for path, expected in [("/", HELLO), ("/files/one.txt", (site.root / "one.txt").read_bytes())]:
        out = subprocess.run(
            ["curl", "-sS", "--http2-prior-knowledge", "-D", "-", "-o", "-", site.url + path],
            capture_output=True, timeout=30)
        assert out.returncode == 0, out.stderr
        head, _, body = out.stdout.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/2 200"), head
        assert body == expected


def test_h2load_every_request_succeeds(site):
    for path in ["/", "/files/one.txt"]:
        out = subprocess.run(["h2load", "-n", "2000", "-c", "10", "-m", "10", site.url + path],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored",
                      out.stdout)
        assert m, out.stdout
        assert m.groups() == ("2000", "2000", "2000", "2000", "0", "0"), out.stdout
        assert "status codes: 2000 2xx" in out.stdout, out.stdout


def configured(start_berth, tmp_path, server):
    """berth serving the hello app from a config file with `server` lines in [server]."""
    return start_berth("serve", "-c", write_config(tmp_path, server=server, access_log=None))


def test_stalled_request_body_times_out(start_berth, tmp_path):
    b = configured(start_berth, tmp_path, "body_timeout = 1")
    c = client(b)
    try:
        sid = c.request("POST", "/upload", headers=[("content-length", "100")], keep_open=True)
        c.send_body(sid, b"x" * 10, end_stream=False)
        s = c.wait_streams([sid], timeout=10)[0]
        assert s.status == 408
        assert c.get("/").status == 200, "the worker is free again"
    finally:
        c.close()


def test_idle_connection_gets_goaway_then_closes(start_berth, tmp_path):
    b = configured(start_berth, tmp_path, "keepalive_timeout = 1")
    c = client(b)
    try:
        assert c.get("/").status == 200
        frames = read_frames(c.sock, timeout=15)  # returns once berth closed the connection
    finally:
        c.close()
    goaways = [f for f in frames if f[0] == GOAWAY]
    assert goaways and int.from_bytes(goaways[0][3][4:8], "big") == 0


def test_http2_off(start_berth, tmp_path):
    b = configured(start_berth, tmp_path, "http2 = false")
    sock = socket.create_connection((b.host, b.port), timeout=10)
    try:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        answer = sock.recv(100)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 4"), answer  # HTTP/1.1 only: the preface is a bad request
    assert requests.get(b.url + "/", timeout=10).content == HELLO


def test_head_204_and_304_from_the_app_have_no_body(site):
    c = client(site)
    try:
        head = c.wait_streams([c.request("HEAD", "/")])[0]
        assert head.status == 200 and head.header("content-length") == "13" and not head.body
        for code in (204, 304):
            s = c.get(f"/status/{code}")
            assert s.status == code and not s.body
        assert c.get("/").body == HELLO
    finally:
        c.close()


# ------------------------------------------------------------------ Django over HTTP/2

@pytest.fixture(scope="module")
def django_h2(tmp_path_factory):
    """samples/mysite through berth (no isolation: the database lives in pytest's 0700 tree)."""
    from conftest import Berth, mysite_config, prepare_mysite
    base = tmp_path_factory.mktemp("mysite-h2")
    env = {
        "MYSITE_DB": str(base / "db.sqlite3"), "MYSITE_STATIC_ROOT": str(base / "static"),
        "MYSITE_MEDIA_ROOT": str(base / "media"), "MYSITE_DEBUG": "0",
        "MYSITE_SECRET_KEY": "e2e-h2-" + "k" * 50, "MYSITE_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    (base / "media").mkdir()
    prepare_mysite(SAMPLES / "mysite", env, "h2admin", "h2-secret-pw")
    config = base / "berth.toml"
    config.write_text(mysite_config(SAMPLES / "mysite", base / "static", base / "media"))
    berth = Berth(["serve", "--no-isolate", "-c", config], env=env)
    yield berth
    assert berth.stop() == 0, berth.stderr


def set_cookies(stream):
    return dict(v.split(";", 1)[0].split("=", 1) for k, v in stream.headers if k == "set-cookie")


def test_django_admin_login_over_http2(django_h2):
    b = django_h2
    origin = f"http://{b.host}:{b.port}"
    c = client(b)
    try:
        authority = f"{b.host}:{b.port}"
        page = c.get("/admin/login/?next=/admin/", authority=authority)
        assert page.status == 200, bytes(page.body)[:500]
        cookies = set_cookies(page)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.body.decode()).group(1)
        form = f"csrfmiddlewaretoken={token}&username=h2admin&password=h2-secret-pw&next=%2Fadmin%2F".encode()
        login = c.wait_streams([c.request(
            "POST", "/admin/login/?next=/admin/", authority=authority, body=form,
            headers=[("content-type", "application/x-www-form-urlencoded"), ("content-length", str(len(form))),
                     ("cookie", f"csrftoken={cookies['csrftoken']}"), ("referer", origin + "/admin/login/"),
                     ("origin", origin)])])[0]
        assert login.status == 302 and login.header("location") == "/admin/", bytes(login.body)[:1000]
        cookies.update(set_cookies(login))
        # Two cookie fields, as HTTP/2 clients send them (RFC 9113 §8.2.3): berth joins them.
        home = c.get("/admin/", authority=authority,
                     headers=[("cookie", f"csrftoken={cookies['csrftoken']}"), ("cookie", f"sessionid={cookies['sessionid']}")])
        assert home.status == 200 and "Site administration" in home.body.decode()
        css = c.get("/static/admin/css/base.css", authority=authority)
        assert css.status == 200 and css.header("content-type").startswith("text/css")
    finally:
        c.close()
