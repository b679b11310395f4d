"""Stopping on SIGTERM/SIGINT: in-flight requests finish within shutdown_grace and berth
exits 0; requests still running when the grace is over are cut, with a log line."""
import http.client
import signal
import threading
import time

import pytest

from conftest import SAMPLES, write_config

APP = SAMPLES / "misbehaving"


def config(tmp_path, grace):
    return write_config(tmp_path, app="slow", chdir=APP, workers=2, access_log=None,
                        server=f"shutdown_grace = {grace}")


def slow_get(berth, path, out, index):
    started = time.monotonic()
    try:
        conn = http.client.HTTPConnection(berth.host, berth.port, timeout=30)
        conn.request("GET", path)
        resp = conn.getresponse()
        out[index] = (resp.status, resp.read(), time.monotonic() - started)
    except Exception as exc:  # noqa: BLE001 - a cut request is an outcome here
        out[index] = ("error", repr(exc), time.monotonic() - started)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_in_flight_requests_finish_within_grace_and_exit_is_0(start_berth, tmp_path, sig):
    berth = start_berth("serve", "-c", config(tmp_path, grace=5))
    out = [None, None]
    threads = [threading.Thread(target=slow_get, args=(berth, "/sleep?s=1.5", out, i)) for i in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.4)
    stopped_at = time.monotonic()
    assert berth.stop(sig) == 0
    for t in threads:
        t.join(10)
    assert [o[0] for o in out] == [200, 200], out
    assert all(o[1] == b"slept" for o in out)
    assert time.monotonic() - stopped_at < 4
    assert "still running" not in berth.stderr


def test_requests_beyond_the_grace_are_cut_with_a_log_line(start_berth, tmp_path):
    berth = start_berth("serve", "-c", config(tmp_path, grace=1))
    out = [None]
    t = threading.Thread(target=slow_get, args=(berth, "/sleep?s=20", out, 0))
    t.start()
    time.sleep(0.4)
    stopped_at = time.monotonic()
    code = berth.stop(signal.SIGTERM)
    t.join(10)
    assert code == 0
    assert out[0][0] == "error" or out[0][0] >= 500, out  # cut: no 200
    assert time.monotonic() - stopped_at < 6
    assert "shutdown_grace (1.0 s) is over: closing 1 connection(s)" in berth.stderr
