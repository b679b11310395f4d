"""Connection limits and slow clients: max_requests_per_connection, max_connections, the
open-file limit, and a bounded slowloris run while normal clients are served."""
import re
import selectors
import socket
import threading
import time
from pathlib import Path

import requests

from conftest import SAMPLES, VENV_PYTHON

TIMEOUT = 15.0


def config(tmp_path, server_lines):
    path = tmp_path / "berth.toml"
    path.write_text(f"""\
python = "{VENV_PYTHON}"

[server]
access_log = "off"
{server_lines}

[[listen]]
bind = "127.0.0.1:0"

[app.hello]
module = "app:app"
chdir = "{SAMPLES / 'hello'}"
workers = 2
[app.hello.isolation]
enabled = false
""")
    return path


def read_response(sock):
    """One response with a Content-Length body; returns (head, closed-after)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return head.decode()


def test_max_requests_per_connection(start_berth, tmp_path):
    berth = start_berth("serve", "-c", config(tmp_path, "max_requests_per_connection = 3"))
    sock = socket.create_connection((berth.host, berth.port), timeout=TIMEOUT)
    heads = []
    for _ in range(3):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        heads.append(read_response(sock))
    assert "Connection: close" not in heads[0] and "Connection: close" not in heads[1]
    assert "Connection: close" in heads[2]
    assert sock.recv(100) == b"", "the connection stays open after its last request"
    sock.close()


def test_max_connections_stops_accepting_until_one_closes(start_berth, tmp_path):
    berth = start_berth("serve", "-c", config(tmp_path, "max_connections = 4"))
    held = []
    for _ in range(4):
        s = socket.create_connection((berth.host, berth.port), timeout=TIMEOUT)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        read_response(s)  # accepted and served, kept alive
        held.append(s)
    extra = socket.create_connection((berth.host, berth.port), timeout=TIMEOUT)  # the kernel's backlog
    extra.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    extra.settimeout(1.0)
    try:
        early = extra.recv(100)
    except socket.timeout:
        early = None
    assert early is None, f"a fifth connection was served at max_connections = 4: {early!r}"
    held.pop().close()
    extra.settimeout(TIMEOUT)
    assert read_response(extra).startswith("HTTP/1.1 200")
    for s in held + [extra]:
        s.close()


def test_open_file_limit_raised(start_berth, tmp_path):
    berth = start_berth("serve", "-c", config(tmp_path, ""))
    limits = Path(f"/proc/{berth.proc.pid}/limits").read_text()
    soft, hard = re.search(r"Max open files\s+(\d+)\s+(\d+)", limits).groups()
    assert soft == hard, limits


def test_slowloris_is_cut_off_while_others_are_served(start_berth, tmp_path):
    """500 connections trickle a header byte every 2 s; the header timeout (4 s) cuts them
    off with 408 or a close, while normal requests keep finishing well under a second."""
    berth = start_berth("serve", "-c", config(tmp_path, "header_timeout = 4"))
    assert requests.get(berth.url + "/", timeout=TIMEOUT).status_code == 200  # workers warm
    slow = []
    for i in range(500):
        s = socket.create_connection((berth.host, berth.port), timeout=TIMEOUT)
        s.setblocking(False)
        s.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(s)
    started = time.monotonic()
    time.sleep(0.5)  # berth has set up the 500 connections; measure the steady trickle
    latencies = []
    when = []
    stop = threading.Event()

    def normal_clients():
        while not stop.is_set():
            t0 = time.monotonic()
            r = requests.get(berth.url + "/", timeout=TIMEOUT)
            latencies.append(time.monotonic() - t0)
            when.append((round(t0 - started, 2), round(latencies[-1], 3)))
            assert r.status_code == 200
            time.sleep(0.1)

    client = threading.Thread(target=normal_clients)
    client.start()
    outcome = {}
    selector = selectors.DefaultSelector()
    for s in slow:
        selector.register(s, selectors.EVENT_READ)
    next_trickle = time.monotonic() + 2
    try:
        while len(outcome) < len(slow) and time.monotonic() - started < 12:
            for key, _ in selector.select(timeout=0.1):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except (ConnectionResetError, BlockingIOError):
                    data = b""
                outcome[s] = (data[:12], time.monotonic() - started)
                selector.unregister(s)
            if time.monotonic() >= next_trickle:
                for s in slow:
                    if s not in outcome:
                        try:
                            s.send(b"a")
                        except OSError:
                            pass
                next_trickle += 2
    finally:
        stop.set()
        client.join()
        for s in slow:
            s.close()
    assert len(outcome) == len(slow), f"{len(slow) - len(outcome)} slow connections were never cut off"
    statuses = {data for data, _ in outcome.values()}
    assert statuses <= {b"HTTP/1.1 408", b""}, statuses
    times = sorted(t for _, t in outcome.values())
    assert times[0] >= 3.5, f"cut off before the header timeout: {times[0]:.1f}s"
    assert times[-1] < 8, f"the last slow connection lasted {times[-1]:.1f}s"
    assert len(latencies) >= 20, latencies
    latencies.sort()
    p90 = latencies[int(len(latencies) * 0.9)]
    print(f"slowloris: {len(latencies)} normal requests, median {latencies[len(latencies) // 2] * 1000:.1f} ms, "
          f"p90 {p90 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms; slow ones cut off at "
          f"{times[0]:.1f}–{times[-1]:.1f} s; slowest at {sorted(when, key=lambda w: -w[1])[:4]}")
    # Bounds with room for a loaded test machine (the median is ~10 ms when it is quiet).
    assert latencies[-1] < 1.0, f"a normal request took {latencies[-1]:.3f}s"
    assert latencies[len(latencies) // 2] < 0.1, f"normal requests slowed down: median {latencies[len(latencies) // 2]:.3f}s"
