#!/usr/bin/env python3
"""berth's benchmark: berth against nginx, gunicorn, uWSGI and Granian on this machine.

    make bench          # full: 5 rounds × 6 s per server and workload, ~13½ min
    make bench-quick    # quick: 3 rounds × 2 s, no 100 KiB workload, ~3 min

    python3 bench/run.py [--quick] [--only hello,static-1k] [--rounds N] [--duration S]

Installs what is missing (Debian packages; gunicorn, uWSGI, Granian, Django in
bench/.venv), builds berth in release mode, runs every suite of workloads in interleaved
rounds with the load generator pinned to core 1 and the servers to core 0, then the
probes (worker spawn, dev reload, cold start). Writes bench/results/latest.json and
latest.svg and the table in docs/performance.md. Method: docs/performance.md.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import anchors, load, probes, report, servers  # noqa: E402
from benchlib.util import REPO, head_length, http_get, log  # noqa: E402
from benchlib.workloads import SUITES, static_files  # noqa: E402

PROFILES = {
    # rounds, seconds per run, warm-up seconds; repetitions of the spawn probe (of which
    # berth_spawn also respawn berth's workers), of dev reload and of cold start
    "full":  dict(rounds=5, duration=6, warmup=2, spawn=100, berth_spawn=40, reload=8, cold=5),
    "quick": dict(rounds=3, duration=2, warmup=1, spawn=20, berth_spawn=8, reload=3, cold=2),
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="the short profile (~3 minutes)")
    p.add_argument("--only", help="comma-separated workload keys (e.g. hello,static-1k), "
                   "'probes' for the probes; the other figures are kept from the previous "
                   "latest.json")
    p.add_argument("--rounds", type=int)
    p.add_argument("--duration", type=int, help="seconds per measured run")
    p.add_argument("--warmup", type=int, help="seconds of warm-up per server and workload")
    p.add_argument("--server-cpus", default="0",
                   help="taskset CPU list for servers ('' = unpinned); default 0")
    p.add_argument("--load-cpu", default="1", help="taskset CPU list for wrk/h2load; default 1")
    p.add_argument("--no-probes", action="store_true", help="skip spawn/reload/cold start")
    p.add_argument("--skip-install", action="store_true")
    p.add_argument("--skip-build", action="store_true", help="use the existing release build")
    p.add_argument("--no-docs", action="store_true", help="do not rewrite docs/performance.md")
    p.add_argument("--output", default=os.path.join(REPO, "bench", "results"),
                   help="directory for latest.json and latest.svg")
    args = p.parse_args()
    profile = dict(PROFILES["quick" if args.quick else "full"])
    for key in ("rounds", "duration", "warmup"):
        if getattr(args, key):
            profile[key] = getattr(args, key)
    return args, profile


def etag_header(server, path):
    status, headers, _ = http_get(server.port, path)
    etag = headers.get("etag")
    if status != 200 or not etag:
        raise RuntimeError(f"GET {path} gave {status} without an ETag")
    status, _, _ = http_get(server.port, path, {"If-None-Match": etag})
    if status != 304:
        raise RuntimeError(f"If-None-Match: {etag} gave {status}, not 304")
    return [f"If-None-Match: {etag}"]


def measure(w, server, headers, seconds):
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    if w.tool == "h2load":
        r = load.h2load(server.h2_port, w.path, w.conns, w.streams, seconds, headers)
    else:
        r = load.wrk(server.port, w.path, w.conns, seconds, headers)
    cpu, wall = server.cpu_seconds() - cpu0, time.monotonic() - t0
    # The server tree's CPU use during the run (100 % = the one core it is pinned to);
    # shows efficiency even when the client is the bottleneck (10 MiB bodies).
    r["server_cpu_pct"] = round(100 * cpu / wall, 1) if wall else None
    if r.get("requests"):
        r["server_cpu_us_per_req"] = round(1e6 * cpu / r["requests"], 1)
    return load.judge(r, w.body_bytes, w.expect_status)


def prepare_row(w, server, profile):
    """Readiness for one workload on one server: h2 support, ETag, warm-up with statuses."""
    row = {"server": server.key, "label": server.label, "commands": server.commands(),
           "state": "ok", "reason": "", "runs": [], "headers": []}
    try:
        if w.tool == "h2load":
            if server.h2_port is None:
                return dict(row, state="n/a", reason="no HTTP/2 listener configured")
            ok, why = load.h2load_probe(server.h2_port, w.path)
            if not ok:
                state = "not yet" if server.key == "berth" else "failed"
                return dict(row, state=state, reason=f"no HTTP/2 (h2load: {why})")
        if w.revalidate:
            row["headers"] = etag_header(server, w.path)
        if w.tool == "h2load":
            r = load.h2load(server.h2_port, w.path, w.conns, w.streams, profile["warmup"],
                            row["headers"])
            counts = r.get("status_counts") or {}
            ok = bool(counts) and set(counts) == {w.expect_status}
            why = r.get("error") or ("" if ok else f"warm-up statuses {counts}")
        else:
            ok, counts, why = load.status_check(server.port, w.path, w.conns, profile["warmup"],
                                                row["headers"], w.expect_status)
        row["warmup_status_counts"] = {str(k): v for k, v in (counts or {}).items()}
        if not ok:
            row.update(state="invalid", reason=why)
    except (RuntimeError, OSError) as e:
        row.update(state="failed", reason=str(e))
    return row


def even_pads(suite, workloads, workdir, static_dir, cpus):
    """Pad bytes per server that give every server one response-head length on the
    even_heads workloads (None when there are none): the servers start once with the
    shortest pad, their heads are measured, and each gets what it lacks."""
    even = [w for w in workloads if w.even_heads]
    if not even:
        return None
    paths = {w.path for w in even}
    if len(paths) > 1:
        raise RuntimeError(f"even_heads workloads of one suite share one path, not {sorted(paths)}")
    path = paths.pop()
    keys = sorted({k for w in even for k in w.servers})
    first = suite.make_servers(workdir, static_dir, None)
    heads = {}
    try:
        for key in keys:
            first[key].start(workdir, cpus)
        for key in keys:
            first[key].wait_ready(path)
            heads[key] = head_length(first[key].port, path)
    finally:
        for key in keys:
            first[key].stop()
    longest = max(heads.values())
    pads = {key: servers.MIN_PAD + longest - n for key, n in heads.items()}
    log(f"  response heads on {path}: {heads} bytes; X-Pad fields {pads} bytes")
    return pads


def check_even_heads(w, all_servers, rows):
    """Marks the rows invalid unless every server's head on `w.path` is one length."""
    lengths = {}
    for key in w.servers:
        if rows[w.key][key]["state"] in ("ok", "invalid"):
            lengths[key] = head_length(all_servers[key].port, w.path)
            rows[w.key][key]["head_bytes"] = lengths[key]
    if len(set(lengths.values())) > 1:
        for key in lengths:
            rows[w.key][key].update(state="invalid", reason=f"response heads differ: {lengths} bytes")


