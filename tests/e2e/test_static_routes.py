"""Static route settings against the real binary: try_files-style fallback to an app,
autoindex, follow_symlinks, caching fields, extra content types, brotli siblings, the
open-file cache seeing replaced files, large files over sendfile, and config errors."""
import email.utils
import gzip
import hashlib
import os
import socket
import subprocess
import time

import pytest
import requests

from conftest import BERTH_BIN, SAMPLES, VENV_PYTHON, write_config

TIMEOUT = 10.0


def serve(start_berth, tmp_path, route_lines, server_lines=""):
    return start_berth("serve", "-c", write_config(tmp_path, server=server_lines, routes=f"[[route]]\n{route_lines}"))


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "root"
    (root / "docs").mkdir(parents=True)
    (root / "robots.txt").write_bytes(b"User-agent: *\n")
    (root / "app.css").write_bytes(b"body { margin: 0 }\n" * 100)
    (root / "app.css.br").write_bytes(b"pretend-brotli")
    (root / "app.css.gz").write_bytes(gzip.compress(b"body { margin: 0 }\n" * 100, mtime=0))
    (root / "docs" / "a <b>&.txt").write_bytes(b"x")
    (root / "docs" / "second.txt").write_bytes(b"y")
    (root / "model.glb").write_bytes(b"glTF")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "shared.txt").write_bytes(b"shared from outside\n")
    os.symlink(tmp_path / "outside" / "shared.txt", root / "linked.txt")
    return root


