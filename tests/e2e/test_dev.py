"""berth dev on a temporary copy of samples/mysite: static files without collectstatic,
reload on save, tracebacks in the browser, recovery from a broken file, clean stop.

Each test gets its own copy of the project (files are edited) and its own berth; the
database is migrated once per module and copied. MYSITE_STATIC_ROOT points at a directory
that never exists, so whatever /static/ serves comes from the app static dirs.
"""
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import BERTH_BIN, ROOT, VENV_PYTHON

MYSITE = ROOT / "samples" / "mysite"
COPY_IGNORE = shutil.ignore_patterns("db.sqlite3", "staticfiles", "media", "__pycache__", "*.pyc")


def _dev_env(base):
    return {
        "MYSITE_DB": str(base / "db.sqlite3"),
        "MYSITE_STATIC_ROOT": str(base / "never-collected"),
        "MYSITE_MEDIA_ROOT": str(base / "media"),
        "MYSITE_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory):
    """A migrated SQLite database, copied into each test's project."""
    base = tmp_path_factory.mktemp("devdb")
    env = {**os.environ, **_dev_env(base)}
    result = subprocess.run([str(VENV_PYTHON), str(MYSITE / "manage.py"), "migrate", "--noinput", "-v", "0"],
                            cwd=MYSITE, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    return base / "db.sqlite3"


@pytest.fixture
def project(tmp_path, migrated_db):
    """A fresh copy of samples/mysite and the environment to run it with."""
    copy = tmp_path / "mysite"
    shutil.copytree(MYSITE, copy, ignore=COPY_IGNORE)
    shutil.copy(migrated_db, tmp_path / "db.sqlite3")
    (tmp_path / "media").mkdir()
    return copy, _dev_env(tmp_path)


@pytest.fixture
def dev(project, start_berth):
    """`berth dev COPY -b 127.0.0.1:0 --python .venv/bin/python`, running."""
    copy, env = project
    berth = start_berth("dev", copy, "-b", "127.0.0.1:0", "--python", VENV_PYTHON, env=env)
    berth.project = copy
    return berth


def _get(berth, path, timeout=30):
    return requests.get(berth.url + path, timeout=timeout, allow_redirects=False)


def _save(path, text):
    """Writes `text` the way an editor saving in place does (one close_write)."""
    with open(path, "w") as f:
        f.write(text)


def _poll(berth, path, accept, timeout, what):
    """GETs `path` until accept(response) is true; returns (response, seconds waited)."""
    start = time.monotonic()
    last = None
    while time.monotonic() - start < timeout:
        try:
            last = _get(berth, path, timeout=10)
            if accept(last):
                return last, time.monotonic() - start
        except requests.RequestException as e:
            last = e
        time.sleep(0.02)
    body = last.text[:2000] if isinstance(last, requests.Response) else repr(last)
    status = last.status_code if isinstance(last, requests.Response) else None
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {status} {body}\n"
                         f"stderr:\n{berth.stderr}")


def _django_static(relative):
    """A file shipped inside Django's own package (what the admin's static dir holds)."""
    out = subprocess.run([str(VENV_PYTHON), "-c", "import django, sys; sys.stdout.write(django.__path__[0])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout) / "contrib" / "admin" / "static" / relative


# ---------------------------------------------------------------- tests

def test_dev_serves_pages_and_static_without_collectstatic(dev, project):
    copy, env = project
    dev.wait_for(lambda: len(dev.worker_pids()) == 1, 10, "one worker")
    home = _get(dev, "/")
    assert home.status_code == 200, home.text[:2000]
    assert 'href="/static/gallery/site.css"' in home.text
    assert _get(dev, "/hello/").text == "Hello, world!"

    css = _get(dev, "/static/gallery/site.css")
    assert css.status_code == 200, css.text[:500]
    assert css.headers["Content-Type"] == "text/css; charset=utf-8"
    assert css.content == (copy / "gallery" / "static" / "gallery" / "site.css").read_bytes()

    admin_css = _get(dev, "/static/admin/css/base.css")
    assert admin_css.status_code == 200, admin_css.text[:500]
    assert admin_css.headers["Content-Type"] == "text/css; charset=utf-8"
    assert admin_css.content == _django_static("admin/css/base.css").read_bytes()

    assert _get(dev, "/static/gallery/no-such-file.css").status_code == 404
    assert not Path(env["MYSITE_STATIC_ROOT"]).exists(), "collectstatic ran?"


def test_edit_reloads_within_seconds(dev, capsys):
    views = dev.project / "gallery" / "views.py"
    new_text = f"Hello, reloaded {uuid.uuid4().hex}!"
    source = views.read_text()
    assert 'HttpResponse("Hello, world!")' in source
    assert _get(dev, "/hello/").text == "Hello, world!"
    pid_before = dev.proc.pid

    _save(views, source.replace('HttpResponse("Hello, world!")', f'HttpResponse("{new_text}")'))
    saved = time.monotonic()
    r, _ = _poll(dev, "/hello/", lambda r: r.status_code == 200 and r.text == new_text, 10,
                 "the edited /hello/")
    latency = time.monotonic() - saved
    with capsys.disabled():
        print(f"\n[berth dev] reload latency (save -> new code answering): {latency * 1000:.0f} ms")
    assert latency < 5.0, f"reload took {latency:.2f}s"
    assert dev.proc.poll() is None and dev.proc.pid == pid_before
    # The old code is gone for good: every following request gets the new text.
    for _ in range(5):
        assert _get(dev, "/hello/").text == new_text
    dev.wait_for(lambda: "gallery/views.py changed" in dev.stderr, 5, "the reload log line")


def test_boom_shows_the_traceback_page(dev):
    r = _get(dev, "/boom/")
    assert r.status_code == 500
    assert r.headers["Content-Type"].startswith("text/html")
    assert "RuntimeError" in r.text
    assert "boom from /boom/" in r.text
    assert "Traceback" in r.text
    assert "views.py" in r.text
    # Django's own technical 500 page (DEBUG on under `berth dev`).
    assert "You’re seeing this error because you have <code>DEBUG = True</code>" in r.text


def test_syntax_error_in_views_then_recovery(dev):
    views = dev.project / "gallery" / "views.py"
    good = views.read_text()
    assert _get(dev, "/hello/").status_code == 200
    pid = dev.proc.pid

    _save(views, good.replace('return HttpResponse("Hello, world!")', 'return HttpResponse("Hello, world!"'))
    r, _ = _poll(dev, "/hello/", lambda r: r.status_code == 500, 10, "a 500 for the broken views.py")
    assert "SyntaxError" in r.text, r.text[:3000]
    assert "views.py" in r.text, r.text[:3000]
    # Every page of the project is broken, not only the view that changed.
    broken_home = _get(dev, "/")
    assert broken_home.status_code == 500 and "SyntaxError" in broken_home.text

    fixed = good.replace('HttpResponse("Hello, world!")', 'HttpResponse("Hello again!")')
    _save(views, fixed)
    _poll(dev, "/hello/", lambda r: r.status_code == 200 and r.text == "Hello again!", 10,
          "recovery after fixing views.py")
    assert _get(dev, "/").status_code == 200
    assert dev.proc.poll() is None and dev.proc.pid == pid, "berth restarted"


def _assert_boot_error_page(r, filename):
    assert r.status_code == 500
    assert r.headers["Content-Type"].startswith("text/html")
    assert "SyntaxError" in r.text, r.text[:3000]
    assert filename in r.text, r.text[:3000]
    assert "<small>berth</small>" in r.text, "expected berth's own error page:\n" + r.text[:3000]


BROKEN_LINE = "\ndef broken(:\n    pass\n"


def test_app_that_fails_to_import_shows_berth_page_then_recovers(dev):
    """Saving a broken settings module: the fresh worker cannot boot, berth answers with its
    own page showing the error, and the next good save brings the app back."""
    settings = dev.project / "mysite" / "settings.py"
    good = settings.read_text()
    assert _get(dev, "/hello/").status_code == 200
    _save(settings, good + BROKEN_LINE)
    r, _ = _poll(dev, "/hello/", lambda r: r.status_code == 500, 10, "a 500 for the broken settings.py")
    _assert_boot_error_page(r, "settings.py")
    assert dev.proc.poll() is None

    _save(settings, good)
    _poll(dev, "/hello/", lambda r: r.status_code == 200 and r.text == "Hello, world!", 10,
          "recovery after fixing settings.py")
    assert _get(dev, "/").status_code == 200


def test_dev_starts_with_an_app_that_fails_to_import(project, start_berth):
    """berth dev on a project that is already broken still listens, shows the error, and
    serves the app once the file is fixed."""
    copy, env = project
    models = copy / "gallery" / "models.py"
    good = models.read_text()
    _save(models, good + BROKEN_LINE)
    dev = start_berth("dev", copy, "-b", "127.0.0.1:0", "--python", VENV_PYTHON, env=env)
    r, _ = _poll(dev, "/", lambda r: r.status_code == 500, 10, "a 500 for the broken models.py")
    _assert_boot_error_page(r, "models.py")
    _save(models, good)
    _poll(dev, "/hello/", lambda r: r.status_code == 200 and r.text == "Hello, world!", 10,
          "recovery after fixing models.py")
    assert _get(dev, "/").status_code == 200


def test_dev_without_manage_py_exits_2(tmp_path):
    empty = tmp_path / "empty-dir"
    empty.mkdir()
    result = subprocess.run([str(BERTH_BIN), "dev", str(empty), "-b", "127.0.0.1:0", "--python", str(VENV_PYTHON)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result
    assert "manage.py" in result.stderr
    assert str(empty) in result.stderr
    assert "listening" not in result.stdout


def test_sigint_stops_dev_cleanly(dev):
    assert _get(dev, "/hello/").status_code == 200
    workers = dev.worker_pids()
    assert len(workers) == 1, workers
    assert dev.stop(signal.SIGINT, timeout=15) == 0, dev.stderr  # stop() also checks no worker outlives berth
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"worker {pid} still running"
    assert "KeyboardInterrupt" not in dev.stderr


def _zombie(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True
