"""samples/mysite served by berth with every worker in its own container.

A copy of the project is prepared in a temporary directory (migrate, collectstatic, a
superuser), then served with `[app.mysite.isolation] enabled = true`: the database
directory (<tmp>/var) and MEDIA_ROOT (<tmp>/media) are the only writable volumes, the
project copy is mounted read-only, the MYSITE_* settings reach the workers through the
app's `env` table only (berth's own environment does not carry them). The tests prove
that a real Django site works like that: admin login with the CSRF flow (the session row
lands in the SQLite file in the volume) and a file upload (the file lands in the media
volume on the host, owned by the container's root, host uid 65534).

Needs root and user namespaces: fails loudly, never skips.
"""
import hashlib
import os
import re
import shutil
import sqlite3
import tempfile
import uuid
from pathlib import Path

import pytest
import requests

from conftest import (ROOT, VENV_PYTHON, admin_login, browser_headers, csrf_token, mysite_config,
                      prepare_mysite, processes_with_token)
from test_isolation import start, tidy

if os.geteuid() != 0:
    raise RuntimeError(
        "tests/e2e/test_isolation_django.py must run as root: berth's worker containers need "
        "it (uid/gid maps, cgroups). Not skipping on purpose.")

MYSITE = ROOT / "samples" / "mysite"
CONTAINER_ROOT_HOST_UID = 65534
ADMIN_USER = "berth-admin"
ADMIN_PASSWORD = "correct horse battery staple 42"


def _make_world_readable(top):
    """u+rwX, go+rX on everything under `top`: the container's root is host uid 65534,
    which must read the project copy (mounted read-only) and traverse every directory."""
    for dirpath, dirnames, filenames in os.walk(top):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            mode = os.stat(path).st_mode
            os.chmod(path, (mode | 0o644) | (0o111 if mode & 0o100 else 0))


@pytest.fixture(scope="module")
def site():
    """A migrated, collected copy of samples/mysite with a superuser, in a directory the
    container can reach.

    Not pytest's tmp_path: that lives under /tmp/pytest-of-root/ (mode 0700), which uid
    65534 cannot traverse, so the volumes and the app copy would be unreachable inside the
    container for reasons that have nothing to do with berth. mkdtemp under /tmp, then
    chmod 0755 on the way down.
    """
    base = Path(tempfile.mkdtemp(prefix="berth-iso-django-", dir="/tmp"))
    base.chmod(0o755)
    project = base / "mysite"
    shutil.copytree(MYSITE, project, ignore=shutil.ignore_patterns(
        "db.sqlite3", "staticfiles", "media", "__pycache__"))
    for sub in ("var", "media"):
        (base / sub).mkdir()
    env = {
        "MYSITE_DB": str(base / "var" / "db.sqlite3"),
        "MYSITE_STATIC_ROOT": str(base / "staticfiles"),
        "MYSITE_MEDIA_ROOT": str(base / "media"),
        "MYSITE_DEBUG": "0",
        "MYSITE_SECRET_KEY": "e2e-isolated-" + uuid.uuid4().hex * 2,
        "MYSITE_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    prepare_mysite(project, env, ADMIN_USER, ADMIN_PASSWORD)
    _make_world_readable(base)
    assert (base / "staticfiles" / "gallery" / "site.css").is_file()
    yield {"base": base, "project": project, "env": env, "db": base / "var" / "db.sqlite3",
           "media": base / "media", "static": base / "staticfiles"}
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module", params=[(False, "read-only"), (True, "read-only"), (False, "overlay")],
                ids=["container-per-worker", "preload-zygote-container", "overlay-root"])
def served(site, request):
    """berth serving the site isolated: a container per worker, or (preload = true) one
    container per app holding a zygote and the workers it forks, or a container per worker
    with an overlay root (rootfs = "overlay")."""
    base = site["base"]
    env_table = ", ".join(f'{k} = "{v}"' for k, v in site["env"].items())
    config = base / "berth.toml"
    volumes = f'["{base / "var"}", "{site["media"]}"]'
    preloaded, rootfs = request.param
    preload = "true" if preloaded else "false"
    isolation = (f"preload = {preload}\nenv = {{ {env_table} }}\n\n[app.mysite.isolation]\nenabled = true\n"
                 f"volumes = {volumes}\nrootfs = \"{rootfs}\"")
    config.write_text(mysite_config(site["project"], site["static"], site["media"], app_lines=isolation))
    # The MYSITE_* settings go through the config's env table only.
    # (Berth merges env over os.environ: the test run itself must not carry them either.)
    assert not any(k.startswith("MYSITE_") for k in os.environ), "unset MYSITE_* to run this module"
    token = uuid.uuid4().hex
    berth = start(config, token, app="mysite")
    berth.token = token
    berth.preload = preloaded
    yield berth
    try:
        assert berth.stop() == 0, berth.stderr
    finally:
        tidy(berth, token, app="mysite")





