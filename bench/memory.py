#!/usr/bin/env python3
"""RSS after load, per process, for berth and gunicorn side by side (issue #6's target).

    python3 bench/memory.py [--app django|hello] [--repeat 3] [--gunicorn PATH]

Starts each server as bench/benchlib/servers.py does (2 workers, pinned to core 0), loads
it (`wrk -c50` 3 s, `h2load -c50 -m10` 2 s, `wrk -c50` 3 s; load on core 1; gunicorn has
no HTTP/2, so it gets a third wrk run instead), then prints VmRSS, RssAnon, RssFile and
smaps_rollup's Pss of every process in its tree and the sums, MiB. berth and gunicorn run
one after the other in each repetition, so both are measured in the same minute; the last
lines give the median sums. Uses the release build (.build/release/berth) and the bench's
gunicorn (bench/.venv) unless told otherwise.

The front's file-backed RSS depends on how berth's binary sits in the page cache: a binary
just written by the linker (or cp) is cached whole, and each page fault maps its cached
neighbours too (fault-around, large folios); one the page cache has dropped is read back as
start-up touches it, and fewer neighbours are there to map. `--cold` drops berth's binary
and berth-init from the page cache (posix_fadvise DONTNEED on those two files only) before
each start, the state after a reboot; without it the state is whatever it was, as in
bench/run.py. The interpreter's files (shared with every Python on the machine) are left as
they are for both servers.
"""

import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import anchors, load, servers  # noqa: E402
from benchlib.util import process_tree  # noqa: E402

FIELDS = ("VmRSS", "RssAnon", "RssFile")


def _status(pid):
    out = dict.fromkeys(FIELDS, 0)
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in out:
                out[key] = int(line.split()[1])
    with open(f"/proc/{pid}/smaps_rollup") as f:
        out["Pss"] = next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
    with open(f"/proc/{pid}/comm") as f:
        out["comm"] = f.read().strip()
    return out


def drop_from_page_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def measure(server, path, workdir, cold=False):
    if cold and server.key == "berth":
        for binary in (anchors.BERTH_BIN, os.path.join(os.path.dirname(anchors.BERTH_BIN), "berth-init")):
            if os.path.exists(binary):
                drop_from_page_cache(binary)
    server.start(workdir, "0")
    try:
        server.wait_ready(path)
        load.wrk(server.port, path, 50, 3)
        if server.h2_port:
            load.h2load(server.h2_port, path, 50, 10, 2)
        else:
            load.wrk(server.port, path, 50, 2)
        load.wrk(server.port, path, 50, 3)
        rows = []
        for pid in process_tree(server.root_pids()):
            try:
                rows.append(_status(pid))
            except (OSError, StopIteration):
                pass   # exited meanwhile
        return [r for r in rows if r["comm"] != "taskset"]
    finally:
        server.stop()


def mib(kib):
    return f"{kib / 1024:6.1f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--app", choices=("django", "hello"), default="django")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--gunicorn", help="the gunicorn executable (default: bench/.venv's)")
    p.add_argument("--berth", help="the berth binary (default: .build/release/berth)")
    p.add_argument("--cold", action="store_true",
                   help="drop berth's binary from the page cache before each start")
    args = p.parse_args()
    if args.gunicorn:
        anchors.VENV = os.path.dirname(os.path.dirname(os.path.abspath(args.gunicorn)))
    if args.berth:
        anchors.BERTH_BIN = os.path.abspath(args.berth)
    sums = {"berth": [], "gunicorn": []}
    with tempfile.TemporaryDirectory(prefix="berth-memory-") as workdir:
        for rnd in range(args.repeat):
            for key in ("berth", "gunicorn"):
                app = servers.django_app(workdir) if args.app == "django" else servers.hello_app()
                server = servers.berth(app) if key == "berth" else servers.gunicorn(app)
                path = "/hello/" if args.app == "django" else "/"
                rows = measure(server, path, workdir, cold=args.cold)
                print(f"{key} #{rnd + 1}: {'process':16} {'RSS':>6} {'anon':>6} {'file':>6} {'PSS':>6}")
                for r in rows:
                    print(f"   {r['comm']:>28} {mib(r['VmRSS'])} {mib(r['RssAnon'])} "
                          f"{mib(r['RssFile'])} {mib(r['Pss'])}")
                total = {k: sum(r[k] for r in rows) for k in FIELDS + ("Pss",)}
                print(f"   {'sum':>28} {mib(total['VmRSS'])} {mib(total['RssAnon'])} "
                      f"{mib(total['RssFile'])} {mib(total['Pss'])}", flush=True)
                sums[key].append(total)
    for key, totals in sums.items():
        med = {k: statistics.median(t[k] for t in totals) for k in FIELDS + ("Pss",)}
        runs = " ".join(mib(t["VmRSS"]).strip() for t in totals)
        print(f"median {key:9} RSS {mib(med['VmRSS'])} (runs {runs})  anon {mib(med['RssAnon'])}"
              f"  file {mib(med['RssFile'])}  PSS {mib(med['Pss'])}")


if __name__ == "__main__":
    main()
