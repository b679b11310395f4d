"""Threads per worker (`threads = N`) through the real gateway: one worker with 4 threads
runs 4 slow requests at once, thread-local state stays per thread, a hard timeout's stack
names the stuck thread among all of them, and a crash fails only that worker's requests."""
import http.client
import re
import threading
import time
from pathlib import Path

from conftest import ROOT, write_config
from test_isolation import cgroup_directories

APPS = ROOT / "python" / "tests" / "apps"


def start(start_berth, tmp_path, workers, threads, extra=""):
    return start_berth("serve", "-c", write_config(
        tmp_path, app="threaded", chdir=APPS, module="threaded:app", workers=workers,
        app_lines=f"threads = {threads}\n{extra}"))


def get(berth, path, timeout=30):
    conn = http.client.HTTPConnection(berth.host, berth.port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def concurrently(berth, paths, stagger=0.0):
    """GETs all `paths` at once (each `stagger` s after the previous); returns
    [(status, body)] in the order of `paths`."""
    results = [None] * len(paths)

    def one(i, path):
        try:
            results[i] = get(berth, path)
        except Exception as exc:  # noqa: BLE001 - recorded, the test asserts on it
            results[i] = (None, repr(exc).encode())

    threads = [threading.Thread(target=one, args=(i, p)) for i, p in enumerate(paths)]
    for t in threads:
        t.start()
        time.sleep(stagger)
    for t in threads:
        t.join(60)
    return results


def test_one_worker_with_four_threads_runs_four_slow_requests_at_once(start_berth, tmp_path):
    berth = start(start_berth, tmp_path, workers=1, threads=4)
    assert get(berth, "/multithread") == (200, b"True")
    started = time.monotonic()
    results = concurrently(berth, ["/sleep?s=1"] * 4)
    took = time.monotonic() - started
    assert all(status == 200 for status, _ in results), results
    assert len({body for _, body in results}) == 4  # four different threads
    assert took < 2.5, took
    assert len(berth.worker_pids()) == 1


def test_a_slow_request_does_not_hold_the_others_on_its_worker(start_berth, tmp_path):
    berth = start(start_berth, tmp_path, workers=1, threads=2)
    slow = threading.Thread(target=get, args=(berth, "/sleep?s=3"))
    slow.start()
    time.sleep(0.3)
    started = time.monotonic()
    for _ in range(20):
        assert get(berth, "/")[0] == 200
    assert time.monotonic() - started < 2.5
    slow.join(10)


def test_thread_local_state_is_per_thread(start_berth, tmp_path):
    berth = start(start_berth, tmp_path, workers=1, threads=3)
    seen = {}
    for _ in range(3):
        for status, body in concurrently(berth, ["/local?s=0.3"] * 3):
            assert status == 200
            ident, count = body.split()
            seen.setdefault(ident, []).append(int(count))
    assert len(seen) == 3, seen
    # Each thread counted only its own requests: 1, 2, 3 in some order of arrival.
    assert all(sorted(counts) == list(range(1, len(counts) + 1)) for counts in seen.values()), seen
    assert sum(len(c) for c in seen.values()) == 9


def test_a_timeout_names_the_stuck_thread_and_dumps_them_all(start_berth, tmp_path):
    berth = start(start_berth, tmp_path, workers=1, threads=2, extra="timeout = 1")
    results = concurrently(berth, ["/sleep?s=30", "/sleep?s=0.1"], stagger=0.3)
    assert results[0][0] == 504 and results[1] == (200, results[1][1]), results
    berth.wait_for(lambda: "request timed out after 1.0 s" in berth.stderr, 10, "the timeout record")
    log = berth.stderr
    m = re.search(r"The request timed out in Thread (0x[0-9a-f]{16}) \(lane (\d) of 2\)", log)
    assert m, log
    stuck = m.group(1)
    dumped = re.findall(r"Thread (0x[0-9a-f]{16}) \(most recent call first\)", log)
    assert stuck in dumped and len(set(dumped)) >= 3, dumped  # both lanes and the reader
    section = log.split(f"Thread {stuck} (most recent call first)")[1][:600]
    assert "threaded.py" in section, section  # the stuck thread is the one in the app's sleep
    # The replacement serves.
    berth.wait_for(lambda: get(berth, "/")[0] == 200, 20, "the replacement worker")


def test_a_crash_fails_only_that_workers_requests(start_berth, tmp_path):
    berth = start(start_berth, tmp_path, workers=2, threads=2)
    # Spread: worker 1 lane 0, worker 2 lane 0 (idle workers first), then worker 1 lane 1
    # and worker 2 lane 1 for the crash.
    paths = ["/sleep?s=2", "/sleep?s=2", "/sleep?s=2", "/exit?s=0.5"]
    results = concurrently(berth, paths, stagger=0.2)
    statuses = [status for status, _ in results]
    # Worker 2 ran the second request and the crash: both fail; worker 1's two succeed.
    assert statuses == [200, 502, 200, 502], results
    berth.wait_for(lambda: "starting a replacement" in berth.stderr, 10, "the replacement")
    assert all(status == 200 for status, _ in concurrently(berth, ["/sleep?s=0.2"] * 4))


def test_workers_forked_from_a_preload_zygote_run_their_threads(start_berth, tmp_path):
    berth = start(start_berth, tmp_path, workers=1, threads=3, extra="preload = true")
    started = time.monotonic()
    results = concurrently(berth, ["/sleep?s=1"] * 3)
    assert all(status == 200 for status, _ in results) and len({b for _, b in results}) == 3, results
    assert time.monotonic() - started < 2.5


def test_threads_in_an_isolated_worker(start_berth, tmp_path):
    """Threads are tasks of the worker's container: its seccomp filter and pids limit let
    them run: berth adds threads + 1 to the pids limit, so `pids = 3` (the worker's main
    thread, a fork, the container's init) still lets the four lanes and the reader start."""
    berth = start_berth("serve", "-c", write_config(
        tmp_path, app="threaded", chdir=APPS, module="threaded:app", workers=1, isolated=True,
        app_lines="threads = 4\n[app.threaded.isolation]\npids = 3\n"))
    started = time.monotonic()
    results = concurrently(berth, ["/sleep?s=1"] * 4)
    assert all(status == 200 for status, _ in results) and len({b for _, b in results}) == 4, results
    assert time.monotonic() - started < 2.5
    root = Path(cgroup_directories()["pids"]) / f"berth-{berth.proc.pid}"
    [worker] = [p for p in root.iterdir() if p.is_dir()]
    assert (worker / "pids.max").read_text().strip() == "8"  # 3, and 4 lanes and the reader
