"""Installing what the bench compares against, and recording versions and the machine.

Debian packages: nginx, wrk, nghttp2-client (h2load), crun, bubblewrap, plus python3-dev
and gcc (uWSGI compiles from source) and python3-venv. Python anchors (gunicorn, uWSGI,
Granian) and the sample's Django go into bench/.venv, made with Debian's /usr/bin/python3
so every server runs the same interpreter as berth's workers.
"""

import hashlib
import os
import platform
import re
import subprocess
import sys

from .util import BENCH_DIR, REPO, log, run_text

VENV = os.path.join(BENCH_DIR, ".venv")
VENV_PY = os.path.join(VENV, "bin", "python")
BERTH_PY = os.path.join(REPO, ".venv", "bin", "python")
BERTH_BIN = os.path.join(REPO, ".build", "release", "berth")

DEBIAN_PACKAGES = {
    # package: a file it installs (to say which is missing without asking dpkg each time)
    "nginx": "/usr/sbin/nginx",
    "wrk": "/usr/bin/wrk",
    "nghttp2-client": "/usr/bin/h2load",
    "crun": "/usr/bin/crun",
    "bubblewrap": "/usr/bin/bwrap",
    "python3-dev": "/usr/include/python3.11/Python.h",
    "python3-venv": None,
    "gcc": "/usr/bin/gcc",
    "util-linux": "/usr/bin/taskset",
}


def _dpkg_installed(package):
    return subprocess.run(["dpkg", "-s", package], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def install_debian_packages():
    missing = [p for p, f in DEBIAN_PACKAGES.items()
               if (f and not os.path.exists(f)) or (not f and not _dpkg_installed(p))]
    if not missing:
        return
    log(f"anchors: installing Debian packages: {' '.join(missing)}")
    if os.geteuid() != 0:
        sys.exit(f"bench: run as root, or install {' '.join(missing)} yourself")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    # Debian starts nginx on port 80 after installing it unless policy-rc.d forbids it;
    # the bench never uses that instance (it runs its own nginx with its own config).
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                   check=True, env=env, stdout=subprocess.DEVNULL)


def _requirements_stamp():
    h = hashlib.sha256()
    for path in (os.path.join(BENCH_DIR, "requirements.txt"),
                 os.path.join(REPO, "samples", "mysite", "requirements.txt")):
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def install_python_anchors():
    if not os.path.exists(VENV_PY):
        log("anchors: creating bench/.venv with /usr/bin/python3")
        subprocess.run(["/usr/bin/python3", "-m", "venv", VENV], check=True)
    stamp_path = os.path.join(VENV, ".bench-requirements")
    wanted = _requirements_stamp()
    try:
        with open(stamp_path) as f:
            if f.read().strip() == wanted:
                return
    except FileNotFoundError:
        pass
    log("anchors: installing gunicorn, uWSGI (compiles, ~1 min), Granian and Django "
        "into bench/.venv")
    subprocess.run([VENV_PY, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "-r", os.path.join(BENCH_DIR, "requirements.txt"),
                    "-r", os.path.join(REPO, "samples", "mysite", "requirements.txt")],
                   check=True)
    with open(stamp_path, "w") as f:
        f.write(wanted + "\n")


def ensure_berth_venv():
    """berth's workers use the repo's .venv (made by `make setup`)."""
    if not os.path.exists(BERTH_PY):
        log("anchors: the repo's .venv is missing; running scripts/setup.sh (make setup)")
        subprocess.run([os.path.join(REPO, "scripts", "setup.sh")], check=True)


def build_berth():
    log("berth: make release (swift build -c release and berth-init; shares .build; SwiftPM locks it)")
    r = subprocess.run(["make", "-s", "release"], cwd=REPO,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-4000:])
        sys.exit("bench: make release failed (fix the build, or pass --skip-build "
                 "to measure the existing .build/release/berth)")
    if not os.path.exists(BERTH_BIN):
        sys.exit(f"bench: {BERTH_BIN} missing after the build")


def ensure_all(skip_build=False):
    install_debian_packages()
    ensure_berth_venv()
    install_python_anchors()
    if not skip_build:
        build_berth()


# ---------------------------------------------------------------------------- versions

def _first_line(text):
    text = (text or "").strip()
    return text.splitlines()[0].strip() if text else ""


def _version(argv, pattern=None):
    out = run_text(argv)
    if out is None:
        return None
    if pattern:
        m = re.search(pattern, out)
        return m.group(1) if m else _first_line(out)
    return _first_line(out)


def versions():
    git_rev = run_text(["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"])
    dirty = run_text(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no",
                      "--", "Sources", "Package.swift", "python"])
    rev = (git_rev or "?").strip() + ("+dirty" if dirty and dirty.strip() else "")
    py_mod = lambda mod: _version([VENV_PY, "-c", f"import {mod}; print({mod}.__version__)"])
    return {
        "berth": f"{rev} ({_version([BERTH_BIN, '--version']) or '?'}, release build)",
        "berth_python": _version([BERTH_PY, "--version"]),
        "django_berth_venv": _version([BERTH_PY, "-c", "import django; print(django.__version__)"]),
        "django_bench_venv": _version([VENV_PY, "-c", "import django; print(django.__version__)"]),
        "nginx": _version(["nginx", "-v"], r"nginx/(\S+)"),
        "wrk": _version(["wrk", "-v"], r"wrk (\S+)"),
        "h2load": _version(["h2load", "--version"], r"nghttp2/(\S+)"),
        "gunicorn": py_mod("gunicorn"),
        "uwsgi": _version([os.path.join(VENV, "bin", "uwsgi"), "--version"]),
        "granian": _version([os.path.join(VENV, "bin", "granian"), "--version"], r"(\d[\w.]*)"),
        "crun": _version(["crun", "--version"], r"crun version (\S+)"),
        "bwrap": _version(["bwrap", "--version"], r"bubblewrap (\S+)"),
        "swift": _version(["swift", "--version"], r"Swift version (\S+)"),
    }


def machine():
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    debian = "?"
    try:
        with open("/etc/debian_version") as f:
            debian = f.read().strip()
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "cpu": cpu,
        "debian": debian,
        "cgroups": "v2 (unified)" if os.path.exists("/sys/fs/cgroup/cgroup.controllers")
                   else "v1/hybrid",
    }


def uptime():
    return (run_text(["uptime"]) or "").strip()


def load_average():
    return os.getloadavg()