def run_suite(suite, workloads, workdir, static_dir, profile, cpus):
    log(f"suite {suite.key}: {suite.title}")
    all_servers = suite.make_servers(workdir, static_dir,
                                     even_pads(suite, workloads, workdir, static_dir, cpus))
    wanted = [k for k in all_servers if any(k in w.servers for w in workloads)]
    started, broken = {}, {}
    rows = {w.key: {} for w in workloads}
    try:
        for key in wanted:
            all_servers[key].start(workdir, cpus)
            started[key] = all_servers[key]
        for key, server in started.items():
            path = next(w.path for w in workloads if key in w.servers)
            try:
                server.wait_ready(path)
                log(f"  {server.label} ready on :{server.port}")
            except RuntimeError as e:
                broken[key] = str(e)
                log(f"  {server.label} did not start: {e}")
        for w in workloads:
            for key in w.servers:
                server = all_servers[key]
                if key in broken:
                    rows[w.key][key] = {"server": key, "label": server.label, "state": "failed",
                                        "reason": broken[key][:300], "runs": [],
                                        "commands": server.commands()}
                else:
                    rows[w.key][key] = prepare_row(w, server, profile)
            if w.even_heads:
                check_even_heads(w, all_servers, rows)
            for key in w.servers:
                server = all_servers[key]
                row = rows[w.key][key]
                if row["state"] != "ok":
                    log(f"  {w.key} on {server.label}: {row['state']} — {row['reason']}")
        for rnd in range(profile["rounds"]):
            log(f"  round {rnd + 1}/{profile['rounds']}")
            for w in workloads:
                for key in w.servers:
                    row = rows[w.key][key]
                    if row["state"] not in ("ok", "invalid"):
                        continue
                    server = all_servers[key]
                    r = measure(w, server, row["headers"], profile["duration"])
                    r["memory"] = server.memory()
                    r["round"] = rnd + 1
                    row["runs"].append(r)
                    mark = "" if r["valid"] else "  INVALID: " + "; ".join(r["reasons"])
                    log(f"    {w.key:12} {server.label:16} {r.get('rps', 0):10.0f} req/s "
                        f"p99 {r.get('p99_ms', 0):7.2f} ms{mark}")
    finally:
        for server in started.values():
            server.stop()
    return rows


