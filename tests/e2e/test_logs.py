"""Access log formats (combined, JSON) to a file, reopened on SIGUSR1 the way logrotate
does it, and the error log with its levels."""
import datetime
import json
import os
import re
import signal
import socket
import threading
import time

import requests

from conftest import write_config

TIMEOUT = 15.0


def config(tmp_path, server_lines, routes=""):
    """hello with 2 workers; `server_lines` set the logs (no access_log default)."""
    return write_config(tmp_path, workers=2, server=server_lines, access_log=None,
                        routes=f'{routes}\n[[route]]\npath = "/"\napp = "hello"')


def lines(path):
    return [line for line in path.read_text().splitlines() if line] if path.exists() else []


def wait_lines(path, count, timeout=10):
    deadline = time.monotonic() + timeout
    while len(lines(path)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return lines(path)


def test_json_access_log(start_berth, tmp_path):
    log = tmp_path / "access.json"
    berth = start_berth("serve", "-c", config(tmp_path, f'access_log = "{log}"\naccess_log_format = "json"'))
    requests.get(berth.url + "/?q=1", headers={"User-Agent": 'agent "quoted"\\x', "Referer": "http://r/"},
                 timeout=TIMEOUT)
    requests.post(berth.url + "/upload", data=b"x" * 1000, timeout=TIMEOUT)
    requests.get(berth.url + "/status/404", timeout=TIMEOUT)
    entries = [json.loads(line) for line in wait_lines(log, 3)]
    assert len(entries) == 3
    first = entries[0]
    assert first["method"] == "GET" and first["uri"] == "/?q=1" and first["protocol"] == "HTTP/1.1"
    assert first["status"] == 200 and first["bytes"] == 13
    assert first["remote"] == "127.0.0.1" and first["host"] == f"127.0.0.1:{berth.port}"
    assert first["user_agent"] == 'agent "quoted"\\x' and first["referer"] == "http://r/"
    assert isinstance(first["request_time"], float) and first["request_id"]
    assert first["time"].endswith("Z") and "T" in first["time"]
    assert entries[1]["method"] == "POST" and entries[1]["status"] == 200
    assert entries[2]["status"] == 404
    assert all(entry["referer"] is None for entry in entries[1:])


def test_sigusr1_reopens_logs_nothing_lost(start_berth, tmp_path):
    log = tmp_path / "access.log"
    errors = tmp_path / "error.log"
    berth = start_berth("serve", "-c", config(tmp_path, f'access_log = "{log}"\nerror_log = "{errors}"'))
    sent = {"n": 0}
    stop = threading.Event()

    def traffic():
        s = requests.Session()
        while not stop.is_set():
            assert s.get(berth.url + "/", timeout=TIMEOUT).status_code == 200
            sent["n"] += 1

    threads = [threading.Thread(target=traffic) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    rotated = tmp_path / "access.log.1"
    rotated_errors = tmp_path / "error.log.1"
    os.rename(log, rotated)
    os.rename(errors, rotated_errors)
    berth.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 5
    while not log.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert log.exists(), "no new access log after SIGUSR1"
    total = sent["n"]
    old, new = lines(rotated), wait_lines(log, total - len(lines(rotated)))
    assert len(old) > 0 and len(new) > 0, (len(old), len(new))
    assert len(old) + len(new) == total, f"{len(old)} + {len(new)} lines for {total} requests"
    assert all('"GET / HTTP/1.1" 200 13' in line for line in old + new)
    # The error log was reopened too: its reopen message is in the new file.
    assert any("SIGUSR1: log files reopened" in line for line in wait_lines(errors, 1))


def test_error_log_file_and_level(start_berth, tmp_path):
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()
    proxy_route = f'[[route]]\npath = "/dead"\nproxy = "http://127.0.0.1:{port}"\n'
    errors = tmp_path / "error.log"
    berth = start_berth("serve", "-c", config(tmp_path, f'access_log = "off"\nerror_log = "{errors}"', proxy_route))
    assert requests.get(berth.url + "/dead", timeout=TIMEOUT).status_code == 502
    found = [line for line in wait_lines(errors, 1) if "proxy: connect to upstream" in line]
    assert found and " [error] " in found[0], lines(errors)
    # Each record starts with UTC time, ISO 8601 with milliseconds, within a minute of now.
    stamp = found[0].split(" ", 1)[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp), found[0]
    logged = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - logged).total_seconds()) < 60, found[0]
    assert "proxy: connect" not in berth.stderr, "the error went to stderr instead of the file"
    berth.stop()

    quiet = tmp_path / "quiet.log"
    (tmp_path / "q").mkdir()
    berth = start_berth("serve", "-c", config(
        tmp_path / "q", f'access_log = "off"\nerror_log = "{quiet}"\nerror_log_level = "critical"', proxy_route))
    assert requests.get(berth.url + "/dead", timeout=TIMEOUT).status_code == 502
    time.sleep(0.3)
    assert not any("proxy:" in line for line in lines(quiet)), lines(quiet)
