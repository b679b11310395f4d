"""Running the load generators (wrk for HTTP/1.1, h2load for HTTP/2) and judging each run.

Both run with one thread pinned to core 1 (`taskset -c 1`). A run's figures count only if
it is *valid*:

  * no socket errors (connect, read, write, timeout — wrk's timeout is its default 2 s)
    and no response outside 2xx/3xx (wrk's "Non-2xx or 3xx responses");
  * every response had the expected size: bytes read per response within
    [body + 17, body + 1024] (headers; plus the partial responses in flight when wrk
    stops), which catches a 200 where a 304 was expected or a
    short/error body; h2load counts body bytes only, so there it is the body alone;
  * every connection was being served: by Little's law, req/s × mean latency is the
    number of requests in flight; it must be within LITTLE_MIN..LITTLE_MAX of the
    connection count (× streams for HTTP/2). Lower means connections sat idle (refused,
    stalled or closed) or the client could not keep them busy;
  * at least one response per connection.

The warm-up before the measured rounds runs wrk with status.lua, which counts every
status (not only non-2xx/3xx); a status other than the expected one invalidates the row.
"""

import json
import os
import re
import signal
import subprocess
import tempfile

from .util import BENCH_DIR, quantile

LUA_SUMMARY = os.path.join(BENCH_DIR, "lua", "summary.lua")
LUA_STATUS = os.path.join(BENCH_DIR, "lua", "status.lua")
LOAD_CPU = "1"

# Little's law tolerance: requests in flight / connections. Not tighter, because wrk's
# latency figures include its coordinated-omission correction (synthetic samples for slow
# responses, which raises the mean: nginx at 40k req/s shows up to ~1.9), and a client that
# is itself saturated (one core reading 10 MiB bodies 8 KiB per read()) leaves connections
# idle between responses (~0.65). A stuck or refused connection shows up as a socket error.
LITTLE_MIN = 0.50
LITTLE_MAX = 3.00
HEADER_MIN, HEADER_MAX = 17, 1024


