"""The servers under test: how each configuration is started, checked and stopped.

Every configuration runs 2 workers (processes) and listens on 127.0.0.1 on a port chosen
free below 32768. Servers are pinned to core 0 (taskset; their children inherit it) and
the load generator to core 1, so the client never takes CPU from the server and every
configuration gets the same single core.
"""

import os
import signal
import subprocess
import time

from . import anchors
from .util import (REPO, free_port, log, process_tree, stop_process_tree, tree_cpu_seconds,
                   tree_memory, wait_http)

HELLO_DIR = os.path.join(REPO, "samples", "hello")
MYSITE_DIR = os.path.join(REPO, "samples", "mysite")
WORKERS = 2


class Proc:
    """One process to start: argv, environment additions, working directory."""

    def __init__(self, name, argv, env=None, cwd=None):
        self.name, self.argv, self.env, self.cwd = name, argv, env or {}, cwd
        self.popen = None
        self.log_path = None


class Server:
    """A configuration under test: one or more processes (e.g. nginx in front of uWSGI)."""

    def __init__(self, key, label, port, procs, h2_port=None, notes=""):
        self.key = key            # short id, e.g. "berth", "gunicorn"
        self.label = label        # shown in the table, e.g. "nginx→uWSGI"
        self.port = port          # HTTP/1.1
        self.h2_port = h2_port    # HTTP/2 cleartext (prior knowledge), if it has one
        self.procs = procs
        self.notes = notes
        self.started_at = None

    # -- life cycle

    def start(self, workdir, cpus):
        self.started_at = time.monotonic()
        for p in self.procs:
            p.log_path = os.path.join(workdir, f"{self.key}-{p.name}-{self.port}.log")
            argv = (["taskset", "-c", cpus] if cpus else []) + p.argv
            with open(p.log_path, "ab") as logf:
                p.popen = subprocess.Popen(
                    argv, cwd=p.cwd, env=dict(os.environ, **p.env), stdin=subprocess.DEVNULL,
                    stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self):
        return all(p.popen and p.popen.poll() is None for p in self.procs)

    def wait_ready(self, path, timeout=60.0):
        try:
            return wait_http(self.port, path, time.monotonic() + timeout, self.alive,
                             interval=0.05)
        except RuntimeError as e:
            raise RuntimeError(f"{self.label}: {e}; log tail:\n{self.log_tail()}") from None

    def root_pids(self):
        return [p.popen.pid for p in self.procs if p.popen]

    def memory(self):
        return tree_memory(self.root_pids())

    def cpu_seconds(self):
        return tree_cpu_seconds(self.root_pids())

    def stop(self, grace=10.0):
        # Front first (nginx), then the app server; every pid here is one we started.
        for p in reversed(self.procs):
            if not p.popen or p.popen.poll() is not None:
                continue
            stop_process_tree(p.popen, f"{self.label}: {p.name}", grace)

    def log_tail(self, lines=15):
        out = []
        for p in self.procs:
            try:
                with open(p.log_path, errors="replace") as f:
                    out.append(f"--- {p.name}\n" + "".join(f.readlines()[-lines:]))
            except (OSError, TypeError):
                pass
        return "\n".join(out)

    def commands(self):
        return [" ".join(p.argv) for p in self.procs]


# --------------------------------------------------------------------------- the apps

class App:
    """A WSGI app as each server wants it named."""

    def __init__(self, key, chdir, wsgi, env=None, berth_args=None):
        self.key, self.chdir, self.wsgi, self.env = key, chdir, wsgi, env or {}
        self.berth_args = berth_args


def hello_app():
    return App("hello", HELLO_DIR, "app:app", berth_args=["app:app", "--chdir", HELLO_DIR])


def django_app(workdir):
    env = {
        "MYSITE_DB": os.path.join(workdir, "mysite.sqlite3"),
        "MYSITE_STATIC_ROOT": os.path.join(workdir, "mysite-static"),
        "MYSITE_MEDIA_ROOT": os.path.join(workdir, "mysite-media"),
        "MYSITE_DEBUG": "0",
        "MYSITE_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SETTINGS_MODULE": "mysite.settings",
    }
    return App("django", MYSITE_DIR, "mysite.wsgi:application", env=env,
               berth_args=["--django", "mysite.settings", "--chdir", MYSITE_DIR])


# --------------------------------------------------------------------- configurations

PAD_FIELD = "X-Pad"
# The shortest pad field line: "X-Pad: a\r\n".
MIN_PAD = len(PAD_FIELD) + len(": a\r\n")


