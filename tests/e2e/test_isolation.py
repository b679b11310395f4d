"""berth's worker containers, attacked from the inside: samples/escape tries to break out.

berth serves samples/escape (a WSGI app whose endpoints each try one escape and answer JSON
{"ok", "errno", "detail"}) with `[app.escape.isolation] enabled = true`, a 64m memory
limit, 32 pids and one writable volume, and every test checks that the container holds:
identity and privileges, the file system view, processes, syscalls the seccomp profile
denies (Sources/Container/SeccompProfile+Default.swift: EPERM, the profile's default errno),
the network, writes, the pids and memory limits, cgroup cleanup.

These tests need root (berth writes uid maps and cgroups) and user namespaces. They do not
skip: on a machine without them they fail loudly, at import.
"""
import contextlib
import os
import re
import shutil
import signal
import socket
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import ROOT, SAMPLES, VENV_PYTHON, Berth, processes_with_token

if os.geteuid() != 0:
    raise RuntimeError(
        "tests/e2e/test_isolation.py must run as root: berth's worker containers need it "
        "(uid/gid maps, cgroups). Not skipping on purpose.")
if int(Path("/proc/sys/user/max_user_namespaces").read_text()) == 0:
    raise RuntimeError("user namespaces are disabled (user.max_user_namespaces = 0)")

ESCAPE = SAMPLES / "escape"
CONTAINER_ROOT_HOST_UID = 65534  # the isolation default: the container's root is nobody
HOSTNAME = "berth-escape"        # IsolationConfig.defaultHostname("escape")
MEMORY_LIMIT = 64 << 20
PIDS_LIMIT = 32
DEVICES = {"null", "zero", "full", "random", "urandom", "tty"}
DEV_EXTRAS = {"shm", "fd", "stdin", "stdout", "stderr"}
# A connect that fails for want of a network (lo down: ENETUNREACH; lo up but nothing
# listening inside the namespace: ECONNREFUSED; a dropped SYN: a timeout).
NO_NETWORK_ERRNOS = {"ENETUNREACH", "ECONNREFUSED", "EHOSTUNREACH", "ETIMEDOUT", "EADDRNOTAVAIL"}
ZERO_CAPS = "0000000000000000"


# ---------------------------------------------------------------- helpers

def world_readable_tmpdir(prefix):
    """A fresh directory under /tmp that the container's root (host uid 65534) can reach.

    pytest's tmp_path lives under /tmp/pytest-of-root/, which is 0700: uid 65534 could not
    even traverse it, and every volume or app dir below it would fail inside the container
    for reasons that have nothing to do with berth. mkdtemp makes 0700 too, hence the chmod.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


ADDRESS_SPACE = 1 << 30  # address_space = "1g" in the shared config
NOFILE = 2048            # nofile = 2048 there (not the default, 4096)


def write_escape_config(directory, volume, *, chdir=ESCAPE, module="app:app", workers=1, app_lines="",
                        isolation_lines=""):
    """Writes directory/berth.toml: the escape app (or `module` in `chdir`) isolated with the
    64m memory and PIDS_LIMIT pids limits, one writable `volume` and 1g of address space.
    `app_lines` go in its [app.escape] table, `isolation_lines` in its isolation table."""
    config = directory / "berth.toml"
    config.write_text(f"""\
python = "{VENV_PYTHON}"

[[listen]]
bind = "127.0.0.1:0"

