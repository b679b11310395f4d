"""The proxy's pool of idle upstream connections: reused while fresh, closed after the
upstream's `keepalive_timeout` (the upstream sees the close), and the next request then
opens a new connection and is answered."""
import time

import pytest
import requests

from counting_upstream import CountingUpstream
from test_proxy import start_proxy

TIMEOUT = 15.0


@pytest.fixture
def upstream():
    server = CountingUpstream()
    yield server
    server.stop()


def test_idle_pooled_connection_is_closed_after_keepalive_timeout(start_berth, tmp_path, upstream):
    berth = start_proxy(start_berth, tmp_path, f"""\
[upstream.pooled]
servers = ["http://127.0.0.1:{upstream.port}"]
keepalive_timeout = 1.5

[[route]]
path = "/"
upstream = "pooled"
""")
    with requests.Session() as client:
        # Within the timeout, one upstream connection carries every request.
        for i in range(5):
            r = client.get(f"{berth.url}/a{i}", timeout=TIMEOUT)
            assert r.status_code == 200 and r.text == f"conn 1 /a{i}"
            time.sleep(0.2)
        assert upstream.counts() == (1, [])
        # Then idle: berth closes it after keepalive_timeout, not before.
        waited = upstream.wait_closed(1, TIMEOUT)
        assert 1.0 < waited < 4.0, waited
        assert upstream.counts() == (1, [1])
        # The next request is answered on a fresh connection.
        r = client.get(f"{berth.url}/after", timeout=TIMEOUT)
        assert r.status_code == 200 and r.text == "conn 2 /after"
    assert "proxy:" not in berth.stderr, berth.stderr


def test_default_keepalive_timeout_keeps_the_connection(start_berth, tmp_path, upstream):
    berth = start_proxy(start_berth, tmp_path, f'[[route]]\npath = "/"\nproxy = "http://127.0.0.1:{upstream.port}"\n')
    with requests.Session() as client:
        assert client.get(f"{berth.url}/x", timeout=TIMEOUT).text == "conn 1 /x"
        time.sleep(2.5)
        assert client.get(f"{berth.url}/y", timeout=TIMEOUT).text == "conn 1 /y"
    assert upstream.counts() == (1, [])
