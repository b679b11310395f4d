"""Timings that are not throughput: worker spawn, dev reload, cold start."""

import collections
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time

from . import anchors, servers
from .util import (free_port, http_get, log, median, process_tree, quantile, stop_process_tree,
                   wait_http)

PYTHON = "/usr/bin/python3"   # Debian's interpreter, as the spec says: bare `python3 -c pass`


def _summary(samples_ms):
    return {
        "n": len(samples_ms),
        "median_ms": round(median(samples_ms), 2) if samples_ms else None,
        "p10_ms": round(quantile(samples_ms, 0.10), 2) if samples_ms else None,
        "p90_ms": round(quantile(samples_ms, 0.90), 2) if samples_ms else None,
        "min_ms": round(min(samples_ms), 2) if samples_ms else None,
        "max_ms": round(max(samples_ms), 2) if samples_ms else None,
        "samples_ms": [round(x, 2) for x in samples_ms],
    }


# --------------------------------------------------------------------- worker spawn

# The namespaces of `crun spec`'s default config (pid, network, ipc, uts, mount), a
# read-only /usr, fresh /proc, /dev and /tmp: the isolation a worker container would get.
BWRAP_ARGS = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
         "--unshare-cgroup-try", "--die-with-parent", "--new-session",
         "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
         "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
         "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--clearenv"]


def _crun_bundle(workdir):
    bundle = os.path.join(workdir, "crun-bundle")
    rootfs = os.path.join(bundle, "rootfs")
    for d in ("usr", "proc", "dev", "tmp"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    for link, target in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("bin", "usr/bin")):
        if not os.path.lexists(os.path.join(rootfs, link)):
            os.symlink(target, os.path.join(rootfs, link))
    config = os.path.join(bundle, "config.json")
    if os.path.exists(config):
        os.unlink(config)
    subprocess.run(["crun", "spec"], cwd=bundle, check=True)
    with open(config) as f:
        spec = json.load(f)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = [PYTHON, "-c", "pass"]
    spec["root"] = {"path": "rootfs", "readonly": True}
    spec["mounts"].append({"destination": "/usr", "type": "bind", "source": "/usr",
                           "options": ["rbind", "ro"]})
    with open(config, "w") as f:
        json.dump(spec, f)
    state = os.path.join(workdir, "crun-state")
    os.makedirs(state, exist_ok=True)
    return bundle, state


def _time_spawn(argv, env=None, cwd=None, until_byte=False):
    """Wall time of posix_spawn → exit → reaped, in ms; and the exit status. With
    until_byte: posix_spawn → the first byte the child writes to its stdout (the child is
    then reaped untimed)."""
    old = os.getcwd() if cwd else None
    if cwd:
        os.chdir(cwd)   # posix_spawn has no cwd argument (before 3.13); the child inherits it
    r = w = None
    out = (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)
    if until_byte:
        r, w = os.pipe()
        out = (os.POSIX_SPAWN_DUP2, w, 1)
    t0 = time.perf_counter()
    try:
        pid = os.posix_spawn(argv[0], argv, env or os.environ,
                             file_actions=[out, (os.POSIX_SPAWN_OPEN, 2, "/dev/null",
                                                 os.O_WRONLY, 0)])
        if until_byte:
            os.close(w)
            w = None
            got = os.read(r, 1)
            t1 = time.perf_counter()
        _, status = os.waitpid(pid, 0)
        if not until_byte:
            t1 = time.perf_counter()
    finally:
        if old:
            os.chdir(old)
        for fd in (r, w):
            if fd is not None:
                os.close(fd)
    code = os.waitstatus_to_exitcode(status)
    if until_byte and not got:
        code = code or -1
    return (t1 - t0) * 1000, code


# Bare interpreters (berth's --python) that load the app the way berth's worker does
# (berth_worker/loader.py) and then write a byte, timed up to that byte — as berth's
# worker is timed up to its READY frame, not to its exit.
LOADED = "; import os; os.write(1, b'.'); os._exit(0)"
HELLO_LOAD = "import app" + LOADED
DJANGO_LOAD = ("import django; django.setup(set_prefix=False); "
               "from django.core.servers.basehttp import get_internal_wsgi_application as g; g()"
               + LOADED)

READY_RE = re.compile(r"worker \d+ \(pid (\d+)\) ready in (\d+) ms")
REPLACING_RE = re.compile(r"worker \d+ \(pid (\d+)\) .*starting a replacement")