def _run(argv, timeout):
    """Run a load generator we start ourselves; kill it (by pid) if it overruns."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        return 124, out + "\n(bench: killed after %ss)" % timeout
    return p.returncode, out


def _taskset(argv):
    return ["taskset", "-c", LOAD_CPU] + argv if LOAD_CPU else argv


# ---------------------------------------------------------------------------- wrk

def wrk(port, path, conns, seconds, headers=(), status_check=False):
    """One wrk run; returns a dict of figures (see judge() for `valid`)."""
    argv = _taskset(["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency",
                     "-s", LUA_STATUS if status_check else LUA_SUMMARY])
    for h in headers:
        argv += ["-H", h]
    argv.append(f"http://127.0.0.1:{port}{path}")
    rc, out = _run(argv, timeout=seconds + 20)
    result = {"tool": "wrk", "argv": " ".join(argv), "conns": conns, "rc": rc}
    if status_check:
        m = re.search(r"^BENCH_STATUS (\{.*\})$", out, re.M)
        result["status_counts"] = {int(k): v for k, v in json.loads(m.group(1)).items()} if m else None
    else:
        m = re.search(r"^BENCH_JSON (\{.*\})$", out, re.M)
        if not m:
            result["error"] = "wrk gave no summary: " + out.strip()[-300:]
            return result
        s = json.loads(m.group(1))
        secs = s["duration_us"] / 1e6
        result.update({
            "requests": s["requests"], "bytes": s["bytes"], "seconds": round(secs, 3),
            "rps": s["requests"] / secs if secs else 0.0,
            "mbps": s["bytes"] / secs / 1e6 if secs else 0.0,
            "lat_mean_ms": s["lat_mean_us"] / 1000, "p50_ms": s["lat_p50_us"] / 1000,
            "p90_ms": s["lat_p90_us"] / 1000, "p99_ms": s["lat_p99_us"] / 1000,
            "max_ms": s["lat_max_us"] / 1000,
            "socket_errors": {k: s[k] for k in ("connect", "read", "write", "timeout")},
            "non_2xx_3xx": s["status"],
        })
    # Cross-check with wrk's own text lines.
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx_3xx_text"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["socket_errors_text"] = [int(x) for x in m.groups()] if m else [0, 0, 0, 0]
    if rc != 0:
        result["error"] = f"wrk exited {rc}: " + out.strip()[-300:]
    return result


# -------------------------------------------------------------------------- h2load

def h2load_probe(port, path):
    """Does this port speak HTTP/2 (prior knowledge)? (True, "") or (False, why)."""
    argv = ["h2load", "-n1", "-c1", f"http://127.0.0.1:{port}{path}"]
    rc, out = _run(argv, timeout=10)
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", out)
    if m and int(m.group(1)) == 1:
        return True, ""
    m = re.search(r"requests: .*", out)
    t = re.search(r"traffic: \S+ \((\d+)\) total", out)
    if m:
        got = f"; it answered {t.group(1)} bytes that are not HTTP/2" if t and int(t.group(1)) else ""
        return False, f"h2c (prior knowledge) request failed{got}"
    return False, out.strip()[-200:] or f"h2load exit {rc}"


def h2load(port, path, conns, streams, seconds, headers=()):
    with tempfile.NamedTemporaryFile(prefix="h2load-", suffix=".log", delete=False,
                                     dir=os.path.join(BENCH_DIR, "results")) as tmp:
        log_path = tmp.name
    argv = _taskset(["h2load", "-t1", f"-c{conns}", f"-m{streams}", f"-D{seconds}",
                     f"--log-file={log_path}"])   # no --warm-up-time: its requests would
    # land in the log and its bytes in the traffic totals, but not in the request counts
    for h in headers:
        argv += ["-H", h]
    argv.append(f"http://127.0.0.1:{port}{path}")
    try:
        rc, out = _run(argv, timeout=seconds + 20)
        latencies = []
        statuses = {}
        with open(log_path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    st = int(parts[1])
                    statuses[st] = statuses.get(st, 0) + 1
                    latencies.append(int(parts[2]))
    finally:
        os.unlink(log_path)
    result = {"tool": "h2load", "argv": " ".join(argv), "conns": conns * streams, "rc": rc,
              "status_counts": statuses}
    m = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", out)
    r = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    t = re.search(r"traffic: .*?\((\d+)\) total, .*?\((\d+)\) headers .*?\((\d+)\) data", out)
    if not (m and r and t):
        result["error"] = "h2load output not understood: " + out.strip()[-300:]
        return result
    secs = float(m.group(1))
    total, started, done, ok, failed, errored, timeout = map(int, r.groups())
    total_bytes, data_bytes = int(t.group(1)), int(t.group(3))
    latencies.sort()
    mean_us = sum(latencies) / len(latencies) if latencies else 0
    result.update({
        "requests": done, "succeeded": ok, "bytes": total_bytes, "data_bytes": data_bytes,
        "seconds": secs, "rps": float(m.group(2)),
        "mbps": total_bytes / secs / 1e6 if secs else 0.0,
        "lat_mean_ms": mean_us / 1000,
        "p50_ms": (quantile(latencies, 0.50) or 0) / 1000,
        "p90_ms": (quantile(latencies, 0.90) or 0) / 1000,
        "p99_ms": (quantile(latencies, 0.99) or 0) / 1000,
        "max_ms": (latencies[-1] if latencies else 0) / 1000,
        "socket_errors": {"failed": failed, "errored": errored, "timeout": timeout},
        "non_2xx_3xx": sum(n for s, n in statuses.items() if not 200 <= s < 400),
    })
    if rc != 0:
        result["error"] = f"h2load exited {rc}: " + out.strip()[-300:]
    return result


# --------------------------------------------------------------------------- judging

def judge(result, body_bytes, expect_status):
    """Set result["valid"] and result["reasons"] (empty when valid)."""
    reasons = []
    if result.get("error"):
        reasons.append(result["error"])
    else:
        errs = {k: v for k, v in result["socket_errors"].items() if v}
        if errs:
            reasons.append("socket errors: " + ", ".join(f"{k} {v}" for k, v in errs.items()))
        if result["non_2xx_3xx"]:
            reasons.append(f"{result['non_2xx_3xx']} non-2xx/3xx responses")
        counts = result.get("status_counts")
        if counts:
            wrong = {s: n for s, n in counts.items() if s != expect_status}
            if wrong:
                reasons.append("statuses " + ", ".join(f"{s}×{n}" for s, n in sorted(wrong.items()))
                               + f" (expected {expect_status})")
        n = result["requests"]
        if n < result["conns"]:
            reasons.append(f"only {n} responses for {result['conns']} connections")
        elif result["tool"] == "wrk":
            # wrk also counts the bytes of responses still in flight when it stops (up to
            # one body per connection), so the upper bound allows for them.
            per = result["bytes"] / n
            slack = result["conns"] * (body_bytes + HEADER_MAX) / n
            if not body_bytes + HEADER_MIN <= per <= body_bytes + HEADER_MAX + slack:
                reasons.append(f"{per:.0f} bytes/response, expected {body_bytes}+headers")
        else:
            per = result["data_bytes"] / n
            slack = result["conns"] * body_bytes / n
            if not body_bytes - 1 <= per <= body_bytes + slack + 1:
                reasons.append(f"{per:.0f} body bytes/response, expected {body_bytes}")
        in_flight = result["rps"] * result["lat_mean_ms"] / 1000
        result["little_ratio"] = round(in_flight / result["conns"], 3)
        if not LITTLE_MIN <= result["little_ratio"] <= LITTLE_MAX:
            reasons.append(f"req/s × mean latency = {in_flight:.1f} in flight for "
                           f"{result['conns']} connections (ratio {result['little_ratio']})")
    result["valid"] = not reasons
    result["reasons"] = reasons
    return result


def status_check(port, path, conns, seconds, headers, expect_status):
    """The warm-up run with per-status counts; returns (ok, counts, reason)."""
    r = wrk(port, path, conns, seconds, headers, status_check=True)
    counts = r.get("status_counts")
    if r.get("error") or counts is None:
        return False, counts, r.get("error") or "no status counts from wrk"
    wrong = {s: n for s, n in counts.items() if s != expect_status}
    if wrong or not counts:
        return False, counts, ("warm-up statuses " + ", ".join(
            f"{s}×{n}" for s, n in sorted(counts.items())) + f" (expected {expect_status})")
    return True, counts, ""
