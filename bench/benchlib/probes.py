"""Timings that are not throughput: worker spawn, dev reload, cold start."""

import json
import os
import shutil
import subprocess
import time

from . import anchors, servers
from .util import free_port, http_get, median, quantile, wait_http

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


def _time_spawn(argv):
    """Wall time of posix_spawn → exit → reaped, in ms; and the exit status."""
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ,
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
                                       (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)])
    _, status = os.waitpid(pid, 0)
    return (time.perf_counter() - t0) * 1000, os.waitstatus_to_exitcode(status)


def spawn_times(workdir, reps):
    """Bare python vs the same under bwrap and crun, interleaved; berth's isolated worker
    when it exists."""
    bwrap = shutil.which("bwrap")
    crun = shutil.which("crun")
    variants = {"bare": lambda i: [PYTHON, "-c", "pass"]}
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
    results["berth"] = {"status": "n/a",
                        "reason": "berth has no isolated worker yet (Sources/Container "
                                  "starts plain processes)"}
    # Check each variant once; one that fails is reported with its error, not timed.
    for name in list(variants):
        argv = variants[name]("check")
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=30)
        if r.returncode != 0:
            results[name] = {"status": "failed", "command": " ".join(argv),
                             "reason": f"exit {r.returncode}: " + (r.stdout.strip() or "?")[-300:]}
            del variants[name]
    samples = {name: [] for name in variants}
    for i in range(reps):
        for name, make in variants.items():
            ms, code = _time_spawn(make(i))
            if code == 0:
                samples[name].append(ms)
    for name, values in samples.items():
        results[name] = dict(status="ok", command=" ".join(variants[name]("N")), **_summary(values))
    bare = results.get("bare", {}).get("median_ms")
    for name, r in results.items():
        if r.get("status") == "ok" and bare:
            r["ratio_to_bare"] = round(r["median_ms"] / bare, 2)
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