def _children(pid):
    """The pids of the process's children now (every thread's list)."""
    out = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out.update(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


class Respawner:
    """One `berth serve -w 1` whose worker the probe kills (SIGKILL, from outside) and that
    starts a replacement. Per sample: from the moment berth logs "…; starting a
    replacement" (logged right before it spawns) to its "… ready in X ms" line, both
    timestamped as they arrive on berth's stderr; plus X itself, berth's own figure.

    X starts after the launcher returned, i.e. for an isolated worker after the container
    was made (cgroup, clone3, id maps, mounts, pivot_root, seccomp, exec): it covers exec →
    READY only. The line-to-line time covers the whole spawn, comparable with the
    posix_spawn timings. After each sample a SIGHUP (a reload: fresh workers, and berth
    forgets its recent crashes) keeps the crash back-off from delaying the next sample;
    the reload's worker is waited for and not counted, nor are the next samples taken
    before the retired worker is gone.

    With `preload` (a config file in `workdir`: `preload = true`) the replacement is forked
    by the zygote; isolated, inside the zygote's container, so the worker is no child of
    berth and the retired one is awaited by its pid.
    """

    def __init__(self, key, app, isolate, preload=False, workdir=None):
        self.key = key
        self.port = free_port()
        self.preload = preload
        source = app.berth_args
        if preload:
            config = os.path.join(workdir, f"berth-{key}.toml")
            with open(config, "w") as f:
                f.write(f'[app.{app.key}]\nmodule = "{app.wsgi}"\nchdir = "{app.chdir}"\n'
                        f'preload = true\n\n[[route]]\npath = "/"\napp = "{app.key}"\n')
            source = ["-c", config]
        self.argv = [anchors.BERTH_BIN, "serve", *source, "-w", "1",
                     "-b", f"127.0.0.1:{self.port}", "--python", anchors.BERTH_PY,
                     "--access-log", "off", "--isolate" if isolate else "--no-isolate"]
        self.retired = None
        self.env = dict(os.environ, **app.env)
        self.popen = None
        self.lines = queue.Queue()
        self.tail = collections.deque(maxlen=30)
        self.worker = None

    def command(self):
        return " ".join(self.argv)

    def _read(self):
        for raw in self.popen.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.tail.append(line)
            self.lines.put((time.perf_counter(), line))
        self.lines.put((time.perf_counter(), None))

    def _until(self, pattern, timeout=60.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                t, line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"no line matching {pattern.pattern!r} within {timeout:.0f} s")
            if line is None:
                raise RuntimeError(f"berth exited (status {self.popen.wait()})")
            m = pattern.search(line)
            if m:
                return t, m

    def start(self):
        self.popen = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        _, m = self._until(READY_RE)
        self.worker = int(m.group(1))

    def _quiet(self, timeout=10.0):
        """Until berth's only child is the current worker (a retired one has exited)."""
        deadline = time.monotonic() + timeout
        if self.preload:
            # The zygote (and, isolated, its container) is berth's child too; the retired
            # worker is reaped by the zygote's container init or by berth.
            while self.retired and os.path.exists(f"/proc/{self.retired}") and not _zombie(self.retired):
                if time.monotonic() > deadline:
                    raise RuntimeError("a retired worker did not exit within 10 s")
                time.sleep(0.002)
            return
        while _children(self.popen.pid) - {self.worker}:
            if time.monotonic() > deadline:
                raise RuntimeError("a retired worker did not exit within 10 s")
            time.sleep(0.002)

    def sample(self):
        """(whole spawn ms, berth's logged ms) for one replacement worker."""
        self._quiet()
        if not self.preload and self.worker not in _children(self.popen.pid):
            raise RuntimeError(f"worker pid {self.worker} is not a child of berth")
        os.kill(self.worker, signal.SIGKILL)   # the worker, or its container's init
        t0, m = self._until(REPLACING_RE)
        if int(m.group(1)) != self.worker:
            raise RuntimeError(f"berth replaced pid {m.group(1)}, not {self.worker}")
        t1, m = self._until(READY_RE)
        self.worker = int(m.group(1))
        sample = ((t1 - t0) * 1000, float(m.group(2)))
        os.kill(self.popen.pid, signal.SIGHUP)
        self.retired = self.worker
        _, m = self._until(READY_RE)
        self.worker = int(m.group(1))
        return sample

    def stop(self):
        if self.popen:
            stop_process_tree(self.popen, f"spawn probe: {self.key}", 15)


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return True


# key, app, isolated, preload (workers forked by a zygote; isolated: inside its container)
BERTH_SPAWN = (("berth_plain_hello", "hello", False, False), ("berth_isolated_hello", "hello", True, False),
               ("berth_isolated_preload_hello", "hello", True, True),
               ("berth_plain_django", "django", False, False),
               ("berth_isolated_django", "django", True, False),
               ("berth_isolated_preload_django", "django", True, True))


def spawn_times(workdir, reps, berth_reps):
    """Bare python vs the same under bwrap and crun, and a bare interpreter loading the
    Django sample, all timed posix_spawn → exit; berth's plain and isolated worker for the
    hello app and for Django, timed from berth's logs (see Respawner). Interleaved: every
    repetition runs each variant once (berth's only in the first `berth_reps`)."""
    bwrap = shutil.which("bwrap")
    crun = shutil.which("crun")
    django = servers.django_app(workdir)
    hello = servers.hello_app()
    variants = {"bare": lambda i: [PYTHON, "-c", "pass"],
                "bare_hello": lambda i: [anchors.BERTH_PY, "-c", HELLO_LOAD],
                "bare_django": lambda i: [anchors.BERTH_PY, "-c", DJANGO_LOAD]}
    # name: (environment, working directory) for the variants that load an app
    spawn_env = {"bare_hello": (None, hello.chdir),
                 "bare_django": (dict(os.environ, **django.env), django.chdir)}
    results = {}
    if bwrap:
        variants["bwrap"] = lambda i: [bwrap, *BWRAP_ARGS, PYTHON, "-c", "pass"]
    else:
        results["bwrap"] = {"status": "n/a", "reason": "bwrap not installed"}
    if crun:
        bundle, state = _crun_bundle(workdir)
        variants["crun"] = lambda i: [crun, "--root", state, "run", "--bundle", bundle,
                                      f"bench-{os.getpid()}-{i}"]
    else:
        results["crun"] = {"status": "n/a", "reason": "crun not installed"}
    # Check each variant once; one that fails is reported with its error, not timed.
    for name in list(variants):
        argv = variants[name]("check")
        env, cwd = spawn_env.get(name, (None, None))
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=30, env=env, cwd=cwd)
        if r.returncode != 0:
            results[name] = {"status": "failed", "command": " ".join(argv),
                             "reason": f"exit {r.returncode}: " + (r.stdout.strip() or "?")[-300:]}
            del variants[name]
    apps = {"hello": hello, "django": django}
    berths = {}
    try:
        for key, app, isolate, preload in BERTH_SPAWN:
            b = Respawner(key, apps[app], isolate, preload, workdir)
            try:
                b.start()
                berths[key] = b
            except (RuntimeError, OSError) as e:
                results[key] = {"status": "failed", "command": b.command(),
                                "reason": f"{e}: " + " / ".join(list(b.tail)[-5:])}
                b.stop()
        samples = {name: [] for name in [*variants, *berths]}
        logged = {name: [] for name in berths}
        for i in range(reps):
            for name, make in variants.items():
                env, cwd = spawn_env.get(name, (None, None))
                ms, code = _time_spawn(make(i), env, cwd, until_byte=name in spawn_env)
                if code == 0:
                    samples[name].append(ms)
            if i >= berth_reps:
                continue
            for key, b in list(berths.items()):
                try:
                    whole, own = b.sample()
                except (RuntimeError, OSError) as e:
                    results[key] = {"status": "failed", "command": b.command(),
                                    "reason": f"sample {i + 1}: {e}: "
                                              + " / ".join(list(b.tail)[-5:])}
                    b.stop()
                    del berths[key]
                    continue
                samples[key].append(whole)
                logged[key].append(own)
    finally:
        for b in berths.values():
            b.stop()
    for name, values in samples.items():
        if name in results:
            continue
        command = (" ".join(variants[name]("N")) if name in variants else berths[name].command())
        results[name] = dict(status="ok", command=command, **_summary(values))
        if name in logged:
            own = _summary(logged[name])
            results[name]["logged"] = {k: own[k] for k in ("median_ms", "p10_ms", "p90_ms")}
            # Per sample, whole − logged: the launch before berth's clock starts (for an
            # isolated worker: making the container up to exec). berth logs whole ms,
            # rounded down, so this reads ~0.5 ms high.
            launch = _summary([w - o for w, o in zip(values, logged[name])])
            results[name]["launch"] = {k: launch[k] for k in ("median_ms", "p10_ms", "p90_ms")}
    bare = results.get("bare", {}).get("median_ms")
    for name, r in results.items():
        if r.get("status") == "ok" and bare:
            r["ratio_to_bare"] = round(r["median_ms"] / bare, 2)
    # Like-for-like: an isolated worker against the plain one, the plain Django worker
    # against the bare interpreter loading the same app; what the isolation adds.
    for iso, base in (("berth_isolated_hello", "berth_plain_hello"),
                      ("berth_isolated_django", "berth_plain_django"),
                      ("berth_isolated_preload_hello", "berth_isolated_hello"),
                      ("berth_isolated_preload_django", "berth_isolated_django"),
                      ("berth_plain_hello", "bare_hello"),
                      ("berth_plain_django", "bare_django"),
                      ("bwrap", "bare"), ("crun", "bare")):
        a, b = results.get(iso, {}), results.get(base, {})
        if a.get("status") == "ok" and b.get("status") == "ok":
            a["baseline"] = base
            a["ratio_to_baseline"] = round(a["median_ms"] / b["median_ms"], 2)
            a["added_ms"] = round(a["median_ms"] - b["median_ms"], 2)
    return results


