"""wsgi.file_wrapper by descriptor passing, against the real berth binary: the worker
passes the app's open file to the gateway (SCM_RIGHTS) and the front sends it with
sendfile (HTTP/1) or pread (HTTP/2). Bytes must be identical, berth's memory must not
grow with the file, and no descriptor may stay open in berth on any path: sent, HEAD,
client gone mid-file, worker crash, isolated worker."""
import hashlib
import http.client
import os
import socket
import time

import pytest

from conftest import SAMPLES, VENV_PYTHON, processes_with_token, write_config
from h2_client import H2Client
from test_isolation import start, tidy, world_readable_tmpdir

BIG = 50 << 20

APP = '''\
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/crash":
        os._exit(1)
    if path in ("/big", "/small"):
        f = open(os.path.join(HERE, path[1:] + ".bin"), "rb")
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](f, 65536)
    if path == "/slice":
        # From the file's position, up to the app's Content-Length (PEP 3333).
        f = open(os.path.join(HERE, "big.bin"), "rb")
        f.seek(1000)
        start_response("200 OK", [("Content-Length", "5000")])
        return environ["wsgi.file_wrapper"](f)
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]
'''


@pytest.fixture(scope="module")
def app_dir():
    """The test app with a 50 MiB and a 10 KiB file, world-readable (also for containers)."""
    directory = world_readable_tmpdir("berth-filewrap-")
    (directory / "app.py").write_text(APP)
    block = os.urandom(1 << 20)
    with open(directory / "big.bin", "wb") as f:
        for i in range(BIG >> 20):
            f.write(block[i:] + block[:i])
    (directory / "small.bin").write_bytes(os.urandom(10_000))
    for p in directory.iterdir():
        p.chmod(0o644)
    yield directory
    for p in directory.iterdir():
        p.unlink()
    directory.rmdir()


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def fd_count(berth):
    return len(os.listdir(f"/proc/{berth.proc.pid}/fd"))


def open_files(berth):
    found = set()
    for fd in os.listdir(f"/proc/{berth.proc.pid}/fd"):
        try:
            found.add(os.readlink(f"/proc/{berth.proc.pid}/fd/{fd}"))
        except OSError:
            pass
    return found


def settle_fds(berth, baseline, what):
    berth.wait_for(lambda: fd_count(berth) <= baseline, 10, f"berth's fd count back to {baseline} after {what}")


def fetch(conn, method, path):
    """(status, headers, sha256, length) of one response on a kept-alive connection."""
    conn.request(method, path)
    r = conn.getresponse()
    h = hashlib.sha256()
    n = 0
    while chunk := r.read(1 << 20):
        h.update(chunk)
        n += len(chunk)
    return r.status, dict(r.getheaders()), h.hexdigest(), n


def serve(start_berth, app_dir, *extra):
    return start_berth("serve", "app:app", "--chdir", app_dir, "-w", "1", "-b", "127.0.0.1:0",
                       "--python", VENV_PYTHON, "--no-isolate", *extra)


def test_hello_file_route(hello):
    source = (SAMPLES / "hello" / "app.py").read_bytes()
    conn = http.client.HTTPConnection(hello.host, hello.port, timeout=30)
    for _ in range(3):
        conn.request("GET", "/file")
        r = conn.getresponse()
        assert (r.status, r.getheader("Content-Type"), r.read()) == (200, "text/x-python", source)
    conn.request("HEAD", "/file")
    r = conn.getresponse()
    assert (r.status, r.getheader("Content-Length"), r.read()) == (200, str(len(source)), b"")
    conn.close()


def test_large_file_identical_small_memory_no_fd_leak(start_berth, app_dir):
    berth = serve(start_berth, app_dir)
    conn = http.client.HTTPConnection(berth.host, berth.port, timeout=60)
    assert fetch(conn, "GET", "/small")[0] == 200  # warm: the worker's socket, the connection
    baseline = fd_count(berth)
    rss_before = berth.rss_kib()
    want = digest(app_dir / "big.bin")
    for _ in range(3):
        status, headers, got, n = fetch(conn, "GET", "/big")
        assert (status, n, got, headers["Content-Length"]) == (200, BIG, want, str(BIG))
    assert berth.rss_kib() - rss_before < 16 * 1024, "berth buffered the file"
    small = digest(app_dir / "small.bin")
    for _ in range(300):
        assert fetch(conn, "GET", "/small")[2] == small
    for _ in range(50):
        status, headers, _, n = fetch(conn, "HEAD", "/big")
        assert (status, n, headers["Content-Length"]) == (200, 0, str(BIG))
    status, headers, got, n = fetch(conn, "GET", "/slice")
    with open(app_dir / "big.bin", "rb") as f:
        f.seek(1000)
        assert (n, got) == (5000, hashlib.sha256(f.read(5000)).hexdigest())
    conn.close()
    settle_fds(berth, baseline, "GET, HEAD and slices")