[app.escape]
module = "{module}"
chdir = "{chdir}"
workers = {workers}
{app_lines}
[app.escape.isolation]
enabled = true
memory = "64m"
pids = {PIDS_LIMIT}
volumes = ["{volume}"]
address_space = "1g"
{isolation_lines}
""")
    return config


def write_config(directory, volume, extra=""):
    """The escape app isolated, 1 worker, nofile = NOFILE; `extra`: more lines for its
    isolation table."""
    return write_escape_config(directory, volume, isolation_lines=f"nofile = {NOFILE}\n{extra}")


def kill_leftovers(token):
    """SIGKILLs, by pid, processes carrying this test's token (a worker container that
    never came up would otherwise outlive the test)."""
    for pid in processes_with_token(token):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def start(config, token, env=None, app="escape"):
    """berth serve -c config, its workers tagged with BERTH_E2E_TOKEN=token. If it never
    listens, berth and whatever it started are killed before the failure propagates."""
    berth = Berth(["serve", "-c", config], env={**(env or {}), "BERTH_E2E_TOKEN": token}, ready_timeout=None)
    try:
        berth.wait_listening(30)
    except BaseException:
        stuck = {pid: describe(pid) for pid in processes_with_token(token)}
        berth.proc.kill()
        berth.proc.wait()
        tidy(berth, token, app)
        raise AssertionError(f"berth never listened; its processes then: {stuck}\nstderr:\n{berth.stderr}")
    return berth


def describe(pid):
    """What a process is doing, for failure messages: name, state, wchan, current syscall."""
    try:
        return {
            "comm": Path(f"/proc/{pid}/comm").read_text().strip(),
            "state": Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0],
            "wchan": Path(f"/proc/{pid}/wchan").read_text(),
            "syscall": Path(f"/proc/{pid}/syscall").read_text().strip(),
        }
    except OSError as e:
        return str(e)


def call(berth, endpoint, timeout=30, **params):
    """GET an escape endpoint; returns its JSON answer (asserting a 200)."""
    r = requests.get(berth.url + endpoint, params=params, timeout=timeout)
    assert r.status_code == 200, f"{endpoint} {params}: {r.status_code} {r.text[:500]}\nstderr:\n{berth.stderr}"
    answer = r.json()
    assert not answer.get("exception"), f"{endpoint} raised in the app: {answer}"
    return answer


def host_pid_count():
    return sum(1 for p in os.listdir("/proc") if p.isdigit())


def cgroup_directories():
    """This process's cgroup directory for the memory, pids and cpu controllers (v1 mounts, or
    the unified hierarchy), found as berth finds its own: /proc/self/cgroup + mountinfo.
    berth is our child and starts in the same cgroups."""
    memberships = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hid, controllers, path = line.split(":", 2)
        memberships.append((int(hid), controllers.split(",") if controllers else [], path))
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" ")
        dash = fields.index("-")
        fstype, options = fields[dash + 1], fields[dash + 3].split(",")
        if fstype in ("cgroup", "cgroup2"):
            mounts.append((fstype, fields[3], fields[4], options))

    def under(mount_root, mount_point, path):
        if path != mount_root and not path.startswith(mount_root.rstrip("/") + "/"):
            return None
        rest = path[len(mount_root.rstrip("/")):].lstrip("/")
        return os.path.join(mount_point, rest) if rest else mount_point

    found = {}
    for controller in ("memory", "pids", "cpu"):
        for hid, controllers, path in memberships:
            if controller not in controllers:
                continue
            for fstype, root, point, options in mounts:
                if fstype == "cgroup" and controller in options:
                    d = under(root, point, path)
                    if d and os.path.isdir(d):
                        found[controller] = d
        if controller not in found:  # unified hierarchy
            for hid, _, path in memberships:
                if hid != 0:
                    continue
                for fstype, root, point, _ in mounts:
                    if fstype == "cgroup2":
                        d = under(root, point, path)
                        controllers_file = Path(d or "/nonexistent", "cgroup.controllers")
                        if d and controllers_file.exists() and controller in controllers_file.read_text().split():
                            found[controller] = d
    assert {"memory", "pids"} <= set(found), f"cannot find the memory/pids cgroups: {found}"
    return found


def berth_cgroups(berth_pid):
    """The berth-<pid> cgroup directories berth makes under our cgroups, one per controller."""
    return sorted({Path(d) / f"berth-{berth_pid}" for d in cgroup_directories().values()})


def staging_root(berth_pid, app="escape"):
    """Where berth assembles an app's container root (Stack.swift: <TMPDIR>/berth-<pid>-<app>-root)."""
    return Path(tempfile.gettempdir()) / f"berth-{berth_pid}-{app}-root"


def tidy(berth, token, app="escape"):
    """After a berth stopped (or was killed): kills what carries its token, removes what it
    left in the cgroup trees and its empty staging root. The tests that check that berth
    cleans up by itself look before calling this."""
    kill_leftovers(token)
    remove_cgroups(berth_cgroups(berth.proc.pid))
    try:
        staging_root(berth.proc.pid, app).rmdir()
    except OSError:
        pass


def remove_cgroups(directories):
    """Tidies up after a failing berth: removes the existing ones of `directories` and their
    (empty) children, and returns those that existed (rmdir refuses a cgroup in use)."""
    existed = sorted({str(d) for d in directories if Path(d).exists()})
    for root in existed:
        for sub in sorted(Path(root).glob("*/"), reverse=True):
            try:
                sub.rmdir()
            except OSError:
                pass
        try:
            Path(root).rmdir()
        except OSError:
            pass
    return existed


# ---------------------------------------------------------------- the shared berth