def _worker_python_pids(token):
    return processes_with_token(token, cmdline_contains=b"berth_worker")


def test_workers_run_contained(served):
    pids = _worker_python_pids(served.token)
    # With preload the zygote (whose command line the forked workers share) is one more.
    assert len(pids) == 2 + served.preload, f"worker pythons: {pids}\n{served.stderr}"
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        assert set(uid_line.split()[1:]) == {str(CONTAINER_ROOT_HOST_UID)}, uid_line
        assert "NoNewPrivs:\t1" in status and "Seccomp:\t2" in status, status
        assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
        assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")


def test_home_page_and_static(served, site):
    r = requests.get(served.url + "/", timeout=30)
    assert r.status_code == 200, f"{r.status_code} {r.text[:1000]}\n{served.stderr}"
    assert "<h1>Gallery</h1>" in r.text
    css = requests.get(served.url + "/static/gallery/site.css", timeout=30)
    assert css.status_code == 200
    assert css.content == (site["static"] / "gallery" / "site.css").read_bytes()


def test_admin_login_with_csrf_writes_the_session_to_the_volume_db(served, site):
    s, r = admin_login(served, ADMIN_USER, ADMIN_PASSWORD)
    assert r.status_code == 302, f"{r.status_code} {r.text[:2000]}\n{served.stderr}"
    assert r.headers["Location"] == "/admin/"
    session_key = s.cookies.get("sessionid")
    assert session_key, s.cookies
    home = s.get(served.url + "/admin/", allow_redirects=False, timeout=30)
    assert home.status_code == 200 and ADMIN_USER in home.text
    # The worker wrote the session row into the SQLite file in the volume, on the host.
    with sqlite3.connect(f"file:{site['db']}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT count(*) FROM django_session WHERE session_key = ?", (session_key,)).fetchone()
    assert rows == (1,), f"session {session_key} not in {site['db']}"


def test_photo_upload_lands_in_the_media_volume(served, site):
    s, r = admin_login(served, ADMIN_USER, ADMIN_PASSWORD)
    assert r.status_code == 302, f"{r.status_code} {r.text[:2000]}\n{served.stderr}"
    add_url = served.url + "/admin/gallery/photo/add/"
    form = s.get(add_url, timeout=30)
    assert form.status_code == 200
    photos = site["media"] / "photos"
    before = set(photos.glob("*")) if photos.exists() else set()
    payload = os.urandom(200 * 1024 + 3)
    title = f"isolated photo {uuid.uuid4().hex[:12]}"
    r = s.post(add_url,
               data={"csrfmiddlewaretoken": csrf_token(form.text), "title": title, "_save": "Save"},
               files={"image": ("x.png", payload, "image/png")},
               headers=browser_headers(served, "/admin/gallery/photo/add/"),
               allow_redirects=False, timeout=60)
    assert r.status_code == 302, f"{r.status_code} {r.text[:3000]}\n{served.stderr}"
    assert r.headers["Location"] == "/admin/gallery/photo/"

    new_files = set(photos.glob("*")) - before
    assert len(new_files) == 1, f"new files in {photos}: {new_files}"
    stored = new_files.pop()
    assert hashlib.sha256(stored.read_bytes()).digest() == hashlib.sha256(payload).digest()
    st = stored.stat()
    assert st.st_uid == CONTAINER_ROOT_HOST_UID, f"{stored} is owned by uid {st.st_uid}"

    home = requests.get(served.url + "/", timeout=30)
    assert home.status_code == 200
    m = re.search(r'<a href="([^"]+)">' + re.escape(title) + "</a>", home.text)
    assert m, f"title not listed on the home page:\n{home.text}"
    assert m.group(1) == "/media/photos/" + stored.name
    media = requests.get(served.url + m.group(1), timeout=30)
    assert media.status_code == 200 and media.content == payload
