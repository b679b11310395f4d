"""A WSGI app that tries to break out of its worker's container (standard library only).

berth's isolation tests (tests/e2e/test_isolation.py) serve it with
``[app.escape.isolation] enabled = true`` and check that every attempt fails the way the
container should make it fail. Each endpoint TRIES something and answers JSON describing
exactly what happened, without crashing the worker (except /alloc, meant to be OOM-killed):

  {"ok": bool, "errno": "EPERM" or null, "detail": ...}

``ok`` is true when the attempt succeeded; ``errno`` names the error it failed with.

Do not run it as root outside a container: there /mount and /unshare simply work.

Endpoints:
  /whoami               uid, gid, euid, hostname, pid, the Cap*, NoNewPrivs and Seccomp
                        lines of /proc/self/status, and /proc/self/cgroup
  /limits               the worker's rlimits (core, nofile, nproc, as)
  /read?path=P          open P and read up to 64 bytes
  /listdir?path=P       os.listdir(P), sorted
  /processes            the pids listed in /proc
  /write?path=P         create P and write a line to it; detail: its stat (uid, gid, mode)
  /mount                mkdir /tmp/x, then libc mount("tmpfs", "/tmp/x", "tmpfs", 0, NULL)
  /unshare              libc unshare(CLONE_NEWUSER), then unshare(CLONE_NEWNS)
  /ptrace               ptrace(PTRACE_ATTACH, 1) (pid 1: the container's init)
  /keyctl               keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, create)
  /bpf                  bpf(BPF_PROG_LOAD, NULL, 0)
  /clone-ns             raw clone(CLONE_NEWNET | SIGCHLD); a child, if made, exits at once
  /connect?port=N       TCP connect to 127.0.0.1:N (1 s timeout); detail: the interfaces
  /fork-bomb?n=100      fork up to n (max 1000) children that wait for the parent, counting
                        successes until fork fails; all children are reaped before answering
  /alloc?mb=N           allocate and touch N MB (max 4096); over the memory limit the worker
                        is killed and the client gets berth's 502
  /reserve?mb=N         bytearray(N MB) (max 65536); MemoryError is answered as errno
                        "MemoryError" (an address-space limit makes the mmap fail at once)
  /fill?path=P&mb=N     write N MB (max 1024) to P, 1 MB at a time, then remove P;
                        detail: the MB written before any error
  /kcmp                 kcmp(self, self, KCMP_VM): 0 when allowed
  /getpriority          os.getpriority(PRIO_PROCESS, 0)
  /orphan               fork a child that forks a grandchild (sleeps 0.3 s) and exits at
                        once; detail: the grandchild's pid and its parent once orphaned
  /mounts               the worker's mounts: [mount point, file system type, mount options,
                        super options] from /proc/self/mountinfo
  /stat?pid=N           the state letter of /proc/N/stat (ENOENT once reaped)
  /subprocess           subprocess.run([/usr/bin/python3, -c, print(1)])
  /thread               start and join a thread
  /devices              os.listdir("/dev"), sorted
Anything else: 404.
"""

import ctypes
import errno
import json
import os
import platform
import select
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import parse_qs

# Syscall numbers the app calls directly (glibc has no wrapper, or a variadic one).
_SYSCALLS = {
    "x86_64": {"ptrace": 101, "keyctl": 250, "bpf": 321, "clone": 56, "kcmp": 312},
    "aarch64": {"ptrace": 117, "keyctl": 219, "bpf": 280, "clone": 220, "kcmp": 272},
}
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
SIGCHLD = 17
PTRACE_ATTACH = 16
KEYCTL_GET_KEYRING_ID = 0
KEY_SPEC_SESSION_KEYRING = -3
BPF_PROG_LOAD = 5
KCMP_VM = 1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
_libc.mount.restype = ctypes.c_int
_libc.unshare.argtypes = [ctypes.c_int]
_libc.unshare.restype = ctypes.c_int


def _errno_name(code):
    if code is None:
        return None
    return errno.errorcode.get(code, str(code))


def result(ok, err=None, detail=None):
    """The answer every endpoint gives."""
    return {"ok": bool(ok), "errno": err, "detail": detail}


def from_oserror(e, detail=None):
    if isinstance(e, socket.timeout) and e.errno is None:
        return result(False, "ETIMEDOUT", detail if detail is not None else str(e))
    return result(False, _errno_name(e.errno), detail if detail is not None else str(e))


def _libc_result(rc, what):
    """A libc/syscall return value: -1 sets errno."""
    if rc == -1:
        code = ctypes.get_errno()
        return result(False, _errno_name(code), f"{what}: {os.strerror(code)}")
    return result(True, None, f"{what} returned {rc}")


def _syscall(name, *args):
    numbers = _SYSCALLS.get(platform.machine())
    if numbers is None:
        raise RuntimeError(f"no syscall numbers for {platform.machine()}")
    ctypes.set_errno(0)
    c_args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    return _libc.syscall(ctypes.c_long(numbers[name]), *c_args)