# ----------------------------------------------------------------------- dev reload

def _ignore(_dir, names):
    return [n for n in names if n in ("db.sqlite3", "staticfiles", "media", "__pycache__")]


def dev_reload(workdir, reps, cpus):
    """`berth dev` on a copy of samples/mysite: change gallery/views.py so /hello/ says
    something new; time from the start of the save until the new text is served."""
    project = os.path.join(workdir, "mysite-dev")
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(servers.MYSITE_DIR, project, ignore=_ignore)
    views = os.path.join(project, "gallery", "views.py")
    with open(views) as f:
        original = f.read()
    needle = 'HttpResponse("Hello, world!")'
    if needle not in original:
        return {"status": "failed", "reason": f"{needle} not found in gallery/views.py"}
    port = free_port()
    argv = [anchors.BERTH_BIN, "dev", project, "-b", f"127.0.0.1:{port}", "--python",
            anchors.BERTH_PY]
    env = {"MYSITE_DB": os.path.join(workdir, "dev.sqlite3"),
           "MYSITE_STATIC_ROOT": os.path.join(workdir, "dev-static"),
           "MYSITE_MEDIA_ROOT": os.path.join(workdir, "dev-media"),
           "MYSITE_ALLOWED_HOSTS": "127.0.0.1,localhost"}
    server = servers.Server("berth-dev", "berth dev", port,
                            [servers.Proc("berth-dev", argv, env)])
    samples, failures, polls = [], [], []
    server.start(workdir, cpus)
    try:
        server.wait_ready("/hello/", timeout=60)
        for i in range(reps):
            text = f"Hello, reload {i}!"
            time.sleep(0.5)   # let the previous reload settle and inotify go quiet
            t0 = time.perf_counter()
            with open(views, "w") as f:
                f.write(original.replace(needle, f'HttpResponse("{text}")'))
            deadline = time.monotonic() + 30
            n = bad = 0
            while True:
                n += 1
                try:
                    status, _, body = http_get(port, "/hello/", timeout=30)
                    if status == 200 and body.decode(errors="replace") == text:
                        break
                    if status != 200:
                        bad += 1
                except OSError:
                    bad += 1
                if time.monotonic() > deadline:
                    raise RuntimeError(f"reload {i}: new text not served within 30 s")
            samples.append((time.perf_counter() - t0) * 1000)
            failures.append(bad)
            polls.append(n)
    except RuntimeError as e:
        return {"status": "failed", "reason": str(e), "log": server.log_tail()}
    finally:
        server.stop()
    return dict(status="ok", command=" ".join(argv), failed_requests_during_reload=sum(failures),
                requests_per_reload=polls, **_summary(samples))


