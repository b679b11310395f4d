"""Preload (`preload = true`): a zygote imports the Django app once and forks the workers.
Real berth, real Django (samples/mysite), real processes: start-up time and memory with and
without preload, a zygote killed and replaced, import errors, workers killed and replaced."""
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import ROOT, VENV_PYTHON, Berth, exit_code, mysite_config, prepare_mysite, processes_with_token

MYSITE = ROOT / "samples" / "mysite"
WORKERS = 4


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("mysite")
    env = {
        "MYSITE_DB": str(base / "db.sqlite3"),
        "MYSITE_STATIC_ROOT": str(base / "static"),
        "MYSITE_MEDIA_ROOT": str(base / "media"),
        "MYSITE_DEBUG": "0",
        "MYSITE_SECRET_KEY": "e2e-" + uuid.uuid4().hex * 2,
        "MYSITE_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    (base / "media").mkdir()
    prepare_mysite(MYSITE, env, "admin", "correct horse battery staple 42")
    return {"env": env, "base": base}


def start(site, tmp_path, preload, token, chdir=MYSITE, ready_timeout=120.0):
    config = tmp_path / f"berth-{preload}.toml"
    config.write_text(mysite_config(chdir, site["base"] / "static", workers=WORKERS, access_log="off",
                                    app_lines=f"preload = {'true' if preload else 'false'}"))
    return Berth(["serve", "--no-isolate", "-c", config],
                 env={**site["env"], "BERTH_E2E_TOKEN": token}, ready_timeout=ready_timeout)


def memory_kib(pids):
    """(sum of RSS, sum of PSS) over `pids`, from /proc/PID/smaps_rollup."""
    rss = pss = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss += int(line.split()[1])
            elif line.startswith("Pss:"):
                pss += int(line.split()[1])
    return rss, pss


READY_RE = re.compile(r"worker \d+ \(pid (\d+)\) ready in")


def python_workers(berth):
    """Live workers, by the pids berth logged when they became ready (a forked worker has
    the zygote's command line)."""
    logged = {int(p) for p in READY_RE.findall(berth.stderr)}
    return sorted(p for p in logged if p in berth.worker_pids())


def zygote_pids(token, berth):
    logged = {int(p) for p in READY_RE.findall(berth.stderr)}
    return [p for p in processes_with_token(token, cmdline_contains=b"--zygote") if p not in logged]


def test_preload_serves_django_and_saves_start_time_and_memory(site, tmp_path):
    figures = {}
    for preload in (False, True):
        token = uuid.uuid4().hex
        t0 = time.monotonic()
        berth = start(site, tmp_path, preload, token)
        started = time.monotonic() - t0
        try:
            for _ in range(20):
                r = requests.get(berth.url + "/hello/", timeout=30)
                assert r.status_code == 200, (r.status_code, r.text[:300])
            workers = python_workers(berth)
            assert len(workers) == WORKERS, (workers, berth.stderr)
            rss, pss = memory_kib(workers + zygote_pids(token, berth))
            figures[preload] = (started, rss, pss)
            if preload:
                assert len(zygote_pids(token, berth)) == 1
                assert "ready in" in berth.stderr
            else:
                assert not zygote_pids(token, berth)
        finally:
            assert berth.stop() == 0, berth.stderr
    print(f"\nstart-up and memory of {WORKERS} Django workers (seconds, RSS KiB, PSS KiB incl. zygote):"
          f"\n  without preload: {figures[False]}\n  with preload:    {figures[True]}")
    # Forked from one import, the workers share the app's pages: less memory in all.
    assert figures[True][2] < figures[False][2], figures


def test_zygote_crash_is_detected_and_replaced(site, tmp_path):
    token = uuid.uuid4().hex
    berth = start(site, tmp_path, True, token)
    try:
        [zygote] = zygote_pids(token, berth)
        berth.wait_for(lambda: len(python_workers(berth)) == WORKERS, 60, "the workers")
        forked_before = set(python_workers(berth))
        os.kill(zygote, signal.SIGKILL)
        def replaced():  # one listing per check: the dead zygote's entry can vanish between two
            pids = zygote_pids(token, berth)
            return len(pids) == 1 and pids[0] != zygote

        berth.wait_for(replaced, 60, "a new zygote")
        assert "starting a new one" in berth.stderr
        # The workers forked before the crash live on and still serve.
        assert forked_before <= set(berth.worker_pids()), (forked_before, berth.worker_pids(), berth.stderr)
        assert requests.get(berth.url + "/hello/", timeout=30).status_code == 200
        # A worker that dies now is forked from the new zygote.
        berth.wait_for(lambda: len(python_workers(berth)) == WORKERS, 60, "the workers")
        before = set(python_workers(berth))
        victim = sorted(before)[0]
        os.kill(victim, signal.SIGKILL)
        berth.wait_for(lambda: len(python_workers(berth)) == WORKERS and victim not in python_workers(berth),
                       60, "a replacement worker")
        for _ in range(10):
            assert requests.get(berth.url + "/hello/", timeout=30).status_code == 200
    finally:
        assert berth.stop() == 0, berth.stderr
    deadline = time.monotonic() + 5
    while processes_with_token(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes_with_token(token), "zygote or workers outlived berth"


def test_import_error_in_the_zygote_stops_serve_with_the_traceback(site, tmp_path):
    copy = tmp_path / "mysite"
    shutil.copytree(MYSITE, copy, ignore=shutil.ignore_patterns("db.sqlite3", "staticfiles", "media", "__pycache__"))
    models = copy / "gallery" / "models.py"
    models.write_text(models.read_text() + "\ndef broken(:\n    pass\n")
    token = uuid.uuid4().hex
    berth = start(site, tmp_path, True, token, chdir=copy, ready_timeout=None)
    rc = exit_code(berth)
    assert rc == 1, (rc, berth.stderr[-3000:])
    assert "SyntaxError" in berth.stderr and "models.py" in berth.stderr
    assert "listening on" not in berth.stdout
    assert not processes_with_token(token)
