"""Recycling: max_requests (with jitter), max_lifetime and max_rss replace workers
gracefully — the replacement is ready before the old worker retires, and the old one
finishes its request — so no request fails under continuous load."""
import http.client
import re
import threading
import time

from conftest import SAMPLES, write_config

APP = SAMPLES / "misbehaving"


def config(tmp_path, workers, app_lines):
    return write_config(tmp_path, app="bad", chdir=APP, workers=workers, app_lines=app_lines)


class Load:
    """`clients` threads sending keep-alive GETs until stopped; every outcome is recorded."""

    def __init__(self, berth, path="/pid", clients=6):
        self.berth, self.path = berth, path
        self.results, self.errors = [], []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(clients)]

    def run(self):
        conn = None
        while not self.stopping.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.berth.host, self.berth.port, timeout=20)
                conn.request("GET", self.path)
                resp = conn.getresponse()
                body = resp.read()
                with self.lock:
                    self.results.append((resp.status, body))
                if resp.will_close:
                    conn.close()
                    conn = None
            except Exception as exc:  # noqa: BLE001 - every failure counts
                with self.lock:
                    self.errors.append(repr(exc))
                conn = None

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in self.threads:
            t.join(30)

    def pids(self):
        with self.lock:
            return {int(body) for status, body in self.results if status == 200}

    def failures(self):
        with self.lock:
            return self.errors + [(s, b[:200]) for s, b in self.results if s != 200]


def get(berth, path):
    conn = http.client.HTTPConnection(berth.host, berth.port, timeout=30)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


def test_max_requests_under_load_fails_nothing(start_berth, tmp_path):
    berth = start_berth("serve", "-c", config(tmp_path, 2, "max_requests = 20\nmax_requests_jitter = 5"))
    with Load(berth) as load:
        berth.wait_for(lambda: berth.stderr.count("reached max_requests") >= 6, 60, "six recyclings")
        time.sleep(0.5)
    assert load.failures() == []
    assert len(load.results) >= 6 * 20
    # Each worker became due after its own limit, 20 plus a jitter of 0..5; it served on
    # until its replacement was ready, so the clients saw the old and the new workers.
    counts = [int(n) for n in re.findall(r"reached max_requests \((\d+) requests", berth.stderr)]
    assert len(counts) >= 6 and all(20 <= n <= 25 for n in counts), counts
    assert len(load.pids()) >= 2 + 5
    assert "starting its replacement" in berth.stderr
    assert berth.stop() == 0


def test_max_lifetime_replaces_an_idle_worker(start_berth, tmp_path):
    berth = start_berth("serve", "-c", config(tmp_path, 1, "max_lifetime = 2"))
    _, first = get(berth, "/pid")
    with Load(berth, clients=3) as load:
        berth.wait_for(lambda: "reached max_lifetime" in berth.stderr, 10, "the lifetime limit")
        time.sleep(1.5)
    assert load.failures() == []
    _, later = get(berth, "/pid")
    assert later != first
    assert int(first) in load.pids() and int(later) in load.pids()


def test_max_rss_finishes_the_request_then_replaces_the_worker(start_berth, tmp_path):
    berth = start_berth("serve", "-c", config(tmp_path, 1, 'max_rss = "80m"'))
    status, grown = get(berth, "/grow?mb=120")
    assert status == 200  # the request that crossed the limit is answered
    berth.wait_for(lambda: "reached max_rss" in berth.stderr, 10, "the memory limit")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        status, now = get(berth, "/pid")
        assert status == 200
        if now != grown:
            break
        time.sleep(0.1)
    assert now != grown