# ----------------------------------------------------------------------- cold start

def cold_start(workdir, reps, cpus):
    """Process start → first 200, for berth serve and gunicorn, hello and mysite."""
    hello, django = servers.hello_app(), servers.django_app(workdir)
    cases = [("hello", "/", "berth", lambda: servers.berth(hello)),
             ("hello", "/", "gunicorn", lambda: servers.gunicorn(hello)),
             ("mysite", "/hello/", "berth", lambda: servers.berth(django)),
             ("mysite", "/hello/", "gunicorn", lambda: servers.gunicorn(django))]
    samples = {(app, who): [] for app, _, who, _ in cases}
    commands, errors = {}, {}
    for _ in range(reps):
        for app, path, who, make in cases:
            if (app, who) in errors:
                continue
            server = make()
            commands[(app, who)] = server.commands()[0]
            t0 = time.monotonic()
            server.start(workdir, cpus)
            try:
                t1 = wait_http(server.port, path, t0 + 60, server.alive, interval=0.002)
                samples[(app, who)].append((t1 - t0) * 1000)
            except RuntimeError as e:
                errors[(app, who)] = str(e) + "\n" + server.log_tail()
            finally:
                server.stop()
    out = {}
    for (app, who), values in samples.items():
        key = f"{app}/{who}"
        if (app, who) in errors:
            out[key] = {"status": "failed", "reason": errors[(app, who)][-500:]}
        else:
            out[key] = dict(status="ok", command=commands.get((app, who)), **_summary(values))
    return out