# ------------------------------------------------------------------ endpoints

def whoami(q):
    status = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("CapEff", "CapBnd", "CapPrm", "CapInh", "CapAmb", "NoNewPrivs", "Seccomp"):
                status[key] = value.strip()
    return result(True, None, {
        "uid": os.getuid(), "gid": os.getgid(), "euid": os.geteuid(), "egid": os.getegid(),
        "groups": os.getgroups(), "hostname": socket.gethostname(), "pid": os.getpid(),
        "ppid": os.getppid(), "status": status, "cgroup": _read_lines("/proc/self/cgroup"),
    })


def _read_lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError as e:
        return str(e)


def limits(q):
    import resource
    names = {"core": resource.RLIMIT_CORE, "nofile": resource.RLIMIT_NOFILE, "nproc": resource.RLIMIT_NPROC,
             "as": resource.RLIMIT_AS}
    return result(True, None, {name: list(resource.getrlimit(number)) for name, number in names.items()})


def read(q):
    path = q.get("path", "")
    try:
        with open(path, "rb") as f:
            data = f.read(64)
        return result(True, None, data.decode("latin-1"))
    except OSError as e:
        return from_oserror(e)


def listdir(q):
    path = q.get("path", "")
    try:
        return result(True, None, sorted(os.listdir(path)))
    except OSError as e:
        return from_oserror(e)


def processes(q):
    try:
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        return result(True, None, pids)
    except OSError as e:
        return from_oserror(e)


def write(q):
    path = q.get("path", "")
    try:
        with open(path, "wb") as f:
            f.write(b"written from inside the container\n")
        st = os.stat(path)
        return result(True, None, {"uid": st.st_uid, "gid": st.st_gid, "mode": oct(st.st_mode)})
    except OSError as e:
        return from_oserror(e)


def mount(q):
    try:
        os.makedirs("/tmp/x", exist_ok=True)
    except OSError as e:
        return from_oserror(e, f"mkdir /tmp/x: {e}")
    ctypes.set_errno(0)
    rc = _libc.mount(b"tmpfs", b"/tmp/x", b"tmpfs", 0, None)
    out = _libc_result(rc, 'mount("tmpfs", "/tmp/x", "tmpfs", 0, NULL)')
    if out["ok"]:  # it should never have worked: at least leave nothing mounted
        _libc.umount2(b"/tmp/x", 2)  # MNT_DETACH
    return out


def unshare(q):
    attempts = {}
    for name, flag in (("CLONE_NEWUSER", CLONE_NEWUSER), ("CLONE_NEWNS", CLONE_NEWNS)):
        ctypes.set_errno(0)
        attempts[name] = _libc_result(_libc.unshare(flag), f"unshare({name})")
    ok = any(a["ok"] for a in attempts.values())
    errnos = sorted({a["errno"] for a in attempts.values() if a["errno"]})
    return result(ok, errnos[0] if len(errnos) == 1 else (",".join(errnos) or None), attempts)


def ptrace(q):
    rc = _syscall("ptrace", PTRACE_ATTACH, 1, 0, 0)
    out = _libc_result(rc, "ptrace(PTRACE_ATTACH, 1)")
    if out["ok"]:  # never leave pid 1 stopped
        _syscall("ptrace", 17, 1, 0, 0)  # PTRACE_DETACH
    return out


def keyctl(q):
    rc = _syscall("keyctl", KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1)
    return _libc_result(rc, "keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1)")


def bpf(q):
    rc = _syscall("bpf", BPF_PROG_LOAD, ctypes.c_void_p(0), 0)
    return _libc_result(rc, "bpf(BPF_PROG_LOAD, NULL, 0)")


def clone_ns(q):
    rc = _syscall("clone", CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0)
    if rc == 0:
        os._exit(0)  # the child, if the filter let it be born: gone at once
    if rc == -1:
        code = ctypes.get_errno()
        return result(False, _errno_name(code), f"clone(CLONE_NEWNET|SIGCHLD): {os.strerror(code)}")
    try:
        os.waitpid(rc, 0)
    except ChildProcessError:
        pass
    return result(True, None, f"clone(CLONE_NEWNET|SIGCHLD) made child {rc}")


def connect(q):
    port = int(q.get("port", "0"))
    try:
        interfaces = [name for _, name in socket.if_nameindex()]
    except OSError as e:
        interfaces = f"if_nameindex failed: {e}"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            return result(True, None, {"peer": s.getpeername(), "interfaces": interfaces})
    except OSError as e:
        return from_oserror(e, {"error": str(e), "interfaces": interfaces})


def fork_bomb(q):
    n = min(int(q.get("n", "100")), 1000)
    r, w = os.pipe()
    children, failure = [], None
    for _ in range(n):
        try:
            pid = os.fork()
        except OSError as e:
            failure = e
            break
        if pid == 0:
            # Wait until the parent closes its end (or dies), at most ~10 s, then go.
            try:
                os.close(w)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    ready, _, _ = select.select([r], [], [], 0.2)
                    if ready:
                        break
            finally:
                os._exit(0)
        children.append(pid)
    os.close(w)
    reaped = 0
    for pid in children:
        try:
            os.waitpid(pid, 0)
            reaped += 1
        except ChildProcessError:
            pass
    os.close(r)
    detail = {"forked": len(children), "reaped": reaped, "asked": n,
              "error": str(failure) if failure else None}
    if failure is not None:
        return result(False, _errno_name(failure.errno), detail)
    return result(True, None, detail)


