"""Reload (SIGHUP, `berth reload`): the config is re-read and applied whole or rejected
whole; new workers boot beside the serving ones, the first must answer health_path, and
only then do the old ones retire after their requests. Under continuous load: nothing
fails, and after each reload the new code answers."""
import http.client
import json
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from conftest import BERTH_BIN, SAMPLES, write_config


def make_app(tmp_path, version):
    app = tmp_path / "app"
    app.mkdir(exist_ok=True)
    shutil.copy(SAMPLES / "misbehaving" / "app.py", app / "app.py")
    (app / "version.txt").write_text(version)
    return app


def site_config(tmp_path, app, workers=2, extra="", listen="127.0.0.1:0"):
    return write_config(tmp_path, app="site", chdir=app, workers=workers, listen=(f'bind = "{listen}"',),
                        server=f'control_socket = "{tmp_path / "run" / "berth.sock"}"',
                        app_lines=f'health_path = "/pid"\n{extra}')


def reload(tmp_path):
    return subprocess.run([str(BERTH_BIN), "reload", "--socket", str(tmp_path / "run" / "berth.sock")],
                          capture_output=True, text=True, timeout=120)


def status(tmp_path):
    out = subprocess.run([str(BERTH_BIN), "status", "--json", "--socket", str(tmp_path / "run" / "berth.sock")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def get(berth, path):
    conn = http.client.HTTPConnection(berth.host, berth.port, timeout=30)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body.decode()


class Load:
    """A bounded pool of keep-alive clients asking /version until stopped."""

    def __init__(self, berth, clients=6):
        self.berth = berth
        self.ok, self.failures = [], []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(clients)]

    def run(self):
        conn = None
        while not self.stopping.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.berth.host, self.berth.port, timeout=30)
                conn.request("GET", "/version")
                resp = conn.getresponse()
                body = resp.read().decode()
                with self.lock:
                    (self.ok if resp.status == 200 else self.failures).append((resp.status, body))
            except Exception as exc:  # noqa: BLE001 - every failure counts
                with self.lock:
                    self.failures.append(repr(exc))
                conn = None

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in self.threads:
            t.join(30)


def test_five_reloads_under_load_lose_nothing_and_serve_the_new_code(start_berth, tmp_path):
    app = make_app(tmp_path, "v0")
    conf = site_config(tmp_path, app)
    berth = start_berth("serve", "-c", conf)
    assert get(berth, "/version") == (200, "v0")
    with Load(berth) as load:
        for n in range(1, 6):
            (app / "version.txt").write_text(f"v{n}")
            workers = 2 if n != 3 else 3  # one reload changes the config too
            site_config(tmp_path, app, workers=workers)
            done = reload(tmp_path)
            assert done.returncode == 0, done.stderr
            # Right after the reload returns, only the new code answers.
            for _ in range(6):
                assert get(berth, "/version") == (200, f"v{n}")
            if n == 3:
                assert status(tmp_path)["apps"][0]["workers_wanted"] == 3
            time.sleep(0.3)
    assert load.failures == []
    assert len(load.ok) > 50
    seen = [body for _, body in load.ok]
    assert {f"v{n}" for n in range(6)} <= set(seen)
    assert berth.stderr.count("reload done") == 5
    app_status = status(tmp_path)["apps"][0]
    assert app_status["restarts"]["reload"] >= 10
    assert all(w["generation"] == app_status["generation"] for w in app_status["workers"] if w["state"] != "stopping")


def test_reload_whose_app_fails_to_import_keeps_the_old_workers(start_berth, tmp_path):
    app = make_app(tmp_path, "v0")
    berth = start_berth("serve", "-c", site_config(tmp_path, app))
    pids_before = {w["pid"] for w in status(tmp_path)["apps"][0]["workers"]}
    good = (app / "app.py").read_text()
    with Load(berth, clients=3) as load:
        (app / "app.py").write_text("import does_not_exist_berth_reload\n" + good)
        done = reload(tmp_path)
        assert done.returncode == 1
        assert "does_not_exist_berth_reload" in done.stderr and "keep serving" in done.stderr
        time.sleep(0.5)
    assert load.failures == []
    assert get(berth, "/version") == (200, "v0")
    after = status(tmp_path)["apps"][0]
    assert {w["pid"] for w in after["workers"]} == pids_before
    # Fixed: the next reload goes through.
    (app / "app.py").write_text(good)
    (app / "version.txt").write_text("v1")
    assert reload(tmp_path).returncode == 0
    assert get(berth, "/version") == (200, "v1")


def test_reload_with_failing_health_check_keeps_the_old_workers(start_berth, tmp_path):
    app = make_app(tmp_path, "v0")
    berth = start_berth("serve", "-c", site_config(tmp_path, app))
    good = (app / "app.py").read_text()
    # Imports fine, but the health path raises.
    (app / "app.py").write_text(good.replace('elif path == "/pid":', 'elif path == "/pid":\n        raise RuntimeError("unhealthy")\n    elif path == "/never":'))
    (app / "version.txt").write_text("v1")
    done = reload(tmp_path)
    assert done.returncode == 1
    assert "health check GET /pid" in done.stderr and "unhealthy" in done.stderr
    assert get(berth, "/version") == (200, "v0")


def test_invalid_config_is_rejected_whole_naming_the_key(start_berth, tmp_path):
    app = make_app(tmp_path, "v0")
    conf = site_config(tmp_path, app)
    berth = start_berth("serve", "-c", conf)
    (app / "version.txt").write_text("v1")
    site_config(tmp_path, app, workers=0)
    done = reload(tmp_path)
    assert done.returncode == 1 and "app.site.workers" in done.stderr, done.stderr
    assert "app.site.workers" in berth.stderr  # logged too
    site_config(tmp_path, app, listen="127.0.0.1:1")
    done = reload(tmp_path)
    assert done.returncode == 1 and "listen" in done.stderr and "restart" in done.stderr, done.stderr
    # Nothing was applied: the old workers (old code, read at import) still answer.
    assert get(berth, "/version") == (200, "v0")
    assert status(tmp_path)["apps"][0]["workers_wanted"] == 2


def test_sighup_reloads(start_berth, tmp_path):
    app = make_app(tmp_path, "v0")
    berth = start_berth("serve", "-c", site_config(tmp_path, app))
    (app / "version.txt").write_text("v1")
    berth.proc.send_signal(signal.SIGHUP)
    berth.wait_for(lambda: "reload done" in berth.stderr, 30, "the SIGHUP reload")
    assert get(berth, "/version") == (200, "v1")


def test_reload_and_recycling_with_workers_in_containers(start_berth, tmp_path):
    """The same swap when each worker runs in a container: the new generation's containers
    boot beside the old ones, and recycling replaces a containerised worker too."""
    root = Path(tempfile.mkdtemp(prefix="berth-e2e-reload-", dir="/tmp"))
    try:
        root.chmod(0o755)  # the container's root (host uid 65534) must reach the app
        app = make_app(root, "v0")
        conf = site_config(tmp_path, app, extra="max_requests = 15")
        conf.write_text(conf.read_text().replace("enabled = false", "enabled = true"))
        berth = start_berth("serve", "-c", conf)
        with Load(berth, clients=3) as load:
            (app / "version.txt").write_text("v1")
            done = reload(tmp_path)
            assert done.returncode == 0, done.stderr
            assert get(berth, "/version") == (200, "v1")
            berth.wait_for(lambda: "reached max_requests" in berth.stderr, 30, "a containerised worker's recycling")
            time.sleep(1)
        assert load.failures == []
        assert berth.stop() == 0
    finally:
        shutil.rmtree(root, ignore_errors=True)
