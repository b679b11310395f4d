"""Turning runs into the table, the JSON, the SVG chart and docs/performance.md."""

import html
import json
import math
import os
import re

from .util import REPO, median

DOCS = os.path.join(REPO, "docs", "performance.md")
BEGIN, END = "<!-- bench:begin (written by bench/run.py) -->", "<!-- bench:end -->"


# ------------------------------------------------------------------------ aggregation

def _summary(row):
    runs = row["runs"]
    valid_runs = [r for r in runs if r.get("valid")]
    use = valid_runs or runs
    s = {"runs": len(runs), "valid_runs": len(valid_runs)}
    reasons = []
    if row["state"] not in ("ok", "invalid"):
        reasons.append(row["reason"])
    elif row["state"] == "invalid":
        reasons.append(row["reason"])
    if runs and len(valid_runs) < len(runs):
        bad = [r for r in runs if not r.get("valid")]
        reasons.append(f"{len(bad)}/{len(runs)} runs: " + "; ".join(bad[0]["reasons"]))
    if row["state"] in ("ok", "invalid") and not runs:
        reasons.append("no runs")
    s["valid"] = row["state"] == "ok" and bool(runs) and len(valid_runs) == len(runs)
    s["reason"] = " — ".join(x for x in reasons if x)
    if use and all("rps" in r for r in use):
        rps = [r["rps"] for r in use]
        s["rps"] = median(rps)
        s["rps_min"], s["rps_max"] = min(rps), max(rps)
        s["spread_pct"] = 100 * (max(rps) - min(rps)) / s["rps"] if s["rps"] else None
        for k in ("p50_ms", "p99_ms", "mbps", "lat_mean_ms"):
            s[k] = median([r[k] for r in use])
        mbps = [r["mbps"] for r in use]
        s["mbps_min"], s["mbps_max"] = min(mbps), max(mbps)
        cpu = [r["server_cpu_pct"] for r in use if r.get("server_cpu_pct") is not None]
        s["server_cpu_pct"] = median(cpu) if cpu else None
        s["little_ratio"] = median([r["little_ratio"] for r in use if "little_ratio" in r] or [0])
        # Memory after the last round (after all the load), and after the first: a tree
        # that keeps growing from round to round is worth a look.
        mem = [r["memory"] for r in runs if r.get("memory")]
        if mem:
            s["rss_mib"], s["pss_mib"] = mem[-1]["rss_mib"], mem[-1]["pss_mib"]
            s["rss_first_mib"] = mem[0]["rss_mib"]
            s["processes"] = mem[-1]["processes"]
    return s


def workload_result(w, suite, rows):
    out = {
        "key": w.key, "title": w.title, "suite": suite.key, "path": w.path, "tool": w.tool,
        "conns": w.conns, "streams": w.streams, "body_bytes": w.body_bytes,
        "expect_status": w.expect_status, "anchor": w.anchor,
        "target": None, "rows": [],
    }
    heads = {rows[k].get("head_bytes") for k in w.servers if k in rows} - {None}
    if w.even_heads and len(heads) == 1:
        out["title"] += f" ({heads.pop()} B)"
    anchor_label = rows[w.anchor]["label"] if w.anchor in rows else w.anchor
    out["anchor_label"] = anchor_label
    if w.target:
        out["target"] = {"metric": w.target.metric, "ratio": w.target.ratio,
                         "text": w.target.describe(anchor_label)}
    metric = w.target.metric if w.target else "rps"
    for key in w.servers:
        row = dict(rows[key])
        row["summary"] = _summary(row)
        out["rows"].append(row)
    anchor = next((r for r in out["rows"] if r["server"] == w.anchor), None)
    a = anchor["summary"].get(metric) if anchor else None
    for row in out["rows"]:
        s = row["summary"]
        if a and s.get(metric) is not None:
            s["ratio"] = s[metric] / a
            s["ratio_metric"] = metric
        if w.target and row["server"] == "berth":
            if row["state"] == "not yet":
                s["target_met"], s["target_note"] = None, "not yet"
            elif "ratio" not in s:
                s["target_met"], s["target_note"] = None, "no figure"
            elif not (s["valid"] and anchor["summary"]["valid"]):
                s["target_met"], s["target_note"] = None, "invalid run"
            else:
                s["target_met"] = s["ratio"] >= w.target.ratio
                s["target_note"] = ("✓ " if s["target_met"] else "✗ ") + out["target"]["text"]
    return out


