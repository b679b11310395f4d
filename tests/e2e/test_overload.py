"""Overload: a bounded queue with a maximum wait per app. A full queue or an expired wait
gets 503 with Retry-After at once — never a hang."""
import http.client
import threading
import time

from conftest import SAMPLES, write_config

APP = SAMPLES / "misbehaving"


def config(tmp_path, queue_size, queue_timeout):
    return write_config(tmp_path, app="slow", chdir=APP, access_log=None,
                        app_lines=f"queue_size = {queue_size}\nqueue_timeout = {queue_timeout}")


def timed_get(berth, path, out, index):
    started = time.monotonic()
    conn = http.client.HTTPConnection(berth.host, berth.port, timeout=30)
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    out[index] = (resp.status, resp.getheader("Retry-After"), time.monotonic() - started)
    conn.close()


def test_more_clients_than_queue_get_503_with_retry_after(start_berth, tmp_path):
    berth = start_berth("serve", "-c", config(tmp_path, queue_size=2, queue_timeout=1))
    out = [None] * 7
    busy = threading.Thread(target=timed_get, args=(berth, "/sleep?s=3", out, 0))
    busy.start()
    time.sleep(0.5)  # the only worker is now busy for 3 s
    clients = [threading.Thread(target=timed_get, args=(berth, "/", out, i)) for i in range(1, 7)]
    for c in clients:
        c.start()
        time.sleep(0.05)  # arrival order: the first two queue, the rest find it full
    for c in clients + [busy]:
        c.join(10)
    assert out[0][0] == 200
    rejected = out[1:]
    assert all(r is not None for r in rejected), out
    assert [r[0] for r in rejected] == [503] * 6, out
    assert all(r[1] == "1" for r in rejected), out  # Retry-After on every 503
    queued, full = rejected[:2], rejected[2:]
    assert all(r[2] < 0.5 for r in full), out          # full: answered at once
    assert all(0.9 < r[2] < 2 for r in queued), out    # queued: after queue_timeout
    assert berth.stderr.count("queue full") == 4
    assert berth.stderr.count("no worker free within queue_timeout") == 2
    # Afterwards the app serves normally.
    after = [None]
    timed_get(berth, "/", after, 0)
    assert after[0][0] == 200


def test_queued_request_is_served_when_a_worker_frees_in_time(start_berth, tmp_path):
    berth = start_berth("serve", "-c", config(tmp_path, queue_size=4, queue_timeout=5))
    out = [None] * 2
    busy = threading.Thread(target=timed_get, args=(berth, "/sleep?s=1", out, 0))
    busy.start()
    time.sleep(0.3)
    timed_get(berth, "/", out, 1)
    busy.join(10)
    assert out[0][0] == 200 and out[1][0] == 200
    assert 0.4 < out[1][2] < 2, out
