"""berth serve + the real samples/mysite Django project, end to end.

Every test talks HTTP to a real berth process with real Python workers running Django 5.2.
The database, STATIC_ROOT and MEDIA_ROOT are temporary (MYSITE_* variables in berth's
environment, which berth passes to its workers); the module prepares them once with
manage.py migrate / collectstatic and a superuser.

Most tests share one berth started from a config file written here (2 workers). Others
start their own: the same site given by flags only, the repository's conf/berth.toml
(with -b 127.0.0.1:0 and --static overrides, see test_repo_config_serves_the_site), and
one with DEBUG on that berth must refuse to serve.
"""
import hashlib
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import (ROOT, VENV_PYTHON, Berth, admin_login, exit_code, browser_headers, csrf_token, mysite_config,
                      prepare_mysite, processes_with_token)

MYSITE = ROOT / "samples" / "mysite"
ADMIN_USER = "berth-admin"
ADMIN_PASSWORD = "correct horse battery staple 42"
# nginx "combined" + request time + request id, as berth writes it (Sources/HTTPFront/AccessLog.swift).
ACCESS_RE = re.compile(
    r'^(?P<remote>\S+) - - \[[^\]]+\] "(?P<method>[A-Z]+) (?P<uri>\S+) HTTP/1\.[01]" '
    r'(?P<status>\d{3}) (?P<bytes>\d+) "[^"]*" "[^"]*" (?P<seconds>[\d.]+) (?P<rid>\S+)$')


