"""Preload with isolation: one container per app holds a zygote and the workers it forks.

berth serves samples/escape with `preload = true` and `[app.escape.isolation] enabled = true`
(64m memory and 32 pids per worker, 2 workers). The zygote runs as the process of a
container made exactly like a worker's (namespaces, read-only root, no capabilities,
no_new_privs, seccomp); each worker is forked inside it. The tests check that a forked
worker is held like a container-per-worker one (the escape attempts of test_isolation.py
that apply), that the isolation is per pool (the pool's workers see each other, nothing
else), that the cgroup limits are the pool's, that a killed worker and a killed zygote are
replaced, that an import error stops serve with the traceback, and that nothing is left
after stop. Django with preload + isolation is covered by test_isolation_django.py.

Needs root and user namespaces: fails loudly, never skips.
"""
import os
import re
import shutil
import signal
import socket
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import ROOT, VENV_PYTHON, Berth, processes_with_token
# `volume` is test_isolation's module-scoped fixture: imported, it gives this module a volume
# of its own.
from test_isolation import (ESCAPE, HOSTNAME, NO_NETWORK_ERRNOS, ZERO_CAPS, berth_cgroups, call,
                            cgroup_directories, describe, isolated_berth, remove_cgroups, staging_root,
                            start, tidy, volume, world_readable_tmpdir, write_escape_config)

if os.geteuid() != 0:
    raise RuntimeError("tests/e2e/test_preload_isolated.py must run as root. Not skipping on purpose.")

WORKERS = 2
MEMORY_LIMIT = 64 << 20
PIDS_LIMIT = 32
READY_RE = re.compile(r"worker \d+ \(pid (\d+)\) ready in")


def write_config(directory, volume, chdir=ESCAPE, module="app:app"):
    """`module` in `chdir` (the escape app) isolated, preloaded, WORKERS workers."""
    return write_escape_config(directory, volume, chdir=chdir, module=module, workers=WORKERS,
                               app_lines="preload = true")


def ready_workers(berth):
    """Live forked workers, by the host pids berth logged when they became ready."""
    logged = {int(p) for p in READY_RE.findall(berth.stderr)}
    return sorted(p for p in logged if Path(f"/proc/{p}").exists() and not is_zombie(p))


def is_zombie(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def zygotes(berth):
    """Live zygotes: processes with the zygote's command line that berth never logged as
    workers (forked workers keep the zygote's command line)."""
    logged = {int(p) for p in READY_RE.findall(berth.stderr)}
    return [p for p in processes_with_token(berth.token, cmdline_contains=b"--zygote") if p not in logged]


def parent_of(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("PPid:")).split()[1])


@pytest.fixture(scope="module")
def escape(volume):
    """One berth for the module, serving samples/escape isolated and preloaded, with both
    its workers' "ready" lines read (stderr is read apart from stdout's "listening on")."""
    with isolated_berth(write_config, volume) as berth:
        berth.wait_for(lambda: len(ready_workers(berth)) == WORKERS, 30, f"{WORKERS} workers ready")
        yield berth


# ---------------------------------------------------------------- the forked workers

def test_workers_are_forked_inside_the_zygotes_container(escape):
    workers = ready_workers(escape)
    assert len(workers) == WORKERS, escape.stderr
    [zygote] = zygotes(escape)
    init = parent_of(zygote)
    assert parent_of(init) == escape.proc.pid, "the zygote's container init is not berth's child"
    for pid in workers:
        assert b"--zygote" in Path(f"/proc/{pid}/cmdline").read_bytes(), "not forked from the zygote"
        # Reparented to the container's init by the double fork, not to berth.
        assert parent_of(pid) == init, (pid, parent_of(pid), init)
        for ns in ("pid", "mnt", "net", "user", "uts", "ipc"):
            assert os.readlink(f"/proc/{pid}/ns/{ns}") == os.readlink(f"/proc/{zygote}/ns/{ns}"), ns
            assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns


def test_forked_worker_is_an_unprivileged_root_under_seccomp(escape):
    me = call(escape, "/whoami")["detail"]
    assert (me["uid"], me["gid"], me["euid"], me["egid"]) == (0, 0, 0, 0), me
    assert me["hostname"] == HOSTNAME, me
    assert me["pid"] > 2 and me["ppid"] == 1, f"a forked worker is a child of the container's init: {me}"
    status = me["status"]
    for cap in ("CapEff", "CapBnd", "CapPrm", "CapInh"):
        assert status[cap] == ZERO_CAPS, status
    assert status.get("CapAmb", ZERO_CAPS) == ZERO_CAPS, status
    assert status["NoNewPrivs"] == "1", status
    assert status["Seccomp"] == "2", status
    assert me["cgroup"] and all(line.endswith(":/") for line in me["cgroup"]), me["cgroup"]


