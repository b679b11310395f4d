"""TLS listeners against curl and Python's ssl: certificates made with openssl at test time
(a throwaway CA and host certificates), SNI, ALPN, reload on SIGHUP without dropping open
connections, https for the app (wsgi.url_scheme), and the HTTP→HTTPS redirect listener."""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import SAMPLES, free_port, write_config

TIMEOUT = 15.0


def openssl(*args, cwd):
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def issue(pki, name, sans, serial):
    """A host certificate for `sans`, signed by the CA in `pki`; returns (cert, key) paths."""
    ext = pki / f"{name}.ext"
    ext.write_text("subjectAltName=" + ",".join(f"DNS:{s}" for s in sans) + "\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={sans[0]}", cwd=pki)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", str(serial),
            "-days", "2", "-extfile", ext.name, "-out", f"{name}.crt", cwd=pki)
    return pki / f"{name}.crt", pki / f"{name}.key"


@pytest.fixture
def pki(tmp_path):
    pki = tmp_path / "pki"
    pki.mkdir()
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=berth test CA", "-days", "2", cwd=pki)
    issue(pki, "a", ["a.test"], 1001)
    issue(pki, "b", ["b.test", "*.b.test"], 2001)
    return pki


def start_tls(start_berth, tmp_path, pki, tls_port, server_lines="", routes=""):
    config = write_config(tmp_path, server=server_lines, routes=routes, listen=(
        f'bind = "127.0.0.1:0"\nredirect_https = {tls_port}',
        f'bind = "127.0.0.1:{tls_port}"\n'
        f'tls_certificate = "{pki / "a.crt"}"\n'
        f'tls_key = "{pki / "a.key"}"\n'
        f'tls_sni = [{{ certificate = "{pki / "b.crt"}", key = "{pki / "b.key"}" }}]'))
    return start_berth("serve", "-c", config)


@pytest.fixture
def tls_berth(start_berth, tmp_path, pki):
    return start_tls_retrying(start_berth, tmp_path, pki)


def start_tls_retrying(start_berth, tmp_path, pki, server_lines="", routes=""):
    for attempt in range(5):
        port = free_port()
        try:
            berth = start_tls(start_berth, tmp_path, pki, port, server_lines, routes)
        except AssertionError as error:
            if "Address already in use" in str(error) and attempt < 4:
                continue
            raise
        berth.wait_for(lambda: f"https://127.0.0.1:{port}" in berth.stdout, 10, "the TLS listener")
        berth.tls_port = port
        return berth
    raise AssertionError("no free port")


def peer(pki, port, server_name, alpn=None):
    """(subject CN, serial, negotiated ALPN) of what berth presents for `server_name`."""
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.check_hostname = False
    if alpn:
        context.set_alpn_protocols(alpn)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            cert = tls.getpeercert()
            cn = dict(x[0] for x in cert["subject"])["commonName"]
            return cn, int(cert["serialNumber"], 16), tls.selected_alpn_protocol()


