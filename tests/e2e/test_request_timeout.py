"""The hard request timeout: berth reads the stuck worker's Python stack (faulthandler on
SIGUSR2), logs it as one record naming worker, pid, request, method and path, shows it on
the dev error page, kills the worker, answers 504 and starts a replacement."""
import http.client
import re
import time

import pytest

from conftest import SAMPLES, VENV_PYTHON, write_config

APP = SAMPLES / "misbehaving"


def config(tmp_path, isolate=False, timeout=1):
    return write_config(tmp_path, app="bad", chdir=APP, access_log=None, isolated=isolate,
                        app_lines=f"timeout = {timeout}")


def get(berth, path, headers=None, timeout=30):
    conn = http.client.HTTPConnection(berth.host, berth.port, timeout=timeout)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


def timeout_record(berth):
    """The one log record of a timeout, once it is there: its line and the indented lines
    of its multi-line fields below it."""
    berth.wait_for(lambda: "request timed out" in berth.stderr, 10, "the timeout log record")
    lines = list(berth.stderr_lines)
    starts = [i for i, l in enumerate(lines) if "request timed out" in l]
    assert len(starts) == 1, starts
    record = [lines[starts[0]]]
    for line in lines[starts[0] + 1:]:
        if not line.startswith("  "):
            break
        record.append(line)
    return "\n".join(record)


def worker_pid(berth):
    status, body = get(berth, "/pid")
    assert status == 200
    return int(body)


@pytest.mark.parametrize("path,frame", [
    ("/sleep?s=30", "in app"),   # stuck in C (time.sleep) with the GIL released
    ("/spin?s=30", "in _spin"),  # a Python busy loop
    ("/spin-c", "in app"),       # a C loop holding the GIL: sum(range(10**13))
])
def test_timeout_logs_stack_answers_504_and_replaces_worker(start_berth, tmp_path, path, frame):
    berth = start_berth("serve", "-c", config(tmp_path))
    before = worker_pid(berth)
    started = time.monotonic()
    status, body = get(berth, path)
    elapsed = time.monotonic() - started
    assert status == 504
    assert 0.9 < elapsed < 4, elapsed
    assert b"Traceback" not in body and b"app.py" not in body  # production: no internals
    record = timeout_record(berth)
    # One record: worker id, pid, method, path and the stack with the app's frame in it.
    assert re.search(r"worker=\d+", record) and f"pid={before}" in record, record
    assert "method=GET" in record and f"path={path.split('?')[0]}" in record, record
    assert "request=" in record
    assert "app.py" in record and frame in record, record
    assert "Current thread" in record or "Thread 0x" in record, record
    # The stuck worker is gone and a fresh one answers.
    berth.wait_for(lambda: not pid_alive(before), 10, "the stuck worker to die")
    after = worker_pid(berth)
    assert after != before


def test_timeout_stack_from_a_worker_in_a_container(start_berth, tmp_path):
    """Inside a pid namespace and under seccomp: berth finds the Python process behind the
    container's init, and the signal and /proc reads still work."""
    berth = start_berth("serve", "-c", config(tmp_path, isolate=True))
    status, _ = get(berth, "/")
    assert status == 200
    status, _ = get(berth, "/sleep?s=30")
    assert status == 504
    record = timeout_record(berth)
    assert 'app.py", line' in record and "in app" in record, record
    assert "no stack" not in record, record
    status, body = get(berth, "/")
    assert status == 200 and body.startswith(b"ok ")


def test_dev_error_page_shows_the_stack(start_berth, tmp_path):
    berth = start_berth("dev", APP, "--app", "app:app", "--timeout", "1", "-b", "127.0.0.1:0",
                        "--python", VENV_PYTHON)
    status, body = get(berth, "/spin?s=30")
    assert status == 504
    assert b"Python stack" in body and b"_spin" in body and b"app.py" in body, body[:2000]


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