# ---------------------------------------------------------------------------- markdown

def _num(x, digits=0):
    if x is None:
        return "—"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def _sig(x):
    if x is None:
        return "—"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _rss(s):
    last, first = s.get("rss_mib"), s.get("rss_first_mib")
    if last is None:
        return "—"
    if first and last > 1.2 * first and last - first > 5:
        return f"{last:,.0f} (↑ from {first:,.0f})"
    return f"{last:,.0f}"


def _cpu(pct):
    return "—" if pct is None else f"{pct:.0f}%"


def _escape(text):
    return text.replace("|", "\\|").replace("\n", " ")


def workload_table(results):
    lines = [
        "| workload | server | req/s (median) | spread | p50 ms | p99 ms | MB/s | server CPU "
        "| RSS MiB after load | × anchor | target | valid |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for w in results["workloads"].values():
        conc = f"c={w['conns']}" + (f"×{w['streams']} streams" if w["streams"] > 1 else "")
        title = f"{w['title']} ({conc})"
        for row in w["rows"]:
            s = row["summary"]
            label = row["label"] + (" ⚓" if row["server"] == w["anchor"] else "")
            if row["state"] in ("not yet", "n/a") or ("rps" not in s):
                state = row["state"] if row["state"] != "ok" else "no figure"
                lines.append(f"| {title} | {label} | {state} | | | | | | | | "
                             f"{'– not yet' if w['target'] and row['server'] == 'berth' else ''}"
                             f" | {_escape(state + ': ' + s['reason'])} |")
                continue
            ratio = s.get("ratio")
            ratio_text = "—" if ratio is None else f"{ratio:.2f}×"
            if ratio is not None and s.get("ratio_metric") == "mbps":
                ratio_text += " (MB/s)"
            target = ""
            if w["target"] and row["server"] == "berth":
                tm = s.get("target_met")
                target = (s["target_note"] if tm is not None
                          else f"– {s.get('target_note', '')} ({w['target']['text']})")
            spread = "—" if s.get("spread_pct") is None else f"±{s['spread_pct'] / 2:.0f}%"
            valid = "yes" if s["valid"] else "**no**: " + _escape(s["reason"])
            lines.append(
                f"| {title} | {label} | {_num(s['rps'])} | {spread} | {_sig(s['p50_ms'])} | "
                f"{_sig(s['p99_ms'])} | {_sig(s['mbps'])} | {_cpu(s.get('server_cpu_pct'))} | "
                f"{_rss(s)} | "
                f"{ratio_text} | {target} | {valid} |")
    return "\n".join(lines)


SPAWN_NAMES = {
    "bare": "bare `/usr/bin/python3 -c pass`",
    "bwrap": "bwrap (pid, net, ipc, uts, mount ns; ro /usr), `python3 -c pass`",
    "crun": "crun (`crun spec` defaults; ro /usr), `python3 -c pass`",
    "bare_hello": "bare python importing the hello app",
    "berth_plain_hello": "berth worker, plain (hello)",
    "berth_isolated_hello": "berth worker, isolated (hello)",
    "berth_isolated_preload_hello": "berth worker, isolated + preload: forked in the zygote's container (hello)",
    "bare_django": "bare python loading Django (setup + WSGI app)",
    "berth_plain_django": "berth worker, plain (Django)",
    "berth_isolated_django": "berth worker, isolated (Django)",
    "berth_isolated_preload_django": "berth worker, isolated + preload: forked in the zygote's container (Django)",
}
SPAWN_SHORT = {"berth_isolated_hello": "isolated", "berth_isolated_django": "isolated", "bare": "bare", "bare_hello": "bare import", "bare_django": "bare Django load",
               "berth_plain_hello": "plain", "berth_plain_django": "plain"}
SPAWN_TARGET = 1.1


def _spawn_ok(spawn, key):
    r = spawn.get(key) or {}
    return r if r.get("status") == "ok" else None


def spawn_verdicts(spawn):
    """The spawn targets: (text, figure, met or None, note) each."""
    out = []
    iso = _spawn_ok(spawn, "berth_isolated_hello")
    text = f"isolated worker ready (hello) ≤ {SPAWN_TARGET}× bare `python3 -c pass`"
    if iso and iso.get("ratio_to_bare") is not None:
        out.append((text, f"{iso['ratio_to_bare']:.2f}×", iso["ratio_to_bare"] <= SPAWN_TARGET, ""))
    else:
        r = spawn.get("berth_isolated_hello") or spawn.get("berth") or {}
        out.append((text, "—", None, f"{r.get('status', 'no figure')}: {r.get('reason', '')}"))
    # "Faster than bwrap and crun": what berth's isolation adds to its plain worker against
    # what bwrap and crun add to bare python (the things they start differ).
    text = "isolation adds less than bwrap and crun (isolated − plain vs. their − bare)"
    others = {k: _spawn_ok(spawn, k) for k in ("bwrap", "crun")}
    timed = {k: r["added_ms"] for k, r in others.items() if r and "added_ms" in r}
    if iso and "added_ms" in iso and timed:
        figure = f"+{iso['added_ms']:.1f} ms vs " + ", ".join(
            f"{k} +{v:.1f} ms" for k, v in timed.items())
        missing = [k for k in others if k not in timed]
        note = f"{', '.join(missing)} not timed" if missing else ""
        out.append((text, figure, all(iso["added_ms"] < v for v in timed.values()), note))
    else:
        out.append((text, "—", None, "no figure"))
    # Preload: a worker forked in the zygote's container, against bare python and, whole
    # time against whole time, bwrap and crun starting bare python.
    pre = _spawn_ok(spawn, "berth_isolated_preload_hello")
    text = (f"isolated + preload worker ready (hello) ≤ {SPAWN_TARGET}× bare `python3 -c pass`, "
            "and sooner than bwrap and crun start it")
    if pre and pre.get("ratio_to_bare") is not None:
        rivals = {k: r["median_ms"] for k, r in others.items() if r}
        figure = f"{pre['median_ms']:.1f} ms = {pre['ratio_to_bare']:.2f}×" + "".join(
            f"; {k} {v:.1f} ms" for k, v in rivals.items())
        met = pre["ratio_to_bare"] <= SPAWN_TARGET and all(pre["median_ms"] < v for v in rivals.values())
        out.append((text, figure, met, "" if rivals else "bwrap/crun not timed"))
    else:
        r = spawn.get("berth_isolated_preload_hello") or {}
        out.append((text, "—", None, f"{r.get('status', 'no figure')}: {r.get('reason', '')}"))
    return out


def _spawn_table(spawn):
    out = ["**Worker spawn** (interleaved. `python3 -c pass` variants: `posix_spawn` → exit "
           "→ reaped. Bare app loads: `posix_spawn` → a byte the interpreter writes once the "
           "app is loaded. berth (`-w 1`): the probe SIGKILLs the worker (an isolated "
           "worker's container init), then times berth's \"…; starting a replacement\" log "
           "line → the replacement's \"ready\" line (its READY frame: Python started, app "
           "imported, ready to serve), both read from berth's stderr as they arrive. "
           f"Targets: berth's isolated worker ≤ {SPAWN_TARGET}× bare python, and faster "
           "than bwrap and crun)", "",
           "| variant | median ms | p10–p90 ms | × bare `-c pass` | like-for-like "
           "| berth's log: exec → READY, median ms | status |",
           "|---|---:|---:|---:|---|---:|---|"]
    for key, name in SPAWN_NAMES.items():
        r = spawn.get(key)
        if key == "berth_isolated_hello" and not r:
            r = spawn.get("berth")   # results from before berth had isolated workers
        if not r:
            continue
        if r["status"] != "ok":
            out.append(f"| {name} | — | — | — | — | — | {r['status']}: {_escape(r['reason'])} |")
            continue
        ratio = r.get("ratio_to_bare")
        ratio_text = "—" if ratio is None else f"{ratio:.2f}×"
        if key == "berth_isolated_hello" and ratio is not None:
            ratio_text += f" {'✓ ≤' if ratio <= SPAWN_TARGET else '✗ >'} {SPAWN_TARGET}×"
        like = "—"
        if r.get("ratio_to_baseline") is not None:
            like = (f"{r['ratio_to_baseline']:.2f}× {SPAWN_SHORT.get(r['baseline'], r['baseline'])}"
                    f" ({r['added_ms']:+.1f} ms)")
        own = r.get("logged", {}).get("median_ms")
        out.append(f"| {name} | {r['median_ms']:.1f} | {r['p10_ms']:.1f}–{r['p90_ms']:.1f} | "
                   f"{ratio_text} | {like} | {'—' if own is None else f'{own:.0f}'} | "
                   f"ok (n={r['n']}) |")
    out.append("")
    notes = []
    added = [(SPAWN_NAMES[k].split(", ", 1)[-1] if k.startswith("berth") else k, r["added_ms"])
             for k in ("berth_isolated_hello", "berth_isolated_django", "bwrap", "crun")
             if (r := _spawn_ok(spawn, k)) and "added_ms" in r]
    if added:
        notes.append("What the isolation adds (median − median of the like-for-like "
                     "baseline): " + "; ".join(
                         f"{who} {ms:+.1f} ms" for who, ms in added) + ".")
    launches = [(SPAWN_NAMES[k].split(", ", 1)[-1], r["launch"]) for k in
                ("berth_plain_hello", "berth_isolated_hello", "berth_plain_django",
                 "berth_isolated_django") if (r := _spawn_ok(spawn, k)) and r.get("launch")]
    if launches:
        notes.append(
            "berth's own \"ready in X ms\" starts once the launcher has returned — for an "
            "isolated worker, after the container is made (cgroup, clone3, id maps, mounts, "
            "pivot_root, seccomp, exec), as the launcher waits for the exec — so it leaves "
            "that out. The launch, per sample whole − logged (median, p10–p90): " + "; ".join(
                f"{who} {l['median_ms']:.1f} ms ({l['p10_ms']:.1f}–{l['p90_ms']:.1f})"
                for who, l in launches) + ".")
    for text, figure, met, note in spawn_verdicts(spawn):
        verdict = "—" if met is None else ("met" if met else "**not met**")
        notes.append(f"Target {text}: {figure}, {verdict}" + (f" ({note})" if note else "") + ".")
    out += ["\n".join(f"- {n}" for n in notes), ""] if notes else []
    return out


def probes_tables(results):
    p = results["probes"]
    out = []
    spawn = p.get("spawn")
    if spawn:
        out += _spawn_table(spawn)
    reload_ = p.get("dev_reload")
    if reload_:
        out += ["**Dev reload** (`berth dev` on a copy of samples/mysite; save of "
                "gallery/views.py → the new /hello/ text served)", ""]
        if reload_["status"] == "ok":
            out += ["| repetitions | median ms | min–max ms | failed requests while reloading |",
                    "|---:|---:|---:|---:|",
                    f"| {reload_['n']} | {reload_['median_ms']:.0f} | {reload_['min_ms']:.0f}–"
                    f"{reload_['max_ms']:.0f} | {reload_['failed_requests_during_reload']} |"]
        else:
            out.append(f"failed: {_escape(reload_['reason'])}")
        out.append("")
    cold = p.get("cold_start")
    if cold:
        out += ["**Cold start** (process start → first 200; 2 workers)", "",
                "| app | server | median ms | min–max ms | status |", "|---|---|---:|---:|---|"]
        for key, r in cold.items():
            if key == "from_run":
                continue
            app, who = key.split("/")
            if r["status"] == "ok":
                out.append(f"| {app} | {who} | {r['median_ms']:.0f} | {r['min_ms']:.0f}–"
                           f"{r['max_ms']:.0f} | ok (n={r['n']}) |")
            else:
                out.append(f"| {app} | {who} | — | — | failed: {_escape(r['reason'][:200])} |")
        out.append("")
    return "\n".join(out)


def machine_lines(results):
    m, v = results["meta"]["machine"], results["meta"]["versions"]
    meta = results["meta"]
    load1 = _load_of(meta.get("uptime_start", "")), _load_of(meta.get("uptime_end", ""))
    shared = any(x is not None and x > 0.5 for x in load1)
    return "\n".join([
        f"- **Run**: {meta['started']}, `{meta['command']}` ({meta['profile']} profile: "
        f"{meta['settings']['rounds']} rounds × {meta['settings']['duration']} s per server "
        f"and workload, {meta['settings']['warmup']} s warm-up), {meta.get('elapsed_s', '?')} s "
        f"in all.",
        f"- **Machine**: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, Linux "
        f"{m['kernel']}, Debian {m['debian']}, cgroups {m['cgroups']}. Servers on CPU "
        f"{meta['server_cpus']}, load generator on CPU {meta['load_cpu']}.",
        f"- **Load**: at start `{meta.get('uptime_start', '?')}`; at end "
        f"`{meta.get('uptime_end', '?')}`."
        + (" **The machine was shared** (other jobs ran meanwhile): absolute figures are "
           "noisy; the interleaved ratios are the more robust part." if shared else ""),
        f"- **Versions**: berth {v['berth']}, {meta.get('berth_build', '?')} (workers: {v['berth_python']}, Django "
        f"{v['django_berth_venv']}); nginx {v['nginx']}; gunicorn {v['gunicorn']}; uWSGI "
        f"{v['uwsgi']}; Granian {v['granian']}; Django {v['django_bench_venv']} for the "
        f"anchors; wrk {v['wrk']}; h2load {v['h2load']}; crun {v['crun']}; bwrap {v['bwrap']}; "
        f"Swift {v['swift']}.",
    ])


def carried_over_line(results):
    """Which figures a partial run (--only) kept from the previous latest.json."""
    groups = {}
    for key, w in results["workloads"].items():
        if w.get("from_run"):
            groups.setdefault(json.dumps(w["from_run"], sort_keys=True), []).append(
                f"“{w['title']}”")
    for key, p in results["probes"].items():
        if isinstance(p, dict) and p.get("from_run"):
            groups.setdefault(json.dumps(p["from_run"], sort_keys=True), []).append(
                f"probe {key.replace('_', ' ')}")
    if not groups:
        return None
    parts = []
    for prov, items in groups.items():
        prov = json.loads(prov)
        parts.append(f"{', '.join(items)}: from the run of {prov.get('started', '?')} "
                     f"(`{prov.get('command', '?')}`, berth {prov.get('berth', '?')})")
    return ("- **Merged**: this run measured only part of the table; the rest is carried over "
            "from the previous `bench/results/latest.json` — " + "; ".join(parts) + ".")


def _load_of(uptime):
    m = re.search(r"load average: ([\d.]+)", uptime or "")
    return float(m.group(1)) if m else None


def targets_table(results):
    lines = ["| target | berth | verdict |", "|---|---:|---|"]
    for w in results["workloads"].values():
        if not w["target"]:
            continue
        berth = next((r for r in w["rows"] if r["server"] == "berth"), None)
        if berth is None:
            continue
        s = berth["summary"]
        ratio = f"{s['ratio']:.2f}×" if s.get("ratio") is not None else "—"
        met = s.get("target_met")
        verdict = ("met" if met else "**not met**") if met is not None else s.get("target_note", "—")
        lines.append(f"| {w['title']}: {w['target']['text']} | {ratio} | {verdict} |")
    spawn = results["probes"].get("spawn")
    if spawn:
        for text, figure, met, note in spawn_verdicts(spawn):
            verdict = ("met" if met else "**not met**") if met is not None else _escape(note)
            if met is not None and note:
                verdict += f" ({_escape(note)})"
            lines.append(f"| {text} | {figure} | {verdict} |")
    return "\n".join(lines)


def markdown(results):
    lines = machine_lines(results)
    merged = carried_over_line(results)
    if merged:
        lines += "\n" + merged
    return "\n\n".join([lines, targets_table(results),
                        workload_table(results), probes_tables(results)])


# -------------------------------------------------------------------------------- SVG

def svg(results):
    """Horizontal bars of each server's throughput relative to the workload's anchor, on a
    log2 scale centred on 1× (left: slower than the anchor, right: faster)."""
    bars = []
    for w in results["workloads"].values():
        bars.append(("title", w["title"], None, None, None, None))
        for row in w["rows"]:
            s = row["summary"]
            target = w["target"]["ratio"] if (w["target"] and row["server"] == "berth") else None
            if "ratio" in s:
                metric = s.get("ratio_metric", "rps")
                value = (f"{s['mbps']:,.0f} MB/s" if metric == "mbps" else f"{s['rps']:,.0f} req/s")
                if row["server"] == w["anchor"]:
                    value += " (anchor)"
                bars.append(("bar", row["label"], s["ratio"], s["valid"], target, value))
            else:
                bars.append(("none", row["label"], row["state"], None, target, None))
    lo, hi = 1 / 16, 16
    width, left, right, top, line = 960, 180, 230, 50, 18
    plot = width - left - right
    height = top + line * len(bars) + 40
    x_of = lambda r: left + plot * (math.log2(min(max(r, lo), hi)) - math.log2(lo)) / (
        math.log2(hi) - math.log2(lo))
    e = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="20" font-size="14" font-weight="bold">berth vs anchors: '
           f'throughput relative to each workload\'s anchor (log scale)</text>',
           f'<text x="{left}" y="36" fill="#555">{e(results["meta"]["started"])}, '
           f'{e(results["meta"]["profile"])} profile; hatched = run not valid; '
           f'red tick = target</text>']
    ticks = [1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8, 16]
    bottom = top + line * len(bars)
    for t in ticks:
        x = x_of(t)
        label = f"{t:g}×" if t >= 1 else f"1/{int(1 / t)}×"
        out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{bottom}" '
                   f'stroke="{"#333" if t == 1 else "#ddd"}"/>')
        out.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" fill="#555">'
                   f'{label}</text>')
    out.append('<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
               'patternTransform="rotate(45)"><rect width="3" height="6" fill="#bbb"/>'
               '</pattern></defs>')
    y = top
    for kind, label, value, valid, target, figure in bars:
        if kind == "title":
            out.append(f'<text x="8" y="{y + 13}" font-weight="bold">{e(label)}</text>')
        else:
            out.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{e(label)}</text>')
            if kind == "bar":
                x0, x1 = x_of(1), x_of(value)
                color = "#d9822b" if label == "berth" else "#4a78b5"
                fill = color if valid else "url(#hatch)"
                out.append(f'<rect x="{min(x0, x1):.1f}" y="{y + 3}" width="{abs(x1 - x0):.1f}" '
                           f'height="{line - 6}" fill="{fill}" stroke="{color}"/>')
                out.append(f'<text x="{width - right + 6}" y="{y + 13}">{value:.2f}× '
                           f'<tspan fill="#777">{e(figure)}</tspan></text>')
            else:
                out.append(f'<text x="{x_of(1) + 6}" y="{y + 13}" fill="#888">{e(str(value))}</text>')
            if target:
                xt = x_of(target)
                out.append(f'<line x1="{xt:.1f}" y1="{y + 1}" x2="{xt:.1f}" y2="{y + line - 1}" '
                           f'stroke="red" stroke-width="2"/>')
        y += line
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------ files

def write_all(results, output_dir, update_docs=True):
    os.makedirs(output_dir, exist_ok=True)
    paths = []
    json_path = os.path.join(output_dir, "latest.json")
    with open(json_path + ".tmp", "w") as f:
        json.dump(results, f, indent=1, sort_keys=False, default=str)
    os.replace(json_path + ".tmp", json_path)
    paths.append(json_path)
    svg_path = os.path.join(output_dir, "latest.svg")
    with open(svg_path, "w") as f:
        f.write(svg(results))
    paths.append(svg_path)
    if update_docs:
        _update_docs(results)
        paths.append(DOCS)
    return paths


def _update_docs(results):
    block = "\n".join([BEGIN, "", markdown(results), "",
                       "![berth vs anchors](../bench/results/latest.svg)", "", END])
    try:
        with open(DOCS) as f:
            text = f.read()
    except FileNotFoundError:
        text = f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(DOCS, "w") as f:
        f.write(text)