def test_forked_worker_has_the_rlimits(escape):
    detail = call(escape, "/limits")["detail"]
    assert detail == {"core": [0, 0], "nofile": [4096, 4096], "nproc": [4096, 4096],
                      "as": [1 << 30, 1 << 30]}, detail


@pytest.mark.parametrize("path", ["/etc/shadow", "/root", "/home", f"{ROOT}/Package.swift", "/var/log"])
def test_host_files_are_invisible(escape, path):
    answer = call(escape, "/read", path=path)
    assert not answer["ok"], f"{path} is readable inside the container: {answer}"
    assert answer["errno"] in ("ENOENT", "EACCES"), answer


@pytest.mark.parametrize("path", ["/x", f"{ESCAPE}/x", "/usr/x", "/etc/x"])
def test_the_root_is_read_only(escape, path):
    existed = Path(path).exists()
    answer = call(escape, "/write", path=path)
    assert not answer["ok"], f"wrote {path} inside the container: {answer}"
    assert answer["errno"] in ("EROFS", "EACCES"), answer
    assert Path(path).exists() == existed


def test_writes_to_the_volume_land_on_the_host(escape, volume):
    target = volume / f"from-forked-{uuid.uuid4().hex}.txt"
    assert call(escape, "/write", path=str(target))["ok"]
    assert target.read_bytes() == b"written from inside the container\n"
    assert (target.stat().st_uid, target.stat().st_gid) == (65534, 65534)


@pytest.mark.parametrize("endpoint", ["/mount", "/ptrace", "/keyctl", "/bpf", "/clone-ns"])
def test_denied_syscalls_fail_with_eperm(escape, endpoint):
    answer = call(escape, endpoint)
    assert not answer["ok"], f"{endpoint} succeeded in a forked worker: {answer}"
    assert answer["errno"] == "EPERM", answer


def test_unshare_fails_with_eperm(escape):
    answer = call(escape, "/unshare")
    for flag in ("CLONE_NEWUSER", "CLONE_NEWNS"):
        attempt = answer["detail"][flag]
        assert not attempt["ok"] and attempt["errno"] == "EPERM", answer


def test_no_network(escape):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        answer = call(escape, "/connect", port=listener.getsockname()[1])
        assert not answer["ok"], f"a forked worker reached the host: {answer}"
        assert answer["errno"] in NO_NETWORK_ERRNOS, answer
        assert set(answer["detail"]["interfaces"]) <= {"lo"}, answer


def test_isolation_is_per_pool_the_workers_see_each_other_and_nothing_else(escape):
    pids = call(escape, "/processes")["detail"]
    # The container's init, the zygote and the forked workers: the whole pool, no more.
    assert 1 in pids and len(pids) == 2 + WORKERS, pids
    host = sum(1 for p in os.listdir("/proc") if p.isdigit())
    assert host > 20 and len(pids) < host


def test_the_pools_cgroup_has_the_limits_times_the_pool(escape):
    roots = {c: Path(d) / f"berth-{escape.proc.pid}" for c, d in cgroup_directories().items()}
    pools = {c: [p for p in root.iterdir() if p.is_dir()] for c, root in roots.items()}
    assert len(pools["memory"]) == 1 and len(pools["pids"]) == 1, pools
    memory_dir, pids_dir = pools["memory"][0], pools["pids"][0]
    shares = WORKERS + 1  # each worker's limit, and one for the zygote
    limit_file = memory_dir / "memory.limit_in_bytes"
    memory = int((limit_file if limit_file.exists() else memory_dir / "memory.max").read_text())
    assert memory == MEMORY_LIMIT * shares
    assert (pids_dir / "pids.max").read_text().strip() == str(PIDS_LIMIT * shares + 2)
    inside = {int(p) for p in (pids_dir / "cgroup.procs").read_text().split()}
    assert set(ready_workers(escape)) <= inside and set(zygotes(escape)) <= inside


def test_fork_and_exec_work_in_a_forked_worker(escape):
    assert call(escape, "/subprocess")["ok"]


# ---------------------------------------------------------------- replacement and cleanup

def wait_for(condition, seconds, what, berth):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {seconds} s\nstderr:\n{berth.stderr}")


def assert_logged_in_order(berth, crashed, crash_text, ready_text):
    lines = berth.stderr.splitlines()
    crash = [i for i, line in enumerate(lines) if crashed in line and crash_text in line]
    ready = [i for i, line in enumerate(lines) if ready_text in line]
    assert crash and ready and crash[0] < ready[0], \
        f"crash line {crash}, replacement ready line {ready}:\n{berth.stderr}"