def merge_previous(results, output_dir):
    """A partial run (--only) keeps the other workloads' and probes' figures from the
    previous latest.json, each marked with the run it came from (report.py says so)."""
    try:
        with open(os.path.join(output_dir, "latest.json")) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return
    meta = old.get("meta", {})
    prov = {"started": meta.get("started"), "command": meta.get("command"),
            "berth": meta.get("versions", {}).get("berth")}
    for key, w in old.get("workloads", {}).items():
        if key not in results["workloads"]:
            w.setdefault("from_run", prov)
            results["workloads"][key] = w
    for key, p in old.get("probes", {}).items():
        if key not in results["probes"] and isinstance(p, dict):
            p.setdefault("from_run", prov)
            results["probes"][key] = p
    # Back in the order of a full run.
    order = [w.key for suite in SUITES for w in suite.workloads]
    results["workloads"] = dict(sorted(
        results["workloads"].items(),
        key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
    probe_order = ["spawn", "dev_reload", "cold_start"]
    results["probes"] = dict(sorted(
        results["probes"].items(),
        key=lambda kv: probe_order.index(kv[0]) if kv[0] in probe_order else 99))
    suites = {s["key"]: s for s in old.get("suites", []) + results["suites"]}
    results["suites"] = [suites[s.key] for s in SUITES if s.key in suites]


def main():
    args, profile = parse_args()
    load.LOAD_CPU = args.load_cpu
    started = time.time()
    meta = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "uptime_start": anchors.uptime(),
            "profile": "quick" if args.quick else "full", "settings": profile,
            "server_cpus": args.server_cpus or "unpinned", "load_cpu": args.load_cpu,
            "command": os.environ.get("BENCH_MAKE_COMMAND") or
                       "python3 bench/run.py " + " ".join(sys.argv[1:]),
            "little_tolerance": [load.LITTLE_MIN, load.LITTLE_MAX]}
    if not args.skip_install:
        anchors.ensure_all(skip_build=args.skip_build)
    elif not args.skip_build:
        anchors.build_berth()
    meta["berth_build"] = ("built by this run" if not args.skip_build else
                           "existing binary (--skip-build), built " + time.strftime(
                               "%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(anchors.BERTH_BIN))))
    meta["versions"] = anchors.versions()
    meta["machine"] = anchors.machine()
    log(f"bench: {meta['profile']} profile {profile}; servers on CPU {meta['server_cpus']}, "
        f"load on CPU {args.load_cpu}; {meta['uptime_start']}")

    only = set(args.only.split(",")) if args.only else None
    workdir = tempfile.mkdtemp(prefix="berth-bench-")
    os.chmod(workdir, 0o755)   # nginx workers (www-data) read the static files in here
    results = {"meta": meta, "suites": [], "workloads": {}, "probes": {}}
    try:
        static_dir = os.path.join(workdir, "static")
        static_files(static_dir)
        for suite in SUITES:
            workloads = [w for w in suite.workloads
                         if (only is None and (w.in_quick or not args.quick))
                         or (only is not None and w.key in only)]
            if not workloads:
                continue
            rows = run_suite(suite, workloads, workdir, static_dir, profile, args.server_cpus)
            results["suites"].append({"key": suite.key, "title": suite.title})
            for w in workloads:
                results["workloads"][w.key] = report.workload_result(w, suite, rows[w.key])
        if not args.no_probes and (only is None or "probes" in only):
            log("probes: worker spawn")
            results["probes"]["spawn"] = probes.spawn_times(workdir, profile["spawn"],
                                                          profile["berth_spawn"])
            log("probes: dev reload")
            results["probes"]["dev_reload"] = probes.dev_reload(workdir, profile["reload"],
                                                               args.server_cpus)
            log("probes: cold start")
            results["probes"]["cold_start"] = probes.cold_start(workdir, profile["cold"],
                                                               args.server_cpus)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if only is not None:
        merge_previous(results, args.output)
    meta["uptime_end"] = anchors.uptime()
    meta["elapsed_s"] = round(time.time() - started, 1)
    paths = report.write_all(results, args.output, update_docs=not args.no_docs)
    print(report.markdown(results))
    log("bench: wrote " + ", ".join(os.path.relpath(p, REPO) for p in paths)
        + f" in {meta['elapsed_s']} s")


if __name__ == "__main__":
    main()