def alloc(q):
    mb = min(int(q.get("mb", "1")), 4096)
    block = b"\x01" * (mb << 20)  # written byte by byte: every page is touched
    size = len(block)
    del block
    return result(True, None, {"allocated_mb": size >> 20})


def reserve(q):
    mb = min(int(q.get("mb", "1")), 65536)
    try:
        block = bytearray(mb << 20)
    except MemoryError as e:
        return result(False, "MemoryError", f"bytearray({mb} MB): MemoryError {e}")
    size = len(block)
    del block
    return result(True, None, {"reserved_mb": size >> 20})


def fill(q):
    path = q.get("path", "")
    mb = min(int(q.get("mb", "1")), 1024)
    chunk = b"\x02" * (1 << 20)
    written = 0
    try:
        with open(path, "wb") as f:
            for _ in range(mb):
                f.write(chunk)
                f.flush()
                written += 1
        return result(True, None, {"written_mb": written})
    except OSError as e:
        return from_oserror(e, {"written_mb": written, "error": str(e)})
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


def orphan(q):
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            grandchild = os.fork()
            if grandchild == 0:
                os.close(r)
                time.sleep(0.3)
                os._exit(0)
            os.write(w, str(grandchild).encode())
        finally:
            os._exit(0)
    os.close(w)
    grandchild = int(os.read(r, 32).decode())
    os.close(r)
    os.waitpid(child, 0)
    # The grandchild's parent is gone: it is reparented to the container's init (pid 1).
    with open(f"/proc/{grandchild}/stat") as f:
        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
    return result(True, None, {"grandchild": grandchild, "ppid": ppid})


def mounts(q):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            dash = fields.index("-")
            out.append([fields[4], fields[dash + 1], fields[5], fields[dash + 3]])
    return result(True, None, out)


def stat(q):
    try:
        with open(f"/proc/{int(q.get('pid', '0'))}/stat") as f:
            return result(True, None, f.read().rsplit(")", 1)[1].split()[0])
    except OSError as e:
        return from_oserror(e)


def kcmp(q):
    me = os.getpid()
    rc = _syscall("kcmp", me, me, KCMP_VM, 0, 0)
    return _libc_result(rc, "kcmp(self, self, KCMP_VM)")


def getpriority(q):
    try:
        return result(True, None, os.getpriority(os.PRIO_PROCESS, 0))
    except OSError as e:
        return from_oserror(e)


def run_subprocess(q):
    try:
        done = subprocess.run(["/usr/bin/python3", "-c", "print(1)"], capture_output=True, timeout=30)
    except OSError as e:
        return from_oserror(e)
    except subprocess.TimeoutExpired as e:
        return result(False, "ETIMEDOUT", str(e))
    return result(done.returncode == 0 and done.stdout == b"1\n", None,
                  {"returncode": done.returncode, "stdout": done.stdout.decode("latin-1"),
                   "stderr": done.stderr.decode("latin-1")[-2000:]})


def run_thread(q):
    box = {}

    def body():
        box["ident"] = threading.get_ident()
        box["native_id"] = threading.get_native_id()

    try:
        t = threading.Thread(target=body)
        t.start()
        t.join(10)
    except RuntimeError as e:  # "can't start new thread"
        return result(False, None, str(e))
    return result("ident" in box and box["ident"] != threading.get_ident(), None,
                  {"thread_native_id": box.get("native_id"), "main_native_id": threading.get_native_id()})


def devices(q):
    try:
        return result(True, None, sorted(os.listdir("/dev")))
    except OSError as e:
        return from_oserror(e)


ROUTES = {
    "/whoami": whoami, "/limits": limits, "/read": read, "/listdir": listdir, "/processes": processes,
    "/write": write, "/mount": mount, "/unshare": unshare, "/ptrace": ptrace,
    "/keyctl": keyctl, "/bpf": bpf, "/clone-ns": clone_ns, "/connect": connect,
    "/fork-bomb": fork_bomb, "/alloc": alloc, "/reserve": reserve, "/fill": fill,
    "/kcmp": kcmp, "/getpriority": getpriority, "/orphan": orphan, "/stat": stat,
    "/mounts": mounts, "/subprocess": run_subprocess,
    "/thread": run_thread, "/devices": devices,
}


def app(environ, start_response):
    handler = ROUTES.get(environ.get("PATH_INFO", ""))
    if handler is None:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    try:
        answer = handler(query)
    except Exception as e:  # report, never crash the worker
        answer = result(False, None, f"{type(e).__name__}: {e}")
        answer["exception"] = True
    body = json.dumps(answer).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
