"""https upstreams: the proxy verifies the upstream's certificate against the system's
trust store by default, or against `tls_ca`; `tls_verify = false` accepts any;
`tls_server_name` is the name sent by SNI and checked. The upstream is berth itself on a
TLS listener with certificates made by openssl at test time (and Python's ssl server for
counting pooled connections). A certificate that does not verify gives 502 and an error
log line naming the upstream and the reason."""
import ssl
import subprocess

import pytest
import requests

from conftest import BERTH_BIN, free_port, write_config
from counting_upstream import CountingUpstream
from test_proxy import start_proxy
from test_tls import openssl

TIMEOUT = 15.0


@pytest.fixture
def pki(tmp_path):
    """A throwaway CA and a certificate for localhost and upstream.test (no IP address:
    NIOSSL accepts a certificate that holds the address connected to, whatever the name)."""
    pki = tmp_path / "pki"
    pki.mkdir()
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=berth upstream test CA", "-days", "2", cwd=pki)
    (pki / "host.ext").write_text(
        "subjectAltName=DNS:localhost,DNS:upstream.test\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "host.key", "-out", "host.csr", "-subj", "/CN=localhost", cwd=pki)
    openssl("x509", "-req", "-in", "host.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", "7",
            "-days", "2", "-extfile", "host.ext", "-out", "host.crt", cwd=pki)
    return pki


def start_tls_upstream(start_berth, tmp_path, pki):
    """berth serving samples/hello on a TLS listener; returns (berth, tls port)."""
    for attempt in range(5):
        port = free_port()
        config = write_config(tmp_path, name="upstream.toml", listen=(
            'bind = "127.0.0.1:0"',
            f'bind = "127.0.0.1:{port}"\ntls_certificate = "{pki}/host.crt"\ntls_key = "{pki}/host.key"'))
        try:
            upstream = start_berth("serve", "-c", config)
        except AssertionError as error:
            if "Address already in use" in str(error) and attempt < 4:
                continue
            raise
        upstream.wait_for(lambda: f"https://127.0.0.1:{port}" in upstream.stdout, 10, "the TLS listener")
        return upstream, port
    raise AssertionError("no free port")


def test_https_upstream_verification(start_berth, tmp_path, pki):
    upstream, port = start_tls_upstream(start_berth, tmp_path, pki)
    proxy_dir = tmp_path / "proxy"
    proxy_dir.mkdir()
    server = f"https://127.0.0.1:{port}"
    routes = "".join(f'\n[[route]]\npath = "/"\nhost = "{name}.test"\nupstream = "{name}"\n'
                     for name in ["byname", "noverify", "named", "wrongname", "address"])
    berth = start_proxy(start_berth, proxy_dir, f"""\
[upstream.byname]
servers = ["https://localhost:{port}"]
tls_ca = "{pki / 'ca.crt'}"

[upstream.noverify]
servers = ["{server}"]
tls_verify = false

[upstream.named]
servers = ["{server}"]
tls_ca = "{pki / 'ca.crt'}"
tls_server_name = "upstream.test"

[upstream.wrongname]
servers = ["{server}"]
tls_ca = "{pki / 'ca.crt'}"
tls_server_name = "other.test"

[upstream.address]
servers = ["{server}"]
tls_ca = "{pki / 'ca.crt'}"

[[route]]
path = "/"
host = "strict.test"
proxy = "{server}"
{routes}""")

    def get(host):
        return requests.get(berth.url + "/", headers={"Host": host}, timeout=TIMEOUT)

    def error_line(text):
        berth.wait_for(lambda: text in berth.stderr, 5, text)
        return next(l for l in berth.stderr.splitlines() if text in l)

    # The system's trust store does not know the test CA: 502, and the log says why.
    r = get("strict.test")
    assert r.status_code == 502, r.text
    line = error_line("certificate verify failed")
    assert f"[error] proxy: TLS handshake with upstream {server} failed: certificate verify failed" in line, line
    assert "tls_ca" in line

    # Trusting the test CA, by the server's host name, by tls_server_name (sent by SNI and
    # checked), or not verifying at all.
    for name in ["byname", "named", "noverify"]:
        r = get(f"{name}.test")
        assert r.status_code == 200 and r.text == "Hello, world!", (name, r.status_code, berth.stderr[-2000:])

    # Names the certificate does not hold: another tls_server_name, or the bare address.
    for name, expected in [("wrongname", "other.test"), ("address", "127.0.0.1")]:
        assert get(f"{name}.test").status_code == 502
        line = error_line(f'not valid for "{expected}"')
        assert f"[error] proxy: TLS handshake with upstream {server} failed: the certificate is not valid for \"{expected}\"" in line, line


def test_buffered_request_bodies_reach_an_https_upstream(start_berth, tmp_path, pki):
    """`buffer_request`: a body past 1 MiB waits in a temporary file, then goes upstream as a
    file region — read into the TLS stream, since sendfile cannot encrypt."""
    upstream, port = start_tls_upstream(start_berth, tmp_path, pki)
    proxy_dir = tmp_path / "proxy"
    proxy_dir.mkdir()
    berth = start_proxy(start_berth, proxy_dir, f"""\
[upstream.secure]
servers = ["https://localhost:{port}"]
tls_ca = "{pki / 'ca.crt'}"
buffer_request = true

[[route]]
path = "/"
upstream = "secure"
""")
    for size in [1000, 3 << 20]:
        body = bytes(i % 251 for i in range(size))
        r = requests.post(berth.url + "/echo", data=body, timeout=TIMEOUT)
        assert r.status_code == 200 and r.content == body, (size, r.status_code, berth.stderr[-2000:])
    assert upstream.proc.poll() is None and berth.proc.poll() is None


def test_https_upstream_connections_are_pooled(start_berth, tmp_path, pki):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "host.crt", pki / "host.key")
    upstream = CountingUpstream(context)
    try:
        berth = start_proxy(start_berth, tmp_path, f"""\
[upstream.secure]
servers = ["https://127.0.0.1:{upstream.port}"]
tls_ca = "{pki / 'ca.crt'}"
tls_server_name = "upstream.test"
keepalive_timeout = 2

[[route]]
path = "/"
upstream = "secure"
""")
        with requests.Session() as client:
            for i in range(20):
                r = client.get(f"{berth.url}/r{i}", timeout=TIMEOUT)
                assert r.status_code == 200 and r.text == f"conn 1 /r{i}", r.text
        # One TLS connection (one handshake) carried all twenty; idle, it is closed after
        # keepalive_timeout, and the next request makes a new one.
        assert upstream.counts() == (1, [])
        upstream.wait_closed(1, TIMEOUT)
        assert requests.get(f"{berth.url}/again", timeout=TIMEOUT).text == "conn 2 /again"
    finally:
        upstream.stop()


def secure_upstream_config(tmp_path, tls_ca):
    """A config whose only route goes to an https upstream with `tls_ca` (nothing listens
    there: these tests are about loading the CA)."""
    config = tmp_path / "berth.toml"
    config.write_text(f"""\
[[listen]]
bind = "127.0.0.1:0"

[upstream.secure]
servers = ["https://127.0.0.1:1"]
tls_ca = "{tls_ca}"

[[route]]
path = "/"
upstream = "secure"
""")
    return config


def test_bad_tls_ca_stops_berth_with_the_key(start_berth, tmp_path):
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("not a certificate\n")
    config = secure_upstream_config(tmp_path, bad)
    berth = start_berth("serve", "-c", config, ready_timeout=0)
    assert berth.proc.wait(30) != 0
    berth.wait_for(lambda: "upstream.secure: tls_ca: cannot load" in berth.stderr, 5, "the tls_ca error")


def test_missing_tls_ca_is_a_config_error(tmp_path):
    config = secure_upstream_config(tmp_path, "missing-ca.pem")
    done = subprocess.run([str(BERTH_BIN), "check", "-c", str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"{config}: upstream.secure.tls_ca: {tmp_path}/missing-ca.pem does not exist" in done.stdout + done.stderr