def curl(pki, port, name, path="/"):
    done = subprocess.run(
        ["curl", "-sS", "--cacert", str(pki / "ca.crt"), "--resolve", f"{name}:{port}:127.0.0.1",
         "-w", "\n%{http_code} %{scheme}", f"https://{name}:{port}{path}"],
        capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_curl_verifies_both_names(tls_berth, pki):
    assert curl(pki, tls_berth.tls_port, "a.test") == "Hello, world!\n200 HTTPS"
    assert curl(pki, tls_berth.tls_port, "b.test") == "Hello, world!\n200 HTTPS"
    assert curl(pki, tls_berth.tls_port, "x.b.test") == "Hello, world!\n200 HTTPS"


def test_sni_chooses_the_certificate_and_defaults(tls_berth, pki):
    port = tls_berth.tls_port
    assert peer(pki, port, "a.test")[0] == "a.test"
    assert peer(pki, port, "b.test")[0] == "b.test"
    assert peer(pki, port, "deep.b.test")[0] == "b.test"
    assert peer(pki, port, "unknown.test")[0] == "a.test", "the first certificate is the default"


def test_alpn_negotiates_h2_or_http11(tls_berth, pki):
    assert peer(pki, tls_berth.tls_port, "a.test", alpn=["h2", "http/1.1"])[2] == "h2"
    assert peer(pki, tls_berth.tls_port, "a.test", alpn=["http/1.1"])[2] == "http/1.1"
    assert peer(pki, tls_berth.tls_port, "a.test")[2] is None


def test_http2_over_tls_with_curl(tls_berth, pki):
    """ALPN "h2": the same routes over HTTP/2, the app sees https."""
    done = subprocess.run(
        ["curl", "-sS", "--http2", "--cacert", str(pki / "ca.crt"), "--resolve", f"a.test:{tls_berth.tls_port}:127.0.0.1",
         "-w", "\n%{http_version} %{http_code} %{scheme}", f"https://a.test:{tls_berth.tls_port}/environ"],
        capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    body, _, summary = done.stdout.rpartition("\n")
    assert summary == "2 200 HTTPS", done.stdout[-300:]
    env = json.loads(body)
    assert env["wsgi.url_scheme"] == "https"
    assert env["SERVER_PROTOCOL"] == "HTTP/2.0"


def test_http2_off_offers_only_http11(start_berth, tmp_path, pki):
    berth = start_tls_retrying(start_berth, tmp_path, pki, server_lines="http2 = false")
    assert peer(pki, berth.tls_port, "a.test", alpn=["h2", "http/1.1"])[2] == "http/1.1"


def test_static_files_and_file_wrapper_bodies_over_http11_tls(start_berth, tmp_path, pki):
    """No sendfile under TLS: file regions (static files, an app's wsgi.file_wrapper) are read
    into the encrypted stream, whole and in order, on a keep-alive connection."""
    site = tmp_path / "site"
    site.mkdir()
    small = bytes(range(256)) * 4
    large = os.urandom(3 << 20)
    (site / "small.bin").write_bytes(small)
    (site / "large.bin").write_bytes(large)
    berth = start_tls_retrying(start_berth, tmp_path, pki, routes=f'[[route]]\npath = "/s/"\nstatic = "{site}"\n')
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.set_alpn_protocols(["http/1.1"])
    conn = http.client.HTTPSConnection("a.test", berth.tls_port, context=context, timeout=TIMEOUT)
    conn.sock = context.wrap_socket(socket.create_connection(("127.0.0.1", berth.tls_port)), server_hostname="a.test")
    for _ in range(3):  # the same connection throughout: each response ends where it should
        conn.request("GET", "/s/small.bin")
        r = conn.getresponse()
        assert (r.status, r.read()) == (200, small)
        conn.request("GET", "/s/large.bin")
        r = conn.getresponse()
        assert r.status == 200 and r.read() == large
        conn.request("GET", "/s/large.bin", headers={"Range": "bytes=1000000-1000099,-10"})
        r = conn.getresponse()
        body = r.read()
        assert r.status == 206 and large[1000000:1000100] in body and large[-10:] in body
        conn.request("GET", "/file")
        r = conn.getresponse()
        assert r.status == 200 and r.read() == (SAMPLES / "hello" / "app.py").read_bytes()
    conn.close()
    done = subprocess.run(
        ["curl", "-sS", "--http1.1", "--cacert", str(pki / "ca.crt"), "--resolve", f"a.test:{berth.tls_port}:127.0.0.1",
         "--limit-rate", "2M", "-o", str(tmp_path / "got.bin"), f"https://a.test:{berth.tls_port}/s/large.bin"],
        capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "got.bin").read_bytes() == large, "a slow reader got a different file"
    assert berth.proc.poll() is None, berth.stderr


def test_app_sees_https(tls_berth, pki):
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    conn = http.client.HTTPSConnection("a.test", tls_berth.tls_port, context=context, timeout=TIMEOUT)
    conn.sock = context.wrap_socket(socket.create_connection(("127.0.0.1", tls_berth.tls_port)), server_hostname="a.test")
    conn.request("GET", "/environ")
    env = json.loads(conn.getresponse().read())
    assert env["wsgi.url_scheme"] == "https"
    assert env["HTTP_HOST"] == f"a.test:{tls_berth.tls_port}"
    conn.close()


def test_sighup_reloads_certificates_without_dropping_connections(tls_berth, pki):
    port = tls_berth.tls_port
    assert peer(pki, port, "a.test")[1] == 1001
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    conn = http.client.HTTPSConnection("a.test", port, context=context, timeout=TIMEOUT)
    conn.sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="a.test")
    conn.request("GET", "/")
    assert conn.getresponse().read() == b"Hello, world!"
    # Renew a.test's certificate in place (a new serial), then SIGHUP.
    issue(pki, "a", ["a.test"], 1002)
    tls_berth.proc.send_signal(signal.SIGHUP)
    tls_berth.wait_for(lambda: "TLS certificates of" in tls_berth.stderr, 10, "the reload")
    assert peer(pki, port, "a.test")[1] == 1002, "new handshakes use the new certificate"
    conn.request("GET", "/")
    assert conn.getresponse().read() == b"Hello, world!", "the open connection survived"
    conn.close()
    # A broken file on the next reload keeps the certificates in use.
    (pki / "a.crt").write_text("not a certificate\n")
    tls_berth.proc.send_signal(signal.SIGHUP)
    tls_berth.wait_for(lambda: "not reloaded, the old ones stay" in tls_berth.stderr, 10, "the failed reload")
    assert peer(pki, port, "a.test")[1] == 1002


def test_redirect_listener(tls_berth):
    conn = http.client.HTTPConnection(tls_berth.host, tls_berth.port, timeout=TIMEOUT)
    conn.request("GET", "/some/path?x=1", headers={"Host": "a.test:8080"})
    r = conn.getresponse()
    r.read()
    assert r.status == 301
    assert r.getheader("Location") == f"https://a.test:{tls_berth.tls_port}/some/path?x=1"
    conn.close()


def test_plain_http_to_tls_port_is_refused_cleanly(tls_berth):
    with socket.create_connection(("127.0.0.1", tls_berth.tls_port), timeout=TIMEOUT) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        assert b"Hello" not in data


def test_silent_client_is_dropped_after_the_handshake_timeout(start_berth, tmp_path, pki):
    berth = start_tls_retrying(start_berth, tmp_path, pki, "header_timeout = 2")
    with socket.create_connection(("127.0.0.1", berth.tls_port), timeout=TIMEOUT) as s:
        started = time.monotonic()
        assert s.recv(100) == b""
        assert 1.5 < time.monotonic() - started < 5
    assert peer(pki, berth.tls_port, "a.test")[0] == "a.test"


def test_bad_certificate_path_fails_with_a_clear_error(tmp_path, pki):
    from conftest import BERTH_BIN
    config = tmp_path / "bad.toml"
    config.write_text(f"""\
[[listen]]
bind = "127.0.0.1:0"
tls_certificate = "{tmp_path / 'missing.crt'}"
tls_key = "{pki / 'a.key'}"

[[route]]
path = "/"
static = "{tmp_path}"
""")
    done = subprocess.run([str(BERTH_BIN), "check", "-c", str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"listen[0].tls_certificate: {tmp_path / 'missing.crt'} does not exist" in done.stderr, done.stderr
    # A file that exists but is no certificate fails when serving starts, naming it.
    (tmp_path / "missing.crt").write_text("not a certificate\n")
    done = subprocess.run([str(BERTH_BIN), "serve", "-c", str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "listen[0]" in done.stderr and "missing.crt" in done.stderr, done.stderr


def test_sigterm_with_an_open_tls_connection_stops_cleanly(tls_berth, pki):
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    conn = http.client.HTTPSConnection("a.test", tls_berth.tls_port, context=context, timeout=TIMEOUT)
    conn.sock = context.wrap_socket(socket.create_connection(("127.0.0.1", tls_berth.tls_port)), server_hostname="a.test")
    conn.request("GET", "/")
    assert conn.getresponse().read() == b"Hello, world!"
    started = time.monotonic()
    assert tls_berth.stop() == 0, tls_berth.stderr
    assert time.monotonic() - started < 10, "the idle TLS connection held up the stop"
    conn.close()