def test_fallback_gives_missing_files_to_the_app(start_berth, tmp_path, tree):
    b = serve(start_berth, tmp_path, f'path = "/"\nstatic = "{tree}"\nfallback = "hello"')
    r = requests.get(b.url + "/robots.txt", timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == b"User-agent: *\n"
    # "/" is a directory without index: the app answers it, as it does missing files.
    r = requests.get(b.url + "/", timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == b"Hello, world!"
    r = requests.get(b.url + "/pid", timeout=TIMEOUT)
    assert r.status_code == 200 and r.text.strip().isdigit()
    r = requests.get(b.url + "/missing.txt", timeout=TIMEOUT)
    assert r.status_code == 404 and r.text == "not found: /missing.txt\n"
    # Other methods go to the app too, body and all.
    r = requests.post(b.url + "/upload", data=b"x" * 1000, timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["bytes"] == 1000
    r = requests.post(b.url + "/robots.txt", data=b"", timeout=TIMEOUT)
    assert r.status_code == 404  # the app's answer, not 405


def test_without_fallback_post_is_405_and_missing_is_404(start_berth, tmp_path, tree):
    b = serve(start_berth, tmp_path, f'path = "/f/"\nstatic = "{tree}"')
    assert requests.post(b.url + "/f/robots.txt", timeout=TIMEOUT).status_code == 405
    r = requests.get(b.url + "/f/missing.txt", timeout=TIMEOUT)
    assert r.status_code == 404 and "berth" in r.text


def test_autoindex_lists_escaped_names(start_berth, tmp_path, tree):
    b = serve(start_berth, tmp_path, f'path = "/f/"\nstatic = "{tree}"\nautoindex = true')
    r = requests.get(b.url + "/f/docs/", timeout=TIMEOUT)
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "a &lt;b&gt;&amp;.txt" in r.text and 'href="a%20%3Cb%3E%26.txt"' in r.text
    assert "<b>&" not in r.text and "second.txt" in r.text
    r = requests.get(b.url + "/f/docs/a%20%3Cb%3E%26.txt", timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == b"x"


def test_symlinks_out_need_follow_symlinks(start_berth, tmp_path, tree):
    b = serve(start_berth, tmp_path, f'path = "/f/"\nstatic = "{tree}"')
    assert requests.get(b.url + "/f/linked.txt", timeout=TIMEOUT).status_code == 403
    b.stop()
    b = serve(start_berth, tmp_path, f'path = "/f/"\nstatic = "{tree}"\nfollow_symlinks = true')
    r = requests.get(b.url + "/f/linked.txt", timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == b"shared from outside\n"
    # Dot segments are still resolved before the lookup: no way up but the symlink.
    with socket.create_connection((b.host, b.port), timeout=TIMEOUT) as s:
        s.sendall(b"GET /f/../outside/shared.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = s.recv(65536)
    assert b"shared from outside" not in data


def test_caching_fields_and_types(start_berth, tmp_path, tree):
    b = serve(start_berth, tmp_path,
              f'path = "/f/"\nstatic = "{tree}"\nexpires = 3600\ntypes = {{ glb = "model/gltf-binary" }}')
    r = requests.get(b.url + "/f/robots.txt", timeout=TIMEOUT)
    assert r.headers["Cache-Control"] == "max-age=3600"
    expires = email.utils.parsedate_to_datetime(r.headers["Expires"]).timestamp()
    assert abs(expires - (time.time() + 3600)) < 5
    assert requests.get(b.url + "/f/model.glb", timeout=TIMEOUT).headers["Content-Type"] == "model/gltf-binary"
    etag = r.headers["ETag"]
    r = requests.get(b.url + "/f/robots.txt", headers={"If-None-Match": etag}, timeout=TIMEOUT)
    assert r.status_code == 304 and r.headers["Cache-Control"] == "max-age=3600"
    b.stop()
    b = serve(start_berth, tmp_path, f'path = "/f/"\nstatic = "{tree}"\ncache_control = "no-cache"')
    r = requests.get(b.url + "/f/robots.txt", timeout=TIMEOUT)
    assert r.headers["Cache-Control"] == "no-cache" and "Expires" not in r.headers


def test_brotli_and_gzip_siblings(start_berth, tmp_path, tree):
    b = serve(start_berth, tmp_path, f'path = "/f/"\nstatic = "{tree}"')
    r = requests.get(b.url + "/f/app.css", headers={"Accept-Encoding": "gzip, br"}, stream=True, timeout=TIMEOUT)
    assert r.headers["Content-Encoding"] == "br" and r.raw.read() == b"pretend-brotli"
    assert r.headers["Vary"] == "Accept-Encoding" and r.headers["Content-Type"] == "text/css; charset=utf-8"
    r = requests.get(b.url + "/f/app.css", headers={"Accept-Encoding": "gzip"}, timeout=TIMEOUT)
    assert r.headers["Content-Encoding"] == "gzip" and r.content == b"body { margin: 0 }\n" * 100
    r = requests.get(b.url + "/f/app.css", headers={"Accept-Encoding": "identity"}, timeout=TIMEOUT)
    assert "Content-Encoding" not in r.headers and r.headers["Content-Length"] == "1900"


def test_cache_serves_replaced_and_new_files_fresh(start_berth, tmp_path, tree):
    b = serve(start_berth, tmp_path, f'path = "/f/"\nstatic = "{tree}"', 'open_file_cache_valid = 1')
    s = requests.Session()
    assert s.get(b.url + "/f/robots.txt", timeout=TIMEOUT).content == b"User-agent: *\n"
    # Replaced the way deploy tools do it: write a new file, rename it over the old one.
    (tree / "robots.new").write_bytes(b"User-agent: berth\nDisallow: /\n")
    os.rename(tree / "robots.new", tree / "robots.txt")
    r = s.get(b.url + "/f/robots.txt", timeout=TIMEOUT)
    assert r.content == b"User-agent: berth\nDisallow: /\n", r.content
    # Rewritten in place.
    (tree / "robots.txt").write_bytes(b"short\n")
    r = s.get(b.url + "/f/robots.txt", timeout=TIMEOUT)
    assert r.content == b"short\n" and r.headers["Content-Length"] == "6"
    # A file that was missing shows once the validity (1 s) has passed.
    assert s.get(b.url + "/f/late.txt", timeout=TIMEOUT).status_code == 404
    (tree / "late.txt").write_bytes(b"late\n")
    time.sleep(1.2)
    assert s.get(b.url + "/f/late.txt", timeout=TIMEOUT).content == b"late\n"


def test_large_file_and_ranges_over_sendfile(start_berth, tmp_path, tree):
    big = os.urandom(10 << 20)
    (tree / "big.bin").write_bytes(big)
    b = serve(start_berth, tmp_path, f'path = "/f/"\nstatic = "{tree}"')
    r = requests.get(b.url + "/f/big.bin", timeout=30)
    assert r.status_code == 200 and hashlib.sha256(r.content).digest() == hashlib.sha256(big).digest()
    r = requests.get(b.url + "/f/big.bin", headers={"Range": "bytes=5000000-5000099"}, timeout=TIMEOUT)
    assert r.status_code == 206 and r.content == big[5000000:5000100]
    r = requests.get(b.url + "/f/big.bin", headers={"Range": "bytes=0-1,-2"}, timeout=TIMEOUT)
    assert r.status_code == 206 and r.headers["Content-Type"].startswith("multipart/byteranges; boundary=")
    assert big[:2] in r.content and r.content.rstrip().endswith(b"--")
    # The same file many times on one connection, no descriptor leak.
    pid = b.proc.pid
    s = requests.Session()
    before = len(os.listdir(f"/proc/{pid}/fd"))
    for _ in range(50):
        assert s.get(b.url + "/f/robots.txt", timeout=TIMEOUT).status_code == 200
    assert len(os.listdir(f"/proc/{pid}/fd")) <= before + 2


@pytest.mark.parametrize("line, message", [
    ('fallback = "nope"', 'route[0].fallback: no app named "nope"'),
    ('types = { webp = "not a type" }', "route[0].types.webp: must be a content type"),
    ('expires = -1', "route[0].expires: must be a number of seconds"),
    ('cache_control = "a\\nb"', "route[0].cache_control: must not contain line breaks"),
])
def test_bad_static_settings_name_the_key(tmp_path, tree, line, message):
    config = tmp_path / "bad.toml"
    config.write_text(f"""\
python = "{VENV_PYTHON}"
[[listen]]
bind = "127.0.0.1:0"
[app.hello]
module = "app:app"
chdir = "{SAMPLES / 'hello'}"
[[route]]
path = "/f/"
static = "{tree}"
{line}
[[route]]
path = "/"
app = "hello"
""")
    done = subprocess.run([str(BERTH_BIN), "check", "-c", str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert message in done.stderr + done.stdout, done.stderr + done.stdout


def test_files_over_a_unix_socket(start_berth, tmp_path, tree):
    """TCP_CORK does not apply to a unix socket: files are still served, connection after
    connection and request after request."""
    sock = tmp_path / "berth.sock"
    b = start_berth("serve", "app:app", "--chdir", SAMPLES / "hello", "-w", "1", "--no-isolate",
                    "--python", VENV_PYTHON, "-b", f"unix:{sock}", "--static", f"/f/={tree}",
                    ready_timeout=None)
    b.wait_for(sock.exists, 60, "the unix socket")
    for _ in range(3):
        out = subprocess.run(["curl", "-s", "--unix-socket", str(sock), "http://x/f/robots.txt",
                              "http://x/f/app.css", "-H", "Accept-Encoding: identity"],
                             capture_output=True, timeout=30)
        assert out.returncode == 0 and out.stdout == b"User-agent: *\n" + b"body { margin: 0 }\n" * 100