def pad_value(length):
    """A field value that makes `X-Pad: VALUE\\r\\n` `length` bytes long (at least MIN_PAD)."""
    return "a" * (max(length, MIN_PAD) - MIN_PAD + 1)


def berth(app, workers=WORKERS, static=None, padded=None, workdir=None):
    """`padded`: (URL prefix, directory, pad bytes): the files again, every response with an
    X-Pad field of that many bytes (a route of a config file: flags cannot add fields)."""
    port = free_port()
    argv = [anchors.BERTH_BIN, "serve", *app.berth_args, "-w", str(workers),
            "-b", f"127.0.0.1:{port}", "--python", anchors.BERTH_PY, "--access-log", "off"]
    for prefix, directory in (static or {}).items():
        argv += ["--static", f"{prefix}={directory}"]
    if padded:
        prefix, directory, pad = padded
        conf = os.path.join(workdir, f"berth-padded-{port}.toml")
        with open(conf, "w") as f:
            f.write(f'[[route]]\npath = "{prefix}"\nstatic = "{directory}"\n'
                    f'headers = {{ "{PAD_FIELD}" = "{pad_value(pad)}" }}\n')
        argv += ["-c", conf]
    # HTTP/2 with prior knowledge (h2c) shares the HTTP/1.1 port.
    return Server("berth", "berth", port, [Proc("berth", argv, app.env)], h2_port=port)


def gunicorn(app):
    port = free_port()
    argv = [os.path.join(anchors.VENV, "bin", "gunicorn"), "-w", str(WORKERS), "-k", "sync",
            "-b", f"127.0.0.1:{port}", "--chdir", app.chdir, "--log-level", "warning",
            app.wsgi]
    return Server("gunicorn", "gunicorn (sync)", port, [Proc("gunicorn", argv, app.env)])


def granian(app):
    port = free_port()
    argv = [os.path.join(anchors.VENV, "bin", "granian"), "--interface", "wsgi",
            "--workers", str(WORKERS), "--host", "127.0.0.1", "--port", str(port),
            "--working-dir", app.chdir, "--log-level", "warning", "--no-ws", app.wsgi]
    # --http auto: HTTP/1.1 and HTTP/2 prior knowledge on the same port.
    return Server("granian", "Granian", port, [Proc("granian", argv, app.env)], h2_port=port)


NGINX_COMMON = """
worker_processes {workers};
daemon off;
user www-data;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        listen 127.0.0.1:{h2_port} http2;
        server_name localhost;
{locations}
    }}
}}
"""


def _nginx_proc(workdir, name, port, h2_port, locations):
    prefix = os.path.join(workdir, name)
    os.makedirs(prefix, exist_ok=True)
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_COMMON.format(workers=WORKERS, prefix=prefix, port=port,
                                    h2_port=h2_port, locations=locations))
    return Proc("nginx", ["nginx", "-p", prefix, "-c", conf, "-e", os.path.join(prefix, "error.log")])


def nginx_uwsgi(app, workdir):
    port, h2_port, upstream = free_port(), free_port(), free_port()
    uwsgi = [os.path.join(anchors.VENV, "bin", "uwsgi"), "--socket", f"127.0.0.1:{upstream}",
             "--master", "--processes", str(WORKERS), "--home", anchors.VENV,
             "--chdir", app.chdir, "--module", app.wsgi, "--need-app", "--die-on-term",
             "--disable-logging", "--listen", "128"]
    locations = (f"        location / {{\n            include /etc/nginx/uwsgi_params;\n"
                 f"            uwsgi_pass 127.0.0.1:{upstream};\n        }}")
    nginx = _nginx_proc(workdir, f"nginx-uwsgi-{app.key}", port, h2_port, locations)
    return Server("uwsgi", "nginx→uWSGI", port, [Proc("uwsgi", uwsgi, app.env), nginx],
                  h2_port=h2_port)


def nginx_static(workdir, prefix_url, directory, padded=None):
    """`padded`: (URL prefix, pad bytes), as for berth()."""
    port, h2_port = free_port(), free_port()
    locations = (f"        location {prefix_url} {{\n            alias {directory}/;\n        }}")
    if padded:
        prefix, pad = padded
        locations += (f"\n        location {prefix} {{\n            alias {directory}/;\n"
                      f"            add_header {PAD_FIELD} {pad_value(pad)};\n        }}")
    nginx = _nginx_proc(workdir, "nginx-static", port, h2_port, locations)
    return Server("nginx", "nginx", port, [nginx], h2_port=h2_port)