# ---------------------------------------------------------------- fixtures and helpers

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Temporary DB (migrated, with a superuser), collected static files and media dir."""
    base = tmp_path_factory.mktemp("mysite")
    paths = {"db": base / "db.sqlite3", "static": base / "static", "media": base / "media"}
    paths["media"].mkdir()
    env = {
        "MYSITE_DB": str(paths["db"]),
        "MYSITE_STATIC_ROOT": str(paths["static"]),
        "MYSITE_MEDIA_ROOT": str(paths["media"]),
        "MYSITE_DEBUG": "0",
        "MYSITE_SECRET_KEY": "e2e-" + uuid.uuid4().hex * 2,
        "MYSITE_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    prepare_mysite(MYSITE, env, ADMIN_USER, ADMIN_PASSWORD)
    assert (paths["static"] / "gallery" / "site.css").is_file()
    assert (paths["static"] / "admin" / "css" / "base.css").is_file()
    return {"env": env, **paths}


@pytest.fixture(scope="module")
def served(site, tmp_path_factory):
    """One berth for the module: `berth serve -c <temp config>` with 2 workers."""
    config = tmp_path_factory.mktemp("conf") / "berth.toml"
    config.write_text(mysite_config(MYSITE, site["static"], site["media"]))
    # The site's database and media live in pytest's 0700 temp tree, which a container's
    # unprivileged root cannot reach: these tests check Django through the stack, and
    # tests/e2e/test_isolation_django.py checks it isolated.
    berth = Berth(["serve", "--no-isolate", "-c", config], env=site["env"])
    yield berth
    assert berth.stop() == 0, berth.stderr


def _get(berth, path, **kwargs):
    kwargs.setdefault("timeout", 30)
    kwargs.setdefault("allow_redirects", False)
    return requests.get(berth.url + path, **kwargs)


def _wait_no_processes_with_token(token, timeout=5.0):
    deadline = time.monotonic() + timeout
    while processes_with_token(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes_with_token(token), f"left running: {processes_with_token(token)}"





# ---------------------------------------------------------------- pages and static files

def test_two_workers_serve_the_site(served):
    assert len(served.worker_pids()) == 2, f"workers: {served.worker_pids()}\n{served.stderr}"


def test_hello(served):
    r = _get(served, "/hello/")
    assert r.status_code == 200
    assert r.text == "Hello, world!"
    assert r.headers["Content-Type"].startswith("text/html")


def test_home_page_links_static_css_served_by_front(served, site):
    r = _get(served, "/")
    assert r.status_code == 200, r.text[:1000]
    assert r.headers["Content-Type"].startswith("text/html")
    assert "<h1>Gallery</h1>" in r.text
    assert 'href="/static/gallery/site.css"' in r.text
    assert 'src="/static/gallery/site.js"' in r.text

    css = _get(served, "/static/gallery/site.css")
    assert css.status_code == 200
    assert css.headers["Content-Type"] == "text/css; charset=utf-8"
    assert css.content == (site["static"] / "gallery" / "site.css").read_bytes()
    # The front's static handler, not Django (which serves nothing under /static/ with
    # DEBUG off, and sends no ETag): an ETag, and a 304 for a matching If-None-Match.
    etag = css.headers.get("ETag")
    assert etag, f"no ETag: {dict(css.headers)}"
    again = _get(served, "/static/gallery/site.css", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


def test_static_is_served_from_static_root_not_app_dirs(served, site):
    """A file that only exists in STATIC_ROOT is served: the route reads the collected tree."""
    only_collected = site["static"] / "gallery" / f"only-{uuid.uuid4().hex}.css"
    only_collected.write_text("body{color:#123456}\n")
    try:
        r = _get(served, "/static/gallery/" + only_collected.name)
        assert r.status_code == 200
        assert r.text == "body{color:#123456}\n"
    finally:
        only_collected.unlink()
    assert _get(served, "/static/gallery/" + only_collected.name).status_code == 404


def test_admin_static_css(served, site):
    r = _get(served, "/static/admin/css/base.css")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/css; charset=utf-8"
    assert r.content == (site["static"] / "admin" / "css" / "base.css").read_bytes()


# ---------------------------------------------------------------- admin, CSRF

def test_admin_login_with_csrf(served):
    s, r = admin_login(served, ADMIN_USER, ADMIN_PASSWORD)
    assert r.status_code == 302, r.text[:2000]
    assert r.headers["Location"] == "/admin/"
    assert "sessionid" in s.cookies
    home = s.get(served.url + "/admin/", allow_redirects=False, timeout=30)
    assert home.status_code == 200
    assert ADMIN_USER in home.text
    assert "Site administration" in home.text


def test_admin_login_wrong_password(served):
    s, r = admin_login(served, ADMIN_USER, "not the password")
    assert r.status_code == 200
    assert "Please enter the correct username and password" in r.text
    assert "sessionid" not in s.cookies
    assert s.get(served.url + "/admin/", allow_redirects=False, timeout=30).status_code == 302


def test_admin_login_without_csrf_token_is_forbidden(served):
    s = requests.Session()
    page = s.get(served.url + "/admin/login/", timeout=30)
    assert page.status_code == 200 and "csrftoken" in s.cookies
    r = s.post(served.url + "/admin/login/",
               data={"username": ADMIN_USER, "password": ADMIN_PASSWORD, "next": "/admin/"},
               headers=browser_headers(served, "/admin/login/"), allow_redirects=False, timeout=30)
    assert r.status_code == 403
    assert "CSRF verification failed" in r.text
    assert "sessionid" not in s.cookies


# ---------------------------------------------------------------- uploads and media

def test_photo_upload_through_admin(served, site):
    s, r = admin_login(served, ADMIN_USER, ADMIN_PASSWORD)
    assert r.status_code == 302, r.text[:2000]
    add_url = served.url + "/admin/gallery/photo/add/"
    form = s.get(add_url, timeout=30)
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text
    payload = os.urandom(300 * 1024 + 7)
    title = f"e2e photo {uuid.uuid4().hex[:12]}"
    before = set((site["media"] / "photos").glob("*")) if (site["media"] / "photos").exists() else set()

    r = s.post(add_url,
               data={"csrfmiddlewaretoken": csrf_token(form.text), "title": title, "_save": "Save"},
               files={"image": ("x.png", payload, "image/png")},
               headers=browser_headers(served, "/admin/gallery/photo/add/"),
               allow_redirects=False, timeout=60)
    assert r.status_code == 302, r.text[:3000]
    assert r.headers["Location"] == "/admin/gallery/photo/"

    new_files = set((site["media"] / "photos").glob("*")) - before
    assert len(new_files) == 1, f"new files in MEDIA_ROOT/photos: {new_files}"
    stored = new_files.pop()
    assert re.fullmatch(r"x(_\w+)?\.png", stored.name), stored.name
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == hashlib.sha256(payload).hexdigest()

    home = _get(served, "/")
    assert home.status_code == 200
    m = re.search(r'<a href="([^"]+)">' + re.escape(title) + "</a>", home.text)
    assert m, f"title not listed on the home page:\n{home.text}"
    assert m.group(1) == "/media/photos/" + stored.name

    media = _get(served, m.group(1))
    assert media.status_code == 200
    assert media.headers["Content-Type"] == "image/png"
    assert media.headers.get("ETag"), dict(media.headers)  # berth's static handler, not Django
    assert len(media.content) == len(payload)
    assert media.content == payload


# ---------------------------------------------------------------- errors

def test_boom_is_a_bare_500_with_traceback_in_stderr(served):
    r = _get(served, "/boom/")
    assert r.status_code == 500
    for leak in ("Traceback", "RuntimeError", "boom from /boom/", "views.py"):
        assert leak not in r.text, f"{leak!r} leaked into the 500 page:\n{r.text}"
    served.wait_for(lambda: "RuntimeError: boom from /boom/" in served.stderr, 10,
                    "the /boom/ traceback in berth's stderr")
    err = served.stderr
    assert "Traceback (most recent call last)" in err
    assert "gallery/views.py" in err


def test_serve_refuses_debug_true(site):
    token = uuid.uuid4().hex
    env = {**site["env"], "MYSITE_DEBUG": "1", "BERTH_E2E_TOKEN": token}
    berth = Berth(["serve", "--no-isolate", "--django", "mysite.settings", "--chdir", MYSITE, "-w", "2",
                   "-b", "127.0.0.1:0", "--python", VENV_PYTHON], env=env, ready_timeout=None)
    rc = exit_code(berth)
    assert rc != 0
    assert "DEBUG" in berth.stderr, berth.stderr
    assert "listening on" not in berth.stdout
    _wait_no_processes_with_token(token)


def test_serve_exits_when_the_app_fails_to_import(site, tmp_path):
    """A project whose models.py has a syntax error: serve mode must not start (no crash
    loop, no listening socket) and must say why."""
    copy = tmp_path / "mysite"
    shutil.copytree(MYSITE, copy, ignore=shutil.ignore_patterns(
        "db.sqlite3", "staticfiles", "media", "__pycache__"))
    models = copy / "gallery" / "models.py"
    models.write_text(models.read_text() + "\ndef broken(:\n    pass\n")
    token = uuid.uuid4().hex
    berth = Berth(["serve", "--no-isolate", "--django", "mysite.settings", "--chdir", copy, "-w", "2",
                   "-b", "127.0.0.1:0", "--python", VENV_PYTHON],
                  env={**site["env"], "BERTH_E2E_TOKEN": token}, ready_timeout=None)
    try:
        rc = berth.proc.wait(30)
    except subprocess.TimeoutExpired:
        rc = None
    finally:
        if berth.proc.poll() is None:
            berth.stop()
    for t in berth._threads:
        t.join(5)
    assert rc is not None, ("berth serve kept running with an app that cannot be imported\n"
                            f"stdout:\n{berth.stdout}\nstderr (last 40 lines):\n"
                            + "\n".join(berth.stderr_lines[-40:]))
    assert rc != 0
    assert "SyntaxError" in berth.stderr and "models.py" in berth.stderr
    assert "listening on" not in berth.stdout
    _wait_no_processes_with_token(token)


# ---------------------------------------------------------------- access log

def test_one_access_log_line_per_request(served):
    marker = uuid.uuid4().hex
    requests_made = [("/hello/?log=%s-1" % marker, 200), ("/?log=%s-2" % marker, 200),
                     ("/static/gallery/site.css?log=%s-3" % marker, 200),
                     ("/nope/?log=%s-4" % marker, 404), ("/boom/?log=%s-5" % marker, 500)]
    with requests.Session() as s:  # keep-alive: several requests on one connection
        for path, status in requests_made:
            r = s.get(served.url + path, timeout=30, headers={"User-Agent": "e2e-" + marker})
            assert r.status_code == status, path

    def lines_for_marker():
        return [line for line in served.stdout.splitlines() if marker in line]

    served.wait_for(lambda: len(lines_for_marker()) >= len(requests_made), 10, "access log lines")
    time.sleep(0.3)  # a duplicate line would arrive about now
    lines = lines_for_marker()
    assert len(lines) == len(requests_made), "\n".join(lines)
    by_uri = {}
    for line in lines:
        m = ACCESS_RE.match(line)
        assert m, f"not an access log line: {line!r}"
        by_uri.setdefault(m["uri"], []).append(m)
    for path, status in requests_made:
        assert len(by_uri.get(path, [])) == 1, f"{path}: {by_uri.get(path)}\n" + "\n".join(lines)
        m = by_uri[path][0]
        assert m["method"] == "GET" and int(m["status"]) == status, m.string
        assert m["remote"] == "127.0.0.1"
        assert f'"e2e-{marker}"' in m.string


# ---------------------------------------------------------------- other ways to start

def test_serve_with_flags_only(site, start_berth):
    berth = start_berth("serve", "--no-isolate", "--django", "mysite.settings", "--chdir", MYSITE, "-w", "2",
                        "-b", "127.0.0.1:0", "--static", f"/static/={site['static']}",
                        "--static", f"/media/={site['media']}", "--python", VENV_PYTHON, env=site["env"])
    assert len(berth.worker_pids()) == 2
    assert _get(berth, "/hello/").text == "Hello, world!"
    assert _get(berth, "/").status_code == 200
    css = _get(berth, "/static/gallery/site.css")
    assert css.status_code == 200 and css.headers["Content-Type"] == "text/css; charset=utf-8"
    assert berth.stop() == 0


def test_repo_config_serves_the_site(site, start_berth):
    """`berth serve -c conf/berth.toml` as shipped, with flags for what a test must not touch.

    -b 127.0.0.1:0 replaces the file's [[listen]] (127.0.0.1:8000). The file's static routes
    point into samples/mysite (staticfiles/ exists only after collectstatic there, which this
    test does not run, and media/); --static replaces a file route with the same path, so
    /static/ and /media/ go to this module's temporary collected tree and media dir, matching
    MYSITE_STATIC_ROOT / MYSITE_MEDIA_ROOT (the environment overrides the file's `env`).
    --no-isolate: those temporary paths are not in the file's container. MYSITE_DEBUG is left unset: serve mode must get
    DEBUG off by default, otherwise berth would refuse to start.
    """
    env = {k: v for k, v in site["env"].items() if k != "MYSITE_DEBUG"}
    assert "MYSITE_DEBUG" not in os.environ and "BERTH_DEV" not in os.environ
    berth = start_berth("serve", "-c", ROOT / "conf" / "berth.toml", "-b", "127.0.0.1:0", "--no-isolate",
                        "--static", f"/static/={site['static']}", "--static", f"/media/={site['media']}",
                        env=env)
    listening = re.findall(r"berth: listening on (\S+)", berth.stdout)
    assert listening == [berth.url], f"-b should replace the file's listeners: {listening}"
    assert berth.port != 8000
    assert len(berth.worker_pids()) == 2  # workers = 2 in the file
    assert _get(berth, "/hello/").text == "Hello, world!"
    home = _get(berth, "/")
    assert home.status_code == 200 and 'href="/static/gallery/site.css"' in home.text
    css = _get(berth, "/static/gallery/site.css")
    assert css.status_code == 200
    assert css.headers["Content-Type"] == "text/css; charset=utf-8"
    assert css.content == (site["static"] / "gallery" / "site.css").read_bytes()
    # The file's access_log = "-": requests are logged on stdout.
    berth.wait_for(lambda: '"GET /hello/ HTTP/1.1" 200 ' in berth.stdout, 10,
                   "the access log line for /hello/")
    boom = _get(berth, "/boom/")
    assert boom.status_code == 500 and "Traceback" not in boom.text
    assert berth.stop() == 0