@pytest.fixture(scope="module")
def volume():
    # Under /tmp on purpose, as a user's would often be: the container gets a tmpfs of its
    # own at /tmp, and a volume below it must still be the host's directory.
    path = world_readable_tmpdir("berth-iso-vol-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def isolated_berth(write, *args):
    """One berth serving the config `write(confdir, *args)` writes in a fresh world-readable
    directory, its workers tagged with a fresh token (`berth.token`). After: it must stop
    with 0; what carries the token, its cgroups, its staging root and confdir are removed."""
    confdir = world_readable_tmpdir("berth-iso-conf-")
    token = uuid.uuid4().hex
    berth = start(write(confdir, *args), token)
    berth.token = token
    try:
        yield berth
        assert berth.stop() == 0, berth.stderr
    finally:
        tidy(berth, token)
        shutil.rmtree(confdir, ignore_errors=True)


@pytest.fixture(scope="module")
def escape(volume):
    """One berth for the module, serving samples/escape isolated (1 worker)."""
    with isolated_berth(write_config, volume) as berth:
        yield berth


# ---------------------------------------------------------------- identity and privileges

def test_rlimits_are_set(escape):
    """core 0 always; nofile and address_space as configured; nproc at its default."""
    detail = call(escape, "/limits")["detail"]
    assert detail == {"core": [0, 0], "nofile": [NOFILE, NOFILE], "nproc": [4096, 4096],
                      "as": [ADDRESS_SPACE, ADDRESS_SPACE]}, detail


def test_allocating_past_the_address_space_limit_raises_memoryerror(escape):
    """RLIMIT_AS makes the allocation itself fail: Python raises MemoryError, the app answers,
    and the same worker serves the next request (no OOM kill, no replacement)."""
    before = escape.worker_pids()
    fits = call(escape, "/reserve", mb=16)
    assert fits["ok"] and fits["detail"] == {"reserved_mb": 16}, fits
    answer = call(escape, "/reserve", mb=2 * (ADDRESS_SPACE >> 20))
    assert not answer["ok"], f"reserved 2 GiB under a 1 GiB address-space limit: {answer}"
    assert answer["errno"] == "MemoryError", answer
    assert call(escape, "/reserve", mb=16)["ok"]
    assert call(escape, "/whoami")["ok"]
    assert escape.worker_pids() == before
    assert "memory limit" not in escape.stderr


def test_whoami_is_an_unprivileged_root(escape):
    answer = call(escape, "/whoami")
    assert answer["ok"], answer
    me = answer["detail"]
    assert (me["uid"], me["gid"], me["euid"], me["egid"]) == (0, 0, 0, 0), me
    assert me["groups"] in ([], [0]), me
    assert me["hostname"] == HOSTNAME, me
    assert me["pid"] <= 3, f"pid {me['pid']}: not in a pid namespace of its own? {me}"
    status = me["status"]
    assert status["CapEff"] == ZERO_CAPS, status
    assert status["CapBnd"] == ZERO_CAPS, status
    assert status["CapPrm"] == ZERO_CAPS, status
    assert status.get("CapAmb", ZERO_CAPS) == ZERO_CAPS, status
    assert status["NoNewPrivs"] == "1", status
    assert status["Seccomp"] == "2", status  # SECCOMP_MODE_FILTER
    # A cgroup namespace rooted at the worker's own cgroup: the host's tree is not visible.
    assert me["cgroup"] and all(line.endswith(":/") for line in me["cgroup"]), me["cgroup"]


def test_the_worker_runs_as_uid_65534_on_the_host(escape):
    """Seen from the host, the container's root is nobody, not root."""
    pids = set(processes_with_token(escape.token)) - {escape.proc.pid}
    assert pids, f"no worker process found\n{escape.stderr}"
    # The container's init (a clone of berth) and the Python worker: all nobody.
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
        assert set(uids) == {str(CONTAINER_ROOT_HOST_UID)}, f"pid {pid}: {status}"
    assert any(b"berth_worker" in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in pids)


NAMESPACES = ("user", "mnt", "pid", "net", "uts", "ipc", "cgroup")


def worker_and_init(berth):
    """The worker's Python (host pid) and its container's init (its parent, pid 1 inside)."""
    [python] = processes_with_token(berth.token, cmdline_contains=b"berth_worker")
    status = Path(f"/proc/{python}/status").read_text()
    init = int(next(line for line in status.splitlines() if line.startswith("PPid:")).split()[1])
    return python, init


def test_every_namespace_is_the_workers_own(escape):
    python, init = worker_and_init(escape)
    assert init != escape.proc.pid, "the worker is berth's direct child: no container init"
    for ns in NAMESPACES:
        host = os.readlink(f"/proc/{escape.proc.pid}/ns/{ns}")
        assert os.readlink(f"/proc/{python}/ns/{ns}") != host, f"the worker shares berth's {ns} namespace"
    # The init is in the same namespaces (but the cgroup one, made after berth placed it).
    for ns in ("user", "mnt", "net", "uts", "ipc"):
        assert os.readlink(f"/proc/{init}/ns/{ns}") == os.readlink(f"/proc/{python}/ns/{ns}")


def test_only_stdio_and_the_workers_own_sockets_are_open(escape):
    """Every descriptor berth had is closed in the container: the init keeps stdio only,
    the worker stdio and its own socketpair ends (none of them also open in berth)."""
    python, init = worker_and_init(escape)

    def targets(pid, low=0):
        out = {}
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if int(fd) >= low:
                try:
                    out[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
                except FileNotFoundError:
                    pass
        return out

    assert sorted(targets(init)) == [0, 1, 2], f"the container's init holds {targets(init)}"
    berths = set(targets(escape.proc.pid).values())
    assert len(berths) > 10, f"berth holds only {berths}: the comparison proves nothing"
    leaked = {fd: t for fd, t in targets(python, low=3).items() if t in berths}
    assert not leaked, f"descriptors berth holds are open in the worker: {leaked}"
    assert not any(t.startswith("/") and not t.startswith("/dev/") for t in targets(python, low=3).values()), \
        targets(python)


def test_orphans_are_reaped_by_the_containers_init(escape):
    answer = call(escape, "/orphan")
    assert answer["ok"], answer
    grandchild = answer["detail"]["grandchild"]
    assert answer["detail"]["ppid"] == 1, f"the orphan was not reparented to the init: {answer}"
    deadline = time.monotonic() + 10
    while True:
        state = call(escape, "/stat", pid=grandchild)
        if not state["ok"]:
            break
        assert time.monotonic() < deadline, f"the orphan {grandchild} was never reaped: state {state}"
        time.sleep(0.05)
    assert state["errno"] == "ENOENT", state


def test_the_containers_pid_1_is_the_small_berth_init(escape):
    """pid 1 execs berth-init once it has forked the worker (freestanding, no libc: a few
    pages resident), instead of staying a fork of berth with a copy of berth's mappings
    (about 6 MiB). Built with static glibc it held 0.7 MiB."""
    python = worker_python(escape)
    init = int(Path(f"/proc/{python}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert Path(f"/proc/{init}/comm").read_text().strip() == "berth-init", describe(init)
    status = Path(f"/proc/{init}/status").read_text().splitlines()
    rss_kib = int(next(line for line in status if line.startswith("VmRSS:")).split()[1])
    assert rss_kib < 128, f"the container's init holds {rss_kib} KiB"
    assert sorted(os.listdir(f"/proc/{init}/fd")) == ["0", "1", "2"], "berth-init kept a descriptor"


# ---------------------------------------------------------------- the file system view

@pytest.mark.parametrize("path", ["/etc/shadow", "/root", "/home", f"{ROOT}/Package.swift",
                                  f"{ROOT}/Sources/Container/ContainerLauncher.swift",
                                  "/var/log", "/sys/kernel"])
def test_host_files_outside_the_grant_are_invisible(escape, path):
    answer = call(escape, "/read", path=path)
    assert not answer["ok"], f"{path} is readable inside the container: {answer}"
    assert answer["errno"] in ("ENOENT", "EACCES"), answer


def test_root_directory_holds_only_the_grant(escape):
    answer = call(escape, "/listdir", path="/")
    assert answer["ok"], answer
    entries = set(answer["detail"])
    # The repository's top directory (/work here, /tmp for a clone there) holds the app.
    top = ROOT.parts[1]
    allowed = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "tmp", "dev", "proc", top}
    assert {"usr", "etc", "tmp", "dev", "proc", top} <= entries, entries
    assert entries <= allowed, f"unexpected top-level entries: {sorted(entries - allowed)}"
    for absent in ("root", "home", "var", "srv", "opt", "sys", "boot", "mnt", "run", "media"):
        assert absent not in entries


def test_the_repository_shows_only_the_granted_parts(escape):
    parent = call(escape, "/listdir", path=str(ROOT.parent))["detail"]
    assert ROOT.name in parent, parent
    if ROOT.parent != Path("/tmp"):  # /tmp is the container's own tmpfs, with other mounts
        assert parent == [ROOT.name], parent
    entries = set(call(escape, "/listdir", path=str(ROOT))["detail"])
    # The venv, berth's worker code (python/) and the path to the app dir: nothing else.
    assert entries == {".venv", "python", "samples"}, entries
    for absent in ("Package.swift", "Sources", "tests", ".build", ".git", "conf"):
        assert absent not in entries
    assert call(escape, "/listdir", path=str(ROOT / "samples"))["detail"] == ["escape"]
    app_dir = call(escape, "/listdir", path=str(ESCAPE))
    assert "app.py" in app_dir["detail"], app_dir


def test_etc_holds_only_the_files_python_needs(escape):
    entries = set(call(escape, "/listdir", path="/etc")["detail"])
    allowed = {"passwd", "group", "hosts", "nsswitch.conf", "localtime", "ld.so.cache", "mime.types", "ssl"}
    assert entries <= allowed, f"unexpected files in /etc: {sorted(entries - allowed)}"
    assert "shadow" not in entries


def test_proc_lists_only_the_containers_processes(escape):
    answer = call(escape, "/processes")
    assert answer["ok"], answer
    pids = answer["detail"]
    me = call(escape, "/whoami")["detail"]["pid"]
    assert me in pids
    assert 1 in pids, pids  # the container's init
    assert len(pids) <= 3, f"/proc inside lists {pids}"
    host = host_pid_count()
    assert host > 20, f"the host has only {host} processes: the comparison proves nothing"
    assert len(pids) < host


# ---------------------------------------------------------------- syscalls seccomp denies

@pytest.mark.parametrize("endpoint", ["/mount", "/ptrace", "/keyctl", "/bpf", "/clone-ns"])
def test_denied_syscalls_fail_with_eperm(escape, endpoint):
    answer = call(escape, endpoint)
    assert not answer["ok"], f"{endpoint} succeeded inside the container: {answer}"
    assert answer["errno"] == "EPERM", answer


def test_unshare_user_and_mount_namespaces_fail_with_eperm(escape):
    answer = call(escape, "/unshare")
    assert not answer["ok"], answer
    for flag in ("CLONE_NEWUSER", "CLONE_NEWNS"):
        attempt = answer["detail"][flag]
        assert not attempt["ok"] and attempt["errno"] == "EPERM", answer


def test_denied_syscalls_leave_the_worker_serving(escape):
    before = escape.worker_pids()
    for endpoint in ("/mount", "/unshare", "/ptrace", "/keyctl", "/bpf", "/clone-ns"):
        call(escape, endpoint)
    assert call(escape, "/whoami")["ok"]
    assert escape.worker_pids() == before


# ---------------------------------------------------------------- network

def test_no_network_inside_the_container(escape):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        # The same connect from the host works...
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        conn, _ = listener.accept()
        conn.close()
        # ...and from the worker it does not.
        answer = call(escape, "/connect", port=port)
        assert not answer["ok"], f"the worker reached the host's 127.0.0.1:{port}: {answer}"
        assert answer["errno"] in NO_NETWORK_ERRNOS, answer
        interfaces = answer["detail"]["interfaces"]
        assert set(interfaces) <= {"lo"}, f"interfaces inside: {interfaces}"
        listener.settimeout(0.2)
        with pytest.raises(socket.timeout):
            listener.accept()


# ---------------------------------------------------------------- writes

@pytest.mark.parametrize("path", ["/x", f"{ESCAPE}/x", "/usr/x", "/etc/x", f"{ROOT}/.venv/x"])
def test_the_root_is_read_only(escape, path):
    existed = Path(path).exists()
    answer = call(escape, "/write", path=path)
    assert not answer["ok"], f"wrote {path} inside the container: {answer}"
    assert answer["errno"] in ("EROFS", "EACCES"), answer
    assert Path(path).exists() == existed


def test_the_grant_is_read_only_binds(escape):
    mounts = {point: (fstype, options) for point, fstype, options, _ in call(escape, "/mounts")["detail"]}
    assert mounts["/"][0] == "tmpfs" and "ro" in mounts["/"][1].split(","), mounts["/"]
    for point in ("/usr", str(ESCAPE), str(ROOT / ".venv")):
        fstype, options = mounts[point]
        assert fstype != "overlay" and "ro" in options.split(","), (point, mounts[point])
    assert not any(fstype == "overlay" for fstype, _ in mounts.values()), mounts


def test_tmp_is_a_private_writable_tmpfs(escape):
    name = f"/tmp/escape-{uuid.uuid4().hex}"
    answer = call(escape, "/write", path=name)
    assert answer["ok"], answer
    assert call(escape, "/read", path=name)["ok"]
    assert not Path(name).exists(), "the container's /tmp is the host's /tmp"


def test_writes_to_the_volume_land_on_the_host_as_uid_65534(escape, volume):
    target = volume / f"from-container-{uuid.uuid4().hex}.txt"
    answer = call(escape, "/write", path=str(target))
    assert answer["ok"], answer
    assert target.is_file(), (f"the container wrote {target} but the host does not see it: the "
                              f"volume is not mounted over the container's path; answer: {answer}")
    assert target.read_bytes() == b"written from inside the container\n"
    st = target.stat()
    assert (st.st_uid, st.st_gid) == (CONTAINER_ROOT_HOST_UID, CONTAINER_ROOT_HOST_UID), st
    # And a file the host puts there is visible inside.
    host_file = volume / f"from-host-{uuid.uuid4().hex}.txt"
    host_file.write_text("hello from the host\n")
    host_file.chmod(0o644)
    seen = call(escape, "/read", path=str(host_file))
    assert seen["ok"] and seen["detail"] == "hello from the host\n", seen


# ---------------------------------------------------------------- pids limit

def test_fork_bomb_hits_the_pids_limit_and_the_worker_survives(escape):
    before = escape.worker_pids()
    answer = call(escape, "/fork-bomb", timeout=60, n=100)
    detail = answer["detail"]
    assert not answer["ok"], f"100 forks succeeded under pids = {PIDS_LIMIT}: {answer}"
    assert answer["errno"] == "EAGAIN", answer
    assert detail["forked"] < PIDS_LIMIT, answer
    assert detail["reaped"] == detail["forked"], answer
    # The worker survived and still answers; no replacement was needed.
    assert call(escape, "/whoami")["ok"]
    assert escape.worker_pids() == before
    assert "starting a replacement" not in escape.stderr


# ---------------------------------------------------------------- normal Python still works

def test_subprocess_fork_and_exec_work(escape):
    answer = call(escape, "/subprocess", timeout=60)
    assert answer["ok"], answer
    assert answer["detail"]["stdout"] == "1\n"


def test_threads_work(escape):
    answer = call(escape, "/thread")
    assert answer["ok"], answer


def test_dev_holds_exactly_the_minimal_set(escape):
    answer = call(escape, "/devices")
    assert answer["ok"], answer
    entries = set(answer["detail"])
    expected = DEVICES | DEV_EXTRAS
    assert expected <= entries, f"missing from /dev: {sorted(expected - entries)}"
    assert entries <= expected, f"unexpected in /dev: {sorted(entries - expected)}"


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/random"])
def test_devices_can_be_read(escape, device):
    """The device nodes are usable, not just present (a nodev mount would make open EACCES)."""
    answer = call(escape, "/read", path=device)
    assert answer["ok"], answer
    assert len(answer["detail"]) == 64, answer


def test_dev_null_and_dev_full_behave(escape):
    assert call(escape, "/write", path="/dev/null")["ok"]
    full = call(escape, "/write", path="/dev/full")
    assert not full["ok"] and full["errno"] == "ENOSPC", full


# ---------------------------------------------------------------- memory limit

def test_memory_limit_kills_the_worker_and_a_replacement_serves(volume):
    confdir = world_readable_tmpdir("berth-iso-conf-")
    token = uuid.uuid4().hex
    berth = start(write_config(confdir, volume), token)
    try:
        small = call(berth, "/alloc", mb=8)
        assert small["ok"], small
        first = call(berth, "/whoami")["detail"]
        r = requests.get(berth.url + "/alloc", params={"mb": 200}, timeout=60)
        assert r.status_code == 502, f"{r.status_code} {r.text[:300]}\n{berth.stderr}"
        berth.wait_for(lambda: "memory limit" in berth.stderr, 15,
                       "berth's log to say the worker hit its memory limit")
        deadline = time.monotonic() + 30
        while True:
            try:
                r = requests.get(berth.url + "/whoami", timeout=10)
                if r.status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"no replacement worker answered\n{berth.stderr}"
            time.sleep(0.2)
        again = r.json()["detail"]
        assert again["hostname"] == HOSTNAME and again["status"]["Seccomp"] == "2", again
        assert first["uid"] == again["uid"] == 0
    finally:
        try:
            assert berth.stop() == 0, berth.stderr
        finally:
            tidy(berth, token)
            shutil.rmtree(confdir, ignore_errors=True)


# ---------------------------------------------------------------- errors, dev mode

def test_a_failing_setup_step_is_named_with_its_errno(volume):
    """A read_only grant that the container's root (host uid 65534) cannot reach: the child's
    bind mount fails, and serve exits 1 naming the worker, the step, the path and errno."""
    confdir = world_readable_tmpdir("berth-iso-conf-")
    secret = Path(tempfile.mkdtemp(prefix="berth-iso-secret-", dir="/tmp"))  # 0700, root's
    inner = secret / "inner"
    inner.mkdir(mode=0o755)
    token = uuid.uuid4().hex
    config = write_config(confdir, volume, f'read_only = ["{inner}"]')
    berth = Berth(["serve", "-c", config], env={"BERTH_E2E_TOKEN": token}, ready_timeout=None)
    try:
        rc = berth.proc.wait(60)
    finally:
        if berth.proc.poll() is None:
            berth.stop()
        for t in berth._threads:
            t.join(5)
        tidy(berth, token)
        shutil.rmtree(confdir, ignore_errors=True)
        shutil.rmtree(secret, ignore_errors=True)
    assert rc == 1, (rc, berth.stderr[-3000:])
    assert re.search(rf"worker 1: bind mount {re.escape(str(inner))}: EACCES \(Permission denied\)", berth.stderr), \
        berth.stderr[-3000:]
    assert "listening on" not in berth.stdout


@pytest.mark.parametrize("isolate", [False, True], ids=["dev", "dev --isolate"])
def test_dev_mode_isolates_only_with_the_flag(isolate):
    token = uuid.uuid4().hex
    args = ["dev", ESCAPE, "--app", "app:app", "-b", "127.0.0.1:0", "--python", VENV_PYTHON]
    berth = Berth(args + (["--isolate"] if isolate else []), env={"BERTH_E2E_TOKEN": token}, ready_timeout=None)
    try:
        berth.wait_listening(60)
        me = call(berth, "/whoami")["detail"]
    finally:
        try:
            berth.stop()
        finally:
            tidy(berth, token, app=ESCAPE.name)
    if isolate:
        assert me["status"]["Seccomp"] == "2" and me["status"]["CapEff"] == ZERO_CAPS, me
        assert me["pid"] <= 3 and me["uid"] == 0, me
    else:
        ours = next(line.split()[1] for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("Seccomp:"))
        assert me["status"]["Seccomp"] == ours, me  # no filter of berth's
        assert me["pid"] > 3 and me["hostname"] == socket.gethostname(), me


# ---------------------------------------------------------------- overlay root

OVERLAY_SIZE = 16 << 20  # rootfs_size = "16m"
OVERLAY_EXTRA = f"""rootfs = "overlay"
rootfs_size = "16m"
seccomp_allow = ["kcmp"]
network = "host"
seccomp_deny = ["getpriority"]"""


def layers_directory(berth_pid, app="escape"):
    """Where an overlay root mounts each worker's layers tmpfs, inside the worker's own mount
    namespace (ContainerLauncher: the staging root + "-layers"); empty on the host."""
    return Path(f"{staging_root(berth_pid, app)}-layers")


@pytest.fixture(scope="module")
def overlay(volume):
    """A second berth: the escape app with `rootfs = "overlay"` (16m of writes), per-app
    seccomp changes (kcmp allowed, getpriority denied) and `network = "host"`."""
    confdir = world_readable_tmpdir("berth-iso-conf-")
    token = uuid.uuid4().hex
    berth = start(write_config(confdir, volume, OVERLAY_EXTRA), token)
    berth.token = token
    yield berth
    try:
        assert berth.stop() == 0, berth.stderr
    finally:
        tidy(berth, token)
        try:
            layers_directory(berth.proc.pid).rmdir()
        except OSError:
            pass
        shutil.rmtree(confdir, ignore_errors=True)


def test_network_host_shares_the_hosts_network(overlay):
    """`network = "host"`: the worker connects to a listener on the host's loopback and sees
    the host's interfaces (the default berth above sees only its own lo and cannot)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(5)
        answer = call(overlay, "/connect", port=listener.getsockname()[1])
        assert answer["ok"], f"the worker with network = \"host\" could not connect: {answer}"
        conn, _ = listener.accept()
        conn.close()
    host_interfaces = {name for _, name in socket.if_nameindex()}
    assert set(answer["detail"]["interfaces"]) == host_interfaces, answer


def worker_python(berth):
    pids = processes_with_token(berth.token, cmdline_contains=b"berth_worker")
    assert len(pids) == 1, f"worker pythons: {pids}\n{berth.stderr}"
    return pids[0]


@pytest.mark.parametrize("path", ["/x", "/etc/x", "/usr/x", f"{ESCAPE}/x", f"{ROOT}/.venv/x"])
def test_overlay_root_takes_writes_that_never_reach_the_host(overlay, path):
    existed = Path(path).exists()
    answer = call(overlay, "/write", path=path)
    assert answer["ok"], f"could not write {path} on the overlay root: {answer}"
    seen = call(overlay, "/read", path=path)
    assert seen["ok"] and seen["detail"] == "written from inside the container\n", seen
    assert Path(path).exists() == existed, f"the worker's write to {path} reached the host"


def test_overlay_root_is_made_of_overlays_on_a_writable_tmpfs(overlay):
    mounts = {point: (fstype, options, sb) for point, fstype, options, sb in call(overlay, "/mounts")["detail"]}
    assert mounts["/"][0] == "tmpfs" and "rw" in mounts["/"][1].split(","), mounts["/"]
    assert f"size={OVERLAY_SIZE >> 10}k" in mounts["/"][2], mounts["/"]
    for point in ("/usr", str(ESCAPE), str(ROOT / ".venv"), str(ROOT / "python")):
        fstype, options, sb = mounts[point]
        assert fstype == "overlay", (point, mounts[point])
        assert {"rw", "nosuid", "nodev"} <= set(options.split(",")), (point, options)
        assert f"lowerdir={point}," in sb and "userxattr" in sb, (point, sb)
    # Files and volumes stay binds: /etc/passwd read-only.
    assert mounts["/etc/passwd"][0] != "overlay" and "ro" in mounts["/etc/passwd"][1].split(",")


def test_overlay_keeps_the_host_owners_below_each_top(overlay):
    """Each granted directory's top is the worker's (its upper directory); below it the
    host's owners hold: host root's /usr/lib is nobody's inside, so writing fails EACCES."""
    answer = call(overlay, "/write", path="/usr/lib/x")
    assert not answer["ok"], answer
    assert answer["errno"] == "EACCES", answer
    assert not Path("/usr/lib/x").exists()


@pytest.mark.parametrize("path", ["/usr/big", "/big"])
def test_overlay_writes_are_bounded_by_rootfs_size(overlay, path):
    answer = call(overlay, "/fill", timeout=60, path=path, mb=4 * (OVERLAY_SIZE >> 20))
    assert not answer["ok"], f"wrote {4 * (OVERLAY_SIZE >> 20)} MB under rootfs_size = 16m: {answer}"
    assert answer["errno"] == "ENOSPC", answer
    assert 0 < answer["detail"]["written_mb"] <= OVERLAY_SIZE >> 20, answer
    # /fill removed its file: the space is back.
    assert call(overlay, "/write", path=path)["ok"]


def test_overlay_root_holds_only_the_grant_and_the_host_sees_no_layer(overlay):
    entries = set(call(overlay, "/listdir", path="/")["detail"])
    top = ROOT.parts[1]
    allowed = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "tmp", "dev", "proc", top,
               "x", "big"}  # the files the tests above wrote
    assert {"usr", "etc", "tmp", "dev", "proc", top} <= entries, entries
    assert entries <= allowed, f"unexpected top-level entries: {sorted(entries - allowed)}"
    # The layers tmpfs and the staging root are mounted in the worker's namespace only.
    layers = layers_directory(overlay.proc.pid)
    assert layers.is_dir(), f"no layers directory {layers}"
    assert list(layers.iterdir()) == [], f"the host sees the worker's layers: {list(layers.iterdir())}"
    assert list(staging_root(overlay.proc.pid).iterdir()) == []


def test_overlay_root_keeps_volumes_and_devices(overlay, volume):
    target = volume / f"overlay-{uuid.uuid4().hex}.txt"
    assert call(overlay, "/write", path=str(target))["ok"]
    assert target.read_bytes() == b"written from inside the container\n"
    assert target.stat().st_uid == CONTAINER_ROOT_HOST_UID
    assert len(call(overlay, "/read", path="/dev/urandom")["detail"]) == 64
    full = call(overlay, "/write", path="/dev/full")
    assert not full["ok"] and full["errno"] == "ENOSPC", full


def test_a_replacement_worker_starts_with_a_clean_root(overlay):
    marker = f"/usr/marker-{uuid.uuid4().hex}"
    assert call(overlay, "/write", path=marker)["ok"]
    assert call(overlay, "/read", path=marker)["ok"]
    old = worker_python(overlay)
    replacements = overlay.stderr.count("starting a replacement")
    os.kill(old, signal.SIGKILL)
    overlay.wait_for(lambda: overlay.stderr.count("starting a replacement") > replacements, 30,
                     "berth to start a replacement worker")
    deadline = time.monotonic() + 30
    while True:
        try:
            r = requests.get(overlay.url + "/read", params={"path": marker}, timeout=10)
            if r.status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"no replacement worker answered\n{overlay.stderr}"
        time.sleep(0.2)
    new = worker_python(overlay)
    assert new != old
    # The crash is logged before the replacement starts, so before it is ready.
    lines = overlay.stderr.splitlines()
    crash = [i for i, line in enumerate(lines) if "starting a replacement" in line]
    ready = [i for i, line in enumerate(lines) if " ready in " in line]
    assert len(crash) == replacements + 1 and ready[-1] > crash[-1], overlay.stderr
    answer = r.json()
    assert not answer["ok"] and answer["errno"] == "ENOENT", f"the replacement sees its predecessor's write: {answer}"


def test_overlay_layers_directory_is_removed_after_stop(volume):
    confdir = world_readable_tmpdir("berth-iso-conf-")
    token = uuid.uuid4().hex
    berth = start(write_config(confdir, volume, OVERLAY_EXTRA), token)
    layers = layers_directory(berth.proc.pid)
    try:
        assert call(berth, "/write", path="/usr/x")["ok"]
        assert layers.is_dir()
    finally:
        try:
            assert berth.stop() == 0, berth.stderr
        finally:
            shutil.rmtree(confdir, ignore_errors=True)
    left = layers.exists()
    tidy(berth, token)
    try:
        layers.rmdir()
    except OSError:
        pass
    assert not left, f"berth left {layers} behind"


# ---------------------------------------------------------------- per-app seccomp changes

def test_seccomp_allow_takes_a_call_off_the_deny_list(escape, overlay):
    denied = call(escape, "/kcmp")
    assert not denied["ok"] and denied["errno"] == "EPERM", denied
    allowed = call(overlay, "/kcmp")
    assert allowed["ok"], f"kcmp is still denied with seccomp_allow = [\"kcmp\"]: {allowed}"


def test_seccomp_deny_adds_a_call_to_the_deny_list(escape, overlay):
    assert call(escape, "/getpriority")["ok"]
    denied = call(overlay, "/getpriority")
    assert not denied["ok"] and denied["errno"] == "EPERM", denied


# ---------------------------------------------------------------- cleanup

def test_cgroups_and_processes_are_gone_after_stop(volume):
    cgroups = cgroup_directories()
    confdir = world_readable_tmpdir("berth-iso-conf-")
    token = uuid.uuid4().hex
    berth = start(write_config(confdir, volume), token)
    try:
        assert call(berth, "/whoami")["ok"]
        roots = {c: Path(d) / f"berth-{berth.proc.pid}" for c, d in cgroups.items()}
        for controller, root in roots.items():
            assert root.is_dir(), f"no {controller} cgroup {root} while berth runs"
        workers = {c: [p for p in root.iterdir() if p.is_dir()] for c, root in roots.items()}
        assert len(workers["memory"]) == 1 and len(workers["pids"]) == 1, workers
        memory_dir, pids_dir = workers["memory"][0], workers["pids"][0]
        if (memory_dir / "memory.limit_in_bytes").exists():
            assert int((memory_dir / "memory.limit_in_bytes").read_text()) == MEMORY_LIMIT
        else:
            assert int((memory_dir / "memory.max").read_text()) == MEMORY_LIMIT
        assert (pids_dir / "pids.max").read_text().strip() == str(PIDS_LIMIT)
        if "cpu" in workers:  # the default: 1 CPU
            [cpu_dir] = workers["cpu"]
            if (cpu_dir / "cpu.cfs_quota_us").exists():
                quota = int((cpu_dir / "cpu.cfs_quota_us").read_text())
                assert quota == int((cpu_dir / "cpu.cfs_period_us").read_text()), quota
            else:
                quota, period = (cpu_dir / "cpu.max").read_text().split()
                assert quota == period, (quota, period)
        # The worker's processes (its container's init and Python; not berth) are in it.
        inside = {int(p) for p in (pids_dir / "cgroup.procs").read_text().split()}
        contained = set(processes_with_token(token)) - {berth.proc.pid}
        assert contained and contained <= inside, (contained, inside)
    except BaseException:
        berth.stop()
        tidy(berth, token)
        raise
    finally:
        try:
            assert berth.stop() == 0, berth.stderr
        finally:
            shutil.rmtree(confdir, ignore_errors=True)
    deadline = time.monotonic() + 5
    while processes_with_token(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = {pid: describe(pid) for pid in processes_with_token(token)}
    left = remove_cgroups(roots.values())
    tidy(berth, token)
    assert not survivors, f"processes left after berth stopped: {survivors}"
    assert not left, f"cgroups left after berth stopped: {left}\nstderr:\n{berth.stderr}"


def test_staging_root_is_removed_after_stop(volume):
    """berth assembles each app's root in <TMPDIR>/berth-<pid>-<app>-root (Stack.swift); an
    empty directory on the host, which should go away with berth."""
    confdir = world_readable_tmpdir("berth-iso-conf-")
    token = uuid.uuid4().hex
    berth = start(write_config(confdir, volume), token)
    staging = staging_root(berth.proc.pid)
    try:
        assert call(berth, "/whoami")["ok"]
        assert staging.is_dir(), f"no staging root at {staging}"
    except BaseException:
        berth.stop()
        tidy(berth, token)
        raise
    finally:
        try:
            assert berth.stop() == 0, berth.stderr
        finally:
            shutil.rmtree(confdir, ignore_errors=True)
    left = staging.exists()
    tidy(berth, token)
    assert not left, f"berth left its staging root {staging} behind"
