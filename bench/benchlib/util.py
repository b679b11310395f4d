"""Small helpers: paths, logging, free ports, process trees and their memory, HTTP probes."""

import http.client
import os
import random
import socket
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCH_DIR)

# Ports the bench must never use (other people's fixed ports on this machine).
FORBIDDEN_PORTS = {8080, 18080, 18081}
PORT_RANGE = (20000, 32000)   # below the kernel's ephemeral range (32768+)
_used_ports = set()

_T0 = time.monotonic()


def log(message):
    sys.stderr.write(f"[{time.monotonic() - _T0:6.1f}s] {message}\n")
    sys.stderr.flush()


def run_text(argv, timeout=30):
    """stdout+stderr of a command, or None if it cannot run."""
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout


def port_is_free(port):
    """Nothing listens on 127.0.0.1:port (we can bind it, without SO_REUSEADDR)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        return False
    finally:
        s.close()
    # Also free on the wildcard address (e.g. a server bound to 0.0.0.0).
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port():
    """A port below 32768 that is free now and that this run has not handed out."""
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(*PORT_RANGE)
        if port in FORBIDDEN_PORTS or port in _used_ports:
            continue
        if port_is_free(port):
            _used_ports.add(port)
            return port
    raise RuntimeError("no free port found in %d-%d" % PORT_RANGE)


# ----------------------------------------------------------------- process trees, RSS

def _children_map():
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces.
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def process_tree(root_pids):
    """The given pids and all their descendants that are alive now."""
    children = _children_map()
    seen, stack = [], [p for p in root_pids if os.path.exists(f"/proc/{p}")]
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.append(pid)
        stack.extend(children.get(pid, []))
    return seen


def start_time(pid):
    """The process's start time (clock ticks since boot), to tell it from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


_CLK_TCK = os.sysconf("SC_CLK_TCK")


def stop_process_tree(popen, label, grace):
    """SIGTERM a process we started and wait up to `grace` s; then SIGKILL what is left of
    its tree (workers), by pid, only where the pid is still the same process."""
    import signal
    if popen.poll() is not None:
        return
    tree = {pid: start_time(pid) for pid in process_tree([popen.pid])}
    try:
        popen.send_signal(signal.SIGTERM)
        popen.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log(f"{label} ignored SIGTERM for {grace} s; SIGKILL")
    for pid, started in tree.items():
        if started is not None and start_time(pid) == started:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        popen.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def tree_cpu_seconds(root_pids):
    """User + system CPU time of the tree's live processes, in seconds."""
    total = 0
    for pid in process_tree(root_pids):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])   # utime, stime (fields 14, 15)
    return total / _CLK_TCK


def _status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory(root_pids):
    """Sum of RSS (and of PSS, which does not double-count shared pages) over the tree, MiB."""
    pids = process_tree(root_pids)
    rss = sum(_status_kib(p, "VmRSS") for p in pids)
    pss = sum(_pss_kib(p) for p in pids)
    return {"rss_mib": round(rss / 1024, 1), "pss_mib": round(pss / 1024, 1),
            "processes": len(pids)}


# ------------------------------------------------------------------------------- HTTP

def http_get(port, path, headers=None, timeout=2.0):
    """(status, headers dict lower-cased, body) or raises OSError/HTTPException."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def head_length(port, path, timeout=5.0):
    """Bytes of the response head (status line to the blank line) that a keep-alive GET of
    `path` gets, as wrk's requests do (a server may add a Connection field to either kind)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError(f"GET {path}: connection closed before the end of the head")
            data += chunk
        return data.index(b"\r\n\r\n") + 4


def wait_http(port, path, deadline, alive=lambda: True, want=200, interval=0.005):
    """Poll until GET path answers `want`; returns the time it did, or raises."""
    last = None
    while True:
        try:
            status, _, _ = http_get(port, path, timeout=max(0.1, deadline - time.monotonic()))
            if status == want:
                return time.monotonic()
            last = f"status {status}"
        except (OSError, http.client.HTTPException) as e:
            last = f"{type(e).__name__}: {e}"
        if not alive():
            raise RuntimeError(f"server exited before answering {path} ({last})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {want} from 127.0.0.1:{port}{path} in time ({last})")
        time.sleep(interval)


def median(values):
    v = sorted(values)
    n = len(v)
    if n == 0:
        return None
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def quantile(values, q):
    v = sorted(values)
    if not v:
        return None
    k = (len(v) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)
