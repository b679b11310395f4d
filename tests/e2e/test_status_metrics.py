"""Observability: `berth status` over the control socket, Prometheus /metrics and /status
on the admin listener, JSON log records that keep a stack in one line."""
import http.client
import json
import re
import subprocess
import threading
import time

from conftest import BERTH_BIN, SAMPLES, write_config

APP = SAMPLES / "misbehaving"
ADMIN_RE = re.compile(r"berth: admin listening on http://([\d.]+):(\d+)")


def config(tmp_path, extra_server="", timeout=1):
    return write_config(tmp_path, app="bad", chdir=APP, workers=2, access_log=None,
                        server=f'control_socket = "{tmp_path / "berth.sock"}"\nadmin_listen = "127.0.0.1:0"\n{extra_server}',
                        app_lines=f"timeout = {timeout}")


def get(host, port, path):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, resp.getheader("Content-Type"), body.decode()


def berth_status(tmp_path, *flags):
    return subprocess.run([str(BERTH_BIN), "status", "--socket", str(tmp_path / "berth.sock"), *flags],
                          capture_output=True, text=True, timeout=30)


def admin(berth):
    berth.wait_for(lambda: ADMIN_RE.search(berth.stdout), 10, "the admin listener")
    m = ADMIN_RE.search(berth.stdout)
    return m.group(1), int(m.group(2))


def test_status_shows_workers_current_request_and_restarts(start_berth, tmp_path):
    berth = start_berth("serve", "-c", config(tmp_path, timeout=3))
    for _ in range(5):
        assert get(berth.host, berth.port, "/")[0] == 200
    slow = threading.Thread(target=get, args=(berth.host, berth.port, "/spin?s=2.5"))
    slow.start()
    time.sleep(0.3)
    out = berth_status(tmp_path, "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["pid"] == berth.proc.pid
    app = doc["apps"][0]
    assert app["app"] == "bad" and app["workers_wanted"] == 2 and app["queue_depth"] == 0
    workers = app["workers"]
    assert len(workers) == 2
    busy = [w for w in workers if w["state"] == "busy"]
    assert len(busy) == 1 and busy[0]["current"]["path"] == "/spin" and busy[0]["current"]["method"] == "GET"
    assert 0.1 < busy[0]["current"]["age_seconds"] < 5
    assert sum(w["requests_served"] for w in workers) >= 5
    assert all(w["pid"] > 0 for w in workers)
    text = berth_status(tmp_path)
    assert text.returncode == 0
    assert "app bad: generation" in text.stdout and "now GET /spin" in text.stdout, text.stdout
    slow.join(10)
    # A timeout shows as a restart with its reason.
    assert get(berth.host, berth.port, "/sleep?s=30")[0] == 504
    berth.wait_for(lambda: json.loads(berth_status(tmp_path, "--json").stdout)["apps"][0]["restarts"].get("timeout") == 1,
                   10, "the timeout restart in status")
    berth.wait_for(lambda: len(json.loads(berth_status(tmp_path, "--json").stdout)["apps"][0]["workers"]) == 2, 10,
                   "the replacement")


def test_status_without_a_running_berth_fails_clearly(tmp_path):
    out = berth_status(tmp_path)
    assert out.returncode == 1 and "cannot reach a running berth" in out.stderr


def test_prometheus_metrics(start_berth, tmp_path):
    berth = start_berth("serve", "-c", config(tmp_path))
    host, port = admin(berth)
    for _ in range(7):
        assert get(berth.host, berth.port, "/")[0] == 200
    assert get(berth.host, berth.port, "/sleep?s=30")[0] == 504
    berth.wait_for(lambda: 'reason="timeout"} 1' in get(host, port, "/metrics")[2], 10, "the restart counter")
    status, content_type, text = get(host, port, "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    assert 'berth_requests_total{app="bad",status="200"} 7' in text
    assert 'berth_requests_total{app="bad",status="504"} 1' in text
    assert 'berth_request_duration_seconds_count{app="bad"} 8' in text
    assert 'berth_request_duration_seconds_bucket{app="bad",le="+Inf"} 8' in text
    # Every bucket line is cumulative (non-decreasing).
    buckets = [int(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith("berth_request_duration_seconds_bucket")]
    assert buckets == sorted(buckets)
    assert 'berth_queue_depth{app="bad"} 0' in text
    assert re.search(r'berth_workers\{app="bad",state="idle"\} [12]', text)
    assert 'berth_worker_restarts_total{app="bad",reason="timeout"} 1' in text
    assert "# TYPE berth_request_duration_seconds histogram" in text
    status, content_type, body = get(host, port, "/status")
    assert status == 200 and json.loads(body)["apps"][0]["app"] == "bad"
    assert get(host, port, "/nope")[0] == 404


def test_json_log_keeps_a_stack_in_one_record(start_berth, tmp_path):
    berth = start_berth("serve", "-c", config(tmp_path, 'log_format = "json"'))
    assert get(berth.host, berth.port, "/spin?s=30")[0] == 504
    berth.wait_for(lambda: "request timed out" in berth.stderr, 10, "the timeout record")
    line = next(l for l in berth.stderr_lines if "request timed out" in l)
    record = json.loads(line)
    assert record["level"] == "error" and record["app"] == "bad"
    assert record["method"] == "GET" and record["path"] == "/spin"
    assert record["worker"].isdigit() and record["pid"].isdigit() and record["request"]
    assert "_spin" in record["stack"] and "\n" in record["stack"]
    # An app exception: one record with the whole traceback, the worker and the request.
    assert get(berth.host, berth.port, "/error")[0] == 500
    berth.wait_for(lambda: "boom from misbehaving" in berth.stderr, 10, "the app error record")
    records = [json.loads(l) for l in berth.stderr_lines if l.startswith("{") and "boom from misbehaving" in l]
    assert len(records) == 1, berth.stderr
    error = records[0]
    assert error["message"] == "app error" and error["worker"].isdigit() and error["request"]
    assert error["traceback"].startswith("Traceback (most recent call last)") and "RuntimeError" in error["traceback"]
