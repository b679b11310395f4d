"""Fixtures that start the real berth binary on a free port and stop it cleanly.

BERTH_BIN names the binary (the Makefile sets it); PYTHON is the project's .venv.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
BERTH_BIN = Path(os.environ.get("BERTH_BIN", ROOT / ".build" / "debug" / "berth"))
LISTEN_RE = re.compile(r"berth: listening on http://([\d.]+):(\d+)")


class Berth:
    """A running berth process; its stdout and stderr are collected line by line."""

    def __init__(self, args, cwd=None, env=None, ready_timeout=60.0):
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.args = [str(BERTH_BIN)] + [str(a) for a in args]
        self.proc = subprocess.Popen(
            self.args, cwd=cwd or ROOT, env=full_env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        )
        self.stdout_lines, self.stderr_lines = [], []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout_lines), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr_lines), daemon=True),
        ]
        for t in self._threads:
            t.start()
        self.host, self.port = None, None
        if ready_timeout:
            self.wait_listening(ready_timeout)

    def _pump(self, stream, lines):
        for raw in iter(stream.readline, b""):
            with self._lock:
                lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    @property
    def stdout(self):
        with self._lock:
            return "\n".join(self.stdout_lines)

    @property
    def stderr(self):
        with self._lock:
            return "\n".join(self.stderr_lines)

    def wait_for(self, predicate, timeout=30.0, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}")

    def wait_listening(self, timeout):
        def listening():
            m = LISTEN_RE.search(self.stdout)
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                return True
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"berth exited with {self.proc.returncode} before listening\n"
                    f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}")
            return False
        self.wait_for(listening, timeout, "berth to listen")

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def worker_pids(self):
        """PIDs of berth's direct children (its workers)."""
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except FileNotFoundError:
            return []
        pids = set(int(p) for p in children)
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                pids.update(int(p) for p in (task / "children").read_text().split())
            except FileNotFoundError:
                pass
        return sorted(pids)

    def rss_kib(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Stops berth with `sig` and returns its exit code; checks no worker outlives it."""
        if self.proc.poll() is None:
            workers = self.worker_pids()
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"berth did not stop within {timeout}s\nstderr:\n{self.stderr}")
            deadline = time.monotonic() + 5
            alive = workers
            while alive and time.monotonic() < deadline:
                alive = [p for p in alive if _alive(p)]
                time.sleep(0.02)
            assert not alive, f"workers outlived berth: {alive}"
        for t in self._threads:
            t.join(5)
        return self.proc.returncode


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def start_berth():
    """start_berth(args..., cwd=, env=) → a running Berth; all are stopped at test end."""
    started = []

    def start(*args, **kwargs):
        b = Berth(list(args), **kwargs)
        started.append(b)
        return b

    yield start
    for b in started:
        if b.proc.poll() is None:
            b.stop()


@pytest.fixture
def hello(start_berth):
    """berth serving samples/hello with 2 plain (not isolated) workers.

    The gateway tests tell workers apart by their host pids (/pid), which a container's pid
    namespace hides; test_isolation*.py test the containers.
    """
    return start_berth("serve", "app:app", "--chdir", SAMPLES / "hello", "-w", "2",
                       "-b", "127.0.0.1:0", "--python", VENV_PYTHON, "--no-isolate")


def mysite_config(chdir, static, media=None, workers=2, app_lines="", access_log="-"):
    """The text of a berth.toml serving samples/mysite (or a copy at `chdir`): /static/ and
    optionally /media/ from the given directories, everything else to the app.
    `app_lines` go at the end of the [app.mysite] table (env, isolation sub-table, ...)."""
    media_route = f'\n[[route]]\npath = "/media/"\nstatic = "{media}"\n' if media else ""
    return f"""\
python = "{VENV_PYTHON}"

[server]
access_log = "{access_log}"

[[listen]]
bind = "127.0.0.1:0"

[app.mysite]
django = "mysite.settings"
chdir = "{chdir}"
workers = {workers}
{app_lines}

[[route]]
path = "/static/"
static = "{static}"
{media_route}
[[route]]
path = "/"
app = "mysite"
"""


def processes_with_token(token, cmdline_contains=None):
    """Live (non-zombie) pids whose environment holds BERTH_E2E_TOKEN=token: berth's workers
    (and their container inits) inherit it, which proves nothing outlived a berth.
    `cmdline_contains` (bytes) keeps only processes whose command line has it."""
    needle = f"BERTH_E2E_TOKEN={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                if cmdline_contains and cmdline_contains not in (entry / "cmdline").read_bytes():
                    continue
                if (entry / "stat").read_text().split(")")[-1].split()[0] != "Z":
                    found.append(int(entry.name))
        except OSError:
            pass
    return found


CSRF_FIELD_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def csrf_token(html):
    """The csrfmiddlewaretoken of a Django form page."""
    m = CSRF_FIELD_RE.search(html)
    assert m, f"no csrfmiddlewaretoken in the form:\n{html[:2000]}"
    return m.group(1)


def browser_headers(berth, path):
    """What a browser sends with a same-origin form POST."""
    return {"Referer": berth.url + path, "Origin": berth.url}


def admin_login(berth, username, password):
    """Django's admin login as a browser does it; returns (session, POST response)."""
    import requests
    s = requests.Session()
    page = s.get(berth.url + "/admin/login/?next=/admin/", timeout=30)
    assert page.status_code == 200, f"{page.status_code} {page.text[:500]}\n{berth.stderr}"
    assert "csrftoken" in s.cookies, f"no csrftoken cookie: {page.headers}"
    r = s.post(berth.url + "/admin/login/?next=/admin/",
               data={"csrfmiddlewaretoken": csrf_token(page.text), "username": username,
                     "password": password, "next": "/admin/"},
               headers=browser_headers(berth, "/admin/login/?next=/admin/"),
               allow_redirects=False, timeout=30)
    return s, r


def prepare_mysite(project, env, username, password):
    """Readies a mysite project (the sample or a copy) for serving with the MYSITE_* `env`:
    migrate, collectstatic, and a superuser. Fails the test with the output on error."""
    run_env = {**os.environ, **env}
    snippet = (
        "import django, os\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n"
        "django.setup()\n"
        "from django.contrib.auth import get_user_model\n"
        f"get_user_model().objects.create_superuser({username!r}, 'admin@example.com', {password!r})\n")
    for argv in ([str(VENV_PYTHON), "manage.py", "migrate", "--noinput", "-v", "0"],
                 [str(VENV_PYTHON), "manage.py", "collectstatic", "--noinput", "-v", "0"],
                 [str(VENV_PYTHON), "-c", snippet]):
        done = subprocess.run(argv, cwd=project, env=run_env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, f"{argv[1:3]} failed:\n{done.stdout}\n{done.stderr}"


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago, for configs that must name a
    port up front (a redirect target, an upstream); callers retry on a lost race."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp_path, *, app="hello", chdir=None, module="app:app", workers=1,
                 app_lines="", server="", access_log="off", listen=('bind = "127.0.0.1:0"',),
                 routes="", isolated=False, name="berth.toml"):
    """Writes `tmp_path/name`: a berth.toml for one app ([app.<app>], samples/hello unless
    `chdir`), not isolated unless `isolated`, with `server` lines in [server] (access_log
    "off" unless given; None leaves it out), one [[listen]] table per body in `listen`, and
    `routes` (raw TOML) at the end. `app_lines` go in the app's table (`workers=None` leaves
    `workers` out, for an autoscaling pool). Returns the path."""
    server_lines = ([f'access_log = "{access_log}"'] if access_log is not None else []) + ([server] if server else [])
    listens = "".join(f"\n[[listen]]\n{body}\n" for body in listen)
    isolation = "" if isolated else "isolation = { enabled = false }\n"
    path = tmp_path / name
    path.write_text(f"""\
python = "{VENV_PYTHON}"

[server]
{chr(10).join(server_lines)}
{listens}
[app.{app}]
module = "{module}"
chdir = "{chdir or SAMPLES / 'hello'}"
{"" if workers is None else f"workers = {workers}"}
{isolation}{app_lines}
{routes}
""")
    return path


def rss_growth_kib(berth, conn, requests, warmup=1000):
    """KiB berth's RSS grew over `requests` keep-alive GETs of / on `conn` (each must answer
    the hello app's 200 "Hello, world!"), after `warmup` such requests fill allocator pools."""
    def burst(n):
        for _ in range(n):
            conn.request("GET", "/")
            r = conn.getresponse()
            assert r.status == 200 and r.read() == b"Hello, world!"

    burst(warmup)
    before = berth.rss_kib()
    burst(requests)
    return berth.rss_kib() - before


def exit_code(berth, timeout=60):
    """Waits for a berth expected to exit on its own (ready_timeout=None) and returns its
    exit code; stops it if it is still running after `timeout`."""
    try:
        rc = berth.proc.wait(timeout)
    finally:
        if berth.proc.poll() is None:
            berth.stop()
    for t in berth._threads:
        t.join(5)
    return rc
