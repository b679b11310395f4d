"""What is measured: suites of servers that run together, and the workloads on them.

A suite's servers are started together (idle ones cost nothing measurable), checked, warmed
up, then measured in interleaved rounds — round 1: workload 1 on A, B, C, workload 2 on
A, B, …; round 2: the same again — so slow drift on a shared machine hits every server
alike. The suite's servers are stopped before the next suite starts.
"""

import os
from dataclasses import dataclass, field

from . import servers

KIB, MIB = 1024, 1024 * 1024


@dataclass
class Target:
    metric: str       # "rps" or "mbps"
    ratio: float      # berth / anchor must be >= ratio
    text: str = ""

    def describe(self, anchor_label):
        return f"≥ {self.ratio:g}× {anchor_label}" + (" (MB/s)" if self.metric == "mbps" else "")


@dataclass
class Workload:
    key: str
    title: str
    path: str
    servers: list            # server keys, in the order they run
    anchor: str              # the server key the ratios are relative to
    body_bytes: int
    conns: int = 64
    tool: str = "wrk"        # or "h2load"
    streams: int = 1         # h2load -m
    expect_status: int = 200
    revalidate: bool = False  # send If-None-Match with the server's own ETag
    # Every server's response head padded to one length (see EVEN_PREFIX): for rows where the
    # client's copy of the body, not the server, sets the pace.
    even_heads: bool = False
    target: Target = None
    in_quick: bool = True


@dataclass
class Suite:
    key: str
    title: str
    make_servers: object      # callable(workdir, static_dir) -> {key: Server}
    workloads: list = field(default_factory=list)


def static_files(directory):
    """The static files the static workloads fetch, written once per run."""
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o755)
    sizes = {"1k.bin": KIB, "100k.bin": 100 * KIB, "10m.bin": 10 * MIB}
    for name, size in sizes.items():
        path = os.path.join(directory, name)
        if not os.path.exists(path) or os.path.getsize(path) != size:
            with open(path, "wb") as f:
                block = os.urandom(min(size, MIB))
                for off in range(0, size, len(block)):
                    f.write(block[:size - off])
        os.chmod(path, 0o644)
    return sizes


def _app_servers(workdir, _static, _pads=None):
    app = servers.hello_app()
    return {"berth": servers.berth(app), "gunicorn": servers.gunicorn(app),
            "uwsgi": servers.nginx_uwsgi(app, workdir), "granian": servers.granian(app)}


def _django_servers(workdir, _static, _pads=None):
    app = servers.django_app(workdir)
    return {"berth": servers.berth(app), "gunicorn": servers.gunicorn(app),
            "uwsgi": servers.nginx_uwsgi(app, workdir)}


# The static files again, each server's responses with an X-Pad field that makes its response
# head as long as the other's. Where the client is the bottleneck (10 MiB bodies, wrk on one
# core), its kernel copies the body from the page cache into an 8 KiB buffer per connection,
# and how fast depends on where the body starts: when a connection's buffer lies a few bytes
# past the body's source modulo 4 KiB, the copy's loads wait on its own stores ("4K
# aliasing"), and that connection costs about 1.5× as much. The head's length decides which,
# so the same server, its head made 89 bytes longer, loses 6 % to itself (docs/performance.md,
# "10 MiB"). With heads of one length both servers' bodies land alike and the row compares
# the servers; the plain row stays beside it.
EVEN_PREFIX = "/even/"


def _static_servers(workdir, static_dir, pads=None):
    """`pads`: pad bytes per server key for EVEN_PREFIX (None: a first run, to measure)."""
    pads = pads or {}
    # berth always serves an app; requests under /s/ never reach it (the front answers).
    return {"berth": servers.berth(servers.hello_app(), workers=1, static={"/s/": static_dir},
                                   padded=(EVEN_PREFIX, static_dir, pads.get("berth", 0)),
                                   workdir=workdir),
            "nginx": servers.nginx_static(workdir, "/s/", static_dir,
                                          padded=(EVEN_PREFIX, pads.get("nginx", 0)))}


SUITES = [
    Suite("app", "Hello WSGI (samples/hello, 13-byte body)", _app_servers, [
        Workload("hello", "hello WSGI", "/", ["berth", "granian", "uwsgi", "gunicorn"],
                 anchor="granian", body_bytes=13, target=Target("rps", 1.0)),
        Workload("h2-app", "hello WSGI, HTTP/2", "/", ["berth", "uwsgi", "granian"],
                 anchor="uwsgi", body_bytes=13, tool="h2load", conns=50, streams=10),
    ]),
    Suite("django", "Django hello view (samples/mysite /hello/)", _django_servers, [
        Workload("django", "Django /hello/", "/hello/", ["berth", "uwsgi", "gunicorn"],
                 anchor="uwsgi", body_bytes=13, target=Target("rps", 1.3)),
    ]),
    Suite("static", "Static files (berth --static vs nginx, sendfile on)", _static_servers, [
        Workload("static-1k", "static 1 KiB", "/s/1k.bin", ["berth", "nginx"],
                 anchor="nginx", body_bytes=KIB, target=Target("rps", 1.0)),
        Workload("static-100k", "static 100 KiB", "/s/100k.bin", ["berth", "nginx"],
                 anchor="nginx", body_bytes=100 * KIB, conns=32, in_quick=False),
        Workload("static-10m", "static 10 MiB", "/s/10m.bin", ["berth", "nginx"],
                 anchor="nginx", body_bytes=10 * MIB, conns=8),
        Workload("static-10m-even", "static 10 MiB, heads of one length",
                 EVEN_PREFIX + "10m.bin", ["berth", "nginx"], anchor="nginx",
                 body_bytes=10 * MIB, conns=8, even_heads=True, target=Target("mbps", 0.95)),
        Workload("static-304", "304 revalidation (1 KiB, If-None-Match)", "/s/1k.bin",
                 ["berth", "nginx"], anchor="nginx", body_bytes=0, expect_status=304,
                 revalidate=True, target=Target("rps", 1.0)),
        Workload("h2-static", "static 1 KiB, HTTP/2", "/s/1k.bin", ["berth", "nginx"],
                 anchor="nginx", body_bytes=KIB, tool="h2load", conns=50, streams=10),
    ]),
]
