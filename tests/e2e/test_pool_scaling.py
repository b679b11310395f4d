"""Autoscaling between min_workers and max_workers, with real workers: load grows the pool
to max and not beyond, idle workers retire down to min after idle_timeout, no request fails
while it grows or shrinks, a request that finds every worker busy at max waits in the queue
(and a full queue still answers 503), and workers forked from a preload zygote scale too."""
import http.client
import json
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from conftest import BERTH_BIN, SAMPLES, write_config
from test_recycling import Load

APP = SAMPLES / "misbehaving"
ADMIN_RE = re.compile(r"berth: admin listening on http://([\d.]+):(\d+)")


def config(tmp_path, app_lines, isolated=False):
    return write_config(
        tmp_path, app="bad", chdir=APP, workers=None, app_lines=app_lines, isolated=isolated,
        server=f'control_socket = "{tmp_path / "berth.sock"}"\nadmin_listen = "127.0.0.1:0"')


def status(tmp_path):
    out = subprocess.run([str(BERTH_BIN), "status", "--socket", str(tmp_path / "berth.sock"), "--json"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["apps"][0]


def get(berth, path, timeout=30):
    conn = http.client.HTTPConnection(berth.host, berth.port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.getheader("Retry-After")
    finally:
        conn.close()


class Watch:
    """Samples the pool's size (status, and berth's child processes) until stopped."""

    def __init__(self, berth, tmp_path):
        self.berth, self.tmp_path = berth, tmp_path
        self.serving, self.processes = [], []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stopping.is_set():
            self.serving.append(status(self.tmp_path)["workers_serving"])
            self.processes.append(len(self.berth.worker_pids()))
            time.sleep(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(15)


def metrics(berth):
    berth.wait_for(lambda: ADMIN_RE.search(berth.stdout), 10, "the admin listener")
    host, port = ADMIN_RE.search(berth.stdout).groups()
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return text


def test_load_grows_the_pool_to_max_then_idle_workers_retire_to_min(start_berth, tmp_path):
    idle_timeout = 2
    berth = start_berth("serve", "-c", config(
        tmp_path, f"min_workers = 1\nmax_workers = 3\nspare_workers = 0\nidle_timeout = {idle_timeout}\n"
                  "in_flight = 1\nqueue_timeout = 60"))
    assert status(tmp_path)["workers_serving"] == 1
    assert len(berth.worker_pids()) == 1
    with Watch(berth, tmp_path) as watch:
        with Load(berth, path="/sleep?s=0.2", clients=6) as load:
            berth.wait_for(lambda: status(tmp_path)["workers_serving"] == 3, 60, "the pool to grow to max_workers")
            time.sleep(2)  # more load at max: it must not grow past it
        stopped = time.monotonic()
        shrunk = None
        deadline = stopped + idle_timeout + 5
        while time.monotonic() < deadline:
            if status(tmp_path)["workers_serving"] == 1 and len(berth.worker_pids()) == 1:
                shrunk = time.monotonic() - stopped
                break
            time.sleep(0.05)
    assert load.failures() == []
    assert len(load.results) > 20, len(load.results)
    assert max(watch.serving) == 3 and max(watch.processes) == 3, (watch.serving, watch.processes)
    assert shrunk is not None, f"the pool did not shrink to min_workers within {idle_timeout + 5} s: {status(tmp_path)}"
    app = status(tmp_path)
    assert (app["min_workers"], app["max_workers"], app["workers_wanted"]) == (1, 3, 1)
    starts = [e for e in app["scaling"] if e["action"] == "start"]
    retires = [e for e in app["scaling"] if e["action"] == "retire"]
    assert len(starts) == 3 and starts[0]["reason"] == "starting", starts
    assert all("queued" in e["reason"] for e in starts[1:]), starts
    assert len(retires) == 2, retires
    for event in retires:
        idle = float(re.match(r"idle ([\d.]+) s \(idle_timeout\)", event["reason"]).group(1))
        assert idle >= idle_timeout, event
    text = subprocess.run([str(BERTH_BIN), "status", "--socket", str(tmp_path / "berth.sock")],
                          capture_output=True, text=True, timeout=10).stdout
    assert "min 1, max 3" in text and "retire worker" in text and "started: " in text, text
    m = metrics(berth)
    assert 'berth_pool_workers{app="bad"} 1\n' in m and 'berth_pool_workers_max{app="bad"} 3\n' in m, m
    assert 'berth_pool_workers_min{app="bad"} 1\n' in m


def test_at_max_a_request_waits_in_the_queue_and_a_full_queue_gets_503(start_berth, tmp_path):
    berth = start_berth("serve", "-c", config(
        tmp_path, "min_workers = 1\nmax_workers = 2\nspare_workers = 1\nidle_timeout = 60\n"
                  "in_flight = 1\nqueue_size = 1\nqueue_timeout = 30"))
    # The spare: one worker idle ahead of demand, so two in all.
    berth.wait_for(lambda: status(tmp_path)["workers_serving"] == 1, 30, "the first worker")
    results = {}

    def fetch(name, path):
        started = time.monotonic()
        code, body, _ = get(berth, path)
        results[name] = (code, body, time.monotonic() - started)

    slow = [threading.Thread(target=fetch, args=(f"slow{i}", "/sleep?s=2")) for i in range(2)]
    for t in slow:
        t.start()
    berth.wait_for(lambda: sum(w["state"] == "busy" for w in status(tmp_path)["workers"]) == 2, 30,
                   "both workers of the full pool busy")
    waiting = threading.Thread(target=fetch, args=("queued", "/pid"))
    waiting.start()
    berth.wait_for(lambda: status(tmp_path)["queue_depth"] == 1, 10, "the request in the queue")
    app = status(tmp_path)
    assert app["workers_serving"] == 2 and len(berth.worker_pids()) == 2, app  # at max: nothing more starts
    code, _, retry_after = get(berth, "/pid")
    assert code == 503 and retry_after == "1"
    for t in slow + [waiting]:
        t.join(30)
    assert results["slow0"][0] == results["slow1"][0] == 200
    code, body, took = results["queued"]
    assert code == 200 and int(body) > 0
    assert took > 0.5, took  # it waited for one of the slow requests


def test_preloaded_workers_scale_by_forking_the_zygote(start_berth, tmp_path):
    berth = start_berth("serve", "-c", config(
        tmp_path, "preload = true\nmin_workers = 1\nmax_workers = 3\nspare_workers = 1\nidle_timeout = 1\n"
                  "in_flight = 1\nqueue_timeout = 60"))
    with Load(berth, path="/sleep?s=0.1", clients=4) as load:
        berth.wait_for(lambda: status(tmp_path)["workers_serving"] == 3, 60, "the pool to grow to max_workers")
        workers = [w.get("python_pid") or w["pid"] for w in status(tmp_path)["workers"]]
    assert load.failures() == []
    # Every worker is a fork of the zygote: it carries the zygote's command line.
    for pid in workers:
        assert b"--zygote" in Path(f"/proc/{pid}/cmdline").read_bytes(), pid
    # Idle, the one left is the spare.
    berth.wait_for(lambda: status(tmp_path)["workers_serving"] == 1, 10, "idle workers down to min_workers")
    assert get(berth, "/pid")[0] == 200


def test_a_reload_starts_the_new_generation_as_large_as_the_serving_one(start_berth, tmp_path):
    berth = start_berth("serve", "-c", config(
        tmp_path, "min_workers = 1\nmax_workers = 3\nspare_workers = 0\nidle_timeout = 30\n"
                  "in_flight = 1\nqueue_timeout = 60"))
    with Load(berth, path="/sleep?s=0.2", clients=6) as load:
        berth.wait_for(lambda: status(tmp_path)["workers_serving"] == 3, 60, "the pool to grow to max_workers")
        old = status(tmp_path)["generation"]
        berth.proc.send_signal(signal.SIGHUP)
        berth.wait_for(lambda: "reload done" in berth.stderr, 60, "the reload")
        app = status(tmp_path)
        new = old + 1
        assert app["generation"] == new and app["workers_wanted"] == 3, app
        assert sum(w["generation"] == new for w in app["workers"]) == 3, app
        time.sleep(1)
    assert load.failures() == []
    starts = [e["reason"] for e in status(tmp_path)["scaling"] if e["action"] == "start"]
    assert starts.count(f"reload (generation {new})") == 3, starts


def test_recycling_in_an_autoscaling_pool_fails_nothing(start_berth, tmp_path):
    berth = start_berth("serve", "-c", config(
        tmp_path, "min_workers = 1\nmax_workers = 3\nspare_workers = 1\nmax_requests = 15\n"
                  "in_flight = 1\nqueue_timeout = 60"))
    with Watch(berth, tmp_path) as watch, Load(berth, path="/sleep?s=0.05", clients=4) as load:
        berth.wait_for(lambda: berth.stderr.count("reached max_requests") >= 4, 60, "four recyclings")
        time.sleep(0.5)
        app = status(tmp_path)
    assert load.failures() == []
    assert app["restarts"].get("max_requests", 0) >= 4
    # Due workers serve on beside their replacements; the pool proper stays within max.
    assert max(watch.serving) <= 3, watch.serving
    assert any(e["reason"].startswith("replacing worker") and "max_requests" in e["reason"]
               for e in app["scaling"]), app["scaling"]


def test_isolated_workers_scale_each_in_its_container(start_berth, tmp_path):
    berth = start_berth("serve", "-c", config(
        tmp_path, "min_workers = 1\nmax_workers = 2\nspare_workers = 0\nidle_timeout = 1\n"
                  "in_flight = 1\nqueue_timeout = 60", isolated=True))
    with Load(berth, path="/sleep?s=0.2", clients=4) as load:
        berth.wait_for(lambda: status(tmp_path)["workers_serving"] == 2, 60, "the pool to grow to max_workers")
    assert load.failures() == []
    berth.wait_for(lambda: status(tmp_path)["workers_serving"] == 1 and len(berth.worker_pids()) == 1, 15,
                   "the idle container to retire")
    assert get(berth, "/")[0] == 200