def test_http10_client_gets_a_length_and_keeps_alive(start_berth, app_dir):
    berth = serve(start_berth, app_dir)
    with socket.create_connection((berth.host, berth.port), timeout=30) as s:
        s.sendall(b"GET /small HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        data = b""
        while len(data) < 10_000 or b"\r\n\r\n" not in data:
            data += s.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        while len(body) < 10_000:
            body += s.recv(65536)
        assert b"Content-Length: 10000" in head and body == (app_dir / "small.bin").read_bytes()


def test_client_disconnect_mid_file_and_worker_crash_close_everything(start_berth, app_dir):
    berth = serve(start_berth, app_dir)
    conn = http.client.HTTPConnection(berth.host, berth.port, timeout=30)
    fetch(conn, "GET", "/small")
    conn.close()
    time.sleep(0.2)
    baseline = fd_count(berth)
    for _ in range(20):
        s = socket.create_connection((berth.host, berth.port), timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        # berth holds the app's file itself (passed by descriptor, not streamed as frames).
        berth.wait_for(lambda: str(app_dir / "big.bin") in open_files(berth), 5, "berth to hold big.bin")
        s.close()  # mid-file: most of 50 MiB unsent
    settle_fds(berth, baseline, "clients that left mid-file")
    # No worker was stopped or killed by it (a cancelled exchange must not pause its worker).
    assert "protocol error" not in berth.stderr and berth.stderr.count("ready in") == 1, berth.stderr
    # A worker that dies: its file socket (and anything queued in it) closes with it.
    s = socket.create_connection((berth.host, berth.port), timeout=30)
    s.sendall(b"GET /crash HTTP/1.1\r\nHost: x\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 502")
    s.close()
    berth.wait_for(lambda: berth.stderr.count("ready in") >= 2, 20, "the replacement worker")
    conn = http.client.HTTPConnection(berth.host, berth.port, timeout=60)
    assert fetch(conn, "GET", "/big")[2] == digest(app_dir / "big.bin")
    conn.close()
    settle_fds(berth, baseline, "a worker crash")


def test_http2_file_body(start_berth, app_dir):
    berth = serve(start_berth, app_dir)
    c = H2Client(berth.host, berth.port)
    try:
        warm = c.get("/small")
        assert warm.status == 200 and bytes(warm.body) == (app_dir / "small.bin").read_bytes()
        baseline = fd_count(berth)
        sids = [c.request("GET", "/big") for _ in range(2)] + [c.request("GET", "/small") for _ in range(20)]
        streams = c.wait_streams(sids, timeout=120)
        want = (app_dir / "big.bin").read_bytes()
        assert [hashlib.sha256(bytes(s.body)).digest() for s in streams[:2]] == [hashlib.sha256(want).digest()] * 2
        assert all(bytes(s.body) == warm.body for s in streams[2:])
        assert streams[0].header("content-length") == str(BIG)
        head = c.wait_streams([c.request("HEAD", "/big")])[0]
        assert (head.status, bytes(head.body), head.header("content-length")) == (200, b"", str(BIG))
        # A stream reset mid-file lets go of its file.
        sid = c.request("GET", "/big")
        c.wait(lambda: c.streams[sid].received > 0)
        berth.wait_for(lambda: str(app_dir / "big.bin") in open_files(berth), 5, "berth to hold big.bin")
        c.conn.reset_stream(sid)
        c.flush()
        assert c.get("/small").status == 200
    finally:
        c.close()
    settle_fds(berth, baseline, "HTTP/2 file bodies")


def test_preloaded_workers_get_a_file_socket_too(tmp_path, app_dir):
    token = "filewrap-" + os.urandom(6).hex()
    config = write_config(tmp_path, app="files", chdir=app_dir, workers=2, app_lines="preload = true",
                          access_log=None)
    berth = start(config, token, app="files")
    try:
        conn = http.client.HTTPConnection(berth.host, berth.port, timeout=60)
        assert fetch(conn, "GET", "/small")[0] == 200
        baseline = fd_count(berth)
        for _ in range(2):
            assert fetch(conn, "GET", "/big")[2:] == (digest(app_dir / "big.bin"), BIG)
        conn.close()
        settle_fds(berth, baseline, "files from forked workers")
        cmdlines = [open(f"/proc/{pid}/cmdline", "rb").read() for pid in berth.worker_pids()]
        assert any(b"--zygote" in c for c in cmdlines), cmdlines
    finally:
        berth.stop()
        tidy(berth, token, "files")


def test_isolated_worker_passes_its_file(app_dir):
    token = "filewrap-" + os.urandom(6).hex()
    config = write_config(app_dir.parent, app="files", chdir=app_dir, isolated=True,
                          app_lines='isolation = { enabled = true, memory = "128m" }', access_log=None,
                          name=f"berth-filewrap-{token}.toml")
    berth = start(config, token, app="files")
    try:
        conn = http.client.HTTPConnection(berth.host, berth.port, timeout=60)
        assert fetch(conn, "GET", "/small")[0] == 200
        baseline = fd_count(berth)
        assert fetch(conn, "GET", "/big")[2:] == (digest(app_dir / "big.bin"), BIG)
        for _ in range(50):
            assert fetch(conn, "GET", "/small")[3] == 10_000
        conn.close()
        settle_fds(berth, baseline, "files from a container")
        # The file came from inside a container: the worker is in another pid namespace.
        ours = os.readlink("/proc/self/ns/pid")
        assert any(os.readlink(f"/proc/{pid}/ns/pid") != ours for pid in processes_with_token(token))
    finally:
        berth.stop()
        tidy(berth, token, "files")
        config.unlink()