def test_killed_worker_and_killed_zygote_are_replaced_and_nothing_is_left(volume):
    confdir = world_readable_tmpdir("berth-iso-conf-")
    token = uuid.uuid4().hex
    berth = start(write_config(confdir, volume), token)
    berth.token = token
    roots = [Path(d) / f"berth-{berth.proc.pid}" for d in cgroup_directories().values()]
    staging = staging_root(berth.proc.pid)
    try:
        first = ready_workers(berth)
        assert len(first) == WORKERS
        os.kill(first[0], signal.SIGKILL)
        wait_for(lambda: len(ready_workers(berth)) == WORKERS and first[0] not in ready_workers(berth),
                 30, "replacement worker", berth)
        wait_for(lambda: "starting a replacement" in berth.stderr, 10, "the crash logged", berth)
        # berth logs the crash before it starts the replacement (one synchronous write per
        # record, the spawn follows the log call on the pool's loop): the lines keep that order.
        [replacement] = [p for p in ready_workers(berth) if p not in first]
        assert_logged_in_order(berth, f"(pid {first[0]})", "starting a replacement", f"(pid {replacement}) ready in")
        assert call(berth, "/whoami")["ok"]

        [zygote] = zygotes(berth)
        os.kill(zygote, signal.SIGKILL)
        wait_for(lambda: (now := zygotes(berth)) and now != [zygote], 30, "new zygote", berth)
        assert "starting a new one" in berth.stderr
        # The workers forked by the dead zygote still serve: their container lives on.
        survivors = ready_workers(berth)
        assert len(survivors) == WORKERS
        assert call(berth, "/whoami")["ok"]
        # A worker that dies now is forked by the new zygote, in its new container.
        [new_zygote] = zygotes(berth)
        os.kill(survivors[0], signal.SIGKILL)
        wait_for(lambda: len(ready_workers(berth)) == WORKERS and survivors[0] not in ready_workers(berth),
                 30, "worker forked by the new zygote", berth)
        replacement = [p for p in ready_workers(berth) if p not in survivors]
        assert replacement and parent_of(replacement[0]) == parent_of(new_zygote)
        for _ in range(6):
            assert call(berth, "/whoami")["ok"]
        assert all(root.is_dir() for root in roots)
    except BaseException:
        berth.stop()
        tidy(berth, token)
        shutil.rmtree(confdir, ignore_errors=True)
        raise
    assert berth.stop() == 0, berth.stderr
    shutil.rmtree(confdir, ignore_errors=True)
    deadline = time.monotonic() + 5
    while processes_with_token(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = {pid: describe(pid) for pid in processes_with_token(token)}
    left = remove_cgroups(roots)
    staging_left = staging.exists()
    tidy(berth, token)
    assert not survivors, f"processes left after stop: {survivors}"
    assert not left, f"cgroups left after stop: {left}\nstderr:\n{berth.stderr}"
    assert not staging_left, f"staging root {staging} left after stop"


def test_import_error_stops_serve_with_the_traceback(volume):
    confdir = world_readable_tmpdir("berth-iso-conf-")
    app = confdir / "app"
    app.mkdir()
    app.chmod(0o755)
    (app / "broken.py").write_text("import os\n\ndef application(environ, start_response:\n    pass\n")
    (app / "broken.py").chmod(0o644)
    token = uuid.uuid4().hex
    berth = Berth(["serve", "-c", write_config(confdir, volume, chdir=app, module="broken:application")],
                  env={"BERTH_E2E_TOKEN": token}, ready_timeout=None)
    try:
        rc = berth.proc.wait(60)
    finally:
        if berth.proc.poll() is None:
            berth.stop()
    for t in berth._threads:
        t.join(5)
    left_cgroups = [str(p) for p in berth_cgroups(berth.proc.pid) if p.exists()]
    tidy(berth, token)
    shutil.rmtree(confdir, ignore_errors=True)
    assert rc == 1, (rc, berth.stderr[-3000:])
    assert "SyntaxError" in berth.stderr and "broken.py" in berth.stderr, berth.stderr[-3000:]
    assert "listening on" not in berth.stdout
    assert not processes_with_token(token)
    assert not left_cgroups, left_cgroups


def test_reload_starts_a_new_zygote_container_and_the_old_one_goes(volume):
    confdir = world_readable_tmpdir("berth-iso-conf-")
    token = uuid.uuid4().hex
    berth = start(write_config(confdir, volume), token)
    berth.token = token
    try:
        [old_zygote] = zygotes(berth)
        old_init = parent_of(old_zygote)
        old_workers = ready_workers(berth)
        os.kill(berth.proc.pid, signal.SIGHUP)
        wait_for(lambda: not Path(f"/proc/{old_init}").exists() and len(ready_workers(berth)) == WORKERS,
                 30, "the old container gone and new workers ready", berth)
        [new_zygote] = zygotes(berth)
        assert new_zygote != old_zygote
        new_workers = ready_workers(berth)
        assert not set(new_workers) & set(old_workers)
        assert all(parent_of(p) == parent_of(new_zygote) for p in new_workers)
        for _ in range(4):
            assert call(berth, "/whoami")["ok"]
    finally:
        try:
            assert berth.stop() == 0, berth.stderr
        finally:
            tidy(berth, token)
            shutil.rmtree(confdir, ignore_errors=True)
